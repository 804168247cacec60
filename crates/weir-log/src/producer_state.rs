//! Idempotent producer state per partition (Kafka's `ProducerStateManager`,
//! `kafka-format.md` §6): the epoch and the last five batches of each producer
//! id, to reject out-of-order sequences, fence old epochs and acknowledge a
//! retried batch with its original offsets instead of appending it twice.
//!
//! The state lives in memory. After the log is reopened a producer is unknown
//! until its next batch, which is then accepted with any sequence, as Kafka
//! accepts a producer whose state has expired. A producer idle for
//! `producer.id.expiration.ms` is forgotten (see [`ProducerStates::expire`]),
//! as Kafka forgets it, so that short-lived producers do not pile up.

use std::collections::{HashMap, VecDeque};

use weir_record::increment_sequence;

/// Batches remembered per producer (`NUM_BATCHES_TO_RETAIN`).
const BATCHES_TO_RETAIN: usize = 5;

#[derive(Debug, Clone, Copy)]
struct BatchMetadata {
    first_sequence: i32,
    last_sequence: i32,
    first_offset: i64,
    last_offset: i64,
    /// The batch's max timestamp as stored (its append time on a
    /// LogAppendTime topic).
    timestamp: i64,
}

#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMetadata>,
    /// The max timestamp of its last batch or marker (Kafka's
    /// `lastTimestamp`): it expires `producer.id.expiration.ms` after it.
    last_timestamp: i64,
    /// It wrote a transactional batch or a marker here: never expired, since
    /// its epoch is what fences a zombie of an older epoch (Kafka checks
    /// such a batch with the coordinator, KIP-890; here the partition's
    /// epoch is the check). Transactional ids keep their producer id across
    /// epochs, so these do not pile up.
    transactional: bool,
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Append,
    /// A retry of a batch already written at these offsets, with this max
    /// timestamp.
    Duplicate {
        first_offset: i64,
        last_offset: i64,
        timestamp: i64,
    },
    /// Its epoch is older than the producer's current one.
    Fenced { current_epoch: i16 },
    /// Its first sequence is not the one expected.
    OutOfOrder { expected: i32 },
}

/// Producer id → state, for one partition.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks a batch of `producer_id`/`epoch` with sequences
    /// `first_sequence..=last_sequence`.
    pub(crate) fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    ) -> SequenceCheck {
        let Some(entry) = self.producers.get(&producer_id) else {
            return SequenceCheck::Append;
        };
        if epoch < entry.epoch {
            return SequenceCheck::Fenced {
                current_epoch: entry.epoch,
            };
        }
        if epoch > entry.epoch {
            return if first_sequence == 0 {
                SequenceCheck::Append
            } else {
                SequenceCheck::OutOfOrder { expected: 0 }
            };
        }
        if let Some(b) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence == first_sequence && b.last_sequence == last_sequence)
        {
            return SequenceCheck::Duplicate {
                first_offset: b.first_offset,
                last_offset: b.last_offset,
                timestamp: b.timestamp,
            };
        }
        match entry.batches.back() {
            Some(last) => {
                let expected = increment_sequence(last.last_sequence, 1);
                if first_sequence == expected {
                    SequenceCheck::Append
                } else {
                    SequenceCheck::OutOfOrder { expected }
                }
            }
            None => SequenceCheck::Append,
        }
    }

    /// Checks a transaction marker of `producer_id` at `epoch`: `Err` with
    /// the current epoch when the partition has seen a newer one (Kafka
    /// fences a marker older than the producer, as it fences its batches).
    pub(crate) fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), i16> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(entry.epoch),
            _ => Ok(()),
        }
    }

    /// Records a written transaction marker: a newer epoch replaces the
    /// producer's (its next batch starts a new sequence at 0), so batches of
    /// the older epoch are fenced from now on, as Kafka's coordinator fences
    /// a producer by ending its transaction with a bumped epoch.
    pub(crate) fn marker_written(&mut self, producer_id: i64, epoch: i16) {
        match self.producers.get_mut(&producer_id) {
            Some(entry) => {
                if epoch > entry.epoch {
                    entry.epoch = epoch;
                    entry.batches.clear();
                }
                entry.transactional = true;
            }
            None => {
                self.producers.insert(
                    producer_id,
                    ProducerEntry {
                        epoch,
                        batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
                        // Not read: a transactional entry never expires.
                        last_timestamp: 0,
                        transactional: true,
                    },
                );
            }
        }
    }

    /// Notes that `producer_id` wrote a transactional batch (see
    /// `ProducerEntry::transactional`).
    pub(crate) fn mark_transactional(&mut self, producer_id: i64) {
        if let Some(entry) = self.producers.get_mut(&producer_id) {
            entry.transactional = true;
        }
    }

    /// Forgets the idempotent producers whose last batch is `expiration_ms`
    /// or more before `now_ms`, as Kafka's `removeExpiredProducers`
    /// (`producer.id.expiration.ms`); transactional ones stay (their epoch
    /// fences zombies; a producer with a transaction open here is one). A
    /// forgotten producer's next batch is accepted with any sequence. Returns
    /// how many were forgotten.
    pub(crate) fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.transactional || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        // Give the memory back: forgetting producers is what this is for.
        if self.producers.len() < self.producers.capacity() / 4 {
            self.producers.shrink_to(self.producers.len() * 2);
        }
        before - self.producers.len()
    }

    /// How many producers are known.
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    /// Each producer's last batch's last offset.
    pub(crate) fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(pid, e)| e.batches.back().map(|b| (*pid, b.last_offset)))
            .collect()
    }

    /// Records an appended batch.
    #[expect(clippy::too_many_arguments, reason = "one batch's producer fields")]
    pub(crate) fn update(
        &mut self,
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
        first_offset: i64,
        last_offset: i64,
        timestamp: i64,
    ) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
                last_timestamp: timestamp,
                transactional: false,
            });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = timestamp;
        if entry.batches.len() == BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_sequence,
            last_sequence,
            first_offset,
            last_offset,
            timestamp,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_duplicates_and_fencing() {
        let mut s = ProducerStates::default();
        assert_eq!(
            s.check(7, 0, 5, 9),
            SequenceCheck::Append,
            "unknown producers start anywhere"
        );
        s.update(7, 0, 5, 9, 100, 104, 1000);
        assert_eq!(s.check(7, 0, 10, 12), SequenceCheck::Append);
        assert_eq!(
            s.check(7, 0, 11, 12),
            SequenceCheck::OutOfOrder { expected: 10 }
        );
        assert_eq!(
            s.check(7, 0, 5, 9),
            SequenceCheck::Duplicate {
                first_offset: 100,
                last_offset: 104,
                timestamp: 1000,
            }
        );
        s.update(7, 0, 10, 12, 105, 107, 1000);
        assert_eq!(
            s.check(7, 1, 3, 4),
            SequenceCheck::OutOfOrder { expected: 0 }
        );
        assert_eq!(s.check(7, 1, 0, 4), SequenceCheck::Append);
        s.update(7, 1, 0, 4, 108, 112, 1000);
        assert_eq!(
            s.check(7, 0, 13, 13),
            SequenceCheck::Fenced { current_epoch: 1 }
        );
        // Only the last five batches are remembered.
        for i in 0..6 {
            s.update(8, 0, i, i, 200 + i64::from(i), 200 + i64::from(i), 1000);
        }
        assert_eq!(
            s.check(8, 0, 0, 0),
            SequenceCheck::OutOfOrder { expected: 6 }
        );
        assert!(matches!(
            s.check(8, 0, 1, 1),
            SequenceCheck::Duplicate { .. }
        ));
        // Sequences wrap past i32::MAX to 0.
        s.update(9, 0, i32::MAX - 1, i32::MAX, 300, 301, 1000);
        assert_eq!(s.check(9, 0, 0, 3), SequenceCheck::Append);
    }
}

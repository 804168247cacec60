//! Kafka's built-in partitioner (KIP-794, Kafka 3.3+): murmur2 for keys, uniform
//! sticky for null keys, weighted against partitions with long queues when the
//! caller reports queue lengths.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use crate::{Partitioner, murmur2_partition};

/// The Java producer's default partitioning, as `BuiltInPartitioner` and
/// `RecordAccumulator` do it:
///
/// - a record with a key goes to `toPositive(murmur2(key)) % partitions`;
/// - a record without one (or any record, with `partitioner.ignore.keys`) goes to
///   the topic's current *sticky* partition. After at least `batch.size` bytes went
///   there the partitioner moves on, at a batch boundary; past twice `batch.size`
///   it moves on regardless;
/// - the next sticky partition is random, weighted against partitions whose
///   queues are long when queue sizes are reported with
///   [`update_load_stats`](Self::update_load_stats) and
///   `partitioner.adaptive.partitioning.enable` is on (the default), uniform
///   otherwise.
///
/// Weir's `Producer` reports no queue sizes: it appends a partition's
/// batches in process rather than queueing them behind a broker, so with it
/// null-key records are always spread uniformly (as Kafka's partitioner does
/// while all queues are equal), whatever `adaptive` says. Only a caller that
/// drives the partitioner itself and calls `update_load_stats` gets the
/// weighting.
///
/// Keyed records take no lock; null-key records take a short per-partitioner
/// mutex. Nothing blocks beyond that.
#[derive(Debug)]
pub struct BuiltInPartitioner {
    batch_size: usize,
    ignore_keys: bool,
    adaptive: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rng: fastrand::Rng,
    topics: HashMap<String, TopicState>,
}

#[derive(Debug)]
struct TopicState {
    partitions: u32,
    sticky: u32,
    produced_bytes: usize,
    /// Kafka's `PartitionLoadStats`: running sums of weights, `None` when queues
    /// are equal (then the pick is uniform).
    cumulative_weights: Option<Vec<u64>>,
}

impl BuiltInPartitioner {
    /// A partitioner for a producer with `batch.size` = `batch_size` bytes,
    /// adaptive, honouring keys.
    pub fn new(batch_size: usize) -> Self {
        Self::with_rng(batch_size, fastrand::Rng::new())
    }

    /// As [`new`](Self::new) with a seeded random generator, for reproducible runs.
    pub fn with_seed(batch_size: usize, seed: u64) -> Self {
        Self::with_rng(batch_size, fastrand::Rng::with_seed(seed))
    }

    fn with_rng(batch_size: usize, rng: fastrand::Rng) -> Self {
        BuiltInPartitioner {
            batch_size: batch_size.max(1),
            ignore_keys: false,
            adaptive: true,
            state: Mutex::new(State {
                rng,
                topics: HashMap::new(),
            }),
        }
    }

    /// Kafka's `partitioner.ignore.keys`: when true, keyed records are spread like
    /// null-key ones.
    #[must_use]
    pub fn ignore_keys(mut self, ignore: bool) -> Self {
        self.ignore_keys = ignore;
        self
    }

    /// Kafka's `partitioner.adaptive.partitioning.enable`.
    #[must_use]
    pub fn adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// Reports the number of batches queued per partition of `topic` (index =
    /// partition), so that the next sticky partition avoids long queues. Ignored
    /// when adaptive partitioning is off. Weir's `Producer` never calls it
    /// (see the type's docs).
    pub fn update_load_stats(&self, topic: &str, queue_sizes: &[u32]) {
        if !self.adaptive {
            return;
        }
        let weights = cumulative_weights(queue_sizes);
        let mut state = self.lock();
        if let Some(t) = state.topics.get_mut(topic) {
            t.cumulative_weights = weights;
        } else if let Ok(partitions) = u32::try_from(queue_sizes.len())
            && partitions > 0
        {
            let mut t = TopicState {
                partitions,
                sticky: 0,
                produced_bytes: 0,
                cumulative_weights: weights,
            };
            t.sticky = next_partition(&mut state.rng, &t);
            state.topics.insert(topic.to_owned(), t);
        }
    }

    /// The partition null-key records of `topic` currently go to.
    pub fn sticky_partition(&self, topic: &str, partitions: NonZeroU32) -> u32 {
        let mut state = self.lock();
        let State { rng, topics } = &mut *state;
        if let Some(t) = topics.get_mut(topic) {
            if t.partitions != partitions.get() {
                // The topic gained partitions: start over with uniform weights.
                t.partitions = partitions.get();
                t.cumulative_weights = None;
                t.produced_bytes = 0;
                t.sticky = next_partition(rng, t);
            }
            return t.sticky;
        }
        let mut t = TopicState {
            partitions: partitions.get(),
            sticky: 0,
            produced_bytes: 0,
            cumulative_weights: None,
        };
        t.sticky = next_partition(rng, &t);
        let sticky = t.sticky;
        topics.insert(topic.to_owned(), t);
        sticky
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves only counters behind; keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn uses_key<'k>(&self, key: Option<&'k [u8]>) -> Option<&'k [u8]> {
        if self.ignore_keys { None } else { key }
    }
}

/// Kafka's load stats: weight = (largest queue + 1) - queue, as running sums;
/// `None` when all queues are equal (a uniform pick is then the same thing).
fn cumulative_weights(queue_sizes: &[u32]) -> Option<Vec<u64>> {
    let max = *queue_sizes.iter().max()?;
    if queue_sizes.iter().all(|&q| q == max) {
        return None;
    }
    let mut sum = 0u64;
    Some(
        queue_sizes
            .iter()
            .map(|&q| {
                sum += u64::from(max) + 1 - u64::from(q);
                sum
            })
            .collect(),
    )
}

fn next_partition(rng: &mut fastrand::Rng, t: &TopicState) -> u32 {
    match &t.cumulative_weights {
        Some(cumulative) if cumulative.len() == t.partitions as usize => {
            let total = cumulative.last().copied().unwrap_or(1).max(1);
            let pick = rng.u64(..total);
            // The first running sum above the pick (Kafka's binary search).
            cumulative.partition_point(|&c| c <= pick) as u32
        }
        _ => rng.u32(..t.partitions),
    }
}

impl Partitioner for BuiltInPartitioner {
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: NonZeroU32,
    ) -> u32 {
        match self.uses_key(key) {
            Some(key) => murmur2_partition(key, partitions),
            None => self.sticky_partition(topic, partitions),
        }
    }

    fn on_append(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partition: u32,
        appended_bytes: usize,
        batch_boundary: bool,
    ) {
        if self.uses_key(key).is_some() {
            return;
        }
        let mut state = self.lock();
        let State { rng, topics } = &mut *state;
        let Some(t) = topics.get_mut(topic) else {
            return;
        };
        if t.sticky != partition {
            return;
        }
        t.produced_bytes = t.produced_bytes.saturating_add(appended_bytes);
        // BuiltInPartitioner.updatePartitionInfo.
        if (t.produced_bytes >= self.batch_size && batch_boundary)
            || t.produced_bytes >= self.batch_size.saturating_mul(2)
        {
            t.produced_bytes = 0;
            t.sticky = next_partition(rng, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn null_keys_stick_until_a_batch_then_move_at_a_boundary() {
        let p = BuiltInPartitioner::with_seed(1000, 7);
        let six = n(6);
        let mut moves = 0;
        let mut current = p.partition("t", None, None, six);
        for _ in 0..200 {
            let before = p.partition("t", None, None, six);
            assert_eq!(before, current);
            // 100-byte records; the batch is full every 10th record.
            for i in 1..=10 {
                let boundary = i == 10;
                p.on_append("t", None, before, 100, boundary);
                if i < 10 {
                    assert_eq!(
                        p.partition("t", None, None, six),
                        before,
                        "moved before a boundary"
                    );
                }
            }
            current = p.partition("t", None, None, six);
            if current != before {
                moves += 1;
            }
        }
        // Random picks may repeat a partition (as in Kafka), but not often.
        assert!(moves > 120, "{moves}");
    }

    #[test]
    fn past_twice_the_batch_size_it_moves_without_a_boundary() {
        let p = BuiltInPartitioner::with_seed(1000, 3).adaptive(false);
        let hundred = n(100);
        let first = p.partition("t", None, None, hundred);
        p.on_append("t", None, first, 1500, false);
        assert_eq!(
            p.sticky_partition("t", hundred),
            first,
            "1.5x, no boundary: stays"
        );
        let mut moved = false;
        for _ in 0..20 {
            let cur = p.sticky_partition("t", hundred);
            p.on_append("t", None, cur, 2000, false);
            moved |= p.sticky_partition("t", hundred) != cur;
        }
        assert!(moved);
    }

    #[test]
    fn keyed_records_do_not_move_the_sticky_partition() {
        let p = BuiltInPartitioner::with_seed(10, 1);
        let six = n(6);
        let sticky = p.partition("t", None, None, six);
        for _ in 0..100 {
            p.on_append("t", Some(b"k"), sticky, 1_000, true);
        }
        assert_eq!(p.partition("t", None, None, six), sticky);
        // ...unless keys are ignored.
        let q = BuiltInPartitioner::with_seed(10, 1).ignore_keys(true);
        let sticky = q.partition("t", Some(b"k"), None, six);
        assert_eq!(q.partition("t", Some(b"other"), None, six), sticky);
    }

    #[test]
    fn adaptive_picks_avoid_long_queues() {
        let p = BuiltInPartitioner::with_seed(1, 11);
        let three = n(3);
        p.update_load_stats("t", &[0, 1000, 1000]);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            let cur = p.sticky_partition("t", three);
            counts[cur as usize] += 1;
            p.on_append("t", None, cur, 1, true);
        }
        // Weights 1001 : 1 : 1.
        assert!(counts[0] > 9_900, "{counts:?}");

        // Equal queues: uniform again.
        p.update_load_stats("t", &[5, 5, 5]);
        let mut counts = [0u32; 3];
        for _ in 0..9_000 {
            let cur = p.sticky_partition("t", three);
            counts[cur as usize] += 1;
            p.on_append("t", None, cur, 1, true);
        }
        assert!(
            counts.iter().all(|&c| (2_500..3_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn more_partitions_are_used_once_a_topic_grows() {
        let p = BuiltInPartitioner::with_seed(1, 5).adaptive(false);
        let mut seen_high = false;
        for _ in 0..500 {
            let cur = p.sticky_partition("t", n(2));
            assert!(cur < 2);
            p.on_append("t", None, cur, 10, true);
        }
        for _ in 0..500 {
            let cur = p.sticky_partition("t", n(8));
            assert!(cur < 8);
            seen_high |= cur >= 2;
            p.on_append("t", None, cur, 10, true);
        }
        assert!(seen_high);
    }

    #[test]
    fn weights_are_kafkas() {
        assert_eq!(
            cumulative_weights(&[0, 1000, 1000]),
            Some(vec![1001, 1002, 1003])
        );
        assert_eq!(cumulative_weights(&[2, 0, 1]), Some(vec![1, 4, 6]));
        assert_eq!(cumulative_weights(&[3, 3]), None);
        assert_eq!(cumulative_weights(&[]), None);
    }
}

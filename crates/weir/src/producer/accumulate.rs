//! The sending side (Kafka's `RecordAccumulator`): a record's topic and partition,
//! its batch, `buffer.memory`, and batches sealed by size.

use std::cmp::Reverse;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use weir_record::{BatchBuilder, BatchOptions, Compression, increment_sequence};

use crate::delivery::{BatchResult, DeliveryFuture, RecordSlot};
use crate::error::{InternalTopicOperation, WeirError};
use crate::producer_config::Acks;
use crate::record::ProducerRecord;

use super::batch::{Appended, OpenBatch, PartitionState, Queue, RatioEstimate, worst_expansion};
use super::shared::{TopicMap, TopicState, current_topic};
use super::{Callback, Inner, lock};

impl Inner {
    /// The topic's state, current with the log directory's metadata.
    pub(super) fn topic_state(&self, topic: &str) -> Result<Arc<TopicState>, WeirError> {
        let version = self.weir.log_dir().metadata_version();
        match current_topic(&self.topics.load(), topic, version) {
            Some(state) => Ok(Arc::clone(state)),
            None => self.refresh_topic(topic, version),
        }
    }

    /// Reads a topic that is new to this producer or whose metadata changed.
    #[cold]
    pub(super) fn refresh_topic(
        &self,
        topic: &str,
        version: u64,
    ) -> Result<Arc<TopicState>, WeirError> {
        let t = self.weir.topic(topic)?;
        if t.is_internal() {
            return Err(WeirError::InternalTopic {
                topic: topic.to_string(),
                operation: InternalTopicOperation::Append,
            });
        }
        let _update = lock(&self.topics_update);
        let current = self.topics.load_full();
        let old = current.get(topic).map(|(_, s)| Arc::clone(s));
        // Keep the queues (open batches, sequences, a drain in progress) of
        // partitions that are still the same logs; a topic deleted and
        // created again has new logs, and new partitions have no queue yet.
        let name: Arc<str> = Arc::from(topic);
        let sent = self.shared.metrics.send_counter(&name);
        let ratio = old.as_ref().and_then(|o| o.partitions.first()).map_or_else(
            || Arc::new(RatioEstimate::new()),
            |p| Arc::clone(&p.compression_ratio),
        );
        let state = Arc::new(TopicState {
            name,
            partitions: t
                .partitions()
                .into_iter()
                .enumerate()
                .map(|(i, log)| {
                    old.as_ref()
                        .and_then(|o| o.partitions.get(i))
                        .filter(|p| Arc::ptr_eq(&p.log, &log))
                        .cloned()
                        .unwrap_or_else(|| {
                            Arc::new(PartitionState {
                                sent: sent.clone(),
                                sequences_lost: AtomicI32::new(0),
                                compression_ratio: Arc::clone(&ratio),
                                log,
                                queue: Mutex::new(Queue::default()),
                            })
                        })
                })
                .collect(),
        });
        let mut next = TopicMap::clone(&current);
        next.insert(topic.into(), (version, Arc::clone(&state)));
        self.topics.store(Arc::new(next));
        Ok(state)
    }

    pub(super) fn send(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<DeliveryFuture, WeirError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(WeirError::Closed {
                what: format!("producer {}", self.config.client_id),
            });
        }
        // A transactional producer's records go into its open transaction:
        // held until the record is in a batch, so that the transaction
        // cannot end in between. A record refused here (too large, no
        // memory in time, ...) leaves the transaction unable to commit, as
        // Kafka's producer turns such a send's error into the transaction's
        // (all of it or none of it).
        let Some(txn) = &self.txn else {
            return self.send_record(record, callback);
        };
        let _in_txn = txn.sending(self.producer_epoch())?;
        let sent = self.send_record(record, callback);
        if let (Err(e), Some(slot)) = (&sent, &self.shared.txn_failure) {
            super::txn::record_failure(slot, e);
        }
        sent
    }

    /// The rest of [`send`](Self::send), once the record may be sent.
    fn send_record(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<DeliveryFuture, WeirError> {
        if let Some(ts) = record.timestamp
            && ts < 0
        {
            return Err(WeirError::InvalidArgument(format!(
                "invalid timestamp {ts}: a record's timestamp is never negative (None is \"now\")"
            )));
        }
        let size = record.estimated_size();
        // As Kafka's producer, the record's size in a batch of its own (with
        // the 61-byte batch header) is held against max.request.size.
        let alone = size + weir_record::layout::RECORD_BATCH_OVERHEAD;
        if alone > self.config.max_request_size {
            self.shared.metrics.error(record.topic.clone(), 1);
            return Err(WeirError::RecordTooLarge {
                size: alone,
                max: self.config.max_request_size as u64,
                config: "max.request.size",
            });
        }
        if size as u64 > self.config.buffer_memory {
            self.shared.metrics.error(record.topic.clone(), 1);
            return Err(WeirError::RecordTooLarge {
                size,
                max: self.config.buffer_memory,
                config: "buffer.memory",
            });
        }
        // Borrowed from the current topic map: no reference count touched on
        // the hot path (threads sharing the producer would contend on it).
        let topics = self.topics.load();
        let version = self.weir.log_dir().metadata_version();
        let refreshed;
        let topic = match current_topic(&topics, &record.topic, version) {
            Some(state) => state,
            None => {
                refreshed = self
                    .refresh_topic(&record.topic, version)
                    .map_err(|e| self.send_failed(&record.topic, e))?;
                &refreshed
            }
        };
        let count = NonZeroU32::new(u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX))
            .ok_or_else(|| {
                WeirError::InvalidArgument(format!("topic {} has no partitions", record.topic))
            })?;
        let key = record.key.as_deref();
        let partition = match record.partition {
            Some(p) => {
                if p < 0 || p as u32 >= count.get() {
                    let e = weir_log::LogError::UnknownPartition {
                        topic: record.topic.clone(),
                        partition: p,
                        partitions: count.get(),
                    };
                    return Err(self.send_failed(&record.topic, e.into()));
                }
                p as usize
            }
            None => {
                let p =
                    self.partitioner
                        .partition(&record.topic, key, record.value.as_deref(), count);
                if p >= count.get() {
                    return Err(WeirError::InvalidArgument(format!(
                        "the partitioner chose partition {p} of a topic with {count} partitions"
                    )));
                }
                p as usize
            }
        };
        let timestamp = record
            .timestamp
            .unwrap_or_else(|| self.weir.clock().now_ms());
        let ps = topic
            .partitions
            .get(partition)
            .ok_or_else(|| WeirError::InvalidArgument(format!("no partition {partition}")))?;
        // Batches this send seals by size, built (compressed, CRC'd) by this
        // thread once the queue is unlocked, so compression runs in every
        // sending thread at once rather than in the partition's drainer only.
        let mut to_build = Vec::new();
        let appended = self.append_to_queue(
            topic,
            partition,
            ps,
            &record,
            size,
            timestamp,
            callback,
            &mut to_build,
        );
        let drain = appended.as_ref().is_ok_and(|a| a.drain);
        self.build_and_drain(ps, &mut to_build, drain);
        let appended = appended.map_err(|e| self.send_failed(&record.topic, e))?;
        if record.partition.is_none() {
            // Only for records the partitioner placed (as Kafka's
            // accumulator, which ignores records with an explicit partition).
            self.partitioner.on_append(
                &record.topic,
                key,
                partition as u32,
                appended.estimated_bytes,
                appended.full,
            );
        }
        Ok(DeliveryFuture::new(
            appended.result,
            self.config.acks == Acks::None,
            appended.slot,
        ))
    }

    /// Builds the batches this thread sealed by size (outside the queue's
    /// lock), then drains the partition if it is (or became) the drainer.
    pub(super) fn build_and_drain(
        &self,
        ps: &PartitionState,
        to_build: &mut Vec<(u64, BatchBuilder)>,
        mut drain: bool,
    ) {
        for (id, builder) in to_build.drain(..) {
            let built = builder.build_batch().map_err(WeirError::from);
            let mut q = lock(&ps.queue);
            q.deposit(id, built);
            drain |= q.claim_drain();
        }
        if drain {
            self.drain(ps);
        }
    }

    /// Appends the record to the partition's open batch (opening one, and
    /// sealing a full one, as needed), holding its `buffer.memory`. Batches
    /// sealed by size go to `to_build` for the caller to build unlocked.
    #[expect(clippy::too_many_arguments, reason = "one send's parts, in one place")]
    pub(super) fn append_to_queue(
        &self,
        topic: &Arc<TopicState>,
        partition: usize,
        ps: &PartitionState,
        record: &ProducerRecord,
        size: usize,
        timestamp: i64,
        callback: Option<Callback>,
        to_build: &mut Vec<(u64, BatchBuilder)>,
    ) -> Result<Appended, WeirError> {
        let key = record.key.as_deref();
        let linger_zero = self.config.linger.is_zero();
        let size64 = size as u64;
        // Memory this record reserved while the queue was unlocked (when it
        // had to wait for memory), for the batch that takes it.
        let mut held = 0u64;
        // Senders wait for memory: this batch is sent at once (see `reserve`).
        let mut exhausted = false;
        let mut q = loop {
            let mut q = lock(&ps.queue);
            // Checked again under the queue's lock: `close` sets the flag and
            // then takes every queue's lock, so a send either is in a batch
            // that close sends or sees the flag here.
            if self.closed.load(Ordering::Acquire) {
                drop(q);
                self.release(held);
                return Err(WeirError::Closed {
                    what: format!("producer {}", self.config.client_id),
                });
            }
            if let Some(open) = &q.open
                && !open.has_room_for(size)
                && let Some(full) = q.open.take()
            {
                to_build.push(q.seal_to_build(full));
            }
            // Memory is taken before a batch opens (as Kafka's accumulator
            // allocates a batch's buffer before it creates the batch): a
            // sender waiting for memory leaves no empty batch behind that
            // `flush` or `close` would wait for. It is taken a batch at a
            // time: most records fit what their batch holds already, and
            // touch no counter shared by all senders.
            let (used, reserved) = q.open.as_ref().map_or((0, 0), |o| (o.used, o.reserved));
            let shortfall = (used + size64).saturating_sub(reserved);
            let batch_worth = self.config.batch_size as u64;
            let taken = if held > 0 {
                // held = size64 >= shortfall, as used <= reserved. Taken even
                // when another sender's reservation left room meanwhile: the
                // batch gives it back with the rest when it completes.
                std::mem::take(&mut held)
            } else if shortfall == 0 {
                0
            } else if shortfall <= batch_worth && self.shared.try_reserve(batch_worth) {
                batch_worth
            } else if self.shared.try_reserve(shortfall) {
                shortfall
            } else {
                // Wait for memory (up to max.block.ms) without holding the
                // queue; nothing was opened for this record. A batch this
                // record sealed is built and sent first: until then it
                // holds its memory and its partition's later batches.
                drop(q);
                self.build_and_drain(ps, to_build, false);
                self.reserve(size64)?;
                held = size64;
                continue;
            };
            if taken > 0 {
                // Checked once per reservation, not per record.
                exhausted = self.shared.memory.waiting.load(Ordering::Acquire) > 0;
            }
            if q.open.is_none() {
                let batch = self.new_batch(q.next_sequence, &topic.name, partition, ps);
                if !linger_zero {
                    self.schedule_linger(
                        weir_log::clock::instant_after(batch.created, self.config.linger),
                        batch.id,
                        topic,
                        partition,
                    );
                }
                q.open = Some(batch);
            }
            let Some(open) = q.open.as_mut() else {
                self.release(taken);
                return Err(WeirError::InvalidArgument("no open batch".into()));
            };
            open.reserved += taken;
            break q;
        };
        let Some(open) = q.open.as_mut() else {
            return Err(WeirError::InvalidArgument("no open batch".into()));
        };
        let estimated_before = open.estimated_size();
        let delta = match open.builder.append_parts(
            timestamp,
            key,
            record.value.as_deref(),
            &record.headers,
        ) {
            Ok(d) => d,
            Err(e) => {
                let freed = self.discard_empty_open(&mut q);
                drop(q);
                self.release(freed);
                return Err(e.into());
            }
        };
        open.used += size64;
        open.records += 1;
        // What the record adds to the batch by the estimate (compressed when
        // the batch is), as Kafka's accumulator tells its partitioner.
        let estimated_bytes = open.estimated_size().saturating_sub(estimated_before);
        if open.records == 1 {
            // Waited for by `flush` and `close` from its first record on:
            // an empty batch is never waited for.
            lock(&self.shared.outstanding).insert(open.id, Arc::clone(&open.result));
        }
        let slot = RecordSlot {
            offset_delta: delta,
            timestamp,
            key_size: key.map_or(-1, |k| i32::try_from(k.len()).unwrap_or(i32::MAX)),
            value_size: record
                .value
                .as_ref()
                .map_or(-1, |v| i32::try_from(v.len()).unwrap_or(i32::MAX)),
        };
        if let Some(callback) = callback {
            open.callbacks.push((slot.clone(), callback));
        }
        let result = Arc::clone(&open.result);
        if self.producer_id() >= 0 {
            q.next_sequence = increment_sequence(q.next_sequence, 1);
        }
        let full = q.open.as_ref().is_some_and(OpenBatch::is_full);
        if full && let Some(sealed) = q.open.take() {
            to_build.push(q.seal_to_build(sealed));
        } else if ((linger_zero && !q.draining) || exhausted)
            && let Some(sealed) = q.open.take()
        {
            // linger.ms=0, or memory is short: sent now, built by this
            // thread as it drains (or by the partition's drainer).
            q.seal(sealed);
        }
        let drain = q.claim_drain();
        Ok(Appended {
            slot,
            result,
            full,
            drain,
            estimated_bytes,
        })
    }

    /// Drops the partition's open batch if it holds no record (one a failed
    /// send opened), returning the memory it had reserved. Nothing waits for
    /// it: a batch is outstanding from its first record on.
    pub(super) fn discard_empty_open(&self, q: &mut Queue) -> u64 {
        match q.open.take() {
            Some(open) if open.builder.is_empty() => {
                if !self.config.linger.is_zero() {
                    lock(&self.linger.due).1.remove(&open.id);
                }
                open.reserved
            }
            other => {
                q.open = other;
                0
            }
        }
    }

    pub(super) fn new_batch(
        &self,
        base_sequence: i32,
        topic: &Arc<str>,
        partition: usize,
        ps: &PartitionState,
    ) -> OpenBatch {
        let topic_config = ps.log.config();
        if let Some(txn) = &self.txn {
            txn.note_partition(&ps.log);
        }
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        // A record's size estimate leaves out at most 15 bytes of varints
        // (36 bytes of framing at most, 21 counted), so a batch sealed 15
        // bytes short of max.message.bytes never passes it.
        let max_message_bytes =
            usize::try_from(topic_config.max_message_bytes).unwrap_or(usize::MAX);
        // batch.size bounds the batch as it will be written: compressed,
        // by the topic's estimated ratio, as Kafka's producer sizes it.
        let compressed = self.config.compression.compression() != Compression::None;
        let ratio = if compressed {
            f64::from(ps.compression_ratio.get()) * f64::from(RatioEstimate::MARGIN)
        } else {
            1.0
        };
        // Records that do not compress come out a little larger than they
        // went in, from the producer's codec or from the topic's when the
        // log compresses the batch again: a batch's records stop that much
        // short of max.message.bytes (the log would refuse the batch, and
        // there is no splitting one).
        let mut expansion = worst_expansion(self.config.compression, max_message_bytes);
        if let Some(topic) = topic_config
            .recompression()
            .filter(|t| t.compression() != self.config.compression.compression())
        {
            expansion = expansion.max(worst_expansion(topic, max_message_bytes));
        }
        let cap = max_message_bytes
            .saturating_sub(15)
            .saturating_sub(expansion);
        let producer_id = self.producer_id();
        let idempotent = producer_id >= 0;
        let result = Arc::new(BatchResult::new(
            Arc::clone(topic),
            i32::try_from(partition).unwrap_or(i32::MAX),
        ));
        OpenBatch {
            id,
            builder: BatchBuilder::with_capacity(
                BatchOptions {
                    compression: self.config.compression,
                    producer_id,
                    producer_epoch: if idempotent {
                        self.producer_epoch.load(Ordering::Acquire)
                    } else {
                        -1
                    },
                    transactional: self.txn.is_some(),
                    base_sequence: if idempotent { base_sequence } else { -1 },
                    ..BatchOptions::default()
                },
                // What it first takes of buffer.memory; it grows as its
                // records take more.
                self.config.batch_size.min(cap).min(1 << 20),
            ),
            created: Instant::now(),
            result,
            reserved: 0,
            used: 0,
            records: 0,
            callbacks: Vec::new(),
            batch_size: self.config.batch_size,
            ratio,
            cap,
        }
    }

    pub(super) fn schedule_linger(
        &self,
        at: Instant,
        batch_id: u64,
        topic: &Arc<TopicState>,
        partition: usize,
    ) {
        let mut l = lock(&self.linger.due);
        let wake = l.0.peek().is_none_or(|Reverse((first, _, _))| at < *first);
        l.0.push(Reverse((at, batch_id, partition)));
        l.1.insert(batch_id, Arc::clone(topic));
        drop(l);
        if wake {
            self.linger.cv.notify_all();
        }
    }

    /// A send that failed after its record was accepted for sending (no
    /// memory within `max.block.ms`, an unknown topic or partition): counted
    /// in `record-error-total`, as Kafka's producer counts the errors of
    /// `send` itself.
    pub(super) fn send_failed(&self, topic: &str, e: WeirError) -> WeirError {
        self.shared.metrics.error(topic.to_owned(), 1);
        e
    }

    pub(super) fn reserve(&self, n: u64) -> Result<(), WeirError> {
        let memory = &self.shared.memory;
        if self.shared.try_reserve(n) {
            return Ok(());
        }
        let deadline = weir_log::clock::deadline_in(self.config.max_block);
        memory.waiting.fetch_add(1, Ordering::AcqRel);
        // As Kafka's accumulator when a sender waits for memory (it is
        // "exhausted"): every batch is sent now, lingering ones included, so
        // the memory they hold comes back. Batches opened while this sender
        // waits are sealed at their first record (see `append_to_queue`).
        self.send_all();
        let mut guard = lock(&memory.lock);
        let result = loop {
            if self.shared.try_reserve(n) {
                break Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(WeirError::BufferExhausted {
                    needed: n,
                    buffer_memory: memory.limit,
                    max_block_ms: u64::try_from(self.config.max_block.as_millis())
                        .unwrap_or(u64::MAX),
                });
            }
            guard = memory
                .cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(guard);
        memory.waiting.fetch_sub(1, Ordering::AcqRel);
        result
    }

    pub(super) fn release(&self, n: u64) {
        self.shared.release(n);
    }
}

//! [`Consumer`]: Kafka's consumer with manual assignment, in process.
//!
//! A poll fetches whole batches from assigned, unpaused partitions (up to
//! `max.partition.fetch.bytes` each and `fetch.max.bytes` in all, at least one
//! batch), round-robin, until it holds `max.poll.records` records, and returns
//! up to `max.poll.records` records, keeping the rest buffered for the next
//! poll, which goes on with the partition this one stopped in (as Kafka's
//! consumer drains the fetch in line before the next). A partition is read in
//! chunks of about 128 KiB, the next only while the poll wants more. Fetching
//! no further ahead than that keeps the fetched bytes in cache until they are
//! read, and the consumer reuses its fetch buffers once nothing shares them.
//! Each batch's CRC (`check.crcs`) is checked and its records decoded right
//! after the read that fetched it, while its bytes are in cache; damage
//! found there is reported when a poll reaches it, after the records
//! before it, as Kafka's consumer reports it. After a poll the position is
//! the offset after the last record returned (Kafka's `nextFetchOffset`),
//! or past a batch read to its end. When less than
//! `fetch.min.bytes` is available it waits (by notification from the log) up
//! to `fetch.max.wait.ms`, and never past the poll's timeout. Keys and values
//! are `Bytes` sharing the fetched buffer: nothing is copied. With
//! `isolation.level=read_committed`, the batches of aborted transactions are
//! skipped by the rule of Kafka's `CompletedFetch`: each fetch asks the log for
//! the aborted transactions it meets (from the segments' `.txnindex`), a
//! producer counts as aborted from its transaction's first offset until its
//! ABORT marker, and its transactional batches in between are not returned.

mod fetch;
mod poll;

pub(crate) use fetch::end_offset;
use fetch::{Buffered, FetchBuffers, reset_if_needed, set_position};

use std::collections::VecDeque;
use std::sync::Arc;

use weir_log::PartitionLog;

use crate::consumer_config::ConsumerConfig;
use crate::consumer_group::Membership;
use crate::error::WeirError;
use crate::metrics::{ConsumerMetrics, PartitionMetrics};
use crate::record::TopicPartition;
use crate::wakeup::WakeupState;
use crate::weir::Weir;

pub(crate) struct Assigned {
    pub(crate) tp: TopicPartition,
    topic: Arc<str>,
    metrics: PartitionMetrics,
    log: Arc<PartitionLog>,
    /// Next offset to return to the user; `None` until reset.
    pub(crate) position: Option<i64>,
    /// Next offset to fetch (after the buffered batches).
    fetch_position: i64,
    paused: bool,
    buffered: VecDeque<Buffered>,
    buffered_bytes: usize,
    /// The records of `buffered` a poll may still return (by the batches'
    /// record counts: records before a position sought inside a batch, or
    /// compacted away, are counted until their batch is done).
    buffered_records: usize,
    /// The last poll met a damaged batch at the front of `buffered`: its
    /// records do not count as held, so the other partitions go on being
    /// fetched until the application seeks past it.
    damaged: bool,
    /// The group's committed offset for it is held by an open transaction
    /// (Kafka's `UNSTABLE_OFFSET_COMMIT`): no position yet, and nothing is
    /// fetched; each poll looks again, as Kafka's consumer retries.
    pub(crate) awaiting_stable: bool,
}

impl Assigned {
    /// Drops the front buffered batch.
    fn pop_front(&mut self) {
        if let Some(done) = self.buffered.pop_front() {
            self.buffered_bytes -= done.batch.size();
            self.buffered_records = self.buffered_records.saturating_sub(done.counted);
        }
    }
}

/// The record found by [`Consumer::offsets_for_times`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The first offset with a timestamp at or after the one asked for.
    pub offset: i64,
    /// That record's timestamp.
    pub timestamp: i64,
    /// Its batch's leader epoch.
    pub leader_epoch: Option<i32>,
}

/// Kafka's consumer with manual assignment (see the module docs). Not shared
/// between threads: methods take `&mut self`, as the Java consumer is used
/// from one thread.
pub struct Consumer {
    pub(crate) weir: Weir,
    pub(crate) config: ConsumerConfig,
    pub(crate) parts: Vec<Assigned>,
    next_start: usize,
    buffers: FetchBuffers,
    metrics: ConsumerMetrics,
    closed: bool,
    pub(crate) membership: Option<Membership>,
    wakeup: Arc<WakeupState>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("client_id", &self.config.client_id)
            .field("assignment", &self.assignment())
            .finish()
    }
}

impl Consumer {
    /// A consumer on `weir`. Without a `client.id`, it is named as Kafka's
    /// consumer names itself: `consumer-<group.id>-<group.instance.id>`, with
    /// a sequence number for a dynamic member and `null` without a group.
    ///
    /// # Errors
    /// [`WeirError::Config`] for a config Kafka's consumer refuses
    /// ([`ConsumerConfig::validate`]).
    pub fn new(weir: &Weir, mut config: ConsumerConfig) -> Result<Self, WeirError> {
        config.validate()?;
        if config.client_id.is_empty() {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let member = config.group_instance_id.clone().unwrap_or_else(|| {
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .to_string()
            });
            config.client_id = format!(
                "consumer-{}-{member}",
                config.group_id.as_deref().unwrap_or("null")
            );
        }
        Ok(Consumer {
            metrics: ConsumerMetrics::new(&config.client_id),
            weir: weir.clone(),
            config,
            parts: Vec::new(),
            next_start: 0,
            buffers: FetchBuffers::default(),
            closed: false,
            membership: None,
            wakeup: Arc::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    pub(crate) fn check_open(&self) -> Result<(), WeirError> {
        if self.closed {
            return Err(WeirError::Closed {
                what: format!("consumer {}", self.config.client_id),
            });
        }
        Ok(())
    }

    /// Assigns exactly these partitions (Kafka's `assign`). Partitions kept
    /// from the previous assignment keep their positions; new ones start at
    /// the group's committed offset (with `group.id`) or per
    /// `auto.offset.reset`, unless sought.
    ///
    /// # Errors
    /// An unknown topic or partition (nothing changes then); a consumer that
    /// subscribed (Kafka forbids mixing the two).
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        self.check_open()?;
        if self
            .membership
            .as_ref()
            .is_some_and(|m| m.subscribed.is_some())
        {
            return Err(WeirError::InvalidArgument(
                "this consumer subscribed; unsubscribe before assigning partitions manually".into(),
            ));
        }
        self.assign_inner(partitions)?;
        if let Some(group) = self.config.group_id.clone() {
            let coordinator = self.weir.group_coordinator()?;
            for a in &mut self.parts {
                if a.position.is_none() {
                    start_at_committed(&self.weir, &coordinator, &group, a);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn assign_inner(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        // Every partition's log first: an unknown one changes nothing.
        let mut logs = Vec::with_capacity(partitions.len());
        for tp in partitions {
            if !logs.iter().any(|(t, _)| *t == tp) {
                logs.push((tp, self.log_of(tp)?));
            }
        }
        let mut next = Vec::with_capacity(logs.len());
        for (tp, log) in logs {
            // A partition kept keeps its position and buffer, unless its topic
            // was deleted and created again (a new log) since.
            if let Some(i) = self
                .parts
                .iter()
                .position(|a| &a.tp == tp && Arc::ptr_eq(&a.log, &log))
            {
                next.push(self.parts.swap_remove(i));
                continue;
            }
            let topic: Arc<str> = Arc::from(tp.topic.as_str());
            next.push(Assigned {
                metrics: self.metrics.partition(&topic, tp.partition),
                topic,
                tp: tp.clone(),
                log,
                position: None,
                fetch_position: 0,
                paused: false,
                buffered: VecDeque::new(),
                buffered_bytes: 0,
                buffered_records: 0,
                damaged: false,
                awaiting_stable: false,
            });
        }
        let gone = std::mem::replace(&mut self.parts, next);
        for a in gone {
            if !self.parts.iter().any(|b| b.tp == a.tp) {
                a.metrics.clear_lag();
            }
        }
        self.next_start = 0;
        Ok(())
    }

    /// Assigns every partition of `topic`.
    ///
    /// # Errors
    /// An unknown topic.
    pub fn assign_topic(&mut self, topic: &str) -> Result<(), WeirError> {
        let t = self
            .weir
            .topic_or_create(topic, self.config.allow_auto_create_topics)?;
        self.assign(&partitions_of(&t))
    }

    /// The partitions of `topic` (Kafka's `partitionsFor`): none for a topic
    /// the data directory does not have, unless `allow.auto.create.topics`
    /// (and the data directory) create it, as Kafka's metadata request does.
    ///
    /// # Errors
    /// An invalid topic name; a failed auto-creation.
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<TopicPartition>, WeirError> {
        match self
            .weir
            .topic_or_create(topic, self.config.allow_auto_create_topics)
        {
            Ok(t) => Ok(partitions_of(&t)),
            Err(WeirError::Log(e)) if matches!(*e, weir_log::LogError::UnknownTopic { .. }) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Every topic of the data directory with its partitions (Kafka's
    /// `listTopics`), internal ones (`__consumer_offsets`) included, as
    /// Kafka's metadata lists them.
    pub fn list_topics(&self) -> std::collections::BTreeMap<String, Vec<TopicPartition>> {
        self.weir
            .log_dir()
            .topics()
            .into_iter()
            .map(|t| (t.name().to_string(), partitions_of(&t)))
            .collect()
    }

    /// A partition's log; its topic is auto-created only if
    /// `allow.auto.create.topics` (and the data directory) allow it.
    fn log_of(&self, tp: &TopicPartition) -> Result<Arc<PartitionLog>, WeirError> {
        self.weir.partition_or_create(
            &tp.topic,
            tp.partition,
            self.config.allow_auto_create_topics,
        )
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.parts.iter().map(|a| a.tp.clone()).collect()
    }

    pub(crate) fn part(&mut self, tp: &TopicPartition) -> Result<&mut Assigned, WeirError> {
        self.parts
            .iter_mut()
            .find(|a| &a.tp == tp)
            .ok_or_else(|| WeirError::NotAssigned {
                topic: tp.topic.clone(),
                partition: tp.partition,
            })
    }

    /// Sets the next offset to return for a partition (buffered records are
    /// dropped).
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`]; [`WeirError::InvalidArgument`] for a
    /// negative offset (Kafka's `seek` refuses it too).
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), WeirError> {
        if offset < 0 {
            return Err(WeirError::InvalidArgument(format!(
                "seek to offset {offset} of {}-{}: an offset is never negative",
                tp.topic, tp.partition
            )));
        }
        let a = self.part(tp)?;
        set_position(a, offset);
        Ok(())
    }

    /// Seeks partitions (all assigned ones when `partitions` is empty) to their
    /// log start offset.
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`].
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        self.seek_each(partitions, |log| log.log_start_offset())
    }

    /// Seeks partitions (all assigned ones when `partitions` is empty) to their
    /// end offset (see [`end_offsets`](Self::end_offsets)).
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`].
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        let read_committed = self.read_committed();
        self.seek_each(partitions, |log| end_offset(log, read_committed))
    }

    fn seek_each(
        &mut self,
        partitions: &[TopicPartition],
        offset: impl Fn(&PartitionLog) -> i64,
    ) -> Result<(), WeirError> {
        if partitions.is_empty() {
            for a in &mut self.parts {
                let o = offset(&a.log);
                set_position(a, o);
            }
            return Ok(());
        }
        for tp in partitions {
            let a = self.part(tp)?;
            let o = offset(&a.log);
            set_position(a, o);
        }
        Ok(())
    }

    /// The next offset a poll returns for the partition (resetting it per
    /// `auto.offset.reset` if it has none yet).
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`]; [`WeirError::NoOffsetForPartition`].
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64, WeirError> {
        let reset = self.config.auto_offset_reset;
        let read_committed = self.read_committed();
        let clock = Arc::clone(self.weir.clock());
        let weir = self.weir.clone();
        let group = self.config.group_id.clone();
        let api_timeout = self.config.default_api_timeout;
        let a = self.part(tp)?;
        if a.awaiting_stable
            && let Some(group) = group
        {
            // Kafka's `position` blocks until the offset is known.
            let coordinator = weir.group_coordinator()?;
            match weir.stable_committed(&coordinator, &group, &a.tp, api_timeout)? {
                Some(c) if c.offset >= 0 => set_position(a, c.offset),
                _ => a.awaiting_stable = false,
            }
        }
        reset_if_needed(a, reset, read_committed, &*clock)?;
        Ok(a.position.unwrap_or(0))
    }

    /// How far the partition's position is behind its end offset (see
    /// [`end_offsets`](Self::end_offsets); Kafka's `currentLag`, KIP-695),
    /// without fetching or resetting:
    /// `None` while the partition has no position yet (before its first poll
    /// or seek, when `auto.offset.reset` has not been applied).
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`].
    pub fn current_lag(&mut self, tp: &TopicPartition) -> Result<Option<i64>, WeirError> {
        let read_committed = self.read_committed();
        let a = self.part(tp)?;
        Ok(a.position
            .map(|p| (end_offset(&a.log, read_committed) - p).max(0)))
    }

    /// Stops returning records of these partitions until resumed.
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`].
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        for tp in partitions {
            self.part(tp)?.paused = true;
        }
        Ok(())
    }

    /// Resumes paused partitions.
    ///
    /// # Errors
    /// [`WeirError::NotAssigned`].
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        for tp in partitions {
            self.part(tp)?.paused = false;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.parts
            .iter()
            .filter(|a| a.paused)
            .map(|a| a.tp.clone())
            .collect()
    }
}

/// Positions `a` at the group's committed offset, or marks it as waiting
/// for that offset while an open transaction holds it.
pub(crate) fn start_at_committed(
    weir: &crate::weir::Weir,
    coordinator: &weir_group::GroupCoordinator,
    group: &str,
    a: &mut Assigned,
) {
    match weir.committed_if_stable(coordinator, group, &a.tp) {
        Some(Some(c)) if c.offset >= 0 => set_position(a, c.offset),
        Some(_) => a.awaiting_stable = false,
        None => a.awaiting_stable = true,
    }
}

impl Consumer {
    /// Partitions waiting for a committed offset an open transaction held
    /// are looked at again: positioned once it ended.
    pub(crate) fn settle_awaiting(&mut self) -> Result<(), WeirError> {
        if !self.parts.iter().any(|a| a.awaiting_stable) {
            return Ok(());
        }
        let Some(group) = self.config.group_id.clone() else {
            return Ok(());
        };
        let coordinator = self.weir.group_coordinator()?;
        for a in self.parts.iter_mut().filter(|a| a.awaiting_stable) {
            start_at_committed(&self.weir, &coordinator, &group, a);
        }
        Ok(())
    }

    /// `isolation.level=read_committed`.
    pub(crate) fn read_committed(&self) -> bool {
        self.config.isolation_level == crate::consumer_config::IsolationLevel::ReadCommitted
    }

    fn report_lag(&self) {
        let read_committed = self.read_committed();
        // A partition without a position yet (waiting for a committed
        // offset, say) has no lag to report.
        self.metrics.lag(self.parts.iter().filter_map(|a| {
            let lag = end_offset(&a.log, read_committed) - a.position?;
            Some((&a.metrics, lag.max(0)))
        }));
    }

    /// For each partition, the first offset whose record has a timestamp at or
    /// after the one given (`None` when every record is older).
    ///
    /// # Errors
    /// An unknown topic or partition; a negative timestamp (as Kafka's
    /// `offsetsForTimes`); log read errors.
    pub fn offsets_for_times(
        &self,
        query: &[(TopicPartition, i64)],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndTimestamp>)>, WeirError> {
        query
            .iter()
            .map(|(tp, ts)| {
                if *ts < 0 {
                    return Err(WeirError::InvalidArgument(format!(
                        "the target time for {}-{} is {ts}: it cannot be negative",
                        tp.topic, tp.partition
                    )));
                }
                let log = self.log_of(tp)?;
                // read_committed: nothing at or past the last stable
                // offset, as Kafka's ListOffsets answers per isolation level.
                let end = end_offset(&log, self.read_committed());
                let found = log
                    .offset_for_timestamp(*ts)?
                    .filter(|t| t.offset < end)
                    .map(|t| OffsetAndTimestamp {
                        offset: t.offset,
                        timestamp: t.timestamp,
                        leader_epoch: (t.leader_epoch >= 0).then_some(t.leader_epoch),
                    });
                Ok((tp.clone(), found))
            })
            .collect()
    }

    /// Log start offsets.
    ///
    /// # Errors
    /// An unknown topic or partition.
    pub fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, i64)>, WeirError> {
        self.offsets_of(partitions, PartitionLog::log_start_offset)
    }

    /// End offsets (the offset after the last readable record): high
    /// watermarks, or with `isolation.level=read_committed` last stable
    /// offsets, as Kafka's consumer answers them.
    ///
    /// # Errors
    /// An unknown topic or partition.
    pub fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, i64)>, WeirError> {
        let read_committed = self.read_committed();
        self.offsets_of(partitions, |log| end_offset(log, read_committed))
    }

    /// One offset of each partition's log.
    fn offsets_of(
        &self,
        partitions: &[TopicPartition],
        of: impl Fn(&PartitionLog) -> i64,
    ) -> Result<Vec<(TopicPartition, i64)>, WeirError> {
        partitions
            .iter()
            .map(|tp| Ok((tp.clone(), of(&*self.log_of(tp)?))))
            .collect()
    }

    /// Closes the consumer: with a group, commits (auto-commit on), runs
    /// pending commit callbacks and leaves the group at once, so its partitions
    /// move without waiting for a timeout. Later calls fail with
    /// [`WeirError::Closed`].
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.leave_group();
        self.closed = true;
        self.parts.clear();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Leave promptly; a static member stays assigned until its session
        // times out, so a quick restart does not rebalance.
        if !self.closed {
            self.leave_group();
        }
    }
}

/// Every partition of `topic`, in order.
fn partitions_of(topic: &weir_log::Topic) -> Vec<TopicPartition> {
    (0..topic.partition_count())
        .map(|p| TopicPartition::new(topic.name(), i32::try_from(p).unwrap_or(i32::MAX)))
        .collect()
}

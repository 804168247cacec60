//! [`Cleaner`]: retention and compaction of a data directory, in the
//! background or on demand.
//!
//! One maintenance thread runs retention every
//! `log.retention.check.interval.ms` and unlinks `.deleted` files once their
//! `file.delete.delay.ms` is up; `log.cleaner.threads` threads compact, each
//! picking the partition with the highest dirty ratio at or above its
//! `min.cleanable.dirty.ratio` (or with a record past `max.compaction.lag.ms`),
//! and backing off `log.cleaner.backoff.ms` when none needs it. Threads wait on
//! a condvar with a timeout: no busy loop. A partition is cleaned by one
//! thread at a time; an error marks it uncleanable (reported, skipped) and the
//! cleaner moves on. The first dirty offset of each partition is kept in
//! Kafka's `cleaner-offset-checkpoint`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use weir_log::checkpoint::{format_offset_checkpoint, read_offset_checkpoint, write_atomically};
use weir_log::{DeletedSegment, LogDir, LogError, PartitionLog, SwapStep};

use crate::clean::{CleanStats, IoRate, Throttle, clean_log, cleanable, needs_cleaning};
use crate::config::CleanerConfig;
use crate::retention::{RetentionStats, apply_retention};

/// Kafka's cleaner checkpoint file in the data directory.
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Weir's record of each partition's last compaction (when, and what it
/// did), so `weir topics describe` in another process can show it. Kafka
/// keeps this only in metrics; the file is informational: an unreadable one
/// is ignored and rewritten on the next clean.
pub const CLEANER_STATE_FILE: &str = "weir-cleaner-state.json";

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LastClean {
    topic: String,
    partition: i32,
    time_ms: i64,
    stats: CleanStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Key = (String, i32);

/// How one partition stands with the cleaner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionCleaning {
    /// The first offset not yet compacted (the cleaner checkpoint).
    pub first_dirty_offset: i64,
    /// The dirty share of the cleanable bytes now.
    pub dirty_ratio: f64,
    /// When it was last compacted (ms since the epoch, the log's clock).
    pub last_clean_ms: Option<i64>,
    /// What the last compaction did.
    pub last_clean: Option<CleanStats>,
    /// Why it is marked uncleanable, if it is.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    checkpoints: BTreeMap<Key, i64>,
    last: BTreeMap<Key, (i64, CleanStats)>,
    uncleanable: BTreeMap<Key, String>,
    /// Partitions a pass found nothing to clean in although they looked
    /// dirty (a transaction open at the first dirty offset, say), with the
    /// cleanable range they had then: not picked again until it changes.
    stalled: BTreeMap<Key, (i64, i64)>,
    pending_deletes: Vec<(i64, DeletedSegment)>,
    /// Partitions a thread is cleaning now: another thread picks another
    /// (Kafka's `inProgress`).
    in_progress: std::collections::BTreeSet<Key>,
    stopped: bool,
}

#[derive(Debug)]
struct Inner {
    logs: Arc<LogDir>,
    config: CleanerConfig,
    state: Mutex<State>,
    wake: Condvar,
    /// Notified after each successful clean (for [`Cleaner::wait_for_clean`]).
    cleaned: Condvar,
    /// One lock per partition: compaction and retention of a partition never
    /// run at once.
    partition_locks: Mutex<HashMap<Key, Arc<Mutex<()>>>>,
    /// Serializes [`Inner::write_checkpoint`].
    checkpoint_writes: Mutex<()>,
    /// Set by [`Cleaner::shutdown`]: a pass under way ends at its next batch
    /// (or within a throttle's sleep slice).
    stopping: std::sync::atomic::AtomicBool,
    /// `log.cleaner.io.max.bytes.per.second`, shared by every pass.
    io: IoRate,
}

/// Retention and compaction of a [`LogDir`] (see the module docs).
#[derive(Debug)]
pub struct Cleaner {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Cleaner {
    /// A cleaner for `logs`, reading `cleaner-offset-checkpoint`. No thread
    /// runs until [`start`](Self::start).
    ///
    /// The entries of topics the directory no longer has are dropped (and
    /// the file rewritten without them): a topic's delete that a crash cut
    /// short after its data was gone leaves them, and a topic created again
    /// under the name would count as cleaned up to the old topic's offsets.
    /// Kafka removes a partition from the checkpoint before its directory.
    ///
    /// # Errors
    /// An unreadable checkpoint file; the rewrite of one that held deleted
    /// topics.
    pub fn new(logs: Arc<LogDir>, config: CleanerConfig) -> Result<Self, LogError> {
        let path = logs.path().join(CLEANER_CHECKPOINT);
        let exists = |topic: &str| logs.topic(topic).is_ok();
        let read = read_offset_checkpoint(&path)?;
        let read_count = read.len();
        let checkpoints: std::collections::BTreeMap<(String, i32), i64> = read
            .into_iter()
            .filter(|(t, _, _)| exists(t))
            .map(|(t, p, o)| ((t, p), o))
            .collect();
        let deleted_topics = checkpoints.len() != read_count;
        let last = std::fs::read(logs.path().join(CLEANER_STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Vec<LastClean>>(&bytes).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|l| exists(&l.topic))
            .map(|l| ((l.topic, l.partition), (l.time_ms, l.stats)))
            .collect();
        let cleaner = Cleaner {
            inner: Arc::new(Inner {
                logs,
                state: Mutex::new(State {
                    checkpoints,
                    last,
                    ..State::default()
                }),
                wake: Condvar::new(),
                cleaned: Condvar::new(),
                partition_locks: Mutex::new(HashMap::new()),
                checkpoint_writes: Mutex::new(()),
                stopping: std::sync::atomic::AtomicBool::new(false),
                io: IoRate::new(config.io_max_bytes_per_second),
                config,
            }),
            threads: Mutex::new(Vec::new()),
        };
        if deleted_topics {
            cleaner.inner.write_checkpoint()?;
        }
        Ok(cleaner)
    }

    /// Starts the maintenance thread and, with `log.cleaner.enable`, the
    /// cleaner threads.
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start(&self) -> Result<(), LogError> {
        let mut threads = lock(&self.threads);
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| LogError::Io {
                    path: PathBuf::from("."),
                    op: "spawn cleaner thread",
                    source: e,
                })
        };
        let inner = Arc::clone(&self.inner);
        threads.push(spawn(
            "weir-retention".into(),
            Box::new(move || inner.retention_loop()),
        )?);
        if self.inner.config.enable {
            for i in 0..self.inner.config.threads {
                let inner = Arc::clone(&self.inner);
                threads.push(spawn(
                    format!("weir-cleaner-{i}"),
                    Box::new(move || inner.cleaner_loop()),
                )?);
            }
        }
        Ok(())
    }

    /// Stops the threads. A pass under way, a caller's too, ends at its
    /// next batch (within 100 ms of a throttle's sleep), its cleaned files
    /// discarded, as Kafka's cleaner checks `checkDone` at each read.
    pub fn shutdown(&self) {
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::Release);
        lock(&self.inner.state).stopped = true;
        self.inner.wake.notify_all();
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }

    /// Compacts one partition now, on this thread, whatever its dirty ratio
    /// (Kafka's cleaner does this only past the ratio; `weir compact` forces
    /// it). `None` when nothing is cleanable (the active segment is never
    /// cleaned). A no-op for a topic without `compact` in its policy.
    ///
    /// # Errors
    /// An unknown topic or partition; I/O; a corrupt segment (the partition is
    /// then marked uncleanable).
    pub fn clean_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<CleanStats>, LogError> {
        let log = self.inner.logs.partition(topic, partition)?;
        if !log.config().cleanup_policy.compact {
            return Ok(None);
        }
        self.inner.clean(&log, true, SwapStep::Done)
    }

    /// [`clean_partition`](Self::clean_partition), stopping the first segment
    /// swap after `stop` as a crash would (nothing after it happens, and the
    /// checkpoint is not moved). For crash tests.
    ///
    /// # Errors
    /// As [`clean_partition`](Self::clean_partition).
    #[doc(hidden)]
    pub fn clean_partition_until(
        &self,
        topic: &str,
        partition: i32,
        stop: SwapStep,
    ) -> Result<Option<CleanStats>, LogError> {
        let log = self.inner.logs.partition(topic, partition)?;
        self.inner.clean(&log, true, stop)
    }

    /// Compacts every partition of a topic now; see
    /// [`clean_partition`](Self::clean_partition).
    ///
    /// # Errors
    /// The first partition's error.
    pub fn clean_topic(&self, topic: &str) -> Result<Vec<(i32, Option<CleanStats>)>, LogError> {
        let t = self.inner.logs.topic(topic)?;
        t.partitions()
            .iter()
            .map(|log| {
                Ok((
                    log.partition(),
                    self.clean_partition(topic, log.partition())?,
                ))
            })
            .collect()
    }

    /// One retention pass over every partition now (the maintenance thread
    /// runs it every `log.retention.check.interval.ms`), then unlinks the
    /// deleted files whose delay is up.
    ///
    /// # Errors
    /// The first I/O error.
    pub fn run_retention(&self) -> Result<RetentionStats, LogError> {
        let stats = self.inner.retention_pass()?;
        self.delete_expired_files();
        Ok(stats)
    }

    /// Unlinks `.deleted` files whose `file.delete.delay.ms` is up; returns how
    /// many segments went.
    pub fn delete_expired_files(&self) -> usize {
        self.inner.delete_expired_files()
    }

    /// Forgets a deleted topic's cleaning state (its `cleaner-offset-checkpoint`
    /// entries, last cleans, errors) and rewrites the checkpoint, as Kafka's
    /// `asyncDelete` does: a topic created again under the name starts with
    /// nothing counted as clean. Waits for a clean of the topic under way.
    ///
    /// # Errors
    /// The checkpoint's I/O error.
    pub fn forget_topic(&self, topic: &str) -> Result<(), LogError> {
        let locks: Vec<Arc<Mutex<()>>> = lock(&self.inner.partition_locks)
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, l)| Arc::clone(l))
            .collect();
        // A pass that finished its swap before the delete records its
        // checkpoint before this forgets it.
        let _held: Vec<_> = locks.iter().map(|l| lock(l)).collect();
        {
            let mut st = lock(&self.inner.state);
            st.checkpoints.retain(|(t, _), _| t != topic);
            st.last.retain(|(t, _), _| t != topic);
            st.uncleanable.retain(|(t, _), _| t != topic);
            st.stalled.retain(|(t, _), _| t != topic);
        }
        self.inner.write_checkpoint()
    }

    /// Segments waiting for their `file.delete.delay.ms`.
    pub fn pending_deletes(&self) -> usize {
        lock(&self.inner.state).pending_deletes.len()
    }

    /// Blocks until the partition has been compacted at least once (by a
    /// cleaner thread or on demand; a clean recorded before a restart counts)
    /// or `timeout` has passed. `true` when it has been.
    pub fn wait_for_clean(&self, topic: &str, partition: i32, timeout: Duration) -> bool {
        let key = (topic.to_string(), partition);
        let deadline = weir_log::clock::deadline_in(timeout);
        let mut st = lock(&self.inner.state);
        while !st.last.contains_key(&key) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .inner
                .cleaned
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// How a partition stands with the cleaner.
    ///
    /// # Errors
    /// An unknown topic or partition.
    pub fn partition_state(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<PartitionCleaning, LogError> {
        let log = self.inner.logs.partition(topic, partition)?;
        let key = (topic.to_string(), partition);
        let st = lock(&self.inner.state);
        let checkpoint = st.checkpoints.get(&key).copied().unwrap_or(0);
        let range = cleanable(&log, checkpoint, log.clock().now_ms());
        Ok(PartitionCleaning {
            first_dirty_offset: range.first_dirty,
            dirty_ratio: range.dirty_ratio,
            last_clean_ms: st.last.get(&key).map(|(t, _)| *t),
            last_clean: st.last.get(&key).map(|(_, s)| s.clone()),
            error: st.uncleanable.get(&key).cloned(),
        })
    }
}

impl Drop for Cleaner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn partition_lock(&self, key: &Key) -> Arc<Mutex<()>> {
        Arc::clone(lock(&self.partition_locks).entry(key.clone()).or_default())
    }

    /// A clean asked for by a caller: it runs to its end, whatever the
    /// cleaner's threads do, unless the cleaner shuts down. It shares their
    /// I/O rate, whose sleeps hold the rate's lock (as Kafka's throttler
    /// sleeps in its monitor): a pass that did not see the shutdown would
    /// hold up the others' and the shutdown that waits for them.
    fn clean(
        &self,
        log: &PartitionLog,
        force: bool,
        stop: SwapStep,
    ) -> Result<Option<CleanStats>, LogError> {
        self.clean_with(log, force, stop, Some(&self.stopping))
    }

    /// `stopping`: the flag that ends the pass (the cleaner's own threads).
    fn clean_with(
        &self,
        log: &PartitionLog,
        force: bool,
        stop: SwapStep,
        stopping: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Option<CleanStats>, LogError> {
        let key = (log.topic().to_string(), log.partition());
        let partition_lock = self.partition_lock(&key);
        let _held = lock(&partition_lock);
        lock(&self.state).in_progress.insert(key.clone());
        let result = self.clean_locked(log, &key, force, stop, stopping);
        lock(&self.state).in_progress.remove(&key);
        result
    }

    fn clean_locked(
        &self,
        log: &PartitionLog,
        key: &Key,
        force: bool,
        stop: SwapStep,
        stopping: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Option<CleanStats>, LogError> {
        let key = key.clone();
        let checkpoint = lock(&self.state)
            .checkpoints
            .get(&key)
            .copied()
            .unwrap_or(0);
        match clean_log(
            &self.logs,
            log,
            checkpoint,
            &self.config,
            force,
            stop,
            Throttle::new(&self.io, stopping, None),
        ) {
            Ok(None) => {
                let range = cleanable(log, checkpoint, log.clock().now_ms());
                lock(&self.state)
                    .stalled
                    .insert(key, (range.first_dirty, range.first_uncleanable));
                Ok(None)
            }
            Ok(Some((stats, _))) if stop != SwapStep::Done => Ok(Some(stats)),
            Ok(Some((stats, deleted))) => {
                let now = log.clock().now_ms();
                let delay = log.config().file_delete_delay_ms;
                {
                    let mut st = lock(&self.state);
                    st.checkpoints.insert(key.clone(), stats.next_dirty_offset);
                    st.last.insert(key.clone(), (now, stats.clone()));
                    st.uncleanable.remove(&key);
                    st.stalled.remove(&key);
                    st.pending_deletes
                        .extend(deleted.into_iter().map(|d| (now.saturating_add(delay), d)));
                }
                self.cleaned.notify_all();
                self.write_checkpoint()?;
                metrics::counter!("weir.cleaner.bytes-cleaned").increment(stats.bytes_read);
                metrics::histogram!("kafka.log.cleaner.clean-time-ms")
                    .record(stats.elapsed.as_secs_f64() * 1e3);
                Ok(Some(stats))
            }
            // The topic was deleted under the pass (Kafka aborts the clean
            // and lets it go): nothing is wrong with the partition, nor with
            // one created again under its name.
            Err(e)
                if log.is_closed()
                    || stopping.is_some_and(|s| s.load(std::sync::atomic::Ordering::Acquire)) =>
            {
                Err(e)
            }
            Err(e) => {
                let mut st = lock(&self.state);
                st.uncleanable.insert(key, e.to_string());
                metrics::counter!("weir.cleaner.errors").increment(1);
                metrics::gauge!("kafka.log.cleaner.uncleanable-partitions-count")
                    .set(st.uncleanable.len() as f64);
                Err(e)
            }
        }
    }

    fn write_checkpoint(&self) -> Result<(), LogError> {
        // From the snapshot to the write, so that a thread's older snapshot
        // never replaces another's newer one.
        let _serial = lock(&self.checkpoint_writes);
        let (text, last) = {
            let st = lock(&self.state);
            let text = format_offset_checkpoint(
                st.checkpoints
                    .iter()
                    .map(|((t, p), o)| (t.as_str(), *p, *o)),
            );
            let last: Vec<LastClean> = st
                .last
                .iter()
                .map(|((topic, partition), (time_ms, stats))| LastClean {
                    topic: topic.clone(),
                    partition: *partition,
                    time_ms: *time_ms,
                    stats: stats.clone(),
                })
                .collect();
            (text, last)
        };
        let write = |name: &str, bytes: &[u8]| {
            let path = self.logs.path().join(name);
            write_atomically(&path, bytes).map_err(|source| LogError::Io {
                path,
                op: "write",
                source,
            })
        };
        write(CLEANER_CHECKPOINT, text.as_bytes())?;
        let json = serde_json::to_vec_pretty(&last).unwrap_or_default();
        write(CLEANER_STATE_FILE, &json)
    }

    fn retention_pass(&self) -> Result<RetentionStats, LogError> {
        let mut total = RetentionStats::default();
        for topic in self.logs.topics() {
            for log in topic.partitions() {
                if log.is_closed() {
                    continue;
                }
                let key = (log.topic().to_string(), log.partition());
                let partition_lock = self.partition_lock(&key);
                let _held = lock(&partition_lock);
                let now = log.clock().now_ms();
                let (stats, deleted) = apply_retention(&log, now)?;
                if !deleted.is_empty() {
                    let delay = log.config().file_delete_delay_ms;
                    lock(&self.state)
                        .pending_deletes
                        .extend(deleted.into_iter().map(|d| (now.saturating_add(delay), d)));
                }
                total.segments_deleted += stats.segments_deleted;
                total.bytes_deleted += stats.bytes_deleted;
            }
        }
        Ok(total)
    }

    fn delete_expired_files(&self) -> usize {
        let now = self.logs.clock().now_ms();
        let due: Vec<DeletedSegment> = {
            let mut st = lock(&self.state);
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut st.pending_deletes)
                .into_iter()
                .partition(|(t, _)| *t <= now);
            st.pending_deletes = keep;
            due.into_iter().map(|(_, d)| d).collect()
        };
        let n = due.len();
        for d in due {
            // A file that cannot be removed now is removed at the next open.
            let _ = d.delete_files();
        }
        n
    }

    /// The compacted partition most in need of cleaning, if any.
    fn pick(&self) -> Option<Arc<PartitionLog>> {
        let mut st = lock(&self.state);
        let mut best: Option<(f64, Arc<PartitionLog>)> = None;
        let mut max_dirty = 0.0f64;
        let mut present = std::collections::BTreeSet::new();
        for topic in self.logs.topics() {
            for log in topic.partitions() {
                let key = (log.topic().to_string(), log.partition());
                present.insert(key.clone());
                let config = log.config();
                if !config.cleanup_policy.compact || log.is_closed() {
                    continue;
                }
                if st.uncleanable.contains_key(&key) || st.in_progress.contains(&key) {
                    continue;
                }
                let checkpoint = st.checkpoints.get(&key).copied().unwrap_or(0);
                let range = cleanable(&log, checkpoint, log.clock().now_ms());
                max_dirty = max_dirty.max(range.dirty_ratio);
                if st.stalled.get(&key) == Some(&(range.first_dirty, range.first_uncleanable)) {
                    continue;
                }
                let due = needs_cleaning(&range, config.min_cleanable_dirty_ratio);
                if due && best.as_ref().is_none_or(|(r, _)| range.dirty_ratio > *r) {
                    best = Some((range.dirty_ratio, log));
                }
            }
        }
        // A deleted partition's entries go (Kafka's `updateCheckpoints` on
        // deletion): one created again under its name starts clean of them.
        st.checkpoints.retain(|k, _| present.contains(k));
        st.uncleanable.retain(|k, _| present.contains(k));
        st.stalled.retain(|k, _| present.contains(k));
        st.last.retain(|k, _| present.contains(k));
        metrics::gauge!("kafka.log.cleaner.max-dirty-percent").set(max_dirty * 100.0);
        let picked = best.map(|(_, log)| log);
        if let Some(log) = &picked {
            // Taken under the state lock: no other thread picks it too. The
            // clean that follows lets it go.
            st.in_progress
                .insert((log.topic().to_string(), log.partition()));
        }
        picked
    }

    fn wait(&self, timeout: Duration) -> bool {
        let st = lock(&self.state);
        if st.stopped {
            return false;
        }
        let st = self
            .wake
            .wait_timeout(st, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        !st.stopped
    }

    fn cleaner_loop(&self) {
        loop {
            if lock(&self.state).stopped {
                return;
            }
            match self.pick() {
                // Errors mark the partition uncleanable; go on with others.
                Some(log) => {
                    let _ = self.clean_with(&log, false, SwapStep::Done, Some(&self.stopping));
                }
                None => {
                    if !self.wait(self.config.backoff) {
                        return;
                    }
                }
            }
        }
    }

    fn retention_loop(&self) {
        let mut last = Instant::now();
        loop {
            let tick = self
                .config
                .retention_check_interval
                .min(Duration::from_secs(1));
            if !self.wait(tick) {
                return;
            }
            self.delete_expired_files();
            if last.elapsed() >= self.config.retention_check_interval {
                last = Instant::now();
                // Errors show up again on the next pass; appends report
                // read-only partitions themselves.
                let _ = self.retention_pass();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_log::{AppendOrigin, Clock, LogConfig, LogDirOptions, ManualClock};
    use weir_record::{BatchBuilder, BatchOptions, EndTransactionMarker, Record};

    fn setup(configs: &[(&str, &str)]) -> (tempfile::TempDir, Cleaner, Arc<PartitionLog>) {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_700_000_000_000));
        let logs = Arc::new(
            LogDir::open_with(
                dir.path(),
                LogDirOptions {
                    default_config: LogConfig::default(),
                    clock,
                    background_thread: false,
                    ..LogDirOptions::default()
                },
            )
            .unwrap(),
        );
        let mut all = vec![("cleanup.policy", "compact")];
        all.extend_from_slice(configs);
        logs.create_topic("t", 1, &all).unwrap();
        let log = logs.partition("t", 0).unwrap();
        let cleaner = Cleaner::new(logs, CleanerConfig::default()).unwrap();
        (dir, cleaner, log)
    }

    fn put(log: &PartitionLog, key: &str, transactional_pid: Option<i64>) {
        let mut b = BatchBuilder::new(BatchOptions {
            transactional: transactional_pid.is_some(),
            producer_id: transactional_pid.unwrap_or(-1),
            producer_epoch: if transactional_pid.is_some() { 0 } else { -1 },
            base_sequence: if transactional_pid.is_some() { 0 } else { -1 },
            ..BatchOptions::default()
        });
        b.append(
            &Record::new("v")
                .with_key(key.to_string())
                .with_timestamp(log.clock().now_ms()),
        )
        .unwrap();
        log.append(b.build().unwrap()).unwrap();
    }

    fn abort(log: &PartitionLog, pid: i64) {
        let batch = BatchBuilder::end_transaction_marker(
            BatchOptions {
                producer_id: pid,
                producer_epoch: 0,
                ..BatchOptions::default()
            },
            EndTransactionMarker::abort(0),
            log.clock().now_ms(),
        )
        .unwrap();
        log.append_as(batch, AppendOrigin::Coordinator).unwrap();
    }

    /// Review finding: a transaction open at the first dirty offset made each
    /// pass find nothing, and the partition was picked again at once: the
    /// cleaner thread spun.
    #[test]
    fn a_partition_a_pass_could_not_clean_is_not_picked_until_it_changes() {
        let (_dir, cleaner, log) = setup(&[]);
        put(&log, "a", Some(9));
        put(&log, "b", None);
        put(&log, "b", None);
        log.roll().unwrap();
        abort(&log, 9);
        let inner = &cleaner.inner;
        assert!(inner.pick().is_some(), "dirty");
        assert_eq!(inner.clean(&log, false, SwapStep::Done).unwrap(), None);
        assert!(inner.pick().is_none(), "nothing changed since the pass");
        // The marker's segment closes: the transaction can be cleaned now.
        log.roll().unwrap();
        let picked = inner.pick().expect("the range changed");
        assert!(
            inner
                .clean(&picked, false, SwapStep::Done)
                .unwrap()
                .is_some()
        );
    }

    /// Kafka cleans a partition whose dirty ratio is above
    /// `min.cleanable.dirty.ratio`, not at it.
    #[test]
    fn the_dirty_ratio_must_exceed_the_minimum() {
        let (_dir, cleaner, log) = setup(&[("min.cleanable.dirty.ratio", "1.0")]);
        put(&log, "a", None);
        put(&log, "a", None);
        log.roll().unwrap();
        let range = cleanable(&log, 0, log.clock().now_ms());
        assert_eq!(range.dirty_ratio, 1.0);
        assert!(cleaner.inner.pick().is_none());
        assert_eq!(
            cleaner.inner.clean(&log, false, SwapStep::Done).unwrap(),
            None
        );
    }

    /// The entries of a deleted topic's partitions go, so a topic created
    /// again under its name is neither uncleanable nor clean up to an old
    /// checkpoint.
    #[test]
    fn a_deleted_partitions_entries_are_dropped() {
        let (_dir, cleaner, log) = setup(&[]);
        put(&log, "a", None);
        log.roll().unwrap();
        cleaner.clean_partition("t", 0).unwrap().unwrap();
        lock(&cleaner.inner.state)
            .uncleanable
            .insert(("t".into(), 0), "broken".into());
        drop(log);
        cleaner.inner.logs.delete_topic("t").unwrap();
        assert!(cleaner.inner.pick().is_none());
        let st = lock(&cleaner.inner.state);
        assert!(st.checkpoints.is_empty(), "{:?}", st.checkpoints);
        assert!(st.uncleanable.is_empty());
        assert!(st.last.is_empty());
    }

    /// Review finding: a clean cut short by its topic's delete marked the
    /// name uncleanable, and the topic created again was never compacted in
    /// the background. Kafka lets an aborted clean go.
    #[test]
    fn a_clean_cut_short_by_a_delete_leaves_the_name_cleanable() {
        let (_dir, cleaner, old) = setup(&[]);
        put(&old, "a", None);
        put(&old, "a", None);
        old.roll().unwrap();
        let logs = Arc::clone(&cleaner.inner.logs);
        logs.delete_topic("t").unwrap();
        logs.create_topic("t", 1, &[("cleanup.policy", "compact")])
            .unwrap();
        let new = logs.partition("t", 0).unwrap();
        put(&new, "b", None);
        put(&new, "b", None);
        new.roll().unwrap();
        assert!(cleaner.inner.clean(&old, false, SwapStep::Done).is_err());
        assert!(cleaner.partition_state("t", 0).unwrap().error.is_none());
        let picked = cleaner.inner.pick().expect("the new partition is picked");
        assert!(Arc::ptr_eq(&picked, &new));
    }

    /// Review finding: threads piled up on the partition another was
    /// cleaning; a partition in progress is not picked again (Kafka's
    /// `inProgress`).
    #[test]
    fn a_partition_being_cleaned_is_not_picked_by_another_thread() {
        let (_dir, cleaner, a) = setup(&[]);
        let logs = Arc::clone(&cleaner.inner.logs);
        logs.create_topic("u", 1, &[("cleanup.policy", "compact")])
            .unwrap();
        let b = logs.partition("u", 0).unwrap();
        for _ in 0..4 {
            put(&a, "k", None);
        }
        put(&b, "k", None);
        put(&b, "k", None);
        a.roll().unwrap();
        b.roll().unwrap();
        let first = cleaner.inner.pick().expect("a dirty partition");
        let second = cleaner.inner.pick().expect("the other dirty partition");
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(cleaner.inner.pick().is_none());
        // A clean lets its partition go.
        let _ = cleaner.inner.clean(&first, true, SwapStep::Done);
        assert!(
            !lock(&cleaner.inner.state)
                .in_progress
                .contains(&(first.topic().to_string(), first.partition()))
        );
    }

    /// Review finding: shutting the cleaner down waited for the whole pass
    /// under way, throttle sleeps included (hours on a big throttled
    /// partition). A pass now ends at its next batch, or within a slice of
    /// its throttle's sleep.
    /// A data directory of compacted `topics`, each with one partition of
    /// `batches` closed 5000-byte batches of one key; and a cleaner of it at
    /// `rate` bytes a second, not started.
    fn throttled(
        topics: &[&str],
        batches: usize,
        rate: &str,
    ) -> (tempfile::TempDir, Arc<LogDir>, Arc<Cleaner>) {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(
            LogDir::open_with(
                dir.path(),
                LogDirOptions {
                    background_thread: false,
                    ..LogDirOptions::default()
                },
            )
            .unwrap(),
        );
        for t in topics {
            logs.create_topic(t, 1, &[("cleanup.policy", "compact")])
                .unwrap();
            let log = logs.partition(t, 0).unwrap();
            for _ in 0..batches {
                let mut b = BatchBuilder::new(BatchOptions::default());
                b.append(
                    &Record::new(vec![b'v'; 5000])
                        .with_key("k")
                        .with_timestamp(log.clock().now_ms()),
                )
                .unwrap();
                log.append(b.build().unwrap()).unwrap();
            }
            log.roll().unwrap();
        }
        let config = CleanerConfig::from_props([
            ("log.cleaner.io.max.bytes.per.second", rate),
            ("log.cleaner.backoff.ms", "10"),
        ])
        .unwrap();
        let cleaner = Arc::new(Cleaner::new(Arc::clone(&logs), config).unwrap());
        (dir, logs, cleaner)
    }

    #[test]
    fn shutdown_ends_a_throttled_pass() {
        let (_dir, logs, cleaner) = throttled(&["t"], 200, "10000");
        let log = logs.partition("t", 0).unwrap();
        cleaner.start().unwrap();
        // Wait for the pass to be under way.
        let deadline = Instant::now() + Duration::from_secs(30);
        while lock(&cleaner.inner.state).in_progress.is_empty() {
            assert!(Instant::now() < deadline, "no pass started");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let c = Arc::clone(&cleaner);
        std::thread::spawn(move || {
            c.shutdown();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("shutdown waits for the whole throttled pass");
        // The pass left nothing half-written, and nothing marked uncleanable.
        assert!(lock(&cleaner.inner.state).uncleanable.is_empty());
        let names: Vec<String> = std::fs::read_dir(log.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".cleaned")), "{names:?}");
    }

    /// Review 13: the passes share one I/O rate, whose sleeps hold its lock.
    /// A caller's pass did not see the shutdown: asleep on the rate, it held
    /// a background pass blocked on the lock (where that pass could not see
    /// the shutdown either), and the shutdown waited out the whole sleep.
    #[test]
    fn shutdown_does_not_wait_for_a_callers_pass_asleep_on_the_shared_rate() {
        let (_dir, _logs, cleaner) = throttled(&["a", "b"], 50, "100");
        // Past the rate's first measuring period: the first batch read
        // owes a sleep of about 50 s.
        std::thread::sleep(Duration::from_millis(400));
        let c = Arc::clone(&cleaner);
        std::thread::spawn(move || {
            let _ = c.clean_partition("a", 0);
        });
        let busy = |t: &str| {
            lock(&cleaner.inner.state)
                .in_progress
                .contains(&(t.to_string(), 0))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !busy("a") {
            assert!(Instant::now() < deadline, "the caller's pass never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        cleaner.start().unwrap();
        while !busy("b") {
            assert!(
                Instant::now() < deadline,
                "the background pass never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let c = Arc::clone(&cleaner);
        std::thread::spawn(move || {
            c.shutdown();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("shutdown waited for the caller's pass asleep on the rate");
    }
}

//! [`Weir`]: an open data directory, shared by producers, consumers and admin.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use weir_compact::{Cleaner, CleanerConfig};
use weir_group::{DEFAULT_OFFSETS_TOPIC_PARTITIONS, ExpiredOffsets, GroupCoordinator};

use weir_log::{Clock, ConfigError, LogConfig, LogDir, LogDirOptions, PartitionLog, Topic};

use crate::admin::Admin;
use crate::consumer::Consumer;
use crate::consumer_config::ConsumerConfig;
use crate::error::WeirError;
use crate::producer::Producer;
use crate::producer_config::ProducerConfig;
use crate::transactions::{TimerStop, TransactionCoordinator, timeout_loop};

/// An open data directory: Kafka's topics and partitions in Kafka's files, for
/// this process. Cheap to clone; all clones share the directory, which is
/// closed cleanly by [`close`](Self::close) or when the last clone is dropped.
///
/// ```
/// use weir::{Weir, ProducerRecord};
///
/// let dir = tempfile::tempdir()?;
/// let weir = Weir::open(dir.path())?;
/// weir.admin().create_topic("greetings", 1, &[])?;
/// let producer = weir.producer(&[("acks", "all")])?;
/// let meta = producer.send(ProducerRecord::new("greetings", "hello"))?.wait()?;
/// assert_eq!(meta.offset, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Weir {
    inner: Arc<Inner>,
    /// Whether this handle is counted in `Inner::handles`: every handle but
    /// a background pass's.
    counted: bool,
}

impl Clone for Weir {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Weir {
            inner: Arc::clone(&self.inner),
            counted: true,
        }
    }
}

/// How long the application's last handle waits for a background pass under
/// way (it holds the directory) before it lets that pass close it.
const PASS_WAIT: Duration = Duration::from_secs(10);

impl Drop for Weir {
    fn drop(&mut self) {
        if self.counted && self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last handle the application holds (producers and
            // consumers hold theirs): no pass starts from now on, and one
            // under way ends before this handle goes, so that the directory
            // closes here, at once.
            self.inner.timer_stop.stop_and_wait(PASS_WAIT);
        }
    }
}

#[derive(Debug)]
struct Inner {
    /// Retention and compaction; stopped before the directory closes.
    cleaner: Cleaner,
    logs: Arc<LogDir>,
    auto_create: Option<(u32, Vec<(String, String)>)>,
    /// Created on first use of a consumer group.
    coordinator: Mutex<Option<Arc<GroupCoordinator>>>,
    /// Serializes finishing a topic's delete with creating a topic (see
    /// [`Weir::finish_delete`]).
    deletes: Mutex<()>,
    offsets_partitions: u32,
    /// Kafka's `offsets.retention.minutes` and
    /// `offsets.retention.check.interval.ms`.
    offsets_retention: OffsetsRetention,
    /// The transaction coordinator (its state loaded, and what a crash left
    /// unfinished ended, at open).
    transactions: Arc<TransactionCoordinator>,
    /// Its timeout thread: started with the first transactional producer
    /// (a failed start is tried again by the next), stopped when the
    /// directory closes.
    txn_timer: Mutex<bool>,
    /// Stops the background timers: the transaction timeout thread and the
    /// offset expiry thread.
    timer_stop: Arc<TimerStop>,
    /// The application's handles (`Weir` values but a background pass's).
    handles: AtomicUsize,
    /// Whether offsets expire in the background of this process (background
    /// threads on, `offsets_expiry` on).
    offsets_expiry: bool,
    /// Set once the open (recovery included) is done: offset expiry starts
    /// only then, so that a transaction recovery completes (committing its
    /// offsets) before any pass looks at the groups.
    opened: std::sync::atomic::AtomicBool,
    /// Offset expiry was started (once per directory).
    expiry_started: std::sync::atomic::AtomicBool,
}

/// Kafka's offset expiry settings.
#[derive(Debug, Clone, Copy)]
struct OffsetsRetention {
    retention: Duration,
    check_interval: Duration,
}

/// Kafka's `offsets.retention.minutes` default: 7 days.
const DEFAULT_OFFSETS_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// Kafka's `offsets.retention.check.interval.ms` default: 10 minutes.
const DEFAULT_OFFSETS_RETENTION_CHECK: Duration = Duration::from_secs(600);

impl Drop for Inner {
    fn drop(&mut self) {
        self.timer_stop.stop();
    }
}

/// A weak handle on a [`Weir`], for its own threads.
#[derive(Debug, Clone)]
pub(crate) struct WeakWeir(Weak<Inner>);

impl WeakWeir {
    /// The `Weir`, unless its last handle was dropped.
    pub(crate) fn upgrade(&self) -> Option<Weir> {
        // Not counted: a background pass must not keep the directory open
        // for the application.
        self.0.upgrade().map(|inner| Weir {
            inner,
            counted: false,
        })
    }

    /// Whether the last handle was dropped.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// Options for [`Weir::builder`].
#[derive(Debug)]
pub struct WeirBuilder {
    path: PathBuf,
    options: LogDirOptions,
    auto_create: Option<(u32, Vec<(String, String)>)>,
    offsets_partitions: u32,
    offsets_retention: OffsetsRetention,
    offsets_expiry: bool,
    cleaner: CleanerConfig,
}

impl WeirBuilder {
    /// How retention and compaction run (Kafka's `log.cleaner.*` and
    /// `log.retention.check.interval.ms`); Kafka's defaults otherwise.
    #[must_use]
    pub fn cleaner_config(mut self, config: CleanerConfig) -> Self {
        self.cleaner = config;
        self
    }

    /// Sets one cleaner property by its Kafka broker name
    /// (`log.cleaner.threads`, `log.cleaner.dedupe.buffer.size`,
    /// `log.retention.check.interval.ms`, ...).
    ///
    /// # Errors
    /// [`WeirError::Config`] naming an unknown key or a bad value.
    pub fn cleaner_property(mut self, key: &str, value: &str) -> Result<Self, WeirError> {
        self.cleaner.set(key, value)?;
        Ok(self)
    }

    /// Topic configs start from `config` (Kafka's broker-level defaults).
    #[must_use]
    pub fn default_topic_config(mut self, config: LogConfig) -> Self {
        self.options.default_config = config;
        self
    }

    /// Sets one broker-level topic default by its Kafka topic-config name
    /// (`retention.ms`, `segment.bytes`, ...). A default that breaks a
    /// cross-key rule together with a topic's stored override (a
    /// `min.compaction.lag.ms` above the topic's `max.compaction.lag.ms`)
    /// does not stop the open, as in Kafka; that topic's next config change
    /// must make them fit.
    ///
    /// # Errors
    /// The key or value is not a topic config.
    pub fn topic_default(mut self, key: &str, value: &str) -> Result<Self, WeirError> {
        self.options.default_config.set(key, value)?;
        Ok(self)
    }

    /// The clock partitions stamp and roll by (for tests that drive time).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.options.clock = clock;
        self
    }

    /// Creates unknown topics on first use with `partitions` partitions and
    /// these configs, as a broker with `auto.create.topics.enable=true` does.
    /// Off by default: sending to or reading an unknown topic is an error.
    #[must_use]
    pub fn auto_create_topics(mut self, partitions: u32, configs: &[(&str, &str)]) -> Self {
        self.auto_create = Some((
            partitions.max(1),
            configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        self
    }

    /// Runs the background threads: the maintenance thread (`flush.ms`,
    /// rolled-segment flushes, checkpoints), the retention thread and, with
    /// `log.cleaner.enable`, the cleaner threads. On by default; tests that
    /// drive time by hand turn them off and call [`Weir::cleaner`] themselves.
    #[must_use]
    pub fn background_thread(mut self, on: bool) -> Self {
        self.options.background_thread = on;
        self
    }

    /// Partitions of `__consumer_offsets` when this directory creates it
    /// (Kafka's `offsets.topic.num.partitions`, 50 by default).
    #[must_use]
    pub fn offsets_topic_partitions(mut self, partitions: u32) -> Self {
        self.offsets_partitions = partitions.max(1);
        self
    }

    /// How long an idempotent producer is remembered by each partition after
    /// its last batch (Kafka's `producer.id.expiration.ms`, 1 day by
    /// default): a retry later than that is no longer recognised as a
    /// duplicate. Transactional producers are kept (their epoch fences
    /// zombies). Any duration of at least a millisecond.
    #[must_use]
    pub fn producer_id_expiration(mut self, expiration: Duration) -> Self {
        self.options.producer_id_expiration_ms = i64::try_from(expiration.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        self
    }

    /// How often the maintenance thread forgets expired producers (Kafka's
    /// `producer.id.expiration.check.interval.ms`, 10 minutes by default).
    #[must_use]
    pub fn producer_id_expiration_check_interval(mut self, interval: Duration) -> Self {
        self.options.producer_id_expiration_check_interval_ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self
    }

    /// How long committed offsets outlive their group (Kafka's
    /// `offsets.retention.minutes`, 7 days by default): see
    /// [`Weir::expire_offsets`]. Kafka takes whole minutes; any duration of
    /// at least a millisecond is taken here.
    #[must_use]
    pub fn offsets_retention(mut self, retention: Duration) -> Self {
        self.offsets_retention.retention = retention.max(Duration::from_millis(1));
        self
    }

    /// How often the background thread expires offsets (Kafka's
    /// `offsets.retention.check.interval.ms`, 10 minutes by default); the
    /// first pass runs when the group coordinator opens.
    #[must_use]
    pub fn offsets_retention_check_interval(mut self, interval: Duration) -> Self {
        self.offsets_retention.check_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Whether committed offsets expire in the background of this process
    /// (with [`background_thread`](Self::background_thread) on; on by
    /// default). The retention is this process's setting, as a broker's
    /// config is the broker's: a tool that opens a directory briefly with
    /// defaults (the `weir` command does, with this off) must not expire
    /// what the application keeps longer. [`Weir::expire_offsets`] still
    /// runs a pass when called.
    #[must_use]
    pub fn offsets_expiry(mut self, on: bool) -> Self {
        self.offsets_expiry = on;
        self
    }

    /// Sets one group coordinator property by its Kafka broker name:
    /// `offsets.retention.minutes`, `offsets.retention.check.interval.ms`,
    /// `offsets.topic.num.partitions`.
    ///
    /// # Errors
    /// [`WeirError::Config`] naming an unknown key or a bad value (below 1,
    /// or a minute count or partition count over `i32::MAX`, as Kafka's
    /// int configs).
    pub fn group_coordinator_property(mut self, key: &str, value: &str) -> Result<Self, WeirError> {
        let int = |max: i64| -> Result<u64, WeirError> {
            let v = weir_log::parse_i64(key, value, 1)?;
            if v > max {
                return Err(
                    ConfigError::invalid(key, value, format!("must be at most {max}")).into(),
                );
            }
            Ok(v.unsigned_abs())
        };
        let i32_max = i64::from(i32::MAX);
        match key {
            "offsets.retention.minutes" => {
                self.offsets_retention.retention = Duration::from_secs(int(i32_max)? * 60);
            }
            "offsets.retention.check.interval.ms" => {
                self.offsets_retention.check_interval = Duration::from_millis(int(i64::MAX)?);
            }
            "offsets.topic.num.partitions" => {
                self.offsets_partitions = u32::try_from(int(i32_max)?).unwrap_or(u32::MAX);
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                }
                .into());
            }
        }
        Ok(self)
    }

    /// Opens the directory (see [`Weir::open`]).
    ///
    /// # Errors
    /// As [`Weir::open`].
    pub fn open(self) -> Result<Weir, WeirError> {
        let background = self.options.background_thread;
        let logs = Arc::new(LogDir::open_with(&self.path, self.options)?);
        let cleaner = Cleaner::new(Arc::clone(&logs), self.cleaner)?;
        if background {
            cleaner.start()?;
        }
        let transactions = Arc::new(TransactionCoordinator::load(logs.path())?);
        let weir = Weir {
            counted: true,
            inner: Arc::new(Inner {
                cleaner,
                logs,
                auto_create: self.auto_create,
                coordinator: Mutex::new(None),
                deletes: Mutex::new(()),
                offsets_partitions: self.offsets_partitions,
                offsets_retention: self.offsets_retention,
                transactions,
                txn_timer: Mutex::new(false),
                timer_stop: Arc::new(TimerStop::default()),
                handles: AtomicUsize::new(1),
                offsets_expiry: background && self.offsets_expiry,
                opened: std::sync::atomic::AtomicBool::new(false),
                expiry_started: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        // Deletes a crash or a failure cut short: their committed offsets and
        // cleaner checkpoints go now. A step that fails (a damaged
        // `__consumer_offsets`, say) leaves the delete unfinished without
        // keeping the directory from opening; creating a topic of the name
        // tries again and reports it.
        for name in weir.inner.logs.unfinished_deletes() {
            let _ = weir.finish_delete(&name);
        }
        // Transactions a crash left open are aborted, prepared ones
        // completed, before any reader sees their partitions.
        if !weir.inner.transactions.recover(&weir)? {
            // What could not be ended is tried again from the timeout thread.
            weir.transactions()?;
        }
        weir.inner.opened.store(true, Ordering::Release);
        // A group coordinator the recovery opened starts its expiry now.
        let opened_coordinator = weir
            .inner
            .coordinator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(c) = opened_coordinator {
            weir.start_offsets_expiry(&c);
        }
        Ok(weir)
    }
}

impl Weir {
    /// Opens (creating if needed) the data directory at `path` with Kafka's
    /// defaults, recovering it if the last process using it crashed.
    ///
    /// # Errors
    /// [`WeirError::Log`] when the directory is in use by another process, is
    /// damaged where recovery must not repair it, or cannot be read.
    pub fn open(path: impl AsRef<Path>) -> Result<Weir, WeirError> {
        Weir::builder(path).open()
    }

    /// Options for opening `path`.
    pub fn builder(path: impl AsRef<Path>) -> WeirBuilder {
        WeirBuilder {
            path: path.as_ref().to_path_buf(),
            options: LogDirOptions::default(),
            auto_create: None,
            offsets_partitions: DEFAULT_OFFSETS_TOPIC_PARTITIONS.get(),
            offsets_retention: OffsetsRetention {
                retention: DEFAULT_OFFSETS_RETENTION,
                check_interval: DEFAULT_OFFSETS_RETENTION_CHECK,
            },
            offsets_expiry: true,
            cleaner: CleanerConfig::default(),
        }
    }

    /// The data directory underneath.
    pub fn log_dir(&self) -> &LogDir {
        &self.inner.logs
    }

    /// The log cleaner: retention and compaction. Its threads run in the
    /// background (unless [`WeirBuilder::background_thread`] turned them off);
    /// [`Cleaner::clean_topic`] compacts now, [`Cleaner::run_retention`]
    /// applies retention now, [`Cleaner::partition_state`] reports the dirty
    /// ratio and the last clean.
    pub fn cleaner(&self) -> &Cleaner {
        &self.inner.cleaner
    }

    /// Administration: topics, configs, offsets.
    pub fn admin(&self) -> Admin {
        Admin::new(self.clone())
    }

    /// A producer from Kafka producer properties.
    ///
    /// # Errors
    /// [`WeirError::Config`] naming a bad key or value.
    pub fn producer(&self, props: &[(&str, &str)]) -> Result<Producer, WeirError> {
        let config = ProducerConfig::from_props(props.iter().copied())?;
        Producer::new(self, config)
    }

    /// A consumer from Kafka consumer properties.
    ///
    /// # Errors
    /// [`WeirError::Config`] naming a bad key or value.
    pub fn consumer(&self, props: &[(&str, &str)]) -> Result<Consumer, WeirError> {
        let config = ConsumerConfig::from_props(props.iter().copied())?;
        Consumer::new(self, config)
    }

    /// A topic, created first when auto-creation is on.
    ///
    /// # Errors
    /// [`WeirError::Log`] for an unknown topic (auto-creation off) or a failed
    /// creation.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>, WeirError> {
        self.topic_or_create(name, true)
    }

    /// Finishes a topic's delete above the log (see
    /// [`LogDir::unfinished_deletes`]): every group's committed offsets for
    /// it are deleted (as Kafka's coordinator deletes them with the topic)
    /// and the cleaner forgets its checkpoint, so that a topic created again
    /// under the name is neither read from the old offsets nor taken as
    /// cleaned up to the old checkpoint. Both steps run; the first error is
    /// returned and the delete stays unfinished.
    pub(crate) fn finish_delete(&self, name: &str) -> Result<(), WeirError> {
        let _deletes = self
            .inner
            .deletes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.finish_delete_locked(name)
    }

    /// [`finish_delete`](Self::finish_delete) under the `deletes` lock: a
    /// delete another thread finished (and a topic of the name perhaps
    /// created since) is left alone, so a live topic's offsets are never
    /// deleted.
    fn finish_delete_locked(&self, name: &str) -> Result<(), WeirError> {
        if !self
            .inner
            .logs
            .unfinished_deletes()
            .iter()
            .any(|d| d == name)
        {
            return Ok(());
        }
        // Offsets exist only if __consumer_offsets does; it is not created
        // for this.
        let offsets = if self.inner.logs.topic(weir_group::CONSUMER_OFFSETS).is_ok() {
            self.group_coordinator()
                .and_then(|c| Ok(c.delete_topic_offsets(name)?))
        } else {
            Ok(())
        };
        let checkpoint = self.inner.cleaner.forget_topic(name);
        // Open transactions have nothing left to mark there; a topic of the
        // name created later joins them anew.
        let transactions = self.inner.transactions.forget_topic(name);
        offsets?;
        checkpoint?;
        transactions?;
        Ok(self.inner.logs.finish_delete(name)?)
    }

    /// Creates a topic, finishing first an unfinished delete of a topic of
    /// the name (see [`finish_delete`](Self::finish_delete)).
    pub(crate) fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
    ) -> Result<Arc<Topic>, WeirError> {
        // Held from the check to the creation: a delete's own finish, racing
        // this creation, cannot then delete the new topic's offsets.
        let _deletes = self
            .inner
            .deletes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.finish_delete_locked(name)?;
        Ok(self.inner.logs.create_topic(name, partitions, configs)?)
    }

    /// A topic; created first when auto-creation is on and `create` allows
    /// it (a consumer with `allow.auto.create.topics=false`, the admin client
    /// and Kafka's tools never create one).
    pub(crate) fn topic_or_create(
        &self,
        name: &str,
        create: bool,
    ) -> Result<Arc<Topic>, WeirError> {
        match self.inner.logs.topic(name) {
            Ok(t) => Ok(t),
            Err(e) if !create => Err(e.into()),
            Err(e) => match &self.inner.auto_create {
                Some((partitions, configs)) => {
                    let refs: Vec<(&str, &str)> = configs
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    match self.create_topic(name, *partitions, &refs) {
                        Ok(t) => Ok(t),
                        // Another thread created it first.
                        Err(WeirError::Log(e))
                            if matches!(*e, weir_log::LogError::TopicExists { .. }) =>
                        {
                            Ok(self.inner.logs.topic(name)?)
                        }
                        Err(e) => Err(e),
                    }
                }
                None => Err(e.into()),
            },
        }
    }

    /// One partition's log.
    ///
    /// # Errors
    /// As [`topic`](Self::topic), or an unknown partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionLog>, WeirError> {
        Ok(self.topic(topic)?.partition(partition)?)
    }

    /// One partition's log, its topic created only if `create` allows it (see
    /// [`topic_or_create`](Self::topic_or_create)).
    pub(crate) fn partition_or_create(
        &self,
        topic: &str,
        partition: i32,
        create: bool,
    ) -> Result<Arc<PartitionLog>, WeirError> {
        Ok(self.topic_or_create(topic, create)?.partition(partition)?)
    }

    /// A group's committed offset for a partition once no open transaction
    /// carries one for it (Kafka's consumer fetches committed offsets with
    /// `require_stable` and retries while the broker answers
    /// `UNSTABLE_OFFSET_COMMIT`, up to `default.api.timeout.ms`: `wait`).
    pub(crate) fn stable_committed(
        &self,
        coordinator: &GroupCoordinator,
        group: &str,
        tp: &crate::record::TopicPartition,
        wait: std::time::Duration,
    ) -> Result<Option<weir_group::OffsetAndMetadata>, WeirError> {
        let deadline = weir_log::clock::deadline_in(wait);
        if !self
            .inner
            .transactions
            .wait_stable_offset(group, &tp.topic, tp.partition, deadline)
        {
            return Err(WeirError::Timeout {
                what: format!(
                    "the transaction holding group {group}'s offset for {}-{} to end",
                    tp.topic, tp.partition
                ),
                waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(coordinator.committed(group, tp))
    }

    /// A group's committed offset for a partition, or `None` while an open
    /// transaction carries one for it (Kafka's `UNSTABLE_OFFSET_COMMIT`).
    pub(crate) fn committed_if_stable(
        &self,
        coordinator: &GroupCoordinator,
        group: &str,
        tp: &crate::record::TopicPartition,
    ) -> Option<Option<weir_group::OffsetAndMetadata>> {
        self.inner
            .transactions
            .offset_is_stable(group, &tp.topic, tp.partition)
            .then(|| coordinator.committed(group, tp))
    }

    /// Every transactional id the data directory's transaction coordinator
    /// knows (for `Admin::list_transactions`).
    pub(crate) fn describe_transactions(&self) -> Vec<crate::TransactionDescription> {
        self.inner.transactions.describe()
    }

    /// The transaction coordinator, its timeout thread started.
    pub(crate) fn transactions(&self) -> Result<&Arc<TransactionCoordinator>, WeirError> {
        let inner = &self.inner;
        let mut started = inner
            .txn_timer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*started {
            let coordinator = Arc::clone(&inner.transactions);
            let weak = WeakWeir(Arc::downgrade(inner));
            let clock = Arc::clone(inner.logs.clock());
            let stop = Arc::clone(&inner.timer_stop);
            std::thread::Builder::new()
                .name("weir-txn-timeouts".into())
                .spawn(move || timeout_loop(&coordinator, &weak, &clock, &stop))
                .map_err(|e| {
                    WeirError::InvalidArgument(format!(
                        "cannot start the transaction timeout thread: {e}"
                    ))
                })?;
            *started = true;
        }
        Ok(&inner.transactions)
    }

    /// The group coordinator, created (with `__consumer_offsets`) on first use.
    ///
    /// # Errors
    /// [`WeirError::Group`] when `__consumer_offsets` cannot be created or read.
    pub fn group_coordinator(&self) -> Result<Arc<GroupCoordinator>, WeirError> {
        let mut slot = self
            .inner
            .coordinator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(GroupCoordinator::open(
            Arc::clone(&self.inner.logs),
            self.inner.offsets_partitions,
        )?);
        *slot = Some(Arc::clone(&c));
        drop(slot);
        if self.inner.opened.load(Ordering::Acquire) {
            self.start_offsets_expiry(&c);
        }
        Ok(c)
    }

    /// Starts offset expiry for a group coordinator just opened (with
    /// background threads and `offsets_expiry` on): a first pass on the
    /// caller's thread, then the background thread.
    fn start_offsets_expiry(&self, c: &GroupCoordinator) {
        if !self.inner.offsets_expiry || self.inner.expiry_started.swap(true, Ordering::AcqRel) {
            return;
        }
        // The first pass here, on the caller's thread: a program that opens
        // a directory past its retention finds the offsets gone at once. A
        // failed pass is tried again at the next.
        let _ = self.expire_offsets_in(c);
        let weak = WeakWeir(Arc::downgrade(&self.inner));
        let stop = Arc::clone(&self.inner.timer_stop);
        let interval = self.inner.offsets_retention.check_interval;
        // Without the thread (it could not start), offsets are kept: the
        // failure costs no data.
        let _ = std::thread::Builder::new()
            .name("weir-offsets-expiry".into())
            .spawn(move || offsets_expiry_loop(&weak, interval, &stop));
    }

    /// Runs one pass of committed-offset expiry now (what runs, with
    /// background threads on, when the group coordinator opens, on the thread
    /// that opens it, then every `offsets.retention.check.interval.ms` on a
    /// background thread): as Kafka's group coordinator,
    /// removes the committed offsets of a group that has been Empty for
    /// `offsets.retention.minutes` (7 days by default), of a standalone
    /// consumer's commits that old, and of topics the members of a Stable
    /// group no longer subscribe to, then the Empty groups left with no
    /// offset; offsets an open transaction carries stay. See
    /// [`GroupCoordinator::expire_offsets`] for the rules.
    ///
    /// # Errors
    /// [`WeirError::Group`] when `__consumer_offsets` cannot be read or
    /// written.
    pub fn expire_offsets(&self) -> Result<ExpiredOffsets, WeirError> {
        let coordinator = self.group_coordinator()?;
        self.expire_offsets_in(&coordinator)
    }

    fn expire_offsets_in(
        &self,
        coordinator: &GroupCoordinator,
    ) -> Result<ExpiredOffsets, WeirError> {
        let transactions = &self.inner.transactions;
        let pending = |group: &str, tp: Option<&weir_group::TopicPartition>| match tp {
            Some(tp) => !transactions.offset_is_stable(group, &tp.topic, tp.partition),
            None => transactions.carries_group(group),
        };
        let expired =
            coordinator.expire_offsets(self.inner.offsets_retention.retention, &pending)?;
        metrics::counter!("kafka.group-coordinator.offset-expiration-total")
            .increment(expired.offsets.len() as u64);
        Ok(expired)
    }

    /// The clock partitions use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.inner.logs.clock()
    }

    /// Closes the data directory cleanly (fsync, checkpoints, clean-shutdown
    /// marker). Producers should be closed first, so their records are
    /// delivered; later appends fail. The directory's lock is released when
    /// the last handle sharing it is dropped (every `Weir` clone, producer,
    /// consumer and group coordinator holds one), so reopening the same path
    /// in this process needs those dropped first.
    ///
    /// # Errors
    /// The first I/O error; the next open then recovers.
    pub fn close(&self) -> Result<(), WeirError> {
        self.inner.timer_stop.stop();
        self.inner.cleaner.shutdown();
        Ok(self.inner.logs.close()?)
    }
}

/// The offset expiry thread: a pass every `interval` (the first ran when the
/// group coordinator opened). It holds the `Weir` strongly only during a
/// pass; a failed pass (a write to `__consumer_offsets` failed) is tried
/// again at the next.
fn offsets_expiry_loop(weir: &WeakWeir, interval: Duration, stop: &TimerStop) {
    loop {
        if weir.is_gone() || stop.wait(interval) {
            return;
        }
        let Some(pass) = stop.enter(weir) else {
            return;
        };
        let _ = pass.weir.expire_offsets();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicPartition;
    use weir_group::OffsetAndMetadata;

    /// Review 18d: a delete's own finish that comes after a topic of the name
    /// was created again (by a creation that finished the delete first) leaves
    /// the new topic's committed offsets alone.
    #[test]
    fn a_late_finish_of_a_delete_leaves_the_new_topics_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let weir = Weir::builder(dir.path())
            .offsets_topic_partitions(1)
            .open()
            .unwrap();
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let tp = TopicPartition::new("t", 0);
        weir.group_coordinator()
            .unwrap()
            .commit("g", None, &[(tp.clone(), OffsetAndMetadata::new(5))])
            .unwrap();
        weir.log_dir().delete_topic("t").unwrap();
        // Another thread's creation: finishes the delete, creates the topic.
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let coordinator = weir.group_coordinator().unwrap();
        let (log, end) = coordinator
            .commit("g", None, &[(tp.clone(), OffsetAndMetadata::new(20))])
            .unwrap();
        log.flush_until(end).unwrap();
        // The delete's own finish, late.
        weir.finish_delete("t").unwrap();
        assert_eq!(coordinator.committed("g", &tp).map(|o| o.offset), Some(20));
    }
}

//! [`LogDir`]: a data directory of many partitions, laid out as a Kafka log
//! directory.
//!
//! ```text
//! <dir>/
//!   .lock                               exclusive lock (holder's pid inside)
//!   .kafka_cleanshutdown                present only between a clean close and the next open
//!   meta.properties                     Kafka's log-dir identity file
//!   recovery-point-offset-checkpoint    Kafka's format: "0\n<n>\n<topic> <partition> <offset>\n..."
//!   log-start-offset-checkpoint         likewise
//!   weir-topics.json                    topic ids, partition counts and config overrides
//!   <topic>-<partition>/                Kafka partition directories (segments, indexes,
//!                                       leader-epoch-checkpoint, partition.metadata)
//! ```
//!
//! Topic metadata (which Kafka keeps in its controller) lives in
//! `weir-topics.json`. Partition directories without an entry there (say, copied
//! from a Kafka broker) are adopted as topics with default configs.
mod open;
mod topics;

use open::deleted_dir_name;
use topics::{new_topic_id, validate_topic_id, write_partition_metadata};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomically;
use crate::clock::{Clock, system_clock};
use crate::config::{LogConfig, TopicConfig};
use crate::error::LogError;
use crate::partition::{PartitionLog, RecoveryReport};
use crate::paths::sync_dir;
use crate::segment::{lock, read_lock, write_lock};
use crate::topic_name::is_internal_topic;

/// Kafka's clean-shutdown marker file.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// The recovery-point checkpoint file.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// The log-start-offset checkpoint file.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Weir's topic metadata file.
pub const TOPICS_FILE: &str = "weir-topics.json";
/// The lock file.
pub const LOCK_FILE: &str = ".lock";
/// Kafka's per-partition topic id file.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";

/// Suffix of partition directories renamed for deletion (Kafka's).
const DELETE_DIR_SUFFIX: &str = "-delete";

/// The most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 100_000;

/// How to open a data directory.
#[derive(Debug, Clone)]
pub struct LogDirOptions {
    /// Topic configs start from these values (Kafka's broker-level `log.*`
    /// defaults); topics override them.
    pub default_config: LogConfig,
    /// The clock for every partition.
    pub clock: Arc<dyn Clock>,
    /// Run the maintenance thread (`flush.ms`, flushing rolled segments,
    /// checkpoints). Tests that drive time by hand may turn it off.
    pub background_thread: bool,
    /// How often the recovery-point and log-start checkpoints are written
    /// (Kafka's `log.flush.offset.checkpoint.interval.ms`).
    pub checkpoint_interval_ms: u64,
    /// What the open does with a partition whose recovery (the segments from
    /// the one holding the recovery point on, or a last segment that does
    /// not end cleanly) meets damage below the recovery point (records that
    /// were fsynced). An older segment whose index must be rebuilt and whose
    /// batches do not frame fails the open either way. `None`, the default: the open fails with
    /// [`LogError::Corrupt`] naming the file, and nothing is cut. `Some(dir)`:
    /// the partition's damaged segment and every later one are copied into
    /// `dir/<topic>-<partition>/`, then the log is cut at the damage as Kafka's
    /// recovery cuts it (see `weir repair`, and
    /// [`crate::OpenOptions::damaged_segments_to`]).
    pub damaged_segments_to: Option<PathBuf>,
    /// How long an idempotent producer is remembered after its last batch
    /// (Kafka's `producer.id.expiration.ms`, 1 day); transactional producers
    /// are kept.
    pub producer_id_expiration_ms: i64,
    /// How often the maintenance thread forgets expired producers (Kafka's
    /// `producer.id.expiration.check.interval.ms`, 10 minutes).
    pub producer_id_expiration_check_interval_ms: u64,
}

impl Default for LogDirOptions {
    fn default() -> Self {
        LogDirOptions {
            default_config: LogConfig::default(),
            clock: system_clock(),
            background_thread: true,
            checkpoint_interval_ms: 60_000,
            damaged_segments_to: None,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicsFile {
    version: u32,
    topics: BTreeMap<String, TopicEntry>,
    /// Topics whose delete removed them here but whose state kept above the
    /// log (groups' committed offsets, the cleaner's checkpoint) is not yet
    /// known to be deleted (see [`LogDir::unfinished_deletes`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    deleted: BTreeSet<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicEntry {
    topic_id: String,
    partitions: u32,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// A topic of a [`LogDir`]: its id, configuration and partitions.
#[derive(Debug)]
pub struct Topic {
    name: String,
    topic_id: String,
    internal: bool,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<PartitionLog>>>,
}

impl Topic {
    /// Its entry in `weir-topics.json`.
    fn entry(&self) -> TopicEntry {
        TopicEntry {
            topic_id: self.topic_id.clone(),
            partitions: self.partition_count(),
            internal: self.internal,
            configs: self.config().overrides().clone(),
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Kafka's topic id (base64url of 16 bytes), as in `partition.metadata`.
    pub fn topic_id(&self) -> &str {
        &self.topic_id
    }

    /// Whether this is an internal topic (`__consumer_offsets`, ...).
    pub fn is_internal(&self) -> bool {
        self.internal
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        u32::try_from(read_lock(&self.partitions).len()).unwrap_or(u32::MAX)
    }

    /// One partition's log.
    ///
    /// # Errors
    /// [`LogError::UnknownPartition`].
    pub fn partition(&self, partition: i32) -> Result<Arc<PartitionLog>, LogError> {
        let parts = read_lock(&self.partitions);
        usize::try_from(partition)
            .ok()
            .and_then(|p| parts.get(p))
            .cloned()
            .ok_or_else(|| LogError::UnknownPartition {
                topic: self.name.clone(),
                partition,
                partitions: u32::try_from(parts.len()).unwrap_or(u32::MAX),
            })
    }

    /// All partitions' logs, by partition number.
    pub fn partitions(&self) -> Vec<Arc<PartitionLog>> {
        read_lock(&self.partitions).clone()
    }

    /// The topic's configuration.
    pub fn config(&self) -> TopicConfig {
        read_lock(&self.config).clone()
    }
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    options: LogDirOptions,
    _lock_file: File,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serializes topic creation, deletion and config changes.
    meta: Mutex<()>,
    /// Held from reading the offsets to writing the checkpoint files, so a
    /// writer's older snapshot never replaces a newer one.
    checkpoints: Mutex<()>,
    closed: AtomicBool,
    stop: (Mutex<bool>, Condvar),
    recovery: Vec<(String, RecoveryReport)>,
    /// Bumped whenever a topic is created or deleted or gains partitions, so
    /// clients can cache topic metadata and notice changes cheaply.
    metadata_version: std::sync::atomic::AtomicU64,
    /// Test seam: the next topic creation stops, as a crash would, once it
    /// has created this many partition directories (`u32::MAX`: never).
    crash_in_create_after: std::sync::atomic::AtomicU32,
    /// Deleted topics whose delete is unfinished above the log (the
    /// `deleted` list of `weir-topics.json`); changed under `meta`.
    deleted: Mutex<BTreeSet<String>>,
}

/// A data directory: many topics' partitions, opened together, locked against
/// other processes, shut down cleanly (see the module docs).
#[derive(Debug)]
pub struct LogDir {
    inner: Arc<Inner>,
    background: Mutex<Option<JoinHandle<()>>>,
    crashed: AtomicBool,
}

impl LogDir {
    /// Opens (creating if needed) the data directory at `path` with default
    /// options. See [`open_with`](Self::open_with).
    ///
    /// # Errors
    /// As [`open_with`](Self::open_with).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LogError> {
        Self::open_with(path, LogDirOptions::default())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The default topic config of this directory.
    pub fn default_config(&self) -> &LogConfig {
        &self.inner.options.default_config
    }

    /// What recovery did to each partition it had to repair on open.
    pub fn recovery_reports(&self) -> &[(String, RecoveryReport)] {
        &self.inner.recovery
    }

    /// A number that changes whenever a topic is created or deleted or gains
    /// partitions: cache topic metadata and re-read it when this moves.
    pub fn metadata_version(&self) -> u64 {
        self.inner.metadata_version.load(Ordering::Acquire)
    }

    /// The clock partitions use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.options.clock
    }

    /// Creates a topic with `partitions` partitions and config overrides
    /// (Kafka property names).
    ///
    /// # Errors
    /// [`LogError::InvalidTopicName`], [`LogError::TopicExists`],
    /// [`LogError::TopicCollision`], [`LogError::InvalidPartitions`],
    /// [`LogError::Config`] naming a bad key or value; nothing is created then.
    /// Internal topic names are refused (see
    /// [`create_internal_topic`](Self::create_internal_topic)).
    /// [`LogError::Io`] making a partition: the partitions made are removed
    /// and the topic unlisted again; should that rewrite of
    /// `weir-topics.json` fail too (a full disk), the topic stays listed and
    /// the next open creates it whole, as a crash at that point would.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
    ) -> Result<Arc<Topic>, LogError> {
        if is_internal_topic(name) {
            return Err(LogError::InvalidTopicName {
                name: name.to_string(),
                reason: "it is reserved for Kafka's internal use".into(),
            });
        }
        self.inner.create_topic(name, partitions, configs, false)
    }

    /// Creates an internal topic such as `__consumer_offsets`, or returns it if
    /// it exists.
    ///
    /// # Errors
    /// As [`create_topic`](Self::create_topic).
    pub fn create_internal_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
    ) -> Result<Arc<Topic>, LogError> {
        if let Ok(t) = self.topic(name) {
            // One adopted from a Kafka directory has none of its configs
            // (Kafka's broker applies them to its internal topics whatever
            // the topic says): the ones it has not set explicitly apply. Its
            // partition count is the topic's, whatever `partitions` says, as
            // Kafka keeps an existing offsets topic's count.
            let overrides = t.config().overrides().clone();
            let missing: Vec<(&str, &str)> = configs
                .iter()
                .copied()
                .filter(|(k, _)| !overrides.contains_key(*k))
                .collect();
            if !missing.is_empty() {
                self.alter_topic_config(name, &missing, &[])?;
                return self.topic(name);
            }
            return Ok(t);
        }
        self.inner.create_topic(name, partitions, configs, true)
    }

    /// A topic.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`].
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>, LogError> {
        read_lock(&self.inner.topics)
            .get(name)
            .cloned()
            .ok_or_else(|| LogError::UnknownTopic {
                topic: name.to_string(),
            })
    }

    /// One partition's log.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`], [`LogError::UnknownPartition`].
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionLog>, LogError> {
        self.topic(topic)?.partition(partition)
    }

    /// All topics, by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        read_lock(&self.inner.topics).values().cloned().collect()
    }

    /// Topics deleted here whose delete is unfinished above the log: the
    /// state other crates keep of them (groups' committed offsets, the
    /// cleaner's checkpoint) is not yet known to be gone. A topic is listed
    /// from the write that removes it from `weir-topics.json` (so a crash
    /// cannot lose the fact) until [`finish_delete`](Self::finish_delete), or
    /// until [`create_topic`](Self::create_topic) creates a topic of the name
    /// (which takes the old topic's state as dealt with). The `weir` crate
    /// finishes them when it opens a directory, and before it creates a
    /// topic of such a name.
    pub fn unfinished_deletes(&self) -> Vec<String> {
        lock(&self.inner.deleted).iter().cloned().collect()
    }

    /// Records that a deleted topic's state above the log is gone (see
    /// [`unfinished_deletes`](Self::unfinished_deletes)), so that a topic of
    /// its name can be created again.
    ///
    /// # Errors
    /// [`LogError::Io`] writing `weir-topics.json` (the delete stays
    /// unfinished).
    pub fn finish_delete(&self, name: &str) -> Result<(), LogError> {
        let _meta = lock(&self.inner.meta);
        if !lock(&self.inner.deleted).remove(name) {
            return Ok(());
        }
        self.inner.write_topics_file().inspect_err(|_| {
            lock(&self.inner.deleted).insert(name.to_string());
        })
    }

    /// Deletes a topic: its partitions are closed, their directories renamed
    /// `<topic>-<p>.<id>-delete` (made durable first, so a crash cannot bring
    /// the data back), then the topic leaves `weir-topics.json` and the
    /// checkpoints (Kafka's `LogManager.asyncDelete` rewrites them at once, so
    /// that a topic created later under the same name does not inherit its
    /// log start offset), and the directories are removed. Readers holding a
    /// partition keep their open files until they drop them.
    ///
    /// The same write of `weir-topics.json` lists the topic among the
    /// [`unfinished_deletes`](Self::unfinished_deletes) until
    /// [`finish_delete`](Self::finish_delete): what is kept of it above the
    /// log (groups' committed offsets, the cleaner's checkpoint) must go
    /// before a topic of that name is created again.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`]; [`LogError::Io`].
    pub fn delete_topic(&self, name: &str) -> Result<(), LogError> {
        let _meta = lock(&self.inner.meta);
        if !read_lock(&self.inner.topics).contains_key(name) {
            return Err(LogError::UnknownTopic {
                topic: name.to_string(),
            });
        }
        // Unfinished before the topic leaves the map: whoever finds it gone
        // finds the delete listed, also when a step below fails (the next
        // open, or a creation of the name, finishes it).
        lock(&self.inner.deleted).insert(name.to_string());
        let topic =
            write_lock(&self.inner.topics)
                .remove(name)
                .ok_or_else(|| LogError::UnknownTopic {
                    topic: name.to_string(),
                })?;
        self.inner.metadata_version.fetch_add(1, Ordering::AcqRel);
        let mut targets = Vec::new();
        for log in topic.partitions() {
            let _ = log.close();
            let dir = log.dir().to_path_buf();
            let suffix: String = new_topic_id()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let target = self
                .inner
                .path
                .join(deleted_dir_name(name, log.partition(), &suffix));
            fs::rename(&dir, &target).map_err(LogError::io(&dir, "rename"))?;
            targets.push(target);
        }
        // Renamed before the topic leaves the metadata: after a crash between
        // the two, the next open finds only `-delete` directories for the
        // topic and finishes the delete.
        sync_dir(&self.inner.path)?;
        self.inner.write_topics_file()?;
        self.inner.write_checkpoints()?;
        for target in targets {
            fs::remove_dir_all(&target).map_err(LogError::io(&target, "delete"))?;
        }
        sync_dir(&self.inner.path)?;
        Ok(())
    }

    /// Gives a topic the id Kafka's controller gave it, before its partition
    /// directories move into a Kafka broker's log directory (a KRaft broker
    /// serves a directory only under its controller's id; see the README's
    /// *Moving to Kafka*). Every partition's `partition.metadata` and
    /// `weir-topics.json` are rewritten. Clients see the topic changed, as
    /// after any metadata change.
    ///
    /// # Errors
    /// [`LogError::InvalidTopicId`] for an id that is not a Kafka `Uuid`
    /// (22 base64url characters of 16 bytes) or is one Kafka reserves;
    /// [`LogError::UnknownTopic`]; [`LogError::Io`].
    pub fn set_topic_id(&self, name: &str, id: &str) -> Result<(), LogError> {
        validate_topic_id(id)?;
        let _meta = lock(&self.inner.meta);
        if self.is_closed() {
            return Err(LogError::Closed {
                what: self.inner.path.display().to_string(),
            });
        }
        let old = self.topic(name)?;
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            topic_id: id.to_string(),
            internal: old.internal,
            config: RwLock::new(old.config()),
            partitions: RwLock::new(old.partitions()),
        });
        // The topics file first: an open after a failure part-way rewrites
        // every partition's `partition.metadata` from it.
        self.inner
            .write_topics_file_with(Some((name, topic.entry())))?;
        for log in topic.partitions() {
            write_partition_metadata(log.dir(), id)?;
        }
        write_lock(&self.inner.topics).insert(name.to_string(), topic);
        self.inner.metadata_version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Raises a topic's partition count to `total` (Kafka's CreatePartitions).
    ///
    /// # Errors
    /// [`LogError::InvalidPartitions`] unless `total` is above the current count
    /// and at most [`MAX_PARTITIONS`], and for an internal topic;
    /// [`LogError::UnknownTopic`].
    pub fn create_partitions(&self, name: &str, total: u32) -> Result<(), LogError> {
        let _meta = lock(&self.inner.meta);
        if self.is_closed() {
            return Err(LogError::Closed {
                what: self.inner.path.display().to_string(),
            });
        }
        let topic = self.topic(name)?;
        let current = topic.partition_count();
        if topic.internal {
            // Its records are placed by a hash of the group over the count
            // (as Kafka's `kafka-topics` refuses this for internal topics).
            return Err(LogError::InvalidPartitions {
                topic: name.to_string(),
                reason: "the partition count of an internal topic cannot be changed".into(),
            });
        }
        if total <= current || total > MAX_PARTITIONS {
            return Err(LogError::InvalidPartitions {
                topic: name.to_string(),
                reason: format!(
                    "the count can only grow, to at most {MAX_PARTITIONS}: it is {current}, {total} was asked"
                ),
            });
        }
        let config = topic.config();
        let mut new = Vec::new();
        for p in current..total {
            match self
                .inner
                .open_new_partition(name, p, config.log_config(), &topic.topic_id)
            {
                Ok(log) => new.push(Arc::new(log)),
                Err(e) => {
                    self.inner.discard_new_partitions(name, new, current, p + 1);
                    return Err(e);
                }
            }
        }
        // The new count is in weir-topics.json before anyone can append to
        // the new partitions: after a failed write (or a crash before it)
        // the next open knows every partition that took records.
        let entry = TopicEntry {
            partitions: total,
            ..topic.entry()
        };
        if let Err(e) = self.inner.write_topics_file_with(Some((name, entry))) {
            self.inner.discard_new_partitions(name, new, current, total);
            return Err(e);
        }
        write_lock(&topic.partitions).extend(new);
        self.inner.metadata_version.fetch_add(1, Ordering::AcqRel);
        self.inner.write_checkpoints()
    }

    /// Changes a topic's config: sets `set` and removes the overrides in
    /// `delete`, all or nothing; partitions see the new values at once.
    ///
    /// # Errors
    /// [`LogError::Config`] naming the first bad key or value;
    /// [`LogError::UnknownTopic`].
    pub fn alter_topic_config(
        &self,
        name: &str,
        set: &[(&str, &str)],
        delete: &[&str],
    ) -> Result<TopicConfig, LogError> {
        let _meta = lock(&self.inner.meta);
        let topic = self.topic(name)?;
        let mut config = topic.config();
        let err = |source| LogError::Config {
            topic: name.to_string(),
            source,
        };
        config
            .alter(set, delete, &self.inner.options.default_config)
            .map_err(err)?;
        // Written before it applies: a failed write changes nothing.
        let entry = TopicEntry {
            configs: config.overrides().clone(),
            ..topic.entry()
        };
        self.inner.write_topics_file_with(Some((name, entry)))?;
        *write_lock(&topic.config) = config.clone();
        for log in topic.partitions() {
            log.set_config(config.log_config().clone());
        }
        Ok(config)
    }

    /// fsyncs every partition and writes the checkpoints.
    ///
    /// # Errors
    /// The first error; partitions that failed turn read-only.
    pub fn flush(&self) -> Result<(), LogError> {
        for topic in self.topics() {
            for log in topic.partitions() {
                log.flush()?;
            }
        }
        self.inner.write_checkpoints()
    }

    /// Writes the recovery-point and log-start-offset checkpoints now (the
    /// maintenance thread does it every `checkpoint_interval_ms`). The cleaner
    /// calls it before swapping cleaned segments in, so recovery never scans a
    /// cleaned segment as unflushed data.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn write_checkpoints(&self) -> Result<(), LogError> {
        self.inner.write_checkpoints()
    }

    /// Shuts down cleanly: stops the maintenance thread, closes every partition
    /// (final index entries, trimmed indexes, fsync), writes the checkpoints and
    /// the clean-shutdown marker. Later appends fail with [`LogError::Closed`];
    /// reads keep working. The lock is released when the `LogDir` is dropped.
    /// Dropping a `LogDir` closes it too, ignoring errors. Calling it again does
    /// nothing.
    ///
    /// # Errors
    /// The first error; no marker is written then, so the next open recovers.
    pub fn close(&self) -> Result<(), LogError> {
        self.shutdown()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    fn shutdown(&self) -> Result<(), LogError> {
        // Under the lock topic and partition creation take: none is half
        // done while the partitions are closed, and none starts after.
        let meta = lock(&self.inner.meta);
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.stop_background();
        let mut first_error = None;
        for topic in self.topics() {
            for log in topic.partitions() {
                if let Err(e) = log.close() {
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(meta);
        if let Some(e) = first_error {
            return Err(e);
        }
        self.inner.write_checkpoints()?;
        let marker = self.inner.path.join(CLEAN_SHUTDOWN_FILE);
        write_atomically(&marker, b"{\"version\":0,\"brokerEpoch\":0}")
            .map_err(LogError::io(&marker, "write"))?;
        Ok(())
    }

    fn stop_background(&self) {
        {
            let (m, cv) = &self.inner.stop;
            *lock(m) = true;
            cv.notify_all();
        }
        if let Some(handle) = lock(&self.background).take() {
            let _ = handle.join();
        }
    }

    /// Drops the directory as a crash would: no final flush, no checkpoints, no
    /// clean-shutdown marker, so the next open recovers. For crash tests.
    #[doc(hidden)]
    pub fn simulate_crash(self) {
        self.simulate_crash_for_test();
    }

    /// Makes the next [`create_topic`](Self::create_topic) stop as a crash
    /// would once it has created `partitions` partition directories: it
    /// returns [`LogError::Closed`] with nothing cleaned up and the directory
    /// closed; drop it with [`simulate_crash`](Self::simulate_crash). For
    /// crash tests.
    #[doc(hidden)]
    pub fn crash_in_next_create_topic_for_test(&self, partitions: u32) {
        self.inner
            .crash_in_create_after
            .store(partitions, Ordering::Release);
    }

    /// As [`simulate_crash`](Self::simulate_crash), for a directory shared
    /// behind an `Arc`: nothing is flushed or marked clean when it is dropped.
    #[doc(hidden)]
    pub fn simulate_crash_for_test(&self) {
        self.crashed.store(true, Ordering::Release);
        self.inner.closed.store(true, Ordering::Release);
        self.stop_background();
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if !self.crashed.load(Ordering::Acquire) {
            let _ = self.shutdown();
        }
    }
}

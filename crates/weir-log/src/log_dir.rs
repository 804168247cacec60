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

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{format_offset_checkpoint, read_offset_checkpoint, write_atomically};
use crate::clock::{Clock, system_clock};
use crate::config::{LogConfig, TopicConfig};
use crate::error::LogError;
use crate::partition::{OpenOptions as PartitionOpenOptions, PartitionLog, RecoveryReport};
use crate::paths::sync_dir;
use crate::segment::{lock, read_lock, write_lock};
use crate::segment_file::parse_partition_dir_name;
use crate::topic_name::{
    CLUSTER_METADATA_TOPIC, CONSUMER_OFFSETS_TOPIC, is_internal_topic, unify_collision_chars,
    validate_topic_name,
};

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
}

impl Default for LogDirOptions {
    fn default() -> Self {
        LogDirOptions {
            default_config: LogConfig::default(),
            clock: system_clock(),
            background_thread: true,
            checkpoint_interval_ms: 60_000,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct TopicsFile {
    version: u32,
    topics: BTreeMap<String, TopicEntry>,
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
}

/// A data directory: many topics' partitions, opened together, locked against
/// other processes, shut down cleanly (see the module docs).
#[derive(Debug)]
pub struct LogDir {
    inner: Arc<Inner>,
    background: Mutex<Option<JoinHandle<()>>>,
    crashed: AtomicBool,
}

fn new_topic_id() -> String {
    loop {
        let mut id = [0u8; 16];
        for b in &mut id {
            *b = fastrand::u8(..);
        }
        // A version 4 UUID, as Kafka's Uuid.randomUuid.
        if let Some(b) = id.get_mut(6) {
            *b = (*b & 0x0f) | 0x40;
        }
        if let Some(b) = id.get_mut(8) {
            *b = (*b & 0x3f) | 0x80;
        }
        let s = URL_SAFE_NO_PAD.encode(id);
        // Kafka avoids ids whose string form starts with '-'.
        if !s.starts_with('-') {
            return s;
        }
    }
}

/// Checks a topic id as Kafka's `Uuid.fromString` takes it: the base64url
/// form of 16 bytes, without padding, and not one of the ids Kafka reserves
/// (the zero id, and the metadata log's).
fn validate_topic_id(id: &str) -> Result<(), LogError> {
    let invalid = |reason: &str| LogError::InvalidTopicId {
        id: id.to_string(),
        reason: reason.to_string(),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(id)
        .map_err(|_| invalid("it is not the base64url form of a UUID (22 characters)"))?;
    if bytes.len() != 16 {
        return Err(invalid(
            "it is not the base64url form of a UUID (22 characters)",
        ));
    }
    if id == "AAAAAAAAAAAAAAAAAAAAAA" || id == "AAAAAAAAAAAAAAAAAAAAAQ" {
        return Err(invalid(
            "Kafka reserves it (the zero id, or its metadata log's)",
        ));
    }
    Ok(())
}

fn read_checkpoint(path: &Path) -> Result<HashMap<(String, i32), i64>, LogError> {
    Ok(read_offset_checkpoint(path)?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect())
}

fn partition_dir(root: &Path, topic: &str, partition: u32) -> PathBuf {
    root.join(format!("{topic}-{partition}"))
}

fn take_lock(path: &Path) -> Result<File, LogError> {
    let lock_path = path.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(LogError::io(&lock_path, "open"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LogError::DirLocked {
                path: path.to_path_buf(),
                holder: (!holder.is_empty()).then(|| holder.to_string()),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(LogError::io(&lock_path, "lock")(e)),
    }
    file.set_len(0).map_err(LogError::io(&lock_path, "write"))?;
    writeln!(file, "pid {}", std::process::id()).map_err(LogError::io(&lock_path, "write"))?;
    Ok(file)
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

    /// Opens (creating if needed) the data directory at `path`: takes its lock,
    /// reads the clean-shutdown marker and checkpoints, opens every partition
    /// (recovering them after an unclean shutdown) and starts the maintenance
    /// thread. Blocks for the recovery. Each topic's stored config overrides
    /// are checked key by key over `options.default_config`, but not against
    /// the cross-key rules, as Kafka loads its logs (see
    /// [`TopicConfig::with_stored_overrides`]).
    ///
    /// # Errors
    /// [`LogError::DirLocked`] when another process (or another `LogDir` here)
    /// has it open; [`LogError::Metadata`] for an unreadable `weir-topics.json`;
    /// [`LogError::Corrupt`] for damage recovery must not repair silently;
    /// [`LogError::Io`].
    pub fn open_with(path: impl AsRef<Path>, options: LogDirOptions) -> Result<Self, LogError> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path).map_err(LogError::io(&path, "create directory"))?;
        let lock_file = take_lock(&path)?;
        let marker = path.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        if clean {
            fs::remove_file(&marker).map_err(LogError::io(&marker, "delete"))?;
            sync_dir(&path)?;
        }
        write_meta_properties(&path)?;
        let recovery_points = read_checkpoint(&path.join(RECOVERY_POINT_CHECKPOINT))?;
        let log_starts = read_checkpoint(&path.join(LOG_START_OFFSET_CHECKPOINT))?;
        let mut entries = read_topics_file(&path)?;
        // KRaft's metadata log, adopted as a topic by an older Weir, is no
        // topic of the data (its directory is left as it is), and a topic
        // Kafka calls internal is internal whatever the file says.
        entries.remove(CLUSTER_METADATA_TOPIC);
        for (name, entry) in &mut entries {
            entry.internal |= is_internal_topic(name);
        }
        drop_deleted_topics(&path, &mut entries)?;
        remove_deleted_dirs(&path)?;
        let known: std::collections::BTreeSet<String> = entries.keys().cloned().collect();
        adopt_partition_dirs(&path, &mut entries)?;

        let mut topics = BTreeMap::new();
        let mut recovery = Vec::new();
        for (name, entry) in &entries {
            // As Kafka loads a log: a default changed since the override was
            // stored may break a cross-key rule, and the topic still opens.
            let config = TopicConfig::with_stored_overrides(
                options.default_config.clone(),
                entry.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|source| LogError::Config {
                topic: name.clone(),
                source,
            })?;
            let mut partitions = Vec::new();
            for p in 0..entry.partitions {
                let key = (name.clone(), i32::try_from(p).unwrap_or(i32::MAX));
                // Without a checkpoint entry nothing says Weir wrote the
                // partition (it may be a Kafka directory with compacted gaps).
                // Nor does one in a Kafka broker's own checkpoint file, read
                // for a partition directory adopted now: Kafka's cleaner
                // leaves gaps above its recovery point.
                let checkpointed =
                    recovery_points.contains_key(&key) && known.contains(name.as_str());
                let (log, report) = PartitionLog::open_inner(
                    &partition_dir(&path, name, p),
                    name,
                    key.1,
                    config.log_config().clone(),
                    PartitionOpenOptions {
                        clean_shutdown: clean,
                        recovery_point: recovery_points.get(&key).copied().unwrap_or(0),
                        log_start_offset: log_starts.get(&key).copied().unwrap_or(0),
                        clock: Arc::clone(&options.clock),
                    },
                    checkpointed,
                )?;
                write_partition_metadata(log.dir(), &entry.topic_id)?;
                if report.segments_recovered > 0 {
                    recovery.push((format!("{name}-{p}"), report));
                }
                partitions.push(Arc::new(log));
            }
            topics.insert(
                name.clone(),
                Arc::new(Topic {
                    name: name.clone(),
                    topic_id: entry.topic_id.clone(),
                    internal: entry.internal,
                    config: RwLock::new(config),
                    partitions: RwLock::new(partitions),
                }),
            );
        }
        let inner = Arc::new(Inner {
            path,
            options,
            _lock_file: lock_file,
            topics: RwLock::new(topics),
            meta: Mutex::new(()),
            checkpoints: Mutex::new(()),
            closed: AtomicBool::new(false),
            stop: (Mutex::new(false), Condvar::new()),
            recovery,
            metadata_version: std::sync::atomic::AtomicU64::new(0),
        });
        // The recovery points first: a partition adopted from a Kafka
        // directory is listed in `weir-topics.json` only once Weir's recovery
        // point replaced Kafka's, so a crash between the two writes never
        // leaves Kafka's recovery point looking like Weir's (whose contiguity
        // check would cut Kafka's compacted gaps).
        inner.write_checkpoints()?;
        inner.write_topics_file()?;
        let background = if inner.options.background_thread {
            let bg = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("weir-logdir".into())
                    .spawn(move || bg.maintenance_loop())
                    .map_err(LogError::io(&inner.path, "spawn maintenance thread"))?,
            )
        } else {
            None
        };
        Ok(LogDir {
            inner,
            background: Mutex::new(background),
            crashed: AtomicBool::new(false),
        })
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

    /// Deletes a topic: its partitions are closed, their directories renamed
    /// `<topic>-<p>.<id>-delete` (made durable first, so a crash cannot bring
    /// the data back), then the topic leaves `weir-topics.json` and the
    /// checkpoints (Kafka's `LogManager.asyncDelete` rewrites them at once, so
    /// that a topic created later under the same name does not inherit its
    /// log start offset), and the directories are removed. Readers holding a
    /// partition keep their open files until they drop them.
    ///
    /// # Errors
    /// [`LogError::UnknownTopic`]; [`LogError::Io`].
    pub fn delete_topic(&self, name: &str) -> Result<(), LogError> {
        let _meta = lock(&self.inner.meta);
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

impl Inner {
    fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        configs: &[(&str, &str)],
        internal: bool,
    ) -> Result<Arc<Topic>, LogError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed {
                what: self.path.display().to_string(),
            });
        }
        validate_topic_name(name)?;
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(LogError::InvalidPartitions {
                topic: name.to_string(),
                reason: format!("{partitions} partitions: a topic needs 1 to {MAX_PARTITIONS}"),
            });
        }
        let config = TopicConfig::with_overrides(
            self.options.default_config.clone(),
            configs.iter().copied(),
        )
        .map_err(|source| LogError::Config {
            topic: name.to_string(),
            source,
        })?;
        let _meta = lock(&self.meta);
        // Checked again under the lock `shutdown` takes: a creation racing a
        // close either finishes before the partitions are closed or fails.
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed {
                what: self.path.display().to_string(),
            });
        }
        {
            let topics = read_lock(&self.topics);
            if topics.contains_key(name) {
                return Err(LogError::TopicExists {
                    topic: name.to_string(),
                });
            }
            let unified = unify_collision_chars(name);
            if let Some(existing) = topics.keys().find(|t| unify_collision_chars(t) == unified) {
                return Err(LogError::TopicCollision {
                    topic: name.to_string(),
                    existing: existing.clone(),
                });
            }
        }
        let topic_id = new_topic_id();
        let mut logs = Vec::new();
        for p in 0..partitions {
            match self.open_new_partition(name, p, config.log_config(), &topic_id) {
                Ok(log) => logs.push(Arc::new(log)),
                Err(e) => {
                    // Nothing of the topic may stay behind: a partition
                    // directory left here would be adopted at the next open as
                    // a topic with default configs.
                    self.discard_new_partitions(name, logs, 0, p + 1);
                    return Err(e);
                }
            }
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            topic_id,
            internal,
            config: RwLock::new(config),
            partitions: RwLock::new(logs),
        });
        // In weir-topics.json before anyone can append to it.
        if let Err(e) = self.write_topics_file_with(Some((name, topic.entry()))) {
            let logs = std::mem::take(&mut *write_lock(&topic.partitions));
            self.discard_new_partitions(name, logs, 0, partitions);
            return Err(e);
        }
        write_lock(&self.topics).insert(name.to_string(), Arc::clone(&topic));
        self.metadata_version.fetch_add(1, Ordering::AcqRel);
        // Replace any entries a deleted topic of the same name left in the
        // checkpoints, or the next open would read its log start offset and
        // recovery point for the new partitions.
        self.write_checkpoints()?;
        Ok(topic)
    }

    fn open_new_partition(
        &self,
        topic: &str,
        partition: u32,
        config: &LogConfig,
        topic_id: &str,
    ) -> Result<PartitionLog, LogError> {
        let dir = partition_dir(&self.path, topic, partition);
        if dir.exists() {
            // A leftover of a topic of the same name deleted before a crash.
            fs::remove_dir_all(&dir).map_err(LogError::io(&dir, "delete"))?;
        }
        let (log, _) = PartitionLog::open(
            &dir,
            topic,
            i32::try_from(partition).unwrap_or(i32::MAX),
            config.clone(),
            PartitionOpenOptions {
                clean_shutdown: true,
                recovery_point: 0,
                log_start_offset: 0,
                clock: Arc::clone(&self.options.clock),
            },
        )?;
        write_partition_metadata(&dir, topic_id)?;
        sync_dir(&self.path)?;
        Ok(log)
    }

    fn write_topics_file(&self) -> Result<(), LogError> {
        self.write_topics_file_with(None)
    }

    /// Writes `weir-topics.json` as the topic map holds it, with `pending`
    /// (a topic's new entry) in place of what the map has for that topic. A
    /// change is written this way before it is published, as Kafka commits
    /// metadata before a broker acts on it: a failed write leaves the topics
    /// as they were, so nothing is appended to a partition (nor read with a
    /// config) that the next open would not know of.
    fn write_topics_file_with(&self, pending: Option<(&str, TopicEntry)>) -> Result<(), LogError> {
        let mut topics: BTreeMap<String, TopicEntry> = read_lock(&self.topics)
            .iter()
            .map(|(name, t)| (name.clone(), t.entry()))
            .collect();
        if let Some((name, entry)) = pending {
            topics.insert(name.to_string(), entry);
        }
        let file = TopicsFile { version: 1, topics };
        let path = self.path.join(TOPICS_FILE);
        let json = serde_json::to_vec_pretty(&file).map_err(|e| LogError::Metadata {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&path, &json).map_err(LogError::io(&path, "write"))
    }

    /// Closes `logs` and removes the partition directories of `topic` from
    /// `from` to `to` (excluded): a topic or partitions whose creation
    /// failed leave nothing behind that the next open would adopt.
    fn discard_new_partitions(
        &self,
        topic: &str,
        logs: Vec<Arc<PartitionLog>>,
        from: u32,
        to: u32,
    ) {
        // Closed and dropped first, so their files (perhaps what ran out, as
        // with EMFILE) are free for the removal.
        for log in &logs {
            let _ = log.close();
        }
        drop(logs);
        for q in from..to {
            let dir = partition_dir(&self.path, topic, q);
            if dir.exists() {
                let _ = fs::remove_dir_all(&dir);
            }
        }
        let _ = sync_dir(&self.path);
    }

    fn write_checkpoints(&self) -> Result<(), LogError> {
        let _serial = lock(&self.checkpoints);
        let topics: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
        let mut recovery = Vec::new();
        let mut starts = Vec::new();
        for t in &topics {
            for log in t.partitions() {
                recovery.push((t.name.clone(), log.partition(), log.recovery_point()));
                starts.push((t.name.clone(), log.partition(), log.log_start_offset()));
            }
        }
        for (file, entries) in [
            (RECOVERY_POINT_CHECKPOINT, recovery),
            (LOG_START_OFFSET_CHECKPOINT, starts),
        ] {
            let path = self.path.join(file);
            let text =
                format_offset_checkpoint(entries.iter().map(|(t, p, o)| (t.as_str(), *p, *o)));
            write_atomically(&path, text.as_bytes()).map_err(LogError::io(&path, "write"))?;
        }
        Ok(())
    }

    /// Flushes partitions whose `flush.ms` is due or whose rolled segments
    /// await their fsync, and writes checkpoints every
    /// `checkpoint_interval_ms`, until told to stop.
    fn maintenance_loop(&self) {
        let tick = Duration::from_millis(200);
        let mut last_checkpoint = std::time::Instant::now();
        let (m, cv) = &self.stop;
        loop {
            {
                let stopped = lock(m);
                if *stopped {
                    return;
                }
                let (stopped, _) = cv
                    .wait_timeout(stopped, tick)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if *stopped {
                    return;
                }
            }
            let now = self.options.clock.now_ms();
            let topics: Vec<Arc<Topic>> = read_lock(&self.topics).values().cloned().collect();
            for t in &topics {
                for log in t.partitions() {
                    // Errors latch in the partition; appends report them.
                    let _ = log.flush_if_due(now);
                }
            }
            if last_checkpoint.elapsed()
                >= Duration::from_millis(self.options.checkpoint_interval_ms)
            {
                let _ = self.write_checkpoints();
                last_checkpoint = std::time::Instant::now();
            }
        }
    }
}

fn read_topics_file(path: &Path) -> Result<BTreeMap<String, TopicEntry>, LogError> {
    let file = path.join(TOPICS_FILE);
    let bytes = match fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(LogError::io(&file, "read")(e)),
    };
    let parsed: TopicsFile = serde_json::from_slice(&bytes).map_err(|e| LogError::Metadata {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    if parsed.version != 1 {
        return Err(LogError::Metadata {
            path: file,
            reason: format!("version {} is not supported (expected 1)", parsed.version),
        });
    }
    for (name, entry) in &parsed.topics {
        validate_topic_name(name).map_err(|e| LogError::Metadata {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        if entry.partitions == 0 || entry.partitions > MAX_PARTITIONS {
            return Err(LogError::Metadata {
                path: file.clone(),
                reason: format!("topic {name} has {} partitions", entry.partitions),
            });
        }
    }
    Ok(parsed.topics)
}

/// Adds topics for partition directories that `weir-topics.json` does not
/// list (a Kafka log directory, or one whose metadata was lost).
fn adopt_partition_dirs(
    path: &Path,
    entries: &mut BTreeMap<String, TopicEntry>,
) -> Result<(), LogError> {
    let mut found: BTreeMap<String, (u32, Option<String>)> = BTreeMap::new();
    for entry in fs::read_dir(path).map_err(LogError::io(path, "list"))? {
        let entry = entry.map_err(LogError::io(path, "list"))?;
        let dir = entry.path();
        if !entry
            .file_type()
            .map_err(LogError::io(&dir, "stat"))?
            .is_dir()
        {
            continue;
        }
        let Some((topic, partition)) = parse_partition_dir_name(&dir) else {
            continue;
        };
        // KRaft's metadata log is no topic of the data: Kafka's `LogManager`
        // leaves it out too.
        if validate_topic_name(&topic).is_err()
            || entries.contains_key(&topic)
            || topic == CLUSTER_METADATA_TOPIC
        {
            continue;
        }
        let Ok(partition) = u32::try_from(partition) else {
            continue;
        };
        // Only a partition directory as Kafka names one (`orders-7`, not
        // `orders-007`, which would be served from an empty `orders-7`), of a
        // partition a topic may have: a stray `backup-20240101` is not
        // adopted as a topic of twenty million partitions.
        if partition >= MAX_PARTITIONS
            || dir.file_name().and_then(|n| n.to_str()) != Some(&format!("{topic}-{partition}"))
        {
            continue;
        }
        let id = read_partition_metadata(&dir);
        let slot = found.entry(topic).or_insert((0, None));
        slot.0 = slot.0.max(partition + 1);
        if slot.1.is_none() {
            slot.1 = id;
        }
    }
    for (topic, (mut partitions, id)) in found {
        if topic == CONSUMER_OFFSETS_TOPIC {
            // A broker holds the partitions of this topic it was given, which
            // may stop short of the topic's count (`-49` on another broker):
            // a group's records are placed by a hash over the count, so the
            // count is at least Kafka's default.
            partitions = partitions.max(KAFKA_OFFSETS_TOPIC_PARTITIONS);
        }
        entries.insert(
            topic.clone(),
            TopicEntry {
                topic_id: id.unwrap_or_else(new_topic_id),
                partitions,
                internal: is_internal_topic(&topic),
                configs: BTreeMap::new(),
            },
        );
    }
    Ok(())
}

/// Kafka's default `offsets.topic.num.partitions`: the least partitions an
/// adopted `__consumer_offsets` gets.
const KAFKA_OFFSETS_TOPIC_PARTITIONS: u32 = 50;

/// The `<topic>-<partition>` a directory renamed by a delete came from
/// (`<topic>-<partition>.<suffix>-delete`).
fn deleted_dir_partition(dir: &Path) -> Option<(String, i32)> {
    let name = dir.file_name()?.to_str()?;
    let (live, _suffix) = name.strip_suffix(DELETE_DIR_SUFFIX)?.rsplit_once('.')?;
    parse_partition_dir_name(&dir.with_file_name(live))
}

/// The longest file name a directory may have (Kafka caps its `-delete` and
/// `-stray` names to it).
const MAX_DIR_NAME: usize = 255;

/// The name a partition directory takes when its topic is deleted:
/// `<topic>-<partition>.<suffix>-delete`, its topic part cut short when the
/// whole would pass [`MAX_DIR_NAME`] (a 249-character topic name would), as
/// Kafka's `logDirNameWithSuffixCappedLength` cuts it.
fn deleted_dir_name(topic: &str, partition: i32, suffix: &str) -> String {
    let tail = format!("-{partition}.{suffix}{DELETE_DIR_SUFFIX}");
    let keep = topic.len().min(MAX_DIR_NAME.saturating_sub(tail.len()));
    // Topic names are ASCII: any byte is a character boundary.
    format!("{}{tail}", topic.get(..keep).unwrap_or(topic))
}

/// Drops the topics a crash caught in the middle of a delete: listed in
/// `weir-topics.json`, but with none of their partition directories left and
/// some renamed for deletion (see [`LogDir::delete_topic`]).
fn drop_deleted_topics(
    path: &Path,
    entries: &mut BTreeMap<String, TopicEntry>,
) -> Result<(), LogError> {
    let mut deleted = std::collections::BTreeSet::new();
    // Names cut to fit (see `deleted_dir_name`): a topic starting with one.
    let mut cut = Vec::new();
    for entry in fs::read_dir(path).map_err(LogError::io(path, "list"))? {
        let dir = entry.map_err(LogError::io(path, "list"))?.path();
        if let Some((topic, _)) = deleted_dir_partition(&dir) {
            if dir.file_name().is_some_and(|n| n.len() >= MAX_DIR_NAME) {
                cut.push(topic.clone());
            }
            deleted.insert(topic);
        }
    }
    entries.retain(|name, entry| {
        let renamed =
            deleted.contains(name) || cut.iter().any(|prefix| name.starts_with(prefix.as_str()));
        !renamed || (0..entry.partitions).any(|p| partition_dir(path, name, p).exists())
    });
    Ok(())
}

fn remove_deleted_dirs(path: &Path) -> Result<(), LogError> {
    for entry in fs::read_dir(path).map_err(LogError::io(path, "list"))? {
        let entry = entry.map_err(LogError::io(path, "list"))?;
        let p = entry.path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(DELETE_DIR_SUFFIX))
            && entry
                .file_type()
                .map_err(LogError::io(&p, "stat"))?
                .is_dir()
        {
            fs::remove_dir_all(&p).map_err(LogError::io(&p, "delete"))?;
        }
    }
    Ok(())
}

fn read_partition_metadata(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .map(|id| id.trim().to_string())
}

fn write_partition_metadata(dir: &Path, topic_id: &str) -> Result<(), LogError> {
    if read_partition_metadata(dir).as_deref() == Some(topic_id) {
        return Ok(());
    }
    let path = dir.join(PARTITION_METADATA_FILE);
    write_atomically(
        &path,
        format!("version: 0\ntopic_id: {topic_id}\n").as_bytes(),
    )
    .map_err(LogError::io(&path, "write"))
}

fn write_meta_properties(path: &Path) -> Result<(), LogError> {
    let file = path.join("meta.properties");
    if file.exists() {
        return Ok(());
    }
    let text = format!(
        "#Written by Weir\nversion=1\ncluster.id={}\nnode.id=0\ndirectory.id={}\n",
        new_topic_id(),
        new_topic_id()
    );
    write_atomically(&file, text.as_bytes()).map_err(LogError::io(&file, "write"))
}

//! Opening a data directory: its lock, `meta.properties`, the topics file,
//! partition directories adopted from Kafka, and topics whose delete a crash cut short.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, RwLock};

use super::topics::{
    new_topic_id, partition_dir, read_checkpoint, read_partition_metadata, write_partition_metadata,
};
use super::{
    CLEAN_SHUTDOWN_FILE, DELETE_DIR_SUFFIX, Inner, LOCK_FILE, LOG_START_OFFSET_CHECKPOINT, LogDir,
    LogDirOptions, MAX_PARTITIONS, RECOVERY_POINT_CHECKPOINT, TOPICS_FILE, Topic, TopicEntry,
    TopicsFile,
};
use crate::checkpoint::write_atomically;
use crate::config::TopicConfig;
use crate::error::LogError;
use crate::partition::{OpenOptions as PartitionOpenOptions, PartitionLog};
use crate::paths::sync_dir;
use crate::segment_file::parse_partition_dir_name;
use crate::topic_name::{
    CLUSTER_METADATA_TOPIC, CONSUMER_OFFSETS_TOPIC, is_internal_topic, validate_topic_name,
};

impl LogDir {
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
        let (mut entries, mut deleted) = read_topics_file(&path)?;
        // KRaft's metadata log, adopted as a topic by an older Weir, is no
        // topic of the data (its directory is left as it is), and a topic
        // Kafka calls internal is internal whatever the file says.
        entries.remove(CLUSTER_METADATA_TOPIC);
        for (name, entry) in &mut entries {
            entry.internal |= is_internal_topic(name);
        }
        // A delete a crash cut short between its renames and its write of
        // weir-topics.json is finished here, and unfinished above the log.
        deleted.extend(drop_deleted_topics(&path, &mut entries)?);
        remove_deleted_dirs(&path)?;
        let known: std::collections::BTreeSet<String> = entries.keys().cloned().collect();
        adopt_partition_dirs(&path, &mut entries)?;
        // A topic of the name that exists now (partition directories copied
        // in) is not the deleted one: its state is never deleted for it.
        deleted.retain(|name| !entries.contains_key(name));

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
                        damaged_segments_to: options.damaged_segments_to.clone(),
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
            crash_in_create_after: std::sync::atomic::AtomicU32::new(u32::MAX),
            deleted: Mutex::new(deleted),
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
}

pub(super) fn take_lock(path: &Path) -> Result<File, LogError> {
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

/// The topics `weir-topics.json` lists, and its unfinished deletes.
type TopicsRead = (BTreeMap<String, TopicEntry>, BTreeSet<String>);

pub(super) fn read_topics_file(path: &Path) -> Result<TopicsRead, LogError> {
    let file = path.join(TOPICS_FILE);
    let bytes = match fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((BTreeMap::new(), BTreeSet::new()));
        }
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
    for name in &parsed.deleted {
        validate_topic_name(name).map_err(|e| LogError::Metadata {
            path: file.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok((parsed.topics, parsed.deleted))
}

/// Adds topics for partition directories that `weir-topics.json` does not
/// list (a Kafka log directory, or one whose metadata was lost).
pub(super) fn adopt_partition_dirs(
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
pub(super) const KAFKA_OFFSETS_TOPIC_PARTITIONS: u32 = 50;

/// The `<topic>-<partition>` a directory renamed by a delete came from
/// (`<topic>-<partition>.<suffix>-delete`).
pub(super) fn deleted_dir_partition(dir: &Path) -> Option<(String, i32)> {
    let name = dir.file_name()?.to_str()?;
    let (live, _suffix) = name.strip_suffix(DELETE_DIR_SUFFIX)?.rsplit_once('.')?;
    parse_partition_dir_name(&dir.with_file_name(live))
}

/// The longest file name a directory may have (Kafka caps its `-delete` and
/// `-stray` names to it).
pub(super) const MAX_DIR_NAME: usize = 255;

/// The name a partition directory takes when its topic is deleted:
/// `<topic>-<partition>.<suffix>-delete`, its topic part cut short when the
/// whole would pass [`MAX_DIR_NAME`] (a 249-character topic name would), as
/// Kafka's `logDirNameWithSuffixCappedLength` cuts it.
pub(super) fn deleted_dir_name(topic: &str, partition: i32, suffix: &str) -> String {
    let tail = format!("-{partition}.{suffix}{DELETE_DIR_SUFFIX}");
    let keep = topic.len().min(MAX_DIR_NAME.saturating_sub(tail.len()));
    // Topic names are ASCII: any byte is a character boundary.
    format!("{}{tail}", topic.get(..keep).unwrap_or(topic))
}

/// Drops the topics a crash caught in the middle of a delete: listed in
/// `weir-topics.json`, but with none of their partition directories left and
/// some renamed for deletion (see [`LogDir::delete_topic`]).
pub(super) fn drop_deleted_topics(
    path: &Path,
    entries: &mut BTreeMap<String, TopicEntry>,
) -> Result<Vec<String>, LogError> {
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
    let mut dropped = Vec::new();
    entries.retain(|name, entry| {
        let renamed =
            deleted.contains(name) || cut.iter().any(|prefix| name.starts_with(prefix.as_str()));
        let kept = !renamed || (0..entry.partitions).any(|p| partition_dir(path, name, p).exists());
        if !kept {
            dropped.push(name.clone());
        }
        kept
    });
    Ok(dropped)
}

/// Removes every directory renamed for deletion; whether there was one.
pub(super) fn remove_deleted_dirs(path: &Path) -> Result<bool, LogError> {
    let mut removed = false;
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
            removed = true;
        }
    }
    Ok(removed)
}

pub(super) fn write_meta_properties(path: &Path) -> Result<(), LogError> {
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

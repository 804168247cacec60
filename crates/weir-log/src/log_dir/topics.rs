//! Creating topics and partitions, the topics file, topic ids and checkpoints,
//! and the background thread's flushes and retention.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::open::remove_deleted_dirs;
use super::{
    Inner, LOG_START_OFFSET_CHECKPOINT, MAX_PARTITIONS, PARTITION_METADATA_FILE,
    RECOVERY_POINT_CHECKPOINT, TOPICS_FILE, Topic, TopicEntry, TopicsFile,
};
use crate::checkpoint::{format_offset_checkpoint, read_offset_checkpoint, write_atomically};
use crate::config::{LogConfig, TopicConfig};
use crate::error::LogError;
use crate::partition::{OpenOptions as PartitionOpenOptions, PartitionLog};
use crate::paths::sync_dir;
use crate::segment::{lock, read_lock, write_lock};
use crate::topic_name::{unify_collision_chars, validate_topic_name};

pub(super) fn new_topic_id() -> String {
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
pub(super) fn validate_topic_id(id: &str) -> Result<(), LogError> {
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

pub(super) fn read_checkpoint(path: &Path) -> Result<HashMap<(String, i32), i64>, LogError> {
    Ok(read_offset_checkpoint(path)?
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect())
}

pub(super) fn partition_dir(root: &Path, topic: &str, partition: u32) -> PathBuf {
    root.join(format!("{topic}-{partition}"))
}

impl Inner {
    pub(super) fn create_topic(
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
        // Checkpoint entries and directories a topic of this name left when
        // its delete failed midway go first: once the entry below is written,
        // the next open would read them as this topic's (its log start
        // offsets, its partitions, or a delete of it a crash cut short).
        self.write_checkpoints()?;
        // weir-topics.json as the map holds it first: an entry a failed
        // delete left there goes before the `-delete` directories that would
        // have let the next open finish that delete. An unfinished delete of
        // the name ends with it: what creates a topic has dealt with the old
        // one's state above the log (the weir crate finishes the delete
        // first), and a new topic's must never be taken for the old one's.
        let unfinished = lock(&self.deleted).remove(name);
        if let Err(e) = self.write_topics_file() {
            if unfinished {
                lock(&self.deleted).insert(name.to_string());
            }
            return Err(e);
        }
        self.remove_leftovers(name)?;
        let topic_id = new_topic_id();
        // The topic exists once weir-topics.json lists it with every
        // partition and config, as Kafka's controller commits a topic and
        // its partitions in one record batch before any broker makes a
        // directory: a crash while the directories are being made leaves a
        // listed topic whose missing directories the next open creates. Made
        // first, the directories of a crashed creation were adopted at the
        // next open as a topic of their own, with some of the partitions and
        // none of the configs, and creating it again said it existed.
        self.write_topics_file_with(Some((
            name,
            TopicEntry {
                topic_id: topic_id.clone(),
                partitions,
                internal,
                configs: config.overrides().clone(),
            },
        )))?;
        let crash_after = self.crash_in_create_after.swap(u32::MAX, Ordering::AcqRel);
        let mut logs = Vec::new();
        for p in 0..partitions {
            if p == crash_after {
                self.closed.store(true, Ordering::Release);
                return Err(LogError::Closed {
                    what: self.path.display().to_string(),
                });
            }
            match self.open_new_partition(name, p, config.log_config(), &topic_id) {
                Ok(log) => logs.push(Arc::new(log)),
                Err(e) => {
                    // Nothing of the topic may stay behind: the partitions
                    // made so far go, and so does its entry (the map never
                    // held it). Should that write fail too, the next open
                    // creates the topic whole, as listed.
                    self.discard_new_partitions(name, logs, 0, p + 1);
                    let _ = self.write_topics_file();
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
        write_lock(&self.topics).insert(name.to_string(), Arc::clone(&topic));
        self.metadata_version.fetch_add(1, Ordering::AcqRel);
        self.write_checkpoints()?;
        Ok(topic)
    }

    /// Removes what a topic named `name` left behind when its delete failed
    /// midway in this process (the map no longer holds it): its partition
    /// directories not yet renamed for deletion, whatever their number, and
    /// directories renamed for deletion but not yet removed (any topic's:
    /// nothing deletes while the metadata lock is held).
    fn remove_leftovers(&self, name: &str) -> Result<(), LogError> {
        let mut removed = false;
        for entry in fs::read_dir(&self.path).map_err(LogError::io(&self.path, "list"))? {
            let dir = entry.map_err(LogError::io(&self.path, "list"))?.path();
            if dir.is_dir()
                && crate::segment_file::parse_partition_dir_name(&dir)
                    .is_some_and(|(topic, _)| topic == name)
            {
                fs::remove_dir_all(&dir).map_err(LogError::io(&dir, "delete"))?;
                removed = true;
            }
        }
        removed |= remove_deleted_dirs(&self.path)?;
        if removed {
            sync_dir(&self.path)?;
        }
        Ok(())
    }

    pub(super) fn open_new_partition(
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
                damaged_segments_to: None,
            },
        )?;
        write_partition_metadata(&dir, topic_id)?;
        sync_dir(&self.path)?;
        Ok(log)
    }

    pub(super) fn write_topics_file(&self) -> Result<(), LogError> {
        self.write_topics_file_with(None)
    }

    /// Writes `weir-topics.json` as the topic map holds it, with `pending`
    /// (a topic's new entry) in place of what the map has for that topic. A
    /// change is written this way before it is published, as Kafka commits
    /// metadata before a broker acts on it: a failed write leaves the topics
    /// as they were, so nothing is appended to a partition (nor read with a
    /// config) that the next open would not know of.
    pub(super) fn write_topics_file_with(
        &self,
        pending: Option<(&str, TopicEntry)>,
    ) -> Result<(), LogError> {
        let mut topics: BTreeMap<String, TopicEntry> = read_lock(&self.topics)
            .iter()
            .map(|(name, t)| (name.clone(), t.entry()))
            .collect();
        if let Some((name, entry)) = pending {
            topics.insert(name.to_string(), entry);
        }
        let deleted = lock(&self.deleted).clone();
        let file = TopicsFile {
            version: 1,
            topics,
            deleted,
        };
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
    pub(super) fn discard_new_partitions(
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

    pub(super) fn write_checkpoints(&self) -> Result<(), LogError> {
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
    pub(super) fn maintenance_loop(&self) {
        let tick = Duration::from_millis(200);
        let mut last_checkpoint = std::time::Instant::now();
        let mut last_producer_expiry = std::time::Instant::now();
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
            if last_producer_expiry.elapsed()
                >= Duration::from_millis(self.options.producer_id_expiration_check_interval_ms)
            {
                for t in &topics {
                    for log in t.partitions() {
                        log.expire_producers(now, self.options.producer_id_expiration_ms);
                    }
                }
                last_producer_expiry = std::time::Instant::now();
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

pub(super) fn read_partition_metadata(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .map(|id| id.trim().to_string())
}

pub(super) fn write_partition_metadata(dir: &Path, topic_id: &str) -> Result<(), LogError> {
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

//! Topic-level log configuration under Kafka's property names.
//!
//! [`LogConfig`] holds the resolved values a partition runs with;
//! [`TopicConfig`] keeps which keys were set explicitly (what `describe`
//! shows and what the data directory persists) next to the resolved values.
//! Every key is Kafka's (`kafka-format.md` §8, `LogConfig.java`), with Kafka's
//! defaults and validators; an unknown key or a bad value is a [`ConfigError`]
//! naming the key.
//!
//! Defaults follow Kafka 4.x (`message.timestamp.after.max.ms` = 1 hour) except
//! that `segment.bytes` may go down to 14 bytes as in Kafka 3.x, so small logs
//! can roll in tests and demos.

use std::collections::BTreeMap;
use std::fmt;

use weir_record::{Compression, CompressionConfig, TimestampType};

mod keys;

use keys::KEYS;
pub use keys::parse_i64;

/// A configuration key that is unknown or a value that does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No such key.
    #[error("unknown config key {key:?}")]
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// The value does not parse or is out of range.
    #[error("invalid value {value:?} for config {key}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One change names a key more than once: set twice, or both set and
    /// deleted. Kafka's IncrementalAlterConfigs refuses such a request
    /// ("duplicate config keys") and changes nothing.
    #[error("config {key} is named more than once in one change (set twice, or set and deleted)")]
    DuplicateKey {
        /// The key.
        key: String,
    },
}

impl ConfigError {
    /// The key the error is about.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::UnknownKey { key }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::DuplicateKey { key } => key,
        }
    }

    /// An [`InvalidValue`](ConfigError::InvalidValue) error.
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `cleanup.policy`: delete old segments, compact to the latest value per key,
/// or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// `delete` is in the list: retention by time and size applies.
    pub delete: bool,
    /// `compact` is in the list: the cleaner keeps the latest record per key.
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete`, Kafka's default.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// `compact`.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            (false, true) => f.write_str("delete"),
            (false, false) => Ok(()),
        }
    }
}

/// `compression.type` of a topic: keep what the producer sent, or the codec
/// the log stores batches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicCompression {
    /// `producer`: batches are stored as the producer compressed them.
    Producer,
    /// `uncompressed` or a codec: batches in another codec are re-compressed.
    Codec(Compression),
}

impl fmt::Display for TopicCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicCompression::Producer => f.write_str("producer"),
            TopicCompression::Codec(Compression::None) => f.write_str("uncompressed"),
            TopicCompression::Codec(c) => write!(f, "{c}"),
        }
    }
}

/// The resolved configuration of a topic's partitions (Kafka's `LogConfig`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogConfig {
    /// `segment.bytes`: roll when the next batch would not fit.
    pub segment_bytes: u32,
    /// `segment.ms`: roll when the segment's first batch is this old.
    pub segment_ms: i64,
    /// `segment.jitter.ms`: subtracted from `segment.ms` (Kafka draws a random
    /// jitter below it per segment; Weir uses it as given, deterministically).
    pub segment_jitter_ms: i64,
    /// `segment.index.bytes`: size of the preallocated index files; roll when full.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: bytes between sparse index entries.
    pub index_interval_bytes: u32,
    /// `max.message.bytes`: largest batch accepted, after compression.
    pub max_message_bytes: u32,
    /// `message.timestamp.type`: CreateTime or LogAppendTime.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may be.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may be.
    pub message_timestamp_after_max_ms: i64,
    /// `flush.messages`: fsync after this many records (Long.MAX: never forced).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the oldest unflushed data is this old (Long.MAX: never).
    pub flush_ms: i64,
    /// `retention.ms`: delete segments older than this (-1: forever).
    pub retention_ms: i64,
    /// `retention.bytes`: per-partition size bound (-1: none).
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `delete.retention.ms`: how long tombstones and markers survive compaction.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `file.delete.delay.ms`: how long `.deleted` files stay before unlinking.
    pub file_delete_delay_ms: i64,
    /// `compression.type`.
    pub compression_type: TopicCompression,
    /// `compression.gzip.level` (-1: zlib's default).
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// `min.insync.replicas`: a single node has one replica, so only 1 is accepted.
    pub min_insync_replicas: i32,
    /// `preallocate` (no effect here: segment files grow as they are written).
    pub preallocate: bool,
    /// `unclean.leader.election.enable` (no effect: one node, one replica).
    pub unclean_leader_election_enable: bool,
    /// `message.downconversion.enable` (no effect: no old-format fetchers).
    pub message_downconversion_enable: bool,
    /// `leader.replication.throttled.replicas` (no effect: no replication).
    pub leader_replication_throttled_replicas: String,
    /// `follower.replication.throttled.replicas` (no effect: no replication).
    pub follower_replication_throttled_replicas: String,
    /// `remote.storage.enable`: tiered storage is not available in process,
    /// so only `false` is accepted.
    pub remote_storage_enable: bool,
    /// `local.retention.ms` (no effect without tiered storage; -2: as
    /// `retention.ms`).
    pub local_retention_ms: i64,
    /// `local.retention.bytes` (no effect without tiered storage; -2: as
    /// `retention.bytes`).
    pub local_retention_bytes: i64,
    /// `remote.log.copy.disable` (no effect without tiered storage).
    pub remote_log_copy_disable: bool,
    /// `remote.log.delete.on.disable` (no effect without tiered storage).
    pub remote_log_delete_on_disable: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_jitter_ms: 0,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 60 * 60 * 1000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::DELETE,
            min_cleanable_dirty_ratio: 0.5,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            compression_type: TopicCompression::Producer,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            min_insync_replicas: 1,
            preallocate: false,
            unclean_leader_election_enable: false,
            message_downconversion_enable: true,
            leader_replication_throttled_replicas: String::new(),
            follower_replication_throttled_replicas: String::new(),
            remote_storage_enable: false,
            local_retention_ms: -2,
            local_retention_bytes: -2,
            remote_log_copy_disable: false,
            remote_log_delete_on_disable: false,
        }
    }
}

impl LogConfig {
    /// Every key this config understands, with a one-line description.
    pub fn keys() -> impl Iterator<Item = (&'static str, &'static str)> {
        KEYS.iter().map(|k| (k.name, k.doc))
    }

    /// Sets one key from its Kafka string form.
    ///
    /// # Errors
    /// [`ConfigError::UnknownKey`] or [`ConfigError::InvalidValue`]; the config
    /// is unchanged on error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let mut next = self.clone();
        next.set_unchecked(key, value)?;
        next.check()?;
        *self = next;
        Ok(())
    }

    /// Sets one key without the cross-key rules, for changes of several keys
    /// that are checked once, together (as Kafka validates a whole config).
    fn set_unchecked(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let entry = KEYS
            .iter()
            .find(|k| k.name == key)
            .ok_or_else(|| ConfigError::UnknownKey {
                key: key.to_string(),
            })?;
        (entry.set)(self, key, value)
    }

    /// The value of a key in Kafka's string form, or `None` for an unknown key.
    pub fn get(&self, key: &str) -> Option<String> {
        KEYS.iter().find(|k| k.name == key).map(|k| (k.get)(self))
    }

    /// A config from defaults overridden by `props`; the cross-key rules
    /// hold for the result, whatever the order of the keys.
    ///
    /// # Errors
    /// The first unknown key or invalid value; a broken cross-key rule.
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut config = LogConfig::default();
        for (k, v) in props {
            config.set_unchecked(k, v)?;
        }
        config.check()?;
        Ok(config)
    }

    /// Cross-key rules Kafka enforces.
    fn check(&self) -> Result<(), ConfigError> {
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(ConfigError::invalid(
                "min.compaction.lag.ms",
                &self.min_compaction_lag_ms.to_string(),
                format!(
                    "must not exceed max.compaction.lag.ms ({})",
                    self.max_compaction_lag_ms
                ),
            ));
        }
        Ok(())
    }

    /// The codec and level the log re-compresses batches with, when
    /// `compression.type` names one.
    pub fn recompression(&self) -> Option<CompressionConfig> {
        let TopicCompression::Codec(codec) = self.compression_type else {
            return None;
        };
        let level = match codec {
            Compression::Gzip => self.compression_gzip_level,
            Compression::Lz4 => self.compression_lz4_level,
            Compression::Zstd => self.compression_zstd_level,
            _ => return Some(CompressionConfig::new(codec)),
        };
        Some(CompressionConfig::with_level(codec, level).unwrap_or(CompressionConfig::new(codec)))
    }

    /// The index entries a preallocated `.index` file holds.
    pub fn max_offset_index_entries(&self) -> usize {
        (self.segment_index_bytes as usize / crate::index::OFFSET_INDEX_ENTRY_SIZE).max(1)
    }

    /// The index entries a preallocated `.timeindex` file holds.
    pub fn max_time_index_entries(&self) -> usize {
        (self.segment_index_bytes as usize / crate::index::TIME_INDEX_ENTRY_SIZE).max(1)
    }
}

/// A topic's configuration: the keys set explicitly and the resolved values.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    resolved: LogConfig,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig::new(LogConfig::default())
    }
}

impl TopicConfig {
    /// A topic config with no overrides over `defaults`.
    pub fn new(defaults: LogConfig) -> Self {
        TopicConfig {
            overrides: BTreeMap::new(),
            resolved: defaults,
        }
    }

    /// `defaults` overridden by `props`, for a new topic. A key given twice
    /// takes its last value (as `kafka-topics --create --config` does).
    ///
    /// # Errors
    /// The first unknown key or invalid value; a broken cross-key rule (of
    /// the result, whatever the order of the keys).
    pub fn with_overrides<'a>(
        defaults: LogConfig,
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut config = TopicConfig::new(defaults.clone());
        let set: Vec<(&str, &str)> = props.into_iter().collect();
        config.apply(&set, &[], &defaults, true)?;
        Ok(config)
    }

    /// `defaults` overridden by the stored `props` of an existing topic, as
    /// a data directory opens it: each key and value is checked, but not the
    /// cross-key rules (`min.compaction.lag.ms` at most
    /// `max.compaction.lag.ms`), as Kafka checks those only when a config is
    /// created or altered. A topic whose override no longer fits a default
    /// changed since still opens (and a Kafka broker still starts); the next
    /// [`alter`](Self::alter) of it must fix that.
    ///
    /// # Errors
    /// The first unknown key or invalid value.
    pub fn with_stored_overrides<'a>(
        defaults: LogConfig,
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut config = TopicConfig::new(defaults.clone());
        let set: Vec<(&str, &str)> = props.into_iter().collect();
        config.apply(&set, &[], &defaults, false)?;
        Ok(config)
    }

    /// Sets the keys of `set` and removes the overrides of `delete` (back to
    /// `defaults`' values), all or nothing; the cross-key rules are checked
    /// once, on the result, so the order of the keys does not matter (Kafka's
    /// IncrementalAlterConfigs). A key named twice, in `set` or in both
    /// lists, is refused as Kafka refuses it.
    ///
    /// # Errors
    /// [`ConfigError::DuplicateKey`]; the first unknown key or invalid value;
    /// a broken cross-key rule. Unchanged on error.
    pub fn alter(
        &mut self,
        set: &[(&str, &str)],
        delete: &[&str],
        defaults: &LogConfig,
    ) -> Result<(), ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        for k in set.iter().map(|(k, _)| *k).chain(delete.iter().copied()) {
            if !seen.insert(k) {
                return Err(ConfigError::DuplicateKey { key: k.to_string() });
            }
        }
        self.apply(set, delete, defaults, true)
    }

    /// [`alter`](Self::alter) without the duplicate check, and with the
    /// cross-key rules checked only when `cross_check`.
    fn apply(
        &mut self,
        set: &[(&str, &str)],
        delete: &[&str],
        defaults: &LogConfig,
        cross_check: bool,
    ) -> Result<(), ConfigError> {
        let mut next = self.clone();
        for (k, v) in set {
            next.resolved.set_unchecked(k, v)?;
            next.overrides
                .insert((*k).to_string(), v.trim().to_string());
        }
        for k in delete {
            let default = defaults.get(k).ok_or_else(|| ConfigError::UnknownKey {
                key: (*k).to_string(),
            })?;
            next.overrides.remove(*k);
            next.resolved.set_unchecked(k, &default)?;
        }
        if cross_check {
            next.resolved.check()?;
        }
        *self = next;
        Ok(())
    }

    /// Sets (overrides) a key.
    ///
    /// # Errors
    /// As [`LogConfig::set`]; unchanged on error.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.resolved.set(key, value)?;
        self.overrides
            .insert(key.to_string(), value.trim().to_string());
        Ok(())
    }

    /// Removes an override, returning the key to `defaults`' value.
    ///
    /// # Errors
    /// [`ConfigError::UnknownKey`] for a key no config has.
    pub fn unset(&mut self, key: &str, defaults: &LogConfig) -> Result<(), ConfigError> {
        self.alter(&[], &[key], defaults)
    }

    /// The keys set explicitly, with their values as given.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The resolved config.
    pub fn log_config(&self) -> &LogConfig {
        &self.resolved
    }

    /// Every key with its value and whether it was set explicitly, sorted by key.
    pub fn describe(&self) -> Vec<(&'static str, String, bool)> {
        KEYS.iter()
            .map(|k| {
                (
                    k.name,
                    (k.get)(&self.resolved),
                    self.overrides.contains_key(k.name),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let c = LogConfig::default();
        assert_eq!(c.get("segment.bytes").unwrap(), "1073741824");
        assert_eq!(c.get("retention.ms").unwrap(), "604800000");
        assert_eq!(c.get("max.message.bytes").unwrap(), "1048588");
        assert_eq!(c.get("cleanup.policy").unwrap(), "delete");
        assert_eq!(c.get("compression.type").unwrap(), "producer");
        assert_eq!(c.get("message.timestamp.type").unwrap(), "CreateTime");
        assert_eq!(c.get("index.interval.bytes").unwrap(), "4096");
        assert_eq!(c.max_offset_index_entries(), 1_310_720);
    }

    #[test]
    fn errors_name_the_key() {
        let err = LogConfig::from_props([("retention.msec", "5")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownKey {
                key: "retention.msec".into()
            }
        );
        let err = LogConfig::from_props([("segment.bytes", "10")]).unwrap_err();
        assert_eq!(err.key(), "segment.bytes");
        assert!(err.to_string().contains("between 14 and"), "{err}");
        for (k, v) in [
            ("cleanup.policy", "forever"),
            ("cleanup.policy", ""),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("compression.type", "brotli"),
            ("compression.zstd.level", "99"),
            ("message.timestamp.type", "createtime"),
            ("retention.ms", "-2"),
            ("flush.messages", "0"),
            ("min.insync.replicas", "2"),
            ("segment.ms", "soon"),
        ] {
            let err = LogConfig::from_props([(k, v)]).unwrap_err();
            assert_eq!(err.key(), k, "{err}");
        }
        let err = LogConfig::from_props([
            ("max.compaction.lag.ms", "10"),
            ("min.compaction.lag.ms", "20"),
        ])
        .unwrap_err();
        assert_eq!(err.key(), "min.compaction.lag.ms");
    }

    #[test]
    fn overrides_are_kept_and_unset() {
        let mut t = TopicConfig::with_overrides(
            LogConfig::default(),
            [
                ("cleanup.policy", "compact, delete"),
                ("segment.bytes", "1024"),
            ],
        )
        .unwrap();
        assert_eq!(
            t.log_config().cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(
            t.log_config().get("cleanup.policy").unwrap(),
            "compact,delete"
        );
        assert_eq!(t.overrides().len(), 2);
        t.unset("segment.bytes", &LogConfig::default()).unwrap();
        assert_eq!(t.log_config().segment_bytes, 1 << 30);
        assert_eq!(t.overrides().len(), 1);
        let described = t.describe();
        assert!(
            described
                .iter()
                .any(|(k, v, set)| *k == "cleanup.policy" && v == "compact,delete" && *set)
        );
    }

    #[test]
    fn recompression_levels() {
        let c = LogConfig::from_props([
            ("compression.type", "zstd"),
            ("compression.zstd.level", "7"),
        ])
        .unwrap();
        let r = c.recompression().unwrap();
        assert_eq!((r.compression(), r.level()), (Compression::Zstd, 7));
        assert_eq!(LogConfig::default().recompression(), None);
    }
}

#[cfg(test)]
mod kafka_keys_and_order {
    use super::*;

    /// Kafka validates a change as a whole: the order of the keys in one
    /// change, and sets mixed with deletes, do not matter.
    #[test]
    fn a_change_is_checked_as_a_whole() {
        let defaults = LogConfig::default();
        let base = || {
            TopicConfig::with_overrides(
                defaults.clone(),
                [
                    ("min.compaction.lag.ms", "500"),
                    ("max.compaction.lag.ms", "1000"),
                ],
            )
            .unwrap()
        };
        let mut c = base();
        c.alter(
            &[
                ("max.compaction.lag.ms", "200"),
                ("min.compaction.lag.ms", "100"),
            ],
            &[],
            &defaults,
        )
        .unwrap();
        assert_eq!(c.log_config().min_compaction_lag_ms, 100);
        assert_eq!(c.log_config().max_compaction_lag_ms, 200);
        let mut c = base();
        c.alter(
            &[("max.compaction.lag.ms", "200")],
            &["min.compaction.lag.ms"],
            &defaults,
        )
        .unwrap();
        assert_eq!(c.log_config().min_compaction_lag_ms, 0);
        assert!(!c.overrides().contains_key("min.compaction.lag.ms"));
        // A result that breaks the rule is refused, and nothing changes.
        let mut c = base();
        let before = c.clone();
        assert!(
            c.alter(&[("max.compaction.lag.ms", "200")], &[], &defaults)
                .is_err()
        );
        assert_eq!(c, before);
        assert!(
            LogConfig::from_props([
                ("max.compaction.lag.ms", "200"),
                ("min.compaction.lag.ms", "100"),
            ])
            .is_ok()
        );
    }

    /// Topic keys Kafka accepts that mean nothing on one node are accepted,
    /// so that a Kafka topic's configs apply as they are.
    #[test]
    fn kafkas_replication_and_tiered_storage_keys_are_accepted() {
        let c = LogConfig::from_props([
            ("preallocate", "false"),
            ("unclean.leader.election.enable", "TRUE"),
            ("message.downconversion.enable", "false"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", "*"),
            ("remote.storage.enable", "false"),
            ("local.retention.ms", "-2"),
            ("local.retention.bytes", "1000"),
            ("remote.log.copy.disable", "false"),
            ("remote.log.delete.on.disable", "false"),
        ])
        .unwrap();
        assert!(c.unclean_leader_election_enable);
        assert_eq!(
            c.get("follower.replication.throttled.replicas").unwrap(),
            "*"
        );
        for (k, v) in [
            ("remote.storage.enable", "true"),
            ("preallocate", "yes"),
            ("leader.replication.throttled.replicas", "0-1"),
            ("local.retention.ms", "-3"),
        ] {
            assert!(
                matches!(
                    LogConfig::from_props([(k, v)]),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{k}={v}"
            );
        }
    }
}

//! Every topic config key Kafka has: its name, description, parser (with Kafka's
//! validator) and how its value is shown.

use super::{CleanupPolicy, ConfigError, LogConfig, TopicCompression};
use weir_record::{Compression, CompressionConfig, TimestampType};

/// One topic config key: its name, what it means, and how to read and show it.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) doc: &'static str,
    pub(super) set: fn(&mut LogConfig, &str, &str) -> Result<(), ConfigError>,
    pub(super) get: fn(&LogConfig) -> String,
}

/// Parses a config value as a 64-bit integer of at least `min`, as every
/// Kafka `long` config is read here and in the crates above.
///
/// # Errors
/// [`ConfigError::InvalidValue`] naming `key` for text that is not an integer or
/// is below `min`.
pub fn parse_i64(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    let v: i64 = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, value, "not a 64-bit integer"))?;
    if v < min {
        return Err(ConfigError::invalid(
            key,
            value,
            format!("must be at least {min}"),
        ));
    }
    Ok(v)
}

pub(super) fn parse_i32(key: &str, value: &str, min: i32, max: i32) -> Result<i32, ConfigError> {
    let v: i32 = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, value, "not a 32-bit integer"))?;
    if v < min || v > max {
        return Err(ConfigError::invalid(
            key,
            value,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(v)
}

pub(super) fn parse_u32(key: &str, value: &str, min: u32) -> Result<u32, ConfigError> {
    let v = parse_i32(key, value, i32::try_from(min).unwrap_or(i32::MAX), i32::MAX)?;
    u32::try_from(v).map_err(|_| ConfigError::invalid(key, value, "must not be negative"))
}

pub(super) fn parse_level(key: &str, value: &str, codec: Compression) -> Result<i32, ConfigError> {
    let v: i32 = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, value, "not a 32-bit integer"))?;
    CompressionConfig::with_level(codec, v)
        .map_err(|e| ConfigError::invalid(key, value, e.to_string()))?;
    Ok(v)
}

/// A Kafka boolean (`true` or `false`, any case).
pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::invalid(key, value, "must be true or false")),
    }
}

/// Kafka's throttled-replica list: empty, `*`, or `partition:broker` pairs
/// separated by commas.
pub(super) fn parse_replica_list(key: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    let pair = |p: &str| {
        p.split_once(':').is_some_and(|(a, b)| {
            a.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
        })
    };
    if v.is_empty() || v == "*" || v.split(',').all(pair) {
        return Ok(v.to_string());
    }
    Err(ConfigError::invalid(
        key,
        value,
        "must be *, or partition:broker pairs separated by commas",
    ))
}

macro_rules! key {
    ($name:literal, $doc:literal, $field:ident, |$k:ident, $v:ident| $parse:expr) => {
        Key {
            name: $name,
            doc: $doc,
            set: |c, $k, $v| {
                c.$field = $parse?;
                Ok(())
            },
            get: |c| c.$field.to_string(),
        }
    };
}

pub(super) const KEYS: &[Key] = &[
    key!(
        "cleanup.policy",
        "delete, compact, or compact,delete",
        cleanup_policy,
        |k, v| { parse_cleanup_policy(k, v) }
    ),
    key!(
        "compression.type",
        "producer, uncompressed, gzip, snappy, lz4 or zstd",
        compression_type,
        |k, v| { parse_topic_compression(k, v) }
    ),
    key!(
        "compression.gzip.level",
        "gzip level for re-compressed batches (1-9, -1 default)",
        compression_gzip_level,
        |k, v| { parse_level(k, v, Compression::Gzip) }
    ),
    key!(
        "compression.lz4.level",
        "lz4 level for re-compressed batches (1-17)",
        compression_lz4_level,
        |k, v| { parse_level(k, v, Compression::Lz4) }
    ),
    key!(
        "compression.zstd.level",
        "zstd level for re-compressed batches",
        compression_zstd_level,
        |k, v| { parse_level(k, v, Compression::Zstd) }
    ),
    key!(
        "delete.retention.ms",
        "how long tombstones survive compaction",
        delete_retention_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "file.delete.delay.ms",
        "delay before a .deleted file is unlinked",
        file_delete_delay_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "flush.messages",
        "fsync after this many records",
        flush_messages,
        |k, v| { parse_i64(k, v, 1) }
    ),
    key!(
        "flush.ms",
        "fsync when unflushed data is this old",
        flush_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "follower.replication.throttled.replicas",
        "no effect on one node (accepted as Kafka's)",
        follower_replication_throttled_replicas,
        |k, v| { parse_replica_list(k, v) }
    ),
    key!(
        "index.interval.bytes",
        "bytes between offset index entries",
        index_interval_bytes,
        |k, v| { parse_u32(k, v, 0) }
    ),
    key!(
        "leader.replication.throttled.replicas",
        "no effect on one node (accepted as Kafka's)",
        leader_replication_throttled_replicas,
        |k, v| { parse_replica_list(k, v) }
    ),
    key!(
        "local.retention.bytes",
        "no effect without tiered storage (accepted as Kafka's)",
        local_retention_bytes,
        |k, v| { parse_i64(k, v, -2) }
    ),
    key!(
        "local.retention.ms",
        "no effect without tiered storage (accepted as Kafka's)",
        local_retention_ms,
        |k, v| { parse_i64(k, v, -2) }
    ),
    key!(
        "max.compaction.lag.ms",
        "longest a record stays uncompacted",
        max_compaction_lag_ms,
        |k, v| { parse_i64(k, v, 1) }
    ),
    key!(
        "max.message.bytes",
        "largest batch accepted, after compression",
        max_message_bytes,
        |k, v| { parse_u32(k, v, 0) }
    ),
    key!(
        "message.downconversion.enable",
        "no effect: no old-format fetchers (accepted as Kafka's)",
        message_downconversion_enable,
        |k, v| { parse_bool(k, v) }
    ),
    key!(
        "message.timestamp.after.max.ms",
        "how far ahead of now a CreateTime may be",
        message_timestamp_after_max_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "message.timestamp.before.max.ms",
        "how far behind now a CreateTime may be",
        message_timestamp_before_max_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "message.timestamp.type",
        "CreateTime or LogAppendTime",
        message_timestamp_type,
        |k, v| { parse_timestamp_type(k, v) }
    ),
    key!(
        "min.cleanable.dirty.ratio",
        "dirty share of the log that triggers compaction",
        min_cleanable_dirty_ratio,
        |k, v| { parse_ratio(k, v) }
    ),
    key!(
        "min.compaction.lag.ms",
        "shortest a record stays uncompacted",
        min_compaction_lag_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "min.insync.replicas",
        "replicas that must have a write for acks=all (1 on one node)",
        min_insync_replicas,
        |k, v| { parse_i32(k, v, 1, 1) }
    ),
    key!(
        "preallocate",
        "no effect: segment files grow as written (accepted as Kafka's)",
        preallocate,
        |k, v| { parse_bool(k, v) }
    ),
    key!(
        "remote.log.copy.disable",
        "no effect without tiered storage (accepted as Kafka's)",
        remote_log_copy_disable,
        |k, v| { parse_bool(k, v) }
    ),
    key!(
        "remote.log.delete.on.disable",
        "no effect without tiered storage (accepted as Kafka's)",
        remote_log_delete_on_disable,
        |k, v| { parse_bool(k, v) }
    ),
    key!(
        "remote.storage.enable",
        "tiered storage: not available in process, only false",
        remote_storage_enable,
        |k, v| {
            match parse_bool(k, v) {
                Ok(true) => Err(ConfigError::invalid(
                    k,
                    v,
                    "tiered storage is not available in process",
                )),
                other => other,
            }
        }
    ),
    key!(
        "retention.bytes",
        "per-partition size bound (-1: none)",
        retention_bytes,
        |k, v| { parse_i64(k, v, i64::MIN) }
    ),
    key!(
        "retention.ms",
        "delete segments older than this (-1: forever)",
        retention_ms,
        |k, v| { parse_i64(k, v, -1) }
    ),
    key!(
        "segment.bytes",
        "roll the segment at this size",
        segment_bytes,
        |k, v| { parse_u32(k, v, 14) }
    ),
    key!(
        "segment.index.bytes",
        "preallocated size of each index file",
        segment_index_bytes,
        |k, v| { parse_u32(k, v, 4) }
    ),
    key!(
        "segment.jitter.ms",
        "subtracted from segment.ms",
        segment_jitter_ms,
        |k, v| { parse_i64(k, v, 0) }
    ),
    key!(
        "segment.ms",
        "roll the segment when its first batch is this old",
        segment_ms,
        |k, v| { parse_i64(k, v, 1) }
    ),
    key!(
        "unclean.leader.election.enable",
        "no effect: one node, one replica (accepted as Kafka's)",
        unclean_leader_election_enable,
        |k, v| { parse_bool(k, v) }
    ),
];

pub(super) fn parse_cleanup_policy(key: &str, value: &str) -> Result<CleanupPolicy, ConfigError> {
    let mut policy = CleanupPolicy {
        delete: false,
        compact: false,
    };
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item {
            "delete" => policy.delete = true,
            "compact" => policy.compact = true,
            other => {
                return Err(ConfigError::invalid(
                    key,
                    value,
                    format!("{other:?} is not delete or compact"),
                ));
            }
        }
    }
    if !policy.delete && !policy.compact {
        return Err(ConfigError::invalid(
            key,
            value,
            "needs delete, compact or both",
        ));
    }
    Ok(policy)
}

pub(super) fn parse_topic_compression(
    key: &str,
    value: &str,
) -> Result<TopicCompression, ConfigError> {
    match value.trim() {
        "producer" => Ok(TopicCompression::Producer),
        "uncompressed" => Ok(TopicCompression::Codec(Compression::None)),
        "gzip" => Ok(TopicCompression::Codec(Compression::Gzip)),
        "snappy" => Ok(TopicCompression::Codec(Compression::Snappy)),
        "lz4" => Ok(TopicCompression::Codec(Compression::Lz4)),
        "zstd" => Ok(TopicCompression::Codec(Compression::Zstd)),
        _ => Err(ConfigError::invalid(
            key,
            value,
            "must be producer, uncompressed, gzip, snappy, lz4 or zstd",
        )),
    }
}

pub(super) fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(ConfigError::invalid(
            key,
            value,
            "must be CreateTime or LogAppendTime",
        )),
    }
}

pub(super) fn parse_ratio(key: &str, value: &str) -> Result<f64, ConfigError> {
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, value, "not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(ConfigError::invalid(key, value, "must be between 0 and 1"));
    }
    Ok(v)
}

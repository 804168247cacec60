//! [`LogError`]: everything the log and the data directory can fail with.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use weir_record::RecordError;

use crate::config::ConfigError;

/// Why a log or data-directory operation failed. Variants carry what a caller
/// needs to act on: the partition, the file and byte position, the limit passed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A file operation failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// Data on disk is not sound where it must be: a bad batch below the
    /// recovery point (which was fsynced, so it is not a torn tail), or an index
    /// that contradicts the log. Nothing is truncated for it.
    #[error("{}: byte {position}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte position of the bad batch or entry.
        position: u64,
        /// What is wrong.
        reason: String,
    },

    /// An earlier write or fsync failed, so the partition accepts no more
    /// appends: nothing after that failure may be reported as written.
    #[error("{partition} is read-only since a write or fsync failed: {source}")]
    ReadOnly {
        /// `<topic>-<partition>`.
        partition: String,
        /// The first failure.
        #[source]
        source: Arc<io::Error>,
    },

    /// An offset outside the log.
    #[error(
        "{partition}: offset {offset} is out of range: the log holds offsets {log_start_offset} to {log_end_offset} (exclusive)"
    )]
    OffsetOutOfRange {
        /// `<topic>-<partition>`.
        partition: String,
        /// The offset asked for.
        offset: i64,
        /// The first offset held.
        log_start_offset: i64,
        /// The next offset to be written.
        log_end_offset: i64,
    },

    /// The log has no offsets left for a batch: its offsets would pass the
    /// largest Kafka can hold (`i64::MAX`). Only a directory whose segments are
    /// named near that offset gets here.
    #[error(
        "{partition}: no offsets left: {records} offsets from {next_offset} would pass {}",
        i64::MAX
    )]
    OffsetsExhausted {
        /// `<topic>-<partition>`.
        partition: String,
        /// The next offset the log would give.
        next_offset: i64,
        /// The offsets the batch needs.
        records: i64,
    },

    /// A batch larger than a limit.
    #[error("{partition}: a batch of {size} bytes exceeds {config} ({max})")]
    BatchTooLarge {
        /// `<topic>-<partition>`.
        partition: String,
        /// The batch's size in bytes.
        size: usize,
        /// The limit.
        max: u64,
        /// The config key that sets the limit.
        config: &'static str,
    },

    /// A batch the log does not accept: wrong magic, bad CRC, inconsistent
    /// header, control batch from a client, ...
    #[error("{partition}: invalid batch: {reason}")]
    InvalidBatch {
        /// `<topic>-<partition>`.
        partition: String,
        /// What is wrong.
        reason: String,
        /// The decoding error, when there is one.
        #[source]
        source: Option<RecordError>,
    },

    /// A CreateTime outside `message.timestamp.before.max.ms` /
    /// `message.timestamp.after.max.ms`.
    #[error(
        "{partition}: timestamp {timestamp} is more than {config} = {max_ms} ms from now ({now})"
    )]
    InvalidTimestamp {
        /// `<topic>-<partition>`.
        partition: String,
        /// The offending timestamp.
        timestamp: i64,
        /// The log's clock.
        now: i64,
        /// The config key that was exceeded.
        config: &'static str,
        /// Its value.
        max_ms: i64,
    },

    /// The partition or data directory was closed.
    #[error("{what} is closed")]
    Closed {
        /// What was closed.
        what: String,
    },

    /// A topic id Kafka would not accept (a `Uuid` in its 22-character
    /// base64url form).
    #[error("invalid topic id {id:?}: {reason}")]
    InvalidTopicId {
        /// The id as given.
        id: String,
        /// Why it is invalid.
        reason: String,
    },

    /// A topic name Kafka would not accept.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: String,
    },

    /// The topic exists already.
    #[error("topic {topic} already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },

    /// The name differs from an existing topic's only in `.` versus `_`, which
    /// collide in Kafka's metric names.
    #[error("topic {topic} collides with existing topic {existing} ('.' and '_' collide)")]
    TopicCollision {
        /// The new name.
        topic: String,
        /// The existing name.
        existing: String,
    },

    /// No such topic.
    #[error("unknown topic {topic}")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },

    /// No such partition.
    #[error("topic {topic} has {partitions} partitions; there is no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many the topic has.
        partitions: u32,
    },

    /// A partition count that cannot be used.
    #[error("topic {topic}: {reason}")]
    InvalidPartitions {
        /// The topic.
        topic: String,
        /// What is wrong with the count.
        reason: String,
    },

    /// A topic config key or value was rejected.
    #[error("topic {topic}: {source}")]
    Config {
        /// The topic.
        topic: String,
        /// The rejected key or value.
        #[source]
        source: ConfigError,
    },

    /// Another process (or another `LogDir` in this one) has the data directory
    /// open.
    #[error("{} is in use by another process{}", path.display(), holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    DirLocked {
        /// The data directory.
        path: PathBuf,
        /// What the lock file says about its holder, when readable.
        holder: Option<String>,
    },

    /// The data directory's own metadata file is unreadable.
    #[error("{}: {reason}", path.display())]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A producer's sequence number does not follow its last one (idempotence).
    #[error(
        "{partition}: out of order sequence for producer {producer_id} epoch {producer_epoch}: got {sequence}, expected {expected}"
    )]
    OutOfOrderSequence {
        /// `<topic>-<partition>`.
        partition: String,
        /// The producer id.
        producer_id: i64,
        /// The producer epoch.
        producer_epoch: i16,
        /// The batch's base sequence.
        sequence: i32,
        /// What the log expected.
        expected: i32,
    },

    /// A producer epoch older than the one the log has seen (a zombie producer).
    #[error(
        "{partition}: producer {producer_id} epoch {producer_epoch} is fenced by epoch {current_epoch}"
    )]
    ProducerFenced {
        /// `<topic>-<partition>`.
        partition: String,
        /// The producer id.
        producer_id: i64,
        /// The batch's epoch.
        producer_epoch: i16,
        /// The newer epoch the log knows.
        current_epoch: i16,
    },
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| LogError::Io { path, op, source }
    }

    pub(crate) fn invalid_batch(partition: &str, reason: impl Into<String>) -> Self {
        LogError::InvalidBatch {
            partition: partition.to_string(),
            reason: reason.into(),
            source: None,
        }
    }

    /// Whether the error leaves the partition unable to take appends.
    pub fn is_read_only(&self) -> bool {
        matches!(self, LogError::ReadOnly { .. })
    }
}

//! [`WeirError`]: what producers, consumers and admin calls fail with.

use std::sync::Arc;

use weir_log::{ConfigError, LogError};
use weir_record::RecordError;

/// Why a Weir call failed.
///
/// Cloneable, so one failure can be delivered to every record of a batch; the
/// underlying log and encoding errors are shared behind an `Arc`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WeirError {
    /// The log or the data directory failed (unknown topic, out-of-range
    /// offset, read-only partition, I/O, ...).
    #[error(transparent)]
    Log(Arc<LogError>),

    /// A consumer group call failed (an old generation, an unknown member, a
    /// group that is not empty, ...).
    #[error(transparent)]
    Group(#[from] weir_group::GroupError),

    /// A client or topic config key is unknown or its value invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A record or batch could not be encoded or decoded.
    #[error(transparent)]
    Record(Arc<RecordError>),

    /// A record larger than a limit.
    #[error("a record of {size} bytes exceeds {config} ({max})")]
    RecordTooLarge {
        /// The record's serialized size.
        size: usize,
        /// The limit.
        max: u64,
        /// The config key that sets it.
        config: &'static str,
    },

    /// `buffer.memory` stayed full for `max.block.ms`.
    #[error(
        "could not allocate {needed} bytes of buffer.memory ({buffer_memory}) within max.block.ms ({max_block_ms} ms)"
    )]
    BufferExhausted {
        /// Bytes the record needed.
        needed: u64,
        /// The configured `buffer.memory`.
        buffer_memory: u64,
        /// The configured `max.block.ms`.
        max_block_ms: u64,
    },

    /// The producer, consumer or data directory was closed.
    #[error("{what} is closed")]
    Closed {
        /// What was closed.
        what: String,
    },

    /// `poll` on a consumer that is neither subscribed to topics nor assigned
    /// partitions (Kafka's `IllegalStateException`).
    #[error("the consumer is not subscribed to any topics or assigned any partitions")]
    NotSubscribed,

    /// An operation that an internal topic (`__consumer_offsets`, ...) does
    /// not allow: a producer's record (only its coordinator writes to it, and
    /// Kafka refuses client appends too, with `InvalidTopicException`), or
    /// [`Admin::delete_topic`](crate::Admin::delete_topic) (see there).
    #[error("cannot {operation} internal topic {topic}: {}", operation.reason())]
    InternalTopic {
        /// The topic.
        topic: String,
        /// What was refused.
        operation: InternalTopicOperation,
    },

    /// The consumer was woken by its
    /// [`ConsumerWakeup`](crate::ConsumerWakeup) (Kafka's `WakeupException`):
    /// the poll under way, or the next one, returns this instead of records.
    #[error("the consumer was woken up")]
    Wakeup,

    /// A partition that is not assigned to this consumer.
    #[error("{topic}-{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// No position and `auto.offset.reset=none`.
    #[error("{topic}-{partition} has no position and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// An offset outside the log (retention or DeleteRecords moved its start
    /// past it, or it is beyond the end): a consumer's position with
    /// `auto.offset.reset=none` (Kafka's `OffsetOutOfRangeException`), or a
    /// bounded read's start with
    /// [`fail_on_data_loss(true)`](crate::BoundedReadBuilder::fail_on_data_loss).
    #[error(
        "{topic}-{partition}: offset {offset} is out of range (the log holds {log_start_offset}..{log_end_offset})"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The position that is out of range.
        offset: i64,
        /// The log's first offset.
        log_start_offset: i64,
        /// The log's end offset.
        log_end_offset: i64,
    },

    /// A bounded read of a topic that is not compacted found offsets missing
    /// between its batches: records that were appended are gone, or were
    /// never there (a topic compacted before its `cleanup.policy` became
    /// `delete`). Reported with
    /// [`fail_on_data_loss(true)`](crate::BoundedReadBuilder::fail_on_data_loss),
    /// the default, as Spark's `failOnDataLoss` reports it.
    #[error(
        "{topic}-{partition}: offsets {from}..{to} are missing from a topic that is not compacted (records lost?); fail_on_data_loss(false) reads past them"
    )]
    OffsetsMissing {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The first missing offset.
        from: i64,
        /// The offset after the last missing one.
        to: i64,
    },

    /// A fetched batch failed its CRC or did not decode.
    #[error("{topic}-{partition}: corrupt batch at offset {offset}: {reason}")]
    Corrupt {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The first offset not returned: a damaged record's offset (the
        /// records before it in its batch were returned; bytes after a
        /// batch's last record make that record the damaged one, as in
        /// Kafka), or, for a batch that fails as a whole (its CRC, its
        /// decompression), its base offset or the position when that is
        /// inside it. Seeking to `offset + 1` goes on past it (a batch that
        /// fails as a whole takes one such seek per offset; the reason names
        /// the offsets it holds). From a bounded read: the damaged batch's
        /// base offset.
        offset: i64,
        /// What is wrong.
        reason: String,
    },

    /// A wait ran out of time.
    #[error("timed out after {waited_ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited_ms: u64,
    },

    /// An argument that cannot be used.
    #[error("{0}")]
    InvalidArgument(String),

    /// A transactional producer's call that its transaction's state does not
    /// allow, or a transaction that cannot commit (Kafka's
    /// `IllegalStateException` and abortable `KafkaException`s): `reason`
    /// says which, and what to do (often: abort the transaction).
    #[error("transactional id {transactional_id}: {reason}")]
    Transaction {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// What is wrong.
        reason: String,
    },

    /// The transaction's end was already decided (written before its
    /// markers) and cannot be changed: retry that end. It also completes at
    /// the next open of the data directory, or from the coordinator's
    /// timeout thread.
    #[error(
        "transactional id {transactional_id}: the transaction is already decided to {}; retry that, or it completes at the next open",
        if *commit { "commit" } else { "abort" }
    )]
    TransactionDecided {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// Decided to commit (else to abort).
        commit: bool,
    },

    /// Another producer with the same `transactional.id` called
    /// `init_transactions` after this one, which can do nothing more (Kafka's
    /// `ProducerFencedException`): close it.
    #[error(
        "transactional id {transactional_id}: this producer (epoch {epoch}) was fenced by a newer one with the same transactional.id"
    )]
    ProducerFenced {
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// This producer's epoch.
        epoch: i16,
    },

    /// The topic's configs forbid the operation (Kafka's
    /// `PolicyViolationException`), e.g. deleting records of a topic whose
    /// `cleanup.policy` has no `delete`.
    #[error("{0}")]
    PolicyViolation(String),
}

/// What [`WeirError::InternalTopic`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InternalTopicOperation {
    /// A producer's record: only the topic's coordinator writes to it.
    Append,
    /// Deleting the topic: this process's group coordinator holds its
    /// partitions open while the `Weir` is open.
    Delete,
}

impl InternalTopicOperation {
    /// Why it is refused, and what to do instead.
    fn reason(self) -> &'static str {
        match self {
            InternalTopicOperation::Append => "only its coordinator writes to it",
            InternalTopicOperation::Delete => {
                "the group coordinator in this process holds it; to drop groups and their committed offsets, delete the groups (`weir groups delete`, `Admin::delete_group`)"
            }
        }
    }
}

impl std::fmt::Display for InternalTopicOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InternalTopicOperation::Append => "append to",
            InternalTopicOperation::Delete => "delete",
        })
    }
}

impl From<LogError> for WeirError {
    fn from(e: LogError) -> Self {
        WeirError::Log(Arc::new(e))
    }
}

impl From<RecordError> for WeirError {
    fn from(e: RecordError) -> Self {
        WeirError::Record(Arc::new(e))
    }
}

impl WeirError {
    /// The log error inside, if this is one.
    pub fn as_log_error(&self) -> Option<&LogError> {
        match self {
            WeirError::Log(e) => Some(e),
            _ => None,
        }
    }
}

//! Kafka's log on disk, in Kafka's own files: one partition's log
//! ([`PartitionLog`]) and a data directory of many ([`LogDir`]).
//!
//! A partition is a directory `<topic>-<partition>/` of segments named by their
//! base offset in 20 digits: `.log` (batches back to back), `.index` (sparse
//! offset → position), `.timeindex` (timestamp → offset) and, where a transaction
//! was aborted, `.txnindex` (`kafka-format.md` §5).
//!
//! - [`PartitionLog::append`] validates an encoded batch, stamps its base offset
//!   (outside the CRC), writes it, indexes it and wakes waiting readers;
//!   [`PartitionLog::fetch`] returns whole batches as `Bytes` without taking the
//!   writer's lock; [`PartitionLog::wait_for_data`] and
//!   [`PartitionLog::data_available`] wait for appends by notification (blocking
//!   or as a `Future` on any executor).
//! - Durability is explicit: an append is written to the OS;
//!   [`PartitionLog::flush_until`] / [`PartitionLog::durable`] fsync with group
//!   commit. A failed write or fsync turns the partition read-only.
//! - Opening after a crash recovers: segments past the recovery point are
//!   validated batch by batch, indexes rebuilt, a torn tail truncated; damage
//!   below the recovery point is an error, never a silent truncation.
//! - [`LogDir`] holds topics: Kafka's topic-name rules, per-topic configs under
//!   Kafka's names ([`LogConfig`]), an exclusive lock, checkpoints and a clean
//!   shutdown marker as Kafka writes them.
//! - [`verify`] checks logs on disk (Weir's or Kafka's), finds what is
//!   missing (segments, records below the checkpoints), and names every
//!   problem's file and byte position.
//!
//! ```
//! use weir_log::LogDir;
//! use weir_record::{BatchBuilder, BatchOptions, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let logs = LogDir::open(dir.path())?;
//! logs.create_topic("orders", 3, &[("retention.ms", "86400000")])?;
//! let log = logs.partition("orders", 1)?;
//!
//! let mut batch = BatchBuilder::new(BatchOptions::default());
//! batch.append(&Record::new("placed").with_key("order-1").with_timestamp(log.clock().now_ms()))?;
//! let info = log.append(batch.build()?)?;
//! log.flush_until(info.last_offset + 1)?; // acks=all: fsynced
//!
//! let fetched = log.fetch(0, 1 << 20)?;
//! let batch = fetched.batches().next().unwrap()?.batch;
//! assert_eq!(batch.base_offset(), 0);
//! logs.close()?; // clean shutdown: no recovery on the next open
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod append;
mod batch_header;
pub mod checkpoint;
pub mod clock;
pub mod config;
mod error;
mod fetch;
mod flush;
pub mod index;
mod log_dir;
mod partition;
pub mod paths;
mod producer_state;
mod recovery;
mod retention;
mod segment;
pub mod segment_file;
mod segment_read;
mod swap;
pub mod topic_name;
mod txn_index;
pub mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CleanupPolicy, ConfigError, LogConfig, TopicCompression, TopicConfig, parse_i64};
pub use error::LogError;
pub use fetch::{DataAvailable, FetchData, TimestampAndOffset};
pub use flush::Durable;
pub use log_dir::{
    CLEAN_SHUTDOWN_FILE, LOCK_FILE, LOG_START_OFFSET_CHECKPOINT, LogDir, LogDirOptions,
    MAX_PARTITIONS, PARTITION_METADATA_FILE, RECOVERY_POINT_CHECKPOINT, TOPICS_FILE, Topic,
};
pub use partition::{
    AppendInfo, AppendOrigin, OpenOptions, PartitionLog, RecoveryReport, SegmentInfo,
};
pub use retention::DeletedSegment;
pub use swap::{CleanedSegment, SwapStep};
pub use verify::{
    PartitionSummary, Problem, SegmentSummary, VerifyError, VerifyReport, verify_path,
    verify_report,
};

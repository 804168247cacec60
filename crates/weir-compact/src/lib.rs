//! Kafka's log cleaner for Weir: retention and compaction, crash-safe, in the
//! background or on demand.
//!
//! - [`apply_retention`]: delete old segments by `retention.ms`,
//!   `retention.bytes` and the log start offset (`cleanup.policy=delete`).
//! - Compaction (`cleanup.policy=compact`): the latest record per key
//!   survives, offsets and batch header fields kept, tombstones removed after
//!   `delete.retention.ms` through the batch delete horizon (KIP-534),
//!   cleaned segments swapped in through `.cleaned` → `.swap` files so a crash
//!   at any step loses nothing and shows no reader a mix.
//! - [`Cleaner`] runs both for a data directory: `log.cleaner.threads` threads
//!   choosing the dirtiest partition, a retention pass every
//!   `log.retention.check.interval.ms`, `.deleted` files unlinked after
//!   `file.delete.delay.ms`, Kafka's `cleaner-offset-checkpoint`.
//!
//! ```
//! use std::sync::Arc;
//! use weir_compact::{Cleaner, CleanerConfig};
//! use weir_log::LogDir;
//! use weir_record::{BatchBuilder, BatchOptions, Record};
//!
//! let dir = tempfile::tempdir()?;
//! let logs = Arc::new(LogDir::open(dir.path())?);
//! logs.create_topic("prices", 1, &[("cleanup.policy", "compact"), ("segment.bytes", "1024")])?;
//! let log = logs.partition("prices", 0)?;
//! for i in 0..100 {
//!     let mut b = BatchBuilder::new(BatchOptions::default());
//!     let now = log.clock().now_ms();
//!     b.append(&Record::new(format!("{i}")).with_key(format!("sku-{}", i % 5)).with_timestamp(now))?;
//!     log.append(b.build()?)?;
//! }
//! let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default())?;
//! let stats = cleaner.clean_partition("prices", 0)?.expect("closed segments to clean");
//! assert!(stats.records_kept < stats.records_read);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod clean;
mod cleaner;
mod config;
mod offset_map;
mod retention;
mod rewrite;
mod txn;

pub use clean::{CleanStats, Cleanable, cleanable};
pub use cleaner::{CLEANER_CHECKPOINT, CLEANER_STATE_FILE, Cleaner, PartitionCleaning};
pub use config::CleanerConfig;
pub use retention::{RetentionStats, apply_retention};

//! Apache Kafka's log in-process: topics and partitions stored as Kafka's own
//! segment files, with Kafka's producer, consumer and admin semantics and
//! config names, and no broker or network hop.
//!
//! - [`Weir`] opens a data directory (a Kafka log directory) and hands out the
//!   clients.
//! - [`Producer`]: `send` partitions a record (murmur2 for keys as the Java
//!   client, sticky for null keys), batches it (`batch.size`, `linger.ms`),
//!   compresses the batch in the producer, and delivers per `acks` (`0`
//!   queued, `1` written to the OS, `all` fsynced, group-committed). The
//!   returned [`DeliveryFuture`] can be waited on or awaited on any executor.
//! - [`Consumer`]: `assign`, `seek`, `poll` (blocking or async) with
//!   `fetch.min.bytes`, `fetch.max.wait.ms`, `max.poll.records` and friends;
//!   records share the fetched buffers.
//! - [`Weir::bounded_read`]: batch jobs read exactly up to the end offsets
//!   captured at start (or a time window) and get an integrity summary.
//! - Transactions: a [`Producer`] with a `transactional.id` writes records
//!   to many partitions, and a consumer's offsets, as one transaction that
//!   commits or aborts as a whole; `read_committed` consumers see only
//!   committed records (exactly-once consume-transform-produce, below).
//! - [`Admin`]: topics, configs, offsets, DeleteRecords.
//! - [`metrics`]: Kafka-named metrics through the `metrics`
//!   facade.
//!
//! ```
//! use std::time::Duration;
//! use weir::{Weir, ProducerRecord, TopicPartition};
//!
//! let dir = tempfile::tempdir()?;
//! let weir = Weir::open(dir.path())?;
//! weir.admin().create_topic("orders", 3, &[("retention.ms", "86400000")])?;
//!
//! let producer = weir.producer(&[("acks", "all"), ("linger.ms", "1")])?;
//! let delivery = producer.send(ProducerRecord::new("orders", r#"{"amount":12}"#).key("cust-42"))?;
//! let meta = delivery.wait()?; // fsynced
//!
//! let mut consumer = weir.consumer(&[("auto.offset.reset", "earliest")])?;
//! consumer.assign(&[TopicPartition::new("orders", meta.partition)])?;
//! let records = consumer.poll(Duration::from_secs(1))?;
//! assert_eq!(records.iter().next().unwrap().key_str(), Some("cust-42"));
//! producer.close();
//! weir.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Exactly once from one topic to another: the output records and the
//! input's offsets commit together, or neither does.
//!
//! ```
//! use std::time::Duration;
//! use weir::{OffsetAndMetadata, ProducerRecord, TopicPartition, Weir};
//!
//! let dir = tempfile::tempdir()?;
//! let weir = Weir::open(dir.path())?;
//! weir.admin().create_topic("orders", 1, &[])?;
//! weir.admin().create_topic("totals", 1, &[])?;
//! weir.producer(&[])?.send(ProducerRecord::new("orders", "12"))?.wait()?;
//!
//! let mut consumer = weir.consumer(&[
//!     ("group.id", "totals"),
//!     ("isolation.level", "read_committed"),
//!     ("enable.auto.commit", "false"),
//!     ("auto.offset.reset", "earliest"),
//! ])?;
//! consumer.subscribe(&["orders"])?;
//! let producer = weir.producer(&[("transactional.id", "totals-0")])?;
//! producer.init_transactions()?; // fences an older "totals-0"
//!
//! let records = consumer.poll(Duration::from_secs(5))?;
//! producer.begin_transaction()?;
//! let mut offsets = Vec::new();
//! for r in records.iter() {
//!     producer.send(ProducerRecord::new("totals", format!("total {}", r.value_str().unwrap_or(""))))?;
//!     offsets.push((TopicPartition::new(r.topic(), r.partition()), OffsetAndMetadata::new(r.offset() + 1)));
//! }
//! producer.send_offsets_to_transaction(&offsets, &consumer.group_metadata()?)?;
//! producer.commit_transaction()?;
//! # assert_eq!(weir.group_coordinator()?.committed("totals", &TopicPartition::new("orders", 0)).unwrap().offset, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod aborted;
mod admin;
mod admin_groups;
mod bounded;
mod consumer;
mod consumer_config;
mod consumer_group;
mod consumer_records;
mod delivery;
mod error;
pub mod metrics;
mod producer;
mod producer_config;
mod props;
mod record;
mod transactions;

pub use transactions::{TransactionDescription, TransactionState, transactions_in};
mod wait;
mod wakeup;
mod weir;

pub use admin::{
    Admin, ConfigEntry, ListedOffset, NewTopic, OffsetSpec, PartitionDescription, TopicDescription,
};
pub use admin_groups::{
    GroupListing, GroupPartitionLag, OffsetReset as GroupOffsetReset, PartitionResult, ResetSpec,
};
pub use bounded::{
    BoundedRead, BoundedReadBuilder, BoundedRecord, PartitionReadSummary, ReadSummary,
};
pub use consumer::{Consumer, OffsetAndTimestamp};
pub use consumer_config::{ConsumerConfig, IsolationLevel, OffsetReset};
pub use consumer_group::{
    CommitCallback, CommitFuture, ConsumerGroupMetadata, ConsumerRebalanceListener,
};
pub use consumer_records::{ConsumerRecords, Iter as RecordsIter, RecordRef};
pub use delivery::DeliveryFuture;
pub use error::{InternalTopicOperation, WeirError};
pub use producer::Producer;
pub use producer_config::{Acks, PartitionerChoice, ProducerConfig};
pub use record::{
    ConsumerRecord, Header, ProducerRecord, RecordMetadata, TimestampType, TopicPartition,
};
pub use wait::Sleep;
pub use wakeup::ConsumerWakeup;
pub use weir::{Weir, WeirBuilder};
pub use weir_compact::{CleanStats, Cleaner, CleanerConfig, PartitionCleaning, RetentionStats};
pub use weir_group::{
    AssignorKind, ExpiredOffsets, GroupDescription, GroupState, MemberDescription,
    OffsetAndMetadata,
};
pub use weir_log::{ConfigError, LogConfig, LogError};
pub use weir_partition::Partitioner;
pub use weir_record::{Compression, CompressionConfig};

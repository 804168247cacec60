//! The records users send and receive: [`ProducerRecord`], [`RecordMetadata`],
//! [`ConsumerRecord`], and [`TopicPartition`].

use std::sync::Arc;

use bytes::Bytes;
pub use weir_group::TopicPartition;
use weir_record::RecordView;
pub use weir_record::{Header, TimestampType};

/// A record to send (Kafka's `ProducerRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// An explicit partition; `None` lets the partitioner pick.
    pub partition: Option<i32>,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// The CreateTime in ms; `None` is "now" when sent.
    pub timestamp: Option<i64>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl ProducerRecord {
    /// A record with a value for `topic`.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// A tombstone (null value) for `key`.
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            key: Some(key.into()),
            ..ProducerRecord::default()
        }
    }

    /// This record with a key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// This record for an explicit partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// This record with a CreateTime.
    #[must_use]
    pub fn timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }

    /// This record with one more header.
    #[must_use]
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Bytes this record takes in a batch, about (for `batch.size`,
    /// `buffer.memory` and `max.request.size`).
    pub fn estimated_size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len) + 10)
            .sum();
        21 + self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + headers
    }
}

/// Where a sent record landed (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset; -1 with `acks=0`, which does not wait for the log.
    pub offset: i64,
    /// The CreateTime sent, or the log append time for a LogAppendTime topic.
    pub timestamp: i64,
    /// Key bytes (-1 for a null key).
    pub serialized_key_size: i32,
    /// Value bytes (-1 for a null value).
    pub serialized_value_size: i32,
}

/// A record read from a topic (Kafka's `ConsumerRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp.
    pub timestamp: i64,
    /// Whether the timestamp is a CreateTime or a LogAppendTime.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// The leader epoch of the record's batch.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// An owned record from a borrowed view (keys, values and header values
    /// share the fetched buffer; nothing is copied but header keys).
    pub fn from_view(
        topic: &Arc<str>,
        partition: i32,
        timestamp_type: TimestampType,
        leader_epoch: i32,
        view: &RecordView<'_>,
    ) -> Self {
        ConsumerRecord {
            topic: Arc::clone(topic),
            partition,
            offset: view.offset(),
            timestamp: view.timestamp(),
            timestamp_type,
            key: view.key_bytes(),
            value: view.value_bytes(),
            headers: view
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key()).into_owned(),
                    value: h.value_bytes(),
                })
                .collect(),
            leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
        }
    }

    /// The value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&str> {
        self.value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The first header with this key.
    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.key == key)
    }
}

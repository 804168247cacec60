//! What a poll returns: [`ConsumerRecords`], holding the fetched (and, where
//! compressed, decompressed) batches themselves, and [`RecordRef`], a record
//! read in place from them. Iterating costs no allocation and no reference
//! counting; [`RecordRef::to_record`] or `into_iter` give owned
//! [`ConsumerRecord`]s when records must outlive the poll's result.

use std::sync::Arc;

use weir_record::{HeaderIter, HeaderView, RecordSpan, RecordView, Records, TimestampType};

use crate::record::{ConsumerRecord, TopicPartition};

/// Part of one batch returned by a poll: the records it returns, decoded
/// once during the poll and kept as spans, so iterating neither decodes again
/// nor can fail.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) records: Records,
    pub(crate) spans: Vec<RecordSpan>,
    pub(crate) timestamp_type: TimestampType,
    pub(crate) leader_epoch: i32,
}

#[derive(Debug, Clone)]
pub(crate) struct PartitionRecords {
    pub(crate) tp: TopicPartition,
    pub(crate) topic: Arc<str>,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) count: usize,
}

/// Records returned by a poll, grouped by partition (Kafka's
/// `ConsumerRecords`).
#[derive(Debug, Clone, Default)]
pub struct ConsumerRecords {
    pub(crate) partitions: Vec<PartitionRecords>,
}

impl ConsumerRecords {
    /// Whether no record was returned.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Number of records.
    pub fn count(&self) -> usize {
        self.partitions.iter().map(|p| p.count).sum()
    }

    /// Every record, read in place: partition by partition, each in offset
    /// order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            partitions: &self.partitions,
            partition: 0,
            chunk: 0,
            span: 0,
        }
    }

    /// The partitions with records.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.iter().map(|p| &p.tp)
    }

    /// One partition's records, read in place.
    pub fn records(&self, tp: &TopicPartition) -> Iter<'_> {
        let found = self.partitions.iter().position(|p| &p.tp == tp);
        Iter {
            partitions: found
                .and_then(|i| self.partitions.get(i..=i))
                .unwrap_or_default(),
            partition: 0,
            chunk: 0,
            span: 0,
        }
    }
}

/// The records of a [`ConsumerRecords`], read in place.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    partitions: &'a [PartitionRecords],
    partition: usize,
    chunk: usize,
    span: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = RecordRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<RecordRef<'a>> {
        loop {
            let p = self.partitions.get(self.partition)?;
            let Some(c) = p.chunks.get(self.chunk) else {
                self.partition += 1;
                self.chunk = 0;
                self.span = 0;
                continue;
            };
            let Some(span) = c.spans.get(self.span) else {
                self.chunk += 1;
                self.span = 0;
                continue;
            };
            self.span += 1;
            return Some(RecordRef {
                topic: &p.topic,
                partition: p.tp.partition,
                timestamp_type: c.timestamp_type,
                leader_epoch: c.leader_epoch,
                view: c.records.view(span),
            });
        }
    }
}

impl IntoIterator for ConsumerRecords {
    type Item = ConsumerRecord;
    type IntoIter = std::vec::IntoIter<ConsumerRecord>;

    /// Owned records (keys and values share the fetched buffers).
    fn into_iter(self) -> Self::IntoIter {
        let all: Vec<ConsumerRecord> = self.iter().map(|r| r.to_record()).collect();
        all.into_iter()
    }
}

/// A record read in place from a poll's [`ConsumerRecords`] (zero-copy).
#[derive(Debug, Clone)]
pub struct RecordRef<'a> {
    topic: &'a Arc<str>,
    partition: i32,
    timestamp_type: TimestampType,
    leader_epoch: i32,
    view: RecordView<'a>,
}

impl<'a> RecordRef<'a> {
    /// The topic.
    #[inline]
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The partition.
    #[inline]
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.view.offset()
    }

    /// The timestamp.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.view.timestamp()
    }

    /// CreateTime or LogAppendTime.
    #[inline]
    pub fn timestamp_type(&self) -> TimestampType {
        self.timestamp_type
    }

    /// The key; `None` is a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.view.key()
    }

    /// The value; `None` is a tombstone.
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.view.value()
    }

    /// The key as UTF-8, if it is.
    #[inline]
    pub fn key_str(&self) -> Option<&'a str> {
        self.key().and_then(|k| std::str::from_utf8(k).ok())
    }

    /// The value as UTF-8, if it is.
    #[inline]
    pub fn value_str(&self) -> Option<&'a str> {
        self.value().and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The headers, in order.
    pub fn headers(&self) -> HeaderIter<'a> {
        self.view.headers()
    }

    /// The first header with this key.
    pub fn header(&self, key: &str) -> Option<HeaderView<'a>> {
        self.headers().find(|h| h.key() == key.as_bytes())
    }

    /// The leader epoch of the record's batch.
    #[inline]
    pub fn leader_epoch(&self) -> Option<i32> {
        (self.leader_epoch >= 0).then_some(self.leader_epoch)
    }

    /// The borrowed view underneath.
    #[inline]
    pub fn view(&self) -> &RecordView<'a> {
        &self.view
    }

    /// An owned copy (keys and values share the fetched buffer; header keys
    /// are copied).
    pub fn to_record(&self) -> ConsumerRecord {
        ConsumerRecord::from_view(
            self.topic,
            self.partition,
            self.timestamp_type,
            self.leader_epoch,
            &self.view,
        )
    }
}

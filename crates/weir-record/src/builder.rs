//! [`BatchBuilder`]: encodes records into one RecordBatch v2.

use bytes::Bytes;
use weir_codec::{Compression, CompressionConfig};

use crate::layout::{self, MAGIC_V2, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD};
use crate::record::{self, HeaderRef};
use crate::{
    Attributes, EndTransactionMarker, Header, Record, RecordError, RecordView, TimestampType,
};

/// The header fields a batch is built with. `Default` is a plain producer batch:
/// no compression, CreateTime, not idempotent (-1 ids), base offset 0, leader
/// epoch -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Codec and level of the records.
    pub compression: CompressionConfig,
    /// CreateTime, or LogAppendTime (then set the append time with
    /// [`BatchBuilder::set_max_timestamp`]).
    pub timestamp_type: TimestampType,
    /// Part of a transaction.
    pub transactional: bool,
    /// Holds control records.
    pub control: bool,
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub producer_epoch: i16,
    /// Sequence number of the first record (-1: none).
    pub base_sequence: i32,
    /// Offset of the first record; normally stamped later by the log.
    pub base_offset: i64,
    /// Partition leader epoch; normally stamped later by the log.
    pub partition_leader_epoch: i32,
    /// The cleaner's delete horizon (KIP-534): when set it becomes the base
    /// timestamp and the delete-horizon attribute is set.
    pub delete_horizon_ms: Option<i64>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            compression: CompressionConfig::NONE,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            producer_id: layout::NO_PRODUCER_ID,
            producer_epoch: layout::NO_PRODUCER_EPOCH,
            base_sequence: layout::NO_SEQUENCE,
            base_offset: 0,
            partition_leader_epoch: layout::NO_PARTITION_LEADER_EPOCH,
            delete_horizon_ms: None,
        }
    }
}

/// Builds one RecordBatch v2.
///
/// Records are encoded as they are appended, into a buffer that already has room
/// for the header, so an uncompressed batch is finished in place; a compressed one
/// is compressed once, straight after a fresh header. The batch is CRC'd by
/// [`build`](Self::build).
///
/// As Kafka's `MemoryRecordsBuilder`: the base timestamp is the first record's
/// timestamp (or the delete horizon), the max timestamp the largest record
/// timestamp, offset deltas count up from 0 unless given. A batch built with no
/// records is an empty header as the cleaner keeps one: count 0, base timestamp
/// -1, no compression.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    options: BatchOptions,
    buf: Vec<u8>,
    count: u32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    /// The smallest record timestamp other than -1 ("none"; records may go
    /// back in time); `i64::MAX` while there is none.
    min_timestamp: i64,
    max_timestamp_override: Option<i64>,
    last_appended_offset_delta: i64,
    last_offset_delta_override: Option<i32>,
    /// Records were copied from a batch ([`append_view`](Self::append_view)):
    /// the producer fields are the copied batch's, not checked as new.
    copied: bool,
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 0)
    }

    /// An empty builder with room for `records_bytes` of encoded records.
    pub fn with_capacity(options: BatchOptions, records_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records_bytes);
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        BatchBuilder {
            base_timestamp: options.delete_horizon_ms,
            options,
            buf,
            count: 0,
            max_timestamp: NO_TIMESTAMP,
            min_timestamp: i64::MAX,
            max_timestamp_override: None,
            last_appended_offset_delta: -1,
            last_offset_delta_override: None,
            copied: false,
        }
    }

    /// The options the batch is built with.
    pub fn options(&self) -> &BatchOptions {
        &self.options
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size of the batch uncompressed: header plus encoded records. A
    /// producer seals a batch on `batch.size` with this.
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record at the next offset delta.
    ///
    /// # Errors
    /// [`RecordError::Encode`] when the record or the batch would pass Kafka's
    /// int32 limits, or for a negative timestamp other than -1 ("none"), as
    /// Kafka's builder refuses it. The builder is unchanged on error.
    #[inline]
    pub fn append(&mut self, record: &Record) -> Result<i32, RecordError> {
        let delta = self.next_offset_delta()?;
        self.append_with_offset_delta(delta, record)?;
        Ok(delta)
    }

    /// Appends a record from its parts at the next offset delta.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_parts(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i32, RecordError> {
        Self::check_new_timestamp(timestamp)?;
        let delta = self.next_offset_delta()?;
        self.append_inner(delta, timestamp, key, value, header_refs(headers))?;
        Ok(delta)
    }

    /// Appends a record at a chosen offset delta, as the cleaner does when it keeps
    /// some records of a batch at their old offsets.
    ///
    /// # Errors
    /// [`RecordError::Encode`] when `offset_delta` is not greater than the last
    /// one appended, or on the limits of [`append`](Self::append).
    #[inline]
    pub fn append_with_offset_delta(
        &mut self,
        offset_delta: i32,
        record: &Record,
    ) -> Result<(), RecordError> {
        Self::check_new_timestamp(record.timestamp)?;
        self.append_inner(
            offset_delta,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            header_refs(&record.headers),
        )
    }

    /// Appends a decoded record with its offset delta and timestamp, copying its
    /// key, value and headers.
    ///
    /// # Errors
    /// As [`append_with_offset_delta`](Self::append_with_offset_delta).
    pub fn append_view(&mut self, record: &RecordView<'_>) -> Result<(), RecordError> {
        // A copy of data already in a log (a cleaner's or a re-compression's):
        // it is kept as it is, not judged as new data.
        self.copied = true;
        let headers = record.headers();
        self.append_inner(
            record.offset_delta(),
            record.timestamp(),
            record.key(),
            record.value(),
            headers.map(|h| (h.key(), h.value())),
        )
    }

    /// Sets `lastOffsetDelta` beyond the last record, as a compacted batch keeps
    /// it.
    ///
    /// # Errors
    /// [`RecordError::Encode`] when below the last appended offset delta or
    /// negative.
    pub fn set_last_offset_delta(&mut self, last_offset_delta: i32) -> Result<(), RecordError> {
        if i64::from(last_offset_delta) < self.last_appended_offset_delta.max(0) {
            return Err(RecordError::Encode {
                reason: format!(
                    "last offset delta {last_offset_delta} is below the last appended {}",
                    self.last_appended_offset_delta
                ),
            });
        }
        self.last_offset_delta_override = Some(last_offset_delta);
        Ok(())
    }

    /// Sets `maxTimestamp` instead of the largest record timestamp: the append time
    /// of a LogAppendTime batch, or the old max timestamp an emptied batch keeps.
    pub fn set_max_timestamp(&mut self, timestamp_ms: i64) {
        self.max_timestamp_override = Some(timestamp_ms);
    }

    #[inline]
    fn next_offset_delta(&self) -> Result<i32, RecordError> {
        let next = self.last_appended_offset_delta + 1;
        if next > i64::from(i32::MAX) {
            return Err(RecordError::Encode {
                reason: "more than 2^31 offsets in one batch".into(),
            });
        }
        Ok(next as i32)
    }

    /// Kafka's MemoryRecordsBuilder refuses new records with a negative
    /// timestamp other than -1 ("none"). Records copied from a batch
    /// ([`append_view`](Self::append_view)) keep theirs.
    #[inline(always)]
    fn check_new_timestamp(timestamp: i64) -> Result<(), RecordError> {
        if timestamp < 0 && timestamp != NO_TIMESTAMP {
            return Err(RecordError::Encode {
                reason: format!("invalid negative timestamp {timestamp}"),
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn append_inner<'h>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = HeaderRef<'h>> + Clone,
    ) -> Result<(), RecordError> {
        if i64::from(offset_delta) <= self.last_appended_offset_delta {
            return Err(RecordError::Encode {
                reason: format!(
                    "offset delta {offset_delta} is not after the last appended {}",
                    self.last_appended_offset_delta
                ),
            });
        }
        if self.count == i32::MAX as u32 {
            return Err(RecordError::Encode {
                reason: "more than 2^31 - 1 records in one batch".into(),
            });
        }
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(base_timestamp);
        record::put_record(
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
            &mut self.buf,
            i32::MAX as usize,
        )
        .ok_or_else(|| RecordError::Encode {
            reason: "a record field, the record or the batch would pass 2 GiB".into(),
        })?;
        self.base_timestamp = Some(base_timestamp);
        self.max_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        if timestamp != NO_TIMESTAMP {
            self.min_timestamp = self.min_timestamp.min(timestamp);
        }
        self.count += 1;
        self.last_appended_offset_delta = i64::from(offset_delta);
        Ok(())
    }

    /// Finishes the batch as [`build`](Self::build) does, as a [`BuiltBatch`]:
    /// bytes this builder encoded, whose records decode by construction, so a
    /// log may append them without decoding them again
    /// (`weir_log::PartitionLog::append_built`).
    ///
    /// # Errors
    /// [`RecordError::Codec`] if compression fails; [`RecordError::Encode`] if the
    /// compressed batch would exceed 2 GiB, or for producer fields Kafka's
    /// builder refuses (transactional without a producer id; a producer id
    /// without an epoch, or without a base sequence outside control batches)
    /// on a batch of new records. An empty header, and a batch of records
    /// copied with [`append_view`](Self::append_view) (a cleaner's), keep
    /// their fields unchecked, as Kafka's `writeEmptyHeader` does.
    pub fn build_batch(self) -> Result<BuiltBatch, RecordError> {
        let records_size = self.buf.len().saturating_sub(RECORD_BATCH_OVERHEAD);
        let min_timestamp = self.min_timestamp;
        Ok(BuiltBatch {
            bytes: self.build()?,
            records_size,
            min_timestamp,
        })
    }

    /// Encodes the batch (see [`build_batch`](Self::build_batch), which also
    /// vouches for what it encoded).
    ///
    /// # Errors
    /// As [`build_batch`](Self::build_batch).
    pub fn build(self) -> Result<Bytes, RecordError> {
        let o = self.options;
        // New data only: an empty header (Kafka's writeEmptyHeader) and
        // copies of logged batches keep their fields as they are.
        if self.count > 0 && !self.copied {
            check_producer_fields(&o)?;
        }
        let empty = self.count == 0;
        let compression = if empty {
            CompressionConfig::NONE
        } else {
            o.compression
        };
        let mut out = if compression.compression() == Compression::None {
            self.buf
        } else {
            let records = self.buf.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
            let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2);
            out.resize(RECORD_BATCH_OVERHEAD, 0);
            weir_codec::compress(&compression, records, &mut out)?;
            out
        };
        let batch_length =
            i32::try_from(out.len() - layout::LOG_OVERHEAD).map_err(|_| RecordError::Encode {
                reason: format!("a batch of {} bytes exceeds 2 GiB", out.len()),
            })?;
        let attributes = Attributes::default()
            .with_compression(compression.compression())
            .with_timestamp_type(o.timestamp_type)
            .with_transactional(o.transactional)
            .with_control(o.control)
            .with_delete_horizon(o.delete_horizon_ms.is_some() && !empty);
        let last_offset_delta = self
            .last_offset_delta_override
            .unwrap_or(self.last_appended_offset_delta.max(0) as i32);
        let base_timestamp = if empty {
            NO_TIMESTAMP
        } else {
            self.base_timestamp.unwrap_or(NO_TIMESTAMP)
        };
        let max_timestamp = self.max_timestamp_override.unwrap_or(self.max_timestamp);

        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(dst) = header.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        put(layout::BASE_OFFSET, &o.base_offset.to_be_bytes());
        put(layout::BATCH_LENGTH, &batch_length.to_be_bytes());
        put(
            layout::PARTITION_LEADER_EPOCH,
            &o.partition_leader_epoch.to_be_bytes(),
        );
        put(layout::MAGIC, &MAGIC_V2.to_be_bytes());
        put(layout::ATTRIBUTES, &attributes.raw().to_be_bytes());
        put(layout::LAST_OFFSET_DELTA, &last_offset_delta.to_be_bytes());
        put(layout::BASE_TIMESTAMP, &base_timestamp.to_be_bytes());
        put(layout::MAX_TIMESTAMP, &max_timestamp.to_be_bytes());
        put(layout::PRODUCER_ID, &o.producer_id.to_be_bytes());
        put(layout::PRODUCER_EPOCH, &o.producer_epoch.to_be_bytes());
        put(layout::BASE_SEQUENCE, &o.base_sequence.to_be_bytes());
        put(layout::RECORDS_COUNT, &(self.count as i32).to_be_bytes());
        if let Some(dst) = out.get_mut(..RECORD_BATCH_OVERHEAD) {
            dst.copy_from_slice(&header);
        }
        let crc = crate::crc32c(out.get(layout::CRC_START..).unwrap_or_default());
        if let Some(dst) = out.get_mut(layout::CRC..layout::CRC + 4) {
            dst.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(Bytes::from(out))
    }

    /// Builds a control batch holding one transaction marker, as the transaction
    /// coordinator writes it: transactional and control attributes, no
    /// compression, base sequence -1. Producer id and epoch, base offset and leader
    /// epoch come from `options`; its other fields are ignored.
    ///
    /// # Errors
    /// None in practice; the signature matches [`build`](Self::build).
    pub fn end_transaction_marker(
        options: BatchOptions,
        marker: EndTransactionMarker,
        timestamp_ms: i64,
    ) -> Result<Bytes, RecordError> {
        let mut builder = BatchBuilder::with_capacity(
            BatchOptions {
                compression: CompressionConfig::NONE,
                timestamp_type: TimestampType::CreateTime,
                transactional: true,
                control: true,
                base_sequence: layout::NO_SEQUENCE,
                delete_horizon_ms: None,
                ..options
            },
            32,
        );
        builder.append_parts(
            timestamp_ms,
            Some(&marker.key()),
            Some(&marker.value()),
            &[],
        )?;
        builder.build()
    }
}

/// The producer fields Kafka's `MemoryRecordsBuilder` refuses: a
/// transactional batch without a producer id, or a producer id without an
/// epoch, or (outside control batches) without a base sequence.
fn check_producer_fields(o: &BatchOptions) -> Result<(), RecordError> {
    let refuse = |reason: &str| {
        Err(RecordError::Encode {
            reason: reason.to_string(),
        })
    };
    if o.producer_id == layout::NO_PRODUCER_ID {
        if o.transactional {
            return refuse("a transactional batch needs a producer id");
        }
        return Ok(());
    }
    if o.producer_epoch == layout::NO_PRODUCER_EPOCH {
        return refuse("a batch with a producer id needs a producer epoch");
    }
    if o.base_sequence < 0 && !o.control {
        return refuse("a batch with a producer id needs a base sequence");
    }
    Ok(())
}

fn header_refs(headers: &[Header]) -> impl Iterator<Item = HeaderRef<'_>> + Clone {
    headers
        .iter()
        .map(|h| (h.key.as_bytes(), h.value.as_deref()))
}

/// A batch encoded by [`BatchBuilder::build_batch`] in this process. Only the
/// builder makes one, so its records decode and lie within its offsets: a log
/// may take it without walking its records again. Its bytes are a normal
/// batch ([`as_bytes`](Self::as_bytes)).
#[derive(Debug, Clone)]
pub struct BuiltBatch {
    bytes: Bytes,
    records_size: usize,
    min_timestamp: i64,
}

impl BuiltBatch {
    /// The encoded batch.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The encoded batch, given up.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it has no bytes (never: a batch has a header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The size of its records before compression.
    pub fn uncompressed_records_size(&self) -> usize {
        self.records_size
    }

    /// The smallest record timestamp, records without one (-1) aside; `None`
    /// when no record has one. The header keeps only the first record's and
    /// the largest, and a later record may be older than the first.
    pub fn min_timestamp(&self) -> Option<i64> {
        (self.min_timestamp != i64::MAX).then_some(self.min_timestamp)
    }

    /// Stamps the base sequence (renumbering an idempotent producer's
    /// batch), recomputing the CRC; the records are untouched.
    pub fn set_base_sequence(&mut self, base_sequence: i32) {
        let bytes = std::mem::take(&mut self.bytes);
        let mut buf = bytes
            .try_into_mut()
            .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..]));
        if let Ok(mut stamp) = crate::RecordBatchMut::new(&mut buf) {
            stamp.set_base_sequence(base_sequence);
        }
        self.bytes = buf.freeze();
    }
}

//! [`RecordBatch`]: a zero-copy view of one encoded batch, and
//! [`RecordBatchMut`]: the log's in-place stamping of offsets, epochs and
//! append times.

use bytes::Bytes;
use weir_codec::Compression;

use crate::layout::{self, LOG_OVERHEAD, MAGIC_V2, MIN_BATCH_LENGTH, RECORD_BATCH_OVERHEAD};
use crate::{Attributes, ControlRecord, RecordError, Records, TimestampType};

/// The default bound on a batch's decompressed records: 128 MiB.
///
/// A real batch is bounded by the producer's `batch.size` (or one record of
/// up to `max.request.size`) before compression; this only stops a
/// decompression bomb. Use
/// [`RecordBatch::records_with_limit`] for another bound.
pub const DEFAULT_MAX_UNCOMPRESSED_BYTES: usize = 128 << 20;

/// `sequence + increment`, wrapping past `i32::MAX` to 0 as Kafka's
/// `DefaultRecordBatch.incrementSequence` does (sequences are never negative).
/// A negative increment returns `sequence` unchanged.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if increment < 0 {
        sequence
    } else if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// Reads a big-endian field at a fixed offset of a slice whose length the caller
/// has checked to be at least [`RECORD_BATCH_OVERHEAD`].
macro_rules! field {
    ($buf:expr, $ty:ty, $at:expr) => {{
        const N: usize = std::mem::size_of::<$ty>();
        let mut raw = [0u8; N];
        if let Some(src) = $buf.get($at..$at + N) {
            raw.copy_from_slice(src);
        }
        <$ty>::from_be_bytes(raw)
    }};
}

/// The checks every batch view relies on: a whole header, a `batchLength` that
/// matches the bytes, magic 2.
fn check_header(buf: &[u8]) -> Result<(), RecordError> {
    if buf.len() < RECORD_BATCH_OVERHEAD {
        return Err(RecordError::InvalidBatchSize {
            size: buf.len(),
            reason: "shorter than the 61-byte batch header",
        });
    }
    let length = field!(buf, i32, layout::BATCH_LENGTH);
    if length < MIN_BATCH_LENGTH {
        return Err(RecordError::BatchLengthTooSmall { length });
    }
    if usize::try_from(length).ok().map(|l| l + LOG_OVERHEAD) != Some(buf.len()) {
        return Err(RecordError::InvalidBatchSize {
            size: buf.len(),
            reason: "batchLength + 12 differs from the size",
        });
    }
    let magic = field!(buf, i8, layout::MAGIC);
    if magic != MAGIC_V2 {
        return Err(RecordError::UnsupportedMagic { magic });
    }
    Ok(())
}

/// One RecordBatch v2, read in place from a [`Bytes`] buffer.
///
/// Construction checks only what the accessors rely on: at least 61 bytes, a
/// `batchLength` that matches the buffer, and magic 2. Header fields are read from
/// the buffer on each call. [`validate_crc`](Self::validate_crc) checks the
/// CRC-32C; [`records`](Self::records) decompresses (if needed) and returns the
/// records to iterate lazily.
///
/// Cloning is cheap (the buffer is reference-counted).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBatch {
    buf: Bytes,
}

impl RecordBatch {
    /// Wraps the bytes of exactly one batch.
    ///
    /// # Errors
    /// [`RecordError::InvalidBatchSize`] when shorter than 61 bytes or when
    /// `batchLength + 12` differs from the length; [`RecordError::BatchLengthTooSmall`];
    /// [`RecordError::UnsupportedMagic`] for magic 0 and 1 (legacy message sets)
    /// and anything else.
    pub fn new(buf: Bytes) -> Result<Self, RecordError> {
        check_header(&buf)?;
        Ok(RecordBatch { buf })
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// The batch's bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// The batch's size in bytes (`batchLength + 12`).
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the first record (as assigned by the log).
    pub fn base_offset(&self) -> i64 {
        field!(self.buf, i64, layout::BASE_OFFSET)
    }

    /// Bytes after the length field.
    pub fn batch_length(&self) -> i32 {
        field!(self.buf, i32, layout::BATCH_LENGTH)
    }

    /// The partition leader epoch (-1 when not stamped).
    pub fn partition_leader_epoch(&self) -> i32 {
        field!(self.buf, i32, layout::PARTITION_LEADER_EPOCH)
    }

    /// The magic byte (always 2 once constructed).
    pub fn magic(&self) -> i8 {
        field!(self.buf, i8, layout::MAGIC)
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        field!(self.buf, u32, layout::CRC)
    }

    /// CRC-32C over bytes 21 to the end, as it should be stored.
    pub fn compute_crc(&self) -> u32 {
        crate::crc32c(self.buf.get(layout::CRC_START..).unwrap_or_default())
    }

    /// Checks the stored CRC-32C.
    ///
    /// # Errors
    /// [`RecordError::CrcMismatch`] with both values.
    pub fn validate_crc(&self) -> Result<(), RecordError> {
        let computed = self.compute_crc();
        let stored = self.crc();
        if computed == stored {
            Ok(())
        } else {
            Err(RecordError::CrcMismatch { stored, computed })
        }
    }

    /// The attributes.
    pub fn attributes(&self) -> Attributes {
        Attributes::from_raw(field!(self.buf, i16, layout::ATTRIBUTES))
    }

    /// The codec of the records.
    ///
    /// # Errors
    /// [`RecordError::Codec`] for codec ids 5-7.
    pub fn compression(&self) -> Result<Compression, RecordError> {
        Ok(self.attributes().compression()?)
    }

    /// The timestamp type.
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes().timestamp_type()
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes().is_transactional()
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes().is_control()
    }

    /// Whether `baseTimestamp` holds the cleaner's delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes().has_delete_horizon()
    }

    /// The delete horizon (KIP-534), when set.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then(|| self.base_timestamp())
    }

    /// Last offset minus base offset.
    pub fn last_offset_delta(&self) -> i32 {
        field!(self.buf, i32, layout::LAST_OFFSET_DELTA)
    }

    /// Offset of the last record (compaction may have removed the record itself).
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The first record's timestamp, or the delete horizon; -1 for an empty batch.
    pub fn base_timestamp(&self) -> i64 {
        field!(self.buf, i64, layout::BASE_TIMESTAMP)
    }

    /// The largest record timestamp, or the log append time.
    pub fn max_timestamp(&self) -> i64 {
        field!(self.buf, i64, layout::MAX_TIMESTAMP)
    }

    /// The producer id (-1 when not idempotent).
    pub fn producer_id(&self) -> i64 {
        field!(self.buf, i64, layout::PRODUCER_ID)
    }

    /// The producer epoch (-1 when not idempotent).
    pub fn producer_epoch(&self) -> i16 {
        field!(self.buf, i16, layout::PRODUCER_EPOCH)
    }

    /// The first record's sequence number (-1 when not idempotent).
    pub fn base_sequence(&self) -> i32 {
        field!(self.buf, i32, layout::BASE_SEQUENCE)
    }

    /// The last record's sequence number: `baseSequence + lastOffsetDelta`,
    /// wrapping past `i32::MAX` to 0 as Kafka does; -1 when not idempotent.
    pub fn last_sequence(&self) -> i32 {
        let base = self.base_sequence();
        if base == layout::NO_SEQUENCE {
            return layout::NO_SEQUENCE;
        }
        increment_sequence(base, self.last_offset_delta())
    }

    /// The `recordsCount` field as stored (not yet checked against the bytes).
    pub fn records_count(&self) -> i32 {
        field!(self.buf, i32, layout::RECORDS_COUNT)
    }

    /// The records section: plain or compressed.
    pub fn records_payload(&self) -> Bytes {
        self.buf.slice(RECORD_BATCH_OVERHEAD..)
    }

    /// Decompresses (if needed) and returns the records, ready to iterate. The
    /// decompressed size is bounded by [`DEFAULT_MAX_UNCOMPRESSED_BYTES`].
    ///
    /// Does not check the CRC: call [`validate_crc`](Self::validate_crc) first for
    /// bytes from disk. Individual records are decoded, and checked, as the
    /// iterator reaches them.
    ///
    /// # Errors
    /// [`RecordError::Codec`] for an unknown codec or undecodable data;
    /// [`RecordError::InvalidRecordCount`] for a count that is negative or larger
    /// than the bytes can hold.
    pub fn records(&self) -> Result<Records, RecordError> {
        self.records_with_limit(DEFAULT_MAX_UNCOMPRESSED_BYTES)
    }

    /// As [`records`](Self::records) with a caller's bound on the decompressed
    /// bytes.
    ///
    /// # Errors
    /// As [`records`](Self::records); a stream that decompresses past
    /// `max_uncompressed_bytes` is [`RecordError::Codec`] with
    /// `CodecError::OutputLimitExceeded`.
    pub fn records_with_limit(
        &self,
        max_uncompressed_bytes: usize,
    ) -> Result<Records, RecordError> {
        let compression = self.compression()?;
        let count = self.records_count();
        let payload = self.records_payload();
        let data = if compression == Compression::None || (count == 0 && payload.is_empty()) {
            payload
        } else {
            let mut out = Vec::new();
            weir_codec::decompress(compression, &payload, max_uncompressed_bytes, &mut out)?;
            Bytes::from(out)
        };
        Records::new(self, data)
    }

    /// The transaction marker or other control record of a control batch.
    ///
    /// # Errors
    /// [`RecordError::InvalidControlRecord`] when the batch is not a control batch
    /// or does not hold exactly one valid control record; decoding errors as
    /// [`records`](Self::records).
    pub fn control_record(&self) -> Result<ControlRecord, RecordError> {
        if !self.is_control() {
            return Err(RecordError::InvalidControlRecord {
                reason: "not a control batch".into(),
            });
        }
        let records = self.records()?;
        let mut iter = records.iter();
        let first = iter
            .next()
            .ok_or_else(|| RecordError::InvalidControlRecord {
                reason: "control batch holds no record".into(),
            })??;
        let control = ControlRecord::parse(first.key(), first.value())?;
        if iter.next().is_some() {
            return Err(RecordError::InvalidControlRecord {
                reason: "control batch holds more than one record".into(),
            });
        }
        Ok(control)
    }
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("size", &self.size())
            .field("partition_leader_epoch", &self.partition_leader_epoch())
            .field("crc", &format_args!("{:#010x}", self.crc()))
            .field("attributes", &self.attributes())
            .field("base_timestamp", &self.base_timestamp())
            .field("max_timestamp", &self.max_timestamp())
            .field("producer_id", &self.producer_id())
            .field("producer_epoch", &self.producer_epoch())
            .field("base_sequence", &self.base_sequence())
            .field("records_count", &self.records_count())
            .finish()
    }
}

/// One encoded batch in a mutable buffer, for the log to stamp what only the log
/// knows: the base offset and partition leader epoch (outside the CRC, so nothing
/// is recomputed) and, for `message.timestamp.type=LogAppendTime`, the append
/// time (which does recompute the CRC, as in Kafka).
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    buf: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// Wraps the bytes of exactly one batch, with the same checks as
    /// [`RecordBatch::new`].
    ///
    /// # Errors
    /// As [`RecordBatch::new`].
    pub fn new(buf: &'a mut [u8]) -> Result<Self, RecordError> {
        check_header(buf)?;
        Ok(RecordBatchMut { buf })
    }

    fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    /// Stamps the base offset. The CRC does not cover it.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.put(layout::BASE_OFFSET, &base_offset.to_be_bytes());
    }

    /// Stamps the partition leader epoch. The CRC does not cover it.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.put(layout::PARTITION_LEADER_EPOCH, &epoch.to_be_bytes());
    }

    /// Marks the batch `LogAppendTime` with `timestamp_ms` as its `maxTimestamp`
    /// (so every record reads with that timestamp) and recomputes the CRC, as
    /// Kafka's `setMaxTimestamp` does.
    pub fn set_log_append_time(&mut self, timestamp_ms: i64) {
        let attributes = Attributes::from_raw(field!(self.buf, i16, layout::ATTRIBUTES))
            .with_timestamp_type(TimestampType::LogAppendTime);
        self.put(layout::ATTRIBUTES, &attributes.raw().to_be_bytes());
        self.put(layout::MAX_TIMESTAMP, &timestamp_ms.to_be_bytes());
        let crc = crate::crc32c(self.buf.get(layout::CRC_START..).unwrap_or_default());
        self.put(layout::CRC, &crc.to_be_bytes());
    }

    /// Stamps the base sequence (an idempotent producer's numbering of its
    /// records) and recomputes the CRC, which covers it.
    pub fn set_base_sequence(&mut self, base_sequence: i32) {
        self.put(layout::BASE_SEQUENCE, &base_sequence.to_be_bytes());
        let crc = crate::crc32c(self.buf.get(layout::CRC_START..).unwrap_or_default());
        self.put(layout::CRC, &crc.to_be_bytes());
    }

    /// A read-only view of the stamped bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.buf
    }
}

//! The crate's error types: what is wrong inside a batch ([`RecordError`]) and
//! where a byte stream of batches stops being sound ([`ReadError`]).

use weir_codec::CodecError;

/// A field of a record, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordField {
    /// The record's length prefix.
    Length,
    /// The attributes byte.
    Attributes,
    /// The timestamp delta.
    TimestampDelta,
    /// The offset delta.
    OffsetDelta,
    /// The key length or key bytes.
    Key,
    /// The value length or value bytes.
    Value,
    /// The header count.
    HeaderCount,
    /// A header key length or key bytes.
    HeaderKey,
    /// A header value length or value bytes.
    HeaderValue,
}

impl std::fmt::Display for RecordField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordField::Length => "length",
            RecordField::Attributes => "attributes",
            RecordField::TimestampDelta => "timestamp delta",
            RecordField::OffsetDelta => "offset delta",
            RecordField::Key => "key",
            RecordField::Value => "value",
            RecordField::HeaderCount => "header count",
            RecordField::HeaderKey => "header key",
            RecordField::HeaderValue => "header value",
        })
    }
}

/// Something wrong with one batch or its records: the bytes are not a RecordBatch
/// v2 that Kafka would accept, or a caller's input cannot be encoded.
///
/// Record-level variants name the record by its index in the batch (0-based).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer bytes than a batch header, or a `batchLength` that disagrees with the
    /// bytes given.
    #[error("batch of {size} bytes: {reason}")]
    InvalidBatchSize {
        /// The bytes given.
        size: usize,
        /// What disagrees.
        reason: &'static str,
    },

    /// `batchLength` below the 49 bytes a v2 header needs.
    #[error("batch length {length} is below the minimum of 49")]
    BatchLengthTooSmall {
        /// The `batchLength` field.
        length: i32,
    },

    /// A magic other than 2.
    #[error("magic {magic}: only RecordBatch v2 (magic 2) is supported")]
    UnsupportedMagic {
        /// The magic byte.
        magic: i8,
    },

    /// The stored CRC-32C differs from the one computed over the batch.
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The `crc` field.
        stored: u32,
        /// CRC-32C of bytes 21 to the end.
        computed: u32,
    },

    /// The batch is larger than a caller's limit (`max.message.bytes`).
    #[error("batch of {size} bytes exceeds the limit of {max} bytes")]
    BatchTooLarge {
        /// The batch size.
        size: usize,
        /// The limit.
        max: usize,
    },

    /// A `recordsCount` that cannot be right: negative, or more records than the
    /// bytes could hold (each record takes at least 7 bytes).
    #[error("invalid record count {count}: {reason}")]
    InvalidRecordCount {
        /// The `recordsCount` field.
        count: i32,
        /// Why it is impossible.
        reason: String,
    },

    /// A record's length prefix is negative or runs past the records.
    #[error("record {index}: invalid length {length}, {available} bytes left in the batch")]
    InvalidRecordLength {
        /// The record's index in the batch.
        index: u32,
        /// The length prefix.
        length: i64,
        /// Bytes left after the prefix.
        available: usize,
    },

    /// A field inside a record is malformed: a varint too long, a length that is
    /// negative where it must not be or that runs past the record.
    #[error("record {index}: invalid {field}: {reason}")]
    InvalidRecordField {
        /// The record's index in the batch.
        index: u32,
        /// The field.
        field: RecordField,
        /// What is wrong.
        reason: String,
    },

    /// The record's fields end before or after its length prefix says.
    #[error("record {index}: length prefix says {declared} bytes, the fields take {actual}")]
    RecordLengthMismatch {
        /// The record's index in the batch.
        index: u32,
        /// The length prefix.
        declared: usize,
        /// Bytes the fields used.
        actual: usize,
    },

    /// Offset deltas must increase within the batch and stay within
    /// `0..=lastOffsetDelta`.
    #[error(
        "record {index}: offset delta {offset_delta} is not after {previous} or past the last offset delta {last_offset_delta}"
    )]
    InvalidOffsetDelta {
        /// The record's index in the batch.
        index: u32,
        /// Its offset delta.
        offset_delta: i32,
        /// The previous record's offset delta (-1 for the first record).
        previous: i64,
        /// The batch's `lastOffsetDelta`.
        last_offset_delta: i32,
    },

    /// Bytes remain after `recordsCount` records.
    #[error("{remaining} bytes remain after the declared {count} records")]
    TrailingBytes {
        /// The `recordsCount` field.
        count: i32,
        /// Bytes left over.
        remaining: usize,
    },

    /// A control batch whose record is not a valid control record.
    #[error("invalid control record: {reason}")]
    InvalidControlRecord {
        /// What is wrong.
        reason: String,
    },

    /// The compressed records could not be decompressed, or the codec id is
    /// unknown.
    #[error("records: {0}")]
    Codec(#[from] CodecError),

    /// A caller's input cannot be encoded: a record or batch past 2 GiB, offset
    /// deltas out of order, a field that does not fit its type.
    #[error("cannot encode: {reason}")]
    Encode {
        /// What does not fit.
        reason: String,
    },
}

/// Where a stream of batches (a segment file or a fetched buffer) stops being
/// sound. Every variant carries the byte position of the batch it concerns, so a
/// torn tail can be told from corruption and both can be located.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The last batch is incomplete: its header or its body runs past the end of
    /// the data. This is what a crash during a write leaves.
    #[error("torn batch at byte {position}: needs {needed} bytes, {available} remain")]
    TornBatch {
        /// Byte position of the incomplete batch.
        position: u64,
        /// Bytes the batch needs (12 while its length is not readable).
        needed: u64,
        /// Bytes left in the data.
        available: u64,
    },

    /// A complete batch that is not valid.
    #[error("corrupt batch at byte {position}: {source}")]
    Corrupt {
        /// Byte position of the batch.
        position: u64,
        /// What is wrong with it.
        #[source]
        source: RecordError,
    },

    /// Reading the underlying file failed.
    #[error("I/O error reading the batch at byte {position}: {source}")]
    Io {
        /// Byte position being read.
        position: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl ReadError {
    /// The byte position of the batch the error concerns.
    pub fn position(&self) -> u64 {
        match self {
            ReadError::TornBatch { position, .. }
            | ReadError::Corrupt { position, .. }
            | ReadError::Io { position, .. } => *position,
        }
    }

    /// Whether this is an incomplete last batch rather than corruption.
    pub fn is_torn(&self) -> bool {
        matches!(self, ReadError::TornBatch { .. })
    }
}

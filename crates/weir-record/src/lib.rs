//! Kafka's RecordBatch v2, byte for byte: encode, decode, validate.
//!
//! This crate owns the format of Kafka's log files at the batch level
//! (`kafka-format.md` §1-§4) and does no I/O beyond reading from a caller's
//! reader:
//!
//! - [`BatchBuilder`] encodes records ([`Record`], [`Header`]) into one batch with
//!   the header fields of [`BatchOptions`]: producer id, epoch and base sequence,
//!   transactional and control flags, timestamp type, codec. It also builds
//!   transaction markers ([`EndTransactionMarker`]).
//! - [`RecordBatch`] is a zero-copy view over a batch in a [`bytes::Bytes`]:
//!   header fields are read in place, [`RecordBatch::validate_crc`] checks the
//!   CRC-32C, and [`RecordBatch::records`] returns [`Records`], whose iterator
//!   decodes one [`RecordView`] at a time with keys and values as slices of the
//!   (decompressed) buffer. Every length and count is bounded before use.
//! - [`RecordBatchMut`] stamps the base offset and partition leader epoch into an
//!   encoded batch without touching its CRC (and the LogAppendTime, which does
//!   recompute it).
//! - [`BatchIter`] (a buffer) and [`ReaderBatches`] (a file) iterate batches and
//!   tell a torn tail ([`ReadError::TornBatch`]) from corruption
//!   ([`ReadError::Corrupt`]), each with its byte position.
//!
//! ```
//! use weir_record::{BatchBuilder, BatchIter, BatchOptions, Record, RecordBatchMut};
//! use weir_codec::{Compression, CompressionConfig};
//!
//! let mut builder = BatchBuilder::new(BatchOptions {
//!     compression: CompressionConfig::new(Compression::Lz4),
//!     ..BatchOptions::default()
//! });
//! builder.append(&Record::new("placed").with_key("order-1").with_timestamp(1_000))?;
//! builder.append(&Record::new("shipped").with_key("order-1").with_timestamp(1_005))?;
//! let mut bytes = builder.build()?.to_vec();
//!
//! // The log assigns offsets without recomputing the CRC.
//! RecordBatchMut::new(&mut bytes)?.set_base_offset(42);
//!
//! for item in BatchIter::new(bytes.into()) {
//!     let batch = item?.batch; // CRC checked by the iterator
//!     assert_eq!(batch.base_offset(), 42);
//!     let records = batch.records()?;
//!     let offsets: Vec<i64> = records.iter().map(|r| r.map(|r| r.offset())).collect::<Result<_, _>>()?;
//!     assert_eq!(offsets, [42, 43]);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod attributes;
mod batch;
mod builder;
mod checksum;
mod control;
mod cursor;
mod error;
pub mod layout;
mod reader;
mod record;
mod records;
pub mod varint;
mod view;

pub use attributes::{Attributes, TimestampType};
pub use batch::{DEFAULT_MAX_UNCOMPRESSED_BYTES, RecordBatch, RecordBatchMut, increment_sequence};
pub use builder::{BatchBuilder, BatchOptions, BuiltBatch};
pub use checksum::crc32c;
pub use control::{ControlRecord, ControlRecordType, EndTransactionMarker};
pub use error::{ReadError, RecordError, RecordField};
pub use reader::{BatchIter, PositionedBatch, ReaderBatches};
pub use record::{Header, Record};
pub use records::{IterPosition, MIN_RECORD_SIZE, RecordIter, RecordSpan, Records};
pub use view::{HeaderIter, HeaderView, RecordView};
pub use weir_codec::{CodecError, Compression, CompressionConfig};

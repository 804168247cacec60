//! Kafka's compression codecs, framed exactly as Kafka frames them.
//!
//! A Kafka RecordBatch compresses all of its records as one stream (see
//! `kafka-format.md` §3). This crate owns that stream's encoding for each codec:
//!
//! | [`Compression`] | framing |
//! |---|---|
//! | `None` | the bytes as they are |
//! | `Gzip` | one gzip member (several are accepted when reading) |
//! | `Snappy` | snappy-java's xerial stream, 32 KiB blocks; unframed snappy is accepted when reading |
//! | `Lz4` | the standard LZ4 frame with 64 KiB independent blocks, as Kafka's `Lz4BlockOutputStream` |
//! | `Zstd` | standard zstd frames; several are accepted when reading |
//!
//! [`CompressionConfig`] carries the codec and its level, validated against Kafka's
//! `compression.gzip.level`, `compression.lz4.level` and `compression.zstd.level`
//! (KIP-390). [`compress`] appends the compressed stream to a buffer;
//! [`decompress`] appends the decompressed bytes and takes an output limit: a
//! decompression bomb or a lying size field yields
//! [`CodecError::OutputLimitExceeded`] instead of an allocation of the claimed size.
//!
//! Nothing here blocks or does I/O.
//!
//! ```
//! use weir_codec::{Compression, CompressionConfig, compress, decompress};
//!
//! let records = b"the records of a batch, the records of a batch, the records of a batch";
//! let config = CompressionConfig::with_level(Compression::Zstd, 3)?;
//! let mut compressed = Vec::new();
//! compress(&config, records, &mut compressed)?;
//!
//! let mut out = Vec::new();
//! decompress(Compression::Zstd, &compressed, 1 << 20, &mut out)?;
//! assert_eq!(out, records);
//!
//! // A limit below the real size is a typed error, not a large allocation.
//! let err = decompress(Compression::Zstd, &compressed, 10, &mut Vec::new()).unwrap_err();
//! assert!(matches!(err, weir_codec::CodecError::OutputLimitExceeded { .. }));
//! # Ok::<(), weir_codec::CodecError>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod codec;
mod compression;
mod error;
mod gzip;
mod lz4;
mod snappy;
mod zstd;

pub use codec::{compress, decompress};
pub use compression::{Compression, CompressionConfig};
pub use error::CodecError;

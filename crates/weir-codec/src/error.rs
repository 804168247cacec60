//! The crate's one error type.

use crate::Compression;

/// Why a codec could not be configured, or could not compress or decompress.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The attributes of a batch name a codec id Kafka does not define.
    #[error(
        "unknown compression codec id {id}: Kafka defines 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd"
    )]
    UnknownCodecId {
        /// The id found (bits 0-2 of the batch attributes).
        id: u8,
    },

    /// A `compression.type` value that is not a codec name.
    #[error("unknown compression type {name:?}: expected one of none, gzip, snappy, lz4, zstd")]
    UnknownCodecName {
        /// The name given.
        name: String,
    },

    /// A compression level outside the range Kafka accepts for that codec.
    #[error("{key} = {value} is out of range: expected {expected}")]
    InvalidLevel {
        /// The Kafka property the level belongs to, e.g. `compression.zstd.level`.
        key: &'static str,
        /// The level given.
        value: i32,
        /// The accepted values, in words.
        expected: &'static str,
    },

    /// A level was given for a codec that has none (none, snappy).
    #[error("compression type {codec} takes no level (got {value})")]
    LevelNotSupported {
        /// The codec.
        codec: Compression,
        /// The level given.
        value: i32,
    },

    /// Decompressing would produce more bytes than the caller allowed.
    #[error("{codec} data decompresses to more than the limit of {limit} bytes")]
    OutputLimitExceeded {
        /// The codec.
        codec: Compression,
        /// The caller's limit in bytes.
        limit: usize,
    },

    /// The compressed stream is malformed: a bad header, a block running past the
    /// end of the input, a checksum mismatch, trailing bytes.
    #[error("corrupt {codec} data at byte {position} of the compressed stream: {reason}")]
    Corrupt {
        /// The codec.
        codec: Compression,
        /// Byte position in the compressed input where the problem was found.
        position: usize,
        /// What was wrong.
        reason: String,
    },

    /// The codec library rejected the data.
    #[error("corrupt {codec} data: {source}")]
    Decode {
        /// The codec.
        codec: Compression,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The codec library failed to compress (this does not depend on the input's
    /// contents, only on its size or on memory).
    #[error("{codec} compression failed: {source}")]
    Encode {
        /// The codec.
        codec: Compression,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl CodecError {
    pub(crate) fn corrupt(codec: Compression, position: usize, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            codec,
            position,
            reason: reason.into(),
        }
    }

    pub(crate) fn decode(
        codec: Compression,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Decode {
            codec,
            source: source.into(),
        }
    }

    pub(crate) fn encode(
        codec: Compression,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Encode {
            codec,
            source: source.into(),
        }
    }
}

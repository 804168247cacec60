//! gzip: one member per batch, as Java's `GZIPOutputStream` writes it.

use std::io::{Read, Write};

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::compression::GZIP_DEFAULT_LEVEL;
use crate::{CodecError, Compression};

const CODEC: Compression = Compression::Gzip;

/// zlib's meaning of `Deflater.DEFAULT_COMPRESSION` (-1).
const ZLIB_DEFAULT_LEVEL: u32 = 6;

pub(crate) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let level = if level == GZIP_DEFAULT_LEVEL {
        ZLIB_DEFAULT_LEVEL
    } else {
        // Validated to 1..=9 by CompressionConfig.
        level.clamp(1, 9).unsigned_abs()
    };
    // Deflate rarely grows text; reserving half the input avoids most regrowth.
    out.reserve(input.len() / 2 + 32);
    let mut encoder = GzEncoder::new(out, flate2::Compression::new(level));
    encoder
        .write_all(input)
        .map_err(|e| CodecError::encode(CODEC, e))?;
    encoder.finish().map_err(|e| CodecError::encode(CODEC, e))?;
    Ok(())
}

pub(crate) fn decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if input.is_empty() {
        return Err(CodecError::corrupt(
            CODEC,
            0,
            "empty stream: no gzip member",
        ));
    }
    let start = out.len();
    // Start with a modest guess; read_to_end grows with what is really produced.
    out.reserve(input.len().saturating_mul(4).min(limit));
    // One byte past the limit tells an over-long stream from one that fits exactly.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut reader = MultiGzDecoder::new(input).take(cap);
    reader
        .read_to_end(out)
        .map_err(|e| CodecError::decode(CODEC, e))?;
    if out.len() - start > limit {
        return Err(CodecError::OutputLimitExceeded {
            codec: CODEC,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_members_are_read_as_one_stream() {
        let mut data = Vec::new();
        compress(b"hello ", -1, &mut data).unwrap();
        compress(b"world", 9, &mut data).unwrap();
        let mut out = Vec::new();
        decompress(&data, 100, &mut out).unwrap();
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn header_has_no_mtime() {
        let mut data = Vec::new();
        compress(b"x", -1, &mut data).unwrap();
        assert_eq!(&data[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(
            &data[4..8],
            &[0, 0, 0, 0],
            "MTIME must be 0 as Kafka writes it"
        );
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let mut data = Vec::new();
        compress(b"some bytes to compress", -1, &mut data).unwrap();
        assert!(decompress(&data[..data.len() - 3], 100, &mut Vec::new()).is_err());
        assert!(decompress(b"not gzip at all", 100, &mut Vec::new()).is_err());
        assert!(decompress(b"", 100, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let mut data = Vec::new();
        compress(&zeros, 9, &mut data).unwrap();
        assert!(data.len() < 20_000);
        let mut out = Vec::new();
        let err = decompress(&data, 1 << 20, &mut out).unwrap_err();
        assert!(matches!(err, CodecError::OutputLimitExceeded { limit, .. } if limit == 1 << 20));
        assert!(out.capacity() < 4 << 20, "capacity {}", out.capacity());
    }
}

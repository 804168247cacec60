//! Dispatch from a codec to its implementation.

use crate::{CodecError, Compression, CompressionConfig, gzip, lz4, snappy, zstd};

/// Compresses `input` as one Kafka records stream and appends it to `out`.
///
/// `out` keeps what it held before, so a batch header can be written first and the
/// compressed records after it without a copy. With [`Compression::None`] the input
/// is appended as it is.
///
/// # Errors
/// [`CodecError::Encode`] when the codec library fails, which happens only for
/// inputs beyond the codec's size limits (about 2 GiB for lz4 and snappy) or when
/// memory runs out.
pub fn compress(
    config: &CompressionConfig,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match config.compression() {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::compress(input, config.level(), out),
        Compression::Snappy => snappy::compress(input, out),
        Compression::Lz4 => lz4::compress(input, config.level(), out),
        Compression::Zstd => zstd::compress(input, config.level(), out),
    }
}

/// Decompresses a Kafka records stream and appends the bytes to `out`, producing at
/// most `max_output` bytes.
///
/// Memory grows with the bytes actually produced, never with a size the input
/// claims: a size field larger than `max_output`, or a stream that inflates past
/// it, is [`CodecError::OutputLimitExceeded`]. zstd's window is bounded by zstd's
/// own 128 MiB default, as Kafka's readers bound it.
///
/// Accepted input per codec: gzip with one or more members; snappy in xerial
/// framing (also several concatenated streams) or as one raw block; an LZ4 frame
/// with independent blocks of 64 KiB to 4 MiB, optional content size and
/// checksums (verified when present); one or more zstd frames.
///
/// # Errors
/// [`CodecError::OutputLimitExceeded`] past the limit; [`CodecError::Corrupt`] or
/// [`CodecError::Decode`] for malformed input. On error `out` may hold a partial
/// result past its original length.
pub fn decompress(
    compression: Compression,
    input: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match compression {
        Compression::None => {
            if input.len() > max_output {
                return Err(CodecError::OutputLimitExceeded {
                    codec: compression,
                    limit: max_output,
                });
            }
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::decompress(input, max_output, out),
        Compression::Snappy => snappy::decompress(input, max_output, out),
        Compression::Lz4 => lz4::decompress(input, max_output, out),
        Compression::Zstd => zstd::decompress(input, max_output, out),
    }
}

/// How many more bytes `out` may grow by before passing the limit, counting from
/// `start` (its length when the call began).
pub(crate) fn room(out: &[u8], start: usize, limit: usize) -> usize {
    limit.saturating_sub(out.len().saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: JSON-ish text with a counter.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u32;
        while v.len() < len {
            v.extend_from_slice(
                format!(
                    "{{\"id\":{i},\"user\":\"u{}\",\"amount\":{}.{}}}",
                    i * 7 % 1000,
                    i * 13 % 997,
                    i % 100
                )
                .as_bytes(),
            );
            i += 1;
        }
        v.truncate(len);
        v
    }

    fn configs() -> Vec<CompressionConfig> {
        vec![
            CompressionConfig::NONE,
            CompressionConfig::new(Compression::Gzip),
            CompressionConfig::with_level(Compression::Gzip, 1).unwrap(),
            CompressionConfig::new(Compression::Snappy),
            CompressionConfig::new(Compression::Lz4),
            CompressionConfig::with_level(Compression::Lz4, 1).unwrap(),
            CompressionConfig::with_level(Compression::Lz4, 12).unwrap(),
            CompressionConfig::new(Compression::Zstd),
            CompressionConfig::with_level(Compression::Zstd, -5).unwrap(),
            CompressionConfig::with_level(Compression::Zstd, 19).unwrap(),
        ]
    }

    #[test]
    fn every_codec_round_trips_various_sizes() {
        for config in configs() {
            for len in [0, 1, 100, 32 * 1024, 32 * 1024 + 1, 64 * 1024, 200_000] {
                let input = sample(len);
                let mut out = b"header".to_vec();
                compress(&config, &input, &mut out).unwrap();
                assert_eq!(&out[..6], b"header");
                let mut back = b"prefix".to_vec();
                decompress(config.compression(), &out[6..], len, &mut back)
                    .unwrap_or_else(|e| panic!("{config:?} len {len}: {e}"));
                assert_eq!(&back[..6], b"prefix");
                assert!(back[6..] == input[..], "{config:?} len {len}");
            }
        }
    }

    #[test]
    fn limit_one_below_the_size_is_an_error_for_every_codec() {
        let input = sample(150_000);
        for config in configs() {
            let mut compressed = Vec::new();
            compress(&config, &input, &mut compressed).unwrap();
            let err = decompress(
                config.compression(),
                &compressed,
                input.len() - 1,
                &mut Vec::new(),
            )
            .unwrap_err();
            assert!(
                matches!(err, CodecError::OutputLimitExceeded { limit, .. } if limit == input.len() - 1),
                "{config:?}: {err}"
            );
        }
    }

    #[test]
    fn higher_levels_compress_better() {
        let input = sample(200_000);
        let size = |c: CompressionConfig| {
            let mut out = Vec::new();
            compress(&c, &input, &mut out).unwrap();
            out.len()
        };
        let gzip1 = size(CompressionConfig::with_level(Compression::Gzip, 1).unwrap());
        let gzip9 = size(CompressionConfig::with_level(Compression::Gzip, 9).unwrap());
        assert!(gzip9 < gzip1, "gzip 9 {gzip9} vs 1 {gzip1}");
        let lz4_fast = size(CompressionConfig::new(Compression::Lz4));
        let lz4_hc = size(CompressionConfig::with_level(Compression::Lz4, 12).unwrap());
        assert!(lz4_hc < lz4_fast, "lz4 hc {lz4_hc} vs fast {lz4_fast}");
        let zstd_neg = size(CompressionConfig::with_level(Compression::Zstd, -5).unwrap());
        let zstd19 = size(CompressionConfig::with_level(Compression::Zstd, 19).unwrap());
        assert!(zstd19 < zstd_neg, "zstd 19 {zstd19} vs -5 {zstd_neg}");
    }
}

//! snappy in snappy-java's xerial stream framing, as Kafka's Java client writes it.
//!
//! ```text
//! stream  = header block*
//! header  = 82 'S' 'N' 'A' 'P' 'P' 'Y' 00 | version i32 BE (1) | compatible i32 BE (1)
//! block   = compressed length i32 BE | raw snappy block of at most 32 KiB of input
//! ```
//!
//! librdkafka writes one raw snappy block with no header; readers fall back to
//! that when the magic is absent, so we do too.

use crate::codec::room;
use crate::{CodecError, Compression};

const CODEC: Compression = Compression::Snappy;

/// The xerial magic: 0x82, "SNAPPY", 0.
const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, then version 1 and compatible version 1 as big-endian int32s.
const HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// snappy-java's `SnappyOutputStream` default block size.
const BLOCK_SIZE: usize = 32 * 1024;

pub(crate) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut encoder = snap::raw::Encoder::new();
    out.extend_from_slice(&HEADER);
    for block in input.chunks(BLOCK_SIZE) {
        let length_at = out.len();
        let data_at = length_at + 4;
        out.resize(data_at + snap::raw::max_compress_len(block.len()), 0);
        let written = encoder
            .compress(block, out.get_mut(data_at..).unwrap_or_default())
            .map_err(|e| CodecError::encode(CODEC, e))?;
        out.truncate(data_at + written);
        let length = i32::try_from(written).map_err(|e| CodecError::encode(CODEC, e))?;
        if let Some(slot) = out.get_mut(length_at..data_at) {
            slot.copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

pub(crate) fn decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    if !input.starts_with(&MAGIC) {
        return decompress_raw(input, 0, start, limit, out);
    }
    let mut pos = 0;
    while pos < input.len() {
        let rest = input.get(pos..).unwrap_or_default();
        // snappy-java also reads streams written back to back: a header may follow
        // the last block of the previous stream.
        if rest.starts_with(&MAGIC) {
            if rest.len() < HEADER.len() {
                return Err(CodecError::corrupt(CODEC, pos, "truncated xerial header"));
            }
            pos += HEADER.len();
            continue;
        }
        let Some(length) = rest.first_chunk::<4>().map(|b| i32::from_be_bytes(*b)) else {
            return Err(CodecError::corrupt(
                CODEC,
                pos,
                format!(
                    "{} trailing bytes where a block length was expected",
                    rest.len()
                ),
            ));
        };
        let length = usize::try_from(length).map_err(|_| {
            CodecError::corrupt(CODEC, pos, format!("negative block length {length}"))
        })?;
        let block = rest.get(4..4 + length).ok_or_else(|| {
            CodecError::corrupt(
                CODEC,
                pos,
                format!(
                    "block of {length} bytes runs past the end of the stream ({} left)",
                    rest.len() - 4
                ),
            )
        })?;
        decompress_raw(block, pos + 4, start, limit, out)?;
        pos += 4 + length;
    }
    Ok(())
}

/// The most a snappy block can expand: 64 bytes from a 3-byte copy, rounded
/// up (and room for a block that is only its length varint: empty output).
const MAX_EXPANSION: usize = 22;

/// Decompresses one raw snappy block, checking its claimed length before
/// allocating anything.
fn decompress_raw(
    block: &[u8],
    position: usize,
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let claimed = snap::raw::decompress_len(block)
        .map_err(|e| CodecError::corrupt(CODEC, position, e.to_string()))?;
    // The densest snappy element, a 3-byte copy, yields 64 bytes: a block
    // cannot decode to more than ~21.4 times its size, and one that claims
    // more would fail only after its claim was allocated and zeroed.
    if claimed > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(CodecError::corrupt(
            CODEC,
            position,
            format!(
                "a block of {} bytes claims {claimed} bytes, more than snappy can encode in it",
                block.len()
            ),
        ));
    }
    if claimed > room(out, start, limit) {
        return Err(CodecError::OutputLimitExceeded {
            codec: CODEC,
            limit,
        });
    }
    let at = out.len();
    out.resize(at + claimed, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, out.get_mut(at..).unwrap_or_default())
        .map_err(|e| CodecError::corrupt(CODEC, position, e.to_string()))?;
    out.truncate(at + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_xerial_header_and_32k_blocks() {
        let input = vec![7u8; 70_000];
        let mut out = Vec::new();
        compress(&input, &mut out).unwrap();
        assert_eq!(out[..16], HEADER);
        // Walk the blocks: 32 KiB, 32 KiB, the rest.
        let mut pos = 16;
        let mut sizes = Vec::new();
        while pos < out.len() {
            let len = i32::from_be_bytes(out[pos..pos + 4].try_into().unwrap()) as usize;
            let block = &out[pos + 4..pos + 4 + len];
            sizes.push(snap::raw::decompress_len(block).unwrap());
            pos += 4 + len;
        }
        assert_eq!(sizes, vec![32768, 32768, 70_000 - 65536]);
    }

    #[test]
    fn reads_raw_snappy_as_librdkafka_writes_it() {
        let raw = snap::raw::Encoder::new()
            .compress_vec(b"raw block")
            .unwrap();
        let mut out = Vec::new();
        decompress(&raw, 100, &mut out).unwrap();
        assert_eq!(out, b"raw block");
    }

    #[test]
    fn reads_concatenated_streams() {
        let mut data = Vec::new();
        compress(b"one ", &mut data).unwrap();
        compress(b"two", &mut data).unwrap();
        let mut out = Vec::new();
        decompress(&data, 100, &mut out).unwrap();
        assert_eq!(out, b"one two");
    }

    #[test]
    fn a_lying_length_is_refused_before_allocating() {
        // A raw block whose varint claims 2^31 bytes: impossible in 6 bytes.
        let lying = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        let err = decompress(&lying, 1 << 20, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, CodecError::Corrupt { .. }), "{err}");
        // A possible claim past the limit is the limit's error.
        let mut data = Vec::new();
        compress(&[b'x'; 4096], &mut data).unwrap();
        let err = decompress(&data, 1000, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CodecError::OutputLimitExceeded { .. }),
            "{err}"
        );
    }

    /// A 7-byte block claiming 100 MiB: more than snappy can encode in it,
    /// refused as corrupt before anything is allocated, whatever the limit.
    #[test]
    fn a_claim_beyond_snappys_expansion_is_corrupt() {
        let mut block = Vec::new();
        let mut n = 100usize << 20;
        while n >= 0x80 {
            block.push((n as u8) | 0x80);
            n >>= 7;
        }
        block.push(n as u8);
        block.extend_from_slice(&[0xfe, 0xff, 0x00]);
        let err = decompress(&block, usize::MAX, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CodecError::Corrupt { .. }) && err.to_string().contains("claims"),
            "{err}"
        );
        // The densest real block (a long run) is still read.
        let run = vec![b'a'; 1 << 20];
        let mut data = Vec::new();
        compress(&run, &mut data).unwrap();
        let mut out = Vec::new();
        decompress(&data, run.len(), &mut out).unwrap();
        assert_eq!(out, run);
        let raw = snap::raw::Encoder::new().compress_vec(&run).unwrap();
        assert!(raw.len() * MAX_EXPANSION >= run.len(), "{}", raw.len());
        let mut out = Vec::new();
        decompress(&raw, run.len(), &mut out).unwrap();
        assert_eq!(out, run);
    }

    #[test]
    fn truncated_and_negative_blocks_are_corrupt() {
        let mut data = Vec::new();
        compress(b"some data some data some data", &mut data).unwrap();
        let err = decompress(&data[..data.len() - 2], 100, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CodecError::Corrupt { position: 16, .. }),
            "{err}"
        );
        let mut neg = HEADER.to_vec();
        neg.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            decompress(&neg, 100, &mut Vec::new()),
            Err(CodecError::Corrupt { .. })
        ));
        let mut short = HEADER.to_vec();
        short.extend_from_slice(&[0, 0]);
        assert!(decompress(&short, 100, &mut Vec::new()).is_err());
    }
}

//! LZ4 frames as Kafka's `Lz4BlockOutputStream` writes them for magic 1 and 2.
//!
//! ```text
//! frame = magic 04 22 4D 18 | FLG | BD | [content size u64 LE] | HC | block* | 00 00 00 00 | [content xxh32]
//! FLG   = version 01 (bits 7-6) | independent blocks (5) | block checksum (4)
//!         | content size (3) | content checksum (2) | reserved 0 (1) | dict id (0)
//! BD    = block maximum size id (bits 6-4): 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB
//! HC    = (xxh32(FLG .. last descriptor byte, seed 0) >> 8) & 0xFF
//! block = size u32 LE (high bit: stored uncompressed) | data | [block xxh32]
//! ```
//!
//! Kafka writes FLG `0x60` and BD `0x40`: independent 64 KiB blocks, no checksums,
//! no content size. Its default level (9) uses lz4's fast compressor, any other
//! level the high-compression mode.

use xxhash_rust::xxh32::xxh32;

use crate::compression::LZ4_DEFAULT_LEVEL;
use crate::{CodecError, Compression};

const CODEC: Compression = Compression::Lz4;

const MAGIC: [u8; 4] = 0x184D_2204_u32.to_le_bytes();
/// Version 1, independent blocks; no checksums, no content size.
const FLG_WRITTEN: u8 = 0x60;
/// 64 KiB maximum block size.
const BD_WRITTEN: u8 = 0x40;
const BLOCK_SIZE: usize = 64 * 1024;
const UNCOMPRESSED_BIT: u32 = 0x8000_0000;

const FLG_VERSION_MASK: u8 = 0xC0;
const FLG_VERSION_1: u8 = 0x40;
const FLG_INDEPENDENT: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_RESERVED: u8 = 0x02;
const FLG_DICT_ID: u8 = 0x01;

/// The header checksum byte over the frame descriptor.
fn header_checksum(descriptor: &[u8]) -> u8 {
    ((xxh32(descriptor, 0) >> 8) & 0xFF) as u8
}

pub(crate) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let blocks = input.len().div_ceil(BLOCK_SIZE);
    out.reserve(7 + 4 + blocks * 4 + lz4_flex::block::get_maximum_output_size(input.len()));
    out.extend_from_slice(&MAGIC);
    out.push(FLG_WRITTEN);
    out.push(BD_WRITTEN);
    out.push(header_checksum(&[FLG_WRITTEN, BD_WRITTEN]));
    for block in input.chunks(BLOCK_SIZE) {
        let size_at = out.len();
        let data_at = size_at + 4;
        out.resize(
            data_at + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let target = out.get_mut(data_at..).unwrap_or_default();
        let written = if level == LZ4_DEFAULT_LEVEL {
            lz4_flex::block::compress_into(block, target)
                .map_err(|e| CodecError::encode(CODEC, e))?
        } else {
            lz4::block::compress_to_buffer(
                block,
                Some(lz4::block::CompressionMode::HIGHCOMPRESSION(level)),
                false,
                target,
            )
            .map_err(|e| CodecError::encode(CODEC, e))?
        };
        // As Kafka: a block that does not shrink is stored as it is.
        let size = if written >= block.len() {
            out.truncate(data_at);
            out.extend_from_slice(block);
            block.len() as u32 | UNCOMPRESSED_BIT
        } else {
            out.truncate(data_at + written);
            written as u32
        };
        if let Some(slot) = out.get_mut(size_at..data_at) {
            slot.copy_from_slice(&size.to_le_bytes());
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    Ok(())
}

/// A bounds-checked cursor over the compressed input.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        let bytes = self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.get(..n))
            .ok_or_else(|| {
                CodecError::corrupt(
                    CODEC,
                    self.pos,
                    format!(
                        "{what} needs {n} bytes, {} left",
                        self.input.len().saturating_sub(self.pos)
                    ),
                )
            })?;
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8, CodecError> {
        let b = self.take(1, what)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    fn u32_le(&mut self, what: &str) -> Result<u32, CodecError> {
        let b = self.take(4, what)?;
        Ok(b.first_chunk::<4>()
            .map(|b| u32::from_le_bytes(*b))
            .unwrap_or_default())
    }
}

pub(crate) fn decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let mut cur = Cursor { input, pos: 0 };
    if cur.take(4, "frame magic")? != MAGIC {
        return Err(CodecError::corrupt(
            CODEC,
            0,
            "not an LZ4 frame (bad magic)",
        ));
    }
    let descriptor_at = cur.pos;
    let flg = cur.u8("FLG")?;
    let bd = cur.u8("BD")?;
    if flg & FLG_VERSION_MASK != FLG_VERSION_1 {
        return Err(CodecError::corrupt(
            CODEC,
            descriptor_at,
            format!("unsupported frame version in FLG {flg:#04x}"),
        ));
    }
    if flg & (FLG_RESERVED | FLG_DICT_ID) != 0 {
        return Err(CodecError::corrupt(
            CODEC,
            descriptor_at,
            format!("reserved or dictionary bits set in FLG {flg:#04x}"),
        ));
    }
    if flg & FLG_INDEPENDENT == 0 {
        // Kafka's reader refuses linked blocks too.
        return Err(CodecError::corrupt(
            CODEC,
            descriptor_at,
            "dependent (linked) blocks are not supported",
        ));
    }
    let block_size_id = (bd >> 4) & 0x07;
    if bd & 0x8F != 0 || !(4..=7).contains(&block_size_id) {
        return Err(CodecError::corrupt(
            CODEC,
            descriptor_at + 1,
            format!("invalid BD byte {bd:#04x}"),
        ));
    }
    let max_block = 1usize << (2 * usize::from(block_size_id) + 8);
    if flg & FLG_CONTENT_SIZE != 0 {
        let size = cur.take(8, "content size")?;
        let size = size
            .first_chunk::<8>()
            .map(|b| u64::from_le_bytes(*b))
            .unwrap_or_default();
        // A declared size is only a hint; refuse one past the limit early.
        if usize::try_from(size).map_or(true, |s| s > limit) {
            return Err(CodecError::OutputLimitExceeded {
                codec: CODEC,
                limit,
            });
        }
    }
    let descriptor = input.get(descriptor_at..cur.pos).unwrap_or_default();
    let hc_at = cur.pos;
    let hc = cur.u8("header checksum")?;
    if hc != header_checksum(descriptor) {
        return Err(CodecError::corrupt(
            CODEC,
            hc_at,
            format!(
                "header checksum {hc:#04x}, expected {:#04x}",
                header_checksum(descriptor)
            ),
        ));
    }

    // The bytes decoded so far end at `len`; `out` past it is zeroed room
    // that the next blocks reuse, so each byte of `out` is zeroed at most
    // once however many blocks the frame has (a block of two bytes in a frame
    // of 4 MiB blocks must not cost a 4 MiB fill).
    let mut len = out.len();
    let result = decode_blocks(&mut cur, flg, max_block, start, limit, out, &mut len);
    out.truncate(len);
    result?;
    if flg & FLG_CONTENT_CHECKSUM != 0 {
        let sum_at = cur.pos;
        let stored_sum = cur.u32_le("content checksum")?;
        if stored_sum != xxh32(out.get(start..).unwrap_or_default(), 0) {
            return Err(CodecError::corrupt(
                CODEC,
                sum_at,
                "content checksum mismatch",
            ));
        }
    }
    if cur.pos != input.len() {
        return Err(CodecError::corrupt(
            CODEC,
            cur.pos,
            format!(
                "{} trailing bytes after the end mark",
                input.len() - cur.pos
            ),
        ));
    }
    Ok(())
}

/// One block into `target`. Not inlined: inlined into the frame loop,
/// `lz4_flex`'s decoder was compiled into a slower form (measured: 48-52 µs
/// against 40 µs for the bench's 180 KB).
#[inline(never)]
fn decompress_block(
    data: &[u8],
    target: &mut [u8],
) -> Result<usize, lz4_flex::block::DecompressError> {
    lz4_flex::block::decompress_into(data, target)
}

/// Decodes the frame's blocks up to its end mark into `out` from `*len` on
/// (see [`decompress`]); `*len` is where the decoded bytes end, also on
/// error.
fn decode_blocks(
    cur: &mut Cursor<'_>,
    flg: u8,
    max_block: usize,
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
    len: &mut usize,
) -> Result<(), CodecError> {
    loop {
        let size_at = cur.pos;
        let word = cur.u32_le("block size")?;
        let stored = word & UNCOMPRESSED_BIT != 0;
        let size = (word & !UNCOMPRESSED_BIT) as usize;
        // As Kafka's reader, the size without its high bit is what ends the
        // frame.
        if size == 0 {
            return Ok(());
        }
        if size > max_block {
            return Err(CodecError::corrupt(
                CODEC,
                size_at,
                format!("block of {size} bytes exceeds the frame's maximum block size {max_block}"),
            ));
        }
        let data = cur.take(size, "block")?;
        if flg & FLG_BLOCK_CHECKSUM != 0 {
            let sum_at = cur.pos;
            let stored_sum = cur.u32_le("block checksum")?;
            if stored_sum != xxh32(data, 0) {
                return Err(CodecError::corrupt(
                    CODEC,
                    sum_at,
                    "block checksum mismatch",
                ));
            }
        }
        let room = limit.saturating_sub(len.saturating_sub(start));
        // A block inflates to at most max_block bytes; give it that much
        // room, or only what the limit leaves.
        let window = if stored { size } else { max_block.min(room) };
        if stored && size > room {
            return Err(CodecError::OutputLimitExceeded {
                codec: CODEC,
                limit,
            });
        }
        let end = *len + window;
        if out.len() < end {
            out.resize(end, 0);
        }
        let target = out.get_mut(*len..end).unwrap_or_default();
        if stored {
            target.copy_from_slice(data);
            *len = end;
            continue;
        }
        match decompress_block(data, target) {
            Ok(written) => *len += written,
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if window < max_block => {
                return Err(CodecError::OutputLimitExceeded {
                    codec: CODEC,
                    limit,
                });
            }
            Err(e) => {
                return Err(CodecError::corrupt(CODEC, size_at + 4, e.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_kafkas_frame_header() {
        let mut out = Vec::new();
        compress(b"abc", LZ4_DEFAULT_LEVEL, &mut out).unwrap();
        assert_eq!(&out[..6], &[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40]);
        // The header checksum every Kafka lz4 batch starts with.
        assert_eq!(out[6], 0x82);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
    }

    #[test]
    fn incompressible_blocks_are_stored() {
        let mut rng = 0x1234_5678u32;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                rng as u8
            })
            .collect();
        let mut out = Vec::new();
        compress(&noise, LZ4_DEFAULT_LEVEL, &mut out).unwrap();
        let word = u32::from_le_bytes(out[7..11].try_into().unwrap());
        assert_eq!(word, 1000 | UNCOMPRESSED_BIT);
        let mut back = Vec::new();
        decompress(&out, 1000, &mut back).unwrap();
        assert_eq!(back, noise);
    }

    #[test]
    fn reads_frames_written_by_the_reference_encoder() {
        // lz4_flex's frame encoder writes content size and checksums when asked;
        // all of them must be accepted and verified.
        use std::io::Write;
        let input: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max256KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent)
            .block_checksums(true)
            .content_checksum(true)
            .content_size(Some(input.len() as u64));
        let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(&input).unwrap();
        let frame = enc.finish().unwrap();
        let mut out = Vec::new();
        decompress(&frame, input.len(), &mut out).unwrap();
        assert_eq!(out, input);

        // Flip a byte inside the first block: the block checksum catches it.
        let mut bad = frame.clone();
        let at = 4 + 2 + 8 + 1 + 4 + 10;
        bad[at] ^= 0x55;
        assert!(decompress(&bad, input.len(), &mut Vec::new()).is_err());
    }

    #[test]
    fn linked_blocks_bad_header_checksum_and_trailing_bytes_are_refused() {
        let mut frame = Vec::new();
        compress(b"hello hello hello", LZ4_DEFAULT_LEVEL, &mut frame).unwrap();

        let mut linked = frame.clone();
        linked[4] &= !FLG_INDEPENDENT;
        linked[6] = header_checksum(&linked[4..6]);
        assert!(decompress(&linked, 100, &mut Vec::new()).is_err());

        let mut bad_hc = frame.clone();
        bad_hc[6] ^= 1;
        let err = decompress(&bad_hc, 100, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("header checksum"), "{err}");

        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(decompress(&trailing, 100, &mut Vec::new()).is_err());

        let no_end = &frame[..frame.len() - 4];
        assert!(decompress(no_end, 100, &mut Vec::new()).is_err());
    }

    /// A frame of 4 MiB blocks (BD 0x70) holding many tiny blocks, as a
    /// hostile producer could write: decoded exactly, block after block, each
    /// byte of the output zeroed at most once. The end mark may carry the
    /// stored bit, as Kafka's reader masks it off before testing for zero.
    #[test]
    fn many_small_blocks_in_a_large_block_frame_decode_in_place() {
        let mut frame = vec![0x04, 0x22, 0x4D, 0x18, 0x60, 0x70];
        let hc = header_checksum(&frame[4..]);
        frame.push(hc);
        let mut want = Vec::new();
        for i in 0..5000u32 {
            // A stored block of one byte and a compressed one (a literal run
            // of one byte: token 0x10, then the byte).
            let (a, b) = ((i % 251) as u8, (i % 13) as u8);
            frame.extend_from_slice(&(1 | UNCOMPRESSED_BIT).to_le_bytes());
            frame.push(a);
            frame.extend_from_slice(&2u32.to_le_bytes());
            frame.extend_from_slice(&[0x10, b]);
            want.extend_from_slice(&[a, b]);
        }
        frame.extend_from_slice(&UNCOMPRESSED_BIT.to_le_bytes());
        let mut out = vec![7u8; 3];
        decompress(&frame, want.len(), &mut out).unwrap();
        assert_eq!(&out[..3], &[7, 7, 7], "what was there before is kept");
        assert_eq!(&out[3..], &want[..]);

        // One byte short of room: the limit, not corruption, and nothing
        // past what fitted is left behind.
        let mut out = Vec::new();
        let err = decompress(&frame, want.len() - 1, &mut out).unwrap_err();
        assert!(
            matches!(err, CodecError::OutputLimitExceeded { .. }),
            "{err}"
        );
        assert!(out.len() < want.len());
        assert_eq!(out, want[..out.len()]);
    }

    #[test]
    fn a_content_size_past_the_limit_is_refused_up_front() {
        let mut frame = vec![0x04, 0x22, 0x4D, 0x18, 0x68, 0x40];
        frame.extend_from_slice(&u64::MAX.to_le_bytes());
        let hc = header_checksum(&frame[4..]);
        frame.push(hc);
        frame.extend_from_slice(&0u32.to_le_bytes());
        let err = decompress(&frame, 1 << 20, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CodecError::OutputLimitExceeded { .. }),
            "{err}"
        );
    }
}

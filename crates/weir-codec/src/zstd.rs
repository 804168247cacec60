//! zstd: standard frames. Kafka's zstd-jni stream writes one frame without a
//! content size; other writers add it or write several frames, all of which are
//! read.

use std::cell::RefCell;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer};

use crate::codec::room;
use crate::{CodecError, Compression};

const CODEC: Compression = Compression::Zstd;

/// zstd's own default decoder window limit (128 MiB), which Kafka's readers
/// use. It is allowed whatever the output limit: Kafka's zstd-jni stream
/// writes frames without a content size, whose window at levels 20-22 is
/// 32-128 MiB however small the batch (the buffer is only as large as the
/// frame's window, and zstd touches only what it decodes).
const WINDOW_LOG_MAX: u32 = 27;

thread_local! {
    // Contexts are costly to create (hundreds of KiB); keep one per thread.
    static COMPRESSOR: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<DCtx<'static>>> = const { RefCell::new(None) };
}

fn error(code: usize) -> String {
    zstd_safe::get_error_name(code).to_owned()
}

pub(crate) fn compress(input: &[u8], level: i32, out: &mut Vec<u8>) -> Result<(), CodecError> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cctx = slot.get_or_insert_with(CCtx::create);
        cctx.reset(zstd_safe::ResetDirective::SessionAndParameters)
            .map_err(|c| CodecError::encode(CODEC, error(c)))?;
        cctx.set_parameter(CParameter::CompressionLevel(level))
            .map_err(|c| CodecError::encode(CODEC, error(c)))?;
        out.reserve(zstd_safe::compress_bound(input.len()));
        let mut src = InBuffer::around(input);
        loop {
            let at = out.len();
            let mut dst = OutBuffer::around_pos(out, at);
            let remaining = cctx
                .compress_stream2(
                    &mut dst,
                    &mut src,
                    zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_end,
                )
                .map_err(|c| CodecError::encode(CODEC, error(c)))?;
            if remaining == 0 {
                return Ok(());
            }
            out.reserve(remaining);
        }
    })
}

pub(crate) fn decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if input.is_empty() {
        return Err(CodecError::corrupt(CODEC, 0, "empty stream: no zstd frame"));
    }
    let start = out.len();
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dctx = slot.get_or_insert_with(DCtx::create);
        dctx.reset(zstd_safe::ResetDirective::SessionAndParameters)
            .map_err(|c| CodecError::decode(CODEC, error(c)))?;
        dctx.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
            .map_err(|c| CodecError::decode(CODEC, error(c)))?;
        let mut pos = 0;
        while pos < input.len() {
            let rest = input.get(pos..).unwrap_or_default();
            let frame_len = zstd_safe::find_frame_compressed_size(rest)
                .map_err(|c| CodecError::corrupt(CODEC, pos, error(c)))?;
            let frame = rest.get(..frame_len).unwrap_or_default();
            decompress_frame(dctx, frame, pos, start, limit, out)?;
            pos += frame_len.max(1);
        }
        Ok(())
    })
}

/// Decompresses one whole frame. With a declared content size that fits the limit,
/// the output is reserved once and zstd decodes straight into it (no window
/// buffer); otherwise it streams, growing the output up to the limit.
fn decompress_frame(
    dctx: &mut DCtx<'static>,
    frame: &[u8],
    position: usize,
    start: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let declared = zstd_safe::get_frame_content_size(frame)
        .map_err(|_| CodecError::corrupt(CODEC, position, "unreadable frame header"))?;
    match declared {
        Some(size) if usize::try_from(size).map_or(true, |s| s > room(out, start, limit)) => {
            return Err(CodecError::OutputLimitExceeded {
                codec: CODEC,
                limit,
            });
        }
        Some(size) => out.reserve(usize::try_from(size).unwrap_or_default()),
        None => out.reserve(frame.len().saturating_mul(4).min(room(out, start, limit))),
    }
    let mut src = InBuffer::around(frame);
    loop {
        if out.len() == out.capacity() {
            // One byte past the limit makes an over-long frame observable.
            let room = room(out, start, limit).saturating_add(1);
            out.reserve(out.len().clamp(64 * 1024, 16 << 20).min(room));
        }
        let before = (out.len(), src.pos());
        let at = out.len();
        let hint = dctx
            .decompress_stream(&mut OutBuffer::around_pos(out, at), &mut src)
            .map_err(|c| CodecError::corrupt(CODEC, position + src.pos(), error(c)))?;
        if out.len() - start > limit {
            return Err(CodecError::OutputLimitExceeded {
                codec: CODEC,
                limit,
            });
        }
        if hint == 0 {
            return Ok(());
        }
        if before == (out.len(), src.pos()) && out.len() < out.capacity() {
            return Err(CodecError::corrupt(
                CODEC,
                position + frame.len(),
                "frame ends early",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_frames_with_and_without_content_size() {
        let mut data = zstd::bulk::compress(b"with size, ", 3).unwrap();
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            std::io::Write::write_all(&mut enc, b"without size").unwrap();
            enc.finish().unwrap();
        }
        assert_eq!(zstd_safe::get_frame_content_size(&streamed).unwrap(), None);
        data.extend_from_slice(&streamed);
        let mut out = Vec::new();
        decompress(&data, 100, &mut out).unwrap();
        assert_eq!(out, b"with size, without size");
    }

    /// Kafka's zstd-jni writes a stream without a content size; at level 22
    /// its frame asks for a 128 MiB window however small the batch. It is read
    /// whatever the output limit, as Kafka reads it.
    #[test]
    fn a_level_22_stream_is_read_under_a_small_limit() {
        let text = b"{\"order\":1,\"amount\":12.5}".repeat(40);
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 22).unwrap();
            std::io::Write::write_all(&mut enc, &text).unwrap();
            enc.finish().unwrap();
        }
        assert_eq!(zstd_safe::get_frame_content_size(&streamed).unwrap(), None);
        let mut out = Vec::new();
        decompress(&streamed, 1 << 20, &mut out).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn a_streamed_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 50 << 20];
        let mut streamed = Vec::new();
        {
            let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
            std::io::Write::write_all(&mut enc, &zeros).unwrap();
            enc.finish().unwrap();
        }
        assert!(streamed.len() < 10_000);
        let mut out = Vec::new();
        let err = decompress(&streamed, 1 << 20, &mut out).unwrap_err();
        assert!(
            matches!(err, CodecError::OutputLimitExceeded { .. }),
            "{err}"
        );
        assert!(out.capacity() <= 4 << 20, "capacity {}", out.capacity());
    }

    #[test]
    fn a_lying_content_size_is_refused_before_allocating() {
        // 300 bytes: the header's content-size field is 2 bytes (value - 256) right
        // after the magic and the descriptor (single segment, no window byte).
        let mut frame = zstd::bulk::compress(&[1u8; 300], 3).unwrap();
        assert_eq!(frame[4] & 0xE0, 0x60, "descriptor {:#04x}", frame[4]);
        assert_eq!(u16::from_le_bytes([frame[5], frame[6]]), 300 - 256);
        frame[5] = 0xFF;
        frame[6] = 0xFF;
        let err = decompress(&frame, 1000, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, CodecError::OutputLimitExceeded { .. }),
            "{err}"
        );
        assert!(decompress(b"\x28\xb5\x2f\xfd garbage", 1000, &mut Vec::new()).is_err());
        assert!(decompress(&frame[..frame.len() - 2], 1000, &mut Vec::new()).is_err());
    }
}

//! The fixed part of a batch header, read in place from a buffer: what the log
//! needs to frame, index and find batches without decoding records.

use weir_record::layout::{
    BASE_OFFSET, BATCH_LENGTH, LAST_OFFSET_DELTA, LOG_OVERHEAD, MAGIC, MAX_TIMESTAMP,
    PARTITION_LEADER_EPOCH, PRODUCER_ID, RECORD_BATCH_OVERHEAD,
};

/// Header fields of one batch at a known position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// Byte position of the batch in its segment.
    pub(crate) position: u64,
    /// Offset of the first record.
    pub(crate) base_offset: i64,
    /// Offset of the last record (`base + lastOffsetDelta`).
    pub(crate) last_offset: i64,
    /// `batchLength + 12`.
    pub(crate) size: u64,
    /// `maxTimestamp`.
    pub(crate) max_timestamp: i64,
    /// `partitionLeaderEpoch`.
    pub(crate) partition_leader_epoch: i32,
    /// `magic`.
    pub(crate) magic: i8,
    /// `producerId`.
    pub(crate) producer_id: i64,
}

fn be<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at + N)?.first_chunk::<N>().copied()
}

/// The frame of the batch at the start of `buf`: `(base offset, size)` from the
/// first 12 bytes, or `None` when fewer are given. The size may be nonsense
/// (negative or tiny) in a corrupt file; callers check it.
pub(crate) fn frame(buf: &[u8]) -> Option<(i64, i64)> {
    let base = i64::from_be_bytes(be::<8>(buf, BASE_OFFSET)?);
    let length = i32::from_be_bytes(be::<4>(buf, BATCH_LENGTH)?);
    Some((base, i64::from(length) + LOG_OVERHEAD as i64))
}

/// Parses the 61-byte header at the start of `buf`, or `None` when `buf` is
/// shorter than a header. No field is validated beyond being readable.
pub(crate) fn parse(buf: &[u8], position: u64) -> Option<BatchHeader> {
    if buf.len() < RECORD_BATCH_OVERHEAD {
        return None;
    }
    let (base_offset, size) = frame(buf)?;
    let last_delta = i32::from_be_bytes(be::<4>(buf, LAST_OFFSET_DELTA)?);
    Some(BatchHeader {
        position,
        base_offset,
        last_offset: base_offset.wrapping_add(i64::from(last_delta)),
        size: u64::try_from(size).unwrap_or(0),
        max_timestamp: i64::from_be_bytes(be::<8>(buf, MAX_TIMESTAMP)?),
        partition_leader_epoch: i32::from_be_bytes(be::<4>(buf, PARTITION_LEADER_EPOCH)?),
        magic: i8::from_be_bytes(be::<1>(buf, MAGIC)?),
        producer_id: i64::from_be_bytes(be::<8>(buf, PRODUCER_ID)?),
    })
}

/// Walks the whole batches at the start of `buf` (positions relative to
/// `start`), stopping at the first incomplete or implausible one.
pub(crate) fn walk(buf: &[u8], start: u64) -> impl Iterator<Item = BatchHeader> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = buf.get(at..)?;
        let header = parse(rest, start + at as u64)?;
        let size = usize::try_from(header.size).ok()?;
        if header.size < RECORD_BATCH_OVERHEAD as u64 || size > rest.len() {
            return None;
        }
        at += size;
        Some(header)
    })
}

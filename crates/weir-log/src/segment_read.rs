//! Reading a segment: positional reads, walking batch headers, index lookups,
//! and the fetch read (whole batches from an offset).
//!
//! A fetch reads exactly the bytes it returns: the first batch is located from
//! the offset index (or from where a recent fetch ended, for a sequential
//! reader), and the end is cut at a batch boundary that the index or a header
//! walk proves, so no byte is read twice and none is read only to be dropped.
//! Large reads go through a pooled read-only handle with `read_to_end`, which
//! fills the buffer without zeroing it first.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use bytes::Bytes;
use weir_record::layout::RECORD_BATCH_OVERHEAD;

use crate::batch_header::{self, BatchHeader};
use crate::error::LogError;
use crate::segment::{LogSegment, SegmentRead, lock, read_lock};
use crate::segment_file::LOG_SUFFIX;

/// Bytes read at once when walking batch headers.
const WALK_CHUNK: usize = 16 * 1024;
/// Reads at least this large skip zeroing the buffer.
const LARGE_READ: usize = 64 * 1024;
/// Read handles kept per segment.
const MAX_READ_HANDLES: usize = 4;
/// Position hints kept per segment.
const MAX_HINTS: usize = 8;

impl LogSegment {
    /// Reads `len` bytes at `position` (fewer at the end of the file).
    pub(crate) fn read_at(&self, position: u64, len: usize) -> Result<Vec<u8>, LogError> {
        self.read_into(position, len, Vec::new())
    }

    /// As [`read_at`](Self::read_at), into `buf` (emptied first; its
    /// allocation is reused when large enough).
    pub(crate) fn read_into(
        &self,
        position: u64,
        len: usize,
        mut buf: Vec<u8>,
    ) -> Result<Vec<u8>, LogError> {
        buf.clear();
        if buf.capacity() < len {
            // A fresh buffer rather than growing this one (which would copy
            // it). A large one is rounded up, so that a reader reusing its
            // buffers finds them large enough for its next fetches, whose
            // lengths differ by a batch or so.
            buf = if len >= LARGE_READ {
                Vec::with_capacity(len.next_multiple_of(LARGE_READ))
            } else {
                Vec::new()
            };
        }
        if len >= LARGE_READ {
            match self.read_unzeroed(position, len, buf) {
                Ok(read) => return Ok(read),
                Err(back) => buf = back,
            }
        }
        buf.resize(len, 0);
        let mut done = 0;
        while done < len {
            let rest = buf.get_mut(done..).unwrap_or_default();
            match self.file.read_at(rest, position + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LogError::io(self.log_path(), "read")(e)),
            }
        }
        buf.truncate(done);
        Ok(buf)
    }

    /// A large read into the empty `buf` without zeroing it: a read-only
    /// handle of our own (its file position is not shared) and `read_to_end`,
    /// which reads into the spare capacity. `Err` with the buffer, emptied,
    /// when no handle can be had (the file was renamed for deletion, say) or
    /// the read failed; the caller then uses `pread`.
    fn read_unzeroed(
        &self,
        position: u64,
        len: usize,
        mut buf: Vec<u8>,
    ) -> Result<Vec<u8>, Vec<u8>> {
        let handle = lock(&self.read_handles).pop();
        let mut file = match handle {
            Some(f) => f,
            None => match self.open_same_file() {
                Some(f) => f,
                None => return Err(buf),
            },
        };
        buf.reserve(len);
        let ok = file.seek(SeekFrom::Start(position)).is_ok()
            && (&mut file).take(len as u64).read_to_end(&mut buf).is_ok();
        if !ok {
            buf.clear();
            return Err(buf);
        }
        let mut pool = lock(&self.read_handles);
        if pool.len() < MAX_READ_HANDLES {
            pool.push(file);
        }
        Ok(buf)
    }

    /// A new handle on this segment's file, opened by its name; `None` when
    /// the name now belongs to another file (a cleaned segment swapped in, a
    /// topic deleted and created again) or no longer exists.
    fn open_same_file(&self) -> Option<File> {
        use std::os::unix::fs::MetadataExt;
        let file = File::open(self.path(LOG_SUFFIX)).ok()?;
        let (ours, theirs) = (self.file.metadata().ok()?, file.metadata().ok()?);
        (ours.dev() == theirs.dev() && ours.ino() == theirs.ino()).then_some(file)
    }

    /// Calls `f` on each whole batch header in `[start, end)` until it returns
    /// `false`, reading in chunks and skipping batch bodies. Stops silently at a
    /// header that does not frame a plausible batch (recovery, not this, judges
    /// damaged files).
    pub(crate) fn walk_headers(
        &self,
        start: u64,
        end: u64,
        mut f: impl FnMut(&BatchHeader) -> bool,
    ) -> Result<(), LogError> {
        let mut pos = start;
        while pos < end {
            let want = usize::try_from((end - pos).min(WALK_CHUNK as u64)).unwrap_or(WALK_CHUNK);
            let chunk = self.read_at(pos, want)?;
            let mut next = pos;
            for h in batch_header::walk(&chunk, pos) {
                next = h.position + h.size;
                if !f(&h) {
                    return Ok(());
                }
            }
            if next == pos {
                // The batch at `pos` is larger than the chunk: skip its body.
                let Some(h) = batch_header::parse(&chunk, pos) else {
                    return Ok(());
                };
                if h.size < RECORD_BATCH_OVERHEAD as u64 || h.position + h.size > end {
                    return Ok(());
                }
                next = h.position + h.size;
                if !f(&h) {
                    return Ok(());
                }
            }
            pos = next;
        }
        Ok(())
    }

    /// The position to start scanning from for `offset`: the largest index
    /// entry at or below it (Kafka's `OffsetIndex.lookup`).
    pub(crate) fn lookup_position(&self, offset: i64) -> u64 {
        let Some(rel) = self.relative_offset(offset) else {
            return 0;
        };
        let idx = read_lock(&self.indexes);
        let i = idx.offsets.partition_point(|&(r, _)| r <= rel);
        i.checked_sub(1)
            .and_then(|i| idx.offsets.get(i))
            .map_or(0, |&(_, pos)| u64::from(pos))
    }

    /// The offset to start scanning from for `timestamp`: the offset of the
    /// largest time index entry at or below it (Kafka's `TimeIndex.lookup`).
    pub(crate) fn lookup_time(&self, timestamp: i64) -> i64 {
        let idx = read_lock(&self.indexes);
        let i = idx.times.partition_point(|&(ts, _)| ts <= timestamp);
        i.checked_sub(1)
            .and_then(|i| idx.times.get(i))
            .map_or(self.base_offset, |&(_, rel)| self.absolute_offset(rel))
    }

    /// The last batch boundary in `(after, limit]` that the offset index proves:
    /// the start of an indexed batch whose records are all below `max_offset`.
    fn indexed_boundary(&self, after: u64, limit: u64, max_offset: i64) -> Option<u64> {
        let max_rel = max_offset
            .checked_sub(self.base_offset)
            .map_or(0, |rel| u32::try_from(rel.max(0)).unwrap_or(u32::MAX));
        let idx = read_lock(&self.indexes);
        let i = idx
            .offsets
            .partition_point(|&(rel, pos)| u64::from(pos) <= limit && rel < max_rel);
        idx.offsets
            .get(..i)?
            .last()
            .map(|&(_, pos)| u64::from(pos))
            .filter(|&pos| pos > after)
    }

    /// The header of the batch at `position`, if one that plausibly frames a
    /// whole batch ends by `max_position`.
    fn header_at(&self, position: u64, max_position: u64) -> Option<BatchHeader> {
        let mut buf = [0u8; RECORD_BATCH_OVERHEAD];
        let mut done = 0;
        while done < buf.len() {
            let rest = buf.get_mut(done..)?;
            match self.file.read_at(rest, position + done as u64) {
                Ok(0) => return None,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        batch_header::parse(&buf, position).filter(|h| {
            h.size >= RECORD_BATCH_OVERHEAD as u64 && h.position + h.size <= max_position
        })
    }

    /// The header of the first batch holding an offset at or after `offset`.
    fn locate(
        &self,
        offset: i64,
        max_offset: i64,
        max_position: u64,
    ) -> Result<Option<BatchHeader>, LogError> {
        let hinted = lock(&self.position_hints)
            .iter()
            .find(|&&(o, _)| o == offset)
            .map(|&(_, pos)| pos);
        // A sequential reader's next batch starts where its last fetch
        // ended: its header alone is read, not a walk's chunk.
        if let Some(at) = hinted
            && let Some(h) = self.header_at(at, max_position)
            && h.base_offset <= offset
            && offset <= h.last_offset
            && h.base_offset < max_offset
        {
            return Ok(Some(h));
        }
        let start = hinted.unwrap_or_else(|| self.lookup_position(offset));
        let mut found = None;
        self.walk_headers(start.min(max_position), max_position, |h| {
            if h.base_offset >= max_offset {
                return false;
            }
            if h.last_offset >= offset {
                found = Some(*h);
                return false;
            }
            true
        })?;
        Ok(found)
    }

    /// Reads whole batches starting with the one holding `offset`: as many as
    /// fit `max_bytes`, at least one, none at or past `max_offset` or
    /// `max_position`. `None` when no batch in the segment reaches `offset`.
    /// The bytes are read into `into`'s allocation when it fits the read (at
    /// least as large, and not so much larger that the returned bytes would
    /// pin memory they do not use); `into` is taken (left empty) only then,
    /// and only when bytes are returned.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
        max_position: u64,
        into: &mut Vec<u8>,
    ) -> Result<Option<SegmentRead>, LogError> {
        let Some(first) = self.locate(offset, max_offset, max_position)? else {
            return Ok(None);
        };
        let first_end = first.position + first.size;
        if first_end > max_position {
            return Ok(None);
        }
        // `max_bytes` may be anything up to `usize::MAX` ("no limit").
        let limit = first
            .position
            .saturating_add(u64::try_from(max_bytes).unwrap_or(u64::MAX))
            .max(first_end)
            .min(max_position);
        // The rest of the segment when it fits (the visible size is a batch
        // boundary); else exactly up to a boundary the index proves; else (small
        // batches between two index entries) up to the limit, cut at the last
        // whole batch.
        let end = if limit == max_position {
            limit
        } else {
            self.indexed_boundary(first.position, limit, max_offset)
                .unwrap_or(limit)
        };
        let len = usize::try_from(end - first.position).unwrap_or(usize::MAX);
        let fits = into.capacity() >= len && into.capacity() <= len.saturating_mul(4) + LARGE_READ;
        let given = if fits {
            std::mem::take(into)
        } else {
            Vec::new()
        };
        let buf = self.read_into(first.position, len, given)?;
        let mut cut = 0usize;
        let mut next_offset = first.last_offset.saturating_add(1);
        for h in batch_header::walk(&buf, first.position) {
            if h.base_offset >= max_offset {
                break;
            }
            // Offsets only go up in a sound log. A batch that goes back (bytes
            // trusted after a clean shutdown but damaged since) ends the read,
            // so the reader's next offset always moves on; the next fetch looks
            // past such batches, as Kafka's `searchForOffsetWithSize` does.
            if cut > 0 && (h.base_offset < next_offset || h.last_offset < h.base_offset) {
                break;
            }
            cut = usize::try_from(h.position + h.size - first.position).unwrap_or(0);
            next_offset = h.last_offset.saturating_add(1);
        }
        if cut == 0 {
            // Not even the first batch came back whole: the file ended early.
            // The caller keeps its buffer.
            if fits {
                *into = buf;
                into.clear();
            }
            return Ok(None);
        }
        self.remember_position(next_offset, first.position + cut as u64);
        let bytes = Bytes::from(buf).slice(..cut);
        Ok(Some(SegmentRead { bytes, next_offset }))
    }

    fn remember_position(&self, offset: i64, position: u64) {
        if let Ok(mut hints) = self.position_hints.try_lock() {
            if hints.iter().any(|&(o, _)| o == offset) {
                return;
            }
            if hints.len() >= MAX_HINTS {
                hints.pop_front();
            }
            hints.push_back((offset, position));
        }
    }
}

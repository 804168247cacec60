//! [`LogSegment`]: one `.log` file of batches with its sparse `.index` and
//! `.timeindex` (`kafka-format.md` §5; Kafka's `LogSegment`).
//!
//! Invariant: every batch in the segment has offsets at or above the base
//! offset, and below the next segment's base offset; relative offsets fit in
//! 32 bits.
//!
//! Index entries live in memory (readers binary-search them under a short read
//! lock) and reach the files when the segment rolls or closes. The files are
//! preallocated to `segment.index.bytes` when the segment is created and trimmed
//! to their entries on roll and close, as Kafka leaves them. An active segment's
//! index files are therefore only complete after a clean close; after a crash,
//! recovery rebuilds them from the `.log` (as Kafka does past the recovery point).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::batch_header::BatchHeader;
use crate::error::LogError;
use crate::index::{
    OFFSET_INDEX_ENTRY_SIZE, TIME_INDEX_ENTRY_SIZE, encode_offset_index_entry,
    encode_time_index_entry, parse_offset_index, parse_time_index, read_index_prefix,
};

use crate::segment_file::{
    INDEX_SUFFIX, LOG_SUFFIX, SEGMENT_FILE_SUFFIXES, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
    segment_file_name,
};

/// Suffix of files scheduled for deletion.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// The in-memory sparse indexes of a segment.
#[derive(Debug, Default)]
pub(crate) struct Indexes {
    /// (offset − base, position), increasing in both.
    pub(crate) offsets: Vec<(u32, u32)>,
    /// (timestamp, offset − base), increasing in both.
    pub(crate) times: Vec<(i64, u32)>,
}

/// What only the writer touches.
#[derive(Debug)]
struct WriteState {
    bytes_since_last_index_entry: u64,
    max_timestamp_so_far: i64,
    offset_of_max_timestamp: i64,
    /// The max timestamp of the first batch: `segment.ms` counts from it.
    rolling_based_timestamp: Option<i64>,
    /// The index files hold exactly the in-memory entries, trimmed.
    indexes_written: bool,
    /// Written index files (and the log) still need an fsync.
    needs_sync: bool,
    /// `.deleted` when scheduled for deletion.
    suffix: &'static str,
    /// The files were removed.
    files_deleted: bool,
}

/// One segment of a partition's log.
#[derive(Debug)]
pub(crate) struct LogSegment {
    pub(crate) base_offset: i64,
    pub(crate) dir: PathBuf,
    pub(crate) file: File,
    /// Bytes readers may read: complete, written batches.
    size: AtomicU64,
    /// Last offset of the last batch; `base_offset - 1` when empty.
    last_offset: AtomicI64,
    /// Largest batch max timestamp; -1 when none.
    max_timestamp: AtomicI64,
    pub(crate) indexes: RwLock<Indexes>,
    state: Mutex<WriteState>,
    created_ms: i64,
    max_offset_entries: usize,
    max_time_entries: usize,
    pub(crate) index_interval_bytes: u64,
    /// Extra read-only handles for large reads (see `segment_read.rs`).
    pub(crate) read_handles: Mutex<Vec<File>>,
    /// (offset, position) where recent fetches ended: where the next fetch of
    /// a sequential reader starts, without an index lookup and scan.
    pub(crate) position_hints: Mutex<std::collections::VecDeque<(i64, u64)>>,
    /// Aborted transactions whose ABORT marker is in this segment (its
    /// `.txnindex`; see `txn_index.rs`).
    pub(crate) aborted: RwLock<Vec<crate::index::AbortedTxn>>,
}

/// Where a fetch found its data.
#[derive(Debug)]
pub(crate) struct SegmentRead {
    /// Whole batches.
    pub(crate) bytes: Bytes,
    /// Offset after the last batch returned.
    pub(crate) next_offset: i64,
}

fn path_of(dir: &Path, base_offset: i64, kind: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", segment_file_name(base_offset, kind)))
}

/// Sizes for a new or reopened segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentSizing {
    pub(crate) index_interval_bytes: u32,
    pub(crate) segment_index_bytes: u32,
}

impl SegmentSizing {
    fn max_offset_entries(self) -> usize {
        (self.segment_index_bytes as usize / OFFSET_INDEX_ENTRY_SIZE).max(1)
    }
    fn max_time_entries(self) -> usize {
        (self.segment_index_bytes as usize / TIME_INDEX_ENTRY_SIZE).max(1)
    }
}

impl LogSegment {
    fn with_file(
        dir: &Path,
        base_offset: i64,
        file: File,
        sizing: SegmentSizing,
        now_ms: i64,
    ) -> Self {
        LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            file,
            size: AtomicU64::new(0),
            last_offset: AtomicI64::new(base_offset - 1),
            max_timestamp: AtomicI64::new(-1),
            indexes: RwLock::new(Indexes::default()),
            state: Mutex::new(WriteState {
                bytes_since_last_index_entry: 0,
                max_timestamp_so_far: -1,
                offset_of_max_timestamp: base_offset,
                rolling_based_timestamp: None,
                indexes_written: false,
                needs_sync: false,
                suffix: "",
                files_deleted: false,
            }),
            created_ms: now_ms,
            max_offset_entries: sizing.max_offset_entries(),
            max_time_entries: sizing.max_time_entries(),
            index_interval_bytes: u64::from(sizing.index_interval_bytes),
            read_handles: Mutex::new(Vec::new()),
            position_hints: Mutex::new(std::collections::VecDeque::new()),
            aborted: RwLock::new(Vec::new()),
        }
    }

    /// Creates an empty segment with preallocated index files.
    pub(crate) fn create(
        dir: &Path,
        base_offset: i64,
        sizing: SegmentSizing,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        Self::create_with_suffix(dir, base_offset, sizing, now_ms, "")
    }

    /// Creates an empty segment whose files carry `suffix` (`.cleaned` for the
    /// cleaner's output).
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        sizing: SegmentSizing,
        now_ms: i64,
        suffix: &'static str,
    ) -> Result<Self, LogError> {
        let log_path = path_of(dir, base_offset, LOG_SUFFIX, suffix);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(LogError::io(&log_path, "create"))?;
        let segment = LogSegment::with_file(dir, base_offset, file, sizing, now_ms);
        lock(&segment.state).suffix = suffix;
        if let Err(e) = segment.preallocate_indexes() {
            // No half-made segment stays behind: a `.log` at this base that
            // the log does not list would be taken for a segment at the next
            // open, and the records appended meanwhile past its base lost.
            for kind in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                let _ = std::fs::remove_file(path_of(dir, base_offset, kind, suffix));
            }
            return Err(e);
        }
        Ok(segment)
    }

    fn preallocate_indexes(&self) -> Result<(), LogError> {
        for (kind, entries, size) in [
            (
                INDEX_SUFFIX,
                self.max_offset_entries,
                OFFSET_INDEX_ENTRY_SIZE,
            ),
            (
                TIME_INDEX_SUFFIX,
                self.max_time_entries,
                TIME_INDEX_ENTRY_SIZE,
            ),
        ] {
            let path = self.path(kind);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(LogError::io(&path, "create"))?;
            f.set_len((entries * size) as u64)
                .map_err(LogError::io(&path, "preallocate"))?;
        }
        lock(&self.state).indexes_written = false;
        Ok(())
    }

    /// Opens an existing segment: indexes are loaded, the size is the file's,
    /// and the last offset and max timestamp come from a scan of the batches
    /// after the last index entry. Missing or inconsistent indexes are rebuilt
    /// from the batches when the segment is `trusted` (below the recovery
    /// point: a batch that does not frame is then an error); otherwise they are
    /// left to recovery, which truncates a torn tail as it rebuilds them.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        sizing: SegmentSizing,
        now_ms: i64,
        trusted: bool,
    ) -> Result<Self, LogError> {
        let log_path = path_of(dir, base_offset, LOG_SUFFIX, "");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(LogError::io(&log_path, "open"))?;
        let len = file
            .metadata()
            .map_err(LogError::io(&log_path, "stat"))?
            .len();
        let segment = LogSegment::with_file(dir, base_offset, file, sizing, now_ms);
        segment.size.store(len, Ordering::Release);
        if !segment.load_indexes(len)? {
            if trusted {
                segment.rebuild_indexes_trusting()?;
            } else {
                // Bounds from the batches that frame; recovery rebuilds.
                segment.reset_indexes();
                segment.scan_tail_for_bounds()?;
            }
        } else {
            segment.scan_tail_for_bounds()?;
            lock(&segment.state).indexes_written = true;
        }
        segment.load_txn_index()?;
        Ok(segment)
    }

    /// Loads the index files. `false` when missing or inconsistent (Kafka's
    /// `sanityCheck`), in which case they must be rebuilt.
    fn load_indexes(&self, log_len: u64) -> Result<bool, LogError> {
        // A segment holds at most one batch per 61 bytes, and an index at most
        // one entry per batch: only that much of an index file is read. The
        // rest must be zeros (preallocated space), checked a block at a time,
        // so a huge or sparse index file costs no memory; anything else there
        // makes the indexes rebuilt.
        let most_entries =
            usize::try_from(log_len / weir_record::layout::RECORD_BATCH_OVERHEAD as u64)
                .unwrap_or(usize::MAX)
                .saturating_add(1);
        let read = |kind: &str, entry_size: usize| -> Result<Option<Vec<u8>>, LogError> {
            let path = self.path(kind);
            let limit = most_entries.saturating_mul(entry_size) as u64;
            let prefix = read_index_prefix(&path, limit).map_err(LogError::io(&path, "read"))?;
            // Past the limit, anything but zeros is not this segment's index.
            Ok(prefix.filter(|p| p.non_zero_at.is_none()).map(|p| p.bytes))
        };
        let (Some(offset_bytes), Some(time_bytes)) = (
            read(INDEX_SUFFIX, OFFSET_INDEX_ENTRY_SIZE)?,
            read(TIME_INDEX_SUFFIX, TIME_INDEX_ENTRY_SIZE)?,
        ) else {
            return Ok(false);
        };
        let (Ok(offsets), Ok(times)) = (
            parse_offset_index(&offset_bytes, self.base_offset),
            parse_time_index(&time_bytes, self.base_offset),
        ) else {
            return Ok(false);
        };
        // Zero entries at the end are preallocated space, not entries (the first
        // batch of a segment is never indexed, so (base, 0) is never real).
        let offsets: Vec<(u32, u32)> = offsets
            .iter()
            .map(|e| (e.offset - self.base_offset, e.position))
            .take_while(|&(rel, pos)| rel != 0 || pos != 0)
            .filter_map(|(rel, pos)| Some((u32::try_from(rel).ok()?, pos)))
            .collect();
        let times: Vec<(i64, u32)> = times
            .iter()
            .map(|e| (e.timestamp, e.offset - self.base_offset))
            .take_while(|&(ts, rel)| ts != 0 || rel != 0)
            .filter_map(|(ts, rel)| Some((ts, u32::try_from(rel).ok()?)))
            .collect();
        let increasing = offsets
            .windows(2)
            .all(|w| matches!(w, [a, b] if a.0 < b.0 && a.1 < b.1))
            && times
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.0 < b.0 && a.1 <= b.1));
        let in_file = offsets
            .last()
            .is_none_or(|&(_, pos)| u64::from(pos) < log_len);
        if !increasing || !in_file {
            return Ok(false);
        }
        let mut idx = write_lock(&self.indexes);
        idx.offsets = offsets;
        idx.times = times;
        Ok(true)
    }

    /// Scans the batches after the last offset index entry for the last offset,
    /// the max timestamp and the writer's index state.
    fn scan_tail_for_bounds(&self) -> Result<(), LogError> {
        let (start, time_max) = {
            let idx = read_lock(&self.indexes);
            (
                idx.offsets.last().map_or(0, |&(_, pos)| u64::from(pos)),
                idx.times.last().copied(),
            )
        };
        let end = self.size();
        let mut last: Option<BatchHeader> = None;
        let mut max = time_max.map(|(ts, rel)| (ts, self.absolute_offset(rel)));
        self.walk_headers(start, end, |h| {
            if max.is_none_or(|(ts, _)| h.max_timestamp > ts) {
                max = Some((h.max_timestamp, h.last_offset));
            }
            last = Some(*h);
            true
        })?;
        if let Some(h) = last {
            self.last_offset.store(h.last_offset, Ordering::Release);
        } else if let Some((_, rel)) = time_max {
            // No batch after the last entry: impossible in a sound segment
            // unless the segment is empty; keep what the index says.
            self.last_offset
                .store(self.absolute_offset(rel), Ordering::Release);
        }
        // `segment.ms` counts from the first batch's max timestamp, kept
        // across reopens (Kafka's `LogSegment.loadFirstBatchTimestamp`), or a
        // rarely written log reopened often would never roll.
        let mut first_max_timestamp = None;
        if end > 0 {
            self.walk_headers(0, end, |h| {
                first_max_timestamp = Some(h.max_timestamp);
                false
            })?;
        }
        let mut st = lock(&self.state);
        if let Some((ts, off)) = max {
            self.max_timestamp.store(ts, Ordering::Release);
            st.max_timestamp_so_far = ts;
            st.offset_of_max_timestamp = off;
        }
        if st.rolling_based_timestamp.is_none() {
            st.rolling_based_timestamp = first_max_timestamp;
        }
        st.bytes_since_last_index_entry = last.map_or(0, |h| h.position + h.size - start);
        Ok(())
    }

    /// Rebuilds the indexes from the batches without validating them (the
    /// segment is below the recovery point and trusted).
    fn rebuild_indexes_trusting(&self) -> Result<(), LogError> {
        self.reset_indexes();
        let end = self.size();
        let mut headers = Vec::new();
        self.walk_headers(0, end, |h| {
            headers.push(*h);
            true
        })?;
        let walked = headers.last().map_or(0, |h| h.position + h.size);
        if walked != end {
            return Err(LogError::Corrupt {
                path: self.log_path(),
                position: walked,
                reason: format!(
                    "batches end at byte {walked} but the file has {end} bytes, below the recovery point"
                ),
            });
        }
        for h in &headers {
            self.index_batch(h);
        }
        self.write_indexes()?;
        Ok(())
    }

    /// Forgets all index entries and bounds (recovery rebuilds them).
    pub(crate) fn reset_indexes(&self) {
        let mut idx = write_lock(&self.indexes);
        idx.offsets.clear();
        idx.times.clear();
        let mut st = lock(&self.state);
        st.bytes_since_last_index_entry = 0;
        st.max_timestamp_so_far = -1;
        st.offset_of_max_timestamp = self.base_offset;
        st.rolling_based_timestamp = None;
        st.indexes_written = false;
        self.max_timestamp.store(-1, Ordering::Release);
        self.last_offset
            .store(self.base_offset - 1, Ordering::Release);
    }

    /// `offset` relative to the base offset, when an index entry can hold it
    /// (batch headers trusted after a clean shutdown may hold anything).
    pub(crate) fn relative_offset(&self, offset: i64) -> Option<u32> {
        offset
            .checked_sub(self.base_offset)
            .and_then(|rel| u32::try_from(rel).ok())
    }

    /// The offset `rel` past the base offset (at most `i64::MAX`).
    pub(crate) fn absolute_offset(&self, rel: u32) -> i64 {
        self.base_offset.saturating_add(i64::from(rel))
    }

    /// Applies Kafka's index rule for one appended batch (`LogSegment.append`):
    /// an `.index` entry when more than `index.interval.bytes` were appended
    /// since the last one, with a `.timeindex` entry for the max timestamp so
    /// far at the same moment.
    pub(crate) fn index_batch(&self, h: &BatchHeader) {
        let mut st = lock(&self.state);
        if st.rolling_based_timestamp.is_none() {
            st.rolling_based_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > st.max_timestamp_so_far {
            st.max_timestamp_so_far = h.max_timestamp;
            st.offset_of_max_timestamp = h.last_offset;
            self.max_timestamp.store(h.max_timestamp, Ordering::Release);
        }
        if st.bytes_since_last_index_entry > self.index_interval_bytes {
            let rel = self.relative_offset(h.last_offset);
            let pos = u32::try_from(h.position).unwrap_or(u32::MAX);
            let time_rel = self.relative_offset(st.offset_of_max_timestamp);
            let mut idx = write_lock(&self.indexes);
            // An offset no entry can hold (a damaged header trusted after a
            // clean shutdown) is not indexed.
            if let Some(rel) = rel
                && idx.offsets.last().is_none_or(|&(r, _)| rel > r)
            {
                idx.offsets.push((rel, pos));
            }
            if let Some(time_rel) = time_rel
                && st.max_timestamp_so_far > idx.times.last().map_or(-1, |&(ts, _)| ts)
            {
                idx.times.push((st.max_timestamp_so_far, time_rel));
            }
            st.bytes_since_last_index_entry = 0;
            st.indexes_written = false;
        }
        st.bytes_since_last_index_entry += h.size;
        self.last_offset.store(h.last_offset, Ordering::Release);
    }

    /// Writes one batch at the end of the file and indexes it. The new bytes
    /// become visible to readers only through [`publish`](Self::publish).
    pub(crate) fn append(&self, h: &BatchHeader, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, h.position)?;
        self.index_batch(h);
        Ok(())
    }

    /// Makes the bytes up to `size` visible to readers.
    pub(crate) fn publish(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    /// Whether either index is full (a reason to roll).
    pub(crate) fn indexes_full(&self) -> bool {
        let idx = read_lock(&self.indexes);
        idx.offsets.len() >= self.max_offset_entries || idx.times.len() >= self.max_time_entries
    }

    /// Kafka's `timeWaitedForRoll`: time since the first batch's max timestamp,
    /// or since creation when the segment has no batch.
    pub(crate) fn time_waited_for_roll(&self, now_ms: i64, batch_max_timestamp: i64) -> i64 {
        match lock(&self.state).rolling_based_timestamp {
            Some(ts) if ts >= 0 => batch_max_timestamp.saturating_sub(ts),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Adds the final time index entry, writes both indexes trimmed to their
    /// entries (Kafka's `onBecomeInactiveSegment` + trim). They are fsynced by
    /// the next [`sync`](Self::sync).
    pub(crate) fn seal(&self) -> Result<(), LogError> {
        {
            let st = lock(&self.state);
            let mut idx = write_lock(&self.indexes);
            if st.max_timestamp_so_far > idx.times.last().map_or(-1, |&(ts, _)| ts)
                && let Some(rel) = self.relative_offset(st.offset_of_max_timestamp)
            {
                idx.times.push((st.max_timestamp_so_far, rel));
            }
        }
        self.write_indexes()
    }

    /// Writes the in-memory entries to the index files, trimmed.
    pub(crate) fn write_indexes(&self) -> Result<(), LogError> {
        let (offsets, times) = {
            let idx = read_lock(&self.indexes);
            let mut o = Vec::with_capacity(idx.offsets.len() * OFFSET_INDEX_ENTRY_SIZE);
            for &(rel, pos) in &idx.offsets {
                encode_offset_index_entry(i32::try_from(rel).unwrap_or(i32::MAX), pos, &mut o);
            }
            let mut t = Vec::with_capacity(idx.times.len() * TIME_INDEX_ENTRY_SIZE);
            for &(ts, rel) in &idx.times {
                encode_time_index_entry(ts, i32::try_from(rel).unwrap_or(i32::MAX), &mut t);
            }
            (o, t)
        };
        let suffix = lock(&self.state).suffix;
        for (kind, bytes) in [(INDEX_SUFFIX, offsets), (TIME_INDEX_SUFFIX, times)] {
            let path = path_of(&self.dir, self.base_offset, kind, suffix);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(LogError::io(&path, "open"))?;
            f.write_all_at(&bytes, 0)
                .map_err(LogError::io(&path, "write"))?;
            f.set_len(bytes.len() as u64)
                .map_err(LogError::io(&path, "truncate"))?;
        }
        let mut st = lock(&self.state);
        st.indexes_written = true;
        st.needs_sync = true;
        Ok(())
    }

    /// fsyncs the log data, and the index files when they were written since the
    /// last sync.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(LogError::io(self.log_path(), "fsync"))?;
        let (needs, suffix) = {
            let st = lock(&self.state);
            (st.needs_sync && st.indexes_written, st.suffix)
        };
        if needs {
            for kind in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                let path = path_of(&self.dir, self.base_offset, kind, suffix);
                match File::open(&path).and_then(|f| f.sync_all()) {
                    Ok(()) => {}
                    // Retention or the cleaner renamed or unlinked the segment
                    // since (with `file.delete.delay.ms=0`, before its first
                    // fsync): there is nothing left to make durable, and the
                    // partition must not turn read-only for it.
                    Err(e) if e.kind() == io::ErrorKind::NotFound && self.is_deleted() => {
                        break;
                    }
                    Err(e) => return Err(LogError::io(&path, "fsync")(e)),
                }
            }
            lock(&self.state).needs_sync = false;
        }
        Ok(())
    }

    /// Whether the segment was dropped from its log: renamed `.deleted` or its
    /// files removed.
    fn is_deleted(&self) -> bool {
        let st = lock(&self.state);
        st.suffix == DELETED_SUFFIX || st.files_deleted
    }

    /// Cuts the log file at `position` (recovery).
    pub(crate) fn truncate_file(&self, position: u64) -> Result<(), LogError> {
        self.file
            .set_len(position)
            .map_err(LogError::io(self.log_path(), "truncate"))?;
        self.size.store(position, Ordering::Release);
        Ok(())
    }

    /// Renames the segment's files with the `.deleted` suffix.
    pub(crate) fn rename_to_deleted(&self) -> Result<Vec<PathBuf>, LogError> {
        self.rename_files(DELETED_SUFFIX)
    }

    /// Renames the segment's files to carry `suffix` instead of their current
    /// one: the index files first, the `.log` last (for the cleaner's swap, the
    /// `.log` rename is the commit point).
    pub(crate) fn rename_files(&self, suffix: &'static str) -> Result<Vec<PathBuf>, LogError> {
        let mut st = lock(&self.state);
        let mut renamed = Vec::new();
        for kind in [
            TXN_INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            INDEX_SUFFIX,
            LOG_SUFFIX,
        ] {
            let from = path_of(&self.dir, self.base_offset, kind, st.suffix);
            let to = path_of(&self.dir, self.base_offset, kind, suffix);
            match fs::rename(&from, &to) {
                Ok(()) => renamed.push(to),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&from, "rename")(e)),
            }
        }
        st.suffix = suffix;
        Ok(renamed)
    }

    /// The segment's base offset.
    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Bytes visible to readers.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Last offset of the last batch; `base_offset - 1` when empty.
    pub(crate) fn last_offset(&self) -> i64 {
        self.last_offset.load(Ordering::Acquire)
    }

    /// Largest batch max timestamp, -1 when none.
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    /// When the segment was created or opened (for `segment.ms` on an empty one).
    pub(crate) fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// Index entries (offset, time).
    pub(crate) fn index_entries(&self) -> (usize, usize) {
        let idx = read_lock(&self.indexes);
        (idx.offsets.len(), idx.times.len())
    }

    /// Path of the `.log` file.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.path(LOG_SUFFIX)
    }

    pub(crate) fn path(&self, kind: &str) -> PathBuf {
        path_of(&self.dir, self.base_offset, kind, lock(&self.state).suffix)
    }

    /// fsyncs the segment's directory (after its files were renamed or
    /// removed).
    pub(crate) fn sync_dir(&self) -> Result<(), LogError> {
        crate::paths::sync_dir(&self.dir)
    }

    /// Deletes the segment's files (at whatever suffix they have now).
    pub(crate) fn delete_files(&self) -> Result<(), LogError> {
        let suffix = {
            let mut st = lock(&self.state);
            st.files_deleted = true;
            st.suffix
        };
        for kind in SEGMENT_FILE_SUFFIXES {
            let path = path_of(&self.dir, self.base_offset, kind, suffix);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(&path, "delete")(e)),
            }
        }
        Ok(())
    }
}

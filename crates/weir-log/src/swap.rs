//! Completing a segment replacement at startup (Kafka's `LogLoader` handling of
//! `.swap` files).
//!
//! The cleaner writes replacement segments as `.cleaned`, renames them to
//! `.swap` once complete and fsynced (the commit point), then deletes the
//! segments they replace and drops the `.swap` suffix. A crash after the commit
//! point leaves `.swap` files: the replacement is finished here. A crash before
//! it leaves `.cleaned` files, which are simply deleted.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::batch_header;
use crate::error::LogError;
use crate::partition::{PartitionLog, SWAP_SUFFIX};
use crate::paths::{list_segments, sync_dir};
use crate::retention::DeletedSegment;
use crate::segment::{LogSegment, lock, write_lock};
use crate::segment_file::{
    INDEX_SUFFIX, LOG_SUFFIX, SEGMENT_FILE_SUFFIXES, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
    segment_file_name,
};

/// Offset after the last whole batch of a `.log`-format file.
pub(crate) fn next_offset_of_file(path: &Path) -> Result<Option<i64>, LogError> {
    let file = File::open(path).map_err(LogError::io(path, "open"))?;
    let len = file.metadata().map_err(LogError::io(path, "stat"))?.len();
    let mut pos = 0u64;
    let mut next = None;
    let mut chunk = vec![0u8; 64 * 1024];
    while pos < len {
        let want = usize::try_from(len - pos)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let buf = chunk.get_mut(..want).unwrap_or_default();
        file.read_exact_at(buf, pos)
            .map_err(LogError::io(path, "read"))?;
        let mut advanced = pos;
        for h in batch_header::walk(buf, pos) {
            next = Some(h.last_offset.saturating_add(1));
            advanced = h.position + h.size;
        }
        if advanced == pos {
            // One batch larger than the chunk: skip its body.
            match batch_header::parse(buf, pos) {
                Some(h) if h.size >= 61 && pos + h.size <= len => {
                    next = Some(h.last_offset.saturating_add(1));
                    advanced = pos + h.size;
                }
                _ => break,
            }
        }
        pos = advanced;
    }
    Ok(next)
}

fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(path, "delete")(e)),
    }
}

/// Finishes the replacement committed by `swap_log` (`<base>.log.swap`):
/// deletes the segments whose base offsets fall in the range it covers, and
/// renames its files into place.
pub(crate) fn complete_swap(dir: &Path, base: i64, swap_log: &Path) -> Result<(), LogError> {
    let next = next_offset_of_file(swap_log)?.unwrap_or(base + 1);
    for (old_base, old_log) in list_segments(dir).map_err(LogError::io(dir, "list"))? {
        if old_base >= base && old_base < next {
            for kind in SEGMENT_FILE_SUFFIXES {
                remove_if_present(&old_log.with_file_name(segment_file_name(old_base, kind)))?;
            }
        }
    }
    // The `.log` last, as `swap_cleaned` renames: while `.log.swap` exists a
    // crash here is finished at the next open, whichever files were renamed.
    for kind in [
        TXN_INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        INDEX_SUFFIX,
        LOG_SUFFIX,
    ] {
        let name = segment_file_name(base, kind);
        let from: PathBuf = dir.join(format!("{name}{SWAP_SUFFIX}"));
        let to = dir.join(&name);
        match fs::rename(&from, &to) {
            Ok(()) => {}
            // The old segments' files are gone (above, or renamed `.deleted`
            // with their `.log` last), so a `.txnindex` here is the cleaned
            // segment's, renamed before a crash: kept, as nothing rebuilds
            // it. An offset or time index is dropped and rebuilt.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if kind == INDEX_SUFFIX || kind == TIME_INDEX_SUFFIX {
                    remove_if_present(&to)?;
                }
            }
            Err(e) => return Err(LogError::io(&from, "rename")(e)),
        }
    }
    Ok(())
}

/// The steps of [`PartitionLog::swap_cleaned`], for crash tests that stop
/// after one of them.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SwapStep {
    /// The cleaned files are written and fsynced (still `.cleaned`).
    Written,
    /// They were renamed `.swap`: the commit point.
    Committed,
    /// The replaced segments were renamed `.deleted`.
    OldDeleted,
    /// The new segment has its final names.
    Done,
}

/// A segment the cleaner is writing: batches appended in offset order, indexed
/// as an appended segment is, in `.cleaned` files until
/// [`PartitionLog::swap_cleaned`] puts it in place of the segments it
/// replaces.
#[derive(Debug)]
pub struct CleanedSegment {
    segment: Arc<LogSegment>,
    last_offset: Option<i64>,
}

impl CleanedSegment {
    /// Appends one whole batch (its offsets must follow the previous batch's).
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`] for bytes that are not one batch or offsets
    /// out of order; [`LogError::Io`].
    pub fn append(&mut self, batch: &[u8]) -> Result<(), LogError> {
        let position = self.segment.size();
        let header = batch_header::parse(batch, position)
            .filter(|h| h.size == batch.len() as u64)
            .ok_or_else(|| LogError::invalid_batch("cleaned segment", "not one whole batch"))?;
        if self.last_offset.is_some_and(|l| header.base_offset <= l)
            || header.base_offset < self.segment.base_offset()
        {
            return Err(LogError::invalid_batch(
                "cleaned segment",
                format!("offset {} out of order", header.base_offset),
            ));
        }
        self.segment
            .append(&header, batch)
            .map_err(LogError::io(self.segment.log_path(), "write"))?;
        self.segment.publish(position + header.size);
        self.last_offset = Some(header.last_offset);
        Ok(())
    }

    /// Deletes the cleaned files: the pass that wrote them failed.
    ///
    /// # Errors
    /// [`LogError::Io`] when a file cannot be removed (the next open removes
    /// it).
    pub fn discard(self) -> Result<(), LogError> {
        self.segment.delete_files()
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.segment.size()
    }

    /// The base offset (the first replaced segment's).
    pub fn base_offset(&self) -> i64 {
        self.segment.base_offset()
    }
}

impl PartitionLog {
    /// Starts a cleaned segment that will replace segments from `base_offset`
    /// on (`<base>.log.cleaned` and its indexes).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub fn create_cleaned(&self, base_offset: i64) -> Result<CleanedSegment, LogError> {
        let config = self.config();
        // Under the writer's lock, which `close` takes: the files are made
        // before a topic delete renames the directory (and go with it), or
        // not at all; never in a directory of the same name made since.
        let w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        let segment = LogSegment::create_with_suffix(
            &self.dir,
            base_offset,
            crate::segment::SegmentSizing {
                index_interval_bytes: config.index_interval_bytes,
                segment_index_bytes: config.segment_index_bytes,
            },
            self.clock.now_ms(),
            crate::partition::CLEANED_SUFFIX,
        )?;
        Ok(CleanedSegment {
            segment: Arc::new(segment),
            last_offset: None,
        })
    }

    /// Puts a cleaned segment in place of the segments whose base offsets are
    /// `replaced` (contiguous, oldest first, not the active one): its files are
    /// sealed and fsynced, renamed `.swap` (the commit point: recovery
    /// finishes the swap from here), the old segments renamed `.deleted`, the
    /// new files given their final names, and the segment list updated in one
    /// step, so readers see either the old segments or the new one. Returns
    /// the old segments for deletion after `file.delete.delay.ms`.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`] when `replaced` is not a run of current
    /// segments (the cleaned files are deleted then); [`LogError::Io`].
    pub fn swap_cleaned(
        &self,
        cleaned: CleanedSegment,
        replaced: &[i64],
    ) -> Result<Vec<DeletedSegment>, LogError> {
        self.swap_cleaned_until(cleaned, replaced, SwapStep::Done)
    }

    /// [`swap_cleaned`](Self::swap_cleaned), stopping after `stop` as a crash
    /// would. For crash tests.
    #[doc(hidden)]
    pub fn swap_cleaned_until(
        &self,
        cleaned: CleanedSegment,
        replaced: &[i64],
        stop: SwapStep,
    ) -> Result<Vec<DeletedSegment>, LogError> {
        let new = cleaned.segment;
        // Appends and rolls wait: the segment list changes under this lock.
        let w = lock(&self.writer);
        if w.closed {
            // The topic was deleted during the clean: its directory's name
            // may belong to a topic created since, whose files must not be
            // touched. The cleaned files went with the old directory.
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        let list = self.segment_list();
        let first = list
            .iter()
            .position(|s| replaced.first() == Some(&s.base_offset()));
        let run = first.and_then(|i| list.get(i..i + replaced.len()));
        let valid = run.is_some_and(|run| {
            run.iter()
                .map(|s| s.base_offset())
                .eq(replaced.iter().copied())
                && run.iter().all(|s| !Arc::ptr_eq(s, &w.active))
        }) && replaced.first() == Some(&new.base_offset());
        let Some(run) = run.filter(|_| valid) else {
            drop(w);
            new.delete_files()?;
            return Err(LogError::invalid_batch(
                &self.name,
                format!("segments {replaced:?} are not a run of closed segments to replace"),
            ));
        };
        new.seal()?;
        new.sync()?;
        if stop == SwapStep::Written {
            return Ok(Vec::new());
        }
        new.rename_files(crate::partition::SWAP_SUFFIX)?;
        sync_dir(&self.dir)?;
        if stop == SwapStep::Committed {
            return Ok(Vec::new());
        }
        let mut deleted = Vec::with_capacity(run.len());
        for old in run {
            let files = old.rename_to_deleted()?;
            deleted.push(DeletedSegment::new(Arc::clone(old), files));
        }
        if stop == SwapStep::OldDeleted {
            return Ok(deleted);
        }
        new.rename_files("")?;
        sync_dir(&self.dir)?;
        // The cleaner wrote the segment's `.txnindex` beside it: read_committed
        // readers of this process need its aborted transactions now.
        new.load_txn_index()?;
        {
            let mut segs = write_lock(&self.segments);
            let mut next: Vec<Arc<LogSegment>> = segs
                .iter()
                .filter(|s| !replaced.contains(&s.base_offset()))
                .cloned()
                .collect();
            let at = next.partition_point(|s| s.base_offset() < new.base_offset());
            next.insert(at, Arc::clone(&new));
            *segs = Arc::new(next);
        }
        drop(w);
        Ok(deleted)
    }

    /// The batches of one segment, in order, read from its file (for the
    /// cleaner). Batches are CRC-checked as they are read.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`] for an unknown segment; [`LogError::Io`].
    pub fn segment_batches(
        &self,
        base_offset: i64,
    ) -> Result<weir_record::ReaderBatches<std::io::BufReader<File>>, LogError> {
        let seg = self
            .segment_list()
            .iter()
            .find(|s| s.base_offset() == base_offset)
            .cloned()
            .ok_or_else(|| {
                LogError::invalid_batch(&self.name, format!("no segment {base_offset}"))
            })?;
        let path = seg.log_path();
        let file = File::open(&path).map_err(LogError::io(&path, "open"))?;
        Ok(weir_record::ReaderBatches::new(
            std::io::BufReader::with_capacity(1 << 20, file),
            seg.size(),
        ))
    }
}

//! Segment deletion primitives for retention and DeleteRecords: delete the
//! oldest segments, advance the log start offset. Deleted segments are renamed
//! `.deleted` and dropped from the log at once; their files are unlinked later
//! (after `file.delete.delay.ms`), and a reader already holding one keeps
//! reading it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::LogError;
use crate::partition::{PartitionLog, SegmentInfo};
use crate::segment::{LogSegment, lock, write_lock};

/// A segment removed from the log whose files wait to be unlinked.
#[derive(Debug)]
pub struct DeletedSegment {
    segment: Arc<LogSegment>,
    /// Its base offset.
    pub base_offset: i64,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its files, now with the `.deleted` suffix.
    pub files: Vec<PathBuf>,
}

impl DeletedSegment {
    pub(crate) fn new(segment: Arc<LogSegment>, files: Vec<PathBuf>) -> Self {
        DeletedSegment {
            base_offset: segment.base_offset(),
            size_bytes: segment.size(),
            files,
            segment,
        }
    }

    /// Unlinks the files and fsyncs the directory.
    ///
    /// # Errors
    /// [`LogError::Io`] when a file cannot be removed or the directory cannot
    /// be fsynced.
    pub fn delete_files(self) -> Result<(), LogError> {
        self.segment.delete_files()?;
        self.segment.sync_dir()
    }
}

impl PartitionLog {
    /// Deletes segments from the oldest while `predicate` holds for them,
    /// stopping at the first that does not (Kafka's `deleteOldSegments`). When
    /// every segment qualifies, a new active segment is rolled first so the log
    /// keeps its log end offset; an empty active segment is never deleted. The
    /// log start offset moves to the first remaining segment's base offset.
    ///
    /// The renames are made durable (the directory is fsynced) before it
    /// returns.
    ///
    /// # Errors
    /// [`LogError::Io`] when a rename fails (the segments renamed so far stay
    /// deleted); [`LogError::ReadOnly`] when the directory's fsync fails;
    /// [`LogError::Closed`].
    pub fn delete_oldest_segments(
        &self,
        mut predicate: impl FnMut(&SegmentInfo) -> bool,
    ) -> Result<Vec<DeletedSegment>, LogError> {
        let config = self.config();
        let mut w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        let infos = self.segments();
        let mut count = 0;
        for info in &infos {
            if info.is_active && info.size_bytes == 0 {
                break;
            }
            if !predicate(info) {
                break;
            }
            count += 1;
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        if count == infos.len() {
            self.roll_locked(&mut w, &config, self.clock.now_ms())?;
        }
        let removed: Vec<Arc<LogSegment>> = {
            let mut segs = write_lock(&self.segments);
            let mut list: Vec<Arc<LogSegment>> = segs.iter().cloned().collect();
            let removed = list.drain(..count).collect();
            // The log start moves first (as Kafka's `deleteSegments` raises
            // it before it removes the segments): a fetch that finds the
            // shorter list then finds the new start too, and its
            // `OffsetOutOfRange` names where the log begins now.
            let first_base = list.first().map_or(w.next_offset, |s| s.base_offset());
            self.log_start_offset
                .fetch_max(first_base, Ordering::AcqRel);
            *segs = Arc::new(list);
            removed
        };
        drop(w);
        let mut out = Vec::with_capacity(removed.len());
        for segment in removed {
            let files = segment.rename_to_deleted()?;
            out.push(DeletedSegment {
                base_offset: segment.base_offset(),
                size_bytes: segment.size(),
                files,
                segment,
            });
        }
        // The renames (and a segment rolled above) must survive a power loss.
        if let Err(e) = crate::paths::sync_dir_io(&self.dir) {
            return Err(self.fail(e));
        }
        Ok(out)
    }

    /// Moves the log start offset up to `offset` (Kafka's DeleteRecords):
    /// records below it are no longer readable, and segments wholly below it are
    /// deleted by the next retention pass. Returns the new log start offset.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] past the high watermark.
    pub fn advance_log_start_offset(&self, offset: i64) -> Result<i64, LogError> {
        let hw = self.high_watermark();
        if offset > hw || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                partition: self.name.clone(),
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset(),
            });
        }
        let previous = self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
        Ok(previous.max(offset))
    }
}

//! Retention (`cleanup.policy` with `delete`; Kafka's `deleteOldSegments`,
//! `kafka-format.md` §11): segments go oldest first while they are older
//! than `retention.ms` (by their largest timestamp, or their creation when
//! they hold none), or the partition is over `retention.bytes`, or they lie
//! wholly below the log start offset (DeleteRecords, whatever the policy).
//! The first segment that qualifies for none stops the pass. When every
//! segment expires, a new active segment is rolled first, so the log keeps its
//! log end offset.

use weir_log::{DeletedSegment, LogError, PartitionLog, SegmentInfo};

/// What a retention pass removed from one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Segments removed.
    pub segments_deleted: usize,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

/// One retention pass over `log` at `now_ms`. The removed segments' files are
/// renamed `.deleted`; the caller unlinks them after `file.delete.delay.ms`.
///
/// # Errors
/// [`LogError::Io`] when a rename fails.
pub fn apply_retention(
    log: &PartitionLog,
    now_ms: i64,
) -> Result<(RetentionStats, Vec<DeletedSegment>), LogError> {
    let config = log.config();
    let delete = config.cleanup_policy.delete;
    let log_start = log.log_start_offset();
    let total: u64 = log.segments().iter().map(|s| s.size_bytes).sum();
    let mut over = if delete && config.retention_bytes >= 0 {
        i128::from(total) - i128::from(config.retention_bytes)
    } else {
        i128::MIN
    };
    let expired = |s: &SegmentInfo| {
        delete
            && config.retention_ms >= 0
            && now_ms.saturating_sub(s.max_timestamp.unwrap_or(s.created_ms)) > config.retention_ms
    };
    let deleted = log.delete_oldest_segments(|s| {
        let below_start = s.next_segment_base_offset.is_some_and(|n| n <= log_start);
        let too_big = over >= i128::from(s.size_bytes);
        let delete = below_start || too_big || expired(s);
        // Whatever the reason a segment goes, the partition is that much
        // smaller: the size rule holds later segments against what is left
        // (Kafka's size pass starts from the current size).
        if delete {
            over = over.saturating_sub(i128::from(s.size_bytes));
        }
        delete
    })?;
    let stats = RetentionStats {
        segments_deleted: deleted.len(),
        bytes_deleted: deleted.iter().map(|d| d.size_bytes).sum(),
        log_start_offset: log.log_start_offset(),
    };
    Ok((stats, deleted))
}

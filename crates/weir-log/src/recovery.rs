//! Recovery of segments after an unclean shutdown (Kafka's `LogSegment.recover`
//! and `LogLoader.recoverLog`, made stricter).
//!
//! A segment is read from its start; every batch is framed, CRC-checked, its
//! records decoded (a CRC-valid batch with impossible contents is corrupt too),
//! its offsets checked against the batches before it (past the recovery point
//! of a log Weir wrote, also for gaps; a directory with no checkpoint entry,
//! say one copied from Kafka, may have compaction gaps anywhere), and its leader epoch
//! against the `leader-epoch-checkpoint`. The indexes are rebuilt from the
//! batches that pass. At the first batch that does not:
//!
//! - if everything before it reaches the recovery point, the bad batch is an
//!   unacknowledged torn or corrupt tail: the segment is truncated there and the
//!   caller deletes every later segment;
//! - otherwise data the log had fsynced is damaged: recovery stops with
//!   [`LogError::Corrupt`] naming file and position, and truncates nothing.

use std::fs::File;
use std::io::BufReader;

use weir_record::{ReadError, ReaderBatches, RecordBatch};

use crate::batch_header;
use crate::checkpoint::{EpochEntry, epoch_for_offset};
use crate::error::LogError;
use crate::segment::LogSegment;

/// What recovering one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentRecovery {
    /// Offset after the last valid batch (the segment's base when it has none).
    pub(crate) next_offset: i64,
    /// Bytes cut off the end of the segment.
    pub(crate) truncated_bytes: u64,
    /// Why the first dropped batch was dropped, with its position.
    pub(crate) reason: Option<(u64, String)>,
}

/// What recovery needs to know beyond the segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecoveryContext<'a> {
    /// Offset after the previous segment's last batch, if any.
    pub(crate) previous_next_offset: Option<i64>,
    /// Offsets below this were fsynced: damage there is an error.
    pub(crate) recovery_point: i64,
    /// Weir wrote the log past the recovery point by appends alone, so offsets
    /// there follow each other without gaps. Unknown for a directory without a
    /// checkpoint entry (say, copied from Kafka, where compaction leaves gaps
    /// anywhere); Kafka's recovery checks framing and CRC only.
    pub(crate) contiguous: bool,
    /// The partition's leader epochs.
    pub(crate) epochs: &'a [EpochEntry],
    /// Damage below the recovery point is cut off as a torn tail is, as
    /// Kafka's recovery cuts it, instead of being an error (the caller
    /// copied the segments first).
    pub(crate) cut_damage: bool,
}

/// Why a batch's contents are unsound, with the decoding error when there is
/// one.
#[derive(Debug)]
pub(crate) struct ContentProblem {
    /// What is wrong.
    pub(crate) reason: String,
    /// The decoding error behind it.
    pub(crate) source: Option<weir_record::RecordError>,
}

impl From<weir_record::RecordError> for ContentProblem {
    fn from(e: weir_record::RecordError) -> Self {
        ContentProblem {
            reason: e.to_string(),
            source: Some(e),
        }
    }
}

/// Checks that a record's offset lies in its batch's range.
pub(crate) fn check_record_offset(
    batch: &RecordBatch,
    record_offset: i64,
) -> Result<(), ContentProblem> {
    let (first, last) = (batch.base_offset(), batch.last_offset());
    if record_offset < first || record_offset > last {
        return Err(ContentProblem {
            reason: format!(
                "record offset {record_offset} outside the batch's range {first}..={last}"
            ),
            source: None,
        });
    }
    Ok(())
}

/// Checks one batch's contents beyond its frame and CRC: every record decodes
/// (decompressed within [`weir_record::DEFAULT_MAX_UNCOMPRESSED_BYTES`]) and
/// lies in the batch's offset range. Recovery and the append path run the same
/// checks, so whatever an append accepts, recovery keeps (Kafka's
/// `LogValidator` walks every record on append for the same reason).
pub(crate) fn validate_contents(batch: &RecordBatch) -> Result<(), ContentProblem> {
    validate_records(batch, false).map(|_| ())
}

/// [`validate_contents`], and with `require_keys` every data record must have
/// a key (a compacted topic's rule on append). Returns the smallest and the
/// largest record timestamp of a data batch, records without one (-1) aside,
/// when it has any.
pub(crate) fn validate_records(
    batch: &RecordBatch,
    require_keys: bool,
) -> Result<Option<(i64, i64)>, ContentProblem> {
    if batch.last_offset_delta() < 0 {
        return Err(ContentProblem {
            reason: format!("negative last offset delta {}", batch.last_offset_delta()),
            source: None,
        });
    }
    if batch.is_control() {
        // A control batch with no record is a marker the cleaner emptied
        // (Kafka keeps such headers and treats them as already cleaned).
        if batch.records_count() != 0 {
            batch.control_record()?;
        }
        return Ok(None);
    }
    let records = batch.records()?;
    let mut bounds: Option<(i64, i64)> = None;
    for record in &records {
        let record = record?;
        check_record_offset(batch, record.offset())?;
        let t = record.timestamp();
        if t != weir_record::layout::NO_TIMESTAMP {
            bounds = Some(bounds.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
        if require_keys && record.key().is_none() {
            return Err(ContentProblem {
                reason: format!(
                    "record at offset {} has no key, and a compacted topic cannot accept a record without one",
                    record.offset()
                ),
                source: None,
            });
        }
    }
    Ok(bounds)
}

/// Recovers one segment: validates its batches, rebuilds its indexes and
/// truncates a bad tail (see the module docs).
pub(crate) fn recover_segment(
    segment: &LogSegment,
    ctx: RecoveryContext<'_>,
) -> Result<SegmentRecovery, LogError> {
    let path = segment.log_path();
    let file = File::open(&path).map_err(LogError::io(&path, "open"))?;
    let len = file.metadata().map_err(LogError::io(&path, "stat"))?.len();
    segment.reset_indexes();
    let base = segment.base_offset();
    let mut next_offset = ctx.previous_next_offset.unwrap_or(base).max(base);
    let mut previous_last: Option<i64> = None;
    let mut valid_bytes = 0u64;
    let mut reason: Option<(u64, String)> = None;
    let reader = ReaderBatches::new(BufReader::with_capacity(256 * 1024, file), len);
    for item in reader {
        let item = match item {
            Ok(item) => item,
            Err(ReadError::Io { position, source }) => {
                return Err(LogError::Io {
                    path: path.clone(),
                    op: "read",
                    source: std::io::Error::new(
                        source.kind(),
                        format!("at byte {position}: {source}"),
                    ),
                });
            }
            Err(e) => {
                reason = Some((e.position(), e.to_string()));
                break;
            }
        };
        let batch = &item.batch;
        let (first, last) = (batch.base_offset(), batch.last_offset());
        let problem = if first < base {
            Some(format!(
                "offset {first} is below the segment's base offset {base}"
            ))
        } else if last < first {
            Some(format!(
                "last offset {last} is before the base offset {first}"
            ))
        } else if last - base > i64::from(i32::MAX) {
            Some(format!(
                "offset {last} does not fit a 32-bit offset relative to {base}"
            ))
        } else if previous_last.is_some_and(|p| first <= p) {
            Some(format!(
                "offset {first} does not follow the previous batch's last offset"
            ))
        } else if ctx.contiguous && next_offset >= ctx.recovery_point && first != next_offset {
            // Past the recovery point only appends wrote (the cleaner rewrites
            // fsynced data only), so offsets follow each other without gaps: a
            // jump means a damaged base offset, which the CRC does not cover.
            Some(format!(
                "offset {first} where the log continues at {next_offset}"
            ))
        } else if let Some(epoch) = epoch_for_offset(ctx.epochs, first)
            && batch.partition_leader_epoch() != epoch
        {
            Some(format!(
                "partition leader epoch {} where the leader-epoch-checkpoint gives {epoch}",
                batch.partition_leader_epoch()
            ))
        } else {
            validate_contents(batch).err().map(|p| p.reason)
        };
        if let Some(problem) = problem {
            reason = Some((item.position, problem));
            break;
        }
        let header = batch_header::parse(batch.as_bytes(), item.position).ok_or_else(|| {
            LogError::Corrupt {
                path: path.clone(),
                position: item.position,
                reason: "batch header unreadable after validation".into(),
            }
        })?;
        segment.index_batch(&header);
        previous_last = Some(last);
        next_offset = last.saturating_add(1);
        valid_bytes = item.position + batch.size() as u64;
    }
    if let Some((position, why)) = &reason
        && next_offset < ctx.recovery_point
        && !ctx.cut_damage
    {
        return Err(LogError::Corrupt {
            path,
            position: *position,
            reason: format!(
                "{why}; the log was fsynced up to offset {} but only offsets below {next_offset} are sound, so this is not a torn tail",
                ctx.recovery_point
            ),
        });
    }
    let truncated_bytes = len - valid_bytes;
    if truncated_bytes > 0 {
        segment.truncate_file(valid_bytes)?;
    } else {
        segment.publish(valid_bytes);
    }
    segment.truncate_txn_index(next_offset)?;
    segment.write_indexes()?;
    Ok(SegmentRecovery {
        next_offset,
        truncated_bytes,
        reason,
    })
}

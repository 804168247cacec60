//! Rewriting a group of segments for one cleaning pass: which batches and records
//! survive (`filter_batch`), written to the group's `.cleaned` segment with its
//! indexes and transaction index.

use weir_log::{LogError, PartitionLog, SegmentInfo};
use weir_record::{BatchBuilder, BatchOptions, CompressionConfig, RecordBatch, TimestampType};

use crate::clean::{CleanStats, Throttle};
use crate::offset_map::OffsetMap;
use crate::txn::{CleanedTxnIndex, Fate, RewriteTxns, is_emptied_control};

/// The transaction state a group's rewrite reads and adds to.
pub(crate) struct GroupTxns<'a> {
    /// Which batches are aborted data or removable markers.
    pub(crate) rewrite: &'a mut RewriteTxns,
    /// The cleaned segment's `.txnindex`.
    pub(crate) index: &'a mut CleanedTxnIndex,
}

/// Filters the batches of `group` into `cleaned`, one batch behind so the
/// group's last batch is known as such.
pub(crate) fn rewrite_group(
    log: &PartitionLog,
    group: &[SegmentInfo],
    cleaned: &mut weir_log::CleanedSegment,
    filter: &Filter<'_>,
    txns: &mut GroupTxns<'_>,
    throttle: &mut Throttle<'_>,
    stats: &mut CleanStats,
) -> Result<(), LogError> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    // One batch of lookahead: the group's last batch is treated apart.
    let mut previous: Option<(RecordBatch, Fate)> = None;
    for s in group {
        for batch in checked_batches(log, s)? {
            let batch = batch?;
            stats.bytes_read += batch.size() as u64;
            throttle.add(batch.size() as u64)?;
            let fate = txns
                .rewrite
                .on_batch(&batch)
                .map_err(|e| corrupt(s, 0, e.to_string()))?;
            if let Some((prev, prev_fate)) = previous.replace((batch, fate)) {
                let n = write_filtered(cleaned, &prev, prev_fate, filter, false)
                    .map_err(|e| into_log_error(first, e))?;
                n.record(&prev, txns.index, stats);
                throttle.add(n.bytes)?;
            }
        }
    }
    if let Some((last, fate)) = previous {
        let n = write_filtered(cleaned, &last, fate, filter, true)
            .map_err(|e| into_log_error(first, e))?;
        n.record(&last, txns.index, stats);
    }
    Ok(())
}

/// The batches of segment `s`, CRC-checked, with their offsets checked too
/// (the base offset is outside the CRC): each past the previous one and
/// within the segment's range. Damage is [`LogError::Corrupt`] naming the
/// file and position.
pub(crate) fn checked_batches<'a>(
    log: &PartitionLog,
    s: &'a SegmentInfo,
) -> Result<impl Iterator<Item = Result<RecordBatch, LogError>> + 'a, LogError> {
    let mut previous_last = s.base_offset - 1;
    let limit = s.next_segment_base_offset.unwrap_or(i64::MAX);
    let mut failed = false;
    Ok(log
        .segment_batches(s.base_offset)?
        .map_while(move |item| {
            if failed {
                return None;
            }
            let checked = item
                .map_err(|e| corrupt(s, e.position(), e.to_string()))
                .and_then(|p| {
                    let b = &p.batch;
                    if b.base_offset() <= previous_last || b.last_offset() >= limit {
                        Err(corrupt(
                            s,
                            p.position,
                            format!(
                                "batch offsets {}..={} out of order after {previous_last} (segment ends before {limit})",
                                b.base_offset(),
                                b.last_offset()
                            ),
                        ))
                    } else {
                        previous_last = b.last_offset();
                        Ok(p.batch)
                    }
                });
            failed = checked.is_err();
            Some(checked)
        }))
}

/// What writing one filtered batch did.
pub(crate) struct Written {
    bytes: u64,
    /// Records kept.
    records: u64,
    /// The batch is in the cleaned segment, and with a record (a marker
    /// kept, not emptied).
    kept: bool,
    with_records: bool,
}

impl Written {
    fn record(&self, batch: &RecordBatch, txn_index: &mut CleanedTxnIndex, stats: &mut CleanStats) {
        stats.bytes_written += self.bytes;
        stats.records_kept += self.records;
        if self.kept {
            txn_index.on_kept(batch, self.with_records);
        }
    }
}

/// Filters one batch into the cleaned segment.
pub(crate) fn write_filtered(
    cleaned: &mut weir_log::CleanedSegment,
    batch: &RecordBatch,
    fate: Fate,
    filter: &Filter<'_>,
    last_of_group: bool,
) -> Result<Written, FilterError> {
    match filter_batch(batch, fate, filter, last_of_group)? {
        Kept::Unchanged(records) => {
            cleaned.append(batch.as_bytes())?;
            Ok(Written {
                bytes: batch.size() as u64,
                records,
                kept: true,
                with_records: batch.records_count() > 0,
            })
        }
        Kept::Rebuilt(bytes, records, with_records) => {
            cleaned.append(&bytes)?;
            Ok(Written {
                bytes: bytes.len() as u64,
                records,
                kept: true,
                with_records,
            })
        }
        Kept::Nothing => Ok(Written {
            bytes: 0,
            records: 0,
            kept: false,
            with_records: false,
        }),
    }
}

/// What a pass filters by.
pub(crate) struct Filter<'a> {
    /// Keys → their latest offset below `end`.
    pub(crate) map: &'a OffsetMap,
    /// Records at or past it are kept as they are.
    pub(crate) end: i64,
    /// The log's clock when the pass began.
    pub(crate) now: i64,
    /// The delete horizon given to batches that newly hold tombstones or a
    /// removable marker.
    pub(crate) new_horizon: i64,
    /// Active producers' last batch offsets: such a batch keeps its header
    /// when emptied (Kafka's `RETAIN_EMPTY`), with the producer's last
    /// sequence.
    pub(crate) producer_last: std::collections::HashMap<i64, i64>,
}

/// Why filtering a batch failed.
#[derive(Debug)]
pub(crate) enum FilterError {
    Record(weir_record::RecordError),
    Log(LogError),
}

impl From<weir_record::RecordError> for FilterError {
    fn from(e: weir_record::RecordError) -> Self {
        FilterError::Record(e)
    }
}

impl From<LogError> for FilterError {
    fn from(e: LogError) -> Self {
        FilterError::Log(e)
    }
}

pub(crate) fn into_log_error(segment: &SegmentInfo, e: FilterError) -> LogError {
    match e {
        FilterError::Log(e) => e,
        FilterError::Record(e) => corrupt(segment, 0, e.to_string()),
    }
}

/// What survives of a batch.
pub(crate) enum Kept {
    /// The batch as it is, with this many records.
    Unchanged(u64),
    /// A rebuilt batch (or an empty header), with this many records, and
    /// whether any is left.
    Rebuilt(bytes::Bytes, u64, bool),
    /// Nothing.
    Nothing,
}

pub(crate) fn corrupt(segment: &SegmentInfo, position: u64, reason: String) -> LogError {
    LogError::Corrupt {
        path: segment.log_path.clone(),
        position,
        reason,
    }
}

/// Consecutive segments below `end` whose sizes sum to at most `max_bytes`
/// (and whose offsets stay within 32 bits of the first): each group becomes
/// one cleaned segment (Kafka's `groupSegmentsBySize`).
pub(crate) fn group_segments(
    segments: &[SegmentInfo],
    end: i64,
    max_bytes: u32,
) -> Vec<Vec<SegmentInfo>> {
    let mut groups: Vec<Vec<SegmentInfo>> = Vec::new();
    let mut current: Vec<SegmentInfo> = Vec::new();
    let mut size = 0u64;
    for s in segments.iter().filter(|s| s.base_offset < end) {
        let fits = current.first().is_none_or(|f| {
            size + s.size_bytes <= u64::from(max_bytes)
                && s.last_offset.unwrap_or(s.base_offset) - f.base_offset <= i64::from(i32::MAX)
        });
        if !fits {
            groups.push(std::mem::take(&mut current));
            size = 0;
        }
        size += s.size_bytes;
        current.push(s.clone());
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// What of `batch` survives: its bytes unchanged, a rebuilt batch (records
/// dropped, or a delete horizon set), an empty header, or nothing.
pub(crate) fn filter_batch(
    batch: &RecordBatch,
    fate: Fate,
    filter: &Filter<'_>,
    last_of_group: bool,
) -> Result<Kept, weir_record::RecordError> {
    let horizon_passed = batch.delete_horizon_ms().is_some_and(|h| filter.now >= h);
    let records = batch.records()?;
    let mut keep = Vec::with_capacity(records.len());
    let mut all = true;
    let mut needs_horizon = false;
    if batch.is_control() {
        // A marker past the map's reach stays: this pass did not see its
        // transaction's data (a later one, whose map covers it, decides).
        if !fate.marker_removable || batch.base_offset() >= filter.end {
            return Ok(Kept::Unchanged(0));
        }
        if horizon_passed || is_emptied_control(batch) {
            // An emptied marker was already cleaned: it goes as one whose
            // horizon passed does.
            all = false;
        } else {
            // Kept until its horizon, which the first clean that finds it
            // removable sets.
            needs_horizon = batch.delete_horizon_ms().is_none();
            for r in &records {
                keep.push(r?);
            }
        }
    } else {
        for r in &records {
            let r = r?;
            // A record past the map's reach is kept whatever it is, as in
            // Kafka's `shouldRetainRecord`: a tombstone there may not go
            // while an older value of its key, which no map of this pass
            // holds, stays.
            let retained = r.offset() >= filter.end
                || match r.key() {
                    _ if fate.aborted => false,
                    None => false,
                    Some(key) => {
                        let latest = filter.map.get(key).is_none_or(|o| r.offset() >= o);
                        let expired = r.value().is_none() && horizon_passed;
                        latest && !expired
                    }
                };
            if retained {
                needs_horizon |= r.value().is_none() && batch.delete_horizon_ms().is_none();
                keep.push(r);
            } else {
                all = false;
            }
        }
    }
    // Checked before the batch may stay as it is: a batch emptied by an
    // earlier clean has nothing to keep either (Kafka's `DELETE_EMPTY`).
    let producers_last = !batch.is_control()
        && batch.producer_id() >= 0
        && filter.producer_last.get(&batch.producer_id()) == Some(&batch.last_offset());
    if keep.is_empty() && !last_of_group && !producers_last {
        return Ok(Kept::Nothing);
    }
    if all && !needs_horizon {
        return Ok(Kept::Unchanged(keep.len() as u64));
    }
    let compression = batch.compression()?;
    let mut builder = BatchBuilder::new(BatchOptions {
        compression: CompressionConfig::new(compression),
        timestamp_type: batch.timestamp_type(),
        transactional: batch.is_transactional(),
        control: batch.is_control(),
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        base_offset: batch.base_offset(),
        partition_leader_epoch: batch.partition_leader_epoch(),
        // A horizon once set stays, even when the tombstones it was for are
        // gone (Kafka's `buildRetainedRecordsInto`); an empty header has none.
        delete_horizon_ms: match batch.delete_horizon_ms() {
            _ if keep.is_empty() => None,
            Some(h) => Some(h),
            None if needs_horizon => Some(filter.new_horizon),
            None => None,
        },
    });
    for r in &keep {
        builder.append_view(r)?;
    }
    builder.set_last_offset_delta(batch.last_offset_delta())?;
    if keep.is_empty() || batch.timestamp_type() == TimestampType::LogAppendTime {
        // An empty header keeps the old max timestamp (Kafka's
        // writeEmptyHeader); LogAppendTime keeps the append time.
        builder.set_max_timestamp(batch.max_timestamp());
    }
    Ok(Kept::Rebuilt(
        builder.build()?,
        keep.len() as u64,
        !keep.is_empty(),
    ))
}

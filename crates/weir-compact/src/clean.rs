//! Compacting one partition (Kafka's `Cleaner.clean`, `kafka-format.md` §11).
//!
//! 1. The cleanable range runs from the first dirty offset (the cleaner
//!    checkpoint) to the first uncleanable one: the active segment's base, or
//!    the first segment with records newer than `min.compaction.lag.ms`.
//! 2. A key → latest offset map is built over the dirty part, as far as it
//!    fits (`log.cleaner.dedupe.buffer.size`); its end closes this pass.
//! 3. Every segment below the map's end is rewritten, in groups that fit one
//!    segment, keeping a record when it has a key and no later record of that
//!    key is in the map; records without a key are dropped. Survivors keep
//!    their offsets, batches their header fields. A tombstone's batch gets a
//!    delete horizon on the first clean that keeps it and loses the tombstone
//!    on a clean after that horizon. An emptied batch disappears, except an
//!    active producer's last batch (as Kafka keeps it, for its sequence) and
//!    the last batch of a group, kept as an empty header so the group's last
//!    offset survives (Weir's recovery checks offsets are contiguous across
//!    segments). Transactions: see `txn.rs`.
//! 4. Each group is swapped in through `.cleaned` → `.swap` → final names
//!    (`PartitionLog::swap_cleaned`), after the log is flushed and the
//!    recovery point checkpointed past it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use weir_log::{DeletedSegment, LogDir, LogError, PartitionLog, SegmentInfo, SwapStep};
use weir_record::ControlRecordType;

use crate::config::CleanerConfig;
use crate::offset_map::OffsetMap;
use crate::rewrite::{Filter, GroupTxns, checked_batches, corrupt, group_segments, rewrite_group};
use crate::txn::{AbortedTxn, CleanedTxnIndex, MapTxns, PendingTxn, RewriteTxns, marker_type};

/// What one cleaning pass did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CleanStats {
    /// The first dirty offset before the pass.
    pub first_dirty_offset: i64,
    /// The first dirty offset after it (the new cleaner checkpoint).
    pub next_dirty_offset: i64,
    /// The dirty share of the cleanable bytes before the pass.
    pub dirty_ratio: f64,
    /// Segments rewritten.
    pub segments_cleaned: usize,
    /// Segments the pass produced (groups).
    pub segments_written: usize,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Dirty records read (the offset map's pass, from the first dirty offset).
    pub records_read: u64,
    /// Records the cleaned segments keep (clean and dirty ones alike).
    pub records_kept: u64,
    /// Keys in the offset map.
    pub keys: usize,
    /// Memory of the offset map, about.
    pub map_bytes: usize,
    /// How long the pass took.
    pub elapsed: Duration,
}

/// The cleanable range of a partition and how dirty it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleanable {
    /// First dirty offset.
    pub first_dirty: i64,
    /// First offset that must not be cleaned yet.
    pub first_uncleanable: i64,
    /// dirty bytes / (clean + dirty bytes) below the first uncleanable offset.
    pub dirty_ratio: f64,
    /// A dirty record is older than `max.compaction.lag.ms`.
    pub overdue: bool,
}

/// Works out what of `log` may be cleaned now (Kafka's `cleanableOffsets`).
/// A `checkpoint` below the log start or past the log end counts as the log
/// start. Reads the first batch of the first dirty segment when
/// `max.compaction.lag.ms` is set; does not block otherwise.
pub fn cleanable(log: &PartitionLog, checkpoint: i64, now_ms: i64) -> Cleanable {
    let config = log.config();
    let segments: Vec<SegmentInfo> = log.segments();
    let active_base = segments
        .iter()
        .find(|s| s.is_active)
        .map_or(log.log_end_offset(), |s| s.base_offset);
    let lag_limit = now_ms.saturating_sub(config.min_compaction_lag_ms);
    // A checkpoint outside the log (the topic was deleted and created again,
    // or the log start moved past it) starts over at the log start, as
    // Kafka's `cleanableOffsets` does.
    let log_start = log.log_start_offset();
    let first_dirty = if checkpoint < log_start || checkpoint > log.log_end_offset() {
        log_start
    } else {
        checkpoint
    };
    let first_uncleanable = segments
        .iter()
        .filter(|s| !s.is_active && s.next_segment_base_offset.is_none_or(|n| n > first_dirty))
        .find(|s| {
            config.min_compaction_lag_ms > 0 && s.max_timestamp.is_some_and(|t| t > lag_limit)
        })
        .map_or(active_base, |s| s.base_offset)
        .min(active_base);
    let (mut clean, mut dirty) = (0u64, 0u64);
    let mut oldest_dirty: Option<i64> = None;
    for s in segments
        .iter()
        .filter(|s| s.base_offset < first_uncleanable)
    {
        let end = s.next_segment_base_offset.unwrap_or(i64::MAX);
        if end <= first_dirty {
            clean += s.size_bytes;
        } else {
            dirty += s.size_bytes;
            if oldest_dirty.is_none() && config.max_compaction_lag_ms < i64::MAX {
                oldest_dirty = first_batch_timestamp(log, s).or(s.max_timestamp);
            }
        }
    }
    let total = clean + dirty;
    let overdue = config.max_compaction_lag_ms < i64::MAX
        && oldest_dirty.is_some_and(|t| now_ms.saturating_sub(t) > config.max_compaction_lag_ms);
    Cleanable {
        first_dirty,
        first_uncleanable,
        dirty_ratio: if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        },
        overdue,
    }
}

/// The max timestamp of a segment's first batch: Kafka's measure of how long
/// a segment has waited (`LogSegment.getFirstBatchTimestamp`, used for
/// `max.compaction.lag.ms`). `None` when it cannot be read or has none.
fn first_batch_timestamp(log: &PartitionLog, s: &SegmentInfo) -> Option<i64> {
    let first = log.segment_batches(s.base_offset).ok()?.next()?.ok()?;
    Some(first.batch.max_timestamp()).filter(|t| *t > 0)
}

/// Whether a partition is dirty enough for a pass that is not forced:
/// overdue, or dirtier than `min.cleanable.dirty.ratio` (strictly, as
/// Kafka's `LogCleanerManager` compares).
pub(crate) fn needs_cleaning(range: &Cleanable, min_cleanable_dirty_ratio: f64) -> bool {
    range.first_dirty < range.first_uncleanable
        && (range.overdue || range.dirty_ratio > min_cleanable_dirty_ratio)
}

/// The longest a throttled pass sleeps before it looks at the stop flag
/// again.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How often the rate is measured (Kafka's cleaner checks every 300 ms).
const RATE_CHECK_INTERVAL: Duration = Duration::from_millis(300);

/// `log.cleaner.io.max.bytes.per.second` for a whole cleaner, as Kafka's
/// cleaner keeps one `Throttler` for all its threads: the bytes every pass
/// reads and writes count against one rate, so `log.cleaner.threads` threads
/// together stay at it.
#[derive(Debug)]
pub(crate) struct IoRate {
    rate: f64,
    period: Mutex<Period>,
}

/// The bytes seen since the current measuring period began.
#[derive(Debug)]
struct Period {
    start: Instant,
    observed: f64,
}

impl Period {
    /// Counts `bytes` at `now`; once a period of [`RATE_CHECK_INTERVAL`] is
    /// complete, how long to sleep to bring it down to `rate` (Kafka's
    /// `Throttler.maybeThrottle`), and a new period begins.
    fn owed(&mut self, rate: f64, bytes: u64, now: Instant) -> Option<Duration> {
        self.observed += bytes as f64;
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed <= RATE_CHECK_INTERVAL || self.observed <= 0.0 {
            return None;
        }
        // A wait too long for a `Duration` (a rate of 1e-300, say) is as
        // long as one can be, not a panic.
        let due = Duration::try_from_secs_f64(self.observed / rate).unwrap_or(Duration::MAX);
        self.start = now;
        self.observed = 0.0;
        (due > elapsed).then(|| due - elapsed)
    }
}

impl IoRate {
    pub(crate) fn new(rate: f64) -> Self {
        IoRate {
            rate,
            period: Mutex::new(Period {
                start: Instant::now(),
                observed: 0.0,
            }),
        }
    }

    fn unlimited(&self) -> bool {
        !self.rate.is_finite() || self.rate >= f64::MAX / 2.0
    }
}

/// One pass's view of its cleaner's [`IoRate`]: counts the bytes it reads
/// and writes, sleeping as the rate asks, and ends the pass when the cleaner
/// stops (Kafka's `checkDone`).
#[derive(Debug)]
pub(crate) struct Throttle<'a> {
    io: &'a IoRate,
    stopping: Option<&'a AtomicBool>,
    /// The log being cleaned: its close (a topic delete) ends the pass too,
    /// as Kafka's `abortCleaning`.
    log: Option<&'a PartitionLog>,
}

impl<'a> Throttle<'a> {
    pub(crate) fn new(
        io: &'a IoRate,
        stopping: Option<&'a AtomicBool>,
        log: Option<&'a PartitionLog>,
    ) -> Self {
        Throttle { io, stopping, log }
    }

    fn stopped(&self) -> bool {
        self.stopping.is_some_and(|s| s.load(Ordering::Acquire))
            || self.log.is_some_and(PartitionLog::is_closed)
    }

    /// Counts `bytes` read or written, sleeping as the rate asks (in slices,
    /// so that a stop is seen within [`STOP_CHECK`]). The sleep holds the
    /// rate's lock, as Kafka's throttler sleeps in its monitor: the other
    /// passes wait with it.
    ///
    /// # Errors
    /// [`LogError::Closed`] once the cleaner is stopping: the pass ends,
    /// and what it wrote is discarded.
    pub(crate) fn add(&mut self, bytes: u64) -> Result<(), LogError> {
        if !self.io.unlimited() {
            let mut period = self
                .io
                .period
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(wait) = period.owed(self.io.rate, bytes, Instant::now()) {
                let until = weir_log::clock::instant_after(Instant::now(), wait);
                loop {
                    if self.stopped() {
                        break;
                    }
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    std::thread::sleep((until - now).min(STOP_CHECK));
                }
                // The sleep is not part of the next period.
                period.start = Instant::now();
            }
        }
        if self.stopped() {
            return Err(LogError::Closed {
                what: match self.log {
                    Some(log) if log.is_closed() => format!("{}-{}", log.topic(), log.partition()),
                    _ => "the log cleaner (stopping)".into(),
                },
            });
        }
        Ok(())
    }
}

/// One pass over `log` (see the module docs); `None` when nothing is
/// cleanable. With `force`, the dirty-ratio threshold is ignored. Deleted
/// segments are returned for deletion after `file.delete.delay.ms`.
pub(crate) fn clean_log(
    logs: &LogDir,
    log: &PartitionLog,
    checkpoint: i64,
    config: &CleanerConfig,
    force: bool,
    stop: SwapStep,
    throttle: Throttle<'_>,
) -> Result<Option<(CleanStats, Vec<DeletedSegment>)>, LogError> {
    let started = Instant::now();
    let now = log.clock().now_ms();
    let topic_config = log.config();
    let range = cleanable(log, checkpoint, now);
    if range.first_dirty >= range.first_uncleanable {
        return Ok(None);
    }
    if !force && !needs_cleaning(&range, topic_config.min_cleanable_dirty_ratio) {
        return Ok(None);
    }
    let mut throttle = Throttle {
        log: Some(log),
        ..throttle
    };
    let segments: Vec<SegmentInfo> = log
        .segments()
        .into_iter()
        .filter(|s| !s.is_active && s.base_offset < range.first_uncleanable)
        .collect();

    // 2. The offset map over the dirty segments, as far as it fits.
    let mut map = OffsetMap::new(config.max_map_entries());
    let mut end = range.first_dirty;
    let mut records_read = 0u64;
    let mut txns = MapTxns::default();
    // From the first record of a transaction still pending on, keys wait
    // here and go into the map in offset order once the transactions before
    // them are resolved: as Kafka's map pass puts committed records as it
    // reads them. So a map that fills up ends the pass at the first record
    // that did not fit, and every key below it is in the map.
    let mut queue: VecDeque<Queued> = VecDeque::new();
    'segments: for s in segments.iter().filter(|s| {
        s.next_segment_base_offset
            .is_none_or(|n| n > range.first_dirty)
    }) {
        for batch in checked_batches(log, s)? {
            let batch = batch?;
            throttle.add(batch.size() as u64)?;
            if batch.last_offset() < range.first_dirty {
                continue;
            }
            let pid = batch.producer_id();
            if let Some(kind) = marker_type(&batch).map_err(|e| corrupt(s, 0, e.to_string()))? {
                if let Some(txn) = txns.pending.remove(&pid) {
                    let committed = kind != ControlRecordType::Abort;
                    if !committed {
                        txns.aborted.push(AbortedTxn {
                            producer_id: pid,
                            first_offset: txn.first_offset,
                            marker_offset: batch.base_offset(),
                        });
                    }
                    for q in queue.iter_mut().filter(|q| q.state == QState::Pending(pid)) {
                        q.state = if committed {
                            QState::Ready
                        } else {
                            QState::Dropped
                        };
                    }
                    // Puts what is resolved at the queue's front.
                    while let Some(front) = queue.front() {
                        match front.state {
                            QState::Pending(_) => break,
                            QState::Dropped => {}
                            QState::Ready => {
                                if !map.put_hash(front.hash, front.offset) {
                                    // Full: the pass ends before this record
                                    // (those from it on are past the end, so
                                    // all are kept now).
                                    end = end.min(front.offset);
                                    break 'segments;
                                }
                            }
                        }
                        queue.pop_front();
                    }
                }
            } else if !batch.is_control() {
                let transactional = batch.is_transactional() && pid >= 0;
                let records = batch.records().map_err(|e| corrupt(s, 0, e.to_string()))?;
                for r in &records {
                    let r = r.map_err(|e| corrupt(s, 0, e.to_string()))?;
                    if r.offset() < range.first_dirty {
                        continue;
                    }
                    records_read += 1;
                    if transactional {
                        // Its keys count once its COMMIT is seen.
                        txns.pending.entry(pid).or_insert_with(|| PendingTxn {
                            first_offset: r.offset(),
                        });
                        if let Some(key) = r.key() {
                            queue.push_back(Queued {
                                offset: r.offset(),
                                hash: OffsetMap::hash(key),
                                state: QState::Pending(pid),
                            });
                        }
                    } else if let Some(key) = r.key()
                        && !queue.is_empty()
                    {
                        // Behind a transaction still pending: in order.
                        queue.push_back(Queued {
                            offset: r.offset(),
                            hash: OffsetMap::hash(key),
                            state: QState::Ready,
                        });
                    } else if let Some(key) = r.key()
                        && !map.put(key, r.offset())
                    {
                        // Full: this pass ends before this record.
                        end = end.max(r.offset());
                        break 'segments;
                    }
                }
            }
            end = end.max(batch.last_offset() + 1);
        }
        end = end.max(s.next_segment_base_offset.unwrap_or(end));
    }
    // A transaction whose marker is not in reach is not cleaned in this pass.
    for txn in txns.pending.values() {
        end = end.min(txn.first_offset);
    }
    let end = end.min(range.first_uncleanable);
    if end <= range.first_dirty {
        return Ok(None);
    }

    // Recovery must never take a cleaned segment for unflushed data.
    log.flush_until(end)?;
    logs.write_checkpoints()?;

    // 3. Rewrite every segment below `end`, in groups.
    let groups = group_segments(&segments, end, topic_config.segment_bytes);
    let filter = Filter {
        map: &map,
        end,
        now,
        new_horizon: now.saturating_add(topic_config.delete_retention_ms),
        producer_last: log.producer_last_offsets(),
    };
    // Aborted data goes; markers go once their transaction's data has.
    let mut rewrite_txns = RewriteTxns::new(txns.aborted);
    let mut stats = CleanStats {
        first_dirty_offset: range.first_dirty,
        next_dirty_offset: end,
        dirty_ratio: range.dirty_ratio,
        segments_cleaned: 0,
        segments_written: 0,
        bytes_read: 0,
        bytes_written: 0,
        records_read,
        records_kept: 0,
        keys: map.len(),
        map_bytes: map.memory_bytes(),
        elapsed: Duration::ZERO,
    };
    let mut deleted = Vec::new();
    for group in groups {
        let Some(first) = group.first() else {
            continue;
        };
        let group_end = group
            .last()
            .and_then(|s| s.next_segment_base_offset)
            .unwrap_or(i64::MAX);
        let mut txn_index = CleanedTxnIndex::new(
            first.base_offset,
            group_end,
            log.aborted_transactions(first.base_offset, group_end),
        );
        let mut cleaned = log.create_cleaned(first.base_offset)?;
        let rewritten = rewrite_group(
            log,
            &group,
            &mut cleaned,
            &filter,
            &mut GroupTxns {
                rewrite: &mut rewrite_txns,
                index: &mut txn_index,
            },
            &mut throttle,
            &mut stats,
        )
        .and_then(|()| txn_index.write(log.dir()));
        if let Err(e) = rewritten {
            // Nothing half-written stays behind.
            let _ = cleaned.discard();
            return Err(e);
        }
        let bases: Vec<i64> = group.iter().map(|s| s.base_offset).collect();
        stats.segments_cleaned += bases.len();
        stats.segments_written += 1;
        deleted.extend(log.swap_cleaned_until(cleaned, &bases, stop)?);
        if stop != SwapStep::Done {
            // A simulated crash: nothing after this step happens.
            break;
        }
    }
    stats.elapsed = started.elapsed();
    Ok(Some((stats, deleted)))
}

/// A key of the map pass waiting for the transactions before it.
struct Queued {
    offset: i64,
    hash: u128,
    state: QState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QState {
    /// Of this producer's transaction, whose marker is not read yet.
    Pending(i64),
    /// To put in the map (committed, or not transactional).
    Ready,
    /// Of an aborted transaction: never in the map.
    Dropped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_measured_over_periods_as_kafkas_throttler() {
        let t0 = Instant::now();
        let mut p = Period {
            start: t0,
            observed: 0.0,
        };
        // Within the first 300 ms nothing is owed, however fast.
        assert_eq!(p.owed(1000.0, 500, t0), None);
        assert_eq!(p.owed(1000.0, 100, t0 + Duration::from_millis(300)), None);
        // 1000 bytes in 400 ms at 1000 B/s: 600 ms more.
        assert_eq!(
            p.owed(1000.0, 400, t0 + Duration::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        // A new period began: 100 bytes 500 ms later are behind the rate.
        assert_eq!(p.observed, 0.0);
        assert_eq!(p.owed(1000.0, 100, t0 + Duration::from_millis(900)), None);
        assert_eq!(p.observed, 0.0, "the period ended, owing nothing");
        assert_eq!(
            p.owed(1e-300, 1, t0 + Duration::from_secs(10)),
            Some(Duration::MAX - Duration::from_millis(9100))
        );
    }

    #[test]
    fn passes_share_their_cleaners_rate() {
        // Review 12: each pass had a throttle of its own, so N cleaner
        // threads read and wrote at N times the rate.
        let io = IoRate::new(1e12);
        let mut a = Throttle::new(&io, None, None);
        let mut b = Throttle::new(&io, None, None);
        a.add(100).unwrap();
        b.add(200).unwrap();
        let observed = io.period.lock().unwrap().observed;
        assert_eq!(observed, 300.0);
        let unlimited = IoRate::new(f64::MAX);
        Throttle::new(&unlimited, None, None).add(u64::MAX).unwrap();
        assert_eq!(unlimited.period.lock().unwrap().observed, 0.0);
    }
}

//! Reading a partition: fetch by offset, find offsets by time, and wait for new
//! data by notification. None of it takes the writer's lock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::{EventListener, Listener};
use weir_record::{BatchIter, RecordBatch};

use crate::batch_header::BatchHeader;
use crate::error::LogError;
use crate::partition::PartitionLog;
use crate::segment::LogSegment;

/// What [`PartitionLog::fetch`] returns: whole batches and the partition's
/// offsets at the time of the read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchData {
    /// Whole batches back to back, from one segment; empty when none was
    /// available at the fetch offset.
    pub records: Bytes,
    /// The offset asked for.
    pub fetch_offset: i64,
    /// Where the next fetch should start: after the last batch returned, or the
    /// fetch offset when nothing was returned.
    pub next_offset: i64,
    /// The high watermark when the fetch began.
    pub high_watermark: i64,
    /// The offset the fetch read up to (exclusive): the high watermark, or
    /// for [`PartitionLog::fetch_committed_into`] the last stable offset.
    pub read_limit: i64,
    /// The log start offset when the fetch began.
    pub log_start_offset: i64,
}

impl FetchData {
    /// Whether no batch was returned.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The batches, CRC-checked as they are iterated.
    pub fn batches(&self) -> BatchIter {
        BatchIter::new(self.records.clone())
    }
}

/// A record found by timestamp: [`PartitionLog::offset_for_timestamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
    /// The leader epoch of its batch.
    pub leader_epoch: i32,
}

impl PartitionLog {
    /// Reads whole batches starting with the one that holds `offset`: as many as
    /// fit in `max_bytes`, but always the first one whole even when it is
    /// larger (as Kafka does). Only data below the high watermark is returned.
    /// An offset inside a batch returns that batch (the caller skips the
    /// records before `offset`). Never blocks on the writer.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] below the log start offset or past the log
    /// end offset (with the valid range); [`LogError::Io`] on a read error;
    /// [`LogError::Corrupt`] when no batch reaches an offset below the high
    /// watermark (in a sound log some batch always does, compacted or not:
    /// the segment's bytes are damaged, as after a clean shutdown that
    /// trusted damaged files), so a reader learns of it rather than waiting.
    pub fn fetch(&self, offset: i64, max_bytes: usize) -> Result<FetchData, LogError> {
        self.fetch_into(offset, max_bytes, &mut Vec::new())
    }

    /// As [`fetch`](Self::fetch), but the bytes are read into `buf`'s
    /// allocation when it fits the read: at least as large, and at most four
    /// times the read plus 64 KiB, so that the returned bytes do not pin much
    /// memory they do not use. `buf` is then taken (left empty, without
    /// capacity); otherwise, and when nothing is returned, it is left as it
    /// was (after a read error it may be left empty). A reader that gets its
    /// earlier buffers back (from [`bytes::Bytes::try_into_mut`] once nothing
    /// else shares them) copies into memory that is mapped and likely in
    /// cache, where a fresh buffer of a megabyte is neither. A new buffer for
    /// a read of 64 KiB or more is rounded up to a multiple of 64 KiB, so
    /// that it fits the next fetches of about the same size.
    ///
    /// # Errors
    /// As [`fetch`](Self::fetch).
    pub fn fetch_into(
        &self,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
    ) -> Result<FetchData, LogError> {
        self.fetch_up_to(offset, max_bytes, buf, false)
    }

    /// As [`fetch_into`](Self::fetch_into), for a `read_committed` reader:
    /// only batches below the [last stable
    /// offset](Self::last_stable_offset) are returned, so none of a
    /// transaction still open (Kafka's `FetchIsolation.TXN_COMMITTED`).
    ///
    /// # Errors
    /// As [`fetch`](Self::fetch).
    pub fn fetch_committed_into(
        &self,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
    ) -> Result<FetchData, LogError> {
        self.fetch_up_to(offset, max_bytes, buf, true)
    }

    fn fetch_up_to(
        &self,
        offset: i64,
        max_bytes: usize,
        buf: &mut Vec<u8>,
        committed: bool,
    ) -> Result<FetchData, LogError> {
        let high_watermark = self.high_watermark();
        let limit = if committed {
            self.last_stable_offset().min(high_watermark)
        } else {
            high_watermark
        };
        let log_start_offset = self.log_start_offset();
        let empty = FetchData {
            records: Bytes::new(),
            fetch_offset: offset,
            next_offset: offset,
            high_watermark,
            read_limit: limit,
            log_start_offset,
        };
        if offset < log_start_offset || offset > self.log_end_offset() {
            return Err(LogError::OffsetOutOfRange {
                partition: self.name.clone(),
                offset,
                log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if offset >= limit {
            return Ok(empty);
        }
        let list = self.segment_list();
        if list.first().is_some_and(|s| s.base_offset() > offset) {
            // Retention deleted the segment holding `offset` since the check
            // above (it removes segments, then moves the log start): reading
            // on from the next segment would skip records without a word.
            return Err(LogError::OffsetOutOfRange {
                partition: self.name.clone(),
                offset,
                log_start_offset: self.log_start_offset(),
                log_end_offset: self.log_end_offset(),
            });
        }
        let first = list
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for seg in list.iter().skip(first) {
            if seg.base_offset() >= limit {
                break;
            }
            if let Some(read) = seg.read(offset, max_bytes.max(1), limit, seg.size(), buf)? {
                return Ok(FetchData {
                    records: read.bytes,
                    next_offset: read.next_offset,
                    ..empty
                });
            }
        }
        let segment = list.get(first);
        Err(LogError::Corrupt {
            path: segment.map_or_else(|| self.dir().to_path_buf(), |s| s.log_path()),
            position: segment.map_or(0, |s| s.size()),
            reason: format!(
                "no batch reaches offset {offset}, below the high watermark {high_watermark}"
            ),
        })
    }

    /// As [`fetch`](Self::fetch), but when nothing is available at `offset`
    /// waits (by notification) up to `timeout` for an append, then fetches.
    ///
    /// # Errors
    /// As [`fetch`](Self::fetch).
    pub fn fetch_wait(
        &self,
        offset: i64,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<FetchData, LogError> {
        let data = self.fetch(offset, max_bytes)?;
        if !data.is_empty() {
            return Ok(data);
        }
        self.wait_for_data(offset, crate::clock::deadline_in(timeout));
        self.fetch(offset, max_bytes)
    }

    /// Blocks until the high watermark passes `offset`, the log closes or fails,
    /// or `deadline` passes. Returns whether data at `offset` is readable.
    /// Waits on a notification from the writer: no polling.
    pub fn wait_for_data(&self, offset: i64, deadline: Instant) -> bool {
        loop {
            if self.high_watermark() > offset {
                return true;
            }
            if self.is_closed() || self.failed.get().is_some() {
                return false;
            }
            let listener = self.data_event.listen();
            if self.high_watermark() > offset {
                return true;
            }
            if listener.wait_deadline(deadline).is_none() {
                return self.high_watermark() > offset;
            }
        }
    }

    /// A future that resolves when the high watermark passes `offset` (or the
    /// log closes or fails). Works on any executor.
    pub fn data_available(self: &Arc<Self>, offset: i64) -> DataAvailable {
        DataAvailable {
            log: Arc::clone(self),
            offset,
            committed: false,
            listener: None,
        }
    }

    /// As [`data_available`](Self::data_available), for a `read_committed`
    /// reader: resolves when the [last stable
    /// offset](Self::last_stable_offset) passes `offset`.
    pub fn committed_data_available(self: &Arc<Self>, offset: i64) -> DataAvailable {
        DataAvailable {
            log: Arc::clone(self),
            offset,
            committed: true,
            listener: None,
        }
    }

    /// The first record with a timestamp at or after `timestamp` (Kafka's
    /// `fetchOffsetByTimestamp`): the time index narrows the segment and the
    /// position, a scan of batch headers finds the batch, and its records give
    /// the exact offset. `None` when every record is older or the log is empty.
    ///
    /// # Errors
    /// [`LogError::Io`] on a read error; [`LogError::Corrupt`] when the batch
    /// found does not decode.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        self.first_at_or_after(timestamp, false)
    }

    /// The first record at or after the log start offset and below the high
    /// watermark with a timestamp at or after `timestamp`; transaction
    /// markers count when `markers`.
    fn first_at_or_after(
        &self,
        timestamp: i64,
        markers: bool,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        let start = self.log_start_offset();
        let hw = self.high_watermark();
        for seg in self.segment_list().iter() {
            if seg.max_timestamp() < timestamp || seg.last_offset() < start {
                continue;
            }
            let from = seg.lookup_time(timestamp).max(start);
            let mut position = seg.lookup_position(from);
            // A batch whose max timestamp reaches the target may still hold no
            // record that does (a control batch, or records below the log
            // start offset): the search goes on with the next batch of the
            // same segment (Kafka's `FileRecords.searchForTimestamp`).
            while let Some(h) =
                next_batch(seg, position, start, hw, |h| h.max_timestamp >= timestamp)?
            {
                let hit = scan_batch(seg, &h, start, hw, markers, |ts, _| ts >= timestamp)?;
                if hit.is_some() {
                    return Ok(hit);
                }
                position = h.position + h.size;
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp at
    /// or after the log start offset and below the high watermark (Kafka's
    /// `MAX_TIMESTAMP` list-offsets spec); the first such record on a tie.
    /// Transaction markers count, as in Kafka, whose answer is the marker
    /// when its batch holds the partition's largest timestamp. `None` when
    /// there is no such record (or every timestamp is negative).
    ///
    /// The segments' largest timestamps usually lead straight to the record;
    /// when the record that set one is no longer readable (below the log
    /// start offset after DeleteRecords or retention, or removed by the
    /// cleaner), the readable records are scanned, reading only batches
    /// whose largest timestamp beats the best record found so far.
    ///
    /// # Errors
    /// As [`offset_for_timestamp`](Self::offset_for_timestamp).
    pub fn max_timestamp_and_offset(&self) -> Result<Option<TimestampAndOffset>, LogError> {
        // Twice: an append publishes its segment's largest timestamp just
        // before the high watermark that makes its records readable, and a
        // call between the two finds no readable record that reaches it.
        let mut start = self.log_start_offset();
        let mut segments = self.segment_list();
        for attempt in 0..2 {
            if attempt > 0 {
                start = self.log_start_offset();
                segments = self.segment_list();
            }
            let max = segments
                .iter()
                .filter(|s| s.last_offset() >= start)
                .map(|s| s.max_timestamp())
                .max()
                .unwrap_or(-1);
            if max < 0 {
                return Ok(None);
            }
            // No readable record is later than `max`: the first that
            // reaches it is the answer.
            if let Some(hit) = self.first_at_or_after(max, true)? {
                return Ok(Some(hit));
            }
        }
        self.scan_for_max_timestamp(&segments, start)
    }

    /// [`max_timestamp_and_offset`](Self::max_timestamp_and_offset) by a scan
    /// of the records from `start` to the high watermark.
    fn scan_for_max_timestamp(
        &self,
        segments: &[Arc<LogSegment>],
        start: i64,
    ) -> Result<Option<TimestampAndOffset>, LogError> {
        let hw = self.high_watermark();
        let mut best: Option<TimestampAndOffset> = None;
        // Segments by their largest timestamp, highest first (in offset
        // order among equals): once a segment's largest cannot reach the best
        // record found, no later one can, and the scan ends. With ordinary
        // data it reads one segment.
        let mut by_max: Vec<&Arc<LogSegment>> = segments
            .iter()
            .filter(|s| s.base_offset() < hw && s.last_offset() >= start && s.max_timestamp() >= 0)
            .collect();
        by_max.sort_by_key(|s| std::cmp::Reverse(s.max_timestamp()));
        for seg in by_max {
            if best.is_some_and(|b| seg.max_timestamp() < b.timestamp) {
                break;
            }
            let mut position = seg.lookup_position(start.max(seg.base_offset()));
            loop {
                // A record beats the best with a later timestamp, or with the
                // same one at a lower offset (the first on a tie).
                // A record without a timestamp (-1) is never the answer.
                let beats = |ts: i64, offset: i64| {
                    ts >= 0
                        && best.is_none_or(|b| {
                            ts > b.timestamp || (ts == b.timestamp && offset < b.offset)
                        })
                };
                let Some(h) = next_batch(seg, position, start, hw, |h| {
                    beats(h.max_timestamp, h.base_offset)
                })?
                else {
                    break;
                };
                // The batch's largest readable record, if it beats the best.
                let mut top: Option<TimestampAndOffset> = None;
                scan_batch(seg, &h, start, hw, true, |ts, record| {
                    let better_than_top = top.is_none_or(|t| ts > t.timestamp);
                    if better_than_top && beats(ts, record.offset) {
                        top = Some(record);
                    }
                    false
                })?;
                if top.is_some() {
                    best = top;
                }
                position = h.position + h.size;
            }
        }
        Ok(best)
    }
}

/// The first batch header of `seg` from `position` that holds an offset at or
/// after `start`, starts below `hw`, and that `wanted` takes.
fn next_batch(
    seg: &LogSegment,
    position: u64,
    start: i64,
    hw: i64,
    mut wanted: impl FnMut(&BatchHeader) -> bool,
) -> Result<Option<BatchHeader>, LogError> {
    let mut found = None;
    seg.walk_headers(position, seg.size(), |h| {
        if h.base_offset >= hw {
            return false;
        }
        if h.last_offset >= start && wanted(h) {
            found = Some(*h);
            return false;
        }
        true
    })?;
    Ok(found)
}

/// Reads the records of the batch `h` of `seg` at or after offset `start`
/// and below `hw` (transaction markers only when `markers`) in order, and
/// returns the first for which `stop(timestamp, record)` is true; `None`
/// when none is.
fn scan_batch(
    seg: &LogSegment,
    h: &BatchHeader,
    start: i64,
    hw: i64,
    markers: bool,
    mut stop: impl FnMut(i64, TimestampAndOffset) -> bool,
) -> Result<Option<TimestampAndOffset>, LogError> {
    let bytes = seg.read_at(h.position, usize::try_from(h.size).unwrap_or(0))?;
    let corrupt = |reason: String| LogError::Corrupt {
        path: seg.log_path(),
        position: h.position,
        reason,
    };
    let batch = RecordBatch::new(Bytes::from(bytes)).map_err(|e| corrupt(e.to_string()))?;
    if batch.is_control() && !markers {
        return Ok(None);
    }
    let records = batch.records().map_err(|e| corrupt(e.to_string()))?;
    for record in &records {
        let record = record.map_err(|e| corrupt(e.to_string()))?;
        if record.offset() < start || record.offset() >= hw {
            continue;
        }
        let found = TimestampAndOffset {
            timestamp: record.timestamp(),
            offset: record.offset(),
            leader_epoch: batch.partition_leader_epoch(),
        };
        if stop(record.timestamp(), found) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The future of [`PartitionLog::data_available`].
#[derive(Debug)]
pub struct DataAvailable {
    log: Arc<PartitionLog>,
    offset: i64,
    /// Waits for the last stable offset instead of the high watermark.
    committed: bool,
    listener: Option<EventListener>,
}

impl DataAvailable {
    fn ready(&self) -> bool {
        let limit = if self.committed {
            self.log.last_stable_offset()
        } else {
            self.log.high_watermark()
        };
        limit > self.offset || self.log.is_closed() || self.log.failed.get().is_some()
    }
}

impl Future for DataAvailable {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.ready() {
                return Poll::Ready(());
            }
            match self.listener.as_mut() {
                Some(listener) => match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
                None => self.listener = Some(self.log.data_event.listen()),
            }
        }
    }
}

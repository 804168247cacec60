//! Fetching: reads in chunks into reused buffers, batches checked and decoded
//! after their read, records taken from them into a poll's result.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use weir_log::{LogError, PartitionLog};
use weir_record::{Compression, RecordBatch, RecordError, RecordSpan, Records};

use crate::aborted::AbortedBatches;
use crate::consumer_config::OffsetReset;
use crate::consumer_records::{Chunk, ConsumerRecords, PartitionRecords};
use crate::error::WeirError;
use crate::record::TopicPartition;

use super::poll::PollState;
use super::{Assigned, Consumer};

/// A fetched batch being returned record by record.
pub(crate) struct Buffered {
    pub(super) batch: RecordBatch,
    /// `read_committed`: a batch of an aborted transaction, skipped as control
    /// batches are.
    pub(super) aborted: bool,
    /// The batch checked and its records decoded, once however many polls
    /// take them: an uncompressed batch right after the read that fetched
    /// it, while its bytes are in cache; a compressed one when a poll first
    /// takes from it, so that a poll holds one decompressed batch at a time
    /// (as Kafka's `CompletedFetch` opens one), not every batch of its reads.
    pub(super) decoded: Option<Decoded>,
    /// Its records counted in [`Assigned::buffered_records`] and not taken yet.
    pub(super) counted: usize,
}

/// A buffered batch, checked (CRC with `check.crcs`) and decoded from the
/// position it was fetched at to its end or its first damage.
pub(crate) struct Decoded {
    /// The (decompressed) records; `None` for a batch no poll returns records
    /// of (control, aborted, or before the position), and when the damage
    /// came first.
    pub(super) records: Option<Records>,
    /// The sound records at or after the position, in offset order.
    pub(super) spans: Vec<RecordSpan>,
    /// Where the first of `spans` starts in the records section.
    pub(super) start: usize,
    /// The first of `spans` no poll took yet.
    pub(super) next: usize,
    /// Damage met after `spans`: the first offset not decoded, and what was
    /// wrong. The poll that gets to it returns the records before it; a
    /// later poll fails with it until the application seeks past it.
    pub(super) damage: Option<(i64, String)>,
}

impl Decoded {
    /// Checks and decodes `batch` from `position` (records before it are
    /// skipped by their lengths, so one damaged past its offset can be
    /// sought past). A batch no poll returns records of (a control batch,
    /// an `aborted` one, one wholly before the position) is not decoded;
    /// the CRC of a control or aborted batch is checked.
    pub(super) fn new(
        batch: &RecordBatch,
        aborted: bool,
        position: i64,
        check_crcs: bool,
    ) -> Decoded {
        let mut out = Decoded {
            records: None,
            spans: Vec::new(),
            start: 0,
            next: 0,
            damage: None,
        };
        let base_offset = batch.base_offset();
        let skipped = batch.is_control() || aborted;
        let returned = !skipped && batch.last_offset() >= position;
        // A batch that fails as a whole is named by the position when that is
        // inside it (after a seek past the offset an earlier error named), so
        // that seeking one past the named offset goes on, and the reason
        // says which offsets the batch holds.
        let whole = |e: RecordError| {
            (
                position.max(base_offset),
                format!(
                    "{e} (the batch holds offsets {base_offset}..={})",
                    batch.last_offset()
                ),
            )
        };
        if check_crcs
            && (skipped || batch.last_offset() >= position)
            && let Err(e) = batch.validate_crc()
        {
            out.damage = Some(whole(e));
            return out;
        }
        if !returned {
            return out;
        }
        let records = match batch.records() {
            Ok(r) => r,
            Err(e) => {
                out.damage = Some(whole(e));
                return out;
            }
        };
        let mut iter = records.iter();
        if position > base_offset
            && let Err(e) = iter.skip_until(position)
        {
            out.damage = Some((position, e.to_string()));
            out.records = Some(records);
            return out;
        }
        out.start = iter.position().byte_position();
        // Not the declared count: a damaged batch may declare many more
        // records than it holds.
        let mut spans = Vec::with_capacity(records.len().min(1024));
        // The first offset not decoded: named by damage.
        let mut next = position.max(base_offset);
        for r in &mut iter {
            match r {
                Ok(r) => {
                    next = r.offset() + 1;
                    spans.push(r.span());
                }
                Err(e) => {
                    // Bytes after the last declared record: as Kafka's
                    // reader, the last record is the damaged one (not
                    // returned), so the offset after it is the next batch's.
                    if matches!(e, RecordError::TrailingBytes { .. })
                        && let Some(last) = spans.pop()
                    {
                        next = base_offset.wrapping_add(i64::from(last.offset_delta()));
                    }
                    out.damage = Some((next, e.to_string()));
                    break;
                }
            }
        }
        out.spans = spans;
        out.records = Some(records);
        out
    }
}

impl Consumer {
    /// Fetches into the buffers of unpaused partitions holding less than
    /// `fetch.min.bytes`, round-robin from the partition the next poll starts
    /// with, until the buffers hold `max.poll.records` records and
    /// `fetch.min.bytes`, or every partition was asked.
    ///
    /// Kafka's consumer fetches from every partition at once, to hide the
    /// network's round trip. In process a fetch costs only its copy, and
    /// bytes fetched for partitions a poll does not reach would be out of
    /// cache by the time a later poll checks and decodes them (measured: a
    /// tenth of the consumer's time at 6 partitions); the partitions left out
    /// are fetched by the next polls. For the same reason a partition is read
    /// in chunks of [`FETCH_CHUNK`] (up to `max.partition.fetch.bytes` in all;
    /// only the round's first read returns its first batch whatever its
    /// size, as Kafka's fetch does for the first partition with data),
    /// stopping as soon as the poll holds enough.
    pub(super) fn fetch_round(&mut self, st: &mut PollState) -> Result<(), WeirError> {
        // The clock is read only around reads: for the poll's start and for
        // `fetch-latency`, the time spent reading (as Kafka's, the fetch
        // itself: not the CRC checks and decoding that follow each read).
        let mut read_time: Option<Duration> = None;
        let mut budget = self.config.fetch_max_bytes;
        let mut fetched_any = false;
        let n = self.parts.len();
        let per_partition = self.config.max_partition_fetch_bytes;
        let reset = self.config.auto_offset_reset;
        let read_committed = self.read_committed();
        let check_crcs = self.config.check_crcs;
        let enough = self.config.fetch_min_bytes.max(1);
        let (mut held_bytes, mut held_records) = self
            .parts
            .iter()
            .filter(|a| !a.paused && !a.damaged)
            .fold((0usize, 0usize), |(bytes, records), a| {
                (bytes + a.buffered_bytes, records + a.buffered_records)
            });
        let wanted = self.config.max_poll_records;
        let next_start = self.next_start;
        let goes_on_with = *st.goes_on_with.get_or_insert_with(|| {
            self.parts
                .get(next_start)
                .filter(|a| n > 1 && a.buffered_records > 0)
                .map(|_| next_start)
        });
        for k in 0..n {
            if held_bytes >= enough && held_records >= wanted {
                break;
            }
            let i = (self.next_start + k) % n;
            let Some(a) = self.parts.get_mut(i) else {
                continue;
            };
            // A partition is topped up while it holds less than
            // fetch.min.bytes, except the one the poll goes on with (when
            // there are others): refilled at every poll, it would take every
            // poll and starve the others.
            let continuing = goes_on_with == Some(i) && a.buffered_records > 0;
            if a.paused || a.awaiting_stable || a.buffered_bytes >= enough || continuing {
                continue;
            }
            // fetch.max.bytes is not absolute: the first batch comes back
            // whatever its size (also with fetch.max.bytes=0), as in Kafka.
            if budget == 0 && fetched_any {
                break;
            }
            // The partition is read in chunks of about FETCH_CHUNK bytes
            // while the poll wants more, up to max.partition.fetch.bytes:
            // small buffers are reused whole and stay in cache between the
            // kernel's copy and the CRC and decode.
            let mut part_left = per_partition;
            let mut chunk = FETCH_CHUNK;
            let mut first_read = true;
            loop {
                if !first_read
                    && (part_left == 0
                        || budget == 0
                        || (held_bytes >= enough && held_records >= wanted))
                {
                    break;
                }
                let allowance = part_left.min(budget);
                let max_bytes = allowance.min(chunk).max(1);
                let read_start = Instant::now();
                st.start.get_or_insert(read_start);
                let spare = self.buffers.spare();
                let fetched = if read_committed {
                    a.log
                        .fetch_committed_into(a.fetch_position, max_bytes, spare)
                } else {
                    a.log.fetch_into(a.fetch_position, max_bytes, spare)
                };
                *read_time.get_or_insert_default() += read_start.elapsed();
                let data = match fetched {
                    Ok(d) => d,
                    // With records held before it, an error waits: they
                    // are returned first, and the read that starts here
                    // once they are taken meets the error again. (So records
                    // buffered before retention or DeleteRecords moved past
                    // them are returned, as Kafka fetches no partition that
                    // holds some.)
                    Err(_) if !a.buffered.is_empty() => {
                        st.error_ahead = true;
                        break;
                    }
                    Err(LogError::OffsetOutOfRange {
                        offset,
                        log_start_offset,
                        log_end_offset,
                        ..
                    }) => {
                        // Retention or DeleteRecords moved past the
                        // position: it meets the log's start, and the reset
                        // names it.
                        match reset_offset(&a.log, reset, read_committed, &**self.weir.clock())? {
                            Some(to) => set_position(a, to),
                            None => {
                                return Err(WeirError::OffsetOutOfRange {
                                    topic: a.tp.topic.clone(),
                                    partition: a.tp.partition,
                                    offset,
                                    log_start_offset,
                                    log_end_offset,
                                });
                            }
                        }
                        break;
                    }
                    // Damage the log found while locating the offset: named
                    // by the offset, so the application can seek past it.
                    Err(e @ LogError::Corrupt { .. }) => {
                        return Err(corrupt(&a.tp, a.fetch_position, e));
                    }
                    Err(e) => return Err(e.into()),
                };
                if data.is_empty() {
                    break;
                }
                self.buffers.read_done();
                let len = data.records.len();
                if fetched_any && len > allowance {
                    // A batch larger than what is left to read: as in
                    // Kafka's fetch, only the first batch of a round (of
                    // its first partition with data) comes back whatever
                    // its size. It is read again by a later round; its
                    // buffer comes back for the next read.
                    self.buffers.lend(&data.records);
                    break;
                }
                first_read = false;
                self.buffers.lend(&data.records);
                fetched_any = true;
                budget = budget.saturating_sub(len);
                part_left = part_left.saturating_sub(len);
                // A batch larger than a chunk: the next read asks for room
                // for two of them.
                if len > chunk {
                    chunk = len.saturating_mul(2);
                }
                let mut aborted = AbortedBatches::for_fetch(
                    read_committed,
                    &a.log,
                    a.fetch_position,
                    data.next_offset,
                );
                // Framing is checked here, then each batch's CRC
                // (`check.crcs`) and records, back to back on bytes still in
                // cache (`Decoded::new`).
                let mut damaged = false;
                for item in data.batches().verify_crc(false) {
                    let batch = match item {
                        Ok(item) => item.batch,
                        // Records held before the damage are returned first:
                        // the read that starts at it reports it, with the
                        // position there.
                        Err(_) if !a.buffered.is_empty() => {
                            st.error_ahead = true;
                            damaged = true;
                            break;
                        }
                        Err(e) => return Err(corrupt(&a.tp, a.fetch_position, e)),
                    };
                    let skip = aborted.as_mut().is_some_and(|x| x.is_aborted(&batch));
                    // Records a poll may return (none of control batches and
                    // aborted ones; none for a hostile negative count).
                    let counted = if skip || batch.is_control() {
                        0
                    } else {
                        usize::try_from(batch.records_count()).unwrap_or(0)
                    };
                    a.buffered_bytes += batch.size();
                    a.buffered_records += counted;
                    held_bytes += batch.size();
                    held_records += counted;
                    a.fetch_position = batch.last_offset() + 1;
                    // Checked and decoded now, while the read's bytes are in
                    // cache: a poll that reads several chunks before it
                    // takes records found them out of cache (measured: a
                    // tenth of the consumer's time at max.poll.records=5000).
                    let position = a.position.unwrap_or(0);
                    let compressed = !matches!(batch.compression(), Ok(Compression::None));
                    let decoded = (!compressed || skip || batch.is_control())
                        .then(|| Decoded::new(&batch, skip, position, check_crcs));
                    a.buffered.push_back(Buffered {
                        batch,
                        aborted: skip,
                        decoded,
                        counted,
                    });
                }
                if damaged || data.next_offset >= data.read_limit {
                    break;
                }
            }
        }
        if let Some(read_time) = read_time {
            self.metrics.fetch_latency(read_time);
        }
        Ok(())
    }

    /// Takes up to `max.poll.records` buffered records, round-robin over
    /// partitions from the one the last poll stopped in, advancing positions.
    /// A damaged batch fails the poll only when nothing was taken before it:
    /// records already taken are returned first, so no record before it is
    /// lost, and a later poll meets the damage again (the next one starts a
    /// partition further, so the other partitions go on) until the
    /// application seeks past it.
    pub(super) fn collect(&mut self) -> Result<ConsumerRecords, WeirError> {
        let mut remaining = self.config.max_poll_records;
        let check_crcs = self.config.check_crcs;

        let mut out = ConsumerRecords::default();
        let n = self.parts.len();
        let mut failed = None;
        let mut stopped_in = None;
        for k in 0..n {
            if remaining == 0 {
                break;
            }
            let i = (self.next_start + k) % n;
            let Some(a) = self.parts.get_mut(i) else {
                continue;
            };
            if a.paused {
                continue;
            }
            let mut part = PartitionRecords {
                tp: a.tp.clone(),
                topic: Arc::clone(&a.topic),
                chunks: Vec::new(),
                count: 0,
            };
            let taken = take_buffered(a, &mut part, &mut remaining, check_crcs);
            if part.count > 0 {
                a.metrics.consumed(part.count, taken.bytes);
                out.partitions.push(part);
            }
            if let Err(e) = taken.result {
                a.damaged = true;
                failed = Some(e);
                break;
            }
            // Stopped inside this partition's buffered records: the next
            // poll starts here.
            if remaining == 0 && !a.buffered.is_empty() {
                stopped_in = Some(i);
            }
        }
        if n > 0 {
            self.next_start = stopped_in.unwrap_or((self.next_start + 1) % n);
        }
        match failed {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }
}

/// How much a poll reads from a partition at a time (more when its batches
/// are larger): a poll that wants more reads the next chunk. A 1 MiB read
/// (`max.partition.fetch.bytes`' default) lands in memory the CPU's cache no
/// longer holds by the time the poll checks and decodes it, and its buffer
/// fits the next read only when that is no larger; chunks of this size made
/// the consumer bench about a fifth faster.
pub(super) const FETCH_CHUNK: usize = 128 * 1024;

/// The most fetch buffers [`FetchBuffers`] waits for.
pub(super) const LENT_MAX: usize = 16;

/// The most bytes of fetch buffers [`FetchBuffers`] waits for (the newest
/// buffer is waited for whatever its size).
pub(super) const LENT_BYTES: usize = 4 * 1024 * 1024;

/// The consumer's fetch buffers, reused once nothing shares them any more:
/// a fetch then copies into memory that is mapped and likely still in cache
/// (a poll's records were read from it moments ago) instead of a fresh
/// buffer, which costs page faults and cache misses on the copy.
#[derive(Debug, Default)]
pub(super) struct FetchBuffers {
    /// The bytes of recent fetches. A buffer comes back when the batches
    /// buffered from it are taken and the records of the polls that returned
    /// them are dropped; one the application keeps (records kept past their
    /// poll) is forgotten once [`LENT_MAX`] newer fetches, or [`LENT_BYTES`]
    /// of them, were made. So a consumer keeps at most that many buffers
    /// it could free, plus its newest fetch and one spare buffer; a buffer
    /// is larger than the bytes fetched into it by 64 KiB or, when reused
    /// for a smaller read, by up to four times those bytes.
    lent: VecDeque<Bytes>,
    /// The bytes in `lent`.
    lent_bytes: usize,
    /// A buffer back from `lent` (or empty), for the next fetch that reads.
    spare: Vec<u8>,
}

impl FetchBuffers {
    /// The buffer for the next fetch: the spare one, else one nothing shares
    /// any more, else an empty one (the fetch allocates).
    pub(super) fn spare(&mut self) -> &mut Vec<u8> {
        if self.spare.capacity() == 0 {
            for _ in 0..self.lent.len() {
                let Some(bytes) = self.lent.pop_front() else {
                    break;
                };
                let len = bytes.len();
                match bytes.try_into_mut() {
                    Ok(mut unique) => {
                        self.lent_bytes -= len;
                        unique.clear();
                        self.spare = Vec::from(unique);
                        break;
                    }
                    Err(shared) => self.lent.push_back(shared),
                }
            }
        }
        &mut self.spare
    }

    /// After a read that returned bytes: a spare buffer it left is one that
    /// did not fit it (too small, or too large to pin for the read), and is
    /// dropped, so that the next read takes a buffer back from `lent`
    /// instead of allocating for ever after.
    pub(super) fn read_done(&mut self) {
        if self.spare.capacity() != 0 {
            self.spare = Vec::new();
        }
    }

    /// Keeps a handle on a fetch's bytes, to take its buffer back later.
    pub(super) fn lend(&mut self, bytes: &Bytes) {
        while !self.lent.is_empty()
            && (self.lent.len() >= LENT_MAX || self.lent_bytes + bytes.len() > LENT_BYTES)
        {
            if let Some(old) = self.lent.pop_front() {
                self.lent_bytes -= old.len();
            }
        }
        self.lent_bytes += bytes.len();
        self.lent.push_back(bytes.clone());
    }
}

pub(super) fn set_position(a: &mut Assigned, offset: i64) {
    a.position = Some(offset);
    a.awaiting_stable = false;
    a.fetch_position = offset;
    a.buffered.clear();
    a.buffered_bytes = 0;
    a.buffered_records = 0;
    a.damaged = false;
}

/// A damaged batch or record of `tp`, named by `offset`.
pub(super) fn corrupt(
    tp: &TopicPartition,
    offset: i64,
    reason: impl std::fmt::Display,
) -> WeirError {
    WeirError::Corrupt {
        topic: tp.topic.clone(),
        partition: tp.partition,
        offset,
        reason: reason.to_string(),
    }
}

/// What [`take_buffered`] took: the bytes of keys and values, and whether it
/// stopped at a damaged batch.
pub(super) struct Taken {
    bytes: usize,
    result: Result<(), WeirError>,
}

/// Moves up to `remaining` records of `a`'s buffered batches into `part`,
/// advancing `a`'s position past each record taken. Every record is decoded
/// (and so checked) once: when its batch was fetched, or (compressed) when
/// it is first taken from; `part` keeps spans to read them in place. At
/// damage it stops with the position at the first record not taken: the
/// sound records before it are taken, and the next poll meets the damage
/// again.
pub(super) fn take_buffered(
    a: &mut Assigned,
    part: &mut PartitionRecords,
    remaining: &mut usize,
    check_crcs: bool,
) -> Taken {
    let mut bytes = 0usize;
    while *remaining > 0 {
        let position = a.position.unwrap_or(0);
        let Some(front) = a.buffered.front_mut() else {
            break;
        };
        let Buffered {
            batch,
            aborted,
            decoded,
            counted,
        } = front;
        let returned = !(*aborted || batch.is_control()) && batch.last_offset() >= position;
        let d = decoded.get_or_insert_with(|| Decoded::new(batch, *aborted, position, check_crcs));
        let (base_offset, last_offset) = (batch.base_offset(), batch.last_offset());
        let records = match &d.records {
            Some(r) if returned => r.clone(),
            _ => {
                // Nothing to return. Damage found before any record (the
                // CRC, also of a skipped batch; the decompression) fails the
                // poll; otherwise the batch is passed over.
                if let Some((offset, reason)) = &d.damage
                    && d.records.is_none()
                {
                    return Taken {
                        bytes,
                        result: Err(corrupt(&a.tp, *offset, reason)),
                    };
                }
                a.position = Some(position.max(last_offset + 1));
                a.pop_front();
                continue;
            }
        };
        let offset_of = |sp: &RecordSpan| base_offset.wrapping_add(i64::from(sp.offset_delta()));
        // Records before the position are passed over (none, but for a
        // batch decoded before its records were sought past).
        let len = d.spans.len();
        let mut first = d.next;
        while d
            .spans
            .get(first)
            .is_some_and(|sp| offset_of(sp) < position)
        {
            first += 1;
        }
        let end = len.min(first.saturating_add(*remaining));
        let taken = end.saturating_sub(first);
        // Whether records are left, and the offset after the last taken.
        let left = end < len;
        let after_taken = d
            .spans
            .get(end.wrapping_sub(1))
            .filter(|_| taken > 0)
            .map(|sp| offset_of(sp) + 1);
        if taken > 0 {
            let from = match first.checked_sub(1).and_then(|i| d.spans.get(i)) {
                Some(before) => before.end(),
                None => d.start,
            };
            let to = d.spans.get(end - 1).map_or(from, RecordSpan::end);
            // The records' encoded sizes, as Kafka's bytes-consumed counts.
            bytes += to.saturating_sub(from);
            let spans = if first == 0 && end == len {
                std::mem::take(&mut d.spans)
            } else {
                d.spans.get(first..end).unwrap_or_default().to_vec()
            };
            part.chunks.push(Chunk {
                records,
                spans,
                timestamp_type: batch.timestamp_type(),
                leader_epoch: batch.partition_leader_epoch(),
            });
            part.count += taken;
            *remaining -= taken;
        }
        match (left, &d.damage) {
            // Records left for the next poll: the position is after the last
            // record taken, as Kafka's `nextFetchOffset` (offsets compacted
            // away before the next record are passed over when it is taken).
            (true, _) => {
                a.position = Some(after_taken.unwrap_or(position).max(position));
                d.next = end;
                *counted = counted.saturating_sub(taken);
                a.buffered_records = a.buffered_records.saturating_sub(taken);
            }
            // Read to its end: past the batch's last offset (records
            // compacted away at its end included).
            (false, None) => {
                a.position = Some(position.max(last_offset + 1));
                a.pop_front();
            }
            // Damage after the records taken: the position stops at it, and
            // it is met again until the application seeks past it.
            (false, Some((offset, reason))) => {
                a.position = Some(position.max(*offset));
                let error = corrupt(&a.tp, *offset, reason);
                d.next = len;
                *counted = counted.saturating_sub(taken);
                a.buffered_records = a.buffered_records.saturating_sub(taken);
                return Taken {
                    bytes,
                    result: Err(error),
                };
            }
        }
    }
    pass_over_markers(a, check_crcs);
    Taken {
        bytes,
        result: Ok(()),
    }
}

/// Once a poll has taken its records, the buffered batches at the front
/// that hold none to return (transaction markers, aborted batches) are
/// passed over, so that the position is past a marker that ends what was
/// read: a consumer that has read everything has no lag (Kafka's consumer
/// shows a lag of one behind a trailing marker until its next fetch).
/// A damaged one stays, for the next poll to report.
fn pass_over_markers(a: &mut Assigned, check_crcs: bool) {
    while let Some(front) = a.buffered.front_mut() {
        if !(front.aborted || front.batch.is_control()) {
            return;
        }
        let position = a.position.unwrap_or(0);
        let d = front
            .decoded
            .get_or_insert_with(|| Decoded::new(&front.batch, front.aborted, position, check_crcs));
        if d.damage.is_some() {
            return;
        }
        a.position = Some(position.max(front.batch.last_offset() + 1));
        a.pop_front();
    }
}

pub(super) fn reset_if_needed(
    a: &mut Assigned,
    reset: OffsetReset,
    read_committed: bool,
    clock: &dyn weir_log::clock::Clock,
) -> Result<(), WeirError> {
    if a.position.is_some() || a.awaiting_stable {
        return Ok(());
    }
    let Some(offset) = reset_offset(&a.log, reset, read_committed, clock)? else {
        return Err(WeirError::NoOffsetForPartition {
            topic: a.tp.topic.clone(),
            partition: a.tp.partition,
        });
    };
    set_position(a, offset);
    Ok(())
}

/// The end of a partition for a reader: its high watermark, or for
/// `read_committed` its last stable offset (as Kafka's `ListOffsets` answers
/// the latest offset per isolation level).
pub(crate) fn end_offset(log: &PartitionLog, read_committed: bool) -> i64 {
    if read_committed {
        log.last_stable_offset()
    } else {
        log.high_watermark()
    }
}

/// Where `auto.offset.reset` puts a partition; `None` for `none`.
pub(super) fn reset_offset(
    log: &PartitionLog,
    reset: OffsetReset,
    read_committed: bool,
    clock: &dyn weir_log::clock::Clock,
) -> Result<Option<i64>, WeirError> {
    Ok(match reset {
        OffsetReset::Earliest => Some(log.log_start_offset()),
        OffsetReset::Latest => Some(end_offset(log, read_committed)),
        OffsetReset::ByDuration(back) => {
            let back = i64::try_from(back.as_millis()).unwrap_or(i64::MAX);
            let since = clock.now_ms().saturating_sub(back);
            Some(log.offset_for_timestamp(since)?.map_or_else(
                || end_offset(log, read_committed),
                |t| t.offset.min(end_offset(log, read_committed)),
            ))
        }
        OffsetReset::None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ProducerRecord;
    use crate::weir::Weir;

    /// A data directory with topic `t` of `partitions`, and a producer to it
    /// that sends at once.
    fn topic_t(partitions: u32) -> (tempfile::TempDir, Weir, crate::Producer) {
        let dir = tempfile::tempdir().unwrap();
        let weir = Weir::open(dir.path()).unwrap();
        weir.admin().create_topic("t", partitions, &[]).unwrap();
        let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
        (dir, weir, producer)
    }

    fn partitions_and_offsets(records: &ConsumerRecords) -> Vec<(i32, i64)> {
        records
            .iter()
            .map(|r| (r.partition(), r.offset()))
            .collect()
    }

    #[test]
    fn a_failed_assign_changes_nothing_and_seek_refuses_negative_offsets() {
        let (_dir, weir, _producer) = topic_t(2);
        let mut c = weir.consumer(&[]).unwrap();
        let t0 = TopicPartition::new("t", 0);
        c.assign(std::slice::from_ref(&t0)).unwrap();
        c.seek(&t0, 42).unwrap();
        let err = c
            .assign(&[t0.clone(), TopicPartition::new("t", 7)])
            .unwrap_err();
        assert!(err.to_string().contains('7'), "{err}");
        assert_eq!(c.assignment(), vec![t0.clone()]);
        assert_eq!(c.parts[0].position, Some(42));

        let err = c.seek(&t0, -5).unwrap_err();
        assert!(matches!(err, WeirError::InvalidArgument(_)), "{err}");
        assert_eq!(c.parts[0].position, Some(42));
    }

    #[test]
    fn fetch_max_bytes_zero_still_returns_the_first_batch() {
        let (_dir, weir, producer) = topic_t(1);
        for i in 0..5 {
            producer
                .send(ProducerRecord::new("t", format!("{i}")))
                .unwrap();
        }
        producer.flush();
        let mut c = weir
            .consumer(&[("auto.offset.reset", "earliest"), ("fetch.max.bytes", "0")])
            .unwrap();
        c.assign_topic("t").unwrap();
        let mut got = 0;
        for _ in 0..10 {
            got += c.poll(Duration::from_millis(100)).unwrap().count();
        }
        assert_eq!(got, 5);
    }

    #[test]
    fn a_poll_fetches_what_it_returns_and_the_next_goes_on_in_line() {
        let (_dir, weir, producer) = topic_t(3);
        for i in 0..300 {
            producer
                .send(ProducerRecord::new("t", format!("{i}")).partition(i % 3))
                .unwrap();
        }
        producer.flush();

        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "10"),
            ])
            .unwrap();
        c.assign_topic("t").unwrap();
        let first = c.poll(Duration::from_secs(5)).unwrap();
        let want: Vec<(i32, i64)> = (0..10).map(|o| (0, o)).collect();
        assert_eq!(partitions_and_offsets(&first), want);
        // Partition 0 alone held enough for the poll: the others were not
        // fetched, and what it holds is counted.
        assert_eq!(c.parts[0].buffered_records, 90);
        assert_eq!(c.parts[1].buffered_bytes + c.parts[2].buffered_bytes, 0);
        drop(first);
        // The next poll goes on in partition 0.
        let second = c.poll(Duration::from_secs(5)).unwrap();
        let want: Vec<(i32, i64)> = (10..20).map(|o| (0, o)).collect();
        assert_eq!(partitions_and_offsets(&second), want);
        assert_eq!(c.parts[0].buffered_records, 80);

        // Polls of 7 read every record once, each partition in order, and
        // every partition's turn comes.
        let mut seen: Vec<Vec<i64>> = vec![(0..20).collect(), Vec::new(), Vec::new()];
        while seen.iter().map(Vec::len).sum::<usize>() < 300 {
            c.config.max_poll_records = 7;
            for (p, o) in partitions_and_offsets(&c.poll(Duration::from_secs(5)).unwrap()) {
                seen[p as usize].push(o);
            }
        }
        for offsets in &seen {
            assert_eq!(*offsets, (0..100).collect::<Vec<i64>>());
        }
        assert!(c.parts.iter().all(|a| a.buffered_records == 0));

        // When the poll may return more than is there, one poll fetches and
        // returns every partition's records.
        let mut all = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "1000"),
            ])
            .unwrap();
        all.assign_topic("t").unwrap();
        assert_eq!(all.poll(Duration::from_secs(5)).unwrap().count(), 300);
    }

    #[test]
    fn a_poll_reads_a_partition_in_chunks_until_it_holds_max_poll_records() {
        let (_dir, weir, producer) = topic_t(1);
        let value = "v".repeat(170);
        for _ in 0..5000 {
            producer
                .send(ProducerRecord::new("t", value.clone()))
                .unwrap();
        }
        producer.flush();
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "3000"),
            ])
            .unwrap();
        c.assign_topic("t").unwrap();
        let polled = c.poll(Duration::from_secs(5)).unwrap();
        assert_eq!(polled.count(), 3000, "one partition fills the poll");
        // Read in chunks (over 3000 records of about 200 bytes), none larger
        // than a chunk, and no further than the poll needed.
        let reads: Vec<usize> = c.buffers.lent.iter().map(Bytes::len).collect();
        assert!(reads.len() >= 4, "{reads:?}");
        assert!(reads.iter().all(|&n| n <= FETCH_CHUNK), "{reads:?}");
        let held = c.parts[0].buffered_records;
        assert!(held > 0 && held < 1000, "{held} records read ahead");
        drop(polled);
        let mut next = 3000;
        while next < 5000 {
            for r in c.poll(Duration::from_secs(5)).unwrap().iter() {
                assert_eq!(r.offset(), next, "every record once, in order");
                next += 1;
            }
        }
    }

    /// Uncompressed batches are checked and decoded as they are fetched;
    /// compressed ones only when a poll takes from them, so a poll holds one
    /// decompressed batch at a time, not every batch of its reads.
    #[test]
    fn only_uncompressed_batches_are_decoded_as_they_are_fetched() {
        for (codec, decoded_at_most) in [("none", usize::MAX), ("lz4", 1)] {
            let dir = tempfile::tempdir().unwrap();
            let weir = Weir::open(dir.path()).unwrap();
            weir.admin().create_topic("t", 1, &[]).unwrap();
            let producer = weir
                .producer(&[
                    ("linger.ms", "60000"),
                    ("batch.size", "1000000"),
                    ("compression.type", codec),
                ])
                .unwrap();
            for batch in 0..6 {
                for i in 0..10 {
                    producer
                        .send(ProducerRecord::new("t", format!("{batch}-{i}")))
                        .unwrap();
                }
                producer.flush();
            }
            let mut c = weir
                .consumer(&[("auto.offset.reset", "earliest"), ("max.poll.records", "1")])
                .unwrap();
            c.assign_topic("t").unwrap();
            assert_eq!(c.poll(Duration::from_secs(5)).unwrap().count(), 1);
            let buffered = &c.parts[0].buffered;
            assert_eq!(buffered.len(), 6, "{codec}: the read held every batch");
            let decoded = buffered.iter().filter(|b| b.decoded.is_some()).count();
            assert_eq!(decoded, decoded_at_most.min(6), "{codec}");
        }
    }

    #[test]
    fn chunked_reads_keep_to_max_partition_fetch_bytes_with_large_batches() {
        // Three batches of one ~200 KB record each: larger than a chunk.
        let (_dir, weir, producer) = topic_t(1);
        for i in 0..3u8 {
            producer
                .send(ProducerRecord::new("t", vec![i; 200_000]))
                .unwrap();
        }
        producer.flush();
        for (limit, first_poll) in [(100_000, 1), (300_000, 1), (450_000, 2), (700_000, 3)] {
            let mut c = weir
                .consumer(&[
                    ("auto.offset.reset", "earliest"),
                    ("max.partition.fetch.bytes", &limit.to_string()),
                ])
                .unwrap();
            c.assign_topic("t").unwrap();
            let polled = c.poll(Duration::from_secs(5)).unwrap();
            let values: Vec<u8> = polled.iter().map(|r| r.value().unwrap()[0]).collect();
            assert_eq!(
                values.len(),
                first_poll,
                "max.partition.fetch.bytes={limit}"
            );
            assert!(c.parts[0].buffered_bytes <= limit.max(200_100));
            drop(polled);
            let mut all = values;
            while all.len() < 3 {
                let polled = c.poll(Duration::from_secs(5)).unwrap();
                assert!(!polled.is_empty());
                all.extend(polled.iter().map(|r| r.value().unwrap()[0]));
            }
            assert_eq!(all, [0, 1, 2], "max.partition.fetch.bytes={limit}");
        }
    }

    /// A topic `t` of `partitions` with a topic limit for 6 MB records, and
    /// a producer that can send them.
    fn topic_for_large(partitions: u32) -> (tempfile::TempDir, Weir, crate::Producer) {
        let dir = tempfile::tempdir().unwrap();
        let weir = Weir::open(dir.path()).unwrap();
        weir.admin()
            .create_topic("t", partitions, &[("max.message.bytes", "6000000")])
            .unwrap();
        let producer = weir
            .producer(&[("linger.ms", "0"), ("max.request.size", "6000000")])
            .unwrap();
        (dir, weir, producer)
    }

    #[test]
    fn a_batch_larger_than_a_chunk_within_the_allowance_comes_back_in_the_same_poll() {
        let (_dir, weir, producer) = topic_t(1);
        for _ in 0..10 {
            producer
                .send(ProducerRecord::new("t", vec![1u8; 1000]))
                .unwrap();
        }
        producer.flush();
        producer
            .send(ProducerRecord::new("t", vec![2u8; 200_000]))
            .unwrap();
        producer.flush();
        let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
        c.assign_topic("t").unwrap();
        // Kafka's fetch of up to max.partition.fetch.bytes (1 MiB) returns
        // all eleven at once.
        assert_eq!(c.poll(Duration::from_secs(5)).unwrap().count(), 11);
    }

    #[test]
    fn a_poll_short_of_fetch_min_bytes_reads_its_partition_again_instead_of_spinning() {
        let (_dir, weir, producer) = topic_t(2);
        producer
            .send(ProducerRecord::new("t", vec![1u8; 100]).partition(0))
            .unwrap();
        producer.flush();
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("fetch.min.bytes", "10000"),
                ("fetch.max.wait.ms", "3000"),
            ])
            .unwrap();
        c.assign_topic("t").unwrap();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            for _ in 0..100 {
                producer
                    .send(ProducerRecord::new("t", vec![2u8; 200]).partition(0))
                    .unwrap();
            }
            producer.flush();
        });
        let started = Instant::now();
        let mut n = c.poll(Duration::from_secs(10)).unwrap().count();
        let took = started.elapsed();
        sender.join().unwrap();
        // The poll read partition 0 again when the records came (it held
        // one record it had read itself, not one an earlier poll left).
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(n > 1, "{n}");
        while n < 101 {
            n += c.poll(Duration::from_secs(5)).unwrap().count();
        }
        assert_eq!(n, 101);
    }

    #[test]
    fn a_partition_holding_only_a_marker_is_read_again_in_the_poll() {
        use weir_record::{BatchBuilder, BatchOptions, EndTransactionMarker};
        let (_dir, weir, producer) = topic_t(2);
        for _ in 0..5 {
            producer
                .send(ProducerRecord::new("t", vec![1u8; 20_000]).partition(0))
                .unwrap();
        }
        producer.flush();
        let marker = BatchBuilder::end_transaction_marker(
            BatchOptions {
                producer_id: 7,
                producer_epoch: 0,
                ..BatchOptions::default()
            },
            EndTransactionMarker::commit(0),
            weir.clock().now_ms(),
        )
        .unwrap();
        weir.partition("t", 0)
            .unwrap()
            .append_as(marker, weir_log::AppendOrigin::Coordinator)
            .unwrap();
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "5"),
                ("fetch.min.bytes", "100000"),
                ("fetch.max.wait.ms", "3000"),
            ])
            .unwrap();
        c.assign_topic("t").unwrap();
        // Five records: the poll stops at them, with the marker behind.
        assert_eq!(c.poll(Duration::from_secs(5)).unwrap().count(), 5);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            for _ in 0..10 {
                producer
                    .send(ProducerRecord::new("t", vec![2u8; 20_000]).partition(0))
                    .unwrap();
            }
            producer.flush();
        });
        let started = Instant::now();
        let polled = c.poll(Duration::from_secs(10)).unwrap();
        let took = started.elapsed();
        sender.join().unwrap();
        // Partition 0 holds no record (only the marker), so the poll reads
        // it again when records come, instead of skipping it until
        // fetch.max.wait.ms.
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(polled.iter().all(|r| r.partition() == 0 && r.offset() > 5));
        assert!(!polled.is_empty());
    }

    #[test]
    fn damage_in_a_later_read_comes_after_the_records_before_it() {
        use std::os::unix::fs::FileExt;
        let (dir, weir, producer) = topic_t(1);
        for _ in 0..3000 {
            producer
                .send(ProducerRecord::new("t", "v".repeat(170)))
                .unwrap();
        }
        producer.flush();
        // Break the magic byte (outside the CRC) of the first batch past the
        // first chunk.
        let path = dir.path().join("t-0").join("00000000000000000000.log");
        let bytes = std::fs::read(&path).unwrap();
        let mut pos = 0usize;
        while pos <= FETCH_CHUNK + 1 {
            let size = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
            pos += 12 + usize::try_from(size).unwrap();
        }
        let damaged_at = i64::from_be_bytes(bytes[pos..pos + 8].try_into().unwrap());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(&[1], (pos + 16) as u64)
            .unwrap();
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "3000"),
            ])
            .unwrap();
        let tp = TopicPartition::new("t", 0);
        c.assign(std::slice::from_ref(&tp)).unwrap();
        let mut next = 0;
        loop {
            match c.poll(Duration::from_secs(5)) {
                Ok(records) => {
                    for r in records.iter() {
                        assert_eq!(r.offset(), next);
                        next += 1;
                    }
                }
                Err(WeirError::Corrupt { offset, .. }) => {
                    // Named only once every record before it was returned,
                    // with the position at it.
                    assert_eq!((offset, next), (damaged_at, damaged_at));
                    assert_eq!(c.position(&tp).unwrap(), damaged_at);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(next <= damaged_at, "read past the damage");
        }
        drop(weir);
    }

    #[test]
    fn only_the_first_partition_of_a_round_returns_a_batch_over_its_limit() {
        let (_dir, weir, producer) = topic_for_large(3);
        for p in 0..3 {
            producer
                .send(ProducerRecord::new("t", vec![p as u8; 2_000_000]).partition(p))
                .unwrap();
        }
        producer.flush();
        let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
        c.assign_topic("t").unwrap();
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let polled = c.poll(Duration::from_secs(5)).unwrap();
            // Each record is larger than max.partition.fetch.bytes (1 MiB):
            // one comes back per poll, as from Kafka's fetch.
            assert_eq!(polled.count(), 1);
            let held: usize = c.parts.iter().map(|a| a.buffered_bytes).sum();
            assert_eq!(held, 0, "nothing more was read ahead");
            seen.extend(polled.iter().map(|r| r.partition()));
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn a_spare_buffer_that_no_longer_fits_is_let_go() {
        let (_dir, weir, producer) = topic_for_large(1);
        producer
            .send(ProducerRecord::new("t", vec![0u8; 700_000]))
            .unwrap();
        for _ in 0..5000 {
            producer
                .send(ProducerRecord::new("t", "v".repeat(170)))
                .unwrap();
        }
        producer.flush();
        let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
        c.assign_topic("t").unwrap();
        let mut n = 0;
        while n < 5001 {
            n += c.poll(Duration::from_secs(5)).unwrap().count();
        }
        // The 700 KB buffer was taken back as a spare once, did not fit a
        // 128 KiB read, and was dropped: the pool holds chunk-sized buffers.
        assert!(
            c.buffers.spare.capacity() <= FETCH_CHUNK,
            "{}",
            c.buffers.spare.capacity()
        );
        assert!(
            c.buffers.lent.iter().all(|b| b.len() <= FETCH_CHUNK),
            "{:?}",
            c.buffers.lent.iter().map(Bytes::len).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_partition_topped_up_for_fetch_min_bytes_does_not_starve_the_others() {
        let (_dir, weir, producer) = topic_t(2);
        // A record per batch, so that fetches end where their bytes do.
        for i in 0..2000 {
            producer
                .send(ProducerRecord::new("t", format!("{i:06}")).partition(0))
                .unwrap();
            producer.flush();
        }
        for i in 0..50 {
            producer
                .send(ProducerRecord::new("t", format!("{i:06}")).partition(1))
                .unwrap();
        }
        producer.flush();
        // Small fetches, and polls that take less than a fetch: partition 0
        // is left holding less than fetch.min.bytes after many polls, and
        // topping it up then made every poll take from it alone.
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("fetch.min.bytes", "4096"),
                ("max.partition.fetch.bytes", "8192"),
                ("fetch.max.wait.ms", "10"),
                ("max.poll.records", "20"),
            ])
            .unwrap();
        c.assign_topic("t").unwrap();
        let mut read_of_0 = 0;
        loop {
            let polled = c.poll(Duration::from_secs(5)).unwrap();
            if polled.iter().any(|r| r.partition() == 1) {
                break;
            }
            read_of_0 += polled.count();
            assert!(
                read_of_0 < 1000,
                "partition 1 waited while {read_of_0} records of partition 0 were read"
            );
        }
    }

    #[test]
    fn fetch_buffers_come_back_once_nothing_shares_them() {
        let mut buffers = FetchBuffers::default();
        assert_eq!(buffers.spare().capacity(), 0, "nothing lent yet");

        let fetched = Bytes::from(vec![7u8; 4096]).slice(..1000);
        let at = fetched.as_ptr();
        buffers.lend(&fetched);
        let record = fetched.slice(10..20);
        drop(fetched);
        assert_eq!(
            buffers.spare().capacity(),
            0,
            "a record still shares the buffer"
        );
        drop(record);
        let spare = buffers.spare();
        assert_eq!(spare.as_ptr(), at, "the same allocation back");
        assert!(spare.capacity() >= 4096 && spare.is_empty());

        // Taken by a fetch, the next spare comes from the next free buffer.
        let taken = std::mem::take(buffers.spare());
        assert_eq!(taken.as_ptr(), at);
        assert_eq!(buffers.spare().capacity(), 0);

        // Only the most recent fetches are waited for.
        let kept: Vec<Bytes> = (0..LENT_MAX + 3)
            .map(|_| Bytes::from(vec![0u8; 64]))
            .collect();
        for b in &kept {
            buffers.lend(b);
        }
        assert_eq!(buffers.lent.len(), LENT_MAX);
        assert_eq!(buffers.lent_bytes, LENT_MAX * 64);

        // And only so many bytes of them: a large fetch pushes the oldest out.
        let large = Bytes::from(vec![0u8; LENT_BYTES - 64 * 3]);
        buffers.lend(&large);
        assert_eq!(
            buffers.lent.len(),
            4,
            "three small buffers and the large one"
        );
        assert_eq!(buffers.lent_bytes, LENT_BYTES);
        let huge = Bytes::from(vec![0u8; LENT_BYTES + 1]);
        buffers.lend(&huge);
        assert_eq!(buffers.lent.len(), 1, "the newest fetch whatever its size");
        assert_eq!(buffers.lent_bytes, LENT_BYTES + 1);
    }
}

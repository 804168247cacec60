//! [`PartitionLog`]: one partition's log: open (with recovery), append, roll,
//! and the offsets readers see. Fetching lives in `fetch.rs`, durability in
//! `flush.rs`, segment deletion in `retention.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::{Bytes, BytesMut};
use event_listener::Event;
use weir_record::{BatchBuilder, BatchOptions, RecordBatch, RecordBatchMut, TimestampType};

use crate::batch_header::{self, BatchHeader};
use crate::checkpoint::{
    EpochEntry, format_leader_epoch_checkpoint, parse_leader_epoch_checkpoint, write_atomically,
};
use crate::clock::{Clock, system_clock};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::flush::FlushState;
use crate::paths::{list_segments, sync_dir};
use crate::producer_state::{ProducerStates, SequenceCheck};
use crate::recovery::{
    ContentProblem, RecoveryContext, check_record_offset, recover_segment, validate_records,
};
use crate::segment::{DELETED_SUFFIX, LogSegment, SegmentSizing, lock, read_lock, write_lock};
use crate::segment_file::LEADER_EPOCH_CHECKPOINT;

/// Suffix of segment files the cleaner was still writing.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of finished replacement segments (the cleaner's commit point).
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// Who is appending: clients may not write control batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendOrigin {
    /// A producer: data batches only, with consistent offsets and counts.
    Client,
    /// A coordinator writing transaction markers or group records.
    Coordinator,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// The time stamped on the batch when the topic uses LogAppendTime.
    pub log_append_time: Option<i64>,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Bytes written (0 for a duplicate).
    pub size: usize,
    /// The batch was a retry of one already written (same producer id, epoch
    /// and sequences): nothing was appended and the offsets are the original
    /// ones, as Kafka acknowledges a duplicate.
    pub duplicate: bool,
}

/// How to open a partition: what the data directory knows about its last
/// shutdown.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The last shutdown was clean: the files are trusted as they are.
    pub clean_shutdown: bool,
    /// Offsets below this were fsynced (from `recovery-point-offset-checkpoint`);
    /// recovery starts at the segment holding it.
    ///
    /// A positive recovery point also says Weir wrote the log, so that past it
    /// offsets follow each other without gaps and recovery treats a gap as
    /// damage. 0 says nothing about who wrote the log (a directory with no
    /// checkpoint entry, say one copied from Kafka, whose compacted segments
    /// have gaps): it is recovered as Kafka recovers, by framing and CRC.
    pub recovery_point: i64,
    /// The log start offset (from `log-start-offset-checkpoint`).
    pub log_start_offset: i64,
    /// The clock for LogAppendTime, `segment.ms` and `flush.ms`.
    pub clock: Arc<dyn Clock>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clean_shutdown: false,
            recovery_point: 0,
            log_start_offset: 0,
            clock: system_clock(),
        }
    }
}

/// What opening a partition found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments scanned and re-indexed.
    pub segments_recovered: usize,
    /// Bytes cut from the end of the log (a torn or corrupt unacknowledged tail).
    pub truncated_bytes: u64,
    /// Whole segments deleted because they followed the truncation point.
    pub segments_deleted: usize,
    /// Where and why the first dropped batch was dropped.
    pub reason: Option<(PathBuf, u64, String)>,
    /// The log end offset after recovery.
    pub log_end_offset: i64,
}

/// The writer's state, behind the append lock.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) active: Arc<LogSegment>,
    pub(crate) next_offset: i64,
    pub(crate) messages_since_flush: i64,
    pub(crate) closed: bool,
    pub(crate) producers: ProducerStates,
}

/// One partition's log (see the crate docs).
///
/// Appends are serialized by a short lock; fetches never take it. Offsets are
/// published through atomics, and waiting readers are woken by notification.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) config: RwLock<Arc<LogConfig>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) segments: RwLock<Arc<Vec<Arc<LogSegment>>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) log_start_offset: AtomicI64,
    pub(crate) log_end_offset: AtomicI64,
    pub(crate) high_watermark: AtomicI64,
    pub(crate) leader_epoch: i32,
    /// Notified when the high watermark moves or the log closes.
    pub(crate) data_event: Event,
    pub(crate) flush: FlushState,
    /// The first write or fsync failure: the partition is read-only from then on.
    pub(crate) failed: OnceLock<Arc<io::Error>>,
    pub(crate) closed: AtomicBool,
    pub(crate) appended_batches: AtomicU64,
    /// Test seam: the next fsync fails as a disk would.
    pub(crate) fail_next_fsync: AtomicBool,
}

fn sizing(config: &LogConfig) -> SegmentSizing {
    SegmentSizing {
        index_interval_bytes: config.index_interval_bytes,
        segment_index_bytes: config.segment_index_bytes,
    }
}

impl PartitionLog {
    /// Opens (or creates) the partition directory `dir` for `topic`-`partition`,
    /// recovering it when the last shutdown was not clean.
    ///
    /// Leftovers of interrupted work are settled first: `.cleaned` files are
    /// deleted, `.swap` segments replace the segments they cover, `.deleted`
    /// files are removed.
    ///
    /// # Errors
    /// [`LogError::Io`] on file errors; [`LogError::Corrupt`] when data below
    /// the recovery point is damaged (nothing is truncated then).
    pub fn open(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        options: OpenOptions,
    ) -> Result<(Self, RecoveryReport), LogError> {
        let contiguous = options.recovery_point > 0;
        Self::open_inner(dir, topic, partition, config, options, contiguous)
    }

    /// [`open`](Self::open), saying whether Weir wrote the log contiguously
    /// past the recovery point (the data directory had a checkpoint entry for
    /// it), which recovery then checks.
    pub(crate) fn open_inner(
        dir: &Path,
        topic: &str,
        partition: i32,
        config: LogConfig,
        options: OpenOptions,
        contiguous: bool,
    ) -> Result<(Self, RecoveryReport), LogError> {
        fs::create_dir_all(dir).map_err(LogError::io(dir, "create directory"))?;
        settle_leftovers(dir)?;
        let now = options.clock.now_ms();
        let sz = sizing(&config);
        let epochs = read_epochs(dir)?;
        let bases: Vec<i64> = list_segments(dir)
            .map_err(LogError::io(dir, "list"))?
            .into_iter()
            .map(|(base, _)| base)
            .collect();
        // After an unclean shutdown, the segments recovery scans rebuild their
        // indexes there (Kafka's `recoverSegment`, which truncates a torn
        // tail). The trusted ones (below the recovery point, or all after a
        // clean shutdown) are rebuilt as they are when an index is missing or
        // stale.
        let first_recovered = if options.clean_shutdown {
            bases.len()
        } else {
            bases
                .partition_point(|&b| b <= options.recovery_point)
                .saturating_sub(1)
        };
        let mut segments: Vec<Arc<LogSegment>> = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let trusted = i < first_recovered;
            segments.push(Arc::new(LogSegment::open(dir, base, sz, now, trusted)?));
        }
        let mut report = RecoveryReport::default();
        // A clean shutdown is trusted, except for a last segment whose batches
        // do not reach the end of its file.
        let recover_from = if options.clean_shutdown {
            match segments.last() {
                Some(last) if !ends_cleanly(last)? => Some(segments.len() - 1),
                _ => None,
            }
        } else {
            Some(first_recovered)
        };
        if let Some(from) = recover_from {
            recover(
                &mut segments,
                from,
                RecoveryContext {
                    previous_next_offset: None,
                    recovery_point: options.recovery_point,
                    contiguous,
                    epochs: &epochs,
                },
                &mut report,
            )?;
        }
        if segments.is_empty() {
            let base = options.log_start_offset.max(0);
            segments.push(Arc::new(LogSegment::create(dir, base, sz, now)?));
        }
        let active = Arc::clone(segments.last().ok_or_else(|| LogError::Corrupt {
            path: dir.to_path_buf(),
            position: 0,
            reason: "no segment after opening".into(),
        })?);
        let next_offset = (active.last_offset() + 1).max(active.base_offset());
        let first_base = segments.first().map_or(0, |s| s.base_offset());
        let log_start = options.log_start_offset.max(first_base).min(next_offset);
        let leader_epoch = epochs.last().map_or(0, |e| e.epoch);
        if epochs.is_empty() {
            let path = dir.join(LEADER_EPOCH_CHECKPOINT);
            let entries = [EpochEntry {
                epoch: 0,
                start_offset: log_start,
            }];
            write_atomically(&path, format_leader_epoch_checkpoint(&entries).as_bytes())
                .map_err(LogError::io(&path, "write"))?;
        }
        report.log_end_offset = next_offset;
        let name = format!("{topic}-{partition}");
        let recovered = report.segments_recovered > 0;
        let log = PartitionLog {
            topic: topic.to_string(),
            partition,
            name,
            dir: dir.to_path_buf(),
            config: RwLock::new(Arc::new(config)),
            clock: options.clock,
            segments: RwLock::new(Arc::new(segments)),
            writer: Mutex::new(Writer {
                active,
                next_offset,
                messages_since_flush: 0,
                closed: false,
                producers: ProducerStates::default(),
            }),
            log_start_offset: AtomicI64::new(log_start),
            log_end_offset: AtomicI64::new(next_offset),
            high_watermark: AtomicI64::new(next_offset),
            leader_epoch,
            data_event: Event::new(),
            flush: FlushState::new(if recovered || options.clean_shutdown {
                next_offset
            } else {
                options.recovery_point.min(next_offset)
            }),
            failed: OnceLock::new(),
            closed: AtomicBool::new(false),
            appended_batches: AtomicU64::new(0),
            fail_next_fsync: AtomicBool::new(false),
        };
        if recovered {
            // What recovery kept is only in the page cache after a process crash.
            log.sync_all_segments()?;
        }
        Ok((log, report))
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first offset held. Lock-free.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get. Lock-free.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// The offset up to which readers may read (exclusive). On one node it
    /// equals the log end offset once a batch is written to the OS; it does not
    /// wait for fsync (see `flush_until` for durability). Lock-free.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The clock the log stamps and rolls by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The leader epoch stamped on appended batches.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The current configuration.
    pub fn config(&self) -> Arc<LogConfig> {
        Arc::clone(&read_lock(&self.config))
    }

    /// Replaces the configuration (takes effect for the next append, roll and
    /// flush).
    pub fn set_config(&self, config: LogConfig) {
        *write_lock(&self.config) = Arc::new(config);
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segment_list().iter().map(|s| s.size()).sum()
    }

    /// Batches appended since the log was opened.
    pub fn appended_batches(&self) -> u64 {
        self.appended_batches.load(Ordering::Relaxed)
    }

    pub(crate) fn segment_list(&self) -> Arc<Vec<Arc<LogSegment>>> {
        Arc::clone(&read_lock(&self.segments))
    }

    pub(crate) fn check_writable(&self) -> Result<(), LogError> {
        if let Some(e) = self.failed.get() {
            return Err(LogError::ReadOnly {
                partition: self.name.clone(),
                source: Arc::clone(e),
            });
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Latches the first I/O failure and turns it into the error callers see.
    pub(crate) fn fail(&self, error: io::Error) -> LogError {
        let _ = self.failed.set(Arc::new(error));
        self.data_event.notify(usize::MAX);
        self.flush.event.notify(usize::MAX);
        LogError::ReadOnly {
            partition: self.name.clone(),
            source: self
                .failed
                .get()
                .map(Arc::clone)
                .unwrap_or_else(|| Arc::new(io::Error::other("write failed"))),
        }
    }

    /// Appends one producer batch. See [`append_as`](Self::append_as).
    ///
    /// # Errors
    /// As [`append_as`](Self::append_as).
    pub fn append(&self, batch: Bytes) -> Result<AppendInfo, LogError> {
        self.append_as(batch, AppendOrigin::Client)
    }

    /// Validates one encoded batch, assigns its offsets (stamping the base
    /// offset and leader epoch outside the CRC), writes it to the OS, indexes
    /// it, advances the log end offset and high watermark and wakes waiting
    /// readers. With `message.timestamp.type=LogAppendTime` the append time is
    /// stamped (recomputing the CRC, as Kafka does); when the topic's
    /// `compression.type` names a codec other than the batch's, the batch is
    /// re-compressed. Blocks only for the write (and an fsync when
    /// `flush.messages` is reached); for durability see
    /// [`flush_until`](Self::flush_until).
    ///
    /// Checked, as Kafka's broker checks them: magic 2, size against
    /// `max.message.bytes` and `segment.bytes`, CRC-32C, a record count that
    /// matches `lastOffsetDelta`, no control batches from clients, CreateTime
    /// within `message.timestamp.{before,after}.max.ms`, and every record
    /// decodes (decompressed within the bound recovery uses) with an offset in
    /// the batch's range, so that recovery keeps whatever is acknowledged.
    ///
    /// # Errors
    /// [`LogError::InvalidBatch`], [`LogError::BatchTooLarge`],
    /// [`LogError::InvalidTimestamp`] for a batch that is not accepted (nothing
    /// is written); [`LogError::ReadOnly`] once a write or fsync has failed;
    /// [`LogError::Closed`].
    pub fn append_as(&self, batch: Bytes, origin: AppendOrigin) -> Result<AppendInfo, LogError> {
        self.append_checked(batch, origin, None)
    }

    /// As [`append`](Self::append), for a batch encoded in this process by
    /// `weir_record::BatchBuilder` (a producer's): its records decode by
    /// construction, so they are not walked again (Kafka's broker must walk
    /// every record it receives; an in-process log can take the builder's
    /// word). Every other check runs, the CRC too; a compacted topic still
    /// checks each record for a key, and a control batch is still read.
    ///
    /// # Errors
    /// As [`append`](Self::append).
    pub fn append_built(&self, batch: weir_record::BuiltBatch) -> Result<AppendInfo, LogError> {
        // Recovery decompresses within this bound: a batch past it is walked
        // here too, so that recovery keeps whatever an append accepted.
        let trusted = (batch.uncompressed_records_size()
            <= weir_record::DEFAULT_MAX_UNCOMPRESSED_BYTES)
            .then(|| batch.min_timestamp().unwrap_or(i64::MAX));
        self.append_checked(batch.into_bytes(), AppendOrigin::Client, trusted)
    }

    /// `trusted`: the records were encoded by this process's `BatchBuilder`
    /// (they need no walk), with this smallest record timestamp (`i64::MAX`
    /// when no record has one).
    fn append_checked(
        &self,
        batch: Bytes,
        origin: AppendOrigin,
        trusted: Option<i64>,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        let config = self.config();
        let now = self.clock.now_ms();
        let mut buf = self.validate(batch, &config, origin, now, trusted)?;
        let log_append_time = if config.message_timestamp_type == TimestampType::LogAppendTime {
            RecordBatchMut::new(&mut buf)
                .map_err(|e| self.invalid(e))?
                .set_log_append_time(now);
            Some(now)
        } else {
            None
        };
        let header = batch_header::parse(&buf, 0)
            .ok_or_else(|| LogError::invalid_batch(&self.name, "header unreadable"))?;
        let idempotent = sequence_of(&buf);
        // The header's lastOffsetDelta (last_offset is base + delta, wrapping).
        let last_delta = header.last_offset.wrapping_sub(header.base_offset);
        let count = last_delta + 1;
        let size = buf.len();

        let mut w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        self.check_writable()?;
        if let Some(seq) = idempotent {
            match w
                .producers
                .check(seq.producer_id, seq.epoch, seq.first, seq.last)
            {
                SequenceCheck::Append => {}
                SequenceCheck::Duplicate {
                    first_offset,
                    last_offset,
                    timestamp,
                } => {
                    // The time the batch was first appended, as Kafka
                    // answers a retry.
                    return Ok(AppendInfo {
                        base_offset: first_offset,
                        last_offset,
                        log_append_time: log_append_time.map(|_| timestamp),
                        log_start_offset: self.log_start_offset(),
                        size: 0,
                        duplicate: true,
                    });
                }
                SequenceCheck::Fenced { current_epoch } => {
                    return Err(LogError::ProducerFenced {
                        partition: self.name.clone(),
                        producer_id: seq.producer_id,
                        producer_epoch: seq.epoch,
                        current_epoch,
                    });
                }
                SequenceCheck::OutOfOrder { expected } => {
                    return Err(LogError::OutOfOrderSequence {
                        partition: self.name.clone(),
                        producer_id: seq.producer_id,
                        producer_epoch: seq.epoch,
                        sequence: seq.first,
                        expected,
                    });
                }
            }
        }
        // The batch's offsets, and the next offset after them, must exist.
        if w.next_offset
            .checked_add(last_delta)
            .and_then(|last| last.checked_add(1))
            .is_none()
        {
            return Err(LogError::OffsetsExhausted {
                partition: self.name.clone(),
                next_offset: w.next_offset,
                records: count,
            });
        }
        self.maybe_roll(
            &mut w,
            &config,
            size as u64,
            header.max_timestamp,
            last_delta,
            now,
        )?;
        let base_offset = w.next_offset;
        {
            let mut m = RecordBatchMut::new(&mut buf).map_err(|e| self.invalid(e))?;
            m.set_base_offset(base_offset);
            m.set_partition_leader_epoch(self.leader_epoch);
        }
        let position = w.active.size();
        let stamped = BatchHeader {
            position,
            base_offset,
            last_offset: base_offset + last_delta,
            size: size as u64,
            ..header
        };
        if let Err(e) = w.active.append(&stamped, &buf) {
            return Err(self.fail(e));
        }
        w.next_offset = stamped.last_offset + 1;
        if let Some(seq) = idempotent {
            w.producers.update(
                seq.producer_id,
                seq.epoch,
                seq.first,
                seq.last,
                base_offset,
                stamped.last_offset,
                stamped.max_timestamp,
            );
        }
        w.active.publish(position + size as u64);
        self.log_end_offset.store(w.next_offset, Ordering::Release);
        self.high_watermark.store(w.next_offset, Ordering::Release);
        w.messages_since_flush += count;
        let flush_due = w.messages_since_flush >= config.flush_messages;
        if flush_due {
            w.messages_since_flush = 0;
        }
        let end = w.next_offset;
        drop(w);
        self.appended_batches.fetch_add(1, Ordering::Relaxed);
        self.flush.note_unflushed(now);
        self.data_event.notify(usize::MAX);
        if flush_due {
            self.flush_until(end)?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: stamped.last_offset,
            log_append_time,
            log_start_offset: self.log_start_offset(),
            size,
            duplicate: false,
        })
    }

    fn invalid(&self, e: weir_record::RecordError) -> LogError {
        LogError::InvalidBatch {
            partition: self.name.clone(),
            reason: e.to_string(),
            source: Some(e),
        }
    }

    fn invalid_contents(&self, problem: ContentProblem) -> LogError {
        LogError::InvalidBatch {
            partition: self.name.clone(),
            reason: format!("a record does not decode: {}", problem.reason),
            source: problem.source,
        }
    }

    /// The broker-side checks of `append_as`, and re-compression; returns the
    /// batch in a buffer the log may stamp.
    fn validate(
        &self,
        batch: Bytes,
        config: &LogConfig,
        origin: AppendOrigin,
        now: i64,
        trusted: Option<i64>,
    ) -> Result<BytesMut, LogError> {
        self.check_size(config, batch.len())?;
        let view = RecordBatch::new(batch).map_err(|e| self.invalid(e))?;
        view.validate_crc().map_err(|e| self.invalid(e))?;
        let compression = view.compression().map_err(|e| self.invalid(e))?;
        let count = view.records_count();
        if origin == AppendOrigin::Client {
            if view.is_control() {
                return Err(LogError::invalid_batch(
                    &self.name,
                    "clients may not write control batches",
                ));
            }
            if count <= 0 || i64::from(view.last_offset_delta()) != i64::from(count) - 1 {
                return Err(LogError::invalid_batch(
                    &self.name,
                    format!(
                        "inconsistent batch: {count} records but last offset delta {}",
                        view.last_offset_delta()
                    ),
                ));
            }
        } else if count < 0 || view.last_offset_delta() < 0 {
            return Err(LogError::invalid_batch(
                &self.name,
                "negative count or offset delta",
            ));
        }
        // A compacted topic refuses records without a key, as Kafka's
        // `LogValidator` does (the cleaner could only drop them).
        let require_keys = config.cleanup_policy.compact && origin == AppendOrigin::Client;
        // As Kafka's `LogValidator`: on a CreateTime topic every record's
        // timestamp is held against message.timestamp.{before,after}.max.ms
        // (a LogAppendTime topic stamps its own time instead).
        let check_times = config.message_timestamp_type == TimestampType::CreateTime
            && !view.is_control()
            && count > 0;
        let recompress = config
            .recompression()
            .filter(|t| t.compression() != compression && !view.is_control());
        // Recovery decodes every record and drops a batch that does not decode
        // as a torn tail, with everything after it; so a batch is accepted only
        // if recovery would keep it (Kafka's `LogValidator` walks every record
        // and refuses a bad one with CorruptRecordException). Re-compression
        // decodes every record too, checking them on the way.
        let walk = require_keys
            || view.is_control()
            || (trusted.is_none() && recompress.is_none())
            || (check_times && trusted.is_none());
        let walked = if walk {
            validate_records(&view, require_keys).map_err(|p| self.invalid_contents(p))?
        } else {
            None
        };
        if check_times {
            // A LogAppendTime batch's records all carry its max timestamp.
            let (earliest, latest) = if view.timestamp_type() == TimestampType::LogAppendTime {
                (view.max_timestamp(), view.max_timestamp())
            } else if walk {
                // No record has a timestamp: nothing to hold against the bounds.
                walked.unwrap_or((i64::MAX, weir_record::layout::NO_TIMESTAMP))
            } else {
                (trusted.unwrap_or(i64::MAX), view.max_timestamp())
            };
            self.check_timestamps(config, now, earliest, latest)?;
        }
        if let Some(target) = recompress {
            // Re-compression may grow the batch (zstd to none, say): it is
            // held to the limits again, as Kafka's `UnifiedLog.append` does.
            let rebuilt = self.recompress(&view, target)?;
            self.check_size(config, rebuilt.len())?;
            return Ok(rebuilt);
        }
        let bytes = view.into_bytes();
        Ok(bytes
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..])))
    }

    /// A batch of `size` bytes within `max.message.bytes` and `segment.bytes`.
    fn check_size(&self, config: &LogConfig, size: usize) -> Result<(), LogError> {
        if size > config.max_message_bytes as usize {
            return Err(LogError::BatchTooLarge {
                partition: self.name.clone(),
                size,
                max: u64::from(config.max_message_bytes),
                config: "max.message.bytes",
            });
        }
        if size > config.segment_bytes as usize {
            return Err(LogError::BatchTooLarge {
                partition: self.name.clone(),
                size,
                max: u64::from(config.segment_bytes),
                config: "segment.bytes",
            });
        }
        Ok(())
    }

    /// Holds the batch's earliest and latest record timestamps against
    /// `message.timestamp.before.max.ms` and `message.timestamp.after.max.ms`.
    fn check_timestamps(
        &self,
        config: &LogConfig,
        now: i64,
        earliest: i64,
        latest: i64,
    ) -> Result<(), LogError> {
        if now.saturating_sub(earliest) > config.message_timestamp_before_max_ms {
            return Err(LogError::InvalidTimestamp {
                partition: self.name.clone(),
                timestamp: earliest,
                now,
                config: "message.timestamp.before.max.ms",
                max_ms: config.message_timestamp_before_max_ms,
            });
        }
        if latest.saturating_sub(now) > config.message_timestamp_after_max_ms {
            return Err(LogError::InvalidTimestamp {
                partition: self.name.clone(),
                timestamp: latest,
                now,
                config: "message.timestamp.after.max.ms",
                max_ms: config.message_timestamp_after_max_ms,
            });
        }
        Ok(())
    }

    /// Rebuilds a batch in the topic's codec, keeping every header field and
    /// record (Kafka's broker-side re-compression).
    fn recompress(
        &self,
        view: &RecordBatch,
        target: weir_record::CompressionConfig,
    ) -> Result<BytesMut, LogError> {
        let mut builder = BatchBuilder::new(BatchOptions {
            compression: target,
            timestamp_type: view.timestamp_type(),
            transactional: view.is_transactional(),
            control: view.is_control(),
            producer_id: view.producer_id(),
            producer_epoch: view.producer_epoch(),
            base_sequence: view.base_sequence(),
            base_offset: view.base_offset(),
            partition_leader_epoch: view.partition_leader_epoch(),
            delete_horizon_ms: view.delete_horizon_ms(),
        });
        if view.last_offset_delta() < 0 {
            return Err(LogError::invalid_batch(
                &self.name,
                format!("negative last offset delta {}", view.last_offset_delta()),
            ));
        }
        let records = view.records().map_err(|e| self.invalid(e))?;
        for record in &records {
            let record = record.map_err(|e| self.invalid(e))?;
            check_record_offset(view, record.offset()).map_err(|p| self.invalid_contents(p))?;
            builder.append_view(&record).map_err(|e| self.invalid(e))?;
        }
        builder
            .set_last_offset_delta(view.last_offset_delta())
            .map_err(|e| self.invalid(e))?;
        builder.set_max_timestamp(view.max_timestamp());
        let built = builder.build().map_err(|e| self.invalid(e))?;
        Ok(built
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..])))
    }

    /// Kafka's `shouldRoll`: the batch would overflow `segment.bytes`, the
    /// segment is older than `segment.ms` (less jitter), an index is full, or
    /// the batch's offsets would not fit 32 bits relative to the base.
    fn maybe_roll(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        batch_size: u64,
        batch_max_timestamp: i64,
        last_delta: i64,
        now: i64,
    ) -> Result<(), LogError> {
        let seg = &w.active;
        let size = seg.size();
        if size == 0 {
            return Ok(());
        }
        let full = size + batch_size > u64::from(config.segment_bytes);
        // A compacted topic's active segment is never cleaned: it rolls by
        // max.compaction.lag.ms too, so that records get cleaned in time
        // (Kafka's `maxSegmentMs`).
        let max_segment_ms = if config.cleanup_policy.compact && config.max_compaction_lag_ms > 0 {
            config.segment_ms.min(config.max_compaction_lag_ms)
        } else {
            config.segment_ms
        };
        // Kafka draws the jitter below min(segment.jitter.ms, segment.ms);
        // applied as given here, it is held below segment.ms too, so the
        // threshold stays positive.
        let jitter = config
            .segment_jitter_ms
            .min(max_segment_ms.saturating_sub(1))
            .max(0);
        let old = seg.time_waited_for_roll(now, batch_max_timestamp)
            > max_segment_ms.saturating_sub(jitter);
        let overflow = w.next_offset + last_delta - seg.base_offset() > i64::from(i32::MAX);
        if full || old || overflow || seg.indexes_full() {
            self.roll_locked(w, config, now)?;
        }
        Ok(())
    }

    pub(crate) fn roll_locked(
        &self,
        w: &mut Writer,
        config: &LogConfig,
        now: i64,
    ) -> Result<(), LogError> {
        if w.active.size() == 0 {
            return Ok(());
        }
        w.active.seal()?;
        let new = match LogSegment::create(&self.dir, w.next_offset, sizing(config), now) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                // A `.log` left at the new base (its removal failed too)
                // would be read as a segment at the next open, cutting off
                // what is appended meanwhile: no more appends, as Kafka takes
                // the directory offline.
                let stray = self.dir.join(crate::segment_file::segment_file_name(
                    w.next_offset,
                    crate::segment_file::LOG_SUFFIX,
                ));
                if stray.exists() {
                    return Err(self.fail(io::Error::other(format!(
                        "rolling to a new segment failed and left {}: {e}",
                        stray.display()
                    ))));
                }
                return Err(e);
            }
        };
        {
            let mut segs = write_lock(&self.segments);
            let mut list: Vec<Arc<LogSegment>> = segs.iter().cloned().collect();
            list.push(Arc::clone(&new));
            *segs = Arc::new(list);
        }
        self.flush.mark_dir_dirty();
        self.flush.add_pending(Arc::clone(&w.active));
        w.active = new;
        Ok(())
    }

    /// Rolls a new active segment now (if the current one holds any batch).
    ///
    /// # Errors
    /// [`LogError::Io`] if the new segment cannot be created;
    /// [`LogError::Closed`].
    pub fn roll(&self) -> Result<(), LogError> {
        let config = self.config();
        let mut w = lock(&self.writer);
        if w.closed {
            return Err(LogError::Closed {
                what: self.name.clone(),
            });
        }
        self.roll_locked(&mut w, &config, self.clock.now_ms())
    }

    /// Closes the log cleanly: the final time index entry is added, indexes are
    /// trimmed and everything is fsynced. Later appends fail with
    /// [`LogError::Closed`]; reads keep working. Returns the recovery point
    /// (the log end offset).
    ///
    /// # Errors
    /// The first I/O error; the partition is then read-only.
    pub fn close(&self) -> Result<i64, LogError> {
        let end = {
            let mut w = lock(&self.writer);
            if w.closed {
                return Ok(self.flush.flushed());
            }
            w.closed = true;
            self.closed.store(true, Ordering::Release);
            w.active.seal()?;
            w.next_offset
        };
        self.data_event.notify(usize::MAX);
        self.flush_until_inner(end, true)?;
        Ok(self.flush.flushed())
    }

    /// Makes the next fsync of this partition fail with an I/O error, as a
    /// failing disk would. For tests of the read-only latch.
    #[doc(hidden)]
    pub fn inject_fsync_failure(&self) {
        self.fail_next_fsync.store(true, Ordering::Release);
    }

    /// The offset of each idempotent producer's last batch appended since the
    /// log was opened (the producers Kafka's cleaner treats as active: it
    /// keeps the header of such a batch even when compaction empties it, so
    /// the producer's last sequence stays in the log).
    pub fn producer_last_offsets(&self) -> std::collections::HashMap<i64, i64> {
        lock(&self.writer).producers.last_offsets()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether a write failure latched the partition read-only: reads go on,
    /// appends fail, and no new data comes until the data directory is
    /// opened again.
    pub fn is_read_only(&self) -> bool {
        self.failed.get().is_some()
    }

    /// Segment facts, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let list = self.segment_list();
        let n = list.len();
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                let (index_entries, time_index_entries) = s.index_entries();
                SegmentInfo {
                    base_offset: s.base_offset(),
                    last_offset: (s.last_offset() >= s.base_offset()).then(|| s.last_offset()),
                    next_segment_base_offset: list.get(i + 1).map(|n| n.base_offset()),
                    size_bytes: s.size(),
                    max_timestamp: (s.max_timestamp() >= 0).then(|| s.max_timestamp()),
                    created_ms: s.created_ms(),
                    is_active: i + 1 == n,
                    log_path: s.log_path(),
                    index_entries,
                    time_index_entries,
                }
            })
            .collect()
    }
}

/// One segment as [`PartitionLog::segments`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The base offset (the file name).
    pub base_offset: i64,
    /// Last offset of its last batch; `None` when empty.
    pub last_offset: Option<i64>,
    /// The next segment's base offset; `None` for the active segment.
    pub next_segment_base_offset: Option<i64>,
    /// Bytes in the `.log`.
    pub size_bytes: u64,
    /// Largest batch max timestamp; `None` when empty.
    pub max_timestamp: Option<i64>,
    /// When the segment was created or opened (epoch ms).
    pub created_ms: i64,
    /// Whether appends go to it.
    pub is_active: bool,
    /// Its `.log` file.
    pub log_path: PathBuf,
    /// Entries in its offset index.
    pub index_entries: usize,
    /// Entries in its time index.
    pub time_index_entries: usize,
}

fn read_epochs(dir: &Path) -> Result<Vec<EpochEntry>, LogError> {
    let path = dir.join(LEADER_EPOCH_CHECKPOINT);
    match fs::read_to_string(&path) {
        Ok(text) => parse_leader_epoch_checkpoint(&text).map_err(|e| LogError::Corrupt {
            path,
            position: e.position as u64,
            reason: e.reason,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(LogError::io(&path, "read")(e)),
    }
}

/// Whether the segment's batches frame exactly up to the end of its file.
fn ends_cleanly(segment: &LogSegment) -> Result<bool, LogError> {
    let start = segment.lookup_position(i64::MAX);
    let mut end = start;
    segment.walk_headers(start, segment.size(), |h| {
        end = h.position + h.size;
        true
    })?;
    Ok(end == segment.size())
}

/// Recovers segments `from..` (see `recovery.rs`), deleting every segment
/// after a truncation point.
fn recover(
    segments: &mut Vec<Arc<LogSegment>>,
    from: usize,
    ctx: RecoveryContext<'_>,
    report: &mut RecoveryReport,
) -> Result<(), LogError> {
    let mut previous_next = from
        .checked_sub(1)
        .and_then(|i| segments.get(i))
        .map(|s| s.last_offset() + 1);
    let mut i = from;
    while let Some(segment) = segments.get(i) {
        let outcome = recover_segment(
            segment,
            RecoveryContext {
                previous_next_offset: previous_next,
                ..ctx
            },
        )?;
        report.segments_recovered += 1;
        if outcome.truncated_bytes > 0 || outcome.reason.is_some() {
            report.truncated_bytes += outcome.truncated_bytes;
            if report.reason.is_none()
                && let Some((pos, why)) = outcome.reason
            {
                report.reason = Some((segment.log_path(), pos, why));
            }
            for later in segments.drain(i + 1..) {
                report.truncated_bytes += later.size();
                report.segments_deleted += 1;
                later.delete_files()?;
            }
            break;
        }
        previous_next = Some(outcome.next_offset);
        i += 1;
    }
    Ok(())
}

/// Deletes `.cleaned` and `.deleted` files and completes `.swap` replacements
/// (Kafka's `LogLoader` on startup).
fn settle_leftovers(dir: &Path) -> Result<(), LogError> {
    let mut changed = false;
    let mut swaps: Vec<(i64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(LogError::io(dir, "list"))? {
        let entry = entry.map_err(LogError::io(dir, "list"))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            fs::remove_file(&path).map_err(LogError::io(&path, "delete"))?;
            changed = true;
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX)
            && let Some(base) = crate::segment_file::parse_segment_file_name(stem, ".log")
        {
            swaps.push((base, path));
        }
    }
    swaps.sort();
    for (base, swap_log) in swaps {
        crate::swap::complete_swap(dir, base, &swap_log)?;
        changed = true;
    }
    // Index `.swap` files without their `.log.swap`: a swap that never reached
    // its commit point.
    for entry in fs::read_dir(dir).map_err(LogError::io(dir, "list"))? {
        let path = entry.map_err(LogError::io(dir, "list"))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(SWAP_SUFFIX))
        {
            fs::remove_file(&path).map_err(LogError::io(&path, "delete"))?;
            changed = true;
        }
    }
    if changed {
        // The swap's renames and the removals must not come undone by a power
        // loss (Kafka's `replaceSegments` flushes the directory).
        sync_dir(dir)?;
    }
    Ok(())
}

/// The producer id, epoch and sequence range of an idempotent batch.
#[derive(Debug, Clone, Copy)]
struct Sequence {
    producer_id: i64,
    epoch: i16,
    first: i32,
    last: i32,
}

fn sequence_of(buf: &[u8]) -> Option<Sequence> {
    use weir_record::layout::{BASE_SEQUENCE, LAST_OFFSET_DELTA, PRODUCER_EPOCH, PRODUCER_ID};
    let field = |at: usize, n: usize| buf.get(at..at + n);
    let producer_id = i64::from_be_bytes(field(PRODUCER_ID, 8)?.try_into().ok()?);
    let epoch = i16::from_be_bytes(field(PRODUCER_EPOCH, 2)?.try_into().ok()?);
    let first = i32::from_be_bytes(field(BASE_SEQUENCE, 4)?.try_into().ok()?);
    let delta = i32::from_be_bytes(field(LAST_OFFSET_DELTA, 4)?.try_into().ok()?);
    (producer_id >= 0 && first >= 0).then(|| Sequence {
        producer_id,
        epoch,
        first,
        last: weir_record::increment_sequence(first, delta),
    })
}

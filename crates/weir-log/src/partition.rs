//! [`PartitionLog`]: one partition's log: open (with recovery), close, and the
//! offsets readers see. Appending and rolling live in `append.rs`, fetching in
//! `fetch.rs`, durability in `flush.rs`, segment deletion in `retention.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use event_listener::Event;

use crate::checkpoint::{
    EpochEntry, format_leader_epoch_checkpoint, parse_leader_epoch_checkpoint, write_atomically,
};
use crate::clock::{Clock, system_clock};
use crate::config::LogConfig;
use crate::error::LogError;
use crate::flush::FlushState;
use crate::paths::{list_segments, sync_dir};
use crate::producer_state::ProducerStates;
use crate::recovery::{RecoveryContext, recover_segment};
use crate::segment::{DELETED_SUFFIX, LogSegment, SegmentSizing, lock, read_lock, write_lock};
use crate::segment_file::{LEADER_EPOCH_CHECKPOINT, SEGMENT_FILE_SUFFIXES};

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
    /// What recovery does with damage below the recovery point (records that
    /// were fsynced, so no torn tail). `None`, the default: the open fails
    /// with [`LogError::Corrupt`] and nothing is cut. `Some(dir)`: the
    /// damaged segment and every later one are first copied (and fsynced)
    /// into `dir/<topic>-<partition>/`, then the log is cut at the first
    /// damaged batch and the later segments deleted, as Kafka's recovery
    /// cuts a log: the records from the damage on are lost.
    pub damaged_segments_to: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clean_shutdown: false,
            recovery_point: 0,
            log_start_offset: 0,
            clock: system_clock(),
            damaged_segments_to: None,
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
    /// Where the segments were copied before damage below the recovery point
    /// was cut off (see [`OpenOptions::damaged_segments_to`]).
    pub damage_copied_to: Option<PathBuf>,
}

/// The writer's state, behind the append lock.
#[derive(Debug)]
pub(crate) struct Writer {
    pub(crate) active: Arc<LogSegment>,
    pub(crate) next_offset: i64,
    pub(crate) messages_since_flush: i64,
    pub(crate) closed: bool,
    pub(crate) producers: ProducerStates,
    /// Open transactions: producer id → the offset of its transaction's
    /// first batch here (Kafka's `ProducerStateManager.ongoingTxns`).
    pub(crate) ongoing: std::collections::HashMap<i64, i64>,
}

impl Writer {
    /// The first offset of the oldest open transaction, or `i64::MAX`.
    pub(crate) fn first_unstable(&self) -> i64 {
        self.ongoing.values().copied().min().unwrap_or(i64::MAX)
    }
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
    /// The first offset of the oldest open transaction (`i64::MAX` when
    /// none): the last stable offset is the lower of it and the high
    /// watermark. Stored before the high watermark that covers it.
    pub(crate) first_unstable: AtomicI64,
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

pub(crate) fn sizing(config: &LogConfig) -> SegmentSizing {
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
        let mut epochs = read_epochs(dir)?;
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
                    cut_damage: false,
                },
                options.damaged_segments_to.as_deref(),
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
        // A log recovery cut keeps no leader epoch that starts past its new
        // end (Kafka's `LogLoader` truncates the epoch cache to the recovered
        // end): appends there would be stamped with an epoch the checkpoint
        // says starts later, which the next recovery takes for damage.
        let cut = report.truncated_bytes > 0 || report.segments_deleted > 0;
        if cut && epochs.iter().any(|e| e.start_offset >= next_offset) {
            epochs.retain(|e| e.start_offset < next_offset);
            if !epochs.is_empty() {
                let path = dir.join(LEADER_EPOCH_CHECKPOINT);
                write_atomically(&path, format_leader_epoch_checkpoint(&epochs).as_bytes())
                    .map_err(LogError::io(&path, "write"))?;
            }
        }
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
                ongoing: std::collections::HashMap::new(),
            }),
            log_start_offset: AtomicI64::new(log_start),
            log_end_offset: AtomicI64::new(next_offset),
            high_watermark: AtomicI64::new(next_offset),
            first_unstable: AtomicI64::new(i64::MAX),
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

    /// Forgets the idempotent producers whose last batch is `expiration_ms`
    /// or more before `now_ms` (Kafka's `producer.id.expiration.ms`, which
    /// `LogDir`'s maintenance thread applies every
    /// `producer.id.expiration.check.interval.ms`); transactional producers
    /// stay, their epoch fencing zombies. A forgotten producer's next batch is
    /// accepted with any sequence, as after a restart. Returns how many were
    /// forgotten.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        lock(&self.writer).producers.expire(now_ms, expiration_ms)
    }

    /// How many producers the partition remembers (for idempotence and
    /// transactions).
    pub fn producer_count(&self) -> usize {
        lock(&self.writer).producers.len()
    }

    /// The offset up to which `read_committed` readers may read (exclusive):
    /// the first offset of the oldest transaction still open here, or the
    /// high watermark when none is (Kafka's last stable offset, LSO); never
    /// below the log start offset (retention or DeleteRecords may pass an
    /// open transaction's first offset, as in Kafka). Lock-free.
    pub fn last_stable_offset(&self) -> i64 {
        // The high watermark first: an open transaction's first offset is
        // stored before the high watermark that covers its batch.
        let hw = self.high_watermark();
        hw.min(self.first_unstable.load(Ordering::Acquire))
            .max(self.log_start_offset().min(hw))
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
    damaged_segments_to: Option<&Path>,
    report: &mut RecoveryReport,
) -> Result<(), LogError> {
    let mut previous_next = from
        .checked_sub(1)
        .and_then(|i| segments.get(i))
        .map(|s| s.last_offset() + 1);
    let mut i = from;
    while let Some(segment) = segments.get(i) {
        let ctx = RecoveryContext {
            previous_next_offset: previous_next,
            ..ctx
        };
        let outcome = match (recover_segment(segment, ctx), damaged_segments_to) {
            (Err(LogError::Corrupt { .. }), Some(to)) => {
                // Damage below the recovery point: copied, then cut off as
                // Kafka's recovery cuts it.
                report.damage_copied_to =
                    Some(copy_segments(segments.get(i..).unwrap_or_default(), to)?);
                recover_segment(
                    segment,
                    RecoveryContext {
                        cut_damage: true,
                        ..ctx
                    },
                )?
            }
            (outcome, _) => outcome?,
        };
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

/// Copies the files of `segments` (a partition's, from its damaged one on)
/// into `to/<partition directory's name>/`, fsynced, before recovery cuts
/// them; a file already there is an error (an earlier copy is never
/// overwritten). The directory they went to.
fn copy_segments(segments: &[Arc<LogSegment>], to: &Path) -> Result<PathBuf, LogError> {
    let Some(first) = segments.first() else {
        return Ok(to.to_path_buf());
    };
    let log = first.log_path();
    let name = log
        .parent()
        .and_then(Path::file_name)
        .ok_or_else(|| LogError::Corrupt {
            path: log.clone(),
            position: 0,
            reason: "a segment outside a partition directory".into(),
        })?;
    let dir = to.join(name);
    fs::create_dir_all(&dir).map_err(LogError::io(&dir, "create directory"))?;
    for segment in segments {
        for kind in SEGMENT_FILE_SUFFIXES {
            let from = segment.path(kind);
            let Some(file_name) = from.file_name() else {
                continue;
            };
            let target = dir.join(file_name);
            let mut source = match fs::File::open(&from) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(LogError::io(&from, "open")(e)),
            };
            let mut copy = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(LogError::io(&target, "create"))?;
            io::copy(&mut source, &mut copy).map_err(LogError::io(&target, "copy into"))?;
            copy.sync_all().map_err(LogError::io(&target, "fsync"))?;
        }
    }
    sync_dir(&dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(dir)
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

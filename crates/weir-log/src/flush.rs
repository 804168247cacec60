//! Durability: group-committed fsyncs.
//!
//! A caller that needs offsets durable (`acks=all`) calls
//! [`PartitionLog::flush_until`]. If no flush is running it becomes the
//! leader: it notes the log end offset, fsyncs, and publishes that offset as
//! flushed (the recovery point). Callers arriving while a flush runs wait for
//! it and are done if it covered them; otherwise the next leader's fsync covers
//! them all. So N concurrent appenders share about one fsync per round instead
//! of N. The async form ([`PartitionLog::durable`]) hands the flush to a
//! background thread and waits on the same notification.
//!
//! A failed fsync is never retried: the partition turns read-only and every
//! waiter gets [`LogError::ReadOnly`]; nothing after the last good fsync is
//! reported durable.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener, Listener};

use crate::error::LogError;
use crate::partition::PartitionLog;
use crate::segment::{LogSegment, lock};

#[derive(Debug)]
struct Inner {
    /// Offsets below this are fsynced: the recovery point.
    flushed: i64,
    in_progress: bool,
    /// Rolled segments whose data and trimmed indexes still need an fsync.
    pending: Vec<Arc<LogSegment>>,
}

/// The flush state of one partition.
#[derive(Debug)]
pub(crate) struct FlushState {
    inner: Mutex<Inner>,
    /// Notified when a flush round ends (or the partition fails).
    pub(crate) event: Event,
    /// Epoch ms of the oldest unflushed append, -1 when none (for `flush.ms`).
    first_unflushed_ms: AtomicI64,
    /// fsync rounds done (each fsyncs the log files that had new data).
    rounds: AtomicU64,
    /// Files were created in the partition directory since its last fsync:
    /// the next flush fsyncs the directory too, or a new segment's entry could
    /// vanish on power loss although its data was synced (Kafka's
    /// `LocalLog.flush` flushes the directory for new segments).
    dir_dirty: AtomicBool,
}

impl FlushState {
    pub(crate) fn new(flushed: i64) -> Self {
        FlushState {
            inner: Mutex::new(Inner {
                flushed,
                in_progress: false,
                pending: Vec::new(),
            }),
            event: Event::new(),
            first_unflushed_ms: AtomicI64::new(-1),
            rounds: AtomicU64::new(0),
            // The directory's state at open is not known to be durable.
            dir_dirty: AtomicBool::new(true),
        }
    }

    pub(crate) fn flushed(&self) -> i64 {
        lock(&self.inner).flushed
    }

    pub(crate) fn add_pending(&self, segment: Arc<LogSegment>) {
        lock(&self.inner).pending.push(segment);
    }

    /// Notes that files were created in the partition directory.
    pub(crate) fn mark_dir_dirty(&self) {
        self.dir_dirty.store(true, Ordering::Release);
    }

    pub(crate) fn has_pending(&self) -> bool {
        !lock(&self.inner).pending.is_empty()
    }

    pub(crate) fn note_unflushed(&self, now_ms: i64) {
        let _ = self.first_unflushed_ms.compare_exchange(
            -1,
            now_ms,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

impl PartitionLog {
    /// Blocks until every offset below `offset` is fsynced (capped at the log
    /// end offset), sharing fsyncs with concurrent callers (group commit).
    ///
    /// # Errors
    /// [`LogError::ReadOnly`] when this or an earlier fsync failed.
    pub fn flush_until(&self, offset: i64) -> Result<(), LogError> {
        self.flush_until_inner(offset, false)
    }

    /// fsyncs everything written so far.
    ///
    /// # Errors
    /// As [`flush_until`](Self::flush_until).
    pub fn flush(&self) -> Result<(), LogError> {
        self.flush_until(self.log_end_offset())
    }

    /// `closing`: also until no rolled segment waits for its fsync (at close,
    /// when no append comes any more).
    pub(crate) fn flush_until_inner(&self, offset: i64, closing: bool) -> Result<(), LogError> {
        self.flush_rounds_until(offset, closing, false)
    }

    /// As [`flush_until_inner`](Self::flush_until_inner); with `once`, stops
    /// after one round of its own: the maintenance thread flushes the
    /// segments rolled so far and goes on with the other partitions, rather
    /// than chasing a partition that keeps rolling.
    fn flush_rounds_until(&self, offset: i64, closing: bool, once: bool) -> Result<(), LogError> {
        let offset = offset.min(self.log_end_offset());
        loop {
            let (pending, from) = {
                let mut st = lock(&self.flush.inner);
                if let Some(e) = self.failed.get() {
                    return Err(LogError::ReadOnly {
                        partition: self.name.clone(),
                        source: Arc::clone(e),
                    });
                }
                let has_pending = !st.pending.is_empty();
                if st.flushed >= offset && !(closing && has_pending) {
                    return Ok(());
                }
                if st.in_progress {
                    let listener = self.flush.event.listen();
                    drop(st);
                    listener.wait();
                    continue;
                }
                st.in_progress = true;
                (std::mem::take(&mut st.pending), st.flushed)
            };
            self.flush.first_unflushed_ms.store(-1, Ordering::Release);
            let target = self.log_end_offset();
            let result = self.sync_segments(&pending, from);
            self.flush.rounds.fetch_add(1, Ordering::Relaxed);
            let mut st = lock(&self.flush.inner);
            st.in_progress = false;
            match result {
                Ok(()) => st.flushed = st.flushed.max(target),
                Err(e) => {
                    drop(st);
                    let err = self.fail(e);
                    self.flush.event.notify(usize::MAX);
                    return Err(err);
                }
            }
            drop(st);
            self.flush.event.notify(usize::MAX);
            if once {
                return Ok(());
            }
        }
    }

    /// fsyncs the rolled segments waiting for it and every segment that may
    /// hold data at or after `from`.
    fn sync_segments(&self, pending: &[Arc<LogSegment>], from: i64) -> io::Result<()> {
        let to_io = |e: LogError| match e {
            LogError::Io { source, .. } => source,
            other => io::Error::other(other.to_string()),
        };
        if self.fail_next_fsync.swap(false, Ordering::AcqRel) {
            return Err(io::Error::other("injected fsync failure"));
        }
        for seg in pending {
            seg.sync().map_err(to_io)?;
        }
        let list = self.segment_list();
        let start = list
            .partition_point(|s| s.base_offset() <= from)
            .saturating_sub(1);
        for seg in list.iter().skip(start) {
            if pending.iter().any(|p| Arc::ptr_eq(p, seg)) {
                continue;
            }
            seg.sync().map_err(to_io)?;
        }
        if self.flush.dir_dirty.swap(false, Ordering::AcqRel)
            && let Err(e) = crate::paths::sync_dir_io(&self.dir)
        {
            self.flush.mark_dir_dirty();
            return Err(e);
        }
        Ok(())
    }

    /// fsyncs every segment (after recovery) and moves the recovery point to
    /// the log end.
    pub(crate) fn sync_all_segments(&self) -> Result<(), LogError> {
        for seg in self.segment_list().iter() {
            seg.sync()?;
        }
        // Recovery may have deleted segments and rebuilt index files.
        crate::paths::sync_dir(&self.dir)?;
        self.flush.dir_dirty.store(false, Ordering::Release);
        let end = self.log_end_offset();
        let mut st = lock(&self.flush.inner);
        st.flushed = st.flushed.max(end);
        Ok(())
    }

    /// Offsets below this are fsynced: the recovery point Kafka checkpoints.
    pub fn recovery_point(&self) -> i64 {
        self.flush.flushed()
    }

    /// fsync rounds performed since the log was opened (each round may cover
    /// many appends).
    pub fn flush_rounds(&self) -> u64 {
        self.flush.rounds.load(Ordering::Relaxed)
    }

    /// Flushes if `flush.ms` has passed since the oldest unflushed append, or a
    /// rolled segment still needs its final fsync. Returns whether it flushed.
    ///
    /// # Errors
    /// As [`flush_until`](Self::flush_until).
    pub fn flush_if_due(&self, now_ms: i64) -> Result<bool, LogError> {
        let first = self.flush.first_unflushed_ms.load(Ordering::Acquire);
        let flush_ms = self.config().flush_ms;
        let due = first >= 0 && now_ms.saturating_sub(first) >= flush_ms;
        if due || self.flush.has_pending() {
            let target = if due {
                self.log_end_offset()
            } else {
                // Kafka flushes a rolled segment up to the new active segment's base.
                lock(&self.writer).active.base_offset()
            };
            self.flush_rounds_until(target, !due, !due)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The epoch ms at which `flush.ms` will make a flush due, if anything is
    /// unflushed and `flush.ms` is set.
    pub fn next_flush_due_ms(&self) -> Option<i64> {
        let first = self.flush.first_unflushed_ms.load(Ordering::Acquire);
        let flush_ms = self.config().flush_ms;
        (first >= 0 && flush_ms < i64::MAX).then(|| first.saturating_add(flush_ms))
    }

    /// A future that resolves once every offset below `offset` is fsynced. The
    /// fsync runs on a background thread (shared with blocking callers' group
    /// commit); works on any executor.
    pub fn durable(self: &Arc<Self>, offset: i64) -> Durable {
        Durable {
            log: Arc::clone(self),
            offset,
            requested: false,
            listener: None,
        }
    }
}

/// The future of [`PartitionLog::durable`].
#[derive(Debug)]
pub struct Durable {
    log: Arc<PartitionLog>,
    offset: i64,
    requested: bool,
    listener: Option<EventListener>,
}

impl Durable {
    fn check(&self) -> Option<Result<(), LogError>> {
        if let Some(e) = self.log.failed.get() {
            return Some(Err(LogError::ReadOnly {
                partition: self.log.name.clone(),
                source: Arc::clone(e),
            }));
        }
        let target = self.offset.min(self.log.log_end_offset());
        (self.log.flush.flushed() >= target).then_some(Ok(()))
    }
}

impl Future for Durable {
    type Output = Result<(), LogError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Some(done) = self.check() {
                return Poll::Ready(done);
            }
            if let Some(listener) = self.listener.as_mut() {
                match Pin::new(listener).poll(cx) {
                    Poll::Ready(()) => {
                        self.listener = None;
                        continue;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            self.listener = Some(self.log.flush.event.listen());
            if !self.requested {
                self.requested = true;
                request_flush(&self.log, self.offset);
            }
        }
    }
}

type FlushRequest = (Weak<PartitionLog>, i64);

/// Hands a flush to the process's background flusher thread, started on first
/// use. Requests for many partitions queue up; each runs the same group commit
/// as blocking callers.
fn request_flush(log: &Arc<PartitionLog>, offset: i64) {
    static FLUSHER: OnceLock<Mutex<Sender<FlushRequest>>> = OnceLock::new();
    let sender = FLUSHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<FlushRequest>();
        let spawned = std::thread::Builder::new()
            .name("weir-flusher".into())
            .spawn(move || {
                for (log, offset) in rx {
                    if let Some(log) = log.upgrade() {
                        // Errors latch in the log and reach the waiters.
                        let _ = log.flush_until(offset);
                    }
                }
            });
        if spawned.is_err() {
            // Without a thread, flush inline on the next request instead.
            let (tx, _rx) = mpsc::channel();
            return Mutex::new(tx);
        }
        Mutex::new(tx)
    });
    if lock(sender).send((Arc::downgrade(log), offset)).is_err() {
        let _ = log.flush_until(offset);
    }
}

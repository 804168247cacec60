//! [`Producer`]: Kafka's producer, in process.
//!
//! `send` picks the partition (the configured partitioner, Kafka's built-in
//! one by default) and encodes the record into the partition's open batch,
//! which holds its `buffer.memory` (a batch's worth, taken when it opens). A
//! batch is sealed when `batch.size` is reached, when `linger.ms` passes (a
//! timer thread), or on `flush`. A batch sealed by size is built (compressed,
//! CRC'd) by the sending thread that filled it, outside the queue's lock, so
//! many senders compress at once; sealed batches are appended in order by one
//! thread per partition at a time (the "drainer", which builds those sealed by
//! the timer or a flush), never under the log's lock.
//! Deliveries complete per `acks`: at once (`0`), once written to the OS
//! (`1`), or once fsynced (`all`, by a completion thread that groups the
//! fsyncs of many batches). Delivery callbacks run on that completion thread
//! only, in the order their batches were sent, as Kafka runs them on its I/O
//! thread: never inside a caller's `send` or `flush`.
//!
//! A sender that has to wait for `buffer.memory` first sends every batch,
//! lingering ones included (Kafka's accumulator treats every batch as ready
//! while memory is exhausted), so waiting for memory never waits for a
//! `linger.ms`.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use weir_log::PartitionLog;
use weir_partition::{BuiltInPartitioner, Partitioner, RoundRobinPartitioner};
use weir_record::{BatchBuilder, BatchOptions, BuiltBatch, Compression, increment_sequence};

use crate::delivery::{BatchResult, Delivered, DeliveryFuture, RecordSlot};
use crate::error::{InternalTopicOperation, WeirError};
use crate::metrics::ProducerMetrics;
use crate::producer_config::{Acks, PartitionerChoice, ProducerConfig};
use crate::record::{ProducerRecord, RecordMetadata};
use crate::weir::Weir;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Callback = Box<dyn FnOnce(Result<RecordMetadata, WeirError>) + Send>;

struct OpenBatch {
    id: u64,
    builder: BatchBuilder,
    created: Instant,
    result: Arc<BatchResult>,
    /// `buffer.memory` held by this batch, released when it completes: a
    /// batch's worth when it opens (as Kafka's `BufferPool` hands each batch a
    /// `batch.size` buffer), more when its records need it.
    reserved: u64,
    /// What its records take of `reserved` (their estimated sizes).
    used: u64,
    records: usize,
    /// The records sent with a callback, and what their metadata needs.
    callbacks: Vec<(RecordSlot, Callback)>,
    /// `batch.size`: the batch is full when its estimated size reaches it.
    batch_size: usize,
    /// How much its records' bytes are estimated to take once compressed
    /// (the topic's ratio times Kafka's 1.05 margin when the batch opened; 1
    /// without compression).
    ratio: f64,
    /// The most its records may take before compression: the topic's
    /// `max.message.bytes`, less room for the codec's worst expansion (the
    /// log would refuse a bigger batch, and there is no splitting one).
    cap: usize,
}

impl OpenBatch {
    fn sizing(&self) -> BatchSizing {
        BatchSizing {
            uncompressed: self.builder.uncompressed_size(),
            empty: self.builder.is_empty(),
            batch_size: self.batch_size,
            ratio: self.ratio,
            cap: self.cap,
        }
    }

    fn estimated_size(&self) -> usize {
        self.sizing().estimated_size()
    }

    fn has_room_for(&self, size: usize) -> bool {
        self.sizing().has_room_for(size)
    }

    fn is_full(&self) -> bool {
        self.sizing().is_full()
    }
}

/// The most `codec` can add to `n` bytes. lz4, zstd and gzip at levels
/// other than 1 store a block that would grow, with a few bytes of framing
/// per block. gzip at level 1 (zlib-rs's quick deflate) codes every byte with
/// fixed Huffman codes and stores nothing: up to 1 bit in 8. Snappy never
/// stores a block: input crafted against its matcher (literal runs of 61
/// bytes, each costing a 2-byte tag, between 4-byte copies from 2 KiB or
/// more back, which save 1) grows by 1 byte in 65, plus the xerial framing.
fn worst_expansion(codec: weir_record::CompressionConfig, n: usize) -> usize {
    match codec.compression() {
        Compression::None => 0,
        Compression::Gzip if codec.level() == 1 => 64 + n / 8,
        Compression::Snappy => 64 + n / 60,
        _ => 64 + n / 250,
    }
}

/// What decides when an open batch is sent: Kafka's `MemoryRecordsBuilder`
/// rules, with Weir's cap from `max.message.bytes`.
#[derive(Debug, Clone, Copy)]
struct BatchSizing {
    /// The batch's size before compression (header and records).
    uncompressed: usize,
    empty: bool,
    batch_size: usize,
    ratio: f64,
    cap: usize,
}

impl BatchSizing {
    /// Its size once built, by the estimate (Kafka's
    /// `estimatedBytesWritten`: the header, and the records times the ratio).
    fn estimated_size(self) -> usize {
        let header = weir_record::layout::RECORD_BATCH_OVERHEAD;
        let records = self.uncompressed.saturating_sub(header);
        header.saturating_add((records as f64 * self.ratio) as usize)
    }

    /// Whether a record of `size` bytes still fits (Kafka's `hasRoomFor`: the
    /// record counted uncompressed, the batch by its estimate; an empty batch
    /// takes any record).
    fn has_room_for(self, size: usize) -> bool {
        self.empty
            || (self.estimated_size().saturating_add(size) <= self.batch_size
                && self.uncompressed.saturating_add(size) <= self.cap)
    }

    /// Whether it is full (Kafka's `isFull`) and goes now.
    fn is_full(self) -> bool {
        !self.empty && (self.estimated_size() >= self.batch_size || self.uncompressed >= self.cap)
    }
}

/// A sealed batch waiting, in partition order, to be appended.
struct Sealed {
    batch: OpenBatch,
    /// Its bytes (compressed, CRC'd) once built; `None` while a sending
    /// thread builds it, or until the drainer does.
    built: Option<Result<BuiltBatch, WeirError>>,
    /// A sending thread is building it outside the queue lock (its builder
    /// is with that thread).
    building: bool,
    /// The records' size before compression, for metrics.
    uncompressed: usize,
}

#[derive(Default)]
struct Queue {
    open: Option<OpenBatch>,
    sealed: VecDeque<Sealed>,
    draining: bool,
    next_sequence: i32,
}

impl Queue {
    /// Seals `batch` for the drainer to build and append.
    fn seal(&mut self, batch: OpenBatch) {
        let uncompressed = batch.builder.uncompressed_size();
        self.sealed.push_back(Sealed {
            batch,
            built: None,
            building: false,
            uncompressed,
        });
    }

    /// Seals `batch` and hands its builder to the caller, who builds it
    /// outside the lock and brings the bytes back with [`deposit`](Self::deposit).
    fn seal_to_build(&mut self, mut batch: OpenBatch) -> (u64, BatchBuilder) {
        let uncompressed = batch.builder.uncompressed_size();
        let builder = std::mem::replace(
            &mut batch.builder,
            BatchBuilder::new(BatchOptions::default()),
        );
        let id = batch.id;
        self.sealed.push_back(Sealed {
            batch,
            built: None,
            building: true,
            uncompressed,
        });
        (id, builder)
    }

    /// The bytes of a batch sealed with [`seal_to_build`](Self::seal_to_build).
    fn deposit(&mut self, id: u64, built: Result<BuiltBatch, WeirError>) {
        if let Some(s) = self.sealed.iter_mut().find(|s| s.batch.id == id) {
            s.built = Some(built);
            s.building = false;
        }
    }

    /// Whether the caller should drain the sealed batches: the first can be
    /// appended (it is not being built elsewhere) and nobody drains yet (the
    /// caller becomes the drainer). Whoever builds the first drains after.
    fn claim_drain(&mut self) -> bool {
        let drain = self.sealed.front().is_some_and(|s| !s.building) && !self.draining;
        if drain {
            self.draining = true;
        }
        drain
    }
}

/// What [`Inner::append_to_queue`] did with a record.
struct Appended {
    slot: RecordSlot,
    result: Arc<BatchResult>,
    /// Its batch was sealed by size with it.
    full: bool,
    /// The caller is the partition's drainer now.
    drain: bool,
    /// What the record added to its batch's estimated size.
    estimated_bytes: usize,
}

struct PartitionState {
    log: Arc<PartitionLog>,
    /// The topic's `record-send-total`, registered once.
    sent: metrics::Counter,
    queue: Mutex<Queue>,
    /// Sequence numbers given to records of batches the log refused (so it
    /// never saw them): later batches are renumbered down by this much
    /// before they are appended, as Kafka's idempotent producer resets a
    /// partition's sequences after a failed batch. Only the drainer uses it.
    sequences_lost: AtomicI32,
    /// The topic's estimated compression ratio (shared by its partitions).
    compression_ratio: Arc<RatioEstimate>,
}

/// Kafka's `CompressionRatioEstimator` for one topic: how much the records
/// of a batch compress, so that `batch.size` bounds a compressed batch's
/// size, as in Kafka, rather than its records' size before compression. It
/// starts at 1 and follows each batch built: down by at most 0.005 a batch,
/// up at once by at least 0.05.
#[derive(Debug)]
struct RatioEstimate(std::sync::atomic::AtomicU32);

impl RatioEstimate {
    /// Kafka's margin over the estimate when it sizes a batch.
    const MARGIN: f32 = 1.05;

    fn new() -> Self {
        RatioEstimate(std::sync::atomic::AtomicU32::new(1.0f32.to_bits()))
    }

    fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// After a batch was built: its records took `compressed` bytes for
    /// `uncompressed` (both without the batch header).
    fn observe(&self, compressed: usize, uncompressed: usize) {
        if uncompressed == 0 {
            return;
        }
        let observed = compressed as f32 / uncompressed as f32;
        let current = self.get();
        let next = if observed > current {
            (current + 0.05).max(observed)
        } else if observed < current {
            (current - 0.005).max(observed)
        } else {
            current
        };
        // Racing updates may lose one: the estimate only steers batch sizes.
        self.0.store(next.to_bits(), Ordering::Relaxed);
    }
}

struct TopicState {
    name: Arc<str>,
    partitions: Vec<Arc<PartitionState>>,
}

/// A batch for the completion thread, which completes batches in the order
/// they were handed to it (so a partition's in the order they were sent).
enum Completion {
    /// Appended with `acks=all`: complete once fsynced.
    Durable {
        log: Arc<PartitionLog>,
        end_offset: i64,
        batch: OpenBatch,
        delivered: Delivered,
        /// When the batch went to the log (`request-latency` counts from
        /// it, whatever `acks`: time waiting for `linger.ms` is not a
        /// request's).
        sent: Instant,
    },
    /// Its outcome is known already: a batch with delivery callbacks (they
    /// run on this thread, never in a caller's `send` or `flush`), or one
    /// the log refused under `acks=all` (it must not overtake the earlier
    /// batches of its partition still waiting for their fsync).
    Known {
        batch: OpenBatch,
        outcome: Result<Delivered, WeirError>,
    },
}

/// `buffer.memory` accounting: an atomic counter on the fast path; a mutex
/// and condvar only for senders that must wait.
struct Memory {
    used: AtomicU64,
    waiting: std::sync::atomic::AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    limit: u64,
}

impl Memory {
    fn try_reserve(&self, n: u64) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur + n > self.limit {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(cur, cur + n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }
}

type TopicMap = HashMap<Box<str>, (u64, Arc<TopicState>), foldhash::fast::RandomState>;

/// The topic's state in `map` if it was read at metadata `version`.
fn current_topic<'m>(map: &'m TopicMap, topic: &str, version: u64) -> Option<&'m Arc<TopicState>> {
    map.get(topic)
        .filter(|(v, _)| *v == version)
        .map(|(_, state)| state)
}

type LingerEntry = Reverse<(Instant, u64, usize)>;
/// Deadlines by (time, batch id, partition), and each batch's topic.
type LingerDue = (BinaryHeap<LingerEntry>, HashMap<u64, Arc<TopicState>>);

/// Batches waiting for `linger.ms`, shared with the timer thread (which holds
/// the producer only weakly, so dropping the last handle ends it).
#[derive(Default)]
struct Linger {
    due: Mutex<LingerDue>,
    cv: Condvar,
    closed: AtomicBool,
}

impl Linger {
    /// Tells the timer thread to stop. The flag is set under the lock the
    /// thread checks it under, so the wake-up cannot fall between its check
    /// and its wait (it may wait with no deadline when nothing lingers).
    fn close(&self) {
        let guard = lock(&self.due);
        self.closed.store(true, Ordering::Release);
        drop(guard);
        self.cv.notify_all();
    }
}

/// What completing a batch needs; shared with the completion thread, which
/// must never hold the producer itself (its drop flushes and waits for it).
struct Shared {
    memory: Memory,
    outstanding: Mutex<HashMap<u64, Arc<BatchResult>>>,
    metrics: ProducerMetrics,
}

impl Shared {
    /// Takes `n` bytes of `buffer.memory` if they are free, keeping
    /// `buffer-available-bytes` current.
    fn try_reserve(&self, n: u64) -> bool {
        let taken = self.memory.try_reserve(n);
        if taken {
            self.report_available();
        }
        taken
    }

    fn report_available(&self) {
        let m = &self.memory;
        self.metrics
            .buffer_available(m.limit.saturating_sub(m.used.load(Ordering::Relaxed)));
    }

    fn release(&self, n: u64) {
        let m = &self.memory;
        let before = m.used.fetch_sub(n, Ordering::AcqRel);
        self.metrics
            .buffer_available(m.limit.saturating_sub(before.saturating_sub(n)));
        if m.waiting.load(Ordering::Acquire) > 0 {
            let _g = lock(&m.lock);
            m.cv.notify_all();
        }
    }
}

struct Inner {
    weir: Weir,
    config: ProducerConfig,
    partitioner: Arc<dyn Partitioner>,
    producer_id: i64,
    /// Each topic's partitions and queues, with the metadata version they
    /// were read at. Read on every send without a lock; replaced whole (under
    /// `topics_update`) when a topic is new or changed.
    topics: ArcSwap<TopicMap>,
    topics_update: Mutex<()>,
    shared: Arc<Shared>,
    linger: Arc<Linger>,
    completions: Mutex<Option<Sender<Completion>>>,
    next_batch_id: AtomicU64,
    closed: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Kafka's producer, in process. Cheap to clone; clones share the producer,
/// so many threads may send through one. See the module docs for the data
/// path.
///
/// Dropping the last clone delivers every record sent before (as
/// [`flush`](Self::flush) does), on the dropping thread, before the drop
/// returns; [`close`](Self::close) does that and also stops the producer's
/// threads.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Handle>,
}

/// What the users' handles share. Dropping the last one delivers what is
/// still buffered, on the thread that drops it. The producer's own threads
/// hold [`Inner`] (the linger thread only weakly, for a moment) but never a
/// `Handle`, so that flush never lands on them, where it could end after the
/// user's drop had returned (and after the user had closed the `Weir`).
struct Handle(Arc<Inner>);

impl std::ops::Deref for Handle {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.inner.config.client_id)
            .field("producer_id", &self.inner.producer_id)
            .finish()
    }
}

impl Producer {
    /// A producer on `weir` with `config` and the configured partitioner.
    ///
    /// The built-in partitioner is given
    /// `partitioner.adaptive.partitioning.enable`, but the producer reports
    /// no queue statistics for it to weigh (a partition's batches are
    /// appended in process, not queued behind a broker): null keys are
    /// spread uniformly, as Kafka's partitioner does while all queues are
    /// equal.
    ///
    /// # Errors
    /// [`WeirError::Config`] for a config Kafka refuses.
    pub fn new(weir: &Weir, config: ProducerConfig) -> Result<Self, WeirError> {
        let partitioner: Arc<dyn Partitioner> = match config.partitioner {
            PartitionerChoice::BuiltIn => Arc::new(
                BuiltInPartitioner::new(config.batch_size.max(1))
                    .ignore_keys(config.partitioner_ignore_keys)
                    .adaptive(config.partitioner_adaptive),
            ),
            PartitionerChoice::RoundRobin => Arc::new(RoundRobinPartitioner::new()),
            PartitionerChoice::Librdkafka(p) => Arc::new(p),
        };
        Self::with_partitioner(weir, config, partitioner)
    }

    /// A producer with a custom partitioner.
    ///
    /// # Errors
    /// [`WeirError::Config`] for a config Kafka refuses.
    pub fn with_partitioner(
        weir: &Weir,
        mut config: ProducerConfig,
        partitioner: Arc<dyn Partitioner>,
    ) -> Result<Self, WeirError> {
        config.validate()?;
        if config.client_id.is_empty() {
            static NEXT: AtomicU64 = AtomicU64::new(1);
            config.client_id = format!("producer-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        }
        let metrics = ProducerMetrics::new(&config.client_id);
        let (tx, rx) = mpsc::channel::<Completion>();
        let inner = Arc::new(Inner {
            weir: weir.clone(),
            producer_id: if config.enable_idempotence {
                fastrand::i64(1..i64::MAX)
            } else {
                -1
            },
            shared: Arc::new(Shared {
                memory: Memory {
                    used: AtomicU64::new(0),
                    waiting: std::sync::atomic::AtomicUsize::new(0),
                    lock: Mutex::new(()),
                    cv: Condvar::new(),
                    limit: config.buffer_memory,
                },
                outstanding: Mutex::new(HashMap::new()),
                metrics,
            }),
            config,
            partitioner,
            topics: ArcSwap::from_pointee(TopicMap::default()),
            topics_update: Mutex::new(()),
            linger: Arc::new(Linger::default()),
            completions: Mutex::new(Some(tx)),
            next_batch_id: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        let shared = Arc::clone(&inner.linger);
        let linger = std::thread::Builder::new()
            .name("weir-producer-linger".into())
            .spawn(move || linger_loop(&shared, &weak))
            .map_err(|e| {
                WeirError::InvalidArgument(format!("cannot start a producer thread: {e}"))
            })?;
        // The whole buffer is available from the start.
        inner.shared.report_available();
        let shared = Arc::clone(&inner.shared);
        let completer = std::thread::Builder::new()
            .name("weir-producer-acks".into())
            .spawn(move || completion_loop(&rx, &shared))
            .map_err(|e| {
                WeirError::InvalidArgument(format!("cannot start a producer thread: {e}"))
            })?;
        lock(&inner.threads).extend([linger, completer]);
        Ok(Producer {
            inner: Arc::new(Handle(inner)),
        })
    }

    /// The producer's configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The producer id stamped on batches (-1 without idempotence).
    pub fn producer_id(&self) -> i64 {
        self.inner.producer_id
    }

    /// Sends a record. Returns once the record is in a batch; the returned
    /// future resolves per `acks`. Blocks up to `max.block.ms` when
    /// `buffer.memory` is full.
    ///
    /// # Errors
    /// [`WeirError::RecordTooLarge`] (over `max.request.size` or
    /// `buffer.memory`), [`WeirError::BufferExhausted`], an unknown topic or
    /// partition, [`WeirError::Closed`]. Later failures (the partition turned
    /// read-only, say) arrive through the future.
    pub fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, WeirError> {
        self.inner.send(record, None)
    }

    /// Sends a record and calls `callback` with its outcome once known.
    ///
    /// As in Kafka, callbacks run on one producer thread (the
    /// `weir-producer-acks` thread), never inside this `send` or a `flush`,
    /// so a callback may take a lock the sending thread holds while it
    /// sends. The callbacks of one partition run in the order its records
    /// were sent. Keep them short: while one runs, the callbacks and (with
    /// `acks=all`) the deliveries of every partition wait, and so does the
    /// `buffer.memory` their batches hold. A callback must not wait for
    /// what only the completion thread brings, as one must not block
    /// Kafka's I/O thread: the `DeliveryFuture` of another record sent with
    /// `acks=all` or with a callback never completes while it waits, and a
    /// `send` that needs the memory such batches hold fails after
    /// `max.block.ms`. A callback that panics is
    /// caught (the panic hook reports it) and the producer goes on, as Kafka
    /// catches a callback's exception.
    ///
    /// `flush`, `close` and dropping the producer from a callback do not
    /// wait (see [`flush`](Self::flush) and [`close`](Self::close)). After
    /// a successful [`close`](Self::close) (or once the last handle is
    /// dropped) there is no completion thread left: a callback then runs on
    /// the thread that completes its batch.
    ///
    /// # Errors
    /// As [`send`](Self::send); the callback is not called then.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<RecordMetadata, WeirError>) + Send + 'static,
    ) -> Result<(), WeirError> {
        self.inner
            .send(record, Some(Box::new(callback)))
            .map(|_| ())
    }

    /// Sends every batch now and blocks until all records sent before the call
    /// are delivered or failed, and their callbacks ran (on the producer's
    /// thread: a flush runs no callback itself).
    ///
    /// Called from a delivery callback it sends every batch but does not
    /// wait: the batch whose callback is running completes only after the
    /// callback returns, so waiting there would never end (Kafka's `flush`
    /// refuses to run in a callback for the same reason).
    pub fn flush(&self) {
        if in_callback() {
            self.inner.send_all();
            return;
        }
        self.inner.flush();
    }

    /// Refuses new sends (they fail with [`WeirError::Closed`]), delivers
    /// every record accepted before, then stops the producer's threads.
    ///
    /// Called from a delivery callback it refuses new sends and sends every
    /// batch, but waits for none of them (as Kafka's `close` from a callback
    /// does with a zero timeout); what was sent is delivered, and its
    /// callbacks run, after the callback returns. The producer's threads
    /// stop once its last handle is dropped.
    pub fn close(&self) {
        let _ = self.close_until(None);
    }

    /// As [`close`](Self::close), waiting at most `timeout` for the records
    /// accepted before to be delivered (Kafka's `close(Duration)`). Records
    /// still being delivered then are delivered afterwards; their futures
    /// complete and their callbacks run as usual (on the producer's
    /// completion thread, which stops once the last handle is dropped, or
    /// at a later `close` that does not time out).
    ///
    /// # Errors
    /// [`WeirError::Timeout`] when `timeout` passed first.
    pub fn close_timeout(&self, timeout: std::time::Duration) -> Result<(), WeirError> {
        self.close_until(Some(weir_log::clock::deadline_in(timeout)))
            .map_err(|()| WeirError::Timeout {
                what: "the producer's close to deliver what was sent before it".into(),
                waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
    }

    fn close_until(&self, deadline: Option<Instant>) -> Result<(), ()> {
        // Refuse new sends first, then deliver everything accepted.
        self.inner.closed.store(true, Ordering::Release);
        if in_callback() {
            // The completion thread stays until the last handle is dropped:
            // it completes what was sent in order, this callback's batch
            // (and maybe this very thread) included.
            self.inner.send_all();
            self.inner.linger.close();
            return Ok(());
        }
        // Every queue's lock is taken once after the flag is set (see
        // `append_to_queue`), even when nothing is outstanding yet.
        self.inner.send_all();
        let delivered = self.inner.flush_everything_until(deadline);
        self.inner.linger.close();
        if !delivered {
            // The completion thread goes on completing what is still being
            // delivered, in order; it stops with the last handle.
            return Err(());
        }
        // Nothing is outstanding and no send is accepted: the completion
        // thread has nothing left and ends once its channel closes.
        lock(&self.inner.completions).take();
        // The threads hold only weak references.
        let threads: Vec<_> = lock(&self.inner.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }

    /// Partitions of a topic, for callers choosing their own.
    ///
    /// # Errors
    /// An unknown topic.
    pub fn partition_count(&self, topic: &str) -> Result<u32, WeirError> {
        Ok(u32::try_from(self.inner.topic_state(topic)?.partitions.len()).unwrap_or(u32::MAX))
    }
}

impl Inner {
    /// The topic's state, current with the log directory's metadata.
    fn topic_state(&self, topic: &str) -> Result<Arc<TopicState>, WeirError> {
        let version = self.weir.log_dir().metadata_version();
        match current_topic(&self.topics.load(), topic, version) {
            Some(state) => Ok(Arc::clone(state)),
            None => self.refresh_topic(topic, version),
        }
    }

    /// Reads a topic that is new to this producer or whose metadata changed.
    #[cold]
    fn refresh_topic(&self, topic: &str, version: u64) -> Result<Arc<TopicState>, WeirError> {
        let t = self.weir.topic(topic)?;
        if t.is_internal() {
            return Err(WeirError::InternalTopic {
                topic: topic.to_string(),
                operation: InternalTopicOperation::Append,
            });
        }
        let _update = lock(&self.topics_update);
        let current = self.topics.load_full();
        let old = current.get(topic).map(|(_, s)| Arc::clone(s));
        // Keep the queues (open batches, sequences, a drain in progress) of
        // partitions that are still the same logs; a topic deleted and
        // created again has new logs, and new partitions have no queue yet.
        let name: Arc<str> = Arc::from(topic);
        let sent = self.shared.metrics.send_counter(&name);
        let ratio = old.as_ref().and_then(|o| o.partitions.first()).map_or_else(
            || Arc::new(RatioEstimate::new()),
            |p| Arc::clone(&p.compression_ratio),
        );
        let state = Arc::new(TopicState {
            name,
            partitions: t
                .partitions()
                .into_iter()
                .enumerate()
                .map(|(i, log)| {
                    old.as_ref()
                        .and_then(|o| o.partitions.get(i))
                        .filter(|p| Arc::ptr_eq(&p.log, &log))
                        .cloned()
                        .unwrap_or_else(|| {
                            Arc::new(PartitionState {
                                sent: sent.clone(),
                                sequences_lost: AtomicI32::new(0),
                                compression_ratio: Arc::clone(&ratio),
                                log,
                                queue: Mutex::new(Queue::default()),
                            })
                        })
                })
                .collect(),
        });
        let mut next = TopicMap::clone(&current);
        next.insert(topic.into(), (version, Arc::clone(&state)));
        self.topics.store(Arc::new(next));
        Ok(state)
    }

    fn send(
        &self,
        record: ProducerRecord,
        callback: Option<Callback>,
    ) -> Result<DeliveryFuture, WeirError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(WeirError::Closed {
                what: format!("producer {}", self.config.client_id),
            });
        }
        if let Some(ts) = record.timestamp
            && ts < 0
        {
            return Err(WeirError::InvalidArgument(format!(
                "invalid timestamp {ts}: a record's timestamp is never negative (None is \"now\")"
            )));
        }
        let size = record.estimated_size();
        // As Kafka's producer, the record's size in a batch of its own (with
        // the 61-byte batch header) is held against max.request.size.
        let alone = size + weir_record::layout::RECORD_BATCH_OVERHEAD;
        if alone > self.config.max_request_size {
            self.shared.metrics.error(record.topic.clone(), 1);
            return Err(WeirError::RecordTooLarge {
                size: alone,
                max: self.config.max_request_size as u64,
                config: "max.request.size",
            });
        }
        if size as u64 > self.config.buffer_memory {
            self.shared.metrics.error(record.topic.clone(), 1);
            return Err(WeirError::RecordTooLarge {
                size,
                max: self.config.buffer_memory,
                config: "buffer.memory",
            });
        }
        // Borrowed from the current topic map: no reference count touched on
        // the hot path (threads sharing the producer would contend on it).
        let topics = self.topics.load();
        let version = self.weir.log_dir().metadata_version();
        let refreshed;
        let topic = match current_topic(&topics, &record.topic, version) {
            Some(state) => state,
            None => {
                refreshed = self
                    .refresh_topic(&record.topic, version)
                    .map_err(|e| self.send_failed(&record.topic, e))?;
                &refreshed
            }
        };
        let count = NonZeroU32::new(u32::try_from(topic.partitions.len()).unwrap_or(u32::MAX))
            .ok_or_else(|| {
                WeirError::InvalidArgument(format!("topic {} has no partitions", record.topic))
            })?;
        let key = record.key.as_deref();
        let partition = match record.partition {
            Some(p) => {
                if p < 0 || p as u32 >= count.get() {
                    let e = weir_log::LogError::UnknownPartition {
                        topic: record.topic.clone(),
                        partition: p,
                        partitions: count.get(),
                    };
                    return Err(self.send_failed(&record.topic, e.into()));
                }
                p as usize
            }
            None => {
                let p =
                    self.partitioner
                        .partition(&record.topic, key, record.value.as_deref(), count);
                if p >= count.get() {
                    return Err(WeirError::InvalidArgument(format!(
                        "the partitioner chose partition {p} of a topic with {count} partitions"
                    )));
                }
                p as usize
            }
        };
        let timestamp = record
            .timestamp
            .unwrap_or_else(|| self.weir.clock().now_ms());
        let ps = topic
            .partitions
            .get(partition)
            .ok_or_else(|| WeirError::InvalidArgument(format!("no partition {partition}")))?;
        // Batches this send seals by size, built (compressed, CRC'd) by this
        // thread once the queue is unlocked, so compression runs in every
        // sending thread at once rather than in the partition's drainer only.
        let mut to_build = Vec::new();
        let appended = self.append_to_queue(
            topic,
            partition,
            ps,
            &record,
            size,
            timestamp,
            callback,
            &mut to_build,
        );
        let drain = appended.as_ref().is_ok_and(|a| a.drain);
        self.build_and_drain(ps, &mut to_build, drain);
        let appended = appended.map_err(|e| self.send_failed(&record.topic, e))?;
        if record.partition.is_none() {
            // Only for records the partitioner placed (as Kafka's
            // accumulator, which ignores records with an explicit partition).
            self.partitioner.on_append(
                &record.topic,
                key,
                partition as u32,
                appended.estimated_bytes,
                appended.full,
            );
        }
        Ok(DeliveryFuture::new(
            appended.result,
            self.config.acks == Acks::None,
            appended.slot,
        ))
    }

    /// Builds the batches this thread sealed by size (outside the queue's
    /// lock), then drains the partition if it is (or became) the drainer.
    fn build_and_drain(
        &self,
        ps: &PartitionState,
        to_build: &mut Vec<(u64, BatchBuilder)>,
        mut drain: bool,
    ) {
        for (id, builder) in to_build.drain(..) {
            let built = builder.build_batch().map_err(WeirError::from);
            let mut q = lock(&ps.queue);
            q.deposit(id, built);
            drain |= q.claim_drain();
        }
        if drain {
            self.drain(ps);
        }
    }

    /// Appends the record to the partition's open batch (opening one, and
    /// sealing a full one, as needed), holding its `buffer.memory`. Batches
    /// sealed by size go to `to_build` for the caller to build unlocked.
    #[expect(clippy::too_many_arguments, reason = "one send's parts, in one place")]
    fn append_to_queue(
        &self,
        topic: &Arc<TopicState>,
        partition: usize,
        ps: &PartitionState,
        record: &ProducerRecord,
        size: usize,
        timestamp: i64,
        callback: Option<Callback>,
        to_build: &mut Vec<(u64, BatchBuilder)>,
    ) -> Result<Appended, WeirError> {
        let key = record.key.as_deref();
        let linger_zero = self.config.linger.is_zero();
        let size64 = size as u64;
        // Memory this record reserved while the queue was unlocked (when it
        // had to wait for memory), for the batch that takes it.
        let mut held = 0u64;
        // Senders wait for memory: this batch is sent at once (see `reserve`).
        let mut exhausted = false;
        let mut q = loop {
            let mut q = lock(&ps.queue);
            // Checked again under the queue's lock: `close` sets the flag and
            // then takes every queue's lock, so a send either is in a batch
            // that close sends or sees the flag here.
            if self.closed.load(Ordering::Acquire) {
                drop(q);
                self.release(held);
                return Err(WeirError::Closed {
                    what: format!("producer {}", self.config.client_id),
                });
            }
            if let Some(open) = &q.open
                && !open.has_room_for(size)
                && let Some(full) = q.open.take()
            {
                to_build.push(q.seal_to_build(full));
            }
            // Memory is taken before a batch opens (as Kafka's accumulator
            // allocates a batch's buffer before it creates the batch): a
            // sender waiting for memory leaves no empty batch behind that
            // `flush` or `close` would wait for. It is taken a batch at a
            // time: most records fit what their batch holds already, and
            // touch no counter shared by all senders.
            let (used, reserved) = q.open.as_ref().map_or((0, 0), |o| (o.used, o.reserved));
            let shortfall = (used + size64).saturating_sub(reserved);
            let batch_worth = self.config.batch_size as u64;
            let taken = if held > 0 {
                // held = size64 >= shortfall, as used <= reserved. Taken even
                // when another sender's reservation left room meanwhile: the
                // batch gives it back with the rest when it completes.
                std::mem::take(&mut held)
            } else if shortfall == 0 {
                0
            } else if shortfall <= batch_worth && self.shared.try_reserve(batch_worth) {
                batch_worth
            } else if self.shared.try_reserve(shortfall) {
                shortfall
            } else {
                // Wait for memory (up to max.block.ms) without holding the
                // queue; nothing was opened for this record. A batch this
                // record sealed is built and sent first: until then it
                // holds its memory and its partition's later batches.
                drop(q);
                self.build_and_drain(ps, to_build, false);
                self.reserve(size64)?;
                held = size64;
                continue;
            };
            if taken > 0 {
                // Checked once per reservation, not per record.
                exhausted = self.shared.memory.waiting.load(Ordering::Acquire) > 0;
            }
            if q.open.is_none() {
                let batch = self.new_batch(q.next_sequence, &topic.name, partition, ps);
                if !linger_zero {
                    self.schedule_linger(
                        weir_log::clock::instant_after(batch.created, self.config.linger),
                        batch.id,
                        topic,
                        partition,
                    );
                }
                q.open = Some(batch);
            }
            let Some(open) = q.open.as_mut() else {
                self.release(taken);
                return Err(WeirError::InvalidArgument("no open batch".into()));
            };
            open.reserved += taken;
            break q;
        };
        let Some(open) = q.open.as_mut() else {
            return Err(WeirError::InvalidArgument("no open batch".into()));
        };
        let estimated_before = open.estimated_size();
        let delta = match open.builder.append_parts(
            timestamp,
            key,
            record.value.as_deref(),
            &record.headers,
        ) {
            Ok(d) => d,
            Err(e) => {
                let freed = self.discard_empty_open(&mut q);
                drop(q);
                self.release(freed);
                return Err(e.into());
            }
        };
        open.used += size64;
        open.records += 1;
        // What the record adds to the batch by the estimate (compressed when
        // the batch is), as Kafka's accumulator tells its partitioner.
        let estimated_bytes = open.estimated_size().saturating_sub(estimated_before);
        if open.records == 1 {
            // Waited for by `flush` and `close` from its first record on:
            // an empty batch is never waited for.
            lock(&self.shared.outstanding).insert(open.id, Arc::clone(&open.result));
        }
        let slot = RecordSlot {
            offset_delta: delta,
            timestamp,
            key_size: key.map_or(-1, |k| i32::try_from(k.len()).unwrap_or(i32::MAX)),
            value_size: record
                .value
                .as_ref()
                .map_or(-1, |v| i32::try_from(v.len()).unwrap_or(i32::MAX)),
        };
        if let Some(callback) = callback {
            open.callbacks.push((slot.clone(), callback));
        }
        let result = Arc::clone(&open.result);
        if self.producer_id >= 0 {
            q.next_sequence = increment_sequence(q.next_sequence, 1);
        }
        let full = q.open.as_ref().is_some_and(OpenBatch::is_full);
        if full && let Some(sealed) = q.open.take() {
            to_build.push(q.seal_to_build(sealed));
        } else if ((linger_zero && !q.draining) || exhausted)
            && let Some(sealed) = q.open.take()
        {
            // linger.ms=0, or memory is short: sent now, built by this
            // thread as it drains (or by the partition's drainer).
            q.seal(sealed);
        }
        let drain = q.claim_drain();
        Ok(Appended {
            slot,
            result,
            full,
            drain,
            estimated_bytes,
        })
    }

    /// Drops the partition's open batch if it holds no record (one a failed
    /// send opened), returning the memory it had reserved. Nothing waits for
    /// it: a batch is outstanding from its first record on.
    fn discard_empty_open(&self, q: &mut Queue) -> u64 {
        match q.open.take() {
            Some(open) if open.builder.is_empty() => {
                if !self.config.linger.is_zero() {
                    lock(&self.linger.due).1.remove(&open.id);
                }
                open.reserved
            }
            other => {
                q.open = other;
                0
            }
        }
    }

    fn new_batch(
        &self,
        base_sequence: i32,
        topic: &Arc<str>,
        partition: usize,
        ps: &PartitionState,
    ) -> OpenBatch {
        let topic_config = ps.log.config();
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        // A record's size estimate leaves out at most 15 bytes of varints
        // (36 bytes of framing at most, 21 counted), so a batch sealed 15
        // bytes short of max.message.bytes never passes it.
        let max_message_bytes =
            usize::try_from(topic_config.max_message_bytes).unwrap_or(usize::MAX);
        // batch.size bounds the batch as it will be written: compressed,
        // by the topic's estimated ratio, as Kafka's producer sizes it.
        let compressed = self.config.compression.compression() != Compression::None;
        let ratio = if compressed {
            f64::from(ps.compression_ratio.get()) * f64::from(RatioEstimate::MARGIN)
        } else {
            1.0
        };
        // Records that do not compress come out a little larger than they
        // went in, from the producer's codec or from the topic's when the
        // log compresses the batch again: a batch's records stop that much
        // short of max.message.bytes (the log would refuse the batch, and
        // there is no splitting one).
        let mut expansion = worst_expansion(self.config.compression, max_message_bytes);
        if let Some(topic) = topic_config
            .recompression()
            .filter(|t| t.compression() != self.config.compression.compression())
        {
            expansion = expansion.max(worst_expansion(topic, max_message_bytes));
        }
        let cap = max_message_bytes
            .saturating_sub(15)
            .saturating_sub(expansion);
        let idempotent = self.producer_id >= 0;
        let result = Arc::new(BatchResult::new(
            Arc::clone(topic),
            i32::try_from(partition).unwrap_or(i32::MAX),
        ));
        OpenBatch {
            id,
            builder: BatchBuilder::with_capacity(
                BatchOptions {
                    compression: self.config.compression,
                    producer_id: self.producer_id,
                    producer_epoch: if idempotent { 0 } else { -1 },
                    base_sequence: if idempotent { base_sequence } else { -1 },
                    ..BatchOptions::default()
                },
                // What it first takes of buffer.memory; it grows as its
                // records take more.
                self.config.batch_size.min(cap).min(1 << 20),
            ),
            created: Instant::now(),
            result,
            reserved: 0,
            used: 0,
            records: 0,
            callbacks: Vec::new(),
            batch_size: self.config.batch_size,
            ratio,
            cap,
        }
    }

    fn schedule_linger(
        &self,
        at: Instant,
        batch_id: u64,
        topic: &Arc<TopicState>,
        partition: usize,
    ) {
        let mut l = lock(&self.linger.due);
        let wake = l.0.peek().is_none_or(|Reverse((first, _, _))| at < *first);
        l.0.push(Reverse((at, batch_id, partition)));
        l.1.insert(batch_id, Arc::clone(topic));
        drop(l);
        if wake {
            self.linger.cv.notify_all();
        }
    }

    /// A send that failed after its record was accepted for sending (no
    /// memory within `max.block.ms`, an unknown topic or partition): counted
    /// in `record-error-total`, as Kafka's producer counts the errors of
    /// `send` itself.
    fn send_failed(&self, topic: &str, e: WeirError) -> WeirError {
        self.shared.metrics.error(topic.to_owned(), 1);
        e
    }

    fn reserve(&self, n: u64) -> Result<(), WeirError> {
        let memory = &self.shared.memory;
        if self.shared.try_reserve(n) {
            return Ok(());
        }
        let deadline = weir_log::clock::deadline_in(self.config.max_block);
        memory.waiting.fetch_add(1, Ordering::AcqRel);
        // As Kafka's accumulator when a sender waits for memory (it is
        // "exhausted"): every batch is sent now, lingering ones included, so
        // the memory they hold comes back. Batches opened while this sender
        // waits are sealed at their first record (see `append_to_queue`).
        self.send_all();
        let mut guard = lock(&memory.lock);
        let result = loop {
            if self.shared.try_reserve(n) {
                break Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                break Err(WeirError::BufferExhausted {
                    needed: n,
                    buffer_memory: memory.limit,
                    max_block_ms: u64::try_from(self.config.max_block.as_millis())
                        .unwrap_or(u64::MAX),
                });
            }
            guard = memory
                .cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(guard);
        memory.waiting.fetch_sub(1, Ordering::AcqRel);
        result
    }

    fn release(&self, n: u64) {
        self.shared.release(n);
    }

    /// Sends the partition's sealed batches in order (the caller set
    /// `draining`); with `linger.ms=0`, also what accumulated meanwhile. Stops
    /// at a batch another thread is still building: that thread drains next.
    fn drain(&self, ps: &PartitionState) {
        loop {
            let sealed = {
                let mut q = lock(&ps.queue);
                match q.sealed.front() {
                    Some(s) if s.building => {
                        q.draining = false;
                        return;
                    }
                    Some(_) => q.sealed.pop_front(),
                    None => match q.open.take() {
                        Some(open) if self.config.linger.is_zero() && !open.builder.is_empty() => {
                            let uncompressed = open.builder.uncompressed_size();
                            Some(Sealed {
                                batch: open,
                                built: None,
                                building: false,
                                uncompressed,
                            })
                        }
                        other => {
                            q.open = other;
                            q.draining = false;
                            return;
                        }
                    },
                }
            };
            if let Some(sealed) = sealed {
                self.send_batch(ps, sealed);
            }
        }
    }

    fn send_batch(&self, ps: &PartitionState, sealed: Sealed) {
        let log = &ps.log;
        let Sealed {
            mut batch,
            built,
            uncompressed,
            ..
        } = sealed;
        if !self.config.linger.is_zero() {
            // Its linger deadline no longer matters (see `linger_loop`).
            lock(&self.linger.due).1.remove(&batch.id);
        }
        let records = batch.records;
        // Counted as sent when its request would be built, as Kafka's
        // `record-send-total`: a batch that fails counts here and in
        // `record-error-total`.
        ps.sent.increment(records as u64);
        let started = Instant::now();
        let built = built.unwrap_or_else(|| {
            let builder = std::mem::replace(
                &mut batch.builder,
                BatchBuilder::new(BatchOptions::default()),
            );
            builder.build_batch().map_err(WeirError::from)
        });
        let lost = ps.sequences_lost.load(Ordering::Relaxed);
        let appended = built.and_then(|mut batch| {
            self.shared
                .metrics
                .batch(batch.len(), uncompressed, records);
            if self.config.compression.compression() != Compression::None {
                let header = weir_record::layout::RECORD_BATCH_OVERHEAD;
                ps.compression_ratio.observe(
                    batch.len().saturating_sub(header),
                    uncompressed.saturating_sub(header),
                );
            }
            if self.producer_id >= 0 && lost != 0 {
                renumber(&mut batch, lost)?;
            }
            // Built by this producer's BatchBuilder: the log need not walk
            // its records again.
            log.append_built(batch).map_err(WeirError::from)
        });
        let durable = self.config.acks == Acks::All;
        match appended {
            Err(e) => {
                if self.producer_id >= 0 {
                    // The log did not take these sequences: the next batch
                    // starts where this one did.
                    let n = i32::try_from(records).unwrap_or(i32::MAX);
                    ps.sequences_lost
                        .store(increment_sequence(lost, n), Ordering::Relaxed);
                }
                if durable || !batch.callbacks.is_empty() {
                    // After the partition's batches still waiting for their
                    // fsync, and with its callbacks off the caller's thread.
                    self.hand_off(Completion::Known {
                        batch,
                        outcome: Err(e),
                    });
                } else {
                    self.complete(batch, Err(e));
                }
            }
            Ok(info) => {
                let delivered = Delivered {
                    base_offset: info.base_offset,
                    log_append_time: info.log_append_time,
                };
                if durable {
                    self.hand_off(Completion::Durable {
                        log: Arc::clone(log),
                        end_offset: info.last_offset + 1,
                        batch,
                        delivered,
                        sent: started,
                    });
                } else {
                    self.shared.metrics.latency(started.elapsed());
                    if batch.callbacks.is_empty() {
                        // Futures only: complete here, at no extra cost.
                        self.complete(batch, Ok(delivered));
                    } else {
                        self.hand_off(Completion::Known {
                            batch,
                            outcome: Ok(delivered),
                        });
                    }
                }
            }
        }
    }

    /// Gives a batch to the completion thread, which completes it after
    /// those handed over before it; completes it here once that thread is
    /// gone (the producer closed).
    fn hand_off(&self, completion: Completion) {
        let refused = match lock(&self.completions).as_ref() {
            Some(tx) => tx.send(completion).err().map(|mpsc::SendError(c)| c),
            None => Some(completion),
        };
        if let Some(c) = refused {
            finish(vec![c], &self.shared);
        }
    }

    fn complete(&self, batch: OpenBatch, outcome: Result<Delivered, WeirError>) {
        complete_batch(batch, outcome, &self.shared);
    }

    /// Sends every batch now and waits for the batches that existed when it
    /// was called (so for every record sent before it). A batch opened while
    /// it runs, by another thread or a delivery callback, is sent by a later
    /// flush, by `close`, or at its `linger.ms`, as in Kafka.
    fn flush(&self) {
        let pending: Vec<Arc<BatchResult>> =
            lock(&self.shared.outstanding).values().cloned().collect();
        self.send_all();
        for r in pending {
            r.wait();
        }
    }

    /// Flushes until nothing is outstanding, for `close` and drop (no new
    /// send is accepted then, but a callback or a send already under way
    /// may still open a batch).
    fn flush_everything(&self) {
        self.flush_everything_until(None);
    }

    /// As [`flush_everything`](Self::flush_everything), until `deadline`;
    /// whether nothing is outstanding.
    fn flush_everything_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            let pending: Vec<Arc<BatchResult>> =
                lock(&self.shared.outstanding).values().cloned().collect();
            if pending.is_empty() {
                return true;
            }
            self.send_all();
            for r in pending {
                match deadline {
                    Some(d) => {
                        if !r.wait_until(d) {
                            return false;
                        }
                    }
                    None => r.wait(),
                }
            }
        }
    }

    /// Seals every open batch and sends what is sealed (unless another
    /// thread is sending a partition's batches already).
    fn send_all(&self) {
        let topics: Vec<Arc<TopicState>> = self
            .topics
            .load()
            .values()
            .map(|(_, s)| Arc::clone(s))
            .collect();
        for topic in &topics {
            for ps in &topic.partitions {
                let drain = {
                    let mut q = lock(&ps.queue);
                    if let Some(open) = q.open.take() {
                        if open.builder.is_empty() {
                            q.open = Some(open);
                        } else {
                            q.seal(open);
                        }
                    }
                    q.claim_drain()
                };
                if drain {
                    self.drain(ps);
                }
            }
        }
    }
}

/// The batch with its base sequence moved down by `lost` (in Kafka's
/// sequence space, which wraps from `i32::MAX` to 0), its CRC recomputed.
fn renumber(batch: &mut BuiltBatch, lost: i32) -> Result<(), WeirError> {
    let base = i64::from(weir_record::RecordBatch::new(batch.as_bytes().clone())?.base_sequence());
    let space = i64::from(i32::MAX) + 1;
    let renumbered = i32::try_from((base - i64::from(lost)).rem_euclid(space)).unwrap_or(0);
    batch.set_base_sequence(renumbered);
    Ok(())
}

thread_local! {
    /// Whether this thread is running delivery callbacks.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

fn in_callback() -> bool {
    IN_CALLBACK.with(Cell::get)
}

/// Marks the thread as running delivery callbacks until dropped (also when a
/// callback panics).
struct CallbackScope(bool);

impl CallbackScope {
    fn enter() -> Self {
        CallbackScope(IN_CALLBACK.with(|c| c.replace(true)))
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(self.0));
    }
}

fn complete_batch(batch: OpenBatch, outcome: Result<Delivered, WeirError>, shared: &Shared) {
    let records = batch.records;
    let scope = (!batch.callbacks.is_empty()).then(CallbackScope::enter);
    // Callbacks run before the batch counts as complete, so `flush` (which
    // waits for completion) returns only after they ran, as in Kafka.
    for (slot, callback) in batch.callbacks {
        let result = match &outcome {
            Ok(d) => Ok(slot.metadata(&batch.result, Some(d))),
            Err(e) => Err(e.clone()),
        };
        // A callback that panics neither stops the other callbacks nor
        // leaves its batch incomplete (as Kafka's producer catches and logs
        // a callback's exception); the panic hook has reported it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || callback(result)));
    }
    drop(scope);
    let failed = outcome.is_err();
    batch.result.complete(outcome);
    shared.release(batch.reserved);
    lock(&shared.outstanding).remove(&batch.id);
    if records > 0 && failed {
        shared
            .metrics
            .error(Arc::clone(batch.result.topic()), records);
    }
}

/// Completes `completions` in order, after one group-committed fsync per
/// partition of those that wait for it.
fn finish(completions: Vec<Completion>, shared: &Shared) {
    let mut targets: HashMap<*const PartitionLog, (Arc<PartitionLog>, i64)> = HashMap::new();
    for c in &completions {
        if let Completion::Durable {
            log, end_offset, ..
        } = c
        {
            let e = targets
                .entry(Arc::as_ptr(log))
                .or_insert_with(|| (Arc::clone(log), *end_offset));
            e.1 = e.1.max(*end_offset);
        }
    }
    let mut results: HashMap<*const PartitionLog, Result<(), WeirError>> = HashMap::new();
    for (key, (log, end)) in targets {
        results.insert(key, log.flush_until(end).map_err(WeirError::from));
    }
    for c in completions {
        match c {
            Completion::Durable {
                log,
                batch,
                delivered,
                sent,
                ..
            } => {
                let outcome = match results.get(&Arc::as_ptr(&log)) {
                    Some(Err(e)) => Err(e.clone()),
                    _ => Ok(delivered),
                };
                shared.metrics.latency(sent.elapsed());
                complete_batch(batch, outcome, shared);
            }
            Completion::Known { batch, outcome } => complete_batch(batch, outcome, shared),
        }
    }
}

fn completion_loop(rx: &Receiver<Completion>, shared: &Shared) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        finish(batch, shared);
    }
}

fn linger_loop(linger: &Linger, weak: &Weak<Inner>) {
    loop {
        let mut due = Vec::new();
        {
            let mut l = lock(&linger.due);
            loop {
                if linger.closed.load(Ordering::Acquire) {
                    return;
                }
                let now = Instant::now();
                while let Some(Reverse((at, id, p))) = l.0.peek().copied() {
                    // A batch already sent (sealed by size or by a flush) left
                    // the map: drop its deadline without waking for it.
                    if !l.1.contains_key(&id) {
                        l.0.pop();
                        continue;
                    }
                    if at > now {
                        break;
                    }
                    l.0.pop();
                    if let Some(topic) = l.1.remove(&id) {
                        due.push((topic, p, id));
                    }
                }
                if !due.is_empty() {
                    break;
                }
                l = match l.0.peek().copied() {
                    Some(Reverse((at, _, _))) => {
                        linger
                            .cv
                            .wait_timeout(l, at.saturating_duration_since(now))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    None => linger.cv.wait(l).unwrap_or_else(PoisonError::into_inner),
                };
            }
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        for (topic, p, id) in due {
            let Some(ps) = topic.partitions.get(p) else {
                continue;
            };
            let drain = {
                let mut q = lock(&ps.queue);
                if q.open.as_ref().is_some_and(|o| o.id == id)
                    && let Some(open) = q.open.take()
                {
                    q.seal(open);
                }
                q.claim_drain()
            };
            if drain {
                inner.drain(ps);
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: deliver what is still buffered. This runs
        // on the thread that dropped it, or in a callback on the completion
        // thread. The completion thread completes what is sent, in order,
        // and stops once its channel closes (below).
        if in_callback() {
            // Dropped by a delivery callback: waiting would wait for the
            // batch whose callback this is. Everything is sent, not waited
            // for.
            self.send_all();
        } else {
            self.flush_everything();
        }
        lock(&self.completions).take();
        self.linger.close();
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchSizing, Compression, RatioEstimate, worst_expansion};

    #[test]
    fn the_room_for_expansion_covers_each_codecs_worst_input() {
        // 200,000 bytes crafted against snappy's matcher (and random for the
        // others), which snappy grows by over 0.6 %.
        let crafted = include_bytes!("../testdata/snappy-worst-case.bin");
        for codec in [
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Gzip,
        ] {
            for level in [None, Some(1)] {
                let config = match level {
                    Some(l) if codec == Compression::Gzip => {
                        weir_record::CompressionConfig::with_level(codec, l).unwrap()
                    }
                    _ => weir_record::CompressionConfig::new(codec),
                };
                let mut out = Vec::new();
                weir_codec::compress(&config, crafted, &mut out).unwrap();
                let grew = out.len().saturating_sub(crafted.len());
                let room = worst_expansion(config, crafted.len());
                assert!(grew <= room, "{config:?}: grew {grew}, room {room}");
            }
        }
    }

    #[test]
    fn a_batch_has_room_by_kafkas_rule() {
        // Compressing to about a tenth (ratio 0.1 with the 1.05 margin), a
        // 16 KiB batch: a new record counts at its full size, the records
        // already in by the estimate.
        let at = |uncompressed: usize| BatchSizing {
            uncompressed,
            empty: false,
            batch_size: 16_384,
            ratio: 0.105,
            cap: 1_000_000,
        };
        // 61 + 70_000 * 0.105 = 7_411: an 8_000-byte record fits.
        assert!(at(61 + 70_000).has_room_for(8_000));
        // 61 + 80_000 * 0.105 = 8_461: it does not.
        assert!(!at(61 + 80_000).has_room_for(8_000));
        assert!(!at(61 + 80_000).is_full());
        assert!(at(61 + 156_000).is_full());
        // An empty batch takes any record; the cap bounds the records'
        // size before compression whatever the estimate.
        let empty = BatchSizing {
            empty: true,
            ..at(61)
        };
        assert!(empty.has_room_for(5_000_000));
        let capped = BatchSizing {
            cap: 10_000,
            ratio: 0.001,
            ..at(9_000)
        };
        assert!(!capped.has_room_for(1_001));
        assert!(capped.has_room_for(1_000));
        // Without compression the ratio is 1: batch.size counts the bytes.
        let plain = BatchSizing {
            ratio: 1.0,
            ..at(16_000)
        };
        assert!(!plain.has_room_for(385));
        assert!(plain.has_room_for(384));
    }

    #[test]
    fn the_ratio_estimate_moves_as_kafkas() {
        let r = RatioEstimate::new();
        assert_eq!(r.get(), 1.0);
        // Better compression: down by 0.005 a batch at most.
        r.observe(200, 1000);
        assert!((r.get() - 0.995).abs() < 1e-6, "{}", r.get());
        // Worse than the estimate: up at once, by 0.05 at least.
        r.observe(1000, 1000);
        assert!((r.get() - 1.045).abs() < 1e-6, "{}", r.get());
        r.observe(3000, 1000);
        assert!((r.get() - 3.0).abs() < 1e-6, "{}", r.get());
        // A hundred batches that compress to a tenth: from 1 to 0.5.
        let r = RatioEstimate::new();
        for _ in 0..100 {
            r.observe(100, 1000);
        }
        assert!((r.get() - 0.5).abs() < 1e-4, "{}", r.get());
    }
}

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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI16, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use arc_swap::ArcSwap;
use weir_partition::{BuiltInPartitioner, Partitioner, RoundRobinPartitioner};

use crate::delivery::DeliveryFuture;
use crate::error::WeirError;
use crate::metrics::ProducerMetrics;
use crate::producer_config::{PartitionerChoice, ProducerConfig};
use crate::record::{ProducerRecord, RecordMetadata};
use crate::weir::Weir;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

type Callback = Box<dyn FnOnce(Result<RecordMetadata, WeirError>) + Send>;

mod accumulate;
mod batch;
mod send;
mod shared;
mod txn;

use send::{completion_loop, in_callback, linger_loop};
use shared::{Completion, Linger, Memory, Shared, TopicMap};

struct Inner {
    weir: Weir,
    config: ProducerConfig,
    partitioner: Arc<dyn Partitioner>,
    /// -1 without idempotence; for a transactional producer, set by
    /// `init_transactions` (before which nothing is sent).
    producer_id: AtomicI64,
    producer_epoch: AtomicI16,
    /// The transaction state of a producer with a `transactional.id`.
    txn: Option<txn::Txn>,
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
            .field("producer_id", &self.inner.producer_id())
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
        let txn = config
            .transactional_id
            .clone()
            .map(|id| txn::Txn::new(id, config.transaction_timeout));
        let txn_failure = txn.as_ref().map(txn::Txn::failure_slot);
        let inner = Arc::new(Inner {
            weir: weir.clone(),
            producer_id: AtomicI64::new(
                if config.enable_idempotence && config.transactional_id.is_none() {
                    fastrand::i64(1..i64::MAX)
                } else {
                    -1
                },
            ),
            producer_epoch: AtomicI16::new(0),
            txn,
            shared: Arc::new(Shared {
                memory: Memory {
                    used: AtomicU64::new(0),
                    waiting: std::sync::atomic::AtomicUsize::new(0),
                    lock: Mutex::new(()),
                    cv: Condvar::new(),
                    limit: config.buffer_memory,
                    gauge: Mutex::new(()),
                },
                outstanding: Mutex::new(HashMap::new()),
                metrics,
                txn_failure,
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
        self.inner.producer_id()
    }

    /// The producer epoch stamped on batches (0 but for a transactional
    /// producer, whose epoch each `init_transactions` with its
    /// `transactional.id` raises).
    pub fn producer_epoch(&self) -> i16 {
        self.inner.producer_epoch.load(Ordering::Acquire)
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
        if delivered {
            // A transaction left open is aborted, not left to its timeout.
            self.inner.abort_open_transaction();
        }
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
            self.abort_open_transaction();
        }
        lock(&self.completions).take();
        self.linger.close();
    }
}

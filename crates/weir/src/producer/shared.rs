//! What the producer's threads share: topics and their partitions' queues,
//! `buffer.memory`, the linger timers and the completion thread's work.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use weir_log::PartitionLog;

use crate::delivery::{BatchResult, Delivered};
use crate::error::WeirError;
use crate::metrics::ProducerMetrics;

use super::batch::{OpenBatch, PartitionState};
use super::lock;

pub(super) struct TopicState {
    pub(super) name: Arc<str>,
    pub(super) partitions: Vec<Arc<PartitionState>>,
}

/// A batch for the completion thread, which completes batches in the order
/// they were handed to it (so a partition's in the order they were sent).
pub(super) enum Completion {
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
pub(super) struct Memory {
    pub(super) used: AtomicU64,
    pub(super) waiting: std::sync::atomic::AtomicUsize,
    pub(super) lock: Mutex<()>,
    pub(super) cv: Condvar,
    pub(super) limit: u64,
    /// Held while `buffer-available-bytes` is read from `used` and set:
    /// the last value set is then the latest reading, whatever the order in
    /// which threads took and gave back memory.
    pub(super) gauge: Mutex<()>,
}

impl Memory {
    pub(super) fn try_reserve(&self, n: u64) -> bool {
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

pub(super) type TopicMap = HashMap<Box<str>, (u64, Arc<TopicState>), foldhash::fast::RandomState>;

/// The topic's state in `map` if it was read at metadata `version`.
#[inline]
pub(super) fn current_topic<'m>(
    map: &'m TopicMap,
    topic: &str,
    version: u64,
) -> Option<&'m Arc<TopicState>> {
    map.get(topic)
        .filter(|(v, _)| *v == version)
        .map(|(_, state)| state)
}

pub(super) type LingerEntry = Reverse<(Instant, u64, usize)>;
/// Deadlines by (time, batch id, partition), and each batch's topic.
pub(super) type LingerDue = (BinaryHeap<LingerEntry>, HashMap<u64, Arc<TopicState>>);

/// Batches waiting for `linger.ms`, shared with the timer thread (which holds
/// the producer only weakly, so dropping the last handle ends it).
#[derive(Default)]
pub(super) struct Linger {
    pub(super) due: Mutex<LingerDue>,
    pub(super) cv: Condvar,
    pub(super) closed: AtomicBool,
}

impl Linger {
    /// Tells the timer thread to stop. The flag is set under the lock the
    /// thread checks it under, so the wake-up cannot fall between its check
    /// and its wait (it may wait with no deadline when nothing lingers).
    pub(super) fn close(&self) {
        let guard = lock(&self.due);
        self.closed.store(true, Ordering::Release);
        drop(guard);
        self.cv.notify_all();
    }
}

/// What completing a batch needs; shared with the completion thread, which
/// must never hold the producer itself (its drop flushes and waits for it).
pub(super) struct Shared {
    pub(super) memory: Memory,
    pub(super) outstanding: Mutex<HashMap<u64, Arc<BatchResult>>>,
    pub(super) metrics: ProducerMetrics,
    /// A transactional producer's: where failed batches are recorded.
    pub(super) txn_failure: Option<super::txn::FailureSlot>,
}

impl Shared {
    /// Takes `n` bytes of `buffer.memory` if they are free, keeping
    /// `buffer-available-bytes` current.
    pub(super) fn try_reserve(&self, n: u64) -> bool {
        let taken = self.memory.try_reserve(n);
        if taken {
            self.report_available();
        }
        taken
    }

    pub(super) fn report_available(&self) {
        let m = &self.memory;
        let _reading = lock(&m.gauge);
        self.metrics
            .buffer_available(m.limit.saturating_sub(m.used.load(Ordering::Acquire)));
    }

    pub(super) fn release(&self, n: u64) {
        let m = &self.memory;
        m.used.fetch_sub(n, Ordering::AcqRel);
        self.report_available();
        if m.waiting.load(Ordering::Acquire) > 0 {
            let _g = lock(&m.lock);
            m.cv.notify_all();
        }
    }
}

//! The delivering side (Kafka's `Sender`): sealed batches appended in order,
//! deliveries completed per `acks`, flushes, callbacks and the producer's threads.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Instant;

use weir_log::PartitionLog;
use weir_record::{BatchBuilder, BatchOptions, BuiltBatch, Compression, increment_sequence};

use crate::delivery::{BatchResult, Delivered};
use crate::error::WeirError;
use crate::producer_config::Acks;

use super::batch::{OpenBatch, PartitionState, Sealed};
use super::shared::{Completion, Linger, Shared, TopicState};
use super::{Inner, lock};

impl Inner {
    /// Sends the partition's sealed batches in order (the caller set
    /// `draining`); with `linger.ms=0`, also what accumulated meanwhile. Stops
    /// at a batch another thread is still building: that thread drains next.
    pub(super) fn drain(&self, ps: &PartitionState) {
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

    pub(super) fn send_batch(&self, ps: &PartitionState, sealed: Sealed) {
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
            if self.producer_id() >= 0 && lost != 0 {
                renumber(&mut batch, lost)?;
            }
            if let Some(txn) = &self.txn {
                // The partition joins the transaction before its first batch.
                txn.join(&self.weir, self.producer_id(), self.producer_epoch(), log)?;
            }
            // Built by this producer's BatchBuilder: the log need not walk
            // its records again.
            log.append_built(batch).map_err(WeirError::from)
        });
        let durable = self.config.acks == Acks::All;
        match appended {
            Err(e) => {
                if self.producer_id() >= 0 {
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
    pub(super) fn hand_off(&self, completion: Completion) {
        let refused = match lock(&self.completions).as_ref() {
            Some(tx) => tx.send(completion).err().map(|mpsc::SendError(c)| c),
            None => Some(completion),
        };
        if let Some(c) = refused {
            finish(vec![c], &self.shared);
        }
    }

    pub(super) fn complete(&self, batch: OpenBatch, outcome: Result<Delivered, WeirError>) {
        complete_batch(batch, outcome, &self.shared);
    }

    /// Sends every batch now and waits for the batches that existed when it
    /// was called (so for every record sent before it). A batch opened while
    /// it runs, by another thread or a delivery callback, is sent by a later
    /// flush, by `close`, or at its `linger.ms`, as in Kafka.
    pub(super) fn flush(&self) {
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
    pub(super) fn flush_everything(&self) {
        self.flush_everything_until(None);
    }

    /// As [`flush_everything`](Self::flush_everything), until `deadline`;
    /// whether nothing is outstanding.
    pub(super) fn flush_everything_until(&self, deadline: Option<Instant>) -> bool {
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
    pub(super) fn send_all(&self) {
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
pub(super) fn renumber(batch: &mut BuiltBatch, lost: i32) -> Result<(), WeirError> {
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

pub(super) fn in_callback() -> bool {
    IN_CALLBACK.with(Cell::get)
}

/// Marks the thread as running delivery callbacks until dropped (also when a
/// callback panics).
pub(super) struct CallbackScope(bool);

impl CallbackScope {
    pub(super) fn enter() -> Self {
        CallbackScope(IN_CALLBACK.with(|c| c.replace(true)))
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(self.0));
    }
}

pub(super) fn complete_batch(
    batch: OpenBatch,
    outcome: Result<Delivered, WeirError>,
    shared: &Shared,
) {
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
    if let (Err(e), Some(slot)) = (&outcome, &shared.txn_failure) {
        // Before the batch counts as complete: a commit that flushed sees it.
        super::txn::record_failure(slot, e);
    }
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
pub(super) fn finish(completions: Vec<Completion>, shared: &Shared) {
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

pub(super) fn completion_loop(rx: &Receiver<Completion>, shared: &Shared) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        finish(batch, shared);
    }
}

pub(super) fn linger_loop(linger: &Linger, weak: &Weak<Inner>) {
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

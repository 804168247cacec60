//! The outcome of a send: a shared result per batch, and a per-record
//! [`DeliveryFuture`] that can be waited on (blocking) or awaited (any
//! executor).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use event_listener::{Event, EventListener};

use crate::error::WeirError;
use crate::record::RecordMetadata;
use crate::wait::block_until;

/// Where a batch landed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered {
    pub(crate) base_offset: i64,
    pub(crate) log_append_time: Option<i64>,
}

/// The outcome of one batch, shared by its records' futures, with the topic
/// and partition they were sent to.
#[derive(Debug)]
pub(crate) struct BatchResult {
    outcome: OnceLock<Result<Delivered, WeirError>>,
    event: Event,
    topic: Arc<str>,
    partition: i32,
}

impl BatchResult {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Self {
        BatchResult {
            outcome: OnceLock::new(),
            event: Event::new(),
            topic,
            partition,
        }
    }

    pub(crate) fn topic(&self) -> &Arc<str> {
        &self.topic
    }

    pub(crate) fn complete(&self, outcome: Result<Delivered, WeirError>) {
        let _ = self.outcome.set(outcome);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn get(&self) -> Option<&Result<Delivered, WeirError>> {
        self.outcome.get()
    }

    pub(crate) fn listen(&self) -> EventListener {
        self.event.listen()
    }

    /// Blocks until complete or `deadline`; whether it completed.
    pub(crate) fn wait_until(&self, deadline: std::time::Instant) -> bool {
        while self.get().is_none() {
            let l = self.listen();
            if self.get().is_some() {
                return true;
            }
            if event_listener::Listener::wait_deadline(l, deadline).is_none() {
                return self.get().is_some();
            }
        }
        true
    }

    /// Blocks until complete.
    pub(crate) fn wait(&self) {
        while self.get().is_none() {
            let l = self.listen();
            if self.get().is_some() {
                return;
            }
            event_listener::Listener::wait(l);
        }
    }
}

/// What a record needs to turn its batch's outcome into its metadata.
#[derive(Debug, Clone)]
pub(crate) struct RecordSlot {
    pub(crate) offset_delta: i32,
    pub(crate) timestamp: i64,
    pub(crate) key_size: i32,
    pub(crate) value_size: i32,
}

impl RecordSlot {
    pub(crate) fn metadata(
        &self,
        batch: &BatchResult,
        delivered: Option<&Delivered>,
    ) -> RecordMetadata {
        RecordMetadata {
            topic: Arc::clone(&batch.topic),
            partition: batch.partition,
            offset: delivered.map_or(-1, |d| d.base_offset + i64::from(self.offset_delta)),
            timestamp: delivered
                .and_then(|d| d.log_append_time)
                .unwrap_or(self.timestamp),
            serialized_key_size: self.key_size,
            serialized_value_size: self.value_size,
        }
    }
}

/// The delivery of one sent record: resolves to its [`RecordMetadata`] once
/// the record is as durable as `acks` asks, or to the error that stopped it.
///
/// Wait with [`wait`](Self::wait) (blocking) or `.await` it on any executor.
/// With `acks=0` it is ready at once, with offset -1, and errors are not
/// reported (as in Kafka).
///
/// It only observes the delivery: dropping it (unawaited, or cancelled by a
/// `select!`) neither cancels nor delays the record, which is delivered as
/// if it were kept.
#[derive(Debug)]
pub struct DeliveryFuture {
    result: Arc<BatchResult>,
    /// `acks=0`: ready at once, without waiting for the batch.
    unacknowledged: bool,
    slot: RecordSlot,
    listener: Option<EventListener>,
}

impl DeliveryFuture {
    pub(crate) fn new(result: Arc<BatchResult>, unacknowledged: bool, slot: RecordSlot) -> Self {
        DeliveryFuture {
            result,
            unacknowledged,
            slot,
            listener: None,
        }
    }

    fn outcome(&self) -> Option<Result<RecordMetadata, WeirError>> {
        if self.unacknowledged {
            return Some(Ok(self.slot.metadata(&self.result, None)));
        }
        self.result.get().map(|r| match r {
            Ok(d) => Ok(self.slot.metadata(&self.result, Some(d))),
            Err(e) => Err(e.clone()),
        })
    }

    /// Whether the outcome is known.
    pub fn is_done(&self) -> bool {
        self.unacknowledged || self.result.get().is_some()
    }

    /// Blocks until the record is delivered (per `acks`) or failed.
    ///
    /// # Errors
    /// The error that failed the record's batch.
    pub fn wait(mut self) -> Result<RecordMetadata, WeirError> {
        loop {
            if let Some(v) = block_until(None, |cx| Pin::new(&mut self).poll(cx)) {
                return v;
            }
        }
    }

    /// As [`wait`](Self::wait), giving up after `timeout`.
    ///
    /// # Errors
    /// [`WeirError::Timeout`], or the batch's error.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<RecordMetadata, WeirError> {
        block_until(Some(weir_log::clock::deadline_in(timeout)), |cx| {
            Pin::new(&mut self).poll(cx)
        })
        .unwrap_or_else(|| {
            Err(WeirError::Timeout {
                what: "delivery".into(),
                waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
        })
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, WeirError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Some(v) = self.outcome() {
                return Poll::Ready(v);
            }
            match self.listener.as_mut() {
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => self.listener = None,
                    Poll::Pending => return Poll::Pending,
                },
                None => {
                    let l = self.result.listen();
                    self.listener = Some(l);
                }
            }
        }
    }
}

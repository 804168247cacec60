//! A poll: its steps and deadlines, and the wait for data on many partitions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use weir_log::DataAvailable;

use event_listener::EventListener;

use crate::consumer_group::GroupStep;
use crate::consumer_records::ConsumerRecords;
use crate::error::WeirError;
use crate::wait::{Sleep, block_until};
use crate::wakeup::{ConsumerWakeup, WakeupState};

use super::Consumer;
use super::fetch::{end_offset, reset_if_needed, set_position};

pub(super) enum Step {
    Ready(ConsumerRecords),
    Wait(Instant),
}

/// A poll's timing. The clock is read only when needed: a poll answered from
/// records already buffered reads it not at all. The poll's start is the first
/// reading (before its first fetch, or when it must wait).
pub(super) struct PollState {
    pub(super) timeout: Duration,
    pub(super) fetch_max_wait: Duration,
    pub(super) start: Option<Instant>,
    /// Whether records fetched by an earlier poll were waiting when this
    /// poll began (set at its first step): they are returned at once, as
    /// Kafka's consumer returns what it already holds; `fetch.min.bytes`
    /// only holds back a poll that has to fetch.
    pub(super) leftover: Option<bool>,
    /// The partition this poll goes on with, when it held records from an
    /// earlier poll and there are others (set at its first step): it is not
    /// topped up during the poll, so that it cannot take every poll.
    pub(super) goes_on_with: Option<Option<usize>>,
    /// A read met damage (or an error) after records it returns first: the
    /// poll returns what it holds instead of waiting for `fetch.min.bytes`,
    /// and the next poll meets the damage again.
    pub(super) error_ahead: bool,
}

impl PollState {
    pub(super) fn start(&mut self) -> Instant {
        *self.start.get_or_insert_with(Instant::now)
    }

    /// `start + d`, saturating (`poll(Duration::MAX)` waits "for ever").
    pub(super) fn after(&mut self, d: Duration) -> Instant {
        weir_log::clock::instant_after(self.start(), d)
    }

    pub(super) fn deadline(&mut self) -> Instant {
        self.after(self.timeout)
    }

    pub(super) fn fetch_wait_deadline(&mut self) -> Instant {
        let wait = self.after(self.fetch_max_wait);
        wait.min(self.deadline())
    }
}

/// How often a poll looks again at a partition whose committed offset an
/// open transaction carries (Kafka's `retry.backoff.ms` default).
const STABLE_OFFSET_RETRY: Duration = Duration::from_millis(100);

impl Consumer {
    /// Returns the next records: at once if some are buffered or readable,
    /// else after waiting (by notification) up to `timeout`. Blocks the calling
    /// thread; see [`poll_async`](Self::poll_async) for a future.
    ///
    /// # Errors
    /// [`WeirError::Corrupt`] for a batch failing its CRC or decoding, naming
    /// its partition and the first offset not returned (records taken before
    /// it in the same poll are returned first; the next poll fails; seek past
    /// it to go on: see the error's `offset`);
    /// [`WeirError::NoOffsetForPartition`] (no position) and
    /// [`WeirError::OffsetOutOfRange`] (a position outside the log) with
    /// `auto.offset.reset=none`; [`WeirError::Wakeup`] once after
    /// [`ConsumerWakeup::wakeup`] (see [`wakeup_handle`](Self::wakeup_handle));
    /// [`WeirError::Closed`] after [`close`](Self::close) (nothing else
    /// happens: a closed consumer does not join its group again);
    /// [`WeirError::NotSubscribed`] with no subscription and no partitions
    /// assigned; log errors.
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords, WeirError> {
        self.check_pollable()?;
        let mut st = self.start_poll(timeout);
        let wakeup = Arc::clone(&self.wakeup);
        loop {
            self.check_wakeup()?;
            let watch = match self.group_step()? {
                GroupStep::Ready(watch) => watch,
                GroupStep::Wait(mut listener, until) => {
                    let deadline = st.deadline();
                    if Instant::now() >= deadline {
                        return Ok(ConsumerRecords::default());
                    }
                    let until = until.map_or(deadline, |u| u.min(deadline));
                    block_until(Some(until), |cx| {
                        if wakeup.poll_pending(cx) {
                            return Poll::Ready(());
                        }
                        Pin::new(&mut listener).poll(cx)
                    });
                    wakeup.clear_waker();
                    continue;
                }
            };
            match self.step(&mut st)? {
                Step::Ready(r) => return Ok(r),
                Step::Wait(until) => {
                    let until = watch.until.map_or(until, |g| g.min(until));
                    let mut waits = self.data_futures();
                    let mut group = watch.listener;
                    block_until(Some(until), |cx| {
                        if wakeup.poll_pending(cx) {
                            return Poll::Ready(());
                        }
                        if let Some(g) = group.as_mut()
                            && Pin::new(g).poll(cx).is_ready()
                        {
                            return Poll::Ready(());
                        }
                        poll_any(&mut waits, cx)
                    });
                    wakeup.clear_waker();
                }
            }
        }
    }

    /// A handle that interrupts this consumer's poll from another thread
    /// (Kafka's `wakeup()`): see [`ConsumerWakeup`].
    pub fn wakeup_handle(&self) -> ConsumerWakeup {
        ConsumerWakeup::new(Arc::clone(&self.wakeup))
    }

    /// Before a poll does anything: open, and subscribed or assigned.
    pub(super) fn check_pollable(&self) -> Result<(), WeirError> {
        self.check_open()?;
        let subscribed = self
            .membership
            .as_ref()
            .is_some_and(|m| m.subscribed.is_some());
        if !subscribed && self.parts.is_empty() {
            return Err(WeirError::NotSubscribed);
        }
        Ok(())
    }

    /// [`WeirError::Wakeup`] once for each wakeup asked for.
    pub(super) fn check_wakeup(&self) -> Result<(), WeirError> {
        if self.wakeup.take() {
            return Err(WeirError::Wakeup);
        }
        Ok(())
    }

    /// As [`poll`](Self::poll), as a future for any executor.
    ///
    /// Cancel-safe: a future dropped before it completes (the losing branch
    /// of a `select!`, a timeout around it) loses no records. What it fetched
    /// stays buffered for the next poll, and positions move only when a poll
    /// returns records.
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub async fn poll_async(&mut self, timeout: Duration) -> Result<ConsumerRecords, WeirError> {
        self.check_pollable()?;
        let mut st = self.start_poll(timeout);
        loop {
            self.check_wakeup()?;
            let watch = match self.group_step()? {
                GroupStep::Ready(watch) => watch,
                GroupStep::Wait(listener, until) => {
                    let deadline = st.deadline();
                    if Instant::now() >= deadline {
                        return Ok(ConsumerRecords::default());
                    }
                    let until = until.map_or(deadline, |u| u.min(deadline));
                    WaitAny {
                        waits: Vec::new(),
                        group: Some(listener),
                        sleep: Sleep::until(until),
                        wakeup: Arc::clone(&self.wakeup),
                    }
                    .await;
                    continue;
                }
            };
            match self.step(&mut st)? {
                Step::Ready(r) => return Ok(r),
                Step::Wait(until) => {
                    let until = watch.until.map_or(until, |g| g.min(until));
                    WaitAny {
                        waits: self.data_futures(),
                        group: watch.listener,
                        sleep: Sleep::until(until),
                        wakeup: Arc::clone(&self.wakeup),
                    }
                    .await;
                }
            }
        }
    }

    pub(super) fn start_poll(&self, timeout: Duration) -> PollState {
        PollState {
            timeout,
            fetch_max_wait: self.config.fetch_max_wait,
            start: None,
            leftover: None,
            goes_on_with: None,
            error_ahead: false,
        }
    }

    pub(super) fn step(&mut self, st: &mut PollState) -> Result<Step, WeirError> {
        self.check_open()?;
        self.follow_replaced_logs();
        self.settle_awaiting()?;
        let reset = self.config.auto_offset_reset;
        let clock = self.weir.clock();
        let read_committed = self.read_committed();
        for a in &mut self.parts {
            reset_if_needed(a, reset, read_committed, &**clock)?;
        }
        let leftover = *st.leftover.get_or_insert_with(|| {
            self.parts
                .iter()
                .any(|a| !a.paused && !a.damaged && a.buffered_records > 0)
        });
        self.fetch_round(st)?;
        let buffered: usize = self
            .parts
            .iter()
            .filter(|a| !a.paused)
            .map(|a| a.buffered_bytes)
            .sum();
        let enough =
            buffered > 0 && (leftover || st.error_ahead || buffered >= self.config.fetch_min_bytes);
        if enough {
            let records = self.collect()?;
            self.report_lag();
            if !records.is_empty() {
                return Ok(Step::Ready(records));
            }
        }
        let now = Instant::now();
        let deadline = st.deadline();
        let fetch_wait_deadline = st.fetch_wait_deadline();
        if (buffered > 0 && now >= fetch_wait_deadline) || now >= deadline {
            let records = self.collect()?;
            self.report_lag();
            if !records.is_empty() || now >= deadline {
                return Ok(Step::Ready(records));
            }
        }
        let mut until = if buffered > 0 {
            fetch_wait_deadline
        } else {
            deadline
        };
        if self.parts.iter().any(|a| a.awaiting_stable && !a.paused) {
            // Looked at again every retry.backoff.ms (100 ms), as Kafka's
            // consumer retries an UNSTABLE_OFFSET_COMMIT within its poll.
            until = until.min(now + STABLE_OFFSET_RETRY);
        }
        Ok(Step::Wait(until))
    }

    /// What a waiting poll waits on: new data in an unpaused partition. A
    /// log that is closed (its topic deleted) or latched read-only and read
    /// to its end gets no new data; its future would be ready at once, and
    /// the poll would spin on it until its timeout.
    pub(super) fn data_futures(&self) -> Vec<DataAvailable> {
        let read_committed = self.read_committed();
        self.parts
            .iter()
            .filter(|a| !a.paused && !a.awaiting_stable)
            .filter(|a| {
                !(a.log.is_closed() || a.log.is_read_only())
                    || a.fetch_position < end_offset(&a.log, read_committed)
            })
            .map(|a| {
                if read_committed {
                    a.log.committed_data_available(a.fetch_position)
                } else {
                    a.log.data_available(a.fetch_position)
                }
            })
            .collect()
    }

    /// A partition whose log was closed because its topic was deleted is
    /// looked up again (never created): once a topic of that name exists
    /// again, the partition is read from its new log, from where
    /// `auto.offset.reset` puts a partition with no position (the old
    /// position counted another log's offsets).
    pub(super) fn follow_replaced_logs(&mut self) {
        for a in &mut self.parts {
            if !a.log.is_closed() {
                continue;
            }
            let Ok(log) = self
                .weir
                .topic_or_create(&a.tp.topic, false)
                .and_then(|t| Ok(t.partition(a.tp.partition)?))
            else {
                continue;
            };
            if Arc::ptr_eq(&log, &a.log) || log.is_closed() {
                continue;
            }
            a.log = log;
            set_position(a, 0);
            a.position = None;
        }
    }
}

pub(super) fn poll_any(waits: &mut [DataAvailable], cx: &mut Context<'_>) -> Poll<()> {
    if waits.is_empty() {
        return Poll::Pending;
    }
    for w in waits.iter_mut() {
        if Pin::new(w).poll(cx).is_ready() {
            return Poll::Ready(());
        }
    }
    Poll::Pending
}

/// Resolves when any partition has data, the group changes, or the sleep
/// ends.
pub(super) struct WaitAny {
    waits: Vec<DataAvailable>,
    group: Option<EventListener>,
    sleep: Sleep,
    wakeup: Arc<WakeupState>,
}

impl Drop for WaitAny {
    fn drop(&mut self) {
        self.wakeup.clear_waker();
    }
}

impl Future for WaitAny {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.wakeup.poll_pending(cx) {
            return Poll::Ready(());
        }
        if poll_any(&mut self.waits, cx).is_ready() {
            return Poll::Ready(());
        }
        if let Some(g) = self.group.as_mut()
            && Pin::new(g).poll(cx).is_ready()
        {
            return Poll::Ready(());
        }
        Pin::new(&mut self.sleep).poll(cx)
    }
}

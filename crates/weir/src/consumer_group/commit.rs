//! Committing offsets: sync, async (with callbacks completed in order) and
//! automatic, as Kafka's consumer commits them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use weir_group::{GroupCoordinator, OffsetAndMetadata};
use weir_log::Durable;

use crate::consumer::Consumer;
use crate::error::WeirError;
use crate::record::TopicPartition;

/// Called with the outcome of an async commit.
pub type CommitCallback = Box<dyn FnOnce(Result<(), WeirError>) + Send>;

/// Where a commit goes: the coordinator, the group, and (member id, generation)
/// for a group member.
pub(super) type CommitTarget = (Arc<GroupCoordinator>, String, Option<(String, i32)>);

pub(crate) struct PendingCommit {
    outcome: PendingOutcome,
    callback: Option<CommitCallback>,
}

/// What an async commit's callback waits for.
pub(super) enum PendingOutcome {
    /// Written: its fsync, then the partition left out as unknown, if any.
    Durable(Durable, Option<WeirError>),
    /// Refused, or nothing to commit: known already, but reported after
    /// the callbacks of the commits before it, never inside `commit_async`.
    Known(Result<(), WeirError>),
}

impl PendingOutcome {
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WeirError>> {
        match self {
            PendingOutcome::Durable(d, unknown) => poll_written(d, unknown, cx),
            PendingOutcome::Known(r) => Poll::Ready(std::mem::replace(r, Ok(()))),
        }
    }
}

/// A written commit's outcome: its durability, then the partition it left
/// out as unknown, if any.
fn poll_written(
    durable: &mut Durable,
    unknown: &mut Option<WeirError>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), WeirError>> {
    match Pin::new(durable).poll(cx) {
        Poll::Ready(Ok(())) => Poll::Ready(unknown.take().map_or(Ok(()), Err)),
        other => other.map_err(WeirError::from),
    }
}

/// Kafka's default `offset.metadata.max.bytes`: the most metadata a commit
/// may carry per partition.
pub(crate) const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// The future of [`Consumer::commit_async`].
#[derive(Debug)]
pub struct CommitFuture {
    inner: CommitState,
}

#[derive(Debug)]
pub(super) enum CommitState {
    /// Written; durable once this resolves (its fsync is already requested),
    /// then reporting the partition left out as unknown, if any.
    Written(Durable, Option<WeirError>),
    /// Refused (taken when first polled).
    Failed(Option<WeirError>),
    /// Nothing to commit: done at once, as Kafka completes an empty commit.
    Nothing,
}

impl Future for CommitFuture {
    type Output = Result<(), WeirError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            CommitState::Written(d, unknown) => poll_written(d, unknown, cx),
            CommitState::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(|| {
                WeirError::InvalidArgument("commit future polled after completion".into())
            }))),
            CommitState::Nothing => Poll::Ready(Ok(())),
        }
    }
}

/// The durability of a commit, with its fsync requested now: a commit whose
/// future is dropped (auto-commit does) is still made durable in the
/// background, not only by a later `commit_sync` or `close`.
pub(super) fn durable_now(log: &Arc<weir_log::PartitionLog>, end: i64) -> Durable {
    let mut durable = log.durable(end);
    let waker = Waker::from(Arc::new(Noop));
    let _ = Pin::new(&mut durable).poll(&mut Context::from_waker(&waker));
    durable
}

pub(super) struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

impl Consumer {
    /// When the next auto-commit is due, if auto-commit is on.
    pub(super) fn next_auto_commit(&self) -> Option<Instant> {
        if !self.config.enable_auto_commit {
            return None;
        }
        let m = self.membership.as_ref()?;
        Some(weir_log::clock::instant_after(
            m.last_auto_commit,
            self.config.auto_commit_interval,
        ))
    }

    pub(super) fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit {
            return;
        }
        let interval = self.config.auto_commit_interval;
        let due = self
            .membership
            .as_ref()
            .is_some_and(|m| m.last_auto_commit.elapsed() >= interval);
        if due {
            if let Some(m) = self.membership.as_mut() {
                m.last_auto_commit = Instant::now();
            }
            // Written now, its fsync requested (see `durable_now`); failures
            // surface at the next commit or rebalance, as Kafka's async
            // auto-commit.
            drop(self.commit_async(None));
        }
    }

    pub(super) fn commit_target(&mut self) -> Result<CommitTarget, WeirError> {
        let m = self.membership_mut()?;
        let member = m
            .member_id
            .clone()
            .filter(|_| m.subscribed.is_some())
            .map(|id| (id, m.generation));
        Ok((Arc::clone(&m.coordinator), m.group.clone(), member))
    }

    /// Appends a commit; with the error of a partition that does not exist
    /// (a topic deleted, say), which does not keep the others from being
    /// committed: as Kafka's broker stores a commit's known partitions and
    /// answers `UNKNOWN_TOPIC_OR_PARTITION` for the others.
    pub(super) fn append_commit(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(Arc<weir_log::PartitionLog>, i64, Option<WeirError>), WeirError> {
        // Kafka's client-side checks, which refuse the whole commit:
        // `OffsetAndMetadata` refuses a negative offset, and the broker
        // metadata over `offset.metadata.max.bytes` (4096).
        for (tp, o) in offsets {
            if o.offset < 0 {
                return Err(WeirError::InvalidArgument(format!(
                    "commit of offset {} for {}-{}: an offset is never negative",
                    o.offset, tp.topic, tp.partition
                )));
            }
            if o.metadata.len() > OFFSET_METADATA_MAX_BYTES {
                return Err(WeirError::InvalidArgument(format!(
                    "commit for {}-{}: {} bytes of metadata, more than offset.metadata.max.bytes ({OFFSET_METADATA_MAX_BYTES})",
                    tp.topic,
                    tp.partition,
                    o.metadata.len()
                )));
            }
        }
        // Each topic looked up once (a commit often names every partition of
        // a few topics).
        let mut checked: Option<(&str, Result<Arc<weir_log::Topic>, WeirError>)> = None;
        let mut unknown = None;
        let mut known = Vec::with_capacity(offsets.len());
        for (tp, o) in offsets {
            let topic = match &checked {
                Some((name, t)) if *name == tp.topic.as_str() => t.clone(),
                _ => {
                    let t = self.weir.topic_or_create(&tp.topic, false);
                    checked = Some((tp.topic.as_str(), t.clone()));
                    t
                }
            };
            // The log's own errors, naming the topic or its partition count.
            let exists = topic.and_then(|t| {
                let count = i64::from(t.partition_count());
                if (0..count).contains(&i64::from(tp.partition)) {
                    Ok(())
                } else {
                    t.partition(tp.partition).map(drop).map_err(WeirError::from)
                }
            });
            match exists {
                Ok(()) => known.push((tp.clone(), o.clone())),
                Err(e) => {
                    unknown.get_or_insert(e);
                }
            }
        }
        if known.is_empty()
            && let Some(e) = unknown
        {
            return Err(e);
        }
        let (coordinator, group, member) = self.commit_target()?;
        let member = member.as_ref().map(|(id, g)| (id.as_str(), *g));
        let (log, end) = coordinator.commit(&group, member, &known)?;
        Ok((log, end, unknown))
    }

    /// Commits the positions of every assigned partition (the next offsets
    /// `poll` would return) and waits until they are durable.
    ///
    /// # Errors
    /// [`WeirError::Group`] when the group rebalanced since this consumer's
    /// generation (the partitions may be another member's now); no `group.id`;
    /// [`WeirError::Closed`] after [`close`](Self::close) (a closed consumer
    /// commits nothing, and an async commit's future and callback say so).
    pub fn commit_sync(&mut self) -> Result<(), WeirError> {
        let offsets = self.positions_of(&self.owned());
        self.commit_offsets_sync(&offsets)
    }

    /// Commits explicit offsets (each the next offset to consume, with
    /// metadata) and waits until they are durable. As Kafka's, it runs the
    /// callbacks of the async commits made before it before it returns.
    ///
    /// # Errors
    /// As [`commit_sync`](Self::commit_sync); a negative offset or metadata
    /// over `offset.metadata.max.bytes` refuses the whole commit. A
    /// partition that does not exist (its topic deleted, say) is reported,
    /// and the others are committed all the same, as Kafka's broker stores
    /// a commit's known partitions.
    pub fn commit_offsets_sync(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(), WeirError> {
        // A closed consumer commits nothing (Kafka's throws).
        self.check_open()?;
        // As Kafka's commitSync: the callbacks of async commits made before
        // it run before it returns, in their order (they are durable once
        // this one is: every commit of a group goes to one partition).
        self.complete_async_commits();
        if offsets.is_empty() {
            self.finish_async_commits();
            return Ok(());
        }
        let (log, end, unknown) = self.append_commit(offsets)?;
        log.flush_until(end)?;
        self.complete_async_commits();
        unknown.map_or(Ok(()), Err)
    }

    /// Commits the positions of every assigned partition without waiting for
    /// durability: the returned future resolves once they are durable (any
    /// executor), and `callback`, if given, runs in a later `poll` (or
    /// `commit_sync`, `close`) with the outcome, as Kafka runs commit callbacks.
    pub fn commit_async(&mut self, callback: Option<CommitCallback>) -> CommitFuture {
        let offsets = self.positions_of(&self.owned());
        self.commit_offsets_async(&offsets, callback)
    }

    /// As [`commit_async`](Self::commit_async) for explicit offsets. A
    /// commit refused at once (an unknown partition, metadata over 4096
    /// bytes, a fenced generation), or one with nothing to commit, reports
    /// through its future at once, and through its callback in the same
    /// place as the others: after the callbacks of the commits before it.
    /// The known partitions of a commit naming an unknown one are committed
    /// (as [`commit_offsets_sync`](Self::commit_offsets_sync)).
    pub fn commit_offsets_async(
        &mut self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        callback: Option<CommitCallback>,
    ) -> CommitFuture {
        if let Err(closed) = self.check_open() {
            // A closed consumer commits nothing (Kafka's throws), and no
            // later poll would run the callback: it runs now.
            if let Some(cb) = callback {
                cb(Err(closed.clone()));
            }
            return CommitFuture {
                inner: CommitState::Failed(Some(closed)),
            };
        }
        let appended = if offsets.is_empty() {
            Err(None)
        } else {
            self.append_commit(offsets).map_err(Some)
        };
        let (outcome, future) = match appended {
            // The known partitions of a commit naming an unknown one are
            // written: it reports the unknown one once they are durable.
            Ok((log, end, unknown)) => (
                PendingOutcome::Durable(log.durable(end), unknown.clone()),
                CommitState::Written(durable_now(&log, end), unknown),
            ),
            Err(Some(e)) => (
                PendingOutcome::Known(Err(e.clone())),
                CommitState::Failed(Some(e)),
            ),
            Err(None) => (PendingOutcome::Known(Ok(())), CommitState::Nothing),
        };
        if let Some(cb) = callback {
            match self.membership.as_mut() {
                // Run by a later poll, commit_sync or close, after the
                // callbacks of the commits before it (as Kafka queues even a
                // failed async commit's callback).
                Some(m) => m.pending.push(PendingCommit {
                    outcome,
                    callback: Some(cb),
                }),
                // No group: no later poll would run it.
                None => {
                    if let PendingOutcome::Known(r) = outcome {
                        cb(r);
                    }
                }
            }
        }
        CommitFuture { inner: future }
    }

    /// Runs the callbacks of async commits that completed.
    pub(crate) fn complete_async_commits(&mut self) {
        let Some(m) = self.membership.as_mut() else {
            return;
        };
        if m.pending.is_empty() {
            return;
        }
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        // In order, up to the first not yet durable: a later commit's
        // callback never runs before an earlier one's.
        let mut pending = std::mem::take(&mut m.pending).into_iter();
        let mut still = Vec::new();
        for mut p in pending.by_ref() {
            match p.outcome.poll(&mut cx) {
                Poll::Ready(r) => {
                    if let Some(cb) = p.callback.take() {
                        cb(r);
                    }
                }
                Poll::Pending => {
                    still.push(p);
                    break;
                }
            }
        }
        still.extend(pending);
        if let Some(m) = self.membership.as_mut() {
            m.pending = still;
        }
    }

    /// Waits for every pending async commit and runs its callback.
    pub(crate) fn finish_async_commits(&mut self) {
        let Some(m) = self.membership.as_mut() else {
            return;
        };
        for mut p in std::mem::take(&mut m.pending) {
            let r =
                crate::wait::block_until(Some(Instant::now() + Duration::from_secs(30)), |cx| {
                    p.outcome.poll(cx)
                });
            if let Some(cb) = p.callback.take() {
                cb(match r {
                    Some(r) => r,
                    None => Err(WeirError::Timeout {
                        what: "an async commit".into(),
                        waited_ms: 30_000,
                    }),
                });
            }
        }
    }

    /// The group's committed offsets for partitions (`None` where nothing was
    /// committed).
    ///
    /// As Kafka's consumer (`require_stable`), an offset that an open
    /// transaction is about to commit is waited for, up to
    /// `default.api.timeout.ms` (60 s by default).
    ///
    /// # Errors
    /// No `group.id`; [`WeirError::Timeout`] when a transaction holding one
    /// of the offsets stays open for `default.api.timeout.ms`.
    pub fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<(TopicPartition, Option<OffsetAndMetadata>)>, WeirError> {
        let weir = self.weir.clone();
        let wait = self.config.default_api_timeout;
        let m = self.membership_mut()?;
        partitions
            .iter()
            .map(|tp| {
                Ok((
                    tp.clone(),
                    weir.stable_committed(&m.coordinator, &m.group, tp, wait)?,
                ))
            })
            .collect()
    }
}

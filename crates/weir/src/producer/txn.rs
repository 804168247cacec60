//! The transactional producer (Kafka's `TransactionManager`): a producer
//! with a `transactional.id` writes its records in transactions that commit
//! or abort as a whole, on every partition they wrote to, together with the
//! consumer offsets sent with them (consume-transform-produce, exactly once).
//! The transaction coordinator it talks to is the data directory's (see
//! `crate::transactions`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use weir_group::{OffsetAndMetadata, TopicPartition};
use weir_log::PartitionLog;

use crate::consumer_group::{ConsumerGroupMetadata, OFFSET_METADATA_MAX_BYTES};
use crate::error::WeirError;
use crate::transactions::TxnOffset;
use crate::weir::Weir;

use super::{Inner, Producer, in_callback, lock};

/// Where the producer's transactions are (Kafka's `TransactionManager.State`,
/// the states a caller can meet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    /// `init_transactions` has not run (or failed).
    Uninitialized,
    /// No transaction open.
    Ready,
    /// `begin_transaction` opened one: sends go into it.
    InTransaction,
    /// A commit (`true`) or abort is under way, or failed and may be
    /// retried: sends are refused.
    Ending(bool),
    /// A batch of the transaction failed: it can only abort.
    AbortableError(String),
    /// Another producer with the same id took over: nothing more works.
    Fenced,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Uninitialized => "uninitialized (call init_transactions first)",
            State::Ready => "ready (no transaction is open: call begin_transaction first)",
            State::InTransaction => "in a transaction",
            State::Ending(true) => "committing its transaction",
            State::Ending(false) => "aborting its transaction",
            State::AbortableError(_) => "in a transaction that failed and can only abort",
            State::Fenced => "fenced by a newer producer with the same transactional.id",
        }
    }
}

/// A transactional producer's state.
#[derive(Debug)]
pub(super) struct Txn {
    id: String,
    timeout: Duration,
    /// Where the transaction is. A send checks it and counts itself in
    /// `senders` (under that count's lock) until its record is in a batch; a
    /// transaction's end first moves it to `Ending` (refusing further sends
    /// at once, without waiting behind a sender blocked for memory), then
    /// waits for the senders counted before.
    state: Mutex<State>,
    /// Sends adding a record to the open transaction right now.
    senders: Mutex<usize>,
    senders_done: Condvar,
    /// Held across a whole commit or abort: two at once would both end it.
    ending: Mutex<()>,
    /// The partitions the open transaction has joined at the coordinator,
    /// and those with a batch open that have not joined yet (they join
    /// together, in one write of the coordinator's state, before the first
    /// of their batches is appended, as Kafka's producer adds the partitions
    /// of a drain in one `AddPartitionsToTxn`).
    joined: Mutex<Joined>,
    /// The consumer offsets sent to the open transaction.
    offsets: Mutex<Vec<TxnOffset>>,
    /// The first failure of a batch of the open transaction (kept apart
    /// from `state`: a batch fails on a thread that may be inside a send,
    /// holding `state`). Shared with the completion side, which records a
    /// failed append or fsync before the batch counts as complete.
    failed: FailureSlot,
}

/// Where a transactional producer's batch failures are recorded.
pub(super) type FailureSlot = Arc<Mutex<Option<Failure>>>;

/// Records the failure of a batch of the open transaction: it can only
/// abort now.
pub(super) fn record_failure(slot: &FailureSlot, e: &WeirError) {
    let fenced = matches!(e, WeirError::ProducerFenced { .. })
        || matches!(e, WeirError::Log(l) if matches!(**l, weir_log::LogError::ProducerFenced { .. }));
    let mut failed = lock(slot);
    if failed.is_none() || fenced {
        *failed = Some(if fenced {
            Failure::Fenced
        } else {
            Failure::Abortable(e.to_string())
        });
    }
}

#[derive(Debug, Default)]
struct Joined {
    joined: Vec<Arc<PartitionLog>>,
    pending: Vec<Arc<PartitionLog>>,
}

impl Joined {
    /// Whether `log` itself is listed: a topic deleted and created again
    /// has new logs, which join anew.
    fn has(list: &[Arc<PartitionLog>], log: &Arc<PartitionLog>) -> bool {
        list.iter().any(|l| Arc::ptr_eq(l, log))
    }
}

/// A send counted in [`Txn::senders`] until dropped.
pub(super) struct Sending<'a>(&'a Txn);

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        let mut n = lock(&self.0.senders);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.0.senders_done.notify_all();
        }
    }
}

/// Why the open transaction can no longer commit.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// A batch failed: abort the transaction.
    Abortable(String),
    /// The partition refused a batch of a fenced epoch.
    Fenced,
}

impl Txn {
    pub(super) fn new(id: String, timeout: Duration) -> Self {
        Txn {
            id,
            timeout,
            state: Mutex::new(State::Uninitialized),
            senders: Mutex::new(0),
            senders_done: Condvar::new(),
            ending: Mutex::new(()),
            joined: Mutex::new(Joined::default()),
            offsets: Mutex::new(Vec::new()),
            failed: Arc::new(Mutex::new(None)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Waits until no send counted before is still adding its record.
    fn wait_for_senders(&self) {
        let mut n = lock(&self.senders);
        while *n > 0 {
            n = self
                .senders_done
                .wait(n)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn error(&self, reason: impl Into<String>) -> WeirError {
        WeirError::Transaction {
            transactional_id: self.id.clone(),
            reason: reason.into(),
        }
    }

    /// For a send: counts it in until the returned guard is dropped, if a
    /// transaction is open.
    pub(super) fn sending(&self, epoch: i16) -> Result<Sending<'_>, WeirError> {
        let mut senders = lock(&self.senders);
        let state = self.state();
        match &*state {
            State::InTransaction => match lock(&self.failed).clone() {
                None => {
                    *senders += 1;
                    Ok(Sending(self))
                }
                Some(Failure::Fenced) => Err(self.fenced(epoch)),
                Some(Failure::Abortable(reason)) => Err(self.error(format!(
                    "a send of the open transaction failed ({reason}): abort it"
                ))),
            },
            State::AbortableError(reason) => Err(self.error(format!(
                "a send of the open transaction failed ({reason}): abort it"
            ))),
            State::Fenced => Err(self.fenced(epoch)),
            other => Err(self.error(format!("cannot send: the producer is {}", other.name()))),
        }
    }

    fn fenced(&self, epoch: i16) -> WeirError {
        WeirError::ProducerFenced {
            transactional_id: self.id.clone(),
            epoch,
        }
    }

    /// Joins `log`'s partition to the open transaction at the coordinator,
    /// once per transaction, before a batch is appended there.
    pub(super) fn join(
        &self,
        weir: &Weir,
        producer_id: i64,
        epoch: i16,
        log: &Arc<PartitionLog>,
    ) -> Result<(), WeirError> {
        let mut j = lock(&self.joined);
        if Joined::has(&j.joined, log) {
            return Ok(());
        }
        if !Joined::has(&j.pending, log) {
            j.pending.push(Arc::clone(log));
        }
        // None of the pending partitions has had a batch appended: each
        // appends only after its join, under this lock.
        weir.transactions()?
            .add_partitions(weir, &self.id, producer_id, epoch, &j.pending)?;
        let pending = std::mem::take(&mut j.pending);
        j.joined.extend(pending);
        Ok(())
    }

    /// A batch opened for `log`'s partition: it joins the transaction with
    /// the next join, if it has not yet.
    pub(super) fn note_partition(&self, log: &Arc<PartitionLog>) {
        let mut j = lock(&self.joined);
        if !Joined::has(&j.joined, log) && !Joined::has(&j.pending, log) {
            j.pending.push(Arc::clone(log));
        }
    }

    /// Where its batches' failures are recorded.
    pub(super) fn failure_slot(&self) -> FailureSlot {
        Arc::clone(&self.failed)
    }

    /// Moves a failure of the open transaction's batches into its state.
    fn take_failure(&self, state: &mut State) {
        match lock(&self.failed).take() {
            Some(Failure::Fenced) => *state = State::Fenced,
            Some(Failure::Abortable(reason)) => *state = State::AbortableError(reason),
            None => {}
        }
    }
}

impl Inner {
    /// The producer id stamped on batches (-1 without idempotence).
    pub(super) fn producer_id(&self) -> i64 {
        self.producer_id.load(Ordering::Acquire)
    }

    /// The producer epoch stamped on batches.
    pub(super) fn producer_epoch(&self) -> i16 {
        self.producer_epoch.load(Ordering::Acquire)
    }

    fn txn(&self, operation: &str) -> Result<&Txn, WeirError> {
        self.txn.as_ref().ok_or_else(|| {
            WeirError::InvalidArgument(format!(
                "{operation} needs a transactional producer (set transactional.id)"
            ))
        })
    }

    /// Ends the open transaction: refuses further sends, delivers what was
    /// sent, then has the coordinator write the decision, the markers and
    /// (for a commit) the offsets.
    fn end_transaction(&self, commit: bool) -> Result<(), WeirError> {
        let op = if commit {
            "commit_transaction"
        } else {
            "abort_transaction"
        };
        let txn = self.txn(op)?;
        if in_callback() {
            return Err(txn.error(format!(
                "{op} cannot run in a delivery callback (it waits for the deliveries)"
            )));
        }
        let _one_end = lock(&txn.ending);
        let epoch = self.producer_epoch();
        {
            let mut state = txn.state();
            if matches!(*state, State::InTransaction | State::Ending(true)) {
                txn.take_failure(&mut state);
            }
            match (&*state, commit) {
                // A failed commit may be retried, or turned into an abort
                // (the coordinator refuses that once the commit is
                // decided); a failed abort may only be retried, as in
                // Kafka: whatever made it abort is still true.
                (State::InTransaction, _)
                | (State::Ending(true), _)
                | (State::Ending(false), false)
                | (State::AbortableError(_), false) => {}
                (State::Ending(false), true) => {
                    return Err(txn.error(
                        "an abort_transaction failed: retry abort_transaction, not a commit",
                    ));
                }
                (State::AbortableError(reason), true) => {
                    return Err(txn.error(format!(
                        "the transaction cannot commit, a send failed ({reason}): abort it"
                    )));
                }
                (State::Fenced, _) => return Err(txn.fenced(epoch)),
                (other, _) => {
                    return Err(txn.error(format!("cannot {op}: the producer is {}", other.name())));
                }
            }
            *state = State::Ending(commit);
        }
        // Sends already past their check finish adding their records; then
        // everything sent in the transaction is appended (or failed).
        txn.wait_for_senders();
        self.flush();
        if commit {
            let mut state = txn.state();
            txn.take_failure(&mut state);
            match &*state {
                State::AbortableError(reason) => {
                    return Err(txn.error(format!(
                        "the transaction cannot commit, a send failed ({reason}): abort it"
                    )));
                }
                State::Fenced => return Err(txn.fenced(epoch)),
                _ => {}
            }
        }
        let offsets = if commit {
            lock(&txn.offsets).clone()
        } else {
            Vec::new()
        };
        let ended = self.weir.transactions().and_then(|c| {
            c.end(
                &self.weir,
                &txn.id,
                self.producer_id(),
                self.producer_epoch(),
                commit,
                offsets,
            )
        });
        let mut state = txn.state();
        match ended {
            Ok(()) => {
                *state = State::Ready;
                *lock(&txn.joined) = Joined::default();
                lock(&txn.offsets).clear();
                lock(&txn.failed).take();
                Ok(())
            }
            Err(e @ WeirError::ProducerFenced { .. }) => {
                *state = State::Fenced;
                Err(e)
            }
            // The coordinator decided the other end already: that end is
            // the one to retry.
            Err(
                e @ WeirError::TransactionDecided {
                    commit: decided, ..
                },
            ) => {
                *state = State::Ending(decided);
                Err(e)
            }
            // Stays `Ending`: the same call may be retried.
            Err(e) => Err(e),
        }
    }

    /// At close: a transaction still open is aborted (Kafka leaves it to
    /// the coordinator's timeout; in process the producer knows it is gone).
    pub(super) fn abort_open_transaction(&self) {
        let open = self.txn.as_ref().is_some_and(|t| {
            matches!(
                &*t.state(),
                State::InTransaction | State::AbortableError(_) | State::Ending(false)
            )
        });
        if open {
            let _ = self.end_transaction(false);
        }
    }
}

impl Producer {
    /// Readies a producer with a `transactional.id` for transactions (Kafka's
    /// `initTransactions`): gets its producer id and a new epoch from the
    /// data directory's transaction coordinator, which fences any earlier
    /// producer with the same id (its sends and commits fail with
    /// [`WeirError::ProducerFenced`]) and ends that producer's transaction
    /// first (an open one aborted, a decided one completed). Call once,
    /// before the first [`begin_transaction`](Self::begin_transaction).
    ///
    /// # Errors
    /// [`WeirError::InvalidArgument`] without a `transactional.id`;
    /// [`WeirError::Transaction`] when already called; the coordinator's
    /// storage errors.
    pub fn init_transactions(&self) -> Result<(), WeirError> {
        let inner = &self.inner;
        let txn = inner.txn("init_transactions")?;
        let mut state = txn.state();
        if *state != State::Uninitialized {
            return Err(txn.error(format!(
                "init_transactions was already called: the producer is {}",
                state.name()
            )));
        }
        let timeout_ms = u64::try_from(txn.timeout.as_millis()).unwrap_or(u64::MAX);
        let (producer_id, epoch) =
            inner
                .weir
                .transactions()?
                .init(&inner.weir, &txn.id, timeout_ms)?;
        inner.producer_epoch.store(epoch, Ordering::Release);
        inner.producer_id.store(producer_id, Ordering::Release);
        *state = State::Ready;
        Ok(())
    }

    /// Opens a transaction (Kafka's `beginTransaction`): the records sent
    /// until [`commit_transaction`](Self::commit_transaction) or
    /// [`abort_transaction`](Self::abort_transaction) are written as one
    /// transaction. `read_committed` consumers see them only once it
    /// commits, and never if it aborts.
    ///
    /// # Errors
    /// [`WeirError::Transaction`] when `init_transactions` has not run or a
    /// transaction is already open; [`WeirError::ProducerFenced`].
    pub fn begin_transaction(&self) -> Result<(), WeirError> {
        let txn = self.inner.txn("begin_transaction")?;
        let mut state = txn.state();
        match &*state {
            State::Ready => {
                lock(&txn.failed).take();
                *state = State::InTransaction;
                Ok(())
            }
            State::Fenced => Err(txn.fenced(self.producer_epoch())),
            other => Err(txn.error(format!(
                "cannot begin a transaction: the producer is {}",
                other.name()
            ))),
        }
    }

    /// Adds consumer offsets to the open transaction (Kafka's
    /// `sendOffsetsToTransaction`): they are committed for the consumer's
    /// group if and only if the transaction commits. `group` is the
    /// consuming [`Consumer::group_metadata`](crate::Consumer::group_metadata):
    /// a member that has since lost its partitions in a rebalance is refused
    /// here, as Kafka refuses its generation. Offsets of the same partition
    /// sent again replace the earlier ones.
    ///
    /// Until the transaction ends, a consumer of the group that fetches one
    /// of these partitions' committed offsets (when it is assigned the
    /// partition, or calls `committed`) waits for it: a poll leaves the
    /// partition unread meanwhile, `position` and `committed` wait up to
    /// the consumer's `default.api.timeout.ms` (Kafka's `require_stable`).
    /// End the transaction before the consumer polls again, as the usual
    /// poll, process, commit loop does.
    ///
    /// # Errors
    /// [`WeirError::Transaction`] outside a transaction;
    /// [`WeirError::Group`] when the group does not accept the member (an
    /// older generation, an unknown member); [`WeirError::InvalidArgument`]
    /// for a negative offset.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), WeirError> {
        let inner = &self.inner;
        let txn = inner.txn("send_offsets_to_transaction")?;
        let _open = txn.sending(inner.producer_epoch())?;
        if let Some((tp, o)) = offsets.iter().find(|(_, o)| o.offset < 0) {
            return Err(WeirError::InvalidArgument(format!(
                "offset {} for {}-{}: an offset is never negative",
                o.offset, tp.topic, tp.partition
            )));
        }
        // Refused now, as a commit's: at the transaction's end they could
        // only fail it after its records are visible.
        if let Some((tp, o)) = offsets
            .iter()
            .find(|(_, o)| o.metadata.len() > OFFSET_METADATA_MAX_BYTES)
        {
            return Err(WeirError::InvalidArgument(format!(
                "offset for {}-{}: {} bytes of metadata, more than offset.metadata.max.bytes ({OFFSET_METADATA_MAX_BYTES})",
                tp.topic,
                tp.partition,
                o.metadata.len()
            )));
        }
        let member = (group.generation_id >= 0 && !group.member_id.is_empty())
            .then_some((group.member_id.as_str(), group.generation_id));
        // Noted as pending before the member is checked: a consumer that
        // takes a partition over reads its committed offset either before
        // (and this member's generation is then refused) or after (and
        // waits for this transaction), as Kafka checks and records a
        // TxnOffsetCommit in one step under the group's lock.
        let coordinator = inner.weir.transactions()?;
        let noted = coordinator.add_pending_offsets(
            &txn.id,
            &group.group_id,
            offsets
                .iter()
                .map(|(tp, _)| (tp.topic.clone(), tp.partition)),
        );
        let checked = inner
            .weir
            .group_coordinator()
            .and_then(|g| Ok(g.check_member(&group.group_id, member)?));
        if let Err(e) = checked {
            coordinator.drop_pending_offsets(&txn.id, &noted);
            // As Kafka's CommitFailedException here: the transaction can
            // only abort (its records would commit without the offsets).
            record_failure(&txn.failed, &e);
            return Err(e);
        }
        // The transaction is open from now on, also when it writes no
        // record: its timeout applies (Kafka's AddOffsetsToTxn).
        coordinator.add_partitions(
            &inner.weir,
            &txn.id,
            inner.producer_id(),
            inner.producer_epoch(),
            &[],
        )?;
        let mut sent = lock(&txn.offsets);
        for (tp, o) in offsets {
            sent.retain(|t| {
                !(t.group == group.group_id && t.topic == tp.topic && t.partition == tp.partition)
            });
            sent.push(TxnOffset {
                group: group.group_id.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
            });
        }
        Ok(())
    }

    /// Commits the open transaction (Kafka's `commitTransaction`): further
    /// sends are refused, every record sent is delivered, then the
    /// coordinator writes the decision, a COMMIT marker to each partition
    /// the transaction wrote to (fsynced), and the offsets sent with it.
    /// Once it returns, `read_committed` consumers see the records and the
    /// offsets are committed; a crash before then leaves a decided commit
    /// that the next open of the data directory completes, or an open
    /// transaction that it aborts.
    ///
    /// # Errors
    /// [`WeirError::Transaction`] when no transaction is open, or a send of
    /// it failed (abort it then); [`WeirError::ProducerFenced`]; storage
    /// errors writing the markers, after which the call may be retried.
    pub fn commit_transaction(&self) -> Result<(), WeirError> {
        self.inner.end_transaction(true)
    }

    /// Aborts the open transaction (Kafka's `abortTransaction`): further
    /// sends are refused, the records already sent are delivered, then an
    /// ABORT marker is written to each partition the transaction wrote to,
    /// so that `read_committed` consumers never see them. The offsets sent
    /// with it are dropped. The records' futures complete with their offsets
    /// (the records are in the log, aborted), where Kafka fails those it had
    /// not sent yet.
    ///
    /// # Errors
    /// [`WeirError::Transaction`] when no transaction is open;
    /// [`WeirError::ProducerFenced`]; storage errors writing the markers,
    /// after which the call may be retried.
    pub fn abort_transaction(&self) -> Result<(), WeirError> {
        self.inner.end_transaction(false)
    }
}

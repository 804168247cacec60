//! The transaction coordinator (Kafka's `TransactionCoordinator`, in
//! process): each `transactional.id`'s producer id and epoch, the partitions
//! its open transaction wrote to, and the two-phase end of a transaction.
//!
//! The state is one JSON file in the data directory,
//! `weir-transactions.json`, replaced atomically (written, fsynced, renamed)
//! at each step, as Kafka's coordinator appends each step to
//! `__transaction_state` before it acts on it:
//!
//! 1. A partition joins the transaction (with the log end offset it had
//!    then) before the producer's first batch is appended to it, so after a
//!    crash every partition holding the transaction's records is known.
//! 2. `PrepareCommit` or `PrepareAbort` (with the consumer offsets a commit
//!    carries) is written before any marker: the decision survives a crash.
//! 3. The COMMIT or ABORT markers are appended and fsynced, the offsets
//!    committed, then the transaction is written as ended.
//!
//! When a data directory opens, every partition of an unfinished transaction
//! first holds `read_committed` readers before it again (the transaction is
//! found in each partition from where it joined, see
//! `PartitionLog::restore_transaction`); then each transaction left open is
//! aborted and each decided one completed. One whose markers cannot be
//! written (a partition turned read-only) stays unfinished, its readers held,
//! and is tried again by the timeout thread, as Kafka's coordinator retries
//! its markers. A transaction open for longer than its
//! `transaction.timeout.ms` is aborted by the coordinator, which fences its
//! producer, as Kafka's coordinator does.
//!
//! Consumer offsets sent to an open transaction are kept in memory only: a
//! consumer that fetches such a committed offset waits for the transaction
//! to end (Kafka's `require_stable`); a crash ends the transaction anyway
//! (aborted at the next open, unless decided).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use weir_group::{OffsetAndMetadata, TopicPartition};
use weir_log::{LogError, PartitionLog};

use crate::error::WeirError;
use crate::weir::Weir;

/// The coordinator's file in the data directory.
pub(crate) const TRANSACTIONS_FILE: &str = "weir-transactions.json";

/// The version of that file's layout this code writes and reads.
const STATE_VERSION: u32 = 1;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a transactional id's transaction is (Kafka's `TransactionState`,
/// without the completed states: a completed transaction is `Empty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
}

/// A partition the transaction wrote to, and the log end offset when it
/// joined: the transaction's records there are at or after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TxnPartition {
    topic: String,
    /// The topic's id: a topic deleted and created again under the name is
    /// another topic, whose log this offset says nothing about.
    #[serde(default)]
    topic_id: String,
    partition: i32,
    from_offset: i64,
    /// Its marker is written and fsynced: an end tried again after a
    /// failure elsewhere does not write it twice.
    #[serde(default)]
    marked: bool,
}

impl TxnPartition {
    /// Whether it is `log`'s partition of the topic with id `topic_id`.
    fn is(&self, log: &PartitionLog, topic_id: &str) -> bool {
        self.topic == log.topic() && self.partition == log.partition() && self.topic_id == topic_id
    }
}

/// A consumer offset the transaction commits with its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TxnOffset {
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: Option<i32>,
    pub(crate) metadata: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    producer_id: i64,
    producer_epoch: i16,
    status: Status,
    /// `transaction.timeout.ms` of the producer that last initialized it.
    timeout_ms: u64,
    /// When the open transaction began (ms since the epoch, the data
    /// directory's clock); 0 when none is open.
    started_ms: i64,
    partitions: Vec<TxnPartition>,
    /// Written with `PrepareCommit`, committed after the markers.
    offsets: Vec<TxnOffset>,
    /// The producer id can fence no more (its epoch ran out): its producer
    /// is refused, and the next `init` gives a new id.
    #[serde(default)]
    retired: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    transactions: BTreeMap<String, Entry>,
}

/// A group's offset for a partition: (group, topic, partition).
pub(crate) type GroupPartition = (String, String, i32);

/// Where a transactional id's transaction is (Kafka's `TransactionState`
/// as `kafka-transactions.sh describe` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionState {
    /// No transaction open.
    Empty,
    /// A transaction open: records written, no decision yet.
    Ongoing,
    /// Decided to commit; its markers (and offsets) being written.
    PrepareCommit,
    /// Decided to abort; its markers being written.
    PrepareAbort,
}

impl TransactionState {
    /// Kafka's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
        }
    }
}

/// One transactional id as the data directory's transaction coordinator
/// knows it (Kafka's `TransactionDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionDescription {
    /// The `transactional.id`.
    pub transactional_id: String,
    /// The producer id it was given.
    pub producer_id: i64,
    /// The producer's current epoch.
    pub producer_epoch: i16,
    /// Where its transaction is.
    pub state: TransactionState,
    /// `transaction.timeout.ms` of the producer that last initialized it.
    pub transaction_timeout_ms: u64,
    /// When the open transaction began (ms since the epoch), if one is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions the open transaction wrote to.
    pub topic_partitions: Vec<TopicPartition>,
}

impl StateFile {
    fn describe(&self) -> Vec<TransactionDescription> {
        self.transactions
            .iter()
            .map(|(id, e)| TransactionDescription {
                transactional_id: id.clone(),
                producer_id: e.producer_id,
                producer_epoch: e.producer_epoch,
                state: match e.status {
                    Status::Empty => TransactionState::Empty,
                    Status::Ongoing => TransactionState::Ongoing,
                    Status::PrepareCommit => TransactionState::PrepareCommit,
                    Status::PrepareAbort => TransactionState::PrepareAbort,
                },
                transaction_timeout_ms: e.timeout_ms,
                transaction_start_time_ms: (e.status != Status::Empty && e.started_ms > 0)
                    .then_some(e.started_ms),
                topic_partitions: e
                    .partitions
                    .iter()
                    .map(|p| TopicPartition::new(p.topic.clone(), p.partition))
                    .collect(),
            })
            .collect()
    }
}

/// The transactional ids of the data directory at `dir`, as its
/// `weir-transactions.json` says now, read without opening the directory:
/// it works on a directory an application has open (the file is replaced
/// whole at each step), as `weir transactions list` reads it. Empty when no
/// transactional producer ever ran there.
///
/// # Errors
/// [`WeirError::Log`] when the file cannot be read or does not parse.
pub fn transactions_in(dir: &Path) -> Result<Vec<TransactionDescription>, WeirError> {
    Ok(read_state(&dir.join(TRANSACTIONS_FILE))?.describe())
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct TransactionCoordinator {
    path: PathBuf,
    state: Mutex<StateFile>,
    /// One lock per transactional id, held across each of its steps (an end
    /// holds it from its prepare to its completion).
    ids: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Consumer offsets sent to each open transaction, as (group, topic,
    /// partition): a consumer that fetches such a committed offset waits
    /// until the transaction ends (Kafka's `require_stable`, KIP-447), so
    /// that a partition handed over in a rebalance is not read again from
    /// an offset the transaction is about to move.
    pending_offsets: Mutex<HashMap<String, Vec<GroupPartition>>>,
    offsets_settled: std::sync::Condvar,
}

impl TransactionCoordinator {
    /// Loads the coordinator's file from the data directory at `dir` (none
    /// yet: no transaction ever ran there).
    pub(crate) fn load(dir: &Path) -> Result<Self, WeirError> {
        let path = dir.join(TRANSACTIONS_FILE);
        let state = read_state(&path)?;
        Ok(TransactionCoordinator {
            path,
            state: Mutex::new(state),
            ids: Mutex::new(HashMap::new()),
            pending_offsets: Mutex::new(HashMap::new()),
            offsets_settled: std::sync::Condvar::new(),
        })
    }

    /// Every transactional id, as the coordinator knows it now.
    pub(crate) fn describe(&self) -> Vec<TransactionDescription> {
        lock(&self.state).describe()
    }

    fn id_lock(&self, transactional_id: &str) -> Arc<Mutex<()>> {
        Arc::clone(
            lock(&self.ids)
                .entry(transactional_id.to_string())
                .or_default(),
        )
    }

    /// Applies `change` to the state and writes it whole; when `change`
    /// fails or the write does, the state in memory is left as it was.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut StateFile) -> Result<T, WeirError>,
    ) -> Result<T, WeirError> {
        let mut state = lock(&self.state);
        let before = state.clone();
        let out = match change(&mut state) {
            Ok(out) => out,
            Err(e) => {
                *state = before;
                return Err(e);
            }
        };
        let written = serde_json::to_vec_pretty(&*state)
            .map_err(|e| self.encode_error(&e))
            .and_then(|after| {
                weir_log::checkpoint::write_atomically(&self.path, &after)
                    .map_err(|e| io_error(&self.path, "write", e))
            });
        if let Err(e) = written {
            *state = before;
            return Err(e);
        }
        Ok(out)
    }

    fn encode_error(&self, e: &serde_json::Error) -> WeirError {
        io_error(&self.path, "encode", io::Error::other(e.to_string()))
    }

    fn entry(&self, transactional_id: &str) -> Option<Entry> {
        lock(&self.state)
            .transactions
            .get(transactional_id)
            .cloned()
    }

    /// Ends every transaction a crash left unfinished: an open one is
    /// aborted, a prepared one completed. Runs when the data directory opens.
    pub(crate) fn recover(&self, weir: &Weir) -> Result<bool, WeirError> {
        let ids: Vec<String> = lock(&self.state)
            .transactions
            .iter()
            .filter(|(_, e)| e.status != Status::Empty)
            .map(|(id, _)| id.clone())
            .collect();
        // First every partition of every unfinished transaction holds its
        // readers before it again: a failure here fails the open, since
        // readers would otherwise see an unfinished transaction.
        for id in &ids {
            if let Some(entry) = self.entry(id) {
                for (_, log, from_offset) in self.partition_logs(weir, &entry) {
                    log.restore_transaction(entry.producer_id, from_offset)?;
                }
            }
        }
        // Then each is ended. One that cannot be (a partition turned
        // read-only, say) stays unfinished, its partitions' readers held
        // before it, and is tried again by the timeout thread, as Kafka's
        // coordinator retries its markers.
        let mut all_ended = true;
        for id in ids {
            let guard = self.id_lock(&id);
            let _held = lock(&guard);
            if self.finish_unfinished(weir, &id).is_ok() {
                continue;
            }
            all_ended = false;
            // A decided commit's offsets are committed when it ends: until
            // then consumers of those partitions wait for them, as while the
            // transaction was open.
            if let Some(entry) = self.entry(&id)
                && entry.status == Status::PrepareCommit
            {
                for o in &entry.offsets {
                    self.add_pending_offsets(&id, &o.group, [(o.topic.clone(), o.partition)]);
                }
            }
        }
        Ok(all_ended)
    }

    /// Brings `transactional_id`'s transaction to an end if one is open or
    /// prepared: an open one is aborted, a prepared one completed.
    fn finish_unfinished(&self, weir: &Weir, transactional_id: &str) -> Result<(), WeirError> {
        let Some(entry) = self.entry(transactional_id) else {
            return Ok(());
        };
        let commit = match entry.status {
            Status::Empty => return Ok(()),
            Status::Ongoing => {
                self.update(|s| {
                    if let Some(e) = s.transactions.get_mut(transactional_id) {
                        e.status = Status::PrepareAbort;
                        e.offsets.clear();
                    }
                    Ok(())
                })?;
                false
            }
            Status::PrepareCommit => true,
            Status::PrepareAbort => false,
        };
        self.complete(weir, transactional_id, commit)
    }

    /// The logs of the partitions `entry` lists that have no marker yet,
    /// with their index in the list and the offsets they joined at. A
    /// partition whose topic was deleted since has nothing to mark and is
    /// left out. One whose topic id changed (`LogDir::set_topic_id`, or a
    /// topic of the name created again) is looked at whole: the offset said
    /// where another log ended.
    fn partition_logs(&self, weir: &Weir, entry: &Entry) -> Vec<(usize, Arc<PartitionLog>, i64)> {
        entry
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.marked)
            .filter_map(|(i, p)| {
                let topic = weir.topic_or_create(&p.topic, false).ok()?;
                let log = topic.partition(p.partition).ok()?;
                let from = if p.topic_id.is_empty() || topic.topic_id() == p.topic_id {
                    p.from_offset
                } else {
                    0
                };
                Some((i, log, from))
            })
            .collect()
    }

    /// Gives `transactional_id` a producer id and epoch (Kafka's
    /// `InitProducerId`): a new id the first time, else the same id with the
    /// next epoch, which fences the producer that had it. Its transaction
    /// left open is aborted first, with the new epoch, so that the fenced
    /// producer's late batches are refused; a prepared one is completed.
    pub(crate) fn init(
        &self,
        weir: &Weir,
        transactional_id: &str,
        timeout_ms: u64,
    ) -> Result<(i64, i16), WeirError> {
        let guard = self.id_lock(transactional_id);
        let _held = lock(&guard);
        if self
            .entry(transactional_id)
            .is_some_and(|e| e.status == Status::Ongoing)
        {
            self.fence_and_prepare_abort(transactional_id)?;
        }
        self.finish_unfinished(weir, transactional_id)?;
        // The fenced producer's offsets go with its transaction.
        self.settle_offsets(transactional_id);
        self.update(|s| {
            let (producer_id, producer_epoch) = match s.transactions.get(transactional_id) {
                Some(e) if !e.retired => next_epoch(e.producer_id, e.producer_epoch),
                _ => (fastrand::i64(1..i64::MAX), 0),
            };
            s.transactions.insert(
                transactional_id.to_string(),
                Entry {
                    producer_id,
                    producer_epoch,
                    status: Status::Empty,
                    timeout_ms,
                    started_ms: 0,
                    partitions: Vec::new(),
                    offsets: Vec::new(),
                    retired: false,
                },
            );
            Ok((producer_id, producer_epoch))
        })
    }

    /// Prepares the abort of `transactional_id`'s open transaction with the
    /// producer's next epoch, so that its markers fence the producer's late
    /// batches. A producer's epoch is at most `i16::MAX - 2` (see
    /// `next_epoch`), so the next one always exists; an entry from elsewhere
    /// with no epoch left is aborted with a new producer id instead, which
    /// fences the old one at the coordinator.
    fn fence_and_prepare_abort(&self, transactional_id: &str) -> Result<(), WeirError> {
        self.update(|s| {
            if let Some(e) = s.transactions.get_mut(transactional_id) {
                match e.producer_epoch.checked_add(1) {
                    Some(next) if next < i16::MAX => e.producer_epoch = next,
                    _ => e.retired = true,
                }
                e.status = Status::PrepareAbort;
                e.offsets.clear();
            }
            Ok(())
        })
    }

    /// The producer `producer_id`/`epoch` of `transactional_id`, or its
    /// fencing error.
    fn check_producer(
        entry: Option<&Entry>,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), WeirError> {
        match entry {
            Some(e) if e.producer_id == producer_id && e.producer_epoch == epoch && !e.retired => {
                Ok(())
            }
            _ => Err(WeirError::ProducerFenced {
                transactional_id: transactional_id.to_string(),
                epoch,
            }),
        }
    }

    /// Adds the partitions of `logs` to the producer's open transaction
    /// (opening it), durably, in one write, before the producer's first
    /// batch in any of them is appended (Kafka's `AddPartitionsToTxn`).
    pub(crate) fn add_partitions(
        &self,
        weir: &Weir,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        logs: &[Arc<PartitionLog>],
    ) -> Result<(), WeirError> {
        // Each log's topic id, while the log is its topic's: a log whose
        // topic was deleted takes no more batches, and does not join.
        let ids = logs
            .iter()
            .map(|log| current_topic_id(weir, log))
            .collect::<Result<Vec<String>, WeirError>>()?;
        let guard = self.id_lock(transactional_id);
        let _held = lock(&guard);
        // Nothing to write when the transaction is open and lists them all
        // already (offsets sent again, say).
        if let Some(e) = self.entry(transactional_id)
            && e.status == Status::Ongoing
            && logs
                .iter()
                .zip(&ids)
                .all(|(log, id)| e.partitions.iter().any(|p| p.is(log, id)))
        {
            return Self::check_producer(Some(&e), transactional_id, producer_id, epoch);
        }
        let now = weir.clock().now_ms();
        self.update(|s| {
            let entry = s.transactions.get_mut(transactional_id);
            Self::check_producer(entry.as_deref(), transactional_id, producer_id, epoch)?;
            let Some(e) = entry else {
                return Ok(());
            };
            match e.status {
                Status::Empty => {
                    e.status = Status::Ongoing;
                    e.started_ms = now;
                }
                Status::Ongoing => {}
                Status::PrepareCommit | Status::PrepareAbort => {
                    return Err(WeirError::Transaction {
                        transactional_id: transactional_id.to_string(),
                        reason: "the transaction is ending: no partition can join it".into(),
                    });
                }
            }
            for (log, topic_id) in logs.iter().zip(&ids) {
                if !e.partitions.iter().any(|p| p.is(log, topic_id)) {
                    e.partitions.push(TxnPartition {
                        topic: log.topic().to_string(),
                        topic_id: topic_id.clone(),
                        partition: log.partition(),
                        from_offset: log.log_end_offset(),
                        marked: false,
                    });
                }
            }
            Ok(())
        })
    }

    /// Ends the producer's transaction (Kafka's `EndTxn`): the decision and
    /// the offsets to commit are written, then the markers and the offsets,
    /// then the end. A transaction that wrote nothing and carries no offset
    /// ends at once. A retry after a failed completion completes the same
    /// decision; the other one is refused.
    pub(crate) fn end(
        &self,
        weir: &Weir,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        offsets: Vec<TxnOffset>,
    ) -> Result<(), WeirError> {
        let guard = self.id_lock(transactional_id);
        let _held = lock(&guard);
        let entry = self.entry(transactional_id);
        Self::check_producer(entry.as_ref(), transactional_id, producer_id, epoch)?;
        let status = entry.map_or(Status::Empty, |e| e.status);
        match (status, commit) {
            (Status::Empty, _) if offsets.is_empty() || !commit => {
                self.settle_offsets(transactional_id);
                return Ok(());
            }
            (Status::PrepareCommit, false) | (Status::PrepareAbort, true) => {
                return Err(WeirError::TransactionDecided {
                    transactional_id: transactional_id.to_string(),
                    commit: !commit,
                });
            }
            (Status::PrepareCommit | Status::PrepareAbort, _) => {}
            (Status::Empty | Status::Ongoing, _) => {
                self.update(|s| {
                    if let Some(e) = s.transactions.get_mut(transactional_id) {
                        e.status = if commit {
                            Status::PrepareCommit
                        } else {
                            Status::PrepareAbort
                        };
                        e.offsets = if commit { offsets } else { Vec::new() };
                    }
                    Ok(())
                })?;
            }
        }
        self.complete(weir, transactional_id, commit)
    }

    /// Writes the prepared decision's markers (fsynced) and, for a commit,
    /// its offsets, then writes the transaction as ended.
    fn complete(&self, weir: &Weir, transactional_id: &str, commit: bool) -> Result<(), WeirError> {
        let Some(entry) = self.entry(transactional_id) else {
            return Ok(());
        };
        let logs = self.partition_logs(weir, &entry);
        // Every marker is appended, then all are fsynced at once (the
        // fsyncs of different files overlap), before the end is written.
        // A partition that takes no marker (turned read-only) does not keep
        // the others from theirs; the transaction stays unfinished and its
        // end is tried again later (see `abort_expired`, and the next open).
        let mut ends = Vec::with_capacity(logs.len());
        let mut failed = None;
        for (i, log, _) in &logs {
            match log.append_txn_marker(entry.producer_id, entry.producer_epoch, commit, 0) {
                Ok(info) => ends.push((*i, log, info.last_offset + 1)),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        let fsynced = flush_all(&ends);
        let mut marked = Vec::with_capacity(ends.len());
        for ((i, _, _), done) in ends.iter().zip(fsynced) {
            match done {
                Ok(()) => marked.extend(entry.partitions.get(*i).map(PartitionKey::of)),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            // The markers written and fsynced are remembered (by partition,
            // not by place in the list, which a deleted topic shifts), so
            // that the next try writes only the missing ones. The marker's
            // error is the one reported.
            let _ = self.update(|s| {
                if let Some(e) = s.transactions.get_mut(transactional_id) {
                    for p in &mut e.partitions {
                        if marked.contains(&PartitionKey::of(p)) {
                            p.marked = true;
                        }
                    }
                }
                Ok(())
            });
            return Err(e.into());
        }
        if commit && !entry.offsets.is_empty() {
            let coordinator = weir.group_coordinator()?;
            let mut by_group: BTreeMap<&str, Vec<(TopicPartition, OffsetAndMetadata)>> =
                BTreeMap::new();
            for o in &entry.offsets {
                let mut om = OffsetAndMetadata::new(o.offset).with_metadata(o.metadata.clone());
                om.leader_epoch = o.leader_epoch;
                by_group
                    .entry(o.group.as_str())
                    .or_default()
                    .push((TopicPartition::new(o.topic.clone(), o.partition), om));
            }
            for (group, offsets) in by_group {
                if let Some((log, end)) = coordinator.commit_transactional(group, &offsets)? {
                    log.flush_until(end)?;
                }
            }
        }
        self.update(|s| {
            if let Some(e) = s.transactions.get_mut(transactional_id) {
                e.status = Status::Empty;
                e.started_ms = 0;
                e.partitions.clear();
                e.offsets.clear();
            }
            Ok(())
        })?;
        self.settle_offsets(transactional_id);
        Ok(())
    }

    /// Notes offsets of `group` sent to `transactional_id`'s open
    /// transaction (see `pending_offsets`); returns the ones not noted
    /// before, for [`drop_pending_offsets`](Self::drop_pending_offsets).
    pub(crate) fn add_pending_offsets(
        &self,
        transactional_id: &str,
        group: &str,
        partitions: impl IntoIterator<Item = (String, i32)>,
    ) -> Vec<GroupPartition> {
        let mut pending = lock(&self.pending_offsets);
        let list = pending.entry(transactional_id.to_string()).or_default();
        let mut added = Vec::new();
        for (topic, partition) in partitions {
            let key = (group.to_string(), topic, partition);
            if !list.contains(&key) {
                list.push(key.clone());
                added.push(key);
            }
        }
        added
    }

    /// Takes back offsets noted by `add_pending_offsets` (their send was
    /// refused).
    pub(crate) fn drop_pending_offsets(&self, transactional_id: &str, keys: &[GroupPartition]) {
        if let Some(list) = lock(&self.pending_offsets).get_mut(transactional_id) {
            list.retain(|k| !keys.contains(k));
        }
        self.offsets_settled.notify_all();
    }

    /// The offsets sent to `transactional_id`'s transaction are settled
    /// (committed with it, or dropped with it).
    fn settle_offsets(&self, transactional_id: &str) {
        if lock(&self.pending_offsets)
            .remove(transactional_id)
            .is_some()
        {
            self.offsets_settled.notify_all();
        }
    }

    /// Whether an open transaction carries offsets of `group`.
    pub(crate) fn carries_group(&self, group: &str) -> bool {
        lock(&self.pending_offsets)
            .values()
            .any(|list| list.iter().any(|(g, _, _)| g == group))
    }

    /// Whether no open transaction carries an offset of `group` for
    /// `topic`-`partition` now.
    pub(crate) fn offset_is_stable(&self, group: &str, topic: &str, partition: i32) -> bool {
        !carries(&lock(&self.pending_offsets), group, topic, partition)
    }

    /// Waits until no open transaction carries an offset of `group` for
    /// `topic`-`partition`, at most until `deadline`; whether none does.
    pub(crate) fn wait_stable_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        deadline: std::time::Instant,
    ) -> bool {
        let pending = lock(&self.pending_offsets);
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let (pending, _) = self
            .offsets_settled
            .wait_timeout_while(pending, left, |p| carries(p, group, topic, partition))
            .unwrap_or_else(PoisonError::into_inner);
        !carries(&pending, group, topic, partition)
    }

    /// Drops the partitions of the deleted topic `name` from every
    /// unfinished transaction: they get no marker, and a topic created with
    /// the name joins a transaction anew, from its own log end.
    pub(crate) fn forget_topic(&self, name: &str) -> Result<(), WeirError> {
        let known = lock(&self.state)
            .transactions
            .values()
            .any(|e| e.partitions.iter().any(|p| p.topic == name));
        if !known {
            return Ok(());
        }
        self.update(|s| {
            for e in s.transactions.values_mut() {
                e.partitions.retain(|p| p.topic != name);
            }
            Ok(())
        })
    }

    /// Aborts the open transactions that have run longer than their
    /// `transaction.timeout.ms` at `now_ms`, fencing their producers (the
    /// next epoch), as Kafka's coordinator aborts an expired transaction.
    /// Returns the earliest time another one expires.
    pub(crate) fn abort_expired(&self, weir: &Weir, now_ms: i64) -> Option<i64> {
        let due: Vec<String> = lock(&self.state)
            .transactions
            .iter()
            .filter(|(_, e)| e.status != Status::Empty && expires(e) <= now_ms)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let guard = self.id_lock(&id);
            let _held = lock(&guard);
            // Looked at again under the id's lock: it may have ended.
            let Some(entry) = self.entry(&id) else {
                continue;
            };
            if entry.status == Status::Empty || expires(&entry) > now_ms {
                continue;
            }
            // A failure is tried again at a later check (or the next open).
            match entry.status {
                Status::Ongoing => {
                    if self.fence_and_prepare_abort(&id).is_ok() {
                        let _ = self.complete(weir, &id, false);
                    }
                }
                // A decided transaction whose end failed (a marker could not
                // be written): its decision is carried out again.
                Status::PrepareCommit => {
                    let _ = self.complete(weir, &id, true);
                }
                Status::PrepareAbort => {
                    let _ = self.complete(weir, &id, false);
                }
                Status::Empty => {}
            }
        }
        self.next_expiry()
    }

    /// When the first unfinished transaction is due: an open one at its
    /// timeout, a decided one whose end failed at the same time.
    pub(crate) fn next_expiry(&self) -> Option<i64> {
        lock(&self.state)
            .transactions
            .values()
            .filter(|e| e.status != Status::Empty)
            .map(expires)
            .min()
    }
}

/// Whether an open transaction's offsets include `group`'s for
/// `topic`-`partition`.
fn carries(
    pending: &HashMap<String, Vec<GroupPartition>>,
    group: &str,
    topic: &str,
    partition: i32,
) -> bool {
    pending
        .values()
        .flatten()
        .any(|(g, t, p)| g == group && t == topic && *p == partition)
}

/// A partition of a transaction, as its marker is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PartitionKey(String, String, i32);

impl PartitionKey {
    fn of(p: &TxnPartition) -> Self {
        PartitionKey(p.topic.clone(), p.topic_id.clone(), p.partition)
    }
}

/// Fsyncs each log up to its offset, in parallel threads when there are
/// several (one disk still takes the fsyncs of many files at once: the
/// journal commits them together); each one's outcome, in order.
fn flush_all<K>(ends: &[(K, &Arc<PartitionLog>, i64)]) -> Vec<Result<(), LogError>> {
    match ends {
        [] => Vec::new(),
        [(_, log, end)] => vec![log.flush_until(*end)],
        _ => std::thread::scope(|scope| {
            let handles: Vec<_> = ends
                .iter()
                .map(|(_, log, end)| scope.spawn(move || log.flush_until(*end)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(LogError::Io {
                            path: PathBuf::new(),
                            op: "fsync",
                            source: io::Error::other("an fsync thread panicked"),
                        })
                    })
                })
                .collect()
        }),
    }
}

/// The coordinator's state as the file at `path` holds it (none: empty).
fn read_state(path: &Path) -> Result<StateFile, WeirError> {
    let state = match std::fs::read(path) {
        Ok(bytes) => {
            let state =
                serde_json::from_slice::<StateFile>(&bytes).map_err(|e| LogError::Corrupt {
                    path: path.to_path_buf(),
                    position: 0,
                    reason: format!("the transaction coordinator's state does not parse: {e}"),
                })?;
            if state.version != STATE_VERSION {
                return Err(LogError::Corrupt {
                        path: path.to_path_buf(),
                        position: 0,
                        reason: format!(
                            "version {} of the transaction coordinator's state; this Weir reads version {STATE_VERSION}",
                            state.version
                        ),
                    }
                    .into());
            }
            state
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => StateFile {
            version: STATE_VERSION,
            transactions: BTreeMap::new(),
        },
        Err(e) => return Err(io_error(path, "read", e)),
    };
    Ok(state)
}

fn io_error(path: &Path, op: &'static str, source: io::Error) -> WeirError {
    LogError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
    .into()
}

/// The id of `log`'s topic, if `log` is still that topic's partition.
fn current_topic_id(weir: &Weir, log: &Arc<PartitionLog>) -> Result<String, WeirError> {
    let topic = weir.topic_or_create(log.topic(), false)?;
    match topic.partition(log.partition()) {
        Ok(current) if Arc::ptr_eq(&current, log) => Ok(topic.topic_id().to_string()),
        _ => Err(WeirError::Closed {
            what: format!(
                "{}-{} (its topic was deleted)",
                log.topic(),
                log.partition()
            ),
        }),
    }
}

/// When an open transaction times out.
fn expires(e: &Entry) -> i64 {
    e.started_ms
        .saturating_add(i64::try_from(e.timeout_ms).unwrap_or(i64::MAX))
}

/// The producer id and epoch a producer gets after `epoch`: a new id once
/// the epoch would reach `i16::MAX - 1`, as Kafka's coordinator gives one
/// (`isEpochExhausted`), so that one more epoch is always left to fence the
/// producer with (see `fence_and_prepare_abort`).
fn next_epoch(producer_id: i64, epoch: i16) -> (i64, i16) {
    match epoch.checked_add(1) {
        Some(next) if next < i16::MAX - 1 => (producer_id, next),
        _ => (fastrand::i64(1..i64::MAX), 0),
    }
}

/// Stops the background timer threads (the transaction timeout thread and
/// the offset expiry thread) and counts their passes under way: a pass holds
/// the `Weir` (see [`enter`](Self::enter)), and the application's last
/// handle waits for it, so that the directory closes on the application's
/// thread, at once.
#[derive(Debug, Default)]
pub(crate) struct TimerStop {
    state: Mutex<TimerState>,
    cv: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct TimerState {
    stopped: bool,
    passes: usize,
}

/// A timer thread's pass: the `Weir` it works on, counted until dropped.
pub(crate) struct TimerPass<'a> {
    /// The `Weir` of the pass. Dropped before `_counted` (fields drop in
    /// order): the application's last handle, waiting for the count, is then
    /// the one that closes the directory.
    pub(crate) weir: crate::weir::Weir,
    _counted: PassCount<'a>,
}

/// Counts a pass until dropped.
struct PassCount<'a>(&'a TimerStop);

impl Drop for PassCount<'_> {
    fn drop(&mut self) {
        IN_PASS.with(|p| p.set(false));
        lock(&self.0.state).passes -= 1;
        self.0.cv.notify_all();
    }
}

thread_local! {
    /// Whether this thread is in a timer pass (a handle the pass made and
    /// dropped must not wait for the pass itself).
    static IN_PASS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl TimerStop {
    /// Stops the threads (each ends within its current wait or pass).
    pub(crate) fn stop(&self) {
        lock(&self.state).stopped = true;
        self.cv.notify_all();
    }

    /// Stops the threads and waits, at most `bound`, for the passes under
    /// way to end.
    pub(crate) fn stop_and_wait(&self, bound: std::time::Duration) {
        let mut state = lock(&self.state);
        state.stopped = true;
        self.cv.notify_all();
        if IN_PASS.with(std::cell::Cell::get) {
            return;
        }
        let _ = self
            .cv
            .wait_timeout_while(state, bound, |s| s.passes > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Waits `wait`, or less when stopped; whether it was stopped.
    pub(crate) fn wait(&self, wait: std::time::Duration) -> bool {
        let state = lock(&self.state);
        let (state, _) = self
            .cv
            .wait_timeout_while(state, wait, |s| !s.stopped)
            .unwrap_or_else(PoisonError::into_inner);
        state.stopped
    }

    /// Starts a pass on the `Weir`, unless the threads were stopped or the
    /// application dropped every handle.
    pub(crate) fn enter<'a>(&'a self, weir: &crate::weir::WeakWeir) -> Option<TimerPass<'a>> {
        let mut state = lock(&self.state);
        if state.stopped {
            return None;
        }
        let weir = weir.upgrade()?;
        state.passes += 1;
        IN_PASS.with(|p| p.set(true));
        Some(TimerPass {
            weir,
            _counted: PassCount(self),
        })
    }
}

/// The longest the timeout thread sleeps between checks (Kafka's coordinator
/// checks every `transaction.abort.timed.out.transaction.cleanup.interval.ms`,
/// 10 s by default).
const TIMEOUT_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The coordinator's timeout thread: aborts expired transactions. It holds
/// the `Weir` only weakly, and strongly only while a transaction is due, so
/// that dropping the last handle closes the directory on the dropping thread.
pub(crate) fn timeout_loop(
    coordinator: &TransactionCoordinator,
    weir: &crate::weir::WeakWeir,
    clock: &Arc<dyn weir_log::Clock>,
    stop: &TimerStop,
) {
    loop {
        let now = clock.now_ms();
        let mut wait = TIMEOUT_CHECK;
        if let Some(mut due) = coordinator.next_expiry() {
            if due <= now {
                let Some(pass) = stop.enter(weir) else {
                    return;
                };
                // Still due afterwards: its end failed, and is tried again
                // after a pause, not at once.
                due = coordinator
                    .abort_expired(&pass.weir, now)
                    .unwrap_or(i64::MAX);
            }
            if due > now {
                let left = u64::try_from(due - now).unwrap_or(u64::MAX);
                wait = std::time::Duration::from_millis(left).min(TIMEOUT_CHECK);
            }
        }
        if weir.is_gone() {
            return;
        }
        if stop.wait(wait) {
            return;
        }
    }
}

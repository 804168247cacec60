//! Transactions in compaction (Kafka's `CleanedTransactionMetadata`).
//!
//! - While the offset map is built, a transaction's keys wait until its
//!   marker: a COMMIT puts them in the map, an ABORT records the aborted
//!   range and drops them, so an aborted record never supersedes a committed
//!   one. A transaction whose marker lies past the map's end ends the pass
//!   before its first record (it is cleaned once its outcome is known).
//! - While segments are rewritten, aborted data is dropped; a marker whose
//!   transaction has no data left in the log may go: it gets a delete horizon
//!   on the first clean that finds it so, and is removed by a clean after it.
//! - The cleaned segment gets a `.txnindex` of its own: the entries of the
//!   replaced segments whose ABORT marker it keeps while data of that
//!   transaction is left (Kafka's `CleanedTransactionMetadata` appends them
//!   to the cleaned segment's index), so `read_committed` readers still skip
//!   aborted data that outlives a clean.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use weir_log::LogError;
use weir_log::index::{AbortedTxn as IndexedAbortedTxn, encode_txn_index_entry};
use weir_log::segment_file::{TXN_INDEX_SUFFIX, segment_file_name};
use weir_record::{ControlRecordType, RecordBatch, RecordError};

/// The suffix of a segment's files while the cleaner writes them (Kafka's
/// `LogFileUtils.CLEANED_FILE_SUFFIX`; weir-log names its own files so).
const CLEANED_SUFFIX: &str = ".cleaned";

/// An aborted transaction: its producer and the offsets from its first
/// record to its ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    pub(crate) marker_offset: i64,
}

/// A transaction seen while the map is built, its outcome not yet known.
#[derive(Debug, Default)]
pub(crate) struct PendingTxn {
    pub(crate) first_offset: i64,
}

/// What the map pass learns of transactions.
#[derive(Debug, Default)]
pub(crate) struct MapTxns {
    pub(crate) pending: HashMap<i64, PendingTxn>,
    pub(crate) aborted: Vec<AbortedTxn>,
}

/// How a marker ends its transaction, if it is one. A control batch with no
/// record is not a marker any more: a clean emptied it (Kafka: "an empty
/// control batch was already cleaned, so it's safe to discard").
pub(crate) fn marker_type(batch: &RecordBatch) -> Result<Option<ControlRecordType>, RecordError> {
    if !batch.is_control() || is_emptied_control(batch) {
        return Ok(None);
    }
    let record = batch.control_record()?;
    Ok(match record.record_type {
        t @ (ControlRecordType::Commit | ControlRecordType::Abort) => Some(t),
        _ => None,
    })
}

/// A control batch a clean emptied (its header kept, no record left).
pub(crate) fn is_emptied_control(batch: &RecordBatch) -> bool {
    batch.is_control() && batch.records_count() == 0
}

/// What the rewrite decides for one batch before its records are filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fate {
    /// A data batch of an aborted transaction: nothing of it is kept.
    pub(crate) aborted: bool,
    /// A marker whose transaction has no data left: it may be removed (after
    /// its delete horizon).
    pub(crate) marker_removable: bool,
}

/// The rewrite's view of transactions, batch by batch in offset order.
#[derive(Debug)]
pub(crate) struct RewriteTxns {
    aborted: Vec<AbortedTxn>,
    next: usize,
    /// Aborted transactions under way, and whether a batch of theirs was seen.
    ongoing_aborted: HashMap<i64, bool>,
    /// Producers with a committed (not aborted) transaction under way whose
    /// data was seen.
    ongoing_committed: HashSet<i64>,
}

impl RewriteTxns {
    pub(crate) fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|a| a.first_offset);
        RewriteTxns {
            aborted,
            next: 0,
            ongoing_aborted: HashMap::new(),
            ongoing_committed: HashSet::new(),
        }
    }

    fn consume_aborted_up_to(&mut self, offset: i64) {
        while let Some(a) = self.aborted.get(self.next) {
            if a.first_offset > offset {
                break;
            }
            self.ongoing_aborted.insert(a.producer_id, false);
            self.next += 1;
        }
    }

    /// The fate of the next batch.
    pub(crate) fn on_batch(&mut self, batch: &RecordBatch) -> Result<Fate, RecordError> {
        self.consume_aborted_up_to(batch.last_offset());
        let pid = batch.producer_id();
        if let Some(kind) = marker_type(batch)? {
            let removable = match kind {
                ControlRecordType::Abort => {
                    // Kept while a batch of the aborted transaction remains.
                    !self.ongoing_aborted.remove(&pid).unwrap_or(false)
                }
                _ => !self.ongoing_committed.remove(&pid),
            };
            return Ok(Fate {
                aborted: false,
                marker_removable: removable,
            });
        }
        if is_emptied_control(batch) {
            // Already cleaned: nothing of it needs to stay.
            return Ok(Fate {
                aborted: false,
                marker_removable: true,
            });
        }
        if batch.is_control() || !batch.is_transactional() || pid < 0 {
            return Ok(Fate::default());
        }
        if let Some(seen) = self.ongoing_aborted.get_mut(&pid) {
            *seen = true;
            return Ok(Fate {
                aborted: true,
                marker_removable: false,
            });
        }
        self.ongoing_committed.insert(pid);
        Ok(Fate::default())
    }
}

/// The `.txnindex` entries of one cleaned segment, collected as its batches
/// are written: an entry of the replaced segments is kept when its ABORT
/// marker is kept and so is data of its transaction (or the transaction began
/// before the group, where this pass cannot see it).
#[derive(Debug)]
pub(crate) struct CleanedTxnIndex {
    group_base: i64,
    /// The replaced segments' entries whose marker is in the group, and
    /// whether a batch of the transaction was kept.
    candidates: Vec<(IndexedAbortedTxn, bool)>,
    kept: Vec<IndexedAbortedTxn>,
}

impl CleanedTxnIndex {
    /// `entries`: the replaced segments' `.txnindex` entries (from
    /// `PartitionLog::aborted_transactions`); those whose marker lies outside
    /// `[group_base, group_end)` are ignored.
    pub(crate) fn new(group_base: i64, group_end: i64, entries: Vec<IndexedAbortedTxn>) -> Self {
        CleanedTxnIndex {
            group_base,
            candidates: entries
                .into_iter()
                .filter(|t| t.last_offset >= group_base && t.last_offset < group_end)
                .map(|t| (t, t.first_offset < group_base))
                .collect(),
            kept: Vec::new(),
        }
    }

    /// `batch` (as read) was written to the cleaned segment; `with_records`:
    /// with at least one of its records (a marker not emptied).
    pub(crate) fn on_kept(&mut self, batch: &RecordBatch, with_records: bool) {
        let pid = batch.producer_id();
        if batch.is_control() {
            if !with_records || is_emptied_control(batch) {
                return;
            }
            let marker = batch.base_offset();
            for (t, data_kept) in &self.candidates {
                if *data_kept && t.producer_id == pid && t.last_offset == marker {
                    self.kept.push(*t);
                }
            }
        } else if batch.is_transactional() {
            for (t, data_kept) in &mut self.candidates {
                if t.producer_id == pid
                    && batch.last_offset() >= t.first_offset
                    && batch.base_offset() < t.last_offset
                {
                    *data_kept = true;
                }
            }
        }
    }

    /// Writes the entries as `<base>.txnindex.cleaned` in `dir` and fsyncs
    /// it, where the segment swap renames it with the other cleaned files.
    /// With no entry, no file (and none left from an earlier attempt).
    ///
    /// # Errors
    /// [`LogError::Io`] naming the file.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), LogError> {
        let path: PathBuf = dir.join(format!(
            "{}{CLEANED_SUFFIX}",
            segment_file_name(self.group_base, TXN_INDEX_SUFFIX)
        ));
        let io = |op: &'static str| {
            let path = path.clone();
            move |source| LogError::Io { path, op, source }
        };
        if self.kept.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("delete")(e)),
                _ => Ok(()),
            };
        }
        let mut bytes = Vec::with_capacity(self.kept.len() * weir_log::index::TXN_INDEX_ENTRY_SIZE);
        for t in &self.kept {
            encode_txn_index_entry(t, &mut bytes);
        }
        let mut file = std::fs::File::create(&path).map_err(io("create"))?;
        file.write_all(&bytes).map_err(io("write"))?;
        file.sync_all().map_err(io("fsync"))
    }
}

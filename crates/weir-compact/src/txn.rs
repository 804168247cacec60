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

use std::collections::{HashMap, HashSet};

use weir_record::{ControlRecordType, RecordBatch, RecordError};

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
    /// Key hashes and offsets of its records.
    pub(crate) keys: Vec<(u128, i64)>,
}

/// What the map pass learns of transactions.
#[derive(Debug, Default)]
pub(crate) struct MapTxns {
    pub(crate) pending: HashMap<i64, PendingTxn>,
    pub(crate) aborted: Vec<AbortedTxn>,
}

/// How a marker ends its transaction, if it is one.
pub(crate) fn marker_type(batch: &RecordBatch) -> Result<Option<ControlRecordType>, RecordError> {
    if !batch.is_control() {
        return Ok(None);
    }
    let record = batch.control_record()?;
    Ok(match record.record_type {
        t @ (ControlRecordType::Commit | ControlRecordType::Abort) => Some(t),
        _ => None,
    })
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

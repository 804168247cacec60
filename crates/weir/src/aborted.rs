//! The `read_committed` rule for one fetch (Kafka's `CompletedFetch`): the log
//! lists the aborted transactions a fetched range meets; reading its batches in
//! order, a producer counts as aborted from its transaction's first offset
//! until its ABORT marker, and its transactional batches in between are not
//! returned. Control batches are never returned either way.

use std::iter::Peekable;
use std::vec::IntoIter;

use weir_log::PartitionLog;
use weir_log::index::AbortedTxn;
use weir_record::{ControlRecordType, RecordBatch};

/// Tells, batch by batch in offset order, which batches of one fetch belong to
/// aborted transactions.
#[derive(Debug)]
pub(crate) struct AbortedBatches {
    pending: Peekable<IntoIter<AbortedTxn>>,
    producers: Vec<i64>,
}

impl AbortedBatches {
    /// For a fetch of `[start, end)` from `log`; `None` for read_uncommitted.
    pub(crate) fn for_fetch(
        read_committed: bool,
        log: &PartitionLog,
        start: i64,
        end: i64,
    ) -> Option<Self> {
        read_committed.then(|| AbortedBatches {
            pending: log.aborted_transactions(start, end).into_iter().peekable(),
            producers: Vec::new(),
        })
    }

    /// Whether `batch` (the next in the fetch) is a data batch of an aborted
    /// transaction.
    pub(crate) fn is_aborted(&mut self, batch: &RecordBatch) -> bool {
        let producer = batch.producer_id();
        if producer < 0 {
            return false;
        }
        while let Some(t) = self
            .pending
            .next_if(|t| t.first_offset <= batch.last_offset())
        {
            self.producers.push(t.producer_id);
        }
        if batch.is_control() {
            if batch
                .control_record()
                .is_ok_and(|c| c.record_type == ControlRecordType::Abort)
            {
                self.producers.retain(|&p| p != producer);
            }
            return false;
        }
        batch.is_transactional() && self.producers.contains(&producer)
    }
}

//! Aborted transactions (Kafka's `TransactionIndex`): each segment keeps the
//! transactions whose ABORT marker it holds, as its `.txnindex` file lists
//! them, and the log answers which aborted transactions a fetched range meets,
//! as Kafka's `LocalLog.collectAbortedTransactions` does for a
//! `read_committed` fetch.

use std::fs;
use std::io;

use crate::error::LogError;
use crate::index::{AbortedTxn, TXN_INDEX_ENTRY_SIZE, encode_txn_index_entry, parse_txn_index};
use crate::partition::PartitionLog;
use crate::segment::{LogSegment, read_lock, write_lock};
use crate::segment_file::TXN_INDEX_SUFFIX;

impl LogSegment {
    /// Loads the `.txnindex` file, if there is one: the entries whose ABORT
    /// marker lies in this segment, in file order. A torn last entry (a crash
    /// in its write) is left out and the whole ones before it kept, as
    /// Kafka reads the index; a file that does not parse otherwise is
    /// ignored (no entry is trusted from it); `weir verify` reports it.
    pub(crate) fn load_txn_index(&self) -> Result<(), LogError> {
        let path = self.path(TXN_INDEX_SUFFIX);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LogError::io(&path, "read")(e)),
        };
        // One entry per ABORT marker, so per batch at most (a batch is at
        // least 61 bytes): more of the file cannot be entries, and is not
        // read (a huge or sparse file costs no memory).
        let most = (self.size() / weir_record::layout::RECORD_BATCH_OVERHEAD as u64 + 1)
            .saturating_mul(TXN_INDEX_ENTRY_SIZE as u64);
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(file, most), &mut bytes)
            .map_err(LogError::io(&path, "read"))?;
        let whole = bytes.len() - bytes.len() % TXN_INDEX_ENTRY_SIZE;
        let entries = parse_txn_index(bytes.get(..whole).unwrap_or_default()).unwrap_or_default();
        let base = self.base_offset();
        *write_lock(&self.aborted) = entries
            .into_iter()
            .filter(|t| t.last_offset >= base && t.first_offset <= t.last_offset)
            .collect();
        Ok(())
    }

    /// Drops the entries whose marker is at or past `next_offset` (recovery
    /// cut the log there) and rewrites the `.txnindex` file if any went, as
    /// Kafka's `TransactionIndex.truncateTo` does.
    pub(crate) fn truncate_txn_index(&self, next_offset: i64) -> Result<(), LogError> {
        let kept: Vec<AbortedTxn> = {
            let mut aborted = write_lock(&self.aborted);
            let before = aborted.len();
            aborted.retain(|t| t.last_offset < next_offset);
            if aborted.len() == before {
                return Ok(());
            }
            aborted.clone()
        };
        let path = self.path(TXN_INDEX_SUFFIX);
        if kept.is_empty() {
            return match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(LogError::io(&path, "delete")(e)),
            };
        }
        let mut bytes = Vec::new();
        for t in &kept {
            encode_txn_index_entry(t, &mut bytes);
        }
        crate::checkpoint::write_atomically(&path, &bytes).map_err(LogError::io(&path, "write"))
    }

    /// Lists one more aborted transaction (its marker about to be written to
    /// this segment): the entry is appended to the `.txnindex` file and
    /// fsynced before it is kept in memory. A torn last entry (a crash in
    /// its write) is cut first, so that entries stay aligned.
    pub(crate) fn append_aborted(&self, entry: AbortedTxn) -> io::Result<()> {
        use std::io::{Seek, Write};
        let mut aborted = write_lock(&self.aborted);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path(TXN_INDEX_SUFFIX))?;
        let len = file.metadata()?.len();
        let whole = len - len % TXN_INDEX_ENTRY_SIZE as u64;
        if whole != len {
            file.set_len(whole)?;
        }
        let mut bytes = Vec::with_capacity(TXN_INDEX_ENTRY_SIZE);
        encode_txn_index_entry(&entry, &mut bytes);
        file.seek(io::SeekFrom::Start(whole))?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        if whole == 0 {
            // A new file: its directory entry is made durable too.
            crate::paths::sync_dir_io(&self.dir)?;
        }
        aborted.push(entry);
        Ok(())
    }

    /// Its aborted transactions that meet `[start_offset, end_offset)`.
    fn aborted_in(&self, start_offset: i64, end_offset: i64, out: &mut Vec<AbortedTxn>) {
        out.extend(
            read_lock(&self.aborted)
                .iter()
                .filter(|t| t.last_offset >= start_offset && t.first_offset < end_offset),
        );
    }
}

impl PartitionLog {
    /// The aborted transactions whose records a fetch of `[start_offset,
    /// end_offset)` may hold: those whose ABORT marker is at or after
    /// `start_offset` and whose first offset is before `end_offset`, ordered by
    /// first offset. A `read_committed` consumer skips a transactional batch
    /// of such a producer from the transaction's first offset up to its marker
    /// (Kafka's fetch response carries the same list).
    ///
    /// Entries come from the segments' `.txnindex` files, which an ABORT
    /// marker's append writes (see
    /// [`append_txn_marker`](Self::append_txn_marker)), as Kafka's do.
    pub fn aborted_transactions(&self, start_offset: i64, end_offset: i64) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        for segment in self.segment_list().iter() {
            // A marker lies after its transaction's records, so a segment whose
            // last offset is below the start holds no marker that matters.
            if segment.last_offset() < start_offset {
                continue;
            }
            segment.aborted_in(start_offset, end_offset, &mut out);
        }
        out.sort_by_key(|t| (t.first_offset, t.producer_id));
        out
    }
}

impl PartitionLog {
    /// Finds the transaction `producer_id` left open here, after a restart,
    /// from its batches at or after `from_offset` (where the log ended when
    /// the partition joined the transaction): the first transactional batch
    /// of the producer not followed by one of its markers opens it again, so
    /// that [`last_stable_offset`](Self::last_stable_offset) holds
    /// `read_committed` readers before it and an ABORT marker lists it as
    /// aborted. Returns its first offset, or `None` when the producer has no
    /// open transaction past `from_offset`.
    ///
    /// Kafka rebuilds its open transactions from producer-state snapshots
    /// and the log; Weir's transaction coordinator knows which partitions a
    /// transaction touched and from where, and calls this when it opens.
    ///
    /// # Errors
    /// [`LogError::Io`] or [`LogError::Corrupt`] from reading the batches.
    pub fn restore_transaction(
        &self,
        producer_id: i64,
        from_offset: i64,
    ) -> Result<Option<i64>, LogError> {
        let mut w = crate::segment::lock(&self.writer);
        let end = w.next_offset;
        // An offset past the end (the log was cut, or is another log of the
        // same name since) says nothing: the whole log is looked at.
        let from_offset = if from_offset > end { 0 } else { from_offset };
        let mut offset = from_offset.max(self.log_start_offset());
        let mut first = None;
        while offset < end {
            let data = self.fetch(offset, 1 << 20)?;
            if data.is_empty() {
                break;
            }
            for batch in data.batches() {
                let batch = batch.map(|b| b.batch).map_err(|e| LogError::Corrupt {
                    path: self.dir.clone(),
                    position: 0,
                    reason: format!("a batch at offset {offset} or after does not read: {e}"),
                })?;
                if batch.producer_id() == producer_id && batch.is_transactional() {
                    if batch.is_control() {
                        first = None;
                    } else {
                        first.get_or_insert(batch.base_offset());
                    }
                }
            }
            if data.next_offset <= offset {
                break;
            }
            offset = data.next_offset;
        }
        if let Some(first) = first {
            let first = *w.ongoing.entry(producer_id).or_insert(first);
            self.first_unstable
                .store(w.first_unstable(), std::sync::atomic::Ordering::Release);
            return Ok(Some(first));
        }
        Ok(None)
    }
}

//! Transactions at the partition: the last stable offset holds
//! `read_committed` readers before a transaction still open, an ABORT marker
//! lists its transaction in the segment's `.txnindex` (on disk before the
//! marker), markers fence older epochs, and an open transaction is found
//! again after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use weir_log::index::AbortedTxn;
use weir_log::{LogError, PartitionLog};
use weir_record::{BatchBuilder, BatchOptions, Record};

/// Appends a transactional batch of `n` records for `pid` at `epoch`,
/// starting at sequence `seq`; returns its base offset.
fn txn_data(log: &PartitionLog, pid: i64, epoch: i16, seq: i32, n: usize) -> i64 {
    try_txn_data(log, pid, epoch, seq, n).unwrap()
}

fn try_txn_data(
    log: &PartitionLog,
    pid: i64,
    epoch: i16,
    seq: i32,
    n: usize,
) -> Result<i64, LogError> {
    let mut b = BatchBuilder::new(BatchOptions {
        transactional: true,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchOptions::default()
    });
    for i in 0..n {
        b.append(&Record::new(format!("{pid}-{seq}-{i}")).with_timestamp(NOW))
            .unwrap();
    }
    log.append(b.build().unwrap()).map(|info| info.base_offset)
}

fn committed_values(log: &PartitionLog) -> usize {
    let mut offset = log.log_start_offset();
    let mut n = 0;
    loop {
        let data = log
            .fetch_committed_into(offset, 1 << 20, &mut Vec::new())
            .unwrap();
        if data.is_empty() {
            return n;
        }
        for b in data.batches() {
            let b = b.unwrap().batch;
            if !b.is_control() {
                n += b.records().unwrap().into_iter().count();
            }
        }
        offset = data.next_offset;
    }
}

#[test]
fn the_last_stable_offset_holds_readers_before_open_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    log.append(batch(1, 3, 10, NOW)).unwrap();
    assert_eq!(log.last_stable_offset(), 3);
    assert_eq!(txn_data(&log, 7, 0, 0, 2), 3);
    assert_eq!(txn_data(&log, 8, 0, 0, 2), 5);
    assert_eq!(log.high_watermark(), 7);
    assert_eq!(
        log.last_stable_offset(),
        3,
        "producer 7's transaction is open"
    );
    assert_eq!(committed_values(&log), 3);
    assert_eq!(
        log.fetch(0, 1 << 20).unwrap().next_offset,
        7,
        "read_uncommitted reads on"
    );
    let data = log
        .fetch_committed_into(0, 1 << 20, &mut Vec::new())
        .unwrap();
    assert_eq!((data.read_limit, data.high_watermark), (3, 7));

    // Producer 7 commits: producer 8's transaction now bounds the readers.
    assert_eq!(log.append_txn_marker(7, 0, true, 0).unwrap().base_offset, 7);
    assert_eq!(log.last_stable_offset(), 5);
    assert_eq!(committed_values(&log), 5);
    // More of 7's records open a new transaction after 8's.
    txn_data(&log, 7, 0, 2, 1);
    assert_eq!(log.last_stable_offset(), 5);
    log.append_txn_marker(8, 0, true, 0).unwrap();
    assert_eq!(log.last_stable_offset(), 8, "7's new transaction at 8");
    log.append_txn_marker(7, 0, false, 0).unwrap();
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    assert_eq!(log.high_watermark(), 11);
    assert!(
        log.aborted_transactions(0, 11)
            .iter()
            .all(|t| t.producer_id == 7)
    );
}

#[test]
fn an_abort_marker_lists_its_transaction_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    txn_data(&log, 5, 0, 0, 2); // 0-1
    txn_data(&log, 6, 0, 0, 1); // 2
    txn_data(&log, 5, 0, 2, 2); // 3-4
    let marker = log.append_txn_marker(5, 0, false, 3).unwrap().base_offset;
    assert_eq!(marker, 5);
    let expected = AbortedTxn {
        producer_id: 5,
        first_offset: 0,
        last_offset: 5,
        // Producer 6's transaction is still open at 2.
        last_stable_offset: 2,
    };
    assert_eq!(log.aborted_transactions(0, 6), vec![expected]);
    assert_eq!(log.last_stable_offset(), 2);
    // A commit lists nothing; a marker of a producer with nothing open
    // lists nothing either.
    log.append_txn_marker(6, 0, true, 3).unwrap();
    log.append_txn_marker(9, 0, false, 3).unwrap();
    assert_eq!(log.aborted_transactions(0, 8), vec![expected]);
    let on_disk = std::fs::read(dir.path().join("00000000000000000000.txnindex")).unwrap();
    assert_eq!(on_disk.len(), 34, "one entry of 34 bytes");
    drop(log);
    // Reopened (after a crash, say): the entry is read back.
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    assert_eq!(log.aborted_transactions(0, 8), vec![expected]);
}

#[test]
fn markers_fence_older_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    txn_data(&log, 5, 0, 0, 1);
    // The coordinator ends epoch 0's transaction with epoch 1 (a new
    // producer with the transactional id took over).
    log.append_txn_marker(5, 1, false, 0).unwrap();
    assert!(matches!(
        try_txn_data(&log, 5, 0, 1, 1),
        Err(LogError::ProducerFenced {
            current_epoch: 1,
            ..
        })
    ));
    assert!(matches!(
        log.append_txn_marker(5, 0, true, 0),
        Err(LogError::ProducerFenced {
            current_epoch: 1,
            ..
        })
    ));
    // Epoch 1 starts its sequences at 0.
    txn_data(&log, 5, 1, 0, 1);
    assert_eq!(log.last_stable_offset(), 2);
}

#[test]
fn an_open_transaction_is_found_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(4096), false, 0);
    log.append(batch(1, 2, 10, NOW)).unwrap(); // 0-1
    // An earlier transaction of 5, ended: not open.
    txn_data(&log, 5, 0, 0, 1); // 2
    log.append_txn_marker(5, 0, true, 0).unwrap(); // 3
    txn_data(&log, 5, 0, 1, 40); // 4-43, over several segments
    for i in 0..30 {
        txn_data(&log, 5, 0, 41 + i * 40, 40);
    }
    let end = log.high_watermark();
    drop(log);
    let (log, _) = open(dir.path(), small_config(4096), false, 0);
    assert_eq!(log.last_stable_offset(), end, "nothing known yet");
    assert_eq!(log.restore_transaction(6, 0).unwrap(), None);
    assert_eq!(log.restore_transaction(5, 2).unwrap(), Some(4));
    assert_eq!(log.last_stable_offset(), 4);
    assert_eq!(committed_values(&log), 3);
    log.append_txn_marker(5, 0, false, 0).unwrap();
    assert_eq!(
        log.aborted_transactions(4, end + 1),
        vec![AbortedTxn {
            producer_id: 5,
            first_offset: 4,
            last_offset: end,
            last_stable_offset: end + 1,
        }]
    );
    assert_eq!(log.last_stable_offset(), end + 1);
    // Found from where the partition joined the transaction, not before.
    assert_eq!(log.restore_transaction(5, 0).unwrap(), None);
}

#[test]
fn the_last_stable_offset_never_falls_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    txn_data(&log, 5, 0, 0, 2); // 0-1, open
    log.append(batch(1, 3, 10, NOW)).unwrap(); // 2-4
    assert_eq!(log.last_stable_offset(), 0);
    // DeleteRecords past the open transaction's first offset.
    log.advance_log_start_offset(3).unwrap();
    assert_eq!(log.last_stable_offset(), 3);
    let data = log
        .fetch_committed_into(3, 1 << 20, &mut Vec::new())
        .unwrap();
    assert!(
        data.is_empty(),
        "nothing is stable past the open transaction"
    );
}

#[test]
fn an_entry_after_a_torn_txnindex_tail_stays_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    txn_data(&log, 5, 0, 0, 1); // 0
    log.append_txn_marker(5, 0, false, 0).unwrap(); // 1
    drop(log);
    // A crash tore the next entry's write: 10 stray bytes.
    let path = dir.path().join("00000000000000000000.txnindex");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[7; 10]);
    std::fs::write(&path, &bytes).unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    txn_data(&log, 6, 0, 0, 1); // 2
    log.append_txn_marker(6, 0, false, 0).unwrap(); // 3
    let expected = vec![
        AbortedTxn {
            producer_id: 5,
            first_offset: 0,
            last_offset: 1,
            last_stable_offset: 2,
        },
        AbortedTxn {
            producer_id: 6,
            first_offset: 2,
            last_offset: 3,
            last_stable_offset: 4,
        },
    ];
    assert_eq!(log.aborted_transactions(0, 4), expected);
    drop(log);
    assert_eq!(std::fs::read(&path).unwrap().len(), 68);
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    assert_eq!(log.aborted_transactions(0, 4), expected);
}

/// A log on a clock the test drives, reading `NOW`.
fn on_a_clock(dir: &std::path::Path) -> (PartitionLog, std::sync::Arc<weir_log::ManualClock>) {
    let clock = std::sync::Arc::new(weir_log::ManualClock::new(NOW));
    let (log, _) = open_with_clock(
        dir,
        weir_log::LogConfig::default(),
        true,
        0,
        std::sync::Arc::clone(&clock) as std::sync::Arc<dyn weir_log::Clock>,
    );
    (log, clock)
}

/// Kafka's `producer.id.expiration.ms`: a producer idle that long is
/// forgotten (its retry no longer recognised, its next batch taken with any
/// sequence), unless it has a transaction open here.
#[test]
fn idle_producers_expire_but_not_with_an_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock) = on_a_clock(dir.path());
    let day = 86_400_000;
    let idempotent = |pid: i64, seq: i32| {
        let mut b = BatchBuilder::new(BatchOptions {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: seq,
            ..BatchOptions::default()
        });
        b.append(&Record::new("v").with_timestamp(NOW)).unwrap();
        log.append(b.build().unwrap()).unwrap()
    };
    idempotent(5, 0);
    txn_data(&log, 7, 0, 0, 1);
    assert_eq!(log.producer_count(), 2);

    assert_eq!(log.expire_producers(NOW + day - 1, day), 0);
    assert!(idempotent(5, 0).duplicate, "still known: a retry");
    assert_eq!(log.expire_producers(NOW + day, day), 1, "pid 5 only");
    assert_eq!(log.producer_count(), 1);
    // Forgotten: a batch with any sequence is taken, as after a restart.
    assert!(!idempotent(5, 40).duplicate);

    // Its transaction ended, pid 7 still stays: its epoch is what fences a
    // zombie of an older one.
    clock.set(NOW + 3 * day);
    log.append_txn_marker(7, 0, true, 0).unwrap();
    assert_eq!(log.expire_producers(NOW + 10 * day, day), 1, "pid 5 again");
    assert_eq!(log.producer_count(), 1);
}

/// A producer the coordinator fenced (an ABORT at the next epoch) stays
/// fenced however long it idles: its zombie's batch at the old epoch would
/// otherwise open a transaction nobody ends, holding read_committed readers.
#[test]
fn a_fenced_transactional_producer_stays_fenced_past_the_expiration() {
    let dir = tempfile::tempdir().unwrap();
    let (log, clock) = on_a_clock(dir.path());
    let day = 86_400_000;
    txn_data(&log, 7, 0, 0, 1);
    // The coordinator times the transaction out: abort with the next epoch.
    log.append_txn_marker(7, 1, false, 0).unwrap();
    assert!(matches!(
        try_txn_data(&log, 7, 0, 1, 1),
        Err(LogError::ProducerFenced { .. })
    ));
    clock.set(NOW + day);
    assert_eq!(log.expire_producers(NOW + day, day), 0);
    let zombie = try_txn_data(&log, 7, 0, 1, 1);
    assert!(
        matches!(zombie, Err(LogError::ProducerFenced { .. })),
        "zombie accepted at {zombie:?}; LSO {}, HW {}",
        log.last_stable_offset(),
        log.high_watermark()
    );
}

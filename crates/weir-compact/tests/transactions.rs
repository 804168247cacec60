//! Transactions under compaction (Kafka's rules): aborted data is removed and
//! never supersedes committed data, markers stay while their transaction has
//! data in the log, then get a delete horizon and go after it, and a
//! transaction whose marker is not yet in a closed segment is left alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;

use common::*;
use weir_log::{AppendOrigin, Clock, PartitionLog};
use weir_record::{BatchBuilder, BatchOptions, EndTransactionMarker, Record};

/// Writes transactional batches for producers, keeping their sequences.
#[derive(Default)]
struct Txns {
    sequences: HashMap<i64, i32>,
}

impl Txns {
    fn data(&mut self, log: &PartitionLog, pid: i64, records: &[(&str, &str)]) {
        let seq = self.sequences.entry(pid).or_insert(0);
        let mut b = BatchBuilder::new(BatchOptions {
            transactional: true,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: *seq,
            ..BatchOptions::default()
        });
        let now = log.clock().now_ms();
        for (k, v) in records {
            b.append(
                &Record::new(v.to_string())
                    .with_key(k.to_string())
                    .with_timestamp(now),
            )
            .unwrap();
        }
        *seq += records.len() as i32;
        log.append(b.build().unwrap()).unwrap();
    }

    fn end(&mut self, log: &PartitionLog, pid: i64, commit: bool) -> i64 {
        let marker = if commit {
            EndTransactionMarker::commit(0)
        } else {
            EndTransactionMarker::abort(0)
        };
        let batch = BatchBuilder::end_transaction_marker(
            BatchOptions {
                producer_id: pid,
                producer_epoch: 0,
                ..BatchOptions::default()
            },
            marker,
            log.clock().now_ms(),
        )
        .unwrap();
        log.append_as(batch, AppendOrigin::Coordinator)
            .unwrap()
            .base_offset
    }
}

/// Control batches of the log: (offset, delete horizon).
fn markers(log: &PartitionLog) -> Vec<(i64, Option<i64>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let data = log.fetch(offset, 1 << 20).unwrap();
        for b in data.batches() {
            let b = b.unwrap().batch;
            if b.is_control() && !b.records().unwrap().is_empty() {
                out.push((b.base_offset(), b.delete_horizon_ms()));
            }
        }
        offset = data.next_offset;
    }
    out
}

#[test]
fn aborted_data_goes_and_never_supersedes_committed_data() {
    let (_dir, clock, logs) =
        setup(&[("segment.bytes", "100000"), ("delete.retention.ms", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    let mut txns = Txns::default();
    put(&log, "a", Some("plain-1"));
    txns.data(&log, 7, &[("a", "committed-2"), ("b", "committed-b")]);
    txns.end(&log, 7, true);
    txns.data(&log, 8, &[("a", "aborted-3"), ("c", "aborted-c")]);
    put(&log, "d", Some("between"));
    let abort_at = txns.end(&log, 8, false);
    log.roll().unwrap();
    put(&log, "z", Some("active"));

    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let after = fold(&rows(&log));
    assert_eq!(
        after.get("a").map(String::as_str),
        Some("committed-2"),
        "{after:?}"
    );
    assert_eq!(after.get("b").map(String::as_str), Some("committed-b"));
    assert_eq!(after.get("c"), None, "aborted data is gone");
    assert_eq!(after.get("d").map(String::as_str), Some("between"));
    assert!(
        rows(&log)
            .iter()
            .all(|r| !r.value.as_deref().unwrap_or("").starts_with("aborted"))
    );
    // Both markers stay: each transaction still had data in the log when
    // this clean read it.
    let m = markers(&log);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m.iter().all(|(_, h)| h.is_none()));

    // Next clean: the aborted transaction's data is gone, so its marker may
    // go: first it gets a delete horizon, then after it, it goes.
    put(&log, "y", Some("more"));
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let m = markers(&log);
    assert!(
        m.contains(&(abort_at, Some(clock.now_ms() + 1000))),
        "{m:?}"
    );
    clock.advance(1001);
    put(&log, "x", Some("more"));
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let m = markers(&log);
    assert!(!m.iter().any(|(o, _)| *o == abort_at), "{m:?}");
    // The committed transaction still holds data ("a", "b"): its marker stays.
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        fold(&rows(&log)).get("a").map(String::as_str),
        Some("committed-2")
    );
}

#[test]
fn a_transaction_without_its_marker_is_not_cleaned_yet() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "100000")]);
    let log = logs.partition("t", 0).unwrap();
    let mut txns = Txns::default();
    for i in 0..5 {
        put(&log, "k", Some(&format!("plain-{i}")));
    }
    let open_from = log.log_end_offset();
    txns.data(&log, 9, &[("k", "open-txn")]);
    for i in 5..10 {
        put(&log, "k", Some(&format!("plain-{i}")));
    }
    log.roll().unwrap();
    // The ABORT is in the active segment: the cleaner cannot know the outcome
    // from the closed segments, so it stops before the transaction.
    txns.end(&log, 9, false);

    let cleaner = cleaner(&logs);
    let stats = cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert_eq!(stats.next_dirty_offset, open_from);
    let rows_now = rows(&log);
    assert!(
        rows_now
            .iter()
            .any(|r| r.value.as_deref() == Some("open-txn"))
    );
    assert_eq!(
        fold(&rows_now).get("k").map(String::as_str),
        Some("plain-9")
    );

    // Once the marker's segment is closed, the aborted record goes.
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let rows_now = rows(&log);
    assert!(
        !rows_now
            .iter()
            .any(|r| r.value.as_deref() == Some("open-txn")),
        "{rows_now:?}"
    );
    assert_eq!(
        fold(&rows_now).get("k").map(String::as_str),
        Some("plain-9")
    );
}

#[test]
fn an_active_producers_last_batch_keeps_its_header_when_emptied() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "100000")]);
    let log = logs.partition("t", 0).unwrap();
    // An idempotent producer's batches, then plain records superseding them.
    for seq in 0..3 {
        let mut b = BatchBuilder::new(BatchOptions {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: seq,
            ..BatchOptions::default()
        });
        b.append(
            &Record::new("idem")
                .with_key("k")
                .with_timestamp(log.clock().now_ms()),
        )
        .unwrap();
        log.append(b.build().unwrap()).unwrap();
    }
    let producers_last = log.log_end_offset() - 1;
    for _ in 0..3 {
        put(&log, "k", Some("plain"));
    }
    log.roll().unwrap();
    cleaner(&logs).clean_partition("t", 0).unwrap().unwrap();
    let data = log.fetch(0, 1 << 20).unwrap();
    let batches: Vec<_> = data.batches().map(|b| b.unwrap().batch).collect();
    let producer_batches: Vec<_> = batches.iter().filter(|b| b.producer_id() == 42).collect();
    assert_eq!(
        producer_batches.len(),
        1,
        "only the last batch of the producer stays"
    );
    let b = producer_batches[0];
    assert_eq!(b.last_offset(), producers_last);
    assert!(b.records().unwrap().is_empty(), "emptied, header kept");
    assert_eq!((b.producer_epoch(), b.base_sequence()), (3, 2));
    assert_eq!(
        fold(&rows(&log)).get("k").map(String::as_str),
        Some("plain")
    );
}

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

/// The golden `transactions` partition (a committed transaction, an aborted
/// one at offsets 5-6 with its ABORT marker at 8 listed in the `.txnindex`)
/// adopted into a data directory as a compacted topic, its one segment closed.
fn golden_transactions(
    dir: &std::path::Path,
    clock: &std::sync::Arc<weir_log::ManualClock>,
) -> std::sync::Arc<weir_log::LogDir> {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/kafka-segments/transactions/golden-transactions-0");
    let to = dir.join("golden-transactions-0");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&fixture).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join(weir_log::CLEAN_SHUTDOWN_FILE), "{}").unwrap();
    let logs = open(dir, clock);
    logs.alter_topic_config("golden-transactions", &[("cleanup.policy", "compact")], &[])
        .unwrap();
    logs
}

const ABORTED: weir_log::index::AbortedTxn = weir_log::index::AbortedTxn {
    producer_id: 7001,
    first_offset: 5,
    last_offset: 8,
    last_stable_offset: 7,
};

/// Review finding: the cleaned segment had no `.txnindex`, so aborted data a
/// pass keeps (here: the offset map is full before the ABORT marker) turned
/// visible to `read_committed` readers.
#[test]
fn aborted_data_a_clean_keeps_stays_in_the_cleaned_segments_txnindex() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(weir_log::ManualClock::new(1_800_000_000_000));
    let logs = golden_transactions(dir.path(), &clock);
    let log = logs.partition("golden-transactions", 0).unwrap();
    assert_eq!(log.aborted_transactions(0, 11), vec![ABORTED]);
    log.roll().unwrap();
    put(&log, "later", Some("v"));
    log.roll().unwrap();

    // One key fits the map: the pass ends before the aborted transaction.
    let config =
        weir_compact::CleanerConfig::from_props([("log.cleaner.dedupe.buffer.size", "24")])
            .unwrap();
    let cleaner = weir_compact::Cleaner::new(std::sync::Arc::clone(&logs), config).unwrap();
    let stats = cleaner
        .clean_partition("golden-transactions", 0)
        .unwrap()
        .unwrap();
    assert!(stats.next_dirty_offset <= 5, "{stats:?}");
    assert!(stats.segments_cleaned >= 1, "{stats:?}");
    let offsets: Vec<i64> = rows(&log).iter().map(|r| r.offset).collect();
    assert!(
        offsets.contains(&5) && offsets.contains(&6),
        "the aborted records are still in the log: {offsets:?}"
    );
    // Readers of this process see the cleaned segment's index at once.
    assert_eq!(
        log.aborted_transactions(0, log.log_end_offset()),
        vec![ABORTED]
    );
    drop(cleaner);
    drop(log);
    logs.close().unwrap();
    drop(logs);

    // After a restart the cleaned segment's index lists the transaction.
    let logs = open(dir.path(), &clock);
    let log = logs.partition("golden-transactions", 0).unwrap();
    assert_eq!(
        log.aborted_transactions(0, log.log_end_offset()),
        vec![ABORTED]
    );
    let report = weir_log::verify_path(log.dir());
    assert!(report.is_ok(), "{report:?}");
}

/// Review finding: a removed marker that was the last batch of its group was
/// kept as an empty control batch, and the next pass failed on it ("control
/// batch holds no record"), marking the partition uncleanable for good.
#[test]
fn an_emptied_marker_does_not_stop_later_cleans() {
    // Each segment is its own group: two never fit in one `segment.bytes`.
    let (_dir, clock, logs) = setup(&[("segment.bytes", "800"), ("delete.retention.ms", "0")]);
    let log = logs.partition("t", 0).unwrap();
    let mut txns = Txns::default();
    txns.data(&log, 8, &[("a", &"x".repeat(560))]);
    // With its header, about 750 bytes: never in one group with the marker.
    let big = "y".repeat(340);
    let abort_at = txns.end(&log, 8, false);
    log.roll().unwrap();
    let cleaner = cleaner(&logs);
    let mut emptied_seen = false;
    for round in 0..6 {
        put(&log, &format!("k{round}"), Some(&big));
        log.roll().unwrap();
        clock.advance(10);
        cleaner
            .clean_partition("t", 0)
            .unwrap_or_else(|e| panic!("round {round}: {e}"))
            .unwrap();
        let data = log.fetch(abort_at, 1 << 20).unwrap();
        let first = data.batches().next().unwrap().unwrap().batch;
        emptied_seen |= first.base_offset() == abort_at
            && first.is_control()
            && first.records().unwrap().is_empty();
    }
    assert!(emptied_seen, "the marker was emptied at some point");
    assert!(cleaner.partition_state("t", 0).unwrap().error.is_none());
    let report = weir_log::verify_path(log.dir());
    assert!(report.is_ok(), "{report:?}");
}

/// Review finding: a crash while a cleaned segment's files were renamed from
/// `.swap` into place (its `.txnindex` first, its `.log` last) left the
/// cleaned `.txnindex` in place and the `.log` still `.swap`; finishing the
/// swap at open deleted that `.txnindex`, and the aborted transaction turned
/// visible to `read_committed` readers for good.
#[test]
fn a_swap_finished_at_open_keeps_the_cleaned_segments_txnindex() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(weir_log::ManualClock::new(1_800_000_000_000));
    let logs = golden_transactions(dir.path(), &clock);
    let log = logs.partition("golden-transactions", 0).unwrap();
    log.roll().unwrap();
    put(&log, "later", Some("v"));
    log.roll().unwrap();
    let config =
        weir_compact::CleanerConfig::from_props([("log.cleaner.dedupe.buffer.size", "24")])
            .unwrap();
    let cleaner = weir_compact::Cleaner::new(std::sync::Arc::clone(&logs), config).unwrap();
    cleaner
        .clean_partition("golden-transactions", 0)
        .unwrap()
        .unwrap();
    let part = log.dir().to_path_buf();
    drop(cleaner);
    drop(log);
    logs.close().unwrap();
    drop(logs);

    // The state a crash inside the final renames leaves: the cleaned
    // segment's .txnindex in place, its other files still .swap; no
    // clean-shutdown marker.
    let base = "00000000000000000000";
    assert!(part.join(format!("{base}.txnindex")).exists());
    for kind in ["log", "index", "timeindex"] {
        let from = part.join(format!("{base}.{kind}"));
        if from.exists() {
            std::fs::rename(&from, part.join(format!("{base}.{kind}.swap"))).unwrap();
        }
    }
    std::fs::remove_file(dir.path().join(weir_log::CLEAN_SHUTDOWN_FILE)).unwrap();

    let logs = open(dir.path(), &clock);
    let log = logs.partition("golden-transactions", 0).unwrap();
    assert_eq!(
        log.aborted_transactions(0, log.log_end_offset()),
        vec![ABORTED]
    );
    assert!(part.join(format!("{base}.txnindex")).exists());
}

/// Review finding: an ABORT marker past the map's end was taken as removable
/// (the pass never saw its transaction's data) and went, while the aborted
/// data stayed; later passes then stalled on it for good.
#[test]
fn an_abort_marker_past_the_maps_end_stays_with_its_data() {
    let (_dir, _clock, logs) = setup(&[("delete.retention.ms", "0")]);
    let log = logs.partition("t", 0).unwrap();
    let mut txns = Txns::default();
    put(&log, "a", Some("a"));
    put(&log, "b", Some("b"));
    put(&log, "d", Some("d"));
    txns.data(&log, 9, &[("c", "x")]);
    let marker = txns.end(&log, 9, false);
    log.roll().unwrap();
    let cleaner = one_key_cleaner(&logs);
    for _ in 0..2 {
        cleaner.clean_partition("t", 0).unwrap();
    }
    let offsets: Vec<i64> = rows(&log).iter().map(|r| r.offset).collect();
    if offsets.contains(&3) {
        assert!(
            markers(&log).iter().any(|(o, _)| *o == marker),
            "the aborted data stays without its marker: {offsets:?}"
        );
    }
    // Cleaning goes on past the transaction.
    for _ in 0..8 {
        put(&log, "e", Some("e"));
        log.roll().unwrap();
        let _ = cleaner.clean_partition("t", 0).unwrap();
    }
    let state = cleaner.partition_state("t", 0).unwrap();
    assert!(state.first_dirty_offset > marker, "{state:?}");
    assert!(state.error.is_none(), "{state:?}");
    // Aborted data never counts.
    assert_eq!(fold(&rows(&log)).get("c"), None);
}

/// Review finding: a COMMIT whose keys did not fit the map left the pass's
/// end past the transaction: its keys were never compared with older records,
/// and a tombstone in it let the older value come back.
#[test]
fn a_transaction_that_does_not_fit_the_map_is_cleaned_by_a_later_pass() {
    let (_dir, _clock, logs) = setup(&[("delete.retention.ms", "0")]);
    let log = logs.partition("t", 0).unwrap();
    let mut txns = Txns::default();
    put(&log, "a", Some("old"));
    // One transactional batch: b=x and a tombstone for a.
    {
        let mut b = BatchBuilder::new(BatchOptions {
            transactional: true,
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: 0,
            ..BatchOptions::default()
        });
        let now = log.clock().now_ms();
        b.append(&Record::new("x").with_key("b").with_timestamp(now))
            .unwrap();
        b.append(&Record {
            timestamp: now,
            key: Some(bytes::Bytes::from_static(b"a")),
            value: None,
            headers: Vec::new(),
        })
        .unwrap();
        log.append(b.build().unwrap()).unwrap();
        txns.sequences.insert(9, 2);
    }
    txns.end(&log, 9, true);
    log.roll().unwrap();
    let cleaner = one_key_cleaner(&logs);
    let first = cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert!(first.next_dirty_offset <= 1, "{first:?}");
    for _ in 0..6 {
        put(&log, "f", Some("f"));
        log.roll().unwrap();
        let _ = cleaner.clean_partition("t", 0).unwrap();
    }
    assert_eq!(fold(&rows(&log)).get("a"), None, "{:?}", rows(&log));
}

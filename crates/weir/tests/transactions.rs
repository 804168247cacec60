//! `isolation.level` over Kafka-written transactions: the golden `transactions`
//! segment (a committed transaction, an aborted one with its `.txnindex` entry,
//! a second producer's transaction interleaved, plain batches between) read by
//! `read_committed` and `read_uncommitted` consumers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use weir::{IsolationLevel, TopicPartition, Weir};

const TOPIC: &str = "golden-transactions";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/kafka-segments/transactions")
        .join("golden-transactions-0")
}

fn manifest() -> serde_json::Value {
    let path = fixture().join("../manifest.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// A data directory holding the golden partition, opened as after a clean
/// shutdown or after a crash (recovery re-reads the segment).
fn open(clean: bool) -> (tempfile::TempDir, Weir) {
    let dir = tempfile::tempdir().unwrap();
    let partition = dir.path().join("golden-transactions-0");
    fs::create_dir(&partition).unwrap();
    for entry in fs::read_dir(fixture()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), partition.join(entry.file_name())).unwrap();
    }
    if clean {
        fs::write(dir.path().join(".kafka_cleanshutdown"), b"").unwrap();
    }
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    (dir, weir)
}

/// Offsets a consumer returns from `from` to the end, polling with `props`.
fn offsets(weir: &Weir, from: i64, props: &[(&str, &str)]) -> Vec<i64> {
    let mut all = vec![
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "0"),
    ];
    all.extend_from_slice(props);
    let mut consumer = weir.consumer(&all).unwrap();
    let tp = TopicPartition::new(TOPIC, 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    consumer.seek(&tp, from).unwrap();
    let end = weir.partition(TOPIC, 0).unwrap().high_watermark();
    let mut out = Vec::new();
    while consumer.position(&tp).unwrap() < end {
        let polled = consumer.poll(Duration::from_secs(5)).unwrap();
        out.extend(polled.iter().map(|r| r.offset()));
    }
    out
}

fn numbers(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_i64().unwrap())
        .collect()
}

#[test]
fn read_committed_skips_the_aborted_transaction_and_read_uncommitted_does_not() {
    let m = manifest();
    let all: Vec<i64> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    let aborted = numbers(&m["aborted_offsets"]);
    assert!(!aborted.is_empty(), "the fixture aborts a transaction");
    let committed: Vec<i64> = all
        .iter()
        .copied()
        .filter(|o| !aborted.contains(o))
        .collect();
    for clean in [true, false] {
        let (_dir, weir) = open(clean);
        // Every way of reading: whole fetches, one batch per fetch (so the
        // aborted transaction's first offset, its records and its ABORT
        // marker arrive in different fetches), one record per poll.
        for props in [
            vec![],
            vec![("max.partition.fetch.bytes", "1")],
            vec![("max.poll.records", "1")],
        ] {
            let mut committed_props = props.clone();
            committed_props.push(("isolation.level", "read_committed"));
            assert_eq!(
                offsets(&weir, 0, &committed_props),
                committed,
                "read_committed, clean {clean}, {props:?}"
            );
            let mut uncommitted_props = props.clone();
            uncommitted_props.push(("isolation.level", "read_uncommitted"));
            assert_eq!(
                offsets(&weir, 0, &uncommitted_props),
                all,
                "read_uncommitted, clean {clean}, {props:?}"
            );
        }
    }
}

#[test]
fn read_committed_from_inside_an_aborted_transaction_goes_on_after_it() {
    let m = manifest();
    let aborted = numbers(&m["aborted_offsets"]);
    let (_dir, weir) = open(true);
    let inside = aborted[aborted.len() - 1];
    let got = offsets(&weir, inside, &[("isolation.level", "read_committed")]);
    assert!(
        got.iter().all(|o| !aborted.contains(o) && *o > inside),
        "{got:?}"
    );
    assert!(!got.is_empty(), "the committed records after it come back");
}

#[test]
fn the_log_lists_the_aborted_transactions_a_fetch_meets() {
    let (_dir, weir) = open(false);
    let log = weir.partition(TOPIC, 0).unwrap();
    let all = log.aborted_transactions(0, log.high_watermark());
    assert_eq!(all.len(), 1, "{all:?}");
    let t = all[0];
    assert_eq!((t.producer_id, t.first_offset, t.last_offset), (7001, 5, 8));
    // A fetch that ends before the transaction starts, or starts after its
    // marker, does not meet it.
    assert!(log.aborted_transactions(0, 5).is_empty());
    assert!(log.aborted_transactions(9, 11).is_empty());
    assert_eq!(log.aborted_transactions(8, 9).len(), 1);
}

#[test]
fn a_bounded_read_committed_skips_the_aborted_transaction_too() {
    let m = manifest();
    let aborted = numbers(&m["aborted_offsets"]);
    let (_dir, weir) = open(false);
    for (level, skips) in [
        (IsolationLevel::ReadCommitted, true),
        (IsolationLevel::ReadUncommitted, false),
    ] {
        let mut got = Vec::new();
        let summary = weir
            .bounded_read(TOPIC)
            .isolation_level(level)
            .fetch_bytes(100)
            .open()
            .unwrap()
            .for_each(|r| {
                got.push(r.record.offset());
                Ok(())
            })
            .unwrap();
        assert_eq!(summary.records as usize, got.len());
        assert_eq!(
            summary.missing_offsets, 0,
            "markers and aborted batches hold their offsets"
        );
        assert_eq!(
            got.iter().any(|o| aborted.contains(o)),
            !skips,
            "{level:?}: {got:?}"
        );
        assert_eq!(got.len() + if skips { aborted.len() } else { 0 }, 8);
    }
}

/// A transaction marker is never returned, but its CRC is checked as any
/// batch's (`check.crcs`, as Kafka's `CompletedFetch` checks every batch):
/// the records before it come back, then the poll fails naming the marker,
/// and the position stays at it. With `check.crcs=false` it is passed over.
#[test]
fn a_damaged_transaction_marker_fails_the_poll_unless_check_crcs_is_off() {
    let m = manifest();
    let marker = m["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["control"].as_bool() == Some(true))
        .unwrap();
    let offset = marker["base_offset"].as_i64().unwrap();
    let last_byte = marker["position"].as_u64().unwrap() + marker["size"].as_u64().unwrap() - 1;
    let (dir, _) = open(true);
    let segment = dir
        .path()
        .join("golden-transactions-0")
        .join(marker["segment"].as_str().unwrap());
    let mut bytes = fs::read(&segment).unwrap();
    bytes[usize::try_from(last_byte).unwrap()] ^= 0x55;
    fs::write(&segment, &bytes).unwrap();
    fs::write(dir.path().join(".kafka_cleanshutdown"), b"").unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap();
    let tp = TopicPartition::new(TOPIC, 0);
    for level in ["read_uncommitted", "read_committed"] {
        let mut consumer = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("isolation.level", level),
            ])
            .unwrap();
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        let mut delivered = Vec::new();
        let err = loop {
            match consumer.poll(Duration::from_secs(1)) {
                Ok(records) => {
                    assert!(!records.is_empty(), "{level}: the marker was never reached");
                    delivered.extend(records.iter().map(|r| r.offset()));
                }
                Err(e) => break e,
            }
        };
        assert!(
            delivered.iter().all(|o| *o < offset),
            "{level}: {delivered:?}"
        );
        assert!(
            matches!(&err, weir::WeirError::Corrupt { offset: o, .. } if *o == offset),
            "{level}: {err:?}"
        );
        assert_eq!(consumer.position(&tp).unwrap(), offset, "{level}");
    }
    let past = offsets(&weir, 0, &[("check.crcs", "false")]);
    assert!(past.iter().any(|o| *o > offset), "{past:?}");
}

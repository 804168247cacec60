//! The transactional producer: records of a transaction are seen by
//! `read_committed` consumers only once it commits and never if it aborts,
//! consumer offsets commit with it, a newer producer with the same
//! `transactional.id` fences the older one, an expired transaction is
//! aborted, and a crash leaves nothing half-committed: the next open aborts
//! an open transaction and completes a decided one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::time::{Duration, Instant};

use weir::{OffsetAndMetadata, Producer, ProducerRecord, TopicPartition, Weir, WeirError};

fn open(dir: &Path) -> Weir {
    Weir::builder(dir).background_thread(false).open().unwrap()
}

fn txn_producer(weir: &Weir, id: &str) -> Producer {
    weir.producer(&[("transactional.id", id), ("linger.ms", "0")])
        .unwrap()
}

fn send(p: &Producer, topic: &str, key: &str, value: &str) {
    p.send(ProducerRecord::new(topic, value.to_string()).key(key.to_string()))
        .unwrap();
}

/// The values a fresh consumer reads from the start of `topic`, until the
/// end its isolation level sees.
fn read(weir: &Weir, topic: &str, isolation: &str) -> Vec<String> {
    let mut consumer = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "0"),
            ("isolation.level", isolation),
        ])
        .unwrap();
    let partitions = weir.topic(topic).unwrap().partition_count();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, i32::try_from(p).unwrap()))
        .collect();
    consumer.assign(&tps).unwrap();
    let ends = consumer.end_offsets(&tps).unwrap();
    let mut out = Vec::new();
    loop {
        let done = ends
            .iter()
            .all(|(tp, end)| consumer.position(tp).unwrap() >= *end);
        if done {
            return out;
        }
        // Short polls: a poll that skips only aborted records and markers
        // waits its whole timeout for more, as Kafka's does.
        for r in consumer.poll(Duration::from_millis(100)).unwrap().iter() {
            out.push(String::from_utf8(r.value().unwrap().to_vec()).unwrap());
        }
    }
}

/// Waits, by notification, until `log`'s last stable offset passes
/// `offset` (an open transaction there ended), at most 20 s; the caller
/// asserts what it expects then.
fn wait_stable_past(log: &std::sync::Arc<weir_log::PartitionLog>, offset: i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _ = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(20),
            log.committed_data_available(offset),
        )
        .await
    });
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn committed_records_appear_together_and_aborted_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("a", 3, &[]).unwrap();
    weir.admin().create_topic("b", 1, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();

    p.begin_transaction().unwrap();
    for i in 0..30 {
        send(&p, "a", &format!("k{i}"), &format!("one-{i}"));
    }
    send(&p, "b", "k", "one-b");
    p.flush();
    // Written, not committed: read_uncommitted sees them, read_committed not.
    assert_eq!(read(&weir, "a", "read_uncommitted").len(), 30);
    assert!(read(&weir, "a", "read_committed").is_empty());
    assert!(read(&weir, "b", "read_committed").is_empty());
    p.commit_transaction().unwrap();
    assert_eq!(read(&weir, "a", "read_committed").len(), 30);
    assert_eq!(read(&weir, "b", "read_committed"), vec!["one-b"]);

    p.begin_transaction().unwrap();
    for i in 0..10 {
        send(&p, "a", &format!("k{i}"), &format!("two-{i}"));
    }
    p.abort_transaction().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "a", "k0", "three-0");
    p.commit_transaction().unwrap();
    let committed = read(&weir, "a", "read_committed");
    assert_eq!(committed.len(), 31);
    assert!(
        committed.iter().all(|v| !v.starts_with("two")),
        "{committed:?}"
    );
    assert!(committed.contains(&"three-0".to_string()));
    // read_uncommitted sees the aborted records too, never the markers.
    assert_eq!(read(&weir, "a", "read_uncommitted").len(), 41);
    // The log lists the aborted transaction where its records are.
    let aborted: usize = (0..3)
        .map(|i| {
            let log = weir.partition("a", i).unwrap();
            log.aborted_transactions(0, log.high_watermark()).len()
        })
        .sum();
    assert!(aborted >= 1);
    p.close();
    drop(p);
    weir.close().unwrap();
    drop(weir);
    // The same after a reopen: markers and .txnindex are on disk.
    let weir = open(dir.path());
    assert_eq!(read(&weir, "a", "read_committed").len(), 31);
    assert_eq!(read(&weir, "b", "read_committed"), vec!["one-b"]);
}

#[test]
fn a_read_committed_consumer_waits_at_an_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let plain = weir.producer(&[("linger.ms", "0")]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "in-txn");
    p.flush();
    plain
        .send(ProducerRecord::new("t", "after".to_string()))
        .unwrap()
        .wait()
        .unwrap();
    let tp = TopicPartition::new("t", 0);
    let mut c = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_committed"),
        ])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    // The last stable offset is the transaction's first: nothing is read,
    // and the poll waits its whole timeout (no spin, no record after it).
    assert_eq!(c.end_offsets(std::slice::from_ref(&tp)).unwrap()[0].1, 0);
    let latest = |isolation| {
        weir.admin()
            .list_offsets_isolated(&[(tp.clone(), weir::OffsetSpec::Latest)], isolation)
            .unwrap()[0]
            .1
            .offset
    };
    assert_eq!(latest(weir::IsolationLevel::ReadCommitted), 0);
    assert_eq!(latest(weir::IsolationLevel::ReadUncommitted), 2);
    assert!(c.poll(Duration::from_millis(50)).unwrap().is_empty());
    assert_eq!(c.current_lag(&tp).unwrap(), Some(0));
    p.commit_transaction().unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 2 && Instant::now() < deadline {
        for r in c.poll(Duration::from_secs(1)).unwrap().iter() {
            got.push(String::from_utf8(r.value().unwrap().to_vec()).unwrap());
        }
    }
    assert_eq!(got, vec!["in-txn", "after"]);
}

#[test]
fn calls_out_of_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    let refused = |r: Result<(), WeirError>| {
        assert!(matches!(r, Err(WeirError::Transaction { .. })), "{r:?}");
    };
    refused(p.begin_transaction());
    assert!(matches!(
        p.send(ProducerRecord::new("t", "x".to_string())),
        Err(WeirError::Transaction { .. })
    ));
    p.init_transactions().unwrap();
    refused(p.init_transactions());
    refused(p.commit_transaction());
    refused(p.abort_transaction());
    assert!(matches!(
        p.send(ProducerRecord::new("t", "x".to_string())),
        Err(WeirError::Transaction { .. })
    ));
    p.begin_transaction().unwrap();
    refused(p.begin_transaction());
    // An empty transaction commits (and aborts) as a no-op.
    p.commit_transaction().unwrap();
    p.begin_transaction().unwrap();
    p.abort_transaction().unwrap();
    // A producer without transactional.id has no transactions.
    let plain = weir.producer(&[]).unwrap();
    assert!(matches!(
        plain.init_transactions(),
        Err(WeirError::InvalidArgument(_))
    ));
    assert_eq!(weir.partition("t", 0).unwrap().high_watermark(), 0);
}

#[test]
fn a_newer_producer_with_the_same_id_fences_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let old = txn_producer(&weir, "tx");
    old.init_transactions().unwrap();
    old.begin_transaction().unwrap();
    send(&old, "t", "k1", "zombie-1");
    old.flush();
    let new = txn_producer(&weir, "tx");
    new.init_transactions().unwrap();
    assert_eq!(new.producer_id(), old.producer_id());
    assert!(new.producer_epoch() > old.producer_epoch());
    // The old producer's open transaction was aborted with the new epoch.
    assert!(read(&weir, "t", "read_committed").is_empty());
    let log = weir.partition("t", 0).unwrap();
    let log1 = weir.partition("t", 1).unwrap();
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    assert_eq!(log1.last_stable_offset(), log1.high_watermark());
    // Its late records are refused, and so is its commit.
    let late = old.send(ProducerRecord::new("t", "zombie-2".to_string()).key("k1".to_string()));
    if let Ok(f) = late {
        assert!(f.wait().is_err(), "a fenced epoch's batch is refused");
    }
    assert!(matches!(
        old.commit_transaction(),
        Err(WeirError::ProducerFenced { .. })
    ));
    new.begin_transaction().unwrap();
    send(&new, "t", "k1", "fresh");
    new.commit_transaction().unwrap();
    assert_eq!(read(&weir, "t", "read_committed"), vec!["fresh"]);
}

#[test]
fn offsets_commit_with_the_transaction_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    weir.admin().create_topic("out", 1, &[]).unwrap();
    let plain = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..10 {
        plain
            .send(ProducerRecord::new("in", format!("order-{i}")))
            .unwrap();
    }
    plain.flush();
    let mut consumer = weir
        .consumer(&[
            ("group.id", "enricher"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_committed"),
        ])
        .unwrap();
    consumer.subscribe(&["in"]).unwrap();
    let p = txn_producer(&weir, "enricher-0");
    p.init_transactions().unwrap();
    let tp = TopicPartition::new("in", 0);
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen < 10 && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(200)).unwrap();
        if records.is_empty() {
            continue;
        }
        p.begin_transaction().unwrap();
        for r in records.iter() {
            let v = String::from_utf8(r.value().unwrap().to_vec()).unwrap();
            send(&p, "out", "k", &format!("{v}-enriched"));
            seen += 1;
        }
        let next = consumer.position(&tp).unwrap();
        let group = consumer.group_metadata().unwrap();
        assert!(group.generation_id >= 0 && !group.member_id.is_empty());
        p.send_offsets_to_transaction(&[(tp.clone(), OffsetAndMetadata::new(next))], &group)
            .unwrap();
        p.commit_transaction().unwrap();
        let coordinator = weir.group_coordinator().unwrap();
        assert_eq!(coordinator.committed("enricher", &tp).unwrap().offset, next);
    }
    assert_eq!(seen, 10);
    assert_eq!(read(&weir, "out", "read_committed").len(), 10);

    // An aborted transaction's offsets are not committed.
    plain
        .send(ProducerRecord::new("in", "order-10".to_string()))
        .unwrap()
        .wait()
        .unwrap();
    let records = consumer.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(records.count(), 1);
    p.begin_transaction().unwrap();
    send(&p, "out", "k", "order-10-enriched");
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(11))],
        &consumer.group_metadata().unwrap(),
    )
    .unwrap();
    p.abort_transaction().unwrap();
    let coordinator = weir.group_coordinator().unwrap();
    assert_eq!(coordinator.committed("enricher", &tp).unwrap().offset, 10);
    assert_eq!(read(&weir, "out", "read_committed").len(), 10);

    // A member of an older generation is refused when it sends offsets.
    let mut stale = consumer.group_metadata().unwrap();
    stale.generation_id += 7;
    p.begin_transaction().unwrap();
    assert!(matches!(
        p.send_offsets_to_transaction(&[(tp, OffsetAndMetadata::new(11))], &stale),
        Err(WeirError::Group(_))
    ));
    // Its records would commit without the offsets: it can only abort.
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::Transaction { .. })
    ));
    p.abort_transaction().unwrap();
}

#[test]
fn an_expired_transaction_is_aborted_and_its_producer_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let p = weir
        .producer(&[
            ("transactional.id", "slow"),
            ("transaction.timeout.ms", "100"),
            ("linger.ms", "0"),
        ])
        .unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "too-late");
    p.flush();
    let log = weir.partition("t", 0).unwrap();
    assert_eq!(log.last_stable_offset(), 0);
    wait_stable_past(&log, 0);
    assert_eq!(log.last_stable_offset(), log.high_watermark(), "aborted");
    assert_eq!(log.high_watermark(), 2, "the record and its ABORT marker");
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::ProducerFenced { .. })
    ));
    assert!(read(&weir, "t", "read_committed").is_empty());
}

#[test]
fn dropping_a_producer_aborts_its_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "dropped");
    drop(p);
    let log = weir.partition("t", 0).unwrap();
    assert_eq!(log.high_watermark(), 2, "the record and its ABORT marker");
    assert_eq!(log.last_stable_offset(), 2);
    assert!(read(&weir, "t", "read_committed").is_empty());
}

/// Copies a data directory as a crash leaves it (what the page cache held),
/// leaving out the lock file.
fn crash_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".lock" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            crash_copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn after_a_crash_an_open_transaction_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    {
        let weir = open(dir.path());
        weir.admin().create_topic("t", 2, &[]).unwrap();
        let p = txn_producer(&weir, "tx");
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        send(&p, "t", "a", "committed");
        p.commit_transaction().unwrap();
        p.begin_transaction().unwrap();
        for i in 0..20 {
            send(&p, "t", &format!("k{i}"), "open");
        }
        p.flush();
        crash_copy(dir.path(), crashed.path());
    }
    let weir = open(crashed.path());
    assert_eq!(read(&weir, "t", "read_committed"), vec!["committed"]);
    for i in 0..2 {
        let log = weir.partition("t", i).unwrap();
        assert_eq!(log.last_stable_offset(), log.high_watermark());
    }
    let aborted: usize = (0..2)
        .map(|i| {
            let log = weir.partition("t", i).unwrap();
            log.aborted_transactions(0, log.high_watermark()).len()
        })
        .sum();
    assert_eq!(aborted, 2, "each partition lists the aborted transaction");
    // The transactional id goes on with a newer epoch.
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "a", "after");
    p.commit_transaction().unwrap();
    assert_eq!(
        sorted(read(&weir, "t", "read_committed")),
        vec!["after", "committed"]
    );
}

#[test]
fn after_a_crash_a_decided_commit_is_completed_with_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    {
        let weir = open(dir.path());
        weir.admin().create_topic("in", 1, &[]).unwrap();
        weir.admin().create_topic("out", 1, &[]).unwrap();
        let p = txn_producer(&weir, "tx");
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        send(&p, "out", "k", "decided");
        p.flush();
        crash_copy(dir.path(), crashed.path());
    }
    // The crash came right after the coordinator wrote its decision (with
    // the offsets), before any marker: as the file then is.
    let path = crashed.path().join("weir-transactions.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entry = &mut state["transactions"]["tx"];
    assert_eq!(entry["status"], "ongoing");
    entry["status"] = "prepare_commit".into();
    entry["offsets"] = serde_json::json!([{
        "group": "g", "topic": "in", "partition": 0, "offset": 0,
        "leader_epoch": null, "metadata": "from the transaction"
    }]);
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let weir = open(crashed.path());
    assert_eq!(read(&weir, "out", "read_committed"), vec!["decided"]);
    let committed = weir
        .group_coordinator()
        .unwrap()
        .committed("g", &TopicPartition::new("in", 0))
        .unwrap();
    assert_eq!(committed.metadata, "from the transaction");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state["transactions"]["tx"]["status"], "empty");
}

#[test]
fn a_damaged_coordinator_file_is_a_typed_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let weir = open(dir.path());
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let p = txn_producer(&weir, "tx");
        p.init_transactions().unwrap();
    }
    std::fs::write(dir.path().join("weir-transactions.json"), b"{not json").unwrap();
    let err = Weir::builder(dir.path())
        .background_thread(false)
        .open()
        .unwrap_err();
    assert!(err.to_string().contains("weir-transactions.json"), "{err}");
}

/// Review finding: after a failed abort, a commit was accepted and committed
/// a transaction one of whose batches had failed.
#[test]
fn after_a_failed_abort_only_an_abort_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    weir.admin()
        .create_topic("c", 1, &[("cleanup.policy", "compact")])
        .unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "partial");
    // A record without a key on a compacted topic: its batch is refused.
    let _ = p.send(ProducerRecord::new("c", "no key".to_string()));
    p.flush();
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::Transaction { .. })
    ));
    // The abort fails: the coordinator cannot write its file.
    let blocker = dir.path().join("weir-transactions.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    assert!(p.abort_transaction().is_err());
    std::fs::remove_dir(&blocker).unwrap();
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::Transaction { .. })
    ));
    p.abort_transaction().unwrap();
    assert!(read(&weir, "t", "read_committed").is_empty());
}

/// Review finding: an fsync failure (on the completion thread, acks=all)
/// did not keep the transaction from committing.
#[test]
fn a_failed_fsync_keeps_the_transaction_from_committing() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new("t", "fine".to_string()).partition(1))
        .unwrap();
    p.flush();
    weir.partition("t", 0).unwrap().inject_fsync_failure();
    p.send(ProducerRecord::new("t", "lost".to_string()).partition(0))
        .unwrap();
    p.flush();
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::Transaction { .. })
    ));
    // The read-only partition takes no ABORT marker: the abort fails, the
    // healthy partition is aborted, and the rest waits for a restart.
    assert!(p.abort_transaction().is_err());
    let log1 = weir.partition("t", 1).unwrap();
    assert_eq!(log1.last_stable_offset(), log1.high_watermark());
    assert_eq!(
        log1.aborted_transactions(0, log1.high_watermark()).len(),
        1,
        "the healthy partition's records are aborted"
    );
    let log0 = weir.partition("t", 0).unwrap();
    assert!(log0.last_stable_offset() < log0.high_watermark());
    drop((p, log0, log1));
    // The close reports the read-only partition; the next open recovers it.
    assert!(weir.close().is_err());
    drop(weir);
    let weir = open(dir.path());
    for i in 0..2 {
        let log = weir.partition("t", i).unwrap();
        assert_eq!(log.last_stable_offset(), log.high_watermark(), "t-{i}");
    }
    assert!(read(&weir, "t", "read_committed").is_empty());
}

/// Review finding: a topic deleted and created again while a transaction
/// was open, then a crash: the abort at the next open did not find the
/// records in the new topic, and read_committed readers saw them.
#[test]
fn a_recreated_topic_joins_the_transaction_anew() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    {
        let weir = open(dir.path());
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let plain = weir.producer(&[("linger.ms", "0")]).unwrap();
        for i in 0..10 {
            send(&plain, "t", "k", &format!("plain-{i}"));
        }
        plain.flush();
        let p = txn_producer(&weir, "tx");
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        send(&p, "t", "k", "first");
        p.flush();
        weir.admin().delete_topic("t").unwrap();
        weir.admin().create_topic("t", 1, &[]).unwrap();
        // The send sees the new topic (the producer looks at the topics'
        // metadata version on each send).
        send(&p, "t", "k", "uncommitted");
        p.flush();
        let log = weir.partition("t", 0).unwrap();
        assert!(log.high_watermark() > 0);
        assert_eq!(log.last_stable_offset(), 0);
        crash_copy(dir.path(), crashed.path());
        std::mem::forget(p);
    }
    let weir = open(crashed.path());
    assert!(read(&weir, "t", "read_committed").is_empty());
    let log = weir.partition("t", 0).unwrap();
    assert_eq!(log.last_stable_offset(), log.high_watermark());
}

/// Review finding: ending a transaction whose topic was deleted created the
/// topic again (with auto-creation on).
#[test]
fn ending_a_transaction_does_not_bring_a_deleted_topic_back() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .background_thread(false)
        .auto_create_topics(3, &[])
        .open()
        .unwrap();
    weir.admin().create_topic("gone", 3, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "gone", "k", "v");
    p.flush();
    weir.admin().delete_topic("gone").unwrap();
    p.abort_transaction().unwrap();
    assert!(!weir.admin().list_topics().iter().any(|n| n == "gone"));
}

/// Review finding: Kafka accepts offsets sent with a group id alone (no
/// member, generation -1) even while the group has members.
#[test]
fn offsets_sent_with_a_group_id_alone_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    weir.admin().create_topic("out", 1, &[]).unwrap();
    let mut c = weir
        .consumer(&[("group.id", "g"), ("auto.offset.reset", "earliest")])
        .unwrap();
    c.subscribe(&["in"]).unwrap();
    let _ = c.poll(Duration::from_millis(200)).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "out", "k", "v");
    p.send_offsets_to_transaction(
        &[(TopicPartition::new("in", 0), OffsetAndMetadata::new(1))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    p.commit_transaction().unwrap();
    let committed = weir
        .group_coordinator()
        .unwrap()
        .committed("g", &TopicPartition::new("in", 0))
        .unwrap();
    assert_eq!(committed.offset, 1);
}

/// Review finding: a producer whose epoch is the last one a producer can get
/// is still fenced when its transaction times out (a new producer id comes
/// before the epoch runs out, as in Kafka).
#[test]
fn a_producer_near_the_last_epoch_is_still_fenced_by_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    {
        let weir = open(dir.path());
        weir.admin().create_topic("t", 1, &[]).unwrap();
        txn_producer(&weir, "slow").init_transactions().unwrap();
    }
    let path = dir.path().join("weir-transactions.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let old_id = state["transactions"]["slow"]["producer_id"]
        .as_i64()
        .unwrap();
    state["transactions"]["slow"]["producer_epoch"] = 32764.into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let weir = open(dir.path());
    let p = weir
        .producer(&[
            ("transactional.id", "slow"),
            ("transaction.timeout.ms", "100"),
            ("linger.ms", "0"),
        ])
        .unwrap();
    p.init_transactions().unwrap();
    assert_eq!((p.producer_id(), p.producer_epoch()), (old_id, 32765));
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "v1");
    p.flush();
    let log = weir.partition("t", 0).unwrap();
    wait_stable_past(&log, 0);
    assert_eq!(log.last_stable_offset(), log.high_watermark(), "aborted");
    // The abort fenced the producer: its late batch is refused, its commit
    // too, and nothing is left open.
    let late = p.send(ProducerRecord::new("t", "v2".to_string()).key("k".to_string()));
    p.flush();
    if let Ok(f) = late {
        assert!(f.wait().is_err());
    }
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::ProducerFenced { .. })
    ));
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    // The next producer gets a new id.
    let next = txn_producer(&weir, "slow");
    next.init_transactions().unwrap();
    assert_ne!(next.producer_id(), old_id);
    assert_eq!(next.producer_epoch(), 0);
}

/// Review finding (Kafka's `require_stable`, KIP-447): a consumer fetching
/// a committed offset that an open transaction is about to move waits for
/// the transaction, instead of reading again from the older offset.
#[test]
fn a_committed_offset_an_open_transaction_carries_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    weir.admin().create_topic("out", 1, &[]).unwrap();
    let tp = TopicPartition::new("in", 0);
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "out", "k", "v");
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(7))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    let (started, assigned) = std::sync::mpsc::channel();
    let reader = {
        let weir = weir.clone();
        let tp = tp.clone();
        std::thread::spawn(move || {
            let mut c = weir
                .consumer(&[("group.id", "g"), ("auto.offset.reset", "earliest")])
                .unwrap();
            started.send(()).unwrap();
            c.assign(std::slice::from_ref(&tp)).unwrap();
            c.position(&tp).unwrap()
        })
    };
    assigned.recv().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.commit_transaction().unwrap();
    assert_eq!(
        reader.join().unwrap(),
        7,
        "the offset the transaction committed"
    );
}

/// Second review: a send refused at once (here: over max.request.size)
/// left the transaction able to commit without that record.
#[test]
fn a_send_refused_at_once_keeps_the_transaction_from_committing() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let p = weir
        .producer(&[
            ("transactional.id", "tx"),
            ("linger.ms", "0"),
            ("max.request.size", "1000"),
        ])
        .unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "t", "k", "small");
    assert!(matches!(
        p.send(ProducerRecord::new("t", "x".repeat(2000))),
        Err(WeirError::RecordTooLarge { .. })
    ));
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::Transaction { .. })
    ));
    p.abort_transaction().unwrap();
    assert!(read(&weir, "t", "read_committed").is_empty());
}

/// Second review (Kafka's `UNSTABLE_OFFSET_COMMIT`): a poll does not block
/// on a committed offset an open transaction carries; the partition waits,
/// unread and not reset, and is read from the transaction's offset once it
/// commits.
#[test]
fn a_poll_waits_for_a_carried_offset_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    weir.admin().create_topic("out", 1, &[]).unwrap();
    let plain = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..10 {
        send(&plain, "in", "k", &format!("in-{i}"));
    }
    plain.flush();
    let tp = TopicPartition::new("in", 0);
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    send(&p, "out", "k", "v");
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(7))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    let mut c = weir
        .consumer(&[
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("fetch.max.wait.ms", "0"),
        ])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    // Not read from the beginning meanwhile, and no error.
    assert!(c.poll(Duration::from_millis(50)).unwrap().is_empty());
    assert!(c.poll(Duration::from_millis(50)).unwrap().is_empty());
    p.commit_transaction().unwrap();
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while first.is_none() && Instant::now() < deadline {
        first = c
            .poll(Duration::from_millis(100))
            .unwrap()
            .iter()
            .next()
            .map(|r| r.offset());
    }
    assert_eq!(first, Some(7));
}

/// A poll that takes a transaction's last records also passes over its
/// COMMIT marker: a consumer that read everything is at the end, with no
/// lag (Kafka's shows a lag of one until its next fetch).
#[test]
fn reading_a_transaction_to_its_end_passes_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    for i in 0..5 {
        send(&p, "t", "k", &format!("v{i}"));
    }
    p.commit_transaction().unwrap();
    let tp = TopicPartition::new("t", 0);
    for isolation in ["read_committed", "read_uncommitted"] {
        let mut c = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "5"),
                ("isolation.level", isolation),
            ])
            .unwrap();
        c.assign(std::slice::from_ref(&tp)).unwrap();
        let mut n = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while n < 5 && Instant::now() < deadline {
            n += c.poll(Duration::from_millis(100)).unwrap().count();
        }
        assert_eq!(n, 5);
        assert_eq!(c.position(&tp).unwrap(), 6, "{isolation}: past the marker");
        assert_eq!(c.current_lag(&tp).unwrap(), Some(0), "{isolation}");
    }
}

/// `position` waits for a carried offset up to `default.api.timeout.ms`,
/// then fails with a timeout naming the partition.
#[test]
fn position_waits_for_a_carried_offset_up_to_default_api_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    let tp = TopicPartition::new("in", 0);
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(3))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    let mut c = weir
        .consumer(&[("group.id", "g"), ("default.api.timeout.ms", "50")])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let err = c.position(&tp).unwrap_err();
    assert!(
        matches!(err, WeirError::Timeout { waited_ms: 50, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("in-0"), "{err}");
    p.commit_transaction().unwrap();
    assert_eq!(c.position(&tp).unwrap(), 3);
}

/// Third review: a poll whose partitions all wait for a carried offset
/// noticed the transaction's end only at its own deadline (never, with no
/// timeout): it looks again every 100 ms.
#[test]
fn a_long_poll_notices_when_a_carried_offset_settles() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    let plain = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..5 {
        send(&plain, "in", "k", &format!("in-{i}"));
    }
    plain.flush();
    let tp = TopicPartition::new("in", 0);
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(2))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    {
        let weir = weir.clone();
        let tp = tp.clone();
        std::thread::spawn(move || {
            let mut c = weir
                .consumer(&[("group.id", "g"), ("enable.auto.commit", "false")])
                .unwrap();
            c.assign(std::slice::from_ref(&tp)).unwrap();
            tx.send(()).unwrap();
            // No timeout: only the settled offset can end this poll.
            let first = c
                .poll(Duration::MAX)
                .unwrap()
                .iter()
                .next()
                .map(|r| r.offset());
            let _ = done_tx.send(first);
        });
    }
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    p.commit_transaction().unwrap();
    // A generous bound, so that a poll that never notices fails the test
    // instead of hanging it.
    let first = done
        .recv_timeout(Duration::from_secs(60))
        .expect("the poll noticed the settled offset");
    assert_eq!(first, Some(2));
}

/// Third review: once the coordinator had decided to commit, a failed
/// commit followed by an abort (refused: decided) left the producer unable
/// to retry the commit.
#[test]
fn after_a_decided_commit_fails_the_commit_is_what_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let p = txn_producer(&weir, "tx");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    for i in 0..2 {
        p.send(ProducerRecord::new("t", format!("v{i}")).partition(i))
            .unwrap();
    }
    p.flush();
    // The marker's fsync fails in partition 0: decided, not finished.
    weir.partition("t", 0).unwrap().inject_fsync_failure();
    assert!(p.commit_transaction().is_err());
    let log1 = weir.partition("t", 1).unwrap();
    let after_first = log1.high_watermark();
    assert!(matches!(
        p.abort_transaction(),
        Err(WeirError::TransactionDecided { commit: true, .. })
    ));
    // The commit is retried (partition 0 is read-only: it fails again), and
    // the marker partition 1 has is not written twice.
    let retried = p.commit_transaction();
    assert!(
        !matches!(retried, Err(WeirError::Transaction { .. })),
        "{retried:?}"
    );
    assert_eq!(log1.high_watermark(), after_first, "no second marker");
    drop((p, log1));
    assert!(weir.close().is_err());
    drop(weir);
    // The next open completes the decided commit.
    let weir = open(dir.path());
    assert_eq!(sorted(read(&weir, "t", "read_committed")), vec!["v0", "v1"]);
}

/// Third review: a transaction that only carries offsets never timed out,
/// and consumers of those partitions waited for ever.
#[test]
fn a_transaction_of_offsets_alone_times_out_too() {
    let dir = tempfile::tempdir().unwrap();
    let weir = open(dir.path());
    weir.admin().create_topic("in", 1, &[]).unwrap();
    let tp = TopicPartition::new("in", 0);
    let p = weir
        .producer(&[
            ("transactional.id", "idle"),
            ("transaction.timeout.ms", "100"),
        ])
        .unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(5))],
        &weir::ConsumerGroupMetadata::new("g"),
    )
    .unwrap();
    let listed = weir.admin().list_transactions();
    assert_eq!(listed[0].state, weir::TransactionState::Ongoing);
    // Aborted by the timeout thread: the offset was never committed, and a
    // consumer of the group starts where auto.offset.reset says.
    let mut c = weir
        .consumer(&[("group.id", "g"), ("auto.offset.reset", "earliest")])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(c.position(&tp).unwrap(), 0);
    assert!(matches!(
        p.commit_transaction(),
        Err(WeirError::ProducerFenced { .. })
    ));
}

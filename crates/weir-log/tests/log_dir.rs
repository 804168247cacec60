//! LogDir: topics, names, configs, the lock, clean and unclean shutdown,
//! checkpoints, and adopting Kafka partition directories.

mod common;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use common::{NOW, batch, read_all};
use weir_log::{
    CLEAN_SHUTDOWN_FILE, ConfigError, LogDir, LogDirOptions, LogError, ManualClock,
    RECOVERY_POINT_CHECKPOINT,
};

fn options(clock: &ManualClock) -> LogDirOptions {
    LogDirOptions {
        clock: Arc::new(clock.clone()),
        background_thread: false,
        ..LogDirOptions::default()
    }
}

#[test]
fn topics_are_created_listed_and_deleted_with_kafkas_rules() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let t = logs
        .create_topic("orders", 3, &[("cleanup.policy", "compact")])
        .unwrap();
    assert_eq!(t.partition_count(), 3);
    assert_eq!(t.topic_id().len(), 22);
    for p in 0..3 {
        assert!(dir.path().join(format!("orders-{p}")).is_dir());
        let meta =
            fs::read_to_string(dir.path().join(format!("orders-{p}/partition.metadata"))).unwrap();
        assert_eq!(meta, format!("version: 0\ntopic_id: {}\n", t.topic_id()));
    }
    assert!(matches!(
        logs.create_topic("orders", 1, &[]),
        Err(LogError::TopicExists { .. })
    ));
    logs.create_topic("my.topic", 1, &[]).unwrap();
    assert!(matches!(
        logs.create_topic("my_topic", 1, &[]),
        Err(LogError::TopicCollision { existing, .. }) if existing == "my.topic"
    ));
    for bad in ["", "..", "has space", &"x".repeat(250)] {
        assert!(
            matches!(
                logs.create_topic(bad, 1, &[]),
                Err(LogError::InvalidTopicName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        logs.create_topic("__consumer_offsets", 1, &[]),
        Err(LogError::InvalidTopicName { .. })
    ));
    assert!(matches!(
        logs.create_topic("zero", 0, &[]),
        Err(LogError::InvalidPartitions { .. })
    ));
    let err = logs
        .create_topic("bad-config", 1, &[("retention.msec", "1")])
        .unwrap_err();
    assert!(
        matches!(&err, LogError::Config { topic, source: ConfigError::UnknownKey { key } } if topic == "bad-config" && key == "retention.msec"),
        "{err}"
    );
    assert!(
        !dir.path().join("bad-config-0").exists(),
        "nothing created for a rejected topic"
    );
    assert!(matches!(
        logs.partition("orders", 3),
        Err(LogError::UnknownPartition { partitions: 3, .. })
    ));

    let names: Vec<String> = logs.topics().iter().map(|t| t.name().to_string()).collect();
    assert_eq!(names, ["my.topic", "orders"]);
    logs.delete_topic("orders").unwrap();
    assert!(!dir.path().join("orders-0").exists());
    assert!(matches!(
        logs.topic("orders"),
        Err(LogError::UnknownTopic { .. })
    ));
    // The name can be reused, and starts empty.
    logs.create_topic("orders", 1, &[]).unwrap();
    assert_eq!(logs.partition("orders", 0).unwrap().log_end_offset(), 0);
}

#[test]
fn configs_persist_and_alter_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let logs = LogDir::open(dir.path()).unwrap();
        logs.create_topic(
            "t",
            2,
            &[("retention.ms", "1000"), ("segment.bytes", "4096")],
        )
        .unwrap();
        let err = logs
            .alter_topic_config(
                "t",
                &[
                    ("segment.bytes", "2048"),
                    ("min.cleanable.dirty.ratio", "7"),
                ],
                &[],
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("min.cleanable.dirty.ratio"),
            "{err}"
        );
        assert_eq!(
            logs.topic("t").unwrap().config().log_config().segment_bytes,
            4096,
            "unchanged on error"
        );
        let c = logs
            .alter_topic_config("t", &[("cleanup.policy", "compact")], &["retention.ms"])
            .unwrap();
        assert_eq!(c.log_config().retention_ms, 7 * 24 * 3600 * 1000);
        assert!(
            logs.partition("t", 1)
                .unwrap()
                .config()
                .cleanup_policy
                .compact
        );
        logs.create_partitions("t", 4).unwrap();
        assert!(matches!(
            logs.create_partitions("t", 2),
            Err(LogError::InvalidPartitions { .. })
        ));
        logs.close().unwrap();
    }
    let logs = LogDir::open(dir.path()).unwrap();
    let t = logs.topic("t").unwrap();
    assert_eq!(t.partition_count(), 4);
    let overrides: Vec<(String, String)> = t.config().overrides().clone().into_iter().collect();
    assert_eq!(
        overrides,
        [
            ("cleanup.policy".into(), "compact".into()),
            ("segment.bytes".into(), "4096".into())
        ]
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let err = LogDir::open(dir.path()).unwrap_err();
    match &err {
        LogError::DirLocked { path, holder } => {
            assert_eq!(path, dir.path());
            assert_eq!(
                holder.as_deref(),
                Some(format!("pid {}", std::process::id()).as_str())
            );
        }
        other => panic!("expected DirLocked, got {other}"),
    }
    assert!(err.to_string().contains("in use"), "{err}");
    drop(logs);
    LogDir::open(dir.path()).unwrap();
}

#[test]
fn clean_shutdown_is_trusted_and_an_unclean_one_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("a", 2, &[("segment.bytes", "2048")])
        .unwrap();
    for i in 0..20 {
        logs.partition("a", (i % 2) as i32)
            .unwrap()
            .append(batch(i, 2, 100, NOW))
            .unwrap();
    }
    logs.close().unwrap();
    drop(logs); // releases the lock
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let checkpoint = fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
    assert_eq!(checkpoint, "0\n2\na 0 20\na 1 20\n");

    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    assert!(
        !dir.path().join(CLEAN_SHUTDOWN_FILE).exists(),
        "the marker goes at open"
    );
    assert!(logs.recovery_reports().is_empty());
    for i in 20..30 {
        logs.partition("a", 0)
            .unwrap()
            .append(batch(i, 2, 100, NOW))
            .unwrap();
    }
    logs.simulate_crash();

    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    let reports = logs.recovery_reports();
    assert!(
        reports
            .iter()
            .any(|(p, r)| p == "a-0" && r.segments_recovered > 0),
        "{reports:?}"
    );
    assert_eq!(logs.partition("a", 0).unwrap().log_end_offset(), 40);
    assert_eq!(read_all(&logs.partition("a", 0).unwrap()).len(), 20);
}

#[test]
fn flush_ms_makes_a_flush_due() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("f", 1, &[("flush.ms", "1000")]).unwrap();
    let log = logs.partition("f", 0).unwrap();
    log.append(batch(1, 1, 10, NOW)).unwrap();
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(log.next_flush_due_ms(), Some(NOW + 1000));
    clock.advance(999);
    assert!(!log.flush_if_due(NOW + 999).unwrap());
    clock.advance(1);
    assert!(log.flush_if_due(NOW + 1000).unwrap());
    assert_eq!(log.recovery_point(), 1);

    // flush.messages forces an fsync in the appending thread.
    logs.create_topic("m", 1, &[("flush.messages", "3")])
        .unwrap();
    let m = logs.partition("m", 0).unwrap();
    m.append(batch(1, 2, 10, NOW)).unwrap();
    assert_eq!(m.recovery_point(), 0);
    m.append(batch(2, 1, 10, NOW)).unwrap();
    assert_eq!(m.recovery_point(), 3);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[test]
fn kafka_partition_directories_are_adopted_as_topics() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &fixtures.join("two-segments/golden-two-segments-0"),
        &dir.path().join("golden-two-segments-0"),
    );
    // As a cleanly stopped Kafka broker leaves it.
    fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE), "{}").unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let t = logs.topic("golden-two-segments").unwrap();
    assert_eq!(t.partition_count(), 1);
    let log = t.partition(0).unwrap();
    assert_eq!(log.log_end_offset(), 231);
    assert_eq!(log.segments().len(), 2);
    assert_eq!(
        read_all(&log)
            .iter()
            .map(|b| b.records_count() as i64)
            .sum::<i64>(),
        231
    );
    // Appends continue with the partition's leader epoch (1 in this log).
    let info = log.append(batch(1, 1, 10, log.clock().now_ms())).unwrap();
    assert_eq!(info.base_offset, 231);
    let last = read_all(&log).pop().unwrap();
    assert_eq!(last.partition_leader_epoch(), 1);
}

/// Deleting a topic rewrites the checkpoints (Kafka's `asyncDelete`), so a
/// topic created again under the same name does not inherit the old log start
/// offset: acknowledged records of the new topic stay readable after a crash.
#[test]
fn a_recreated_topic_does_not_inherit_the_deleted_topics_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("t", 1, &[]).unwrap();
    let log = logs.partition("t", 0).unwrap();
    for i in 0..6 {
        log.append(batch(i, 10, 20, NOW)).unwrap();
    }
    log.flush().unwrap();
    log.advance_log_start_offset(50).unwrap();
    logs.write_checkpoints().unwrap();
    drop(log);
    logs.delete_topic("t").unwrap();

    logs.create_topic("t", 1, &[]).unwrap();
    let log = logs.partition("t", 0).unwrap();
    log.append(batch(7, 10, 20, NOW)).unwrap();
    // acks=all: the records are fsynced before they are acknowledged.
    log.flush_until(log.log_end_offset()).unwrap();
    drop(log);
    logs.simulate_crash();

    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    let log = logs.partition("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset(), 10);
    let batches = read_all(&log);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].records_count(), 10);
}

/// A crash after a delete renamed the partition directories but before it
/// rewrote `weir-topics.json` finishes the delete at the next open instead of
/// bringing the topic back.
#[test]
fn a_delete_interrupted_after_the_renames_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("gone", 2, &[]).unwrap();
    logs.create_topic("kept", 1, &[]).unwrap();
    logs.partition("gone", 0)
        .unwrap()
        .append(batch(1, 1, 10, NOW))
        .unwrap();
    logs.close().unwrap();
    drop(logs);
    // The state such a crash leaves: both directories renamed, metadata not
    // yet rewritten.
    for p in 0..2 {
        fs::rename(
            dir.path().join(format!("gone-{p}")),
            dir.path().join(format!("gone-{p}.abc{p}-delete")),
        )
        .unwrap();
    }
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    assert!(matches!(
        logs.topic("gone"),
        Err(LogError::UnknownTopic { .. })
    ));
    assert!(logs.topic("kept").is_ok());
    assert!(!dir.path().join("gone-0").exists());
    assert!(!dir.path().join("gone-0.abc0-delete").exists());
    let topics: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join(weir_log::TOPICS_FILE)).unwrap()).unwrap();
    assert!(topics["topics"].get("gone").is_none(), "{topics}");
    // Unfinished above the log: its offsets and cleaner checkpoint are still
    // to go (the weir crate does that when it opens the directory).
    assert_eq!(logs.unfinished_deletes(), ["gone"]);
    assert_eq!(topics["deleted"], serde_json::json!(["gone"]), "{topics}");
}

/// Review 18: a crash while a topic's partition directories are being made
/// leaves the topic as it was asked for, every partition and config, with the
/// missing directories made at the next open (Kafka's controller commits a
/// topic with all its partitions at once). Before, the directories made so far
/// were adopted as a topic of their own, with default configs, and creating
/// the topic again said it existed.
#[test]
fn a_crash_while_a_topic_is_created_leaves_it_whole() {
    for made in [0, 3] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(NOW);
        let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
        logs.crash_in_next_create_topic_for_test(made);
        let configs = [("cleanup.policy", "compact"), ("retention.ms", "1000")];
        assert!(matches!(
            logs.create_topic("t", 6, &configs),
            Err(LogError::Closed { .. })
        ));
        let on_disk = (0..6)
            .filter(|p| dir.path().join(format!("t-{p}")).is_dir())
            .count();
        assert_eq!(
            on_disk, made as usize,
            "the crash came after {made} partitions"
        );
        logs.simulate_crash();

        let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
        let t = logs.topic("t").unwrap();
        assert_eq!(t.partition_count(), 6, "crash after {made} partitions");
        assert_eq!(
            t.config()
                .overrides()
                .get("cleanup.policy")
                .map(String::as_str),
            Some("compact")
        );
        assert_eq!(
            t.config()
                .overrides()
                .get("retention.ms")
                .map(String::as_str),
            Some("1000")
        );
        for p in 0..6 {
            let meta =
                fs::read_to_string(dir.path().join(format!("t-{p}/partition.metadata"))).unwrap();
            assert_eq!(meta, format!("version: 0\ntopic_id: {}\n", t.topic_id()));
        }
        let log = logs.partition("t", 5).unwrap();
        assert_eq!(log.append(batch(0, 3, 10, NOW)).unwrap().base_offset, 0);
        assert_eq!(log.log_end_offset(), 3);
    }
}

/// What a topic's failed delete left in this process (a partition directory
/// not yet renamed, one renamed but not removed) is removed before a topic
/// of the same name is listed: a crash while that topic is created must not
/// bring the old records back as its own, nor take the renamed directory for
/// a delete of the new topic.
#[test]
fn a_topic_created_over_a_failed_deletes_leftovers_does_not_take_them() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("old", 1, &[]).unwrap();
    let log = logs.partition("old", 0).unwrap();
    log.append(batch(0, 5, 10, NOW)).unwrap();
    log.flush_until(log.log_end_offset()).unwrap();
    drop(log);
    // The leftovers, made from old's files: `t-0` still holding records and
    // `t-1` renamed for deletion.
    for target in ["t-0", "t-1.abc1-delete"] {
        let to = dir.path().join(target);
        fs::create_dir(&to).unwrap();
        for entry in fs::read_dir(dir.path().join("old-0")).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
        fs::remove_file(to.join("partition.metadata")).unwrap();
    }
    logs.crash_in_next_create_topic_for_test(0);
    assert!(logs.create_topic("t", 2, &[]).is_err());
    assert!(!dir.path().join("t-0").exists());
    assert!(!dir.path().join("t-1.abc1-delete").exists());
    logs.simulate_crash();

    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    let t = logs.topic("t").unwrap();
    assert_eq!(t.partition_count(), 2);
    for log in t.partitions() {
        assert_eq!(log.log_end_offset(), 0, "partition {}", log.partition());
    }
}

/// A delete lists its topic as unfinished (for the state kept above the
/// log: offsets, cleaner checkpoints) in the same write that removes it, so
/// that no crash loses the fact, until it is finished or a topic of the
/// name is created.
#[test]
fn a_delete_is_unfinished_until_finish_delete_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic("t", 2, &[]).unwrap();
    logs.create_topic("u", 1, &[]).unwrap();
    logs.delete_topic("t").unwrap();
    logs.delete_topic("u").unwrap();
    assert_eq!(logs.unfinished_deletes(), ["t", "u"]);
    logs.simulate_crash();
    let logs = LogDir::open(dir.path()).unwrap();
    assert_eq!(logs.unfinished_deletes(), ["t", "u"]);
    logs.finish_delete("t").unwrap();
    assert_eq!(logs.unfinished_deletes(), ["u"]);
    logs.create_topic("u", 1, &[]).unwrap();
    assert!(logs.unfinished_deletes().is_empty());
    logs.create_topic("t", 1, &[]).unwrap();
    logs.close().unwrap();
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.unfinished_deletes().is_empty());
    assert_eq!(logs.topic("t").unwrap().partition_count(), 1);
}

/// Review 18c: a delete whose write of `weir-topics.json` failed, then a
/// creation of the name that failed too, does not bring the deleted topic
/// back at the next open (with its old configs); and a creation over a
/// failed delete removes every partition directory the old topic left, not
/// only those below the new partition count.
#[test]
fn failed_deletes_and_creations_leave_nothing_of_the_old_topic() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic("t", 1, &[("cleanup.policy", "compact")])
        .unwrap();
    // Every write of weir-topics.json fails while its .tmp is a directory.
    let blocker = dir.path().join(format!("{}.tmp", weir_log::TOPICS_FILE));
    fs::create_dir(&blocker).unwrap();
    assert!(logs.delete_topic("t").is_err());
    assert!(logs.create_topic("t", 1, &[]).is_err());
    logs.simulate_crash();
    fs::remove_dir(&blocker).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.topic("t").is_err(), "the deleted topic came back");
    logs.close().unwrap();
    drop(logs);

    // A delete that failed at partition 1's rename leaves t-2 as it was.
    let logs = LogDir::open(dir.path()).unwrap();
    logs.finish_delete("t").unwrap();
    logs.create_topic("u", 3, &[]).unwrap();
    fs::remove_dir_all(dir.path().join("u-1")).unwrap();
    assert!(logs.delete_topic("u").is_err());
    assert!(dir.path().join("u-2").is_dir());
    logs.create_topic("u", 1, &[]).unwrap();
    assert!(
        !dir.path().join("u-2").exists(),
        "the old topic's partition 2 stayed"
    );
    assert!(dir.path().join("u-0").is_dir());
}

#[test]
fn a_topic_whose_creation_fails_leaves_no_partition_behind() {
    let dir = tempfile::tempdir().unwrap();
    // Partition 3's directory cannot be made: a file holds its name.
    fs::write(dir.path().join("blocked-3"), b"not a directory").unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.create_topic("blocked", 5, &[]).is_err());
    for p in 0..3 {
        assert!(
            !dir.path().join(format!("blocked-{p}")).exists(),
            "partition {p} stayed behind"
        );
    }
    assert!(logs.topic("blocked").is_err());
    logs.close().unwrap();
    drop(logs);
    fs::remove_file(dir.path().join("blocked-3")).unwrap();
    // Nothing is adopted as a topic at the next open.
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.topics().is_empty());
}

/// Checkpoint writers in several threads (the maintenance thread, the
/// cleaner, topic creation) share each file's `.tmp`: their writes are
/// serialized, so none fails and none publishes another's half-written file.
#[test]
fn checkpoints_written_from_many_threads_at_once_stay_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = Arc::new(LogDir::open_with(dir.path(), options(&clock)).unwrap());
    for t in 0..8 {
        logs.create_topic(&format!("topic-with-a-long-name-{t}"), 4, &[])
            .unwrap();
    }
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for _ in 0..300 {
                    logs.write_checkpoints().unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let entries =
        weir_log::checkpoint::read_offset_checkpoint(&dir.path().join(RECOVERY_POINT_CHECKPOINT))
            .unwrap();
    assert_eq!(entries.len(), 32);
}

/// A Kafka broker's data directory after an unclean stop: its own
/// `recovery-point-offset-checkpoint` names a partition whose compacted
/// segment has offset gaps above that point. Kafka's cleaner leaves such gaps,
/// so recovery of a directory adopted now checks framing and CRCs, not
/// contiguity, and keeps every batch.
#[test]
fn a_kafka_directory_with_its_own_recovery_point_keeps_compacted_gaps_above_it() {
    let (dir, kafka) = kafka_compacted_gaps_dir();
    let (topic, partition) = (kafka.topic.as_str(), kafka.partition);
    // The broker checkpointed offset 1; no clean-shutdown marker.
    fs::write(
        dir.path().join(RECOVERY_POINT_CHECKPOINT),
        format!("0\n1\n{topic} {partition} 1\n"),
    )
    .unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let log = logs.partition(topic, partition).unwrap();
    assert_eq!(log.log_end_offset(), kafka.next_offset);
    assert_eq!(read_all(&log).len(), kafka.batches);
}

/// A clean in progress when its topic is deleted and created again: the
/// swap of the old log is refused, and the new topic's files (same directory
/// name) are left alone.
#[test]
fn a_clean_of_a_deleted_topic_never_touches_the_topic_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    let compact = [("cleanup.policy", "compact")];
    logs.create_topic("t", 1, &compact).unwrap();
    let old = logs.partition("t", 0).unwrap();
    old.append(batch(1, 5, 10, NOW)).unwrap();
    old.append(batch(2, 5, 10, NOW)).unwrap();
    old.roll().unwrap();
    old.append(batch(3, 5, 10, NOW)).unwrap();
    let mut cleaned = old.create_cleaned(0).unwrap();
    for b in read_all(&old).iter().take(2) {
        cleaned.append(b.as_bytes()).unwrap();
    }

    logs.delete_topic("t").unwrap();
    logs.create_topic("t", 1, &compact).unwrap();
    let new = logs.partition("t", 0).unwrap();
    new.append(batch(4, 5, 10, NOW)).unwrap();
    new.flush().unwrap();

    assert!(matches!(
        old.swap_cleaned(cleaned, &[0]),
        Err(LogError::Closed { .. })
    ));
    assert!(matches!(
        old.create_cleaned(0),
        Err(LogError::Closed { .. })
    ));
    let names: Vec<String> = fs::read_dir(dir.path().join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"00000000000000000000.log".to_string()),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".deleted") && !n.contains(".swap") && !n.contains(".cleaned")),
        "{names:?}"
    );
    drop((old, new));
    drop(logs);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    let log = logs.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(read_all(&log).len(), 1);
}

/// A reader holding the log of a deleted topic reads that log's bytes, also
/// in large reads, never those of the topic created since under the same
/// name.
#[test]
fn a_large_read_of_a_deleted_topics_log_never_returns_the_new_topics_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("t", 1, &[]).unwrap();
    let old = logs.partition("t", 0).unwrap();
    for i in 0..20 {
        old.append(batch(i, 10, 1000, NOW)).unwrap();
    }
    logs.delete_topic("t").unwrap();
    logs.create_topic("t", 1, &[]).unwrap();
    let new = logs.partition("t", 0).unwrap();
    for i in 100..120 {
        new.append(batch(i, 10, 1000, NOW)).unwrap();
    }
    new.flush().unwrap();
    match old.fetch(0, 1 << 20) {
        Ok(data) => {
            let batches: Vec<_> = data.batches().map(|b| b.unwrap().batch).collect();
            assert!(!batches.is_empty());
            let values = common::values(&batches);
            assert!(
                values
                    .iter()
                    .all(|v| v.starts_with(|c: char| c.is_ascii_digit())
                        && v.split('-').next().unwrap().parse::<u64>().unwrap() < 100),
                "{:?}",
                values.iter().take(3).map(|v| &v[..8]).collect::<Vec<_>>()
            );
        }
        Err(e) => panic!("{e}"),
    }
}

/// The first open of a Kafka directory replaces Kafka's recovery points with
/// Weir's (written before the topics file names the adopted partition, so a
/// crash between the two writes leaves the partition unadopted rather than
/// Kafka's recovery point looking like Weir's), and a second open keeps the
/// compacted gaps.
#[test]
fn a_crash_in_the_first_open_of_a_kafka_directory_keeps_its_compacted_gaps() {
    let (dir, kafka) = kafka_compacted_gaps_dir();
    let (topic, partition, next) = (kafka.topic.as_str(), kafka.partition, kafka.next_offset);
    let kafka_checkpoint = format!("0\n1\n{topic} {partition} 1\n");
    let checkpoint = dir.path().join(RECOVERY_POINT_CHECKPOINT);
    fs::write(&checkpoint, &kafka_checkpoint).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    // Weir's recovery point replaced Kafka's before the topic was listed.
    let weirs = fs::read_to_string(&checkpoint).unwrap();
    assert_ne!(weirs, kafka_checkpoint);
    assert!(
        weirs.contains(&format!("{topic} {partition} {next}")),
        "{weirs}"
    );
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    let log = logs.partition(topic, partition).unwrap();
    assert_eq!(log.log_end_offset(), next);
}

/// Review finding: partitions created after (or while) the directory closed
/// took appends after the clean-shutdown marker, were never fsynced, and
/// were trusted at the next open. Creation after close is refused.
#[test]
fn nothing_is_created_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
    logs.create_topic("t", 1, &[]).unwrap();
    logs.close().unwrap();
    assert!(matches!(
        logs.create_partitions("t", 2),
        Err(LogError::Closed { .. })
    ));
    assert!(matches!(
        logs.create_topic("u", 1, &[]),
        Err(LogError::Closed { .. })
    ));
}

/// Review finding: a stray `backup-20240101` directory was adopted as a topic
/// of twenty million partitions, all created at open; `orders-007` was served
/// from an empty `orders-7`. Only directories named as Kafka names partition
/// directories, of a partition count a topic may have, are adopted.
#[test]
fn only_partition_directories_named_as_kafka_names_them_are_adopted() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("backup-20240101")).unwrap();
    fs::create_dir(dir.path().join("orders-007")).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let names: Vec<String> = logs.topics().iter().map(|t| t.name().to_string()).collect();
    assert!(names.is_empty(), "{names:?}");
}

/// Review finding: a torn last entry made open ignore a segment's whole
/// `.txnindex`, and the aborted records turned visible to `read_committed`
/// readers. The whole entries before it are kept.
#[test]
fn a_torn_txnindex_entry_keeps_the_whole_ones_before_it() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments");
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("golden-transactions-0");
    copy_dir(&fixtures.join("transactions/golden-transactions-0"), &part);
    let txn = fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "txnindex"))
        .expect("the fixture has a .txnindex");
    let mut bytes = fs::read(&txn).unwrap();
    assert!(!bytes.is_empty());
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 1, 2]);
    fs::write(&txn, &bytes).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let log = logs.partition("golden-transactions", 0).unwrap();
    assert!(!log.aborted_transactions(0, log.log_end_offset()).is_empty());
}

/// The `compacted-gaps` fixture's partition, as a Kafka broker left it.
struct KafkaPartition {
    topic: String,
    partition: i32,
    next_offset: i64,
    batches: usize,
}

/// A data directory holding the `compacted-gaps` fixture's partition
/// directory (no checkpoint files, no clean-shutdown marker).
fn kafka_compacted_gaps_dir() -> (tempfile::TempDir, KafkaPartition) {
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments/compacted-gaps");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(case.join("manifest.json")).unwrap()).unwrap();
    let name = manifest["dir"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&case.join(name), &dir.path().join(name));
    let (topic, partition) = name.rsplit_once('-').unwrap();
    let kafka = KafkaPartition {
        topic: topic.to_string(),
        partition: partition.parse().unwrap(),
        next_offset: manifest["next_offset"].as_i64().unwrap(),
        batches: manifest["batches"].as_array().unwrap().len(),
    };
    (dir, kafka)
}

/// Review 12 (recovery, finding 5): a topic change was published before
/// `weir-topics.json` was written. When that write failed, the caller got an
/// error, yet the new partitions took appends; the next open ignored them
/// (not in the file) and a later `create_partitions` deleted their records.
/// A new topic was live with no entry (adopted at the next open with default
/// configs), and a config change applied though it was never saved. Now the
/// file is written first: a failed write changes nothing.
#[test]
fn a_failed_topics_file_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic("t", 2, &[("retention.ms", "1000")])
        .unwrap();
    // The file's temporary name taken by a directory: every write fails.
    let blocker = dir.path().join("weir-topics.json.tmp");
    fs::create_dir(&blocker).unwrap();

    assert!(logs.create_partitions("t", 3).is_err());
    assert_eq!(logs.topic("t").unwrap().partition_count(), 2);
    assert!(logs.partition("t", 2).is_err());
    assert!(!dir.path().join("t-2").exists());

    assert!(logs.create_topic("u", 2, &[]).is_err());
    assert!(logs.topic("u").is_err());
    assert!(!dir.path().join("u-0").exists() && !dir.path().join("u-1").exists());

    assert!(
        logs.alter_topic_config("t", &[("retention.ms", "2000")], &[])
            .is_err()
    );
    let config = logs.topic("t").unwrap().config();
    assert_eq!(
        config.overrides().get("retention.ms").map(String::as_str),
        Some("1000")
    );
    assert_eq!(logs.partition("t", 0).unwrap().config().retention_ms, 1000);

    // Once the write works, so does each change, and a reopen sees them.
    fs::remove_dir(&blocker).unwrap();
    logs.create_partitions("t", 3).unwrap();
    logs.partition("t", 2)
        .unwrap()
        .append(batch(1, 5, 10, NOW))
        .unwrap();
    logs.create_topic("u", 1, &[]).unwrap();
    logs.alter_topic_config("t", &[("retention.ms", "2000")], &[])
        .unwrap();
    logs.close().unwrap();
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    assert_eq!(logs.partition("t", 2).unwrap().log_end_offset(), 5);
    assert!(logs.topic("u").is_ok());
    assert_eq!(
        logs.topic("t")
            .unwrap()
            .config()
            .overrides()
            .get("retention.ms")
            .map(String::as_str),
        Some("2000")
    );
}

/// Review 13: `__cluster_metadata` (KRaft's metadata log) and
/// `__share_group_state` were ordinary topics: Weir created them (a Kafka
/// node then refuses to start on the directory), and adopted a broker's
/// metadata log as a writable user topic with 7-day retention.
#[test]
fn kafkas_other_internal_topics_are_neither_created_nor_adopted_as_data() {
    for name in ["__cluster_metadata", "__share_group_state"] {
        assert!(weir_log::topic_name::is_internal_topic(name));
        let dir = tempfile::tempdir().unwrap();
        let logs = LogDir::open(dir.path()).unwrap();
        assert!(matches!(
            logs.create_topic(name, 1, &[]),
            Err(LogError::InvalidTopicName { .. })
        ));
    }
    // A KRaft broker's first log directory holds its metadata log.
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("__cluster_metadata-0");
    fs::create_dir(&meta).unwrap();
    fs::write(meta.join("00000000000000000000.log"), b"").unwrap();
    fs::write(
        meta.join("partition.metadata"),
        "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ\n",
    )
    .unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(matches!(
        logs.topic("__cluster_metadata"),
        Err(LogError::UnknownTopic { .. })
    ));
    assert!(
        meta.join("00000000000000000000.log").exists(),
        "left as it is"
    );
}

/// Review 13: a broker's directory often holds only some partitions of
/// `__consumer_offsets`; the adopted topic took "highest seen + 1"
/// partitions, so a group's new commits went to another partition than its
/// old ones and the old ones won at the next open. An adopted one has at
/// least Kafka's default 50 now; one Weir created keeps its count.
#[test]
fn an_adopted_offsets_topic_has_at_least_kafkas_partition_count() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("__consumer_offsets-3")).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    let t = logs.topic("__consumer_offsets").unwrap();
    assert_eq!(t.partition_count(), 50);
    assert!(t.is_internal());
    // A client still cannot change the count.
    assert!(logs.create_partitions("__consumer_offsets", 60).is_err());
    logs.close().unwrap();
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    assert_eq!(
        logs.topic("__consumer_offsets").unwrap().partition_count(),
        50
    );

    // Created by Weir with fewer: asked for again with another count (a
    // tool with the default), it keeps its own, as Kafka keeps an existing
    // offsets topic's count.
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_internal_topic("__consumer_offsets", 4, &[])
        .unwrap();
    let t = logs
        .create_internal_topic("__consumer_offsets", 50, &[])
        .unwrap();
    assert_eq!(t.partition_count(), 4);
}

/// Review 13: a topics file written before `__cluster_metadata` and
/// `__share_group_state` were internal listed them as ordinary topics; they
/// stayed so (the metadata log under 7-day retention).
#[test]
fn topics_listed_before_they_were_internal_are_internal_or_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic("plain", 1, &[]).unwrap();
    logs.close().unwrap();
    drop(logs);
    // As an older Weir wrote it.
    let file = dir.path().join("weir-topics.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    let plain = json["topics"]["plain"].clone();
    for name in ["__cluster_metadata", "__share_group_state"] {
        json["topics"][name] = plain.clone();
        fs::create_dir(dir.path().join(format!("{name}-0"))).unwrap();
    }
    fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.topic("__cluster_metadata").is_err());
    assert!(dir.path().join("__cluster_metadata-0").exists());
    assert!(logs.topic("__share_group_state").unwrap().is_internal());
    assert!(!logs.topic("plain").unwrap().is_internal());
}

/// Review 13: deleting a topic with a name near the 249-character limit
/// failed (`<topic>-<p>.<suffix>-delete` passed the 255-byte file-name
/// limit), after the topic had left the running process; it came back at the
/// next open. The renamed name's topic part is cut to fit, as Kafka cuts it.
#[test]
fn a_topic_with_a_name_at_the_length_limit_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let name = "a".repeat(249);
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic(&name, 2, &[]).unwrap();
    logs.partition(&name, 1)
        .unwrap()
        .append(batch(1, 3, 10, NOW))
        .unwrap();
    logs.delete_topic(&name).unwrap();
    assert!(!dir.path().join(format!("{name}-0")).exists());
    assert!(!dir.path().join(format!("{name}-1")).exists());
    logs.close().unwrap();
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.topic(&name).is_err());
    drop(logs);

    // A crash after the renames, before the topics file lost the topic: the
    // next open finishes the delete from the cut names too.
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic(&name, 1, &[]).unwrap();
    logs.close().unwrap();
    drop(logs);
    let cut = format!("{}-0.x{}-delete", &name[..230], "0".repeat(14));
    assert_eq!(cut.len(), 255);
    fs::rename(dir.path().join(format!("{name}-0")), dir.path().join(&cut)).unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    assert!(logs.topic(&name).is_err());
    assert!(!dir.path().join(&cut).exists());
}

/// Moving to Kafka: a topic takes the id Kafka's controller gave it, in every
/// `partition.metadata` and across reopens; ids Kafka would not take are
/// refused, naming the id.
#[test]
fn a_topic_takes_the_id_kafka_gave_it() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open(dir.path()).unwrap();
    logs.create_topic("orders", 2, &[]).unwrap();
    let before = logs.metadata_version();
    let kafka_id = "xOy2q1YhRSWtqRsJzGJv9w";
    logs.set_topic_id("orders", kafka_id).unwrap();
    assert_eq!(logs.topic("orders").unwrap().topic_id(), kafka_id);
    assert!(logs.metadata_version() > before);
    for p in 0..2 {
        let meta =
            fs::read_to_string(dir.path().join(format!("orders-{p}/partition.metadata"))).unwrap();
        assert_eq!(meta, format!("version: 0\ntopic_id: {kafka_id}\n"));
    }
    for bad in [
        "short",
        "xOy2q1YhRSWtqRsJzGJv9x",
        "xOy2q1YhRSWtqRsJzGJv9w==",
        "AAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAAAQ",
    ] {
        let err = logs.set_topic_id("orders", bad).unwrap_err();
        assert!(
            matches!(err, LogError::InvalidTopicId { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains(bad));
    }
    assert!(matches!(
        logs.set_topic_id("missing", kafka_id),
        Err(LogError::UnknownTopic { .. })
    ));
    logs.close().unwrap();
    drop(logs);
    let logs = LogDir::open(dir.path()).unwrap();
    assert_eq!(logs.topic("orders").unwrap().topic_id(), kafka_id);
}

/// Review 14, finding 2: a default changed after a topic stored a compaction
/// lag override broke `min <= max` for that topic, and the whole directory
/// failed to open. As Kafka, the cross-key rule holds only for creations and
/// changes; the directory opens, and the next change must fix the topic.
#[test]
fn a_default_that_breaks_a_stored_override_does_not_stop_the_directory_opening() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    {
        let logs = LogDir::open_with(dir.path(), options(&clock)).unwrap();
        logs.create_topic("t", 1, &[("max.compaction.lag.ms", "60000")])
            .unwrap();
        logs.create_topic("u", 1, &[("min.compaction.lag.ms", "60000")])
            .unwrap();
        logs.close().unwrap();
    }
    let mut opts = options(&clock);
    opts.default_config
        .set("min.compaction.lag.ms", "3600000")
        .unwrap();
    let logs = LogDir::open_with(dir.path(), opts).unwrap();
    let t = logs.topic("t").unwrap().config();
    assert_eq!(
        (
            t.log_config().min_compaction_lag_ms,
            t.log_config().max_compaction_lag_ms
        ),
        (3_600_000, 60_000)
    );
    // A change to the topic is checked against the rule again.
    let err = logs
        .alter_topic_config("t", &[("retention.ms", "1000")], &[])
        .unwrap_err();
    assert!(
        matches!(&err, LogError::Config { topic, source: ConfigError::InvalidValue { key, .. } } if topic == "t" && key == "min.compaction.lag.ms"),
        "{err:?}"
    );
    logs.alter_topic_config("t", &[("min.compaction.lag.ms", "0")], &[])
        .unwrap();
    logs.close().unwrap();
    drop(logs);

    // The reverse: an override of min, with the default max lowered since.
    let mut opts = options(&clock);
    opts.default_config
        .set("max.compaction.lag.ms", "1000")
        .unwrap();
    let logs = LogDir::open_with(dir.path(), opts).unwrap();
    assert_eq!(
        logs.topic("u")
            .unwrap()
            .config()
            .log_config()
            .min_compaction_lag_ms,
        60_000
    );
    logs.close().unwrap();
}

/// Review 14, finding 6: a key both set and deleted, or set twice, in one
/// change was accepted (the delete or the last value won). Kafka refuses
/// the request; nothing changes.
#[test]
fn a_config_change_naming_a_key_twice_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = LogDir::open_with(dir.path(), options(&ManualClock::new(NOW))).unwrap();
    logs.create_topic("t", 1, &[("segment.ms", "5000")])
        .unwrap();
    let before = logs.topic("t").unwrap().config();
    for (set, delete) in [
        (&[("retention.ms", "1000")][..], &["retention.ms"][..]),
        (
            &[("retention.ms", "1000"), ("retention.ms", "2000")][..],
            &[][..],
        ),
        (&[("segment.ms", "7000")][..], &["segment.ms"][..]),
        (&[][..], &["segment.ms", "segment.ms"][..]),
    ] {
        let err = logs.alter_topic_config("t", set, delete).unwrap_err();
        assert!(
            matches!(&err, LogError::Config { topic, source: ConfigError::DuplicateKey { key } } if topic == "t" && (key == "retention.ms" || key == "segment.ms")),
            "{set:?} {delete:?}: {err:?}"
        );
        assert_eq!(logs.topic("t").unwrap().config(), before);
    }
    logs.close().unwrap();
    drop(logs);
    // Nor was anything written.
    let logs = LogDir::open_with(dir.path(), options(&ManualClock::new(NOW))).unwrap();
    assert_eq!(logs.topic("t").unwrap().config(), before);
}

//! Retention: by time, by size, by the log start offset, the active segment,
//! and `file.delete.delay.ms`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use weir_compact::{Cleaner, CleanerConfig, apply_retention};
use weir_log::{Clock, ManualClock};

fn delete_topic(
    configs: &[(&str, &str)],
) -> (tempfile::TempDir, Arc<ManualClock>, Arc<weir_log::LogDir>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let logs = open(dir.path(), &clock);
    logs.create_topic("t", 1, configs).unwrap();
    (dir, clock, logs)
}

#[test]
fn time_retention_deletes_expired_segments_oldest_first() {
    let (_dir, clock, logs) = delete_topic(&[("segment.bytes", "1000"), ("retention.ms", "60000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..30 {
        put(&log, "k", Some(&format!("old-{i}")));
    }
    log.roll().unwrap();
    let old_end = log.log_end_offset();
    clock.advance(50_000);
    for i in 0..30 {
        put(&log, "k", Some(&format!("new-{i}")));
    }
    clock.advance(20_000);
    let (stats, deleted) = apply_retention(&log, clock.now_ms()).unwrap();
    assert!(stats.segments_deleted > 0);
    assert_eq!(
        stats.log_start_offset, old_end,
        "every old segment and no newer one"
    );
    assert_eq!(log.log_start_offset(), old_end);
    assert_eq!(deleted.len(), stats.segments_deleted);
    let left = rows(&log);
    assert!(
        left.iter()
            .all(|r| r.value.as_deref().unwrap().starts_with("new-"))
    );
    assert_eq!(left.len(), 30);
    assert!(log.fetch(0, 1000).is_err(), "below the log start offset");
}

#[test]
fn when_everything_expires_the_log_keeps_its_end_offset() {
    let (_dir, clock, logs) = delete_topic(&[("retention.ms", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    for _ in 0..10 {
        put(&log, "k", Some("v"));
    }
    clock.advance(1001);
    let (stats, _) = apply_retention(&log, clock.now_ms()).unwrap();
    assert_eq!(
        stats.segments_deleted, 1,
        "the active segment was rolled and deleted"
    );
    assert_eq!(log.log_start_offset(), 10);
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(put(&log, "k", Some("next")), 10);
    // An empty active segment is never deleted.
    let (stats, _) = apply_retention(&log, clock.now_ms() + 10_000_000).unwrap();
    assert_eq!(stats.segments_deleted, 1);
    let (stats, _) = apply_retention(&log, clock.now_ms() + 10_000_000).unwrap();
    assert_eq!(stats.segments_deleted, 0);
    assert_eq!(log.log_end_offset(), 11);
}

#[test]
fn size_retention_trims_the_partition_to_retention_bytes() {
    let (_dir, clock, logs) =
        delete_topic(&[("segment.bytes", "1000"), ("retention.bytes", "3000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..200 {
        put(&log, "k", Some(&format!("{i:08}")));
    }
    let total =
        |log: &weir_log::PartitionLog| log.segments().iter().map(|s| s.size_bytes).sum::<u64>();
    assert!(total(&log) > 3000);
    let (stats, _) = apply_retention(&log, clock.now_ms()).unwrap();
    assert!(stats.segments_deleted > 0);
    // As Kafka: a segment goes only while the excess is at least its size,
    // so the partition keeps at least retention.bytes, and less than one more
    // segment over it.
    let first = log.segments()[0].size_bytes;
    assert!(total(&log) >= 3000, "{} bytes left", total(&log));
    assert!(total(&log) - first < 3000, "{} bytes left", total(&log));
    let left = rows(&log);
    assert_eq!(left.last().unwrap().value.as_deref(), Some("00000199"));
}

#[test]
fn the_log_start_offset_deletes_segments_below_it_whatever_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let logs = open(dir.path(), &clock);
    logs.create_topic(
        "t",
        1,
        &[("segment.bytes", "1000"), ("cleanup.policy", "compact")],
    )
    .unwrap();
    let log = logs.partition("t", 0).unwrap();
    for i in 0..100 {
        put(&log, &format!("k{i}"), Some("v"));
    }
    log.advance_log_start_offset(50).unwrap();
    let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default()).unwrap();
    let stats = cleaner.run_retention().unwrap();
    assert!(stats.segments_deleted > 0);
    let segments = log.segments();
    assert!(segments[0].base_offset <= 50);
    assert!(segments[0].next_segment_base_offset.is_none_or(|n| n > 50));
    assert_eq!(log.log_start_offset(), 50);
    assert_eq!(rows(&log).first().unwrap().offset, 50);
}

#[test]
fn deleted_files_wait_for_file_delete_delay() {
    let (_dir, clock, logs) = delete_topic(&[
        ("segment.bytes", "1000"),
        ("retention.ms", "1000"),
        ("file.delete.delay.ms", "5000"),
    ]);
    let log = logs.partition("t", 0).unwrap();
    for _ in 0..40 {
        put(&log, "k", Some("value"));
    }
    clock.advance(2000);
    let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default()).unwrap();
    let stats = cleaner.run_retention().unwrap();
    assert!(stats.segments_deleted > 1);
    assert_eq!(cleaner.pending_deletes(), stats.segments_deleted);
    let deleted: Vec<_> = files(&logs)
        .into_iter()
        .filter(|f| f.ends_with(".deleted"))
        .collect();
    assert!(
        deleted.iter().any(|f| f.ends_with(".log.deleted")),
        "{deleted:?}"
    );
    clock.advance(4000);
    assert_eq!(cleaner.delete_expired_files(), 0);
    clock.advance(1001);
    assert_eq!(cleaner.delete_expired_files(), stats.segments_deleted);
    assert_eq!(cleaner.pending_deletes(), 0);
    assert!(
        files(&logs).iter().all(|f| !f.ends_with(".deleted")),
        "{:?}",
        files(&logs)
    );
}

#[test]
fn a_reader_holding_a_deleted_segment_still_reads_it() {
    let (_dir, clock, logs) = delete_topic(&[("segment.bytes", "1000"), ("retention.ms", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..40 {
        put(&log, "k", Some(&format!("{i}")));
    }
    let data = log.fetch(0, 1 << 20).unwrap();
    clock.advance(2000);
    let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default()).unwrap();
    cleaner.run_retention().unwrap();
    let n: usize = data
        .batches()
        .map(|b| b.unwrap().batch.records().unwrap().len())
        .sum();
    assert!(n > 0);
}

/// Review finding: a segment deleted for its age did not count against the
/// size excess, so later segments within both limits went too (Kafka's size
/// pass starts from the current size).
#[test]
fn segments_deleted_for_age_count_against_the_size_excess() {
    let (_dir, clock, logs) = delete_topic(&[("retention.ms", "60000")]);
    let log = logs.partition("t", 0).unwrap();
    for _ in 0..20 {
        put(&log, "k", Some("vvvvvvvv"));
    }
    log.roll().unwrap();
    clock.advance(61_000);
    for _ in 0..5 {
        put(&log, "k", Some("vvvvvvvv"));
    }
    log.roll().unwrap();
    for _ in 0..5 {
        put(&log, "k", Some("vvvvvvvv"));
    }
    let s = log.segments();
    let keep = s[1].size_bytes + s[2].size_bytes;
    let r = (keep + 1).to_string();
    logs.alter_topic_config("t", &[("retention.bytes", r.as_str())], &[])
        .unwrap();
    let (stats, _) = apply_retention(&log, clock.now_ms()).unwrap();
    assert_eq!(stats.segments_deleted, 1);
    assert_eq!(log.log_start_offset(), 20);
}

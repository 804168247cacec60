//! Compaction: what survives a clean, tombstones and their delete horizon,
//! lags, the bounded offset map, grouping, the checkpoint, and corrupt input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use weir_compact::{CLEANER_CHECKPOINT, Cleaner, CleanerConfig, cleanable};
use weir_log::Clock;
use weir_record::Compression;

#[test]
fn keeps_the_latest_record_of_each_key_at_its_offset() {
    // Written while the topic was not compacted yet (a compacted topic
    // refuses records without a key): the cleaner drops those.
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "2000"), ("cleanup.policy", "delete")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..200 {
        let key = format!("k{}", i % 7);
        put(&log, &key, Some(&format!("v{i}")));
        if i % 10 == 0 {
            put_batch(&log, &[(None, Some("no key"))], Compression::None);
        }
    }
    logs.alter_topic_config("t", &[("cleanup.policy", "compact")], &[])
        .unwrap();
    let before = rows(&log);
    let leo = log.log_end_offset();
    let segments_before = log.segments().len();
    assert!(segments_before > 4);

    let cleaner = cleaner(&logs);
    let stats = cleaner
        .clean_partition("t", 0)
        .unwrap()
        .expect("something to clean");
    let after = rows(&log);

    assert_eq!(log.log_end_offset(), leo, "the log end offset never moves");
    assert_eq!(fold(&after), fold(&before));
    assert!(stats.records_kept < stats.records_read);
    assert_eq!(
        stats.segments_cleaned,
        segments_before - 1,
        "all but the active one"
    );
    // Survivors are records of the original log, offsets and headers intact.
    for r in &after {
        assert!(before.contains(r), "{r:?} is not an original record");
    }
    // In the cleaned part, one record per key and no keyless records.
    let active_base = log.segments().last().unwrap().base_offset;
    let cleaned: Vec<_> = after.iter().filter(|r| r.offset < active_base).collect();
    assert!(cleaned.iter().all(|r| r.key.is_some()));
    let keys: BTreeSet<_> = cleaned.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys.len(), cleaned.len());
    // The active segment is untouched.
    let tail_before: Vec<_> = before.iter().filter(|r| r.offset >= active_base).collect();
    let tail_after: Vec<_> = after.iter().filter(|r| r.offset >= active_base).collect();
    assert_eq!(tail_before, tail_after);
    // A fetch from an offset that was compacted away starts at the next record.
    let gap = (0..active_base)
        .find(|o| !after.iter().any(|r| r.offset == *o))
        .unwrap();
    // (A fetch returns one segment's batches; empty headers are skipped over
    // as a consumer does, by the next offset.)
    let mut offset = gap;
    let first = loop {
        let data = log.fetch(offset, 1 << 20).unwrap();
        assert!(!data.is_empty(), "ran off the log at {offset}");
        let found = data
            .batches()
            .flat_map(|b| {
                let b = b.unwrap().batch;
                b.records()
                    .unwrap()
                    .iter()
                    .map(|r| r.unwrap().offset())
                    .collect::<Vec<_>>()
            })
            .find(|o| *o >= gap);
        if let Some(o) = found {
            break o;
        }
        offset = data.next_offset;
    };
    assert_eq!(first, after.iter().find(|r| r.offset > gap).unwrap().offset);
    // A second forced pass finds nothing new below the active segment.
    assert_eq!(cleaner.clean_partition("t", 0).unwrap(), None);

    // Once new data is dirty, the small cleaned segments are rewritten
    // together (Kafka groups segments by their current size).
    put(&log, "k0", Some("newest"));
    log.roll().unwrap();
    let stats = cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert!(stats.segments_written < stats.segments_cleaned, "{stats:?}");
    assert!(log.segments().len() < segments_before);
    assert_eq!(
        fold(&rows(&log)).get("k0").map(String::as_str),
        Some("newest")
    );
    assert_eq!(log.log_end_offset(), leo + 1);
}

#[test]
fn compressed_batches_stay_compressed_and_keep_their_header_fields() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "4000")]);
    let log = logs.partition("t", 0).unwrap();
    for codec in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Lz4,
        Compression::Snappy,
    ] {
        for round in 0..6 {
            let values: Vec<String> = (0..10).map(|i| format!("{codec:?}-{round}-{i}")).collect();
            let recs: Vec<(Option<&str>, Option<&str>)> = values
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(["a", "b", "c"][i % 3]), Some(v.as_str())))
                .collect();
            put_batch(&log, &recs, codec);
        }
    }
    log.roll().unwrap();
    let before = rows(&log);
    cleaner(&logs).clean_partition("t", 0).unwrap().unwrap();
    let after = rows(&log);
    assert_eq!(fold(&after), fold(&before));
    assert_eq!(after.len(), 3, "one record per key survives: {after:?}");
    let data = log.fetch(log.log_start_offset(), 1 << 20).unwrap();
    for b in data.batches() {
        let b = b.unwrap().batch;
        if b.records().unwrap().is_empty() {
            continue;
        }
        assert_eq!(b.compression().unwrap(), Compression::Snappy);
        assert!(b.last_offset() >= b.base_offset());
    }
}

#[test]
fn tombstones_survive_until_their_delete_horizon() {
    let (_dir, clock, logs) = setup(&[("segment.bytes", "1000"), ("delete.retention.ms", "60000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..20 {
        put(&log, "gone", Some(&format!("v{i}")));
        put(&log, "kept", Some(&format!("w{i}")));
    }
    put(&log, "gone", None);
    log.roll().unwrap();
    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let after = rows(&log);
    let gone: Vec<_> = after
        .iter()
        .filter(|r| r.key.as_deref() == Some("gone"))
        .collect();
    assert_eq!(gone.len(), 1, "only the tombstone is left: {gone:?}");
    assert_eq!(gone[0].value, None);
    // The tombstone's batch carries the delete horizon.
    let data = log.fetch(gone[0].offset, 1 << 20).unwrap();
    let batch = data.batches().next().unwrap().unwrap().batch;
    assert_eq!(batch.delete_horizon_ms(), Some(T0 + 60_000));

    // Before the horizon a new clean keeps it.
    clock.advance(30_000);
    put(&log, "kept", Some("later"));
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert!(rows(&log).iter().any(|r| r.key.as_deref() == Some("gone")));

    // After it the tombstone goes.
    clock.advance(31_000);
    put(&log, "kept", Some("last"));
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let after = rows(&log);
    assert!(
        !after.iter().any(|r| r.key.as_deref() == Some("gone")),
        "{after:?}"
    );
    assert_eq!(fold(&after).get("kept").map(String::as_str), Some("last"));
}

#[test]
fn a_small_dedupe_buffer_cleans_in_several_passes() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "3000")]);
    let log = logs.partition("t", 0).unwrap();
    for round in 0..3 {
        for k in 0..60 {
            put(&log, &format!("key-{k}"), Some(&format!("r{round}")));
        }
    }
    log.roll().unwrap();
    let before = rows(&log);
    // Room for 20 keys per pass (24 bytes each, 90 % load).
    let config = CleanerConfig::from_props([("log.cleaner.dedupe.buffer.size", "534")]).unwrap();
    let cleaner = Cleaner::new(Arc::clone(&logs), config).unwrap();
    let mut passes = 0;
    let mut last_dirty = -1;
    while let Some(stats) = cleaner.clean_partition("t", 0).unwrap() {
        assert!(stats.keys <= 20, "{stats:?}");
        assert!(stats.next_dirty_offset > last_dirty);
        last_dirty = stats.next_dirty_offset;
        passes += 1;
        assert!(passes < 50, "cleaning does not progress");
    }
    assert!(passes >= 3, "{passes} passes");
    let after = rows(&log);
    assert_eq!(fold(&after), fold(&before));
    assert!(
        after.iter().all(|r| r.value.as_deref() == Some("r2")),
        "only the last round is left"
    );
    assert_eq!(after.len(), 60);
}

#[test]
fn min_compaction_lag_holds_recent_records_back() {
    let (_dir, clock, logs) = setup(&[
        ("segment.bytes", "1000"),
        ("min.compaction.lag.ms", "10000"),
    ]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..50 {
        put(&log, "k", Some(&format!("v{i}")));
    }
    log.roll().unwrap();
    let cleaner = cleaner(&logs);
    assert_eq!(cleaner.clean_partition("t", 0).unwrap(), None, "too recent");
    clock.advance(10_001);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert_eq!(rows(&log).len(), 1);
}

#[test]
fn dirty_ratio_and_max_compaction_lag() {
    let (_dir, clock, logs) = setup(&[
        ("segment.bytes", "1000"),
        ("min.cleanable.dirty.ratio", "0.99"),
        ("max.compaction.lag.ms", "5000"),
    ]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..50 {
        put(&log, &format!("k{}", i % 3), Some("x"));
    }
    log.roll().unwrap();
    let c = cleanable(&log, 0, clock.now_ms());
    assert_eq!(c.first_dirty, 0);
    assert_eq!(c.first_uncleanable, log.log_end_offset());
    assert!((c.dirty_ratio - 1.0).abs() < 1e-9);
    assert!(!c.overdue);
    clock.advance(5001);
    assert!(cleanable(&log, 0, clock.now_ms()).overdue);
    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let state = cleaner.partition_state("t", 0).unwrap();
    assert_eq!(state.first_dirty_offset, log.log_end_offset());
    assert_eq!(state.dirty_ratio, 0.0);
    assert_eq!(state.last_clean_ms, Some(clock.now_ms()));
    assert_eq!(state.error, None);
}

#[test]
fn the_checkpoint_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(T0));
    let logs = open(dir.path(), &clock);
    logs.create_topic(
        "t",
        1,
        &[("cleanup.policy", "compact"), ("segment.bytes", "1000")],
    )
    .unwrap();
    let log = logs.partition("t", 0).unwrap();
    for i in 0..40 {
        put(&log, &format!("k{}", i % 4), Some("v"));
    }
    log.roll().unwrap();
    let end = log.log_end_offset();
    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let text = std::fs::read_to_string(dir.path().join(CLEANER_CHECKPOINT)).unwrap();
    assert_eq!(text, format!("0\n1\nt 0 {end}\n"));
    drop(cleaner);
    drop(log);
    logs.close().unwrap();
    drop(logs);

    let logs = open(dir.path(), &clock);
    let cleaner = common::cleaner(&logs);
    let state = cleaner.partition_state("t", 0).unwrap();
    assert_eq!(state.first_dirty_offset, end);
    assert_eq!(
        state.last_clean_ms,
        Some(T0),
        "the last clean is remembered"
    );
    assert_eq!(state.last_clean.unwrap().next_dirty_offset, end);
    assert_eq!(cleaner.clean_partition("t", 0).unwrap(), None);
}

#[test]
fn a_corrupt_segment_marks_the_partition_uncleanable() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..60 {
        put(&log, &format!("k{}", i % 3), Some("value"));
    }
    log.roll().unwrap();
    log.flush_until(log.log_end_offset()).unwrap();
    let first = log.segments()[0].log_path.clone();
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&first, bytes).unwrap();

    let cleaner = cleaner(&logs);
    let err = cleaner.clean_partition("t", 0).unwrap_err();
    assert!(matches!(err, weir_log::LogError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&first.display().to_string()),
        "{err}"
    );
    let state = cleaner.partition_state("t", 0).unwrap();
    assert!(state.error.is_some());
    // Nothing half-written is left behind.
    assert!(
        files(&logs)
            .iter()
            .all(|f| !f.ends_with(".cleaned") && !f.ends_with(".swap")),
        "{:?}",
        files(&logs)
    );
}

#[test]
fn a_delete_policy_topic_is_not_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(T0));
    let logs = open(dir.path(), &clock);
    logs.create_topic("t", 1, &[("segment.bytes", "1000")])
        .unwrap();
    let log = logs.partition("t", 0).unwrap();
    for _ in 0..40 {
        put(&log, "k", Some("v"));
    }
    log.roll().unwrap();
    assert_eq!(cleaner(&logs).clean_partition("t", 0).unwrap(), None);
    assert_eq!(rows(&log).len(), 40);
    assert!(cleaner(&logs).clean_partition("nope", 0).is_err());
}

#[test]
fn the_background_cleaner_compacts_dirty_partitions() {
    let (_dir, _clock, logs) = setup(&[("segment.bytes", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..100 {
        put(&log, &format!("k{}", i % 5), Some(&format!("{i}")));
    }
    log.roll().unwrap();
    let before = fold(&rows(&log));
    let config = CleanerConfig::from_props([("log.cleaner.backoff.ms", "10")]).unwrap();
    let cleaner = Cleaner::new(Arc::clone(&logs), config).unwrap();
    cleaner.start().unwrap();
    assert!(
        cleaner.wait_for_clean("t", 0, std::time::Duration::from_secs(30)),
        "the cleaner did not run"
    );
    cleaner.shutdown();
    let after = rows(&log);
    assert_eq!(fold(&after), before);
    assert_eq!(after.len(), 5);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Any byte of a closed segment damaged (lengths, counts, attributes,
    /// varints, CRCs): the cleaner returns a typed error or cleans what it
    /// can prove sound, and never panics or leaves a half-written segment.
    #[test]
    fn a_damaged_segment_is_an_error_not_a_panic(at in 0usize..4000, xor in 1u8..=255) {
        let (_dir, _clock, logs) = setup(&[("segment.bytes", "4000")]);
        let log = logs.partition("t", 0).unwrap();
        for i in 0..80 {
            put(&log, &format!("k{}", i % 6), Some(&format!("value-{i}")));
        }
        log.roll().unwrap();
        log.flush_until(log.log_end_offset()).unwrap();
        let path = log.segments()[0].log_path.clone();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = at % bytes.len();
        bytes[at] ^= xor;
        std::fs::write(&path, bytes).unwrap();
        match cleaner(&logs).clean_partition("t", 0) {
            Ok(_) => {}
            Err(weir_log::LogError::Corrupt { .. }) => {}
            Err(e) => panic!("untyped failure: {e:?}"),
        }
        let names = files(&logs);
        proptest::prop_assert!(
            names.iter().all(|f| !f.ends_with(".cleaned") && !f.ends_with(".swap")),
            "{:?}",
            names
        );
    }
}

/// The batches of each closed segment: (base offset, records, delete horizon).
fn batches_by_segment(log: &weir_log::PartitionLog) -> Vec<Vec<(i64, usize, Option<i64>)>> {
    log.segments()
        .iter()
        .filter(|s| !s.is_active)
        .map(|s| {
            log.segment_batches(s.base_offset)
                .unwrap()
                .map(|b| {
                    let b = b.unwrap().batch;
                    (
                        b.base_offset(),
                        b.records().unwrap().len(),
                        b.delete_horizon_ms(),
                    )
                })
                .collect()
        })
        .collect()
}

/// Review finding: a batch a clean had emptied (kept as a header because it
/// ended its group) was kept by every later clean too, so headers piled up.
#[test]
fn an_emptied_batch_is_dropped_once_it_no_longer_ends_a_group() {
    let (_dir, _clock, logs) = setup(&[]);
    let log = logs.partition("t", 0).unwrap();
    put(&log, "k", Some("v00"));
    let batch_bytes = log.size_bytes();
    // Three batches fill a segment, four do not fit in one group.
    let segment_bytes = (3 * batch_bytes + batch_bytes / 2).to_string();
    logs.alter_topic_config("t", &[("segment.bytes", segment_bytes.as_str())], &[])
        .unwrap();
    let cleaner = cleaner(&logs);
    for i in 1..12 {
        put(&log, "k", Some(&format!("v{i:02}")));
        if i % 3 == 2 {
            log.roll().unwrap();
            cleaner.clean_partition("t", 0).unwrap().unwrap();
            let segments = batches_by_segment(&log);
            for batches in &segments {
                // Only a segment's last batch may stay as an empty header.
                let (_, middle) = batches.split_last().unwrap();
                assert!(
                    middle.iter().all(|(_, records, _)| *records > 0),
                    "after write {i}: {segments:?}"
                );
            }
            let kept: usize = segments.iter().flatten().map(|b| b.1).sum();
            assert_eq!(kept, 1, "after write {i}: {segments:?}");
        }
    }
    assert_eq!(fold(&rows(&log)).get("k").map(String::as_str), Some("v11"));
}

/// Review finding: a batch whose tombstones a clean removed lost its delete
/// horizon; Kafka keeps the horizon once set.
#[test]
fn a_batch_keeps_its_delete_horizon_when_its_tombstones_go() {
    let (_dir, clock, logs) = setup(&[("delete.retention.ms", "1000")]);
    let log = logs.partition("t", 0).unwrap();
    let batch = put_batch(
        &log,
        &[(Some("a"), None), (Some("b"), Some("kept"))],
        Compression::None,
    );
    log.roll().unwrap();
    put(&log, "c", Some("1"));
    log.roll().unwrap();
    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let horizon = clock.now_ms() + 1000;
    let find = |log: &weir_log::PartitionLog| {
        batches_by_segment(log)
            .into_iter()
            .flatten()
            .find(|b| b.0 == batch)
            .unwrap()
    };
    assert_eq!(find(&log), (batch, 2, Some(horizon)));
    clock.advance(1001);
    put(&log, "c", Some("2"));
    log.roll().unwrap();
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    assert_eq!(
        find(&log),
        (batch, 1, Some(horizon)),
        "tombstone gone, horizon kept"
    );
}

/// Review finding: a checkpoint past the log end (left by a deleted topic of
/// the same name) made every segment of the new log look clean forever.
#[test]
fn a_checkpoint_past_the_log_end_starts_over_at_the_log_start() {
    let (_dir, clock, logs) = setup(&[]);
    let log = logs.partition("t", 0).unwrap();
    for i in 0..20 {
        put(&log, &format!("k{}", i % 2), Some("x"));
    }
    log.roll().unwrap();
    std::fs::write(
        logs.path().join(CLEANER_CHECKPOINT),
        weir_log::checkpoint::format_offset_checkpoint([("t", 0, 1000)]),
    )
    .unwrap();
    assert_eq!(cleanable(&log, 1000, clock.now_ms()).first_dirty, 0);
    let cleaner = cleaner(&logs);
    let stats = cleaner
        .clean_partition("t", 0)
        .unwrap()
        .expect("dirty segments");
    assert_eq!((stats.first_dirty_offset, stats.next_dirty_offset), (0, 20));
    assert_eq!(rows(&log).len(), 2);
}

/// Review finding: `max.compaction.lag.ms` was measured from the newest
/// record of the first dirty segment; Kafka measures from its first batch.
#[test]
fn max_compaction_lag_counts_from_the_first_dirty_batch() {
    let (_dir, clock, logs) = setup(&[
        ("min.cleanable.dirty.ratio", "0.99"),
        ("max.compaction.lag.ms", "5000"),
    ]);
    let log = logs.partition("t", 0).unwrap();
    // One segment: batches 4 s apart (below the lag, so no roll between).
    for (value, age_ms) in [("old", 4000), ("new", 0)] {
        let mut b = weir_record::BatchBuilder::new(weir_record::BatchOptions::default());
        b.append(
            &weir_record::Record::new(value)
                .with_key("k")
                .with_timestamp(clock.now_ms() - age_ms),
        )
        .unwrap();
        log.append(b.build().unwrap()).unwrap();
    }
    log.roll().unwrap();
    assert_eq!(log.segments().len(), 2);
    assert!(!cleanable(&log, 0, clock.now_ms()).overdue);
    clock.advance(2000);
    assert!(
        cleanable(&log, 0, clock.now_ms()).overdue,
        "the first batch waited 6 s, the newest 2 s"
    );
}

/// Review finding: a pass whose map ends inside a segment rewrites that
/// segment whole; a tombstone past the map's end was dropped once its delete
/// horizon passed, while the older value of its key (which no map of those
/// passes held) stayed: the key came back. Records past the map's reach are
/// kept whatever they are, as Kafka's `shouldRetainRecord` keeps them.
#[test]
fn a_tombstone_past_the_maps_end_stays_until_a_map_covers_it() {
    let (_dir, _clock, logs) = setup(&[("delete.retention.ms", "0")]);
    let log = logs.partition("t", 0).unwrap();
    put(&log, "k", Some("v1"));
    put(&log, "x", Some("x"));
    put(&log, "y", Some("y"));
    put(&log, "k", None);
    log.roll().unwrap();
    let cleaner = one_key_cleaner(&logs);
    for _ in 0..2 {
        cleaner.clean_partition("t", 0).unwrap();
    }
    assert_eq!(fold(&rows(&log)).get("k"), None, "{:?}", rows(&log));
    // Passes until the map reaches the tombstone: the old value goes too.
    for _ in 0..4 {
        let _ = cleaner.clean_partition("t", 0).unwrap();
    }
    assert_eq!(fold(&rows(&log)).get("k"), None, "{:?}", rows(&log));
    assert!(
        rows(&log)
            .iter()
            .all(|r| r.key.as_deref() != Some("k") || r.value.is_none()),
        "{:?}",
        rows(&log)
    );
}

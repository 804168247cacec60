//! Crash recovery: the active segment cut at every byte of its last batches and
//! corrupted one byte at a time; damage below the recovery point; the golden
//! corrupt segments; leftovers of interrupted deletes and cleanings.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{NOW, batch, open, read_all, small_config};
use weir_log::{LogConfig, LogError};
use weir_record::RecordBatch;

/// A log of 30 batches over several segments; the first 24 are flushed (the
/// recovery point), the last 6 are not. Returns (dir, config, batches as
/// written, recovery point, the active segment's path).
fn crash_fixture() -> (tempfile::TempDir, LogConfig, Vec<RecordBatch>, i64, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(6 * 1024);
    let (log, _) = open(dir.path(), config.clone(), true, 0);
    for i in 0..30u64 {
        if i == 24 {
            log.flush().unwrap();
        }
        log.append(batch(
            i,
            1 + (i as usize % 3),
            60 + (i as usize * 53) % 200,
            NOW,
        ))
        .unwrap();
    }
    let recovery_point = log.recovery_point();
    let written = read_all(&log);
    let active = log.segments().last().unwrap().log_path.clone();
    // The process dies: nothing is closed or sealed.
    drop(log);
    (dir, config, written, recovery_point, active)
}

fn batch_ends(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= segment.len() {
        let len = i32::from_be_bytes(segment[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, at + 12 + len));
        at += 12 + len;
    }
    out
}

fn check_prefix(recovered: &[RecordBatch], written: &[RecordBatch]) {
    assert!(recovered.len() <= written.len());
    for (r, w) in recovered.iter().zip(written) {
        assert_eq!(
            r.as_bytes(),
            w.as_bytes(),
            "a recovered batch differs from what was written"
        );
    }
}

#[test]
fn cutting_the_active_segment_at_every_byte_keeps_every_durable_batch() {
    let (dir, config, written, recovery_point, active) = crash_fixture();
    let original = fs::read(&active).unwrap();
    let ends = batch_ends(&original);
    let base = segment_base(&active);
    // The active segment's batches at or past the recovery point.
    let durable_in_segment: usize = written
        .iter()
        .filter(|b| b.base_offset() >= base && b.last_offset() < recovery_point)
        .map(|b| b.size())
        .sum();
    for cut in durable_in_segment..=original.len() {
        fs::write(&active, &original[..cut]).unwrap();
        let (log, report) = open(dir.path(), config.clone(), false, recovery_point);
        let kept_in_segment = ends.iter().filter(|&&(_, end)| end <= cut).count();
        let valid_end = ends
            .iter()
            .map(|&(_, e)| e)
            .filter(|&e| e <= cut)
            .max()
            .unwrap_or(0);
        assert_eq!(
            report.truncated_bytes as usize,
            cut - valid_end,
            "cut at {cut}"
        );
        let recovered = read_all(&log);
        check_prefix(&recovered, &written);
        let before_segment = written.iter().filter(|b| b.base_offset() < base).count();
        assert_eq!(
            recovered.len(),
            before_segment + kept_in_segment,
            "cut at {cut}"
        );
        assert!(
            log.log_end_offset() >= recovery_point,
            "cut at {cut}: lost durable data"
        );
        // Appends continue right after what was kept.
        let next = log.log_end_offset();
        assert_eq!(log.append(batch(99, 1, 10, NOW)).unwrap().base_offset, next);
        drop(log);
        fs::write(&active, &original).unwrap();
        for leftover in fs::read_dir(dir.path()).unwrap() {
            let p = leftover.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            if name.ends_with(".log")
                && p != active
                && name.as_str() > active.file_name().unwrap().to_str().unwrap()
            {
                fs::remove_file(p).unwrap();
            }
        }
    }
}

#[test]
fn flipping_any_byte_of_the_unflushed_tail_never_returns_a_corrupt_batch() {
    let (dir, config, written, recovery_point, active) = crash_fixture();
    let original = fs::read(&active).unwrap();
    let ends = batch_ends(&original);
    let base = segment_base(&active);
    let before_segment = written.iter().filter(|b| b.base_offset() < base).count();
    let first_unflushed = ends
        .iter()
        .position(|&(start, _)| {
            let b = &written[before_segment + ends.iter().position(|e| e.0 == start).unwrap()];
            b.base_offset() >= recovery_point
        })
        .unwrap();
    for pos in ends[first_unflushed].0..original.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = original.clone();
            damaged[pos] ^= flip;
            fs::write(&active, &damaged).unwrap();
            let (log, report) = open(dir.path(), config.clone(), false, recovery_point);
            let hit = ends.iter().position(|&(s, e)| s <= pos && pos < e).unwrap();
            let recovered = read_all(&log);
            check_prefix(&recovered, &written);
            // The damaged batch and everything after it are gone; nothing before it is.
            assert_eq!(
                recovered.len(),
                before_segment + hit,
                "byte {pos} ^ {flip:#x}"
            );
            assert!(report.reason.is_some(), "byte {pos}: no reason reported");
            drop(log);
        }
    }
    fs::write(&active, &original).unwrap();
}

#[test]
fn damage_below_the_recovery_point_is_an_error_not_a_truncation() {
    let (dir, config, written, recovery_point, active) = crash_fixture();
    let original = fs::read(&active).unwrap();
    let base = segment_base(&active);
    let first_in_segment = written
        .iter()
        .position(|b| b.base_offset() >= base)
        .unwrap();
    assert!(
        written[first_in_segment].last_offset() < recovery_point,
        "fixture: a durable batch in the active segment"
    );
    let mut damaged = original.clone();
    damaged[30] ^= 0x10; // inside the CRC-covered part of the segment's first batch
    fs::write(&active, &damaged).unwrap();
    let err = weir_log::PartitionLog::open(
        dir.path(),
        "t",
        0,
        config,
        weir_log::OpenOptions {
            recovery_point,
            ..Default::default()
        },
    )
    .unwrap_err();
    match &err {
        LogError::Corrupt { path, position, .. } => {
            assert_eq!(path, &active);
            assert_eq!(*position, 0);
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert_eq!(
        fs::read(&active).unwrap(),
        damaged,
        "nothing may be truncated"
    );
}

/// With `damaged_segments_to`, damage below the recovery point is cut off as
/// Kafka's recovery cuts it (`weir repair`), after the damaged segment was
/// copied: the log keeps every batch before the damage, and the copy holds
/// the segment's bytes as they were.
#[test]
fn damage_below_the_recovery_point_is_cut_after_a_copy_when_asked() {
    let (dir, config, written, recovery_point, active) = crash_fixture();
    let base = segment_base(&active);
    let before_segment = written.iter().filter(|b| b.base_offset() < base).count();
    let mut damaged = fs::read(&active).unwrap();
    damaged[30] ^= 0x10;
    fs::write(&active, &damaged).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let (log, report) = weir_log::PartitionLog::open(
        dir.path(),
        "t",
        0,
        config,
        weir_log::OpenOptions {
            recovery_point,
            damaged_segments_to: Some(copies.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    let recovered = read_all(&log);
    assert_eq!(recovered.len(), before_segment);
    check_prefix(&recovered, &written);
    assert_eq!(log.log_end_offset(), base);
    let partition = dir.path().file_name().unwrap();
    let copied_to = copies.path().join(partition);
    assert_eq!(
        report.damage_copied_to.as_deref(),
        Some(copied_to.as_path())
    );
    let copy = copied_to.join(active.file_name().unwrap());
    assert_eq!(
        fs::read(&copy).unwrap(),
        damaged,
        "the copy holds the segment as it was"
    );
    let (path, position, _) = report.reason.clone().unwrap();
    assert_eq!((path, position), (active.clone(), 0));
    drop(log);
    // An earlier copy is never overwritten: the same damage again is an error.
    fs::write(&active, &damaged).unwrap();
    let again = weir_log::PartitionLog::open(
        dir.path(),
        "t",
        0,
        small_config(6 * 1024),
        weir_log::OpenOptions {
            recovery_point,
            damaged_segments_to: Some(copies.path().to_path_buf()),
            ..Default::default()
        },
    );
    assert!(matches!(again, Err(LogError::Io { .. })), "{again:?}");
    assert_eq!(
        fs::read(&active).unwrap(),
        damaged,
        "nothing cut without its copy"
    );
}

/// Review 18d: a cut keeps no leader epoch that starts past the log's new
/// end (Kafka's `LogLoader` truncates its epoch cache): before, appends after
/// a repair were stamped with the last epoch, which the checkpoint said
/// starts later, and the next recovery took them for damage.
#[test]
fn a_cut_drops_the_leader_epochs_that_start_past_the_new_end() {
    let (dir, config, _written, recovery_point, active) = crash_fixture();
    let base = segment_base(&active);
    let epochs = dir.path().join("leader-epoch-checkpoint");
    fs::write(&epochs, "0\n2\n0 0\n3 1000000\n").unwrap();
    let mut damaged = fs::read(&active).unwrap();
    damaged[30] ^= 0x10;
    fs::write(&active, &damaged).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let options = |recovery_point, copies: Option<PathBuf>| weir_log::OpenOptions {
        recovery_point,
        damaged_segments_to: copies,
        ..Default::default()
    };
    let (log, _) = weir_log::PartitionLog::open(
        dir.path(),
        "t",
        0,
        config.clone(),
        options(recovery_point, Some(copies.path().to_path_buf())),
    )
    .unwrap();
    assert_eq!(log.log_end_offset(), base);
    assert_eq!(fs::read_to_string(&epochs).unwrap(), "0\n1\n0 0\n");
    log.append(batch(1, 3, 10, NOW)).unwrap();
    log.flush_until(log.log_end_offset()).unwrap();
    drop(log);
    // After a crash: recovery reads the appended batch against the epochs.
    let (log, report) =
        weir_log::PartitionLog::open(dir.path(), "t", 0, config, options(base, None)).unwrap();
    assert_eq!(log.log_end_offset(), base + 3, "{report:?}");
}

/// A segment file's base offset, from its name.
fn segment_base(segment: &Path) -> i64 {
    segment
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments")
}

#[test]
fn golden_corrupt_segments_recover_to_what_their_manifests_say() {
    for case in [
        "corrupt-crc",
        "corrupt-torn-tail",
        "corrupt-length-beyond-eof",
        "corrupt-record-count",
        "corrupt-varint-length",
    ] {
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(fixtures().join(case).join("manifest.json")).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(manifest["dir"].as_str().unwrap());
        copy_dir(
            &fixtures()
                .join(case)
                .join(manifest["dir"].as_str().unwrap()),
            &part,
        );
        let expect = &manifest["expect"];
        let (log, report) = open(&part, LogConfig::default(), false, 0);
        assert_eq!(
            log.log_end_offset(),
            expect["next_offset_after_recovery"].as_i64().unwrap(),
            "{case}"
        );
        let (path, position, _) = report.reason.clone().unwrap();
        assert!(path.ends_with("00000000000000000000.log"), "{case}");
        assert_eq!(position, expect["position"].as_u64().unwrap(), "{case}");
        let log_file = part.join("00000000000000000000.log");
        assert_eq!(
            fs::metadata(&log_file).unwrap().len(),
            expect["recovery_truncates_to"].as_u64().unwrap(),
            "{case}"
        );
        assert_eq!(
            read_all(&log).len() as u64,
            expect["batches_before_error"].as_u64().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn golden_good_segments_open_unclean_without_losing_anything() {
    for case in [
        "many-batches",
        "two-segments",
        "compacted-gaps",
        "transactions",
        "gzip",
        "zstd",
        "log-append-time",
    ] {
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(fixtures().join(case).join("manifest.json")).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(manifest["dir"].as_str().unwrap());
        copy_dir(
            &fixtures()
                .join(case)
                .join(manifest["dir"].as_str().unwrap()),
            &part,
        );
        let next = manifest["next_offset"].as_i64().unwrap();
        // Everything was fsynced by the writer: recovery point at the end.
        let (log, report) = open(&part, LogConfig::default(), false, next);
        assert_eq!(report.truncated_bytes, 0, "{case}: {report:?}");
        assert_eq!(log.log_end_offset(), next, "{case}");
        let batches = read_all(&log);
        assert_eq!(
            batches.len(),
            manifest["batches"].as_array().unwrap().len(),
            "{case}"
        );
    }
}

#[test]
fn leftovers_of_interrupted_work_are_settled_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(2048);
    let (log, _) = open(dir.path(), config.clone(), true, 0);
    for i in 0..20 {
        log.append(batch(i, 2, 100, NOW)).unwrap();
    }
    let segs = log.segments();
    log.close().unwrap();
    drop(log);
    // A cleaner crashed before its commit point, and a delete before unlinking.
    fs::write(
        dir.path().join("00000000000000000000.log.cleaned"),
        b"partial",
    )
    .unwrap();
    fs::write(dir.path().join("00000000000000000007.log.deleted"), b"old").unwrap();
    // A cleaner crashed after its commit point: the second segment's
    // replacement (here: a copy of it) is a .swap file.
    let second = &segs[1];
    fs::copy(
        &second.log_path,
        format!("{}.swap", second.log_path.display()),
    )
    .unwrap();
    fs::write(&second.log_path, b"to be replaced").unwrap();
    let (log, report) = open(dir.path(), config, true, 0);
    assert_eq!(report.truncated_bytes, 0);
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".deleted") && !n.ends_with(".swap")),
        "{names:?}"
    );
    assert_eq!(read_all(&log).len(), 20);
}

#[test]
fn a_segment_named_at_the_top_of_the_offset_range_is_refused_or_opened_never_a_panic() {
    // A hostile or damaged directory: a segment whose name is the largest
    // offset Kafka can hold, with an index entry past it (its offset overflows).
    for (base, relative) in [(i64::MAX, 1i32), (i64::MAX - 3, 7), (i64::MAX, -1)] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{base:020}");
        fs::write(dir.path().join(format!("{name}.log")), []).unwrap();
        let mut index = relative.to_be_bytes().to_vec();
        index.extend_from_slice(&0u32.to_be_bytes());
        fs::write(dir.path().join(format!("{name}.index")), &index).unwrap();
        fs::write(dir.path().join(format!("{name}.timeindex")), [0u8; 12]).unwrap();
        for clean in [true, false] {
            let opened = std::panic::catch_unwind(|| {
                weir_log::PartitionLog::open(
                    dir.path(),
                    "t",
                    0,
                    small_config(6 * 1024),
                    weir_log::OpenOptions {
                        clean_shutdown: clean,
                        recovery_point: 0,
                        log_start_offset: 0,
                        clock: std::sync::Arc::new(weir_log::ManualClock::new(NOW)),
                        damaged_segments_to: None,
                    },
                )
                .map(|(log, _)| log.log_end_offset())
            });
            let opened =
                opened.unwrap_or_else(|_| panic!("opening {name} (clean {clean}) panicked"));
            if let Ok(end) = opened {
                assert_eq!(end, base, "an empty segment ends where it starts");
            }
        }
    }
}

#[test]
fn a_log_at_the_top_of_the_offset_range_refuses_batches_it_has_no_offsets_for() {
    let dir = tempfile::tempdir().unwrap();
    let base = i64::MAX - 3;
    fs::write(dir.path().join(format!("{base:020}.log")), []).unwrap();
    let (log, _) = open(dir.path(), small_config(6 * 1024), false, 0);
    assert_eq!(log.log_end_offset(), base);
    // Three offsets are left below i64::MAX (the next offset must exist too).
    let err = log.append(batch(1, 4, 10, NOW)).unwrap_err();
    assert!(
        matches!(err, LogError::OffsetsExhausted { next_offset, records: 4, .. } if next_offset == base),
        "{err}"
    );
    let info = log.append(batch(2, 3, 10, NOW)).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (base, i64::MAX - 1));
    assert_eq!(log.log_end_offset(), i64::MAX);
    assert!(matches!(
        log.append(batch(3, 1, 10, NOW)).unwrap_err(),
        LogError::OffsetsExhausted { .. }
    ));
    assert_eq!(
        read_all(&log).len(),
        1,
        "the refused batches left nothing behind"
    );
}

#[test]
fn recovery_drops_the_aborted_transactions_whose_marker_it_cut_off() {
    let src = fixtures().join("transactions/golden-transactions-0");
    let name = "00000000000000000000";
    // The ABORT marker of producer 7001's transaction (offsets 5..=6) is the
    // batch at offset 8, bytes 494..572 of the segment.
    for (cut, kept) in [
        (None, 1),
        (Some(572), 1),
        (Some(494 + 30), 0),
        (Some(300), 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&src, dir.path());
        if let Some(cut) = cut {
            let log = fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join(format!("{name}.log")))
                .unwrap();
            log.set_len(cut).unwrap();
        }
        let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
        let found = log.aborted_transactions(0, i64::MAX);
        assert_eq!(found.len(), kept, "cut at {cut:?}: {found:?}");
        let txn_index = dir.path().join(format!("{name}.txnindex"));
        assert_eq!(txn_index.exists(), kept > 0, "cut at {cut:?}");
        if kept > 0 {
            let entries = weir_log::index::parse_txn_index(&fs::read(&txn_index).unwrap()).unwrap();
            assert_eq!(entries, found);
        }
        drop(log);
        // And reopened cleanly the log says the same.
        let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
        assert_eq!(log.aborted_transactions(0, i64::MAX).len(), kept);
    }
}

#[test]
fn a_fetch_that_no_batch_reaches_below_the_high_watermark_is_corrupt_not_empty() {
    // Trusted after a clean shutdown: sound batches whose base offsets (outside
    // the CRC) were damaged to 0, 50 and 5. The high watermark follows the
    // last batch (7); a fetch at 3 finds no batch holding an offset from 3
    // below 7. Before, it came back empty and a consumer polled it forever.
    let dir = tempfile::tempdir().unwrap();
    let name = "00000000000000000000";
    let mut log_bytes = Vec::new();
    for (tag, base) in [(1u64, 0i64), (2, 50), (3, 5)] {
        let mut b = batch(tag, 2, 20, NOW).to_vec();
        weir_record::RecordBatchMut::new(&mut b)
            .unwrap()
            .set_base_offset(base);
        log_bytes.extend_from_slice(&b);
    }
    fs::write(dir.path().join(format!("{name}.log")), &log_bytes).unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    assert_eq!(log.high_watermark(), 7, "the last trusted batch ends at 6");
    assert_eq!(log.fetch(0, 1 << 20).unwrap().next_offset, 2);
    match log.fetch(2, 1 << 20) {
        Err(LogError::Corrupt { path, reason, .. }) => {
            assert!(path.ends_with(format!("{name}.log")), "{}", path.display());
            assert!(reason.contains("offset 2"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// A Kafka partition directory holds compacted segments with offset gaps. With
/// no checkpoint entry (recovery point 0) nothing says Weir wrote it, so
/// recovery checks framing and CRC as Kafka does, and keeps every batch.
#[test]
fn a_compacted_kafka_directory_with_no_checkpoint_opens_with_all_its_data() {
    let case = fixtures().join("compacted-gaps");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(case.join("manifest.json")).unwrap()).unwrap();
    let name = manifest["dir"].as_str().unwrap();
    let next = manifest["next_offset"].as_i64().unwrap();
    let batches = manifest["batches"].as_array().unwrap().len();
    let gaps = manifest["batches"]
        .as_array()
        .unwrap()
        .windows(2)
        .filter(|w| w[1]["base_offset"].as_i64() != Some(w[0]["last_offset"].as_i64().unwrap() + 1))
        .count();
    assert!(gaps > 0, "the fixture must have offset gaps");

    // A partition opened on its own with recovery point 0.
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join(name);
    copy_dir(&case.join(name), &part);
    let (log, report) = open(&part, LogConfig::default(), false, 0);
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(log.log_end_offset(), next);
    assert_eq!(read_all(&log).len(), batches);
    drop(log);

    // The directory copied into an empty data directory (no checkpoint files).
    let data = tempfile::tempdir().unwrap();
    copy_dir(&case.join(name), &data.path().join(name));
    let logs = weir_log::LogDir::open_with(
        data.path(),
        weir_log::LogDirOptions {
            background_thread: false,
            ..weir_log::LogDirOptions::default()
        },
    )
    .unwrap();
    let (topic, partition) = name.rsplit_once('-').unwrap();
    let log = logs.partition(topic, partition.parse().unwrap()).unwrap();
    assert_eq!(log.log_end_offset(), next);
    assert_eq!(read_all(&log).len(), batches);
    for (partition, report) in logs.recovery_reports() {
        assert_eq!(report.truncated_bytes, 0, "{partition}: {report:?}");
    }
}

/// A log Weir wrote and checkpointed keeps the contiguity check past its
/// recovery point, even at recovery point 0: a damaged base offset (outside
/// the CRC) that opens a gap is a torn tail.
#[test]
fn a_gap_in_a_checkpointed_weir_log_is_still_caught_by_a_log_dir() {
    let data = tempfile::tempdir().unwrap();
    let options = || weir_log::LogDirOptions {
        background_thread: false,
        ..weir_log::LogDirOptions::default()
    };
    let logs = weir_log::LogDir::open_with(data.path(), options()).unwrap();
    logs.create_topic("t", 1, &[]).unwrap();
    logs.write_checkpoints().unwrap();
    let log = logs.partition("t", 0).unwrap();
    log.append(batch(0, 1, 10, NOW)).unwrap();
    let second = log.append(batch(1, 1, 10, NOW)).unwrap();
    let path = log.segments()[0].log_path.clone();
    drop(log);
    logs.simulate_crash();
    // Move the second batch's base offset forward by 5: a gap.
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() - second.size;
    bytes[at..at + 8].copy_from_slice(&6i64.to_be_bytes());
    fs::write(&path, &bytes).unwrap();
    let logs = weir_log::LogDir::open_with(data.path(), options()).unwrap();
    let log = logs.partition("t", 0).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

/// A segment at or past the recovery point with a missing `.index` and a torn
/// tail is rebuilt by recovery, which truncates the tail (Kafka's
/// `recoverSegment`), instead of failing the open as damage below the
/// recovery point. After a clean shutdown (everything trusted) a missing
/// `.index` is rebuilt from the batches.
#[test]
fn a_missing_index_and_a_torn_tail_past_the_recovery_point_are_recovered() {
    for clean in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = small_config(1 << 20);
        let (log, _) = open(dir.path(), config.clone(), true, 0);
        let mut ends = Vec::new();
        for i in 0..12u64 {
            let info = log.append(batch(i, 2, 200, NOW)).unwrap();
            ends.push(info.last_offset + 1);
        }
        let recovery_point = log.close().unwrap();
        let segment = log.segments()[0].clone();
        assert!(segment.index_entries > 0, "the test needs index entries");
        drop(log);
        let index = segment.log_path.with_extension("index");
        fs::remove_file(&index).unwrap();
        let (rp, kept) = if clean {
            // Everything was fsynced: nothing may be cut, the index is rebuilt.
            (recovery_point, 12)
        } else {
            let size = fs::metadata(&segment.log_path).unwrap().len();
            fs::OpenOptions::new()
                .write(true)
                .open(&segment.log_path)
                .unwrap()
                .set_len(size - 100) // inside the last batch
                .unwrap();
            (0, 11)
        };
        let (log, report) = open(dir.path(), config.clone(), clean, rp);
        assert_eq!(
            report.truncated_bytes > 0,
            !clean,
            "clean={clean}: {report:?}"
        );
        assert_eq!(log.log_end_offset(), ends[kept - 1], "clean={clean}");
        assert_eq!(read_all(&log).len(), kept, "clean={clean}");
        assert!(index.exists(), "clean={clean}: the index is rebuilt");
        let entries = log.segments()[0].index_entries;
        assert!(
            entries > 0 && entries <= segment.index_entries,
            "clean={clean}: {entries} index entries"
        );
    }
}

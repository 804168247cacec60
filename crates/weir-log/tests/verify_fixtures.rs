//! `verify` against the golden Kafka segments, and against copies of them with
//! one thing broken at a time; and against data directories with files lost.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use weir_log::verify::verify_report;
use weir_log::{LogDir, LogDirOptions, VerifyError, verify_path};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments")
}

fn case(name: &str) -> (PathBuf, Value) {
    let root = fixtures().join(name);
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(root.join("manifest.json")).unwrap()).unwrap();
    (root.join(manifest["dir"].as_str().unwrap()), manifest)
}

fn all_cases() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            e.path()
                .join("manifest.json")
                .exists()
                .then(|| e.file_name().into_string().unwrap())
        })
        .collect();
    names.sort();
    names
}

/// A writable copy of a fixture's partition directory.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let (src, _) = case(name);
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(src.file_name().unwrap());
    fs::create_dir(&dst).unwrap();
    for entry in fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    (tmp, dst)
}

fn problem(result: Result<weir_log::VerifyReport, VerifyError>) -> (PathBuf, u64, String) {
    match result {
        Err(VerifyError::Problem {
            file,
            position,
            message,
            ..
        }) => (file, position, message),
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[test]
fn good_cases_verify_and_count_what_the_manifest_lists() {
    let mut n = 0;
    for name in all_cases() {
        let (dir, m) = case(&name);
        if m["expect"]["valid"] != true {
            continue;
        }
        let report = verify_path(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.partitions.len(), 1);
        let p = &report.partitions[0];
        assert_eq!(
            p.topic_partition,
            Some((
                m["topic"].as_str().unwrap().to_owned(),
                m["partition"].as_i64().unwrap() as i32
            ))
        );
        let segments = m["segments"].as_array().unwrap();
        assert_eq!(p.segments.len(), segments.len(), "{name}");
        for (s, ms) in p.segments.iter().zip(segments) {
            assert_eq!(s.base_offset, ms["base_offset"].as_i64().unwrap());
            assert_eq!(s.size, ms["log_size"].as_u64().unwrap());
            assert_eq!(
                s.index_entries,
                ms["index_entries"].as_array().unwrap().len(),
                "{name}"
            );
            assert_eq!(
                s.time_index_entries,
                ms["timeindex_entries"].as_array().unwrap().len(),
                "{name}"
            );
            assert_eq!(
                s.txn_index_entries,
                ms["txnindex_entries"].as_array().unwrap().len(),
                "{name}"
            );
            assert!(s.notes.is_empty(), "{name}: {:?}", s.notes);
        }
        let batches: u64 = p.segments.iter().map(|s| s.batches).sum();
        let records: u64 = p.segments.iter().map(|s| s.records).sum();
        let controls: u64 = p.segments.iter().map(|s| s.control_batches).sum();
        assert_eq!(
            batches as usize,
            m["batches"].as_array().unwrap().len(),
            "{name}"
        );
        assert_eq!(
            records as usize,
            m["records"].as_array().unwrap().len(),
            "{name}"
        );
        assert_eq!(
            controls as usize,
            m["control_records"].as_array().unwrap().len(),
            "{name}"
        );
        // A single segment file verifies too.
        let first = dir.join(segments[0]["log"].as_str().unwrap());
        verify_path(&first).unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert_eq!(n, 15);
}

#[test]
fn corrupt_cases_name_the_file_and_position() {
    let mut n = 0;
    for name in all_cases() {
        let (dir, m) = case(&name);
        if m["expect"]["valid"] != false {
            continue;
        }
        let (file, position, message) = problem(verify_path(&dir));
        assert_eq!(file, dir.join("00000000000000000000.log"), "{name}");
        assert_eq!(
            position,
            m["expect"]["position"].as_u64().unwrap(),
            "{name}: {message}"
        );
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn a_data_directory_of_partitions_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["gzip", "two-segments"] {
        let (src, _) = case(name);
        let dst = tmp.path().join(src.file_name().unwrap());
        fs::create_dir(&dst).unwrap();
        for e in fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    let report = verify_path(tmp.path()).unwrap();
    assert_eq!(report.partitions.len(), 2);
}

#[test]
fn a_wrong_offset_index_entry_is_found() {
    let (_tmp, dir) = copy("many-batches");
    let index = dir.join("00000000000000000000.index");
    let mut bytes = fs::read(&index).unwrap();
    // Entry 1: point its position one batch too early.
    bytes[12..16].copy_from_slice(&4804u32.to_be_bytes());
    fs::write(&index, &bytes).unwrap();
    let (file, position, message) = problem(verify_path(&dir));
    assert_eq!(file, index);
    assert_eq!(position, 8);
    assert!(message.contains("entry 1"), "{message}");

    // A position inside a batch.
    bytes[12..16].copy_from_slice(&4805u32.to_be_bytes());
    fs::write(&index, &bytes).unwrap();
    let (_, _, message) = problem(verify_path(&dir));
    assert!(message.contains("not the start of a batch"), "{message}");

    // A partial entry.
    fs::write(&index, &bytes[..13]).unwrap();
    let (_, position, _) = problem(verify_path(&dir));
    assert_eq!(position, 0);
}

#[test]
fn a_wrong_time_index_entry_is_found() {
    let (_tmp, dir) = copy("many-batches");
    let index = dir.join("00000000000000000000.timeindex");
    let mut bytes = fs::read(&index).unwrap();
    // Entry 2: a timestamp no batch has.
    let ts = i64::from_be_bytes(bytes[24..32].try_into().unwrap());
    bytes[24..32].copy_from_slice(&(ts + 1).to_be_bytes());
    fs::write(&index, &bytes).unwrap();
    let (file, position, _) = problem(verify_path(&dir));
    assert_eq!((file, position), (index, 24));
}

#[test]
fn preallocated_index_space_is_a_note_not_a_problem() {
    let (_tmp, dir) = copy("many-batches");
    let entries = fs::metadata(dir.join("00000000000000000000.index"))
        .unwrap()
        .len() as usize
        / 8;
    assert!(entries > 4);
    for (suffix, entry) in [("index", 8), ("timeindex", 12)] {
        let path = dir.join(format!("00000000000000000000.{suffix}"));
        let mut bytes = fs::read(&path).unwrap();
        bytes.resize(bytes.len() + 10 * entry, 0);
        fs::write(&path, &bytes).unwrap();
    }
    let report = verify_path(&dir).unwrap();
    let s = &report.partitions[0].segments[0];
    assert_eq!(s.index_entries, entries);
    assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
}

#[test]
fn a_wrong_txn_index_entry_is_found() {
    let (_tmp, dir) = copy("transactions");
    let index = dir.join("00000000000000000000.txnindex");
    let mut bytes = fs::read(&index).unwrap();
    // last offset 8 (the ABORT) -> 10 (a plain batch).
    bytes[18..26].copy_from_slice(&10i64.to_be_bytes());
    fs::write(&index, &bytes).unwrap();
    let (file, position, message) = problem(verify_path(&dir));
    assert_eq!((file, position), (index, 0));
    assert!(message.contains("ABORT"), "{message}");
}

#[test]
fn a_leader_epoch_that_disagrees_with_the_batches_is_found() {
    let (_tmp, dir) = copy("two-segments");
    fs::write(dir.join("leader-epoch-checkpoint"), "0\n2\n0 0\n1 120\n").unwrap();
    let (file, _, message) = problem(verify_path(&dir));
    assert!(
        file.ends_with("00000000000000000000.log"),
        "{}",
        file.display()
    );
    assert!(message.contains("leader epoch"), "{message}");
    fs::write(dir.join("leader-epoch-checkpoint"), "0\n2\n0 0\n").unwrap();
    let (file, position, _) = problem(verify_path(&dir));
    assert!(file.ends_with("leader-epoch-checkpoint"));
    assert_eq!(position, 2);
}

#[test]
fn overlapping_segments_are_found() {
    let (_tmp, dir) = copy("two-segments");
    // Rename the second segment so it starts inside the first.
    for suffix in ["log", "index", "timeindex"] {
        fs::rename(
            dir.join(format!("00000000000000000133.{suffix}")),
            dir.join(format!("00000000000000000100.{suffix}")),
        )
        .unwrap();
    }
    // Its shifted indexes are problems too: the overlap is among them.
    let report = verify_report(&dir).unwrap();
    let overlap = report
        .problems()
        .find(|p| p.message.contains("the next segment starts at 100"))
        .unwrap_or_else(|| panic!("{:?}", messages(&report)));
    assert!(overlap.file.ends_with("00000000000000000000.log"));
}

#[test]
fn paths_that_are_not_logs_are_io_errors_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let err = verify_path(tmp.path()).unwrap_err();
    assert!(matches!(err, VerifyError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&tmp.path().display().to_string()));
    let err = verify_path(&tmp.path().join("missing")).unwrap_err();
    assert!(matches!(err, VerifyError::Io { .. }));
    let other = tmp.path().join("notes.txt");
    fs::write(&other, "x").unwrap();
    assert!(verify_path(&other).is_err());
}

/// A data directory with topic `t` (1 partition, about 4 batches a segment)
/// holding 40 single-record batches, closed cleanly: returns the partition
/// directory.
fn data_dir(configs: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let logs = LogDir::open_with(
        tmp.path(),
        LogDirOptions {
            background_thread: false,
            ..LogDirOptions::default()
        },
    )
    .unwrap();
    let mut all = vec![("segment.bytes", "300")];
    all.extend_from_slice(configs);
    logs.create_topic("t", 1, &all).unwrap();
    let log = logs.partition("t", 0).unwrap();
    for i in 0..40 {
        let ts = log.clock().now_ms();
        log.append(common::batch(i, 1, 10, ts)).unwrap();
    }
    log.flush_until(log.log_end_offset()).unwrap();
    drop(log);
    logs.close().unwrap();
    let dir = tmp.path().join("t-0");
    (tmp, dir)
}

fn segment_bases(dir: &Path) -> Vec<String> {
    let mut logs: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .map(|n| n.trim_end_matches(".log").to_owned())
        .collect();
    logs.sort();
    logs
}

fn messages(report: &weir_log::VerifyReport) -> Vec<String> {
    report.problems().map(ToString::to_string).collect()
}

#[test]
fn a_lost_middle_segment_is_an_orphaned_index_and_a_gap() {
    let (tmp, dir) = data_dir(&[]);
    assert!(verify_path(tmp.path()).unwrap().is_sound());
    let bases = segment_bases(&dir);
    assert!(bases.len() >= 4, "{bases:?}");
    let lost = &bases[2];
    fs::remove_file(dir.join(format!("{lost}.log"))).unwrap();
    for path in [tmp.path(), dir.as_path()] {
        let report = verify_report(path).unwrap();
        let got = messages(&report);
        assert_eq!(
            report.partitions[0].cleanup_policy.as_deref(),
            Some("delete")
        );
        assert!(
            got.iter()
                .any(|m| m.contains(&format!("{lost}.index: byte 0: orphaned index file"))),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|m| m.contains(&format!("{lost}.timeindex: byte 0: orphaned index file"))),
            "{got:?}"
        );
        let first_lost: i64 = lost.parse().unwrap();
        assert!(
            got.iter().any(|m| m.contains(&format!(
                "{}.log: byte 0: offsets {first_lost}..=",
                bases[3]
            ))),
            "{got:?}"
        );
        assert_eq!(got.len(), 3, "{got:?}");
    }
}

#[test]
fn a_lost_log_without_its_indexes_is_a_gap_unless_the_topic_compacts() {
    for (policy, expect_gap) in [
        ("delete", true),
        ("compact", false),
        ("compact,delete", false),
    ] {
        let (tmp, dir) = data_dir(&[("cleanup.policy", policy)]);
        let bases = segment_bases(&dir);
        for suffix in ["log", "index", "timeindex"] {
            fs::remove_file(dir.join(format!("{}.{suffix}", bases[1]))).unwrap();
        }
        let report = verify_report(tmp.path()).unwrap();
        assert_eq!(report.partitions[0].cleanup_policy.as_deref(), Some(policy));
        assert_eq!(
            !report.is_sound(),
            expect_gap,
            "{policy}: {:?}",
            messages(&report)
        );
    }
}

#[test]
fn a_gap_outside_a_data_directory_is_a_note_saying_the_policy_is_unknown() {
    let (tmp, dir) = data_dir(&[]);
    let bases = segment_bases(&dir);
    for suffix in ["log", "index", "timeindex"] {
        fs::remove_file(dir.join(format!("{}.{suffix}", bases[1]))).unwrap();
    }
    let bare = tempfile::tempdir().unwrap();
    let moved = bare.path().join("t-0");
    fs::rename(&dir, &moved).unwrap();
    drop(tmp);
    let report = verify_report(&moved).unwrap();
    assert!(report.is_sound(), "{:?}", messages(&report));
    let p = &report.partitions[0];
    assert_eq!(p.cleanup_policy, None);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("are missing") && n.contains("cleanup.policy unknown")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_log_ending_below_its_checkpoints_is_found() {
    let (tmp, dir) = data_dir(&[]);
    let bases = segment_bases(&dir);
    let last = bases.last().unwrap();
    for suffix in ["log", "index", "timeindex"] {
        fs::remove_file(dir.join(format!("{last}.{suffix}"))).unwrap();
    }
    let report = verify_report(tmp.path()).unwrap();
    let got = messages(&report);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("recovery-point-offset-checkpoint: byte 4: t-0: the log ends at offset"),
        "{got:?}"
    );
    // The log-start checkpoint above the log end too.
    fs::write(
        tmp.path().join("log-start-offset-checkpoint"),
        "0\n1\nt 0 40\n",
    )
    .unwrap();
    let got = messages(&verify_report(tmp.path()).unwrap());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[1].contains("log-start-offset-checkpoint: byte 4:"),
        "{got:?}"
    );
}

#[test]
fn retention_moving_the_log_start_is_no_problem() {
    let (tmp, dir) = data_dir(&[]);
    let bases = segment_bases(&dir);
    // Retention deleted the first two segments; the log-start checkpoint was
    // written before or after.
    for base in &bases[..2] {
        for suffix in ["log", "index", "timeindex"] {
            fs::remove_file(dir.join(format!("{base}.{suffix}"))).unwrap();
        }
    }
    assert!(verify_path(tmp.path()).is_ok());
    let start: i64 = bases[2].parse().unwrap();
    fs::write(
        tmp.path().join("log-start-offset-checkpoint"),
        format!("0\n1\nt 0 {start}\n"),
    )
    .unwrap();
    assert!(verify_path(tmp.path()).is_ok());
    // An index left by a delete interrupted after its .log was renamed.
    fs::write(dir.join(format!("{}.log.deleted", bases[0])), b"").unwrap();
    fs::write(dir.join(format!("{}.index", bases[0])), b"").unwrap();
    let report = verify_path(tmp.path()).unwrap();
    assert!(
        report.partitions[0]
            .notes
            .iter()
            .any(|n| n.contains("interrupted delete")),
        "{:?}",
        report.partitions[0].notes
    );
}

#[test]
fn every_damaged_partition_and_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["corrupt-crc", "many-batches", "corrupt-torn-tail"] {
        let (src, _) = case(name);
        let dst = tmp.path().join(src.file_name().unwrap());
        fs::create_dir(&dst).unwrap();
        for e in fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    // Two index files of the sound partition broken too.
    let (many, _) = case("many-batches");
    let many = tmp.path().join(many.file_name().unwrap());
    for suffix in ["index", "timeindex"] {
        let path = many.join(format!("00000000000000000000.{suffix}"));
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 1);
        fs::write(&path, &bytes).unwrap();
    }
    let report = verify_report(tmp.path()).unwrap();
    assert_eq!(report.partitions.len(), 3);
    let got = messages(&report);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(
        got[0].contains("golden-corrupt-crc-0/00000000000000000000.log: byte 487:"),
        "{got:?}"
    );
    assert!(
        got[1].contains("golden-corrupt-torn-tail-0/00000000000000000000.log"),
        "{got:?}"
    );
    assert!(
        got[2].contains("golden-many-batches-0/00000000000000000000.index"),
        "{got:?}"
    );
    assert!(
        got[3].contains("golden-many-batches-0/00000000000000000000.timeindex"),
        "{got:?}"
    );
    // The damaged segment reports what precedes the damage.
    assert_eq!(report.partitions[0].segments[0].batches, 1);
    let err = verify_path(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("and 3 more problem(s)"), "{err}");
}

/// Review 16: gaps the cleaner leaves are no problem for a partition the
/// cleaner's checkpoint lists (a broker's directory adopted with its root
/// files: its compacted topics have no override here), nor for Kafka's
/// internal topics, which always compact.
#[test]
fn gaps_of_compacted_partitions_without_an_override_are_no_problem() {
    let (tmp, dir) = data_dir(&[]);
    let bases = segment_bases(&dir);
    for suffix in ["log", "index", "timeindex"] {
        fs::remove_file(dir.join(format!("{}.{suffix}", bases[1]))).unwrap();
    }
    let report = verify_report(tmp.path()).unwrap();
    assert!(!report.is_sound(), "a gap with the default policy");
    assert!(
        messages(&report)[0].contains("cleanup.policy=compact"),
        "the message says how to declare a compacted topic: {:?}",
        messages(&report)
    );
    fs::write(
        tmp.path().join("cleaner-offset-checkpoint"),
        "0\n1\nt 0 12\n",
    )
    .unwrap();
    let report = verify_report(tmp.path()).unwrap();
    assert!(report.is_sound(), "{:?}", messages(&report));
    assert!(
        report.partitions[0]
            .notes
            .iter()
            .any(|n| n.contains("cleaner-offset-checkpoint")),
        "{:?}",
        report.partitions[0].notes
    );

    // The same partition as __consumer_offsets, listed with no configs.
    fs::remove_file(tmp.path().join("cleaner-offset-checkpoint")).unwrap();
    let offsets = tmp.path().join("__consumer_offsets-0");
    fs::rename(&dir, &offsets).unwrap();
    let topics = fs::read_to_string(tmp.path().join("weir-topics.json")).unwrap();
    let mut json: Value = serde_json::from_str(&topics).unwrap();
    let entry = json["topics"]["t"].take();
    let entry = {
        let mut e = entry;
        e["configs"] = serde_json::json!({});
        e
    };
    json["topics"] = serde_json::json!({ "__consumer_offsets": entry });
    fs::write(tmp.path().join("weir-topics.json"), json.to_string()).unwrap();
    for checkpoint in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
    ] {
        let _ = fs::remove_file(tmp.path().join(checkpoint));
    }
    let report = verify_report(tmp.path()).unwrap();
    assert_eq!(
        report.partitions[0].cleanup_policy.as_deref(),
        Some("compact")
    );
    assert!(report.is_sound(), "{:?}", messages(&report));
}

/// Review 16: a crash during a topic's delete leaves `<t>-<p>.<id>-delete`
/// directories, which the next open finishes deleting: not lost partitions.
/// When every partition directory is gone, the data directory is still
/// checked against its checkpoints (it was "not a log").
#[test]
fn partitions_being_deleted_are_not_lost_and_a_data_directory_without_any_is_checked() {
    let (tmp, dir) = data_dir(&[]);
    let renamed = tmp
        .path()
        .join("t-0.0123456789abcdef0123456789abcdef-delete");
    fs::rename(&dir, &renamed).unwrap();
    let report = verify_report(tmp.path()).unwrap();
    assert!(report.is_sound(), "{:?}", messages(&report));

    fs::remove_dir_all(&renamed).unwrap();
    let report = verify_report(tmp.path()).unwrap();
    let got = messages(&report);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("t-0: the directory") && got[0].contains("is gone"),
        "{got:?}"
    );

    // The same for a data directory named like a partition (`kafka-logs-1`).
    let named = tempfile::tempdir().unwrap();
    let kafka_logs = named.path().join("kafka-logs-1");
    fs::rename(tmp.path(), &kafka_logs).unwrap();
    let got = messages(&verify_report(&kafka_logs).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("is gone"), "{got:?}");
}

/// Review 16: an index file whose `.log` exists, though it was not listed
/// with the segments (a segment rolled while a live directory is verified),
/// is not orphaned; and the per-partition and per-segment functions fail on
/// damage, as before they went on after problems.
#[test]
fn partition_and_segment_verification_fail_on_damage() {
    let (_tmp, dir) = data_dir(&[]);
    assert!(weir_log::verify::verify_partition_dir(&dir).is_ok());
    let bases = segment_bases(&dir);
    let log = dir.join(format!("{}.log", bases[0]));
    let mut bytes = fs::read(&log).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs::write(&log, &bytes).unwrap();
    assert!(matches!(
        weir_log::verify::verify_partition_dir(&dir),
        Err(VerifyError::Problem { .. })
    ));
    let base: i64 = bases[0].parse().unwrap();
    assert!(matches!(
        weir_log::verify::verify_segment(&log, base, &[]),
        Err(VerifyError::Problem { .. })
    ));
}

/// Review 16: an index file is read only as far as its segment's batches
/// allow entries; the rest must be zeros (preallocated space), checked a
/// block at a time. A huge sparse index is a note, not gigabytes of memory;
/// a non-zero byte past the possible entries is a problem naming it.
#[test]
fn an_index_far_larger_than_its_segment_is_read_only_as_far_as_entries_can_be_real() {
    let (tmp, dir) = data_dir(&[]);
    let bases = segment_bases(&dir);
    let index = dir.join(format!("{}.index", bases[0]));
    let huge = 64 << 20;
    fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(huge)
        .unwrap();
    let report = verify_report(tmp.path()).unwrap();
    assert!(report.is_sound(), "{:?}", messages(&report));
    let notes = &report.partitions[0].segments[0].notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("preallocated .index entries")),
        "{notes:?}"
    );
    // The log opens too (its own read of the index is bounded the same way).
    let logs = LogDir::open_with(
        tmp.path(),
        LogDirOptions {
            background_thread: false,
            ..LogDirOptions::default()
        },
    )
    .unwrap();
    assert_eq!(logs.partition("t", 0).unwrap().log_end_offset(), 40);
    logs.close().unwrap();
    drop(logs);

    // A sparse .txnindex is read only as far as entries can be real (one per
    // batch): its zeros do not become millions of aborted transactions.
    let txn = dir.join(format!("{}.txnindex", bases[0]));
    fs::File::create(&txn).unwrap().set_len(huge).unwrap();
    let logs = LogDir::open_with(
        tmp.path(),
        LogDirOptions {
            background_thread: false,
            ..LogDirOptions::default()
        },
    )
    .unwrap();
    let log = logs.partition("t", 0).unwrap();
    let batches = fs::metadata(dir.join(format!("{}.log", bases[0])))
        .unwrap()
        .len()
        / 61
        + 1;
    let listed = log.aborted_transactions(0, log.high_watermark()).len() as u64;
    assert!(
        listed <= batches,
        "{listed} entries from a segment of at most {batches} batches"
    );
    drop(log);
    logs.close().unwrap();
    drop(logs);
    fs::remove_file(&txn).unwrap();

    let far = 32u64 << 20;
    let f = fs::OpenOptions::new().write(true).open(&index).unwrap();
    std::os::unix::fs::FileExt::write_at(&f, &[7], far).unwrap();
    let report = verify_report(tmp.path()).unwrap();
    let got = messages(&report);
    assert!(
        got.iter()
            .any(|m| m.contains(&format!("byte {far}: bytes past the")) && m.contains("not zeros")),
        "{got:?}"
    );
}

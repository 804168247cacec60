//! The `weir` binary against the golden Kafka segments.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .unwrap()
}

mod common;

/// `common::weir` with text input.
fn weir_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    common::weir(dir, args, stdin.as_bytes())
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments")
}

fn cases() -> Vec<(PathBuf, Value)> {
    let mut out: Vec<(PathBuf, Value)> = fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let root = e.unwrap().path();
            let m: Value =
                serde_json::from_str(&fs::read_to_string(root.join("manifest.json")).ok()?).ok()?;
            Some((root.join(m["dir"].as_str().unwrap()), m))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn dump_json_prints_exactly_the_manifest_records() {
    let mut n = 0;
    for (dir, m) in cases()
        .into_iter()
        .filter(|(_, m)| m["expect"]["valid"] == true)
    {
        let out = weir(&["dump", "--format", "json", dir.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        let expected = m["records"].as_array().unwrap();
        assert_eq!(lines.len(), expected.len(), "{}", dir.display());
        for (line, want) in lines.iter().zip(expected) {
            let got: Value = serde_json::from_str(line).unwrap();
            assert_eq!(got["topic"], m["topic"]);
            assert_eq!(got["partition"], m["partition"]);
            for field in ["offset", "timestamp", "key", "value", "headers"] {
                assert_eq!(got[field], want[field], "{}: {line}", dir.display());
            }
            // The schema's key order, compact, non-ASCII kept as is.
            assert!(line.starts_with("{\"topic\":"), "{line}");
            let order: Vec<usize> = [
                "\"partition\":",
                "\"offset\":",
                "\"timestamp\":",
                "\"key\":",
                "\"value\":",
                "\"headers\":",
            ]
            .iter()
            .map(|k| line.find(k).unwrap())
            .collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{line}");
            // Compact: as long as serde_json's compact form of the same value.
            assert_eq!(
                line.len(),
                serde_json::to_string(&got).unwrap().len(),
                "{line}"
            );
        }
        n += 1;
    }
    assert_eq!(n, 15);
}

#[test]
fn dump_text_shows_every_batch_with_its_header_fields() {
    let (dir, m) = cases()
        .into_iter()
        .find(|(d, _)| d.ends_with("golden-transactions-0"))
        .unwrap();
    let out = weir(&["dump", dir.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let batch_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batch_lines.len(), m["batches"].as_array().unwrap().len());
    for field in [
        "lastOffset:",
        "count:",
        "baseSequence:",
        "producerId:",
        "producerEpoch:",
        "partitionLeaderEpoch:",
        "isTransactional:",
        "isControl:",
        "deleteHorizonMs:",
        "position:",
        "baseTimestamp:",
        "size:",
        "magic:",
        "compresscodec:",
        "crc:",
        "isvalid: true",
    ] {
        assert!(batch_lines.iter().all(|l| l.contains(field)), "{field}");
    }
    assert!(stdout.contains("COMMIT coordinatorEpoch: 17"), "{stdout}");
    assert!(stdout.contains("ABORT coordinatorEpoch: 17"), "{stdout}");
}

#[test]
fn dump_of_a_corrupt_segment_prints_the_sound_batches_then_fails() {
    let (dir, m) = cases()
        .into_iter()
        .find(|(d, _)| d.ends_with("golden-corrupt-crc-0"))
        .unwrap();
    let out = weir(&["dump", "--format", "json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // The 2nd of 4 batches (offsets 3..=6) fails its CRC; the others print.
    let offsets: Vec<i64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["offset"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let prefix: Vec<i64> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets[..prefix.len()], prefix[..]);
    assert_eq!(offsets, [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("00000000000000000000.log") && stderr.contains("byte 487"),
        "{stderr}"
    );
}

#[test]
fn verify_exits_0_on_sound_logs_and_1_naming_file_and_position() {
    for (dir, m) in cases() {
        let out = weir(&["verify", dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if m["expect"]["valid"] == true {
            assert_eq!(out.status.code(), Some(0), "{}: {stderr}", dir.display());
            assert!(String::from_utf8_lossy(&out.stdout).contains("sound:"));
        } else {
            assert_eq!(out.status.code(), Some(1), "{}", dir.display());
            let position = m["expect"]["position"].as_u64().unwrap();
            assert!(
                stderr.contains(&format!("00000000000000000000.log: byte {position}:")),
                "{stderr}"
            );
        }
    }
}

#[test]
fn verify_json_is_parseable_either_way() {
    let (good, _) = cases()
        .into_iter()
        .find(|(d, _)| d.ends_with("golden-two-segments-0"))
        .unwrap();
    let out = weir(&["verify", "--format", "json", good.to_str().unwrap()]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["partitions"][0]["segments"].as_array().unwrap().len(), 2);
    assert_eq!(v["partitions"][0]["topic"], "golden-two-segments");

    let (bad, m) = cases()
        .into_iter()
        .find(|(d, _)| d.ends_with("golden-corrupt-varint-length-0"))
        .unwrap();
    let out = weir(&["verify", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    // The success schema, with the problems inside.
    assert_eq!(v["partitions"][0]["topic"], "golden-corrupt-varint-length");
    assert_eq!(v["partitions"][0]["segments"][0]["batches"], 2);
    assert_eq!(v["problems"][0]["position"], m["expect"]["position"]);
    assert_eq!(
        v["partitions"][0]["segments"][0]["problems"][0]["position"],
        m["expect"]["position"]
    );
}

#[test]
fn every_command_has_help_and_bad_usage_exits_2() {
    for args in [
        &["--help"][..],
        &["dump", "--help"],
        &["verify", "--help"],
        &["topics", "--help"],
        &["topics", "create", "--help"],
        &["topics", "list", "--help"],
        &["topics", "describe", "--help"],
        &["topics", "delete", "--help"],
        &["topics", "alter", "--help"],
        &["topics", "offsets", "--help"],
        &["topics", "delete-records", "--help"],
        &["produce", "--help"],
        &["consume", "--help"],
    ] {
        let out = weir(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
    assert_eq!(weir(&["dump"]).status.code(), Some(2));
    assert_eq!(
        weir(&["dump", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(weir(&["frobnicate"]).status.code(), Some(2));
    let missing = weir(&["verify", "/definitely/not/here"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/definitely/not/here"));
}

#[test]
fn topics_produce_and_consume_round_trip_in_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = weir_in(
        d,
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "6",
            "--config",
            "retention.ms=3600000",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = weir_in(d, &["topics", "list", "--format", "json"], "");
    let topics = common::json_lines(&out);
    assert_eq!(topics[0]["topic"], "orders");
    assert_eq!(topics[0]["partition_count"], 6);

    // Keys land where the Java client puts them (kafka-format.md §7, N=6).
    let input = "a\tfirst\nabc\tsecond\nfoobar\tthird\nhello world\tfourth\n";
    let out = weir_in(
        d,
        &[
            "produce",
            "orders",
            "--key-separator",
            "\t",
            "--acks",
            "all",
            "--format",
            "json",
        ],
        input,
    );
    let summary = common::json_lines(&out);
    assert_eq!(summary[0]["records"], 4);
    let out = weir_in(
        d,
        &[
            "consume",
            "orders",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
        "",
    );
    let mut records = common::json_lines(&out);
    records.sort_by_key(|r| r["value"]["utf8"].as_str().unwrap().to_string());
    let placed: Vec<(String, i64)> = records
        .iter()
        .map(|r| {
            (
                r["key"]["utf8"].as_str().unwrap().to_string(),
                r["partition"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            ("a".into(), 4),
            ("hello world".into(), 1),
            ("abc".into(), 3),
            ("foobar".into(), 0)
        ]
    );
    for r in &records {
        assert_eq!(r["topic"], "orders");
        assert_eq!(r["headers"], serde_json::json!([]));
    }

    // --partition, --from, --count, text with the key.
    let many: String = (0..10).map(|i| format!("v{i}\n")).collect();
    assert!(
        weir_in(d, &["produce", "orders", "--partition", "5"], &many)
            .status
            .success()
    );
    let out = weir_in(
        d,
        &[
            "consume",
            "orders",
            "--partition",
            "5",
            "--from",
            "7",
            "--exit-at-end",
        ],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v7\nv8\nv9\n");
    let out = weir_in(
        d,
        &[
            "consume",
            "orders",
            "--from-beginning",
            "--partition",
            "5",
            "--count",
            "2",
            "--key-separator",
            "|",
        ],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "null|v0\nnull|v1\n");
    let out = weir_in(
        d,
        &[
            "consume",
            "orders",
            "--partition",
            "5",
            "--from",
            "end",
            "--exit-at-end",
        ],
        "",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");

    // describe shows offsets and configs; verify and dump read the directory.
    let out = weir_in(d, &["topics", "describe", "orders", "--format", "json"], "");
    let desc = &common::json_lines(&out)[0];
    assert_eq!(desc["partitions"][5]["log_end_offset"], 10);
    assert_eq!(desc["configs"]["retention.ms"]["value"], "3600000");
    assert_eq!(desc["configs"]["retention.ms"]["source"], "topic");
    assert!(weir(&["verify", d.to_str().unwrap()]).status.success());
    let dumped = weir(&[
        "dump",
        "--format",
        "json",
        d.join("orders-5").to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&dumped.stdout).lines().count(), 10);

    let out = weir_in(d, &["topics", "delete", "orders"], "");
    assert!(out.status.success());
    assert!(!d.join("orders-0").exists());
}

#[test]
fn data_directory_errors_name_what_was_wrong_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = weir_in(
        d,
        &["topics", "create", "t", "--config", "retention.msec=5"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("retention.msec"));
    let out = weir_in(d, &["topics", "create", "bad name"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad name"));
    let out = weir_in(
        d,
        &["consume", "missing", "--from-beginning", "--exit-at-end"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown topic missing"));
    let out = weir_in(d, &["consume", "t", "--from", "yesterday"], "");
    assert_eq!(out.status.code(), Some(2));

    // A directory held by another process is refused, not shared.
    let held = weir_log::LogDir::open(d).unwrap();
    let out = weir_in(d, &["topics", "list"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(held);
    assert!(weir_in(d, &["topics", "list"], "").status.success());

    // A mistyped --data-dir is an error, not a new empty data directory.
    let missing = d.join("no-such-dir");
    let m = missing.to_str().unwrap();
    for args in [
        &["--data-dir", m, "topics", "list"][..],
        &[
            "--data-dir",
            m,
            "consume",
            "t",
            "--from-beginning",
            "--exit-at-end",
        ],
        &["--data-dir", m, "groups", "list"],
    ] {
        let out = weir(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("does not exist"),
            "{args:?}"
        );
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    // Listing groups does not create __consumer_offsets.
    assert!(weir_in(d, &["groups", "list"], "").status.success());
    assert!(!d.join("__consumer_offsets-0").exists());
}

/// `weir topics` with `args` in `d`.
fn topics(d: &Path, args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["topics"];
    all.extend_from_slice(args);
    weir_in(d, &all, stdin)
}

/// `weir topics` with `args` in `d`, asserting success; its stdout.
fn topics_ok(d: &Path, args: &[&str], stdin: &str) -> String {
    common::ok(&topics(d, args, stdin))
}

/// `weir topics` with `args` in `d`, asserting it exits 2 with `names` in
/// its error.
fn topics_fails(d: &Path, args: &[&str], names: &str) {
    let out = topics(d, args, "");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(names), "{args:?}: {err}");
}

#[test]
fn topics_alter_changes_configs_and_adds_partitions_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    topics_ok(d, &["create", "t", "--partitions", "2"], "");
    let out = topics_ok(
        d,
        &[
            "alter",
            "t",
            "--partitions",
            "4",
            "--add-config",
            "retention.ms=60000",
            "--add-config",
            "segment.bytes=1048576",
        ],
        "",
    );
    assert_eq!(
        out,
        "Altered topic t: partitions 2 -> 4; set retention.ms=60000; set segment.bytes=1048576\n"
    );
    let desc = &common::json_lines(&weir_in(
        d,
        &["topics", "describe", "t", "--format", "json"],
        "",
    ))[0];
    assert_eq!(desc["partitions"].as_array().unwrap().len(), 4);
    assert_eq!(desc["configs"]["retention.ms"]["value"], "60000");
    assert_eq!(desc["configs"]["retention.ms"]["source"], "topic");

    // Back to the default.
    let out = common::json_lines(&weir_in(
        d,
        &[
            "topics",
            "alter",
            "t",
            "--delete-config",
            "retention.ms",
            "--format",
            "json",
        ],
        "",
    ));
    assert_eq!(out[0]["deleted"][0], "retention.ms");
    assert_eq!(out[0]["partition_count"], 4);
    let desc = &common::json_lines(&weir_in(
        d,
        &["topics", "describe", "t", "--format", "json"],
        "",
    ))[0];
    assert_eq!(desc["configs"]["retention.ms"]["source"], "default");
    assert_eq!(desc["configs"]["segment.bytes"]["value"], "1048576");

    // Refused changes name what was wrong, exit 2 and change nothing: a
    // partition count that does not grow leaves the configs alone too.
    for (args, names) in [
        (
            vec![
                "alter",
                "t",
                "--partitions",
                "3",
                "--add-config",
                "retention.ms=1",
            ],
            "--partitions 3",
        ),
        (
            vec!["alter", "t", "--add-config", "retention.msec=1"],
            "retention.msec",
        ),
        (
            vec!["alter", "t", "--add-config", "retention.ms=soon"],
            "retention.ms",
        ),
        (
            vec!["alter", "t", "--add-config", "retention.ms"],
            "KEY=VALUE",
        ),
        (vec!["alter", "t"], "nothing to alter"),
        (
            vec![
                "alter",
                "t",
                "--partitions",
                "200000",
                "--add-config",
                "retention.ms=1",
            ],
            "at most",
        ),
        (
            vec![
                "alter",
                "t",
                "--delete-config",
                "cleanup.policy",
                "--add-config",
                "retention.ms=1",
            ],
            "no override for cleanup.policy",
        ),
        (
            vec![
                "alter",
                "t",
                "--add-config",
                "retention.ms=1",
                "--delete-config",
                "retention.ms",
            ],
            "both",
        ),
        (vec!["alter", "nope", "--partitions", "9"], "nope"),
    ] {
        topics_fails(d, &args, names);
    }
    let desc = &common::json_lines(&weir_in(
        d,
        &["topics", "describe", "t", "--format", "json"],
        "",
    ))[0];
    assert_eq!(desc["partitions"].as_array().unwrap().len(), 4);
    assert_eq!(desc["configs"]["retention.ms"]["source"], "default");
}

#[test]
fn topics_offsets_and_delete_records_work_like_kafkas_tools() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    topics_ok(d, &["create", "t", "--partitions", "2"], "");
    // Ten records in partition 1, stamped now.
    let input: String = (0..10).map(|i| format!("v{i}\n")).collect();
    let out = weir_in(
        d,
        &["produce", "t", "--partition", "1", "--acks", "all"],
        &input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(topics_ok(d, &["offsets", "t"], ""), "t:0:0\nt:1:10\n");
    assert_eq!(
        topics_ok(d, &["offsets", "t", "--time", "-2"], ""),
        "t:0:0\nt:1:0\n"
    );
    // No tiered storage: every record is local, none is tiered.
    assert_eq!(
        topics_ok(d, &["offsets", "t", "--time", "earliest-local"], ""),
        "t:0:0\nt:1:0\n"
    );
    assert_eq!(topics_ok(d, &["offsets", "t", "--time", "-5"], ""), "");
    // The first record at or after a time: partition 0 has none, so it is
    // left out, as kafka-get-offsets leaves it out.
    assert_eq!(
        topics_ok(d, &["offsets", "t", "--time", "0"], ""),
        "t:1:0\n"
    );
    assert_eq!(
        topics_ok(d, &["offsets", "t", "--time", "99999999999999"], ""),
        ""
    );
    let found = common::json_lines(&weir_in(
        d,
        &[
            "topics",
            "offsets",
            "t",
            "--time",
            "max-timestamp",
            "--format",
            "json",
        ],
        "",
    ));
    assert_eq!(found[0]["offset"], Value::Null);
    assert!((0..10).contains(&found[1]["offset"].as_i64().unwrap()));
    assert!(found[1]["timestamp"].as_i64().unwrap() > 1_700_000_000_000);

    let out = topics_ok(
        d,
        &["delete-records", "t", "--partition", "1", "--before", "6"],
        "",
    );
    assert_eq!(out, "partition: t-1\tlow_watermark: 6\n");
    assert_eq!(
        topics_ok(
            d,
            &["offsets", "t", "--time", "earliest", "--partition", "1"],
            ""
        ),
        "t:1:6\n"
    );
    // What is left is what a consumer reads.
    let out = weir_in(
        d,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--partition",
            "1",
            "--exit-at-end",
        ],
        "",
    );
    assert_eq!(common::ok(&out), "v6\nv7\nv8\nv9\n");

    // Past the end: an error naming the partition and offset, exit 2, the
    // log start unchanged; bad arguments likewise.
    for (args, names) in [
        (
            vec!["delete-records", "t", "--partition", "1", "--before", "11"],
            "11",
        ),
        (vec!["delete-records", "t", "--before", "-5"], "-5"),
        (
            vec!["delete-records", "t", "--partition", "2", "--before", "1"],
            "partition 2",
        ),
        (vec!["offsets", "t", "--time", "yesterday"], "yesterday"),
        (vec!["offsets", "t", "--partition", "-1"], "partition -1"),
    ] {
        topics_fails(d, &args, names);
    }
    assert_eq!(
        topics_ok(
            d,
            &["offsets", "t", "--time", "earliest", "--partition", "1"],
            ""
        ),
        "t:1:6\n"
    );

    // -1 deletes every record of every partition.
    let out = common::json_lines(&weir_in(
        d,
        &[
            "topics",
            "delete-records",
            "t",
            "--before",
            "-1",
            "--format",
            "json",
        ],
        "",
    ));
    assert_eq!(out[1]["low_watermark"], 10);
    assert_eq!(out[0]["low_watermark"], 0);
}

/// A data directory named like a partition (`kafka-logs-1`) is verified as
/// the data directory it is: its partitions are read, and damage in them is
/// reported, where before it was taken for one empty partition and "sound".
#[test]
fn verify_reads_a_data_directory_named_like_a_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kafka-logs-1");
    let part = data.join("orders-0");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join("00000000000000000000.log"), vec![0x5a; 100]).unwrap();
    let out = weir(&["verify", data.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("orders-0") && stderr.contains("00000000000000000000.log"),
        "{stderr}"
    );
}

/// Review 13: inside a partition directory, `dump .` and `dump <segment>`
/// printed `"topic": null` (the path as given has no directory name), and so
/// did `verify .`.
#[test]
fn dump_and_verify_inside_a_partition_directory_name_its_topic() {
    let (dir, _) = cases()
        .into_iter()
        .find(|(_, m)| m["expect"]["valid"] == true)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let partition = tmp.path().join("inside-3");
    fs::create_dir(&partition).unwrap();
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), partition.join(e.file_name())).unwrap();
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .current_dir(&partition)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for path in [".", "00000000000000000000.log"] {
        let stdout = run(&["dump", "--format", "json", path]);
        assert!(!stdout.is_empty());
        for line in stdout.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                (&v["topic"], &v["partition"]),
                (&Value::from("inside"), &Value::from(3)),
                "{path}"
            );
        }
    }
    let v: Value = serde_json::from_str(&run(&["verify", "--format", "json", "."])).unwrap();
    assert_eq!(v["partitions"][0]["topic"], "inside", "{v}");
    assert_eq!(v["partitions"][0]["partition"], 3);
}

/// `weir topics set-id`: the id Kafka's controller gave a topic, written to
/// each partition's `partition.metadata`; a bad id exits 2 naming it.
#[test]
fn topics_set_id_writes_kafkas_id_into_every_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let ok = |args: &[&str]| {
        let out = weir_in(d, args, "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&["topics", "create", "orders", "--partitions", "3"]);
    let id = "xOy2q1YhRSWtqRsJzGJv9w";
    let v: Value =
        serde_json::from_str(&ok(&["topics", "set-id", "orders", id, "--format", "json"])).unwrap();
    assert_eq!(v["topic_id"], id);
    assert_eq!(v["partition_count"], 3);
    for p in 0..3 {
        let meta = fs::read_to_string(d.join(format!("orders-{p}/partition.metadata"))).unwrap();
        assert!(meta.contains(&format!("topic_id: {id}")), "{meta}");
    }
    let out = weir_in(d, &["topics", "set-id", "orders", "not-an-id"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-id"));
}

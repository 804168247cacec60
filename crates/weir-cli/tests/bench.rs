//! `weir bench produce|consume|e2e` on temporary data directories.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `weir --data-dir DIR args...`.
fn weir(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs a bench with `--format json` and returns its one JSON object.
fn bench(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let out = weir(dir, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The progress bar is hidden in json mode.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// The numbers every report must get right.
fn check_consistent(report: &Value, kind: &str, records: u64, with_latency: bool) {
    assert_eq!(report["kind"], kind, "{report}");
    assert_eq!(report["records"].as_u64(), Some(records), "{report}");
    let seconds = report["seconds"].as_f64().unwrap();
    let per_sec = report["records_per_sec"].as_f64().unwrap();
    let mb_per_sec = report["mb_per_sec"].as_f64().unwrap();
    assert!(
        seconds > 0.0 && per_sec > 0.0 && mb_per_sec > 0.0,
        "{report}"
    );
    // records/s and MB/s agree with records, seconds and the value size.
    let size = report["record_size"].as_f64().unwrap();
    let expected_per_sec = records as f64 / seconds;
    assert!(
        (per_sec - expected_per_sec).abs() <= expected_per_sec * 1e-9,
        "{report}"
    );
    let expected_mb = per_sec * size / 1_048_576.0;
    assert!(
        (mb_per_sec - expected_mb).abs() <= expected_mb * 1e-9,
        "{report}"
    );
    let latency = &report["latency_ms"];
    if with_latency {
        let p = |k: &str| latency[k].as_f64().unwrap();
        assert!(p("p50") >= 0.0, "{report}");
        assert!(p("p50") <= p("p99"), "{report}");
        assert!(p("p99") <= p("p99_9"), "{report}");
        assert!(p("p99_9") <= p("max"), "{report}");
        assert!(p("mean") <= p("max"), "{report}");
        assert!(report["latency"].is_string(), "{report}");
    } else {
        assert!(latency.is_null(), "{report}");
    }
}

fn topics(dir: &Path) -> Vec<String> {
    let out = weir(dir, &["topics", "list"]);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bench_produce_reports_every_record_and_ordered_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let r = bench(dir.path(), &["produce", "--records", "3000"]);
    check_consistent(&r, "produce", 3000, true);
    assert_eq!(r["partitions"], 6);
    assert_eq!(r["record_size"], 170);
    assert_eq!(r["acks"], "all");
    assert!(
        r["topic"]
            .as_str()
            .unwrap()
            .starts_with("weir-bench-produce-")
    );
    assert!(topics(dir.path()).is_empty(), "the topic is deleted");

    // Flags and properties reach the producer; several threads share it.
    let r = bench(
        dir.path(),
        &[
            "produce",
            "--records",
            "2000",
            "--record-size",
            "50",
            "--producers",
            "3",
            "--acks",
            "1",
            "--compression",
            "lz4",
            "--linger-ms",
            "0",
            "--batch-size",
            "4096",
            "--property",
            "client.id=bench-test",
            "--rate",
            "100000",
        ],
    );
    check_consistent(&r, "produce", 2000, true);
    assert_eq!(
        (
            &r["acks"],
            &r["compression"],
            &r["linger_ms"],
            &r["batch_size"]
        ),
        (&"1".into(), &"lz4".into(), &0.into(), &4096.into())
    );
    assert_eq!(r["producers"], 3);
}

#[test]
fn bench_consume_reads_everything_it_produced() {
    let dir = tempfile::tempdir().unwrap();
    let r = bench(
        dir.path(),
        &[
            "consume",
            "--records",
            "4000",
            "--consumers",
            "4",
            "--partitions",
            "5",
            "--topic",
            "kept",
            "--keep",
            "--property",
            "max.poll.records=100",
        ],
    );
    check_consistent(&r, "consume", 4000, false);
    assert_eq!(r["consumers"], 4);
    // --keep: the records are still there, spread over the 5 partitions.
    assert_eq!(topics(dir.path()), ["kept"]);
    let out = weir(
        dir.path(),
        &["topics", "describe", "kept", "--format", "json"],
    );
    let desc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ends: Vec<i64> = desc["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["log_end_offset"].as_i64().unwrap())
        .collect();
    assert_eq!(ends.len(), 5);
    assert_eq!(ends.iter().sum::<i64>(), 4000);
    // An existing topic is refused, not reused.
    let out = weir(
        dir.path(),
        &["bench", "consume", "--records", "10", "--topic", "kept"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kept"));
}

#[test]
fn bench_e2e_measures_latency_from_the_send_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let r = bench(
        dir.path(),
        &[
            "e2e",
            "--records",
            "2000",
            "--producers",
            "2",
            "--consumers",
            "3",
            "--partitions",
            "3",
            "--rate",
            "0",
            "--acks",
            "1",
        ],
    );
    check_consistent(&r, "e2e", 2000, true);
    let r = bench(dir.path(), &["e2e", "--records", "500", "--rate", "20000"]);
    check_consistent(&r, "e2e", 500, true);
    assert!(topics(dir.path()).is_empty());
}

#[test]
fn bench_text_output_is_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = weir(dir.path(), &["bench", "produce", "--records", "100"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines.iter().position(|l| l.contains("records/s")).unwrap();
    for column in [
        "records", "seconds", "MB/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
    ] {
        assert!(lines[header].contains(column), "{stdout}");
    }
    assert_eq!(lines[header + 1].split_whitespace().next(), Some("100"));
    // stderr is not a terminal here: no progress bar.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bench_help_and_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["bench", "--help"][..],
        &["bench", "produce", "--help"],
        &["bench", "consume", "--help"],
        &["bench", "e2e", "--help"],
    ] {
        let out = weir(dir.path(), args);
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage:"), "{args:?}");
        if args.len() == 3 {
            for flag in ["--records", "--record-size", "--property", "--format"] {
                assert!(help.contains(flag), "{args:?}: {flag}");
            }
        }
    }
    let e2e_help =
        String::from_utf8_lossy(&weir(dir.path(), &["bench", "e2e", "--help"]).stdout).to_string();
    assert!(e2e_help.contains("weir-bench-sent-ns"), "{e2e_help}");

    // A key neither client knows, a bad value for a consumer key, and keys
    // that conflict with others: exit 2, naming the key, before any topic is
    // made.
    for (kind, property, key) in [
        ("produce", "lingr.ms=5", "lingr.ms"),
        ("consume", "max.poll.records=0", "max.poll.records"),
        ("e2e", "acks=2", "acks"),
        (
            "produce",
            "max.in.flight.requests.per.connection=6",
            "max.in.flight.requests.per.connection",
        ),
        ("consume", "enable.auto.commit=true", "enable.auto.commit"),
    ] {
        // --keep: a topic made before the check would stay behind.
        let out = weir(
            dir.path(),
            &[
                "bench",
                kind,
                "--records",
                "10",
                "--keep",
                "--property",
                property,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{property}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{stderr}");
    }
    let out = weir(dir.path(), &["bench", "produce", "--property", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("novalue"));
    let out = weir(
        dir.path(),
        &["bench", "e2e", "--partitions", "2", "--consumers", "3"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--consumers"));
    assert_eq!(
        weir(dir.path(), &["bench", "produce", "--records", "0"])
            .status
            .code(),
        Some(2)
    );
    assert!(topics(dir.path()).is_empty());
}

/// Review 13: an interrupted bench left its topic (and its data) behind, and
/// a rerun with the same `--topic` failed. Now a signal stops the bench, its
/// topic is deleted, and it exits 130.
#[cfg(unix)]
#[test]
fn an_interrupted_bench_deletes_its_topic() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--data-dir")
        .arg(d)
        .args([
            "bench",
            "produce",
            "--records",
            "1000000000",
            "--topic",
            "bt",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once it is writing.
    let segment = d.join("bt-0/00000000000000000000.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&segment).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the bench never wrote");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("topic bt deleted"), "{stderr}");
    let listed = weir(d, &["topics", "list"]);
    assert!(listed.status.success());
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("bt"));
    assert!(!d.join("bt-0").exists());
}

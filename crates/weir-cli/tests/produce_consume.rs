//! `weir produce` and `weir consume` through Weir's producer and consumer:
//! their flags, `--property`, and their errors.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{json_lines, ok, weir};
use serde_json::{Value, json};

fn create(dir: &Path, topic: &str, partitions: &str) {
    ok(&weir(
        dir,
        &["topics", "create", topic, "--partitions", partitions],
        b"",
    ));
}

#[test]
fn producer_flags_and_properties_shape_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "t", "1");
    let lines: String = (0..20).map(|i| format!("line {i}\n")).collect();
    let out = weir(
        d,
        &[
            "produce",
            "t",
            "--acks",
            "1",
            "--compression",
            "zstd",
            "--linger-ms",
            "60000",
            "--batch-size",
            "1000000",
            "--property",
            "compression.zstd.level=5",
            "--format",
            "json",
        ],
        lines.as_bytes(),
    );
    let summary = &json_lines(&out)[0];
    assert_eq!(
        summary,
        &json!({"topic": "t", "records": 20, "failed": 0, "stopped_on_failure": false, "lines_read": 20,
                "transaction": null,
                "partitions": [{"partition": 0, "records": 20, "first_offset": 0, "last_offset": 19}]})
    );
    // Piped input that arrived at once is one batch, sent when stdin ran dry
    // (not after the 60 s linger), compressed as asked; acks=1 turned
    // idempotence off.
    let dump = ok(&weir(d, &["dump", d.join("t-0").to_str().unwrap()], b""));
    let batches: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batches.len(), 1, "{dump}");
    assert!(batches[0].contains("count: 20"), "{dump}");
    assert!(batches[0].contains("compresscodec: zstd"), "{dump}");
    assert!(batches[0].contains("producerId: -1"), "{dump}");

    // A tiny batch.size splits the input; the default acks=all is idempotent.
    let out = weir(d, &["produce", "t", "--batch-size", "1"], b"a\nb\nc\n");
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("produced 3 record(s) to t"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = ok(&weir(d, &["dump", d.join("t-0").to_str().unwrap()], b""));
    let batches: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batches.len(), 4, "{dump}");
    assert!(
        batches[1..].iter().all(|b| b.contains("count: 1")),
        "{dump}"
    );
    assert!(!batches[3].contains("producerId: -1"), "{dump}");
}

#[test]
fn keys_split_at_a_multibyte_separator_and_bytes_survive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "k", "3");
    let mut input = b"user-1::a::b\nuser-2::\xc3\x28\n".to_vec();
    input.extend_from_slice(b"user-1::second\r\n");
    ok(&weir(d, &["produce", "k", "--key-separator", "::"], &input));
    let mut records = json_lines(&weir(
        d,
        &[
            "consume",
            "k",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    ));
    records.sort_by_key(|r| (r["partition"].as_i64(), r["offset"].as_i64()));
    let got: Vec<(&Value, &Value)> = records.iter().map(|r| (&r["key"], &r["value"])).collect();
    let user1: Vec<&Value> = got
        .iter()
        .filter(|(k, _)| k["utf8"] == "user-1")
        .map(|(_, v)| *v)
        .collect();
    // Same key, same partition, in order; "\r\n" ends a line like "\n".
    assert_eq!(
        user1,
        [&json!({"utf8": "a::b"}), &json!({"utf8": "second"})]
    );
    assert!(
        got.contains(&(&json!({"utf8": "user-2"}), &json!({"base64": "wyg="}))),
        "{records:?}"
    );
    for r in &records {
        assert_eq!(r["topic"], "k");
        assert!(r["timestamp"].as_i64().unwrap() > 0);
        assert_eq!(r["headers"], json!([]));
    }
}

#[test]
fn consume_from_offsets_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "c", "1");
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        - 1000;
    ok(&weir(d, &["produce", "c"], b"v0\nv1\nv2\nv3\nv4\n"));
    let consume = |extra: &[&str]| {
        let mut args = vec!["consume", "c", "--exit-at-end"];
        args.extend_from_slice(extra);
        ok(&weir(d, &args, b""))
    };
    // As Kafka's console consumer: the end by default, the beginning with
    // --from-beginning or --from beginning.
    assert_eq!(consume(&[]), "");
    assert_eq!(consume(&["--from-beginning"]), "v0\nv1\nv2\nv3\nv4\n");
    assert_eq!(consume(&["--from", "beginning"]), "v0\nv1\nv2\nv3\nv4\n");
    assert_eq!(consume(&["--from", "3"]), "v3\nv4\n");
    // Offsets past the end are clamped to it; a negative one is refused, as
    // Kafka's console consumer refuses it.
    let negative = weir(d, &["consume", "c", "--exit-at-end", "--from", "-7"], b"");
    assert_eq!(negative.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&negative.stderr);
    assert!(
        stderr.contains("-7") && stderr.contains("negative"),
        "{stderr}"
    );
    assert_eq!(consume(&["--from", "99"]), "");
    assert_eq!(consume(&["--from", "end"]), "");
    assert_eq!(
        consume(&["--from", &format!("@{before}")]),
        "v0\nv1\nv2\nv3\nv4\n"
    );
    assert_eq!(
        consume(&["--from", &format!("@{}", before + 3_600_000)]),
        ""
    );
    // Consumer properties apply; --count stops across polls of one record.
    assert_eq!(
        consume(&[
            "--from-beginning",
            "--property",
            "max.poll.records=1",
            "--count",
            "3"
        ]),
        "v0\nv1\nv2\n"
    );
    assert_eq!(
        consume(&["--count", "2", "--key-separator", "=", "--from", "1"]),
        "null=v1\nnull=v2\n"
    );
    // An empty topic ends at once.
    create(d, "empty", "4");
    assert_eq!(
        ok(&weir(
            d,
            &["consume", "empty", "--from-beginning", "--exit-at-end"],
            b""
        )),
        ""
    );
}

#[test]
fn consume_shows_headers_in_the_dump_schema() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &[
            "bench",
            "e2e",
            "--records",
            "10",
            "--partitions",
            "1",
            "--topic",
            "stamped",
            "--keep",
            "--format",
            "json",
        ],
        b"",
    ));
    let records = json_lines(&weir(
        d,
        &[
            "consume",
            "stamped",
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    ));
    assert_eq!(records.len(), 10);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["offset"], i);
        assert_eq!(r["key"], json!({"utf8": format!("key-{i}")}));
        assert_eq!(r["value"]["utf8"].as_str().unwrap().len(), 170);
        let headers = r["headers"].as_array().unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0]["key"], "weir-bench-sent-ns");
        assert!(headers[0]["value"].is_object(), "{r}");
    }
}

#[test]
fn produce_and_consume_errors_name_what_was_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "e", "2");
    let fails = |args: &[&str], stdin: &[u8], code: i32, needle: &str| {
        let out = weir(d, args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        stderr
    };
    fails(
        &["produce", "e", "--property", "lingr.ms=5"],
        b"x\n",
        2,
        "lingr.ms",
    );
    fails(&["produce", "e", "--property", "acks=2"], b"x\n", 2, "acks");
    fails(
        &[
            "produce",
            "e",
            "--acks",
            "1",
            "--property",
            "enable.idempotence=true",
        ],
        b"x\n",
        2,
        "enable.idempotence",
    );
    fails(
        &["produce", "e", "--property", "acks"],
        b"x\n",
        2,
        "KEY=VALUE",
    );
    fails(
        &["produce", "e", "--partition", "2"],
        b"x\n",
        2,
        "no partition 2",
    );
    fails(&["produce", "missing"], b"x\n", 2, "unknown topic missing");
    fails(
        &["produce", "e", "--compression", "brotli"],
        b"x\n",
        2,
        "brotli",
    );
    fails(
        &[
            "consume",
            "e",
            "--from-beginning",
            "--property",
            "max.poll.records=0",
        ],
        b"",
        2,
        "max.poll.records",
    );
    fails(
        &[
            "consume",
            "e",
            "--from-beginning",
            "--partition",
            "-1",
            "--exit-at-end",
        ],
        b"",
        2,
        "partition -1",
    );
    // A line without the separator stops the input; what came before it is
    // delivered and counted.
    let stderr = fails(
        &["produce", "e", "--key-separator", "\t", "--partition", "1"],
        b"k\tv\nno separator here\nk\tlater\n",
        2,
        "no separator here",
    );
    assert!(stderr.contains("produced 1 record(s)"), "{stderr}");
    assert_eq!(
        ok(&weir(
            d,
            &[
                "consume",
                "e",
                "--from-beginning",
                "--partition",
                "1",
                "--exit-at-end"
            ],
            b""
        )),
        "v\n"
    );
    // A batch the log refuses fails its records' deliveries: the summary
    // counts them and the first error is reported.
    ok(&weir(
        d,
        &[
            "topics",
            "create",
            "small",
            "--config",
            "max.message.bytes=200",
        ],
        b"",
    ));
    let mut input = vec![b'x'; 300];
    input.extend_from_slice(b"\nshort\n");
    let stderr = fails(
        &["produce", "small", "--batch-size", "1"],
        &input,
        2,
        "max.message.bytes",
    );
    assert!(
        stderr.contains("produced 1 record(s) to small, 1 failed"),
        "{stderr}"
    );
    assert!(stderr.contains("1 record(s) failed"), "{stderr}");
    // A record larger than max.request.size is refused with its size.
    fails(
        &["produce", "e", "--property", "max.request.size=100"],
        &[b'x'; 200],
        2,
        "max.request.size",
    );
}

#[test]
fn null_markers_make_tombstones_and_an_oversized_line_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "t", "1");
    let big = "x".repeat(500);
    let input = format!("k1:v1\nk2:NULL\nk3:{big}\nNULL:v4\n");
    let out = weir(
        d,
        &[
            "produce",
            "t",
            "--key-separator",
            ":",
            "--null-marker",
            "NULL",
            "--property",
            "max.request.size=300",
        ],
        input.as_bytes(),
    );
    // The oversized record fails on its own: the lines after it are sent.
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 record(s) failed"), "{stderr}");
    let records = json_lines(&weir(
        d,
        &[
            "consume",
            "t",
            "--from",
            "beginning",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    ));
    let kv: Vec<(Value, Value)> = records
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(
        kv,
        [
            (json!({"utf8": "k1"}), json!({"utf8": "v1"})),
            (json!({"utf8": "k2"}), Value::Null),
            (Value::Null, json!({"utf8": "v4"})),
        ]
    );
    let out = weir(d, &["produce", "t", "--key-separator", ""], b"a\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key-separator"));
}

/// A partition whose segment file cannot take a byte (`/dev/full`: every
/// write fails with ENOSPC, as on a full disk): every delivery fails, the
/// command stops reading its input at the first failure it sees (more input
/// than the reader's 1 MiB buffer, so some is left unread), says so, and
/// exits 2.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_the_deliveries_and_stops_reading_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "t", "1");
    let segment = d.join("t-0/00000000000000000000.log");
    std::fs::remove_file(&segment).unwrap();
    std::os::unix::fs::symlink("/dev/full", &segment).unwrap();
    let lines = 300_000u64;
    let input: String = (0..lines).map(|i| format!("line {i:06}\n")).collect();
    let out = common::weir(d, &["produce", "t", "--format", "json"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["records"], 0);
    assert!(summary["failed"].as_u64().unwrap() > 0);
    assert_eq!(summary["stopped_on_failure"], true);
    let read = summary["lines_read"].as_u64().unwrap();
    assert!(read > 0 && read < lines, "{summary}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device"), "{err}");

    let out = common::weir(d, &["produce", "t"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stopped on the failure: input after line"),
        "{err}"
    );
}

/// Review 13: a line over the topic's `max.message.bytes` stopped the input
/// (the rest of stdin was dropped), though only that record failed: the
/// producer sends its neighbours in other batches. As Kafka's console
/// producer, the failure is reported and the input goes on.
#[test]
fn a_line_over_max_message_bytes_fails_alone_and_the_input_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &[
            "topics",
            "create",
            "mm",
            "--config",
            "max.message.bytes=1000",
        ],
        b"",
    ));
    let mut input: String = (0..10).map(|i| format!("a{i}\n")).collect();
    input.push_str(&"y".repeat(2000));
    input.push('\n');
    // More than the reader's 1 MiB buffer: a stop would leave some unread.
    input.extend((0..300_000).map(|i| format!("b{i:06}\n")));
    let out = common::weir(d, &["produce", "mm", "--format", "json"], input.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["records"], 300_010, "{summary}");
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["stopped_on_failure"], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("max.message.bytes"));
}

/// A data directory another process has open is refused by every command
/// that opens it, naming the holder, and the message says what works
/// meanwhile: `weir dump` of a partition directory, which reads its files
/// without the lock.
#[test]
fn a_directory_in_use_is_refused_with_what_reads_it_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &["topics", "create", "t", "--partitions", "1"],
        b"",
    ));
    ok(&weir(d, &["produce", "t"], b"v0\nv1\n"));
    let held = weir_log::LogDir::open(d).unwrap();
    for args in [
        &["topics", "list"][..],
        &["consume", "t", "--from-beginning", "--exit-at-end"],
    ] {
        let out = weir(d, args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("in use by another process"), "{stderr}");
        assert!(
            stderr.contains(&format!("weir dump {}/TOPIC-0", d.display())),
            "{stderr}"
        );
    }
    let partition = d.join("t-0");
    let dumped = ok(&weir(
        d,
        &["dump", partition.to_str().unwrap(), "--format", "json"],
        b"",
    ));
    assert_eq!(dumped.lines().count(), 2);
    drop(held);
}

/// Kafka users' spellings: `--acks -1` is `all`; a negative number is a bad
/// value of its option, not an unknown argument; the console tools' reader
/// and formatter properties are refused naming the flag that does their job;
/// an empty group id names the flag.
#[test]
fn kafka_spellings_and_bad_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "k", "1");
    ok(&weir(d, &["produce", "k", "--acks", "-1"], b"a\n"));
    let err = |args: &[&str]| {
        let out = weir(d, args, b"x\n");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (args, named) in [
        (&["produce", "k", "--linger-ms", "-1"][..], "--linger-ms"),
        (&["produce", "k", "--batch-size", "-1"], "--batch-size"),
        (&["consume", "k", "--count", "-1"], "--count"),
        (
            &["topics", "create", "n", "--partitions", "-1"],
            "--partitions",
        ),
    ] {
        let e = err(args);
        assert!(
            e.contains("invalid value '-1'") && e.contains(named),
            "{args:?}: {e}"
        );
    }
    for (args, flag) in [
        (
            &["produce", "k", "--property", "parse.key=true"][..],
            "--key-separator",
        ),
        (
            &["consume", "k", "--property", "print.key=true"],
            "--key-separator",
        ),
        (
            &["produce", "k", "--property", "null.marker=NULL"],
            "--null-marker",
        ),
        (
            &["consume", "k", "--property", "print.timestamp=true"],
            "--format json",
        ),
    ] {
        let e = err(args);
        assert!(e.contains(flag) && e.contains("console"), "{args:?}: {e}");
    }
    let e = err(&["consume", "k", "--group", "", "--exit-at-end"]);
    assert!(e.contains("--group") && e.contains("empty"), "{e}");
}

/// `topics delete-records --format json` lists every partition asked about:
/// those whose records were deleted with their low watermark, the others
/// with their error (as kafka-delete-records lists both), and exits 2.
#[test]
fn delete_records_json_lists_the_partitions_that_failed_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    create(d, "dr", "2");
    let lines: String = (0..12).map(|i| format!("v{i}\n")).collect();
    let produced: serde_json::Value = serde_json::from_str(&ok(&weir(
        d,
        &[
            "produce",
            "dr",
            "--format",
            "json",
            "--property",
            "partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner",
        ],
        lines.as_bytes(),
    )))
    .unwrap();
    // Per partition, as an array of objects naming their partition (as
    // topics describe, groups describe and verify list them).
    let per = produced["partitions"].as_array().unwrap();
    assert_eq!(per.len(), 2, "{produced}");
    assert_eq!(
        (per[0]["partition"].clone(), per[0]["records"].clone()),
        (0.into(), 6.into())
    );
    assert_eq!(per[1]["last_offset"], 5);
    // Partition 0 holds 6 records: deleting before 8 is past its end.
    let out = weir(
        d,
        &[
            "topics",
            "delete-records",
            "dr",
            "--before",
            "8",
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert!(
            row["error"].as_str().is_some_and(|e| e.contains('8')),
            "{row}"
        );
        assert!(row.get("low_watermark").is_none(), "{row}");
    }
}

/// With `transactional.id` the whole input is one transaction: committed at
/// its end, or aborted when a line fails, so that `read_committed` readers
/// get all of it or none.
#[test]
fn a_transactional_produce_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &[
            "topics",
            "create",
            "tx",
            "--partitions",
            "2",
            "--config",
            "max.message.bytes=1000",
        ],
        b"",
    ));
    let committed_values = |d: &Path| -> Vec<String> {
        let out = weir(
            d,
            &[
                "consume",
                "tx",
                "--from",
                "beginning",
                "--exit-at-end",
                "--property",
                "isolation.level=read_committed",
                "--format",
                "json",
            ],
            b"",
        );
        let mut v: Vec<String> = json_lines(&out)
            .iter()
            .map(|r| r["value"]["utf8"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let input: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
    let out = weir(
        d,
        &[
            "produce",
            "tx",
            "--key-separator",
            ":",
            "--property",
            "transactional.id=loader",
            "--format",
            "json",
        ],
        input.as_bytes(),
    );
    let summary = &json_lines(&out)[0];
    assert_eq!(summary["transaction"], "committed", "{summary}");
    assert_eq!(summary["records"], 10);
    assert_eq!(committed_values(d).len(), 10);

    // A line over max.message.bytes: the whole run aborts, exit 2.
    let mut input: String = (0..5).map(|i| format!("k{i}:w{i}\n")).collect();
    input.push_str(&format!("k:{}\n", "y".repeat(2000)));
    input.push_str("k9:w9\n");
    let out = weir(
        d,
        &[
            "produce",
            "tx",
            "--key-separator",
            ":",
            "--property",
            "transactional.id=loader",
        ],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the transaction is aborted"), "{stderr}");
    let values = committed_values(d);
    assert_eq!(values.len(), 10, "{values:?}");
    assert!(values.iter().all(|v| v.starts_with('v')), "{values:?}");
}

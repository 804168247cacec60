//! `weir consume --group` and `weir groups list|describe|reset-offsets|delete-offsets|delete`.

mod common;

use std::path::Path;

use common::{json_lines, ok, weir};

fn consume_group(dir: &Path) -> Vec<String> {
    let out = weir(
        dir,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--group",
            "g",
            "--exit-at-end",
        ],
        b"",
    );
    let mut lines: Vec<String> = ok(&out).lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// Topic `t` of 2 partitions holding 10 keyed records.
fn topic_of_ten(d: &Path) {
    ok(&weir(
        d,
        &["topics", "create", "t", "--partitions", "2"],
        b"",
    ));
    let input: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
    ok(&weir(
        d,
        &["produce", "t", "--key-separator", ":"],
        input.as_bytes(),
    ));
}

#[test]
fn a_group_resumes_where_it_committed_and_its_offsets_can_be_reset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    topic_of_ten(d);

    assert_eq!(consume_group(d).len(), 10);
    assert!(
        consume_group(d).is_empty(),
        "the group resumes after its commits"
    );

    let groups = json_lines(&weir(d, &["groups", "list", "--format", "json"], b""));
    assert_eq!(groups[0]["group"], "g");
    assert_eq!(groups[0]["state"], "Empty");

    ok(&weir(
        d,
        &["produce", "t", "--key-separator", ":"],
        b"a:x\nb:y\nc:z\nd:w\ne:q\n",
    ));
    let described = &json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ))[0];
    let lag: i64 = described["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lag"].as_i64().unwrap())
        .sum();
    assert_eq!(lag, 5);
    let text = ok(&weir(d, &["groups", "describe", "g"], b""));
    assert!(
        text.contains("CURRENT-OFFSET") && text.contains("LAG"),
        "{text}"
    );

    // A dry run changes nothing; --execute does.
    let plan = json_lines(&weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--format",
            "json",
        ],
        b"",
    ));
    assert!(
        plan.iter()
            .all(|p| p["new_offset"] == 0 && p["executed"] == false)
    );
    assert_eq!(consume_group(d).len(), 5);
    ok(&weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-earliest",
            "--execute",
        ],
        b"",
    ));
    assert_eq!(consume_group(d).len(), 15);
    ok(&weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--shift-by",
            "-2",
            "--execute",
        ],
        b"",
    ));
    assert_eq!(consume_group(d).len(), 4);
    ok(&weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-datetime",
            "2000-01-01T00:00:00Z",
            "--execute",
        ],
        b"",
    ));
    assert_eq!(consume_group(d).len(), 15);

    let out = weir(d, &["groups", "reset-offsets", "g", "--topic", "t"], b"");
    assert_eq!(out.status.code(), Some(2), "a reset needs a target");
    let out = weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "g",
            "--topic",
            "t",
            "--to-datetime",
            "soon",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
    // As kafka-consumer-groups: a shift needs a committed offset to shift.
    let out = weir(
        d,
        &[
            "groups",
            "reset-offsets",
            "fresh",
            "--topic",
            "t",
            "--shift-by",
            "1",
        ],
        b"",
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no committed offset"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = weir(d, &["groups", "describe", "nobody"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));

    ok(&weir(d, &["groups", "delete", "g"], b""));
    assert!(json_lines(&weir(d, &["groups", "list", "--format", "json"], b"")).is_empty());
    for args in [
        &["groups", "--help"][..],
        &["groups", "list", "--help"],
        &["groups", "describe", "--help"],
        &["groups", "reset-offsets", "--help"],
        &["groups", "delete", "--help"],
    ] {
        assert!(ok(&weir(d, args, b"")).contains("Usage:"), "{args:?}");
    }
}

/// A data directory with topic `t` (one partition) holding `v0`..`v{n-1}`.
fn topic_of_lines(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(d, &["topics", "create", "t"], b""));
    let input: String = (0..n).map(|i| format!("v{i}\n")).collect();
    ok(&weir(d, &["produce", "t"], input.as_bytes()));
    dir
}

/// `weir --data-dir DIR args...` started in the background, its stdout and
/// stderr piped.
fn spawn_weir(dir: &Path, args: &[&str]) -> std::process::Child {
    use std::process::{Command, Stdio};
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The records `weir consume t --group g --count N --exit-at-end` prints.
fn consume_count(dir: &Path, n: &str) -> Vec<String> {
    let out = weir(
        dir,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--group",
            "g",
            "--count",
            n,
            "--exit-at-end",
        ],
        b"",
    );
    ok(&out).lines().map(str::to_string).collect()
}

#[test]
fn a_group_commits_only_the_records_count_printed() {
    let dir = topic_of_lines(10);
    let d = dir.path();
    // One poll returns all ten; the records past --count are read again by
    // the next run instead of being committed unseen.
    assert_eq!(consume_count(d, "3"), ["v0", "v1", "v2"]);
    assert_eq!(consume_count(d, "4"), ["v3", "v4", "v5", "v6"]);
    assert_eq!(consume_count(d, "3"), ["v7", "v8", "v9"]);
}

/// Ctrl-C stops a following `weir consume --group` cleanly: the group's
/// offsets cover what it printed, as Kafka's console consumer commits from
/// its shutdown hook, and it exits 130 (as Kafka's does) naming the count.
#[cfg(unix)]
#[test]
fn sigint_stops_a_group_consumer_cleanly_and_commits_what_it_printed() {
    use std::io::{BufRead, BufReader};
    use std::process::Command;

    let dir = topic_of_lines(5);
    let d = dir.path();

    let mut child = spawn_weir(
        d,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--group",
            "g",
            // Only the commit at the stop counts.
            "--property",
            "auto.commit.interval.ms=3600000",
        ],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let printed: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(printed, ["v0", "v1", "v2", "v3", "v4"]);
    // It now waits for more records; interrupt it as a terminal would.
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted after 5 record(s)"), "{stderr}");

    let described = &json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ))[0];
    assert_eq!(described["partitions"][0]["current_offset"], 5);
    assert_eq!(described["partitions"][0]["lag"], 0);
}

/// A reader that goes away (`weir consume ... | head` after head exits)
/// leaves the records the group did not print uncommitted: the next run
/// reads them.
#[cfg(unix)]
#[test]
fn a_closed_output_commits_nothing_it_could_not_print() {
    let dir = topic_of_lines(10);
    let d = dir.path();

    let mut child = spawn_weir(
        d,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--group",
            "g",
            "--exit-at-end",
        ],
    );
    // The reader is gone before anything is written.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let described = &json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ))[0];
    assert_eq!(described["partitions"][0]["lag"], 10, "{described}");
    let again = consume_group(d);
    assert_eq!(again.len(), 10);
}

/// The reader goes away while a poll of several partitions is printed (the
/// write fails in the middle of the poll, not at its final flush): no
/// partition of that poll is committed past what was printed.
#[cfg(unix)]
#[test]
fn a_closed_output_mid_poll_commits_no_partition_it_did_not_print() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &["topics", "create", "t", "--partitions", "3"],
        b"",
    ));
    let line = format!("{}\n", "x".repeat(1000));
    for p in ["0", "1", "2"] {
        ok(&weir(
            d,
            &["produce", "t", "--partition", p],
            line.repeat(100).as_bytes(),
        ));
    }
    let mut child = spawn_weir(
        d,
        &[
            "consume",
            "t",
            "--from-beginning",
            "--group",
            "g",
            "--exit-at-end",
            "--format",
            "json",
        ],
    );
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let described = &json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ))[0];
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3, "{described}");
    for p in partitions {
        assert_eq!(p["lag"], 100, "{described}");
    }
}

/// Review 13: a client write to `__consumer_offsets` was accepted (one line
/// made every group command fail until the whole topic was deleted), and so
/// was a new partition count for it (groups then read an older commit from
/// their old partition at every open). Kafka refuses both.
#[test]
fn the_offsets_topic_takes_no_client_records_and_keeps_its_partition_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(d, &["topics", "create", "t"], b""));
    ok(&weir(d, &["produce", "t"], b"a\n"));
    assert_eq!(consume_group(d), ["a"]);

    let out = weir(
        d,
        &[
            "produce",
            "__consumer_offsets",
            "--partition",
            "0",
            "--key-separator",
            ":",
        ],
        b"k:v\n",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("internal topic __consumer_offsets"),
        "{stderr}"
    );

    let out = weir(
        d,
        &[
            "topics",
            "alter",
            "__consumer_offsets",
            "--partitions",
            "60",
        ],
        b"",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("internal topic"), "{stderr}");

    let described = json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ));
    assert_eq!(
        described[0]["partitions"][0]["current_offset"], 1,
        "{described:?}"
    );
}

/// Review 14, findings 5 and 1: `topics alter __consumer_offsets
/// --partitions N --add-config ...` changed the configs before the count was
/// refused, and `topics delete __consumer_offsets` deleted it under the
/// group coordinator. Both are refused before anything changes.
#[test]
fn the_offsets_topic_is_neither_altered_half_way_nor_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(d, &["topics", "create", "t"], b""));
    ok(&weir(d, &["produce", "t"], b"a\n"));
    assert_eq!(consume_group(d), ["a"]);

    let out = weir(
        d,
        &[
            "topics",
            "alter",
            "__consumer_offsets",
            "--partitions",
            "60",
            "--add-config",
            "segment.ms=1000",
        ],
        b"",
    );
    assert!(!out.status.success());
    // The configs were left alone.
    let described = json_lines(&weir(
        d,
        &[
            "topics",
            "describe",
            "__consumer_offsets",
            "--format",
            "json",
        ],
        b"",
    ));
    let segment_ms = &described[0]["configs"]["segment.ms"];
    assert_eq!(segment_ms["source"], "default", "{segment_ms}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("internal topic __consumer_offsets"),
        "{stderr}"
    );

    let out = weir(d, &["topics", "delete", "__consumer_offsets"], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot delete internal topic __consumer_offsets")
            && stderr.contains("weir groups delete"),
        "{stderr}"
    );
    let described = json_lines(&weir(
        d,
        &["groups", "describe", "g", "--format", "json"],
        b"",
    ));
    assert_eq!(
        described[0]["partitions"][0]["current_offset"], 1,
        "{described:?}"
    );
    ok(&weir(d, &["groups", "delete", "g"], b""));
    assert_eq!(ok(&weir(d, &["groups", "list"], b"")), "");
}

#[test]
fn delete_offsets_deletes_the_named_partitions_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    topic_of_ten(d);
    assert_eq!(consume_group(d).len(), 10);

    // One partition: only its records are read again.
    let deleted = json_lines(&weir(
        d,
        &[
            "groups",
            "delete-offsets",
            "g",
            "--topic",
            "t:1",
            "--format",
            "json",
        ],
        b"",
    ));
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["partition"], 1);
    assert_eq!(deleted[0]["deleted"], true);
    let again = consume_group(d).len();
    assert!(again > 0 && again < 10, "{again} records of partition 1");

    // A whole topic, and a partition the topic does not have: the others are
    // deleted, the command says which failed and exits 2.
    let out = weir(
        d,
        &[
            "groups",
            "delete-offsets",
            "g",
            "--topic",
            "t",
            "--topic",
            "t:7",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Successful") && text.contains("Error"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 3 rows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(consume_group(d).len(), 10, "both partitions from the start");

    // Bad input is named.
    let out = weir(d, &["groups", "delete-offsets", "g", "--topic", "t:x"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("t:x"));
    let out = weir(
        d,
        &["groups", "delete-offsets", "nope", "--topic", "t"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// A bare `--topic` naming a topic the directory does not have is reported
/// as that topic's error; the other partitions are still deleted (as Kafka's
/// tool does).
#[test]
fn an_unknown_bare_topic_does_not_keep_the_others_from_being_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    topic_of_ten(d);
    assert_eq!(consume_group(d).len(), 10);
    let out = weir(
        d,
        &[
            "groups",
            "delete-offsets",
            "g",
            "--topic",
            "t:0",
            "--topic",
            "gone",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("gone"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !consume_group(d).is_empty(),
        "t-0 kept its offset; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

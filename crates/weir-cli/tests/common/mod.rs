//! Running the `weir` binary in the CLI tests.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs `weir --data-dir DIR args...` with `stdin` as input.
pub fn weir(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may exit (on a usage error) before reading its input.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Its stdout, after asserting it succeeded (stderr in the message).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Its stdout as JSON lines, after asserting it succeeded.
pub fn json_lines(out: &Output) -> Vec<Value> {
    ok(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A data directory with `topic` (segment.bytes=300) holding 40 records in
/// 40 batches over several segments; returns the partition directory.
pub fn produced(d: &Path, topic: &str, partitions: &str) -> PathBuf {
    let out = weir(
        d,
        &[
            "topics",
            "create",
            topic,
            "--partitions",
            partitions,
            "--config",
            "segment.bytes=300",
        ],
        b"",
    );
    ok(&out);
    let lines: String = (1..=40).map(|i| format!("{i}\n")).collect();
    let out = weir(
        d,
        &[
            "produce",
            topic,
            "--acks",
            "all",
            "--linger-ms",
            "0",
            "--batch-size",
            "100",
        ],
        lines.as_bytes(),
    );
    ok(&out);
    d.join(format!("{topic}-0"))
}

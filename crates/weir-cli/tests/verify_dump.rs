//! `weir verify` and `weir dump` on damaged and incomplete data directories:
//! every partition is checked, every problem named, one JSON schema.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;

use common::produced;

fn logs(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

fn verify_json(d: &Path) -> (Option<i32>, Value) {
    let out = common::weir(d, &["verify", "--format", "json"], b"");
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

fn errors(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}: {}",
                p["file"].as_str().unwrap(),
                p["error"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn verify_finds_a_lost_middle_segment_and_a_partition_with_every_log_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let dir = produced(d, "seg", "1");
    let (code, v) = verify_json(d);
    assert_eq!((code, &v["ok"]), (Some(0), &Value::Bool(true)), "{v}");
    assert_eq!(v["problems"], Value::Array(vec![]));
    assert_eq!(v["partitions"][0]["cleanup_policy"], "delete");

    let all = logs(&dir);
    assert!(all.len() >= 4);
    fs::remove_file(&all[2]).unwrap();
    let (code, v) = verify_json(d);
    assert_eq!(code, Some(1));
    assert_eq!(v["ok"], false);
    let got = errors(&v);
    assert!(
        got.iter().any(|e| e.contains("orphaned index file")),
        "{got:?}"
    );
    assert!(got.iter().any(|e| e.contains("are missing")), "{got:?}");

    for log in &all {
        let _ = fs::remove_file(log);
    }
    let (code, v) = verify_json(d);
    assert_eq!(code, Some(1));
    let got = errors(&v);
    assert!(
        got.iter()
            .any(|e| e.contains("recovery-point-offset-checkpoint: seg-0:")
                && e.contains("holds no segment")),
        "{got:?}"
    );
}

#[test]
fn damage_in_one_partition_does_not_hide_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Two partition directories, each of its own topic: a-0 damaged, b-0 sound.
    let dir = produced(d, "a", "1");
    produced(d, "b", "1");
    let first = logs(&dir)[0].clone();
    // How the producer batched the records (it may put two in a batch).
    let before = String::from_utf8(common::weir(d, &["dump"], b"").stdout).unwrap();
    let batch_count = before
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .count();
    let in_first_batch = before
        .lines()
        .skip_while(|l| !l.starts_with("baseOffset:"))
        .skip(1)
        .take_while(|l| l.starts_with("| "))
        .count();
    let mut bytes = fs::read(&first).unwrap();
    // Inside the first batch's records: its CRC fails, its framing holds.
    bytes[65] ^= 0x55;
    fs::write(&first, &bytes).unwrap();

    let (code, v) = verify_json(d);
    assert_eq!(code, Some(1));
    assert_eq!(v["ok"], false);
    let partitions = v["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2, "{v}");
    // Every segment of both partitions is in the report, with its counts.
    let segments: usize = partitions
        .iter()
        .map(|p| p["segments"].as_array().unwrap().len())
        .sum();
    assert!(segments > 2, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert_eq!(problems[0]["file"], first.display().to_string());
    assert_eq!(problems[0]["position"], 0);
    assert!(
        partitions[1]["segments"][0]["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // dump json: the sound batches of every segment and partition, exit 1.
    let sound = common::weir(d, &["dump", "--format", "json"], b"");
    assert_eq!(sound.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&sound.stderr);
    assert!(
        stderr.contains(&format!("{}: byte 0:", first.display())),
        "{stderr}"
    );
    let records: Vec<Value> = String::from_utf8(sound.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 80 - in_first_batch);
    assert!(records.iter().any(|r| r["topic"] == "b"));

    // dump text: the damaged batch shown invalid, then the rest.
    let text = common::weir(d, &["dump"], b"");
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8(text.stdout).unwrap();
    let batches: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    assert_eq!(batches.len(), batch_count);
    assert_eq!(
        batches
            .iter()
            .filter(|l| l.ends_with("isvalid: false"))
            .count(),
        1
    );
    assert!(batches[0].ends_with("isvalid: false"), "{}", batches[0]);
}

#[test]
fn dump_text_reports_the_bytes_left_at_a_torn_batch_and_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let dir = produced(d, "torn", "1");
    let all = logs(&dir);
    let first = &all[0];
    let len = fs::metadata(first).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(first).unwrap();
    f.set_len(len - 10).unwrap();
    drop(f);
    let out = common::weir(d, &["dump"], b"");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let name = first.file_name().unwrap().to_str().unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Found "))
        .unwrap_or_else(|| panic!("{stdout}"));
    // The last batch of the segment lost 10 bytes: the rest of it is unread.
    let n: u64 = line
        .strip_prefix("Found ")
        .and_then(|l| l.strip_suffix(&format!(" invalid bytes at the end of {name}")))
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 0 && n < len - 10, "{line}");
    // The next segments are still dumped.
    let second = all[1].display().to_string();
    assert!(stdout.contains(&format!("Dumping {second}")), "{stdout}");
}

//! A child process appends with acks=1 (written to the OS, no fsync) and
//! reports each acknowledged offset; the parent SIGKILLs it at a random point
//! and checks that reopening the data directory keeps every acknowledged
//! record, intact and in order.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{NOW, batch, values};
use weir_log::{LogDir, LogDirOptions};

const DIR_VAR: &str = "WEIR_SIGKILL_CHILD_DIR";

/// Not a test on its own: the body of the child process that
/// `sigkill_at_random_points_loses_no_acknowledged_record` starts (it returns
/// at once when run by the test harness directly).
#[test]
fn sigkill_child_process() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let logs = LogDir::open_with(
        &dir,
        LogDirOptions {
            default_config: common::small_config(16 * 1024),
            ..LogDirOptions::default()
        },
    )
    .unwrap();
    if logs.topic("events").is_err() {
        logs.create_topic("events", 1, &[]).unwrap();
    }
    let log = logs.partition("events", 0).unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = log.log_end_offset() as u64 / 3;
    loop {
        let info = log
            .append(batch(i, 3, 40 + (i as usize % 90), NOW))
            .unwrap();
        writeln!(out, "acked {}", info.last_offset).unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_record() {
    let seed = std::env::var("WEIR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (rerun with WEIR_TEST_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked_max = -1i64;
    for round in 0..4 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "sigkill_child_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = rng.usize(20..400);
        let mut acks = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(offset) = line.strip_prefix("acked ") {
                acked_max = acked_max.max(offset.parse().unwrap());
                acks += 1;
                if acks == kill_after {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        child.wait().unwrap();
        assert!(
            acks > 0,
            "round {round}: the child acknowledged nothing (seed {seed})"
        );

        let logs = LogDir::open(dir.path()).unwrap();
        let log = logs.partition("events", 0).unwrap();
        assert!(
            log.log_end_offset() > acked_max,
            "round {round}: offset {acked_max} was acknowledged but the log ends at {} (seed {seed})",
            log.log_end_offset()
        );
        let batches = common::read_all(&log);
        for (k, b) in batches.iter().enumerate() {
            assert_eq!(b.base_offset(), 3 * k as i64, "seed {seed}");
            let v = values(std::slice::from_ref(b));
            assert!(
                v[0].starts_with(&format!("{k}-0-")),
                "batch {k}: {:?} (seed {seed})",
                v[0]
            );
        }
        logs.close().unwrap();
    }
}

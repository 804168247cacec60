//! Compaction throughput, next to a ceiling measured in the same run: the
//! same segment bytes read sequentially and written to a new file (buffered,
//! then fsynced), which is the least a rewrite of them costs. Two key
//! cardinalities: 1k keys (almost everything is dropped) and 1M keys (half
//! is kept). Also the peak memory the clean added (the process's high-water
//! RSS, reset before the clean) and the offset map's own size.
//!
//! `cargo bench -p weir-benches --bench compaction`
//! (`WEIR_BENCH_RECORDS` sets the records per run, 2,000,000 by default;
//! `WEIR_BENCH_DIR` where the data goes.)

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use weir_compact::{Cleaner, CleanerConfig};
use weir_log::LogDir;
use weir_record::{BatchBuilder, BatchOptions};

const VALUE: usize = 100;
const PER_BATCH: usize = 100;

fn dir() -> tempfile::TempDir {
    match std::env::var_os("WEIR_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// `(key, value)` of /proc/self/status in kB.
fn status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the high-water RSS mark (Linux `clear_refs` 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Run {
    input_bytes: u64,
    ceiling_s: f64,
    clean_s: f64,
    kept: u64,
    read: u64,
    map_bytes: usize,
    peak_added_kb: Option<u64>,
}

fn run(records: usize, keys: usize) -> Run {
    let dir = dir();
    let logs = Arc::new(LogDir::open(dir.path()).unwrap());
    logs.create_topic(
        "t",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "134217728"),
        ],
    )
    .unwrap();
    let log = logs.partition("t", 0).unwrap();
    let value = vec![b'v'; VALUE];
    let now = log.clock().now_ms();
    let mut i = 0usize;
    while i < records {
        let mut b = BatchBuilder::with_capacity(BatchOptions::default(), PER_BATCH * (VALUE + 32));
        for _ in 0..PER_BATCH {
            let key = format!("key-{:08}", i % keys);
            b.append_parts(now, Some(key.as_bytes()), Some(&value), &[])
                .unwrap();
            i += 1;
        }
        log.append(b.build().unwrap()).unwrap();
    }
    log.roll().unwrap();
    log.flush_until(log.log_end_offset()).unwrap();
    let segments: Vec<_> = log
        .segments()
        .into_iter()
        .filter(|s| !s.is_active)
        .collect();
    let input_bytes: u64 = segments.iter().map(|s| s.size_bytes).sum();

    // Ceiling: read every closed segment and write the bytes to a new file.
    let start = Instant::now();
    let out_path = dir.path().join("ceiling.out");
    {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&out_path).unwrap());
        let mut buf = vec![0u8; 1 << 20];
        for s in &segments {
            let mut f = File::open(&s.log_path).unwrap();
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).unwrap();
            }
        }
        out.into_inner().unwrap().sync_all().unwrap();
    }
    let ceiling_s = start.elapsed().as_secs_f64();
    std::fs::remove_file(&out_path).unwrap();

    let cleaner = Cleaner::new(Arc::clone(&logs), CleanerConfig::default()).unwrap();
    let rss_before = status_kb("VmRSS:");
    reset_peak();
    let start = Instant::now();
    let stats = cleaner.clean_partition("t", 0).unwrap().unwrap();
    let clean_s = start.elapsed().as_secs_f64();
    let peak = status_kb("VmHWM:");
    assert_eq!(stats.records_read as usize, records);
    Run {
        input_bytes,
        ceiling_s,
        clean_s,
        kept: stats.records_kept,
        read: stats.records_read,
        map_bytes: stats.map_bytes,
        peak_added_kb: peak.zip(rss_before).map(|(p, b)| p.saturating_sub(b)),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let records: usize = std::env::var("WEIR_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    println!(
        "| {records} records of {VALUE} B, {PER_BATCH} per batch | input MB | ceiling: read + rewrite (MB/s) | weir clean (MB/s) | ratio | kept | offset map | peak RSS added |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for keys in [1_000, 1_000_000] {
        let r = run(records, keys);
        let mb = r.input_bytes as f64 / 1e6;
        println!(
            "| {keys} keys | {mb:.0} | {:.0} | {:.0} | {:.2}x | {} of {} | {:.1} MiB | {} |",
            mb / r.ceiling_s,
            mb / r.clean_s,
            r.ceiling_s / r.clean_s,
            r.kept,
            r.read,
            r.map_bytes as f64 / (1 << 20) as f64,
            r.peak_added_kb.map_or_else(
                || "n/a".to_string(),
                |k| format!("{:.1} MiB", k as f64 / 1024.0)
            ),
        );
    }
}

//! The partition log against its ceilings, in the same run:
//!
//! - append of 1000-record batches (~180 KB), as any caller's bytes (every
//!   record walked, as Kafka's broker does) and as the producer's
//!   `BuiltBatch`es, vs a plain buffered file write of the same bytes;
//! - sequential fetch of a whole log vs plain sequential 1 MiB file reads;
//! - acks=all with 1, 4 and 16 concurrent appenders (group commit) vs a
//!   single-threaded write + fdatasync loop; prints fsyncs per batch.
//!
//! Files go to `WEIR_BENCH_DIR` (default: the system temp dir).
//!
//! `cargo bench -p weir-benches --bench log`

mod common;

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_log::{LogConfig, OpenOptions as LogOpenOptions, PartitionLog};
use weir_record::CompressionConfig;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WEIR_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(PathBuf::from(d)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn config() -> LogConfig {
    LogConfig::from_props([
        // Timestamps of the bench data are fixed in the past.
        ("message.timestamp.after.max.ms", "9223372036854775807"),
    ])
    .unwrap()
}

fn open(dir: &std::path::Path) -> PartitionLog {
    PartitionLog::open(dir, "bench", 0, config(), LogOpenOptions::default())
        .unwrap()
        .0
}

/// Appends in chunks of this many batches; each chunk gets fresh, uniquely
/// owned copies (made outside the timing) as a producer hands over its batches.
const CHUNK: u64 = 32;

/// Times `iters` appends to a fresh log of batches `make` builds (uniquely
/// owned, made outside the timing, `CHUNK` at a time).
fn time_appends<T>(
    iters: u64,
    make: impl Fn() -> T,
    append: impl Fn(&PartitionLog, T) -> weir_log::AppendInfo,
) -> Duration {
    let dir = bench_dir();
    let log = open(dir.path());
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let copies: Vec<T> = (0..n).map(|_| make()).collect();
        let start = Instant::now();
        for copy in copies {
            append(&log, copy);
        }
        total += start.elapsed();
        done += n;
    }
    total
}

fn append(c: &mut Criterion) {
    let batch = common::batch(&common::orders(common::RECORDS), CompressionConfig::NONE);
    let mut g = c.benchmark_group("log_append_1000x170B");
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("weir_partition_log_append", |b| {
        b.iter_custom(|iters| {
            time_appends(
                iters,
                || Bytes::from(batch.to_vec()),
                |log, copy| black_box(log.append(copy).unwrap()),
            )
        })
    });
    // The producer's path: a batch this process's BatchBuilder encoded, whose
    // records the log does not walk again.
    let orders = common::orders(common::RECORDS);
    g.bench_function("weir_partition_log_append_built", |b| {
        b.iter_custom(|iters| {
            time_appends(
                iters,
                || common::built_batch(&orders, CompressionConfig::NONE),
                |log, copy| black_box(log.append_built(copy).unwrap()),
            )
        })
    });
    g.bench_function("ceiling_buffered_file_write", |b| {
        b.iter_custom(|iters| {
            let dir = bench_dir();
            let mut file = BufWriter::new(File::create(dir.path().join("plain.log")).unwrap());
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let copies: Vec<Bytes> = (0..n).map(|_| Bytes::from(batch.to_vec())).collect();
                let start = Instant::now();
                for copy in copies {
                    file.write_all(&copy).unwrap();
                }
                total += start.elapsed();
                done += n;
            }
            file.flush().unwrap();
            total
        })
    });
    g.finish();
}

fn fetch(c: &mut Criterion) {
    let batch = common::batch(&common::orders(common::RECORDS), CompressionConfig::NONE);
    let dir = bench_dir();
    let log = open(dir.path());
    // About 128 MiB over one segment.
    let batches = (128 << 20) / batch.len();
    for _ in 0..batches {
        log.append(Bytes::from(batch.to_vec())).unwrap();
    }
    log.close().unwrap();
    let total = log.size_bytes();
    let segment = log.segments()[0].log_path.clone();
    let mut g = c.benchmark_group("log_fetch_whole_log_1MiB_fetches");
    g.throughput(Throughput::Bytes(total));
    g.sample_size(10);
    g.bench_function("weir_partition_log_fetch", |b| {
        b.iter(|| {
            let mut offset = 0;
            let mut bytes = 0usize;
            loop {
                let data = log.fetch(offset, 1 << 20).unwrap();
                if data.is_empty() {
                    break;
                }
                bytes += data.records.len();
                offset = data.next_offset;
            }
            assert_eq!(bytes as u64, total);
            black_box(bytes)
        })
    });
    g.bench_function("ceiling_sequential_file_read", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter(|| {
            let mut f = File::open(&segment).unwrap();
            let mut bytes = 0usize;
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                bytes += n;
            }
            black_box(bytes)
        })
    });
    g.finish();
}

fn acks_all(c: &mut Criterion) {
    let batch = common::batch(&common::orders(100), CompressionConfig::NONE);
    let mut g = c.benchmark_group("log_acks_all_100x170B");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    for appenders in [1usize, 4, 16] {
        let totals = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let seen = Arc::clone(&totals);
        g.bench_function(format!("weir_{appenders}_appenders"), |b| {
            b.iter_custom(|iters| {
                let dir = bench_dir();
                let log = Arc::new(open(dir.path()));
                let per = iters.div_ceil(appenders as u64);
                let start = Instant::now();
                let threads: Vec<_> = (0..appenders)
                    .map(|_| {
                        let log = Arc::clone(&log);
                        let batch = batch.clone();
                        std::thread::spawn(move || {
                            for _ in 0..per {
                                let info = log.append(Bytes::from(batch.to_vec())).unwrap();
                                log.flush_until(info.last_offset + 1).unwrap();
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                let elapsed = start.elapsed();
                let batches = per * appenders as u64;
                seen.0.fetch_add(batches, Ordering::Relaxed);
                seen.1.fetch_add(log.flush_rounds(), Ordering::Relaxed);
                elapsed.mul_f64(iters as f64 / batches as f64)
            })
        });
        let (batches, rounds) = (
            totals.0.load(Ordering::Relaxed),
            totals.1.load(Ordering::Relaxed),
        );
        println!(
            "acks=all, {appenders} appender(s): {batches} batches, {rounds} fsync rounds, {:.3} fsyncs per batch",
            rounds as f64 / batches.max(1) as f64
        );
    }
    g.bench_function("ceiling_write_fdatasync_loop", |b| {
        b.iter_custom(|iters| {
            let dir = bench_dir();
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("plain.log"))
                .unwrap();
            let start = Instant::now();
            for _ in 0..iters {
                file.write_all(&batch).unwrap();
                file.sync_data().unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn config_criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! { name = benches; config = config_criterion(); targets = append, fetch, acks_all }
criterion_main!(benches);

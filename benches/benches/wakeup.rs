//! Append → waiting reader wake-up latency, next to a crossbeam channel's
//! send → blocked receiver wake-up in the same run: the time from just before
//! the writer's call to the moment the parked reader runs again. Prints
//! p50/p99/p99.9/max for each.
//!
//! `cargo bench -p weir-benches --bench wakeup`

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_log::{LogConfig, OpenOptions, PartitionLog};
use weir_record::{BatchBuilder, BatchOptions, Record};

const SAMPLES: usize = 20_000;

fn percentiles(mut ns: Vec<u64>) -> [u64; 4] {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    [at(0.5), at(0.99), at(0.999), *ns.last().unwrap()]
}

/// Spins for `d`, so the reader is parked again before the next sample.
fn pause(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn log_wakeup() -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let config =
        LogConfig::from_props([("message.timestamp.after.max.ms", "9223372036854775807")]).unwrap();
    let log = Arc::new(
        PartitionLog::open(dir.path(), "wake", 0, config, OpenOptions::default())
            .unwrap()
            .0,
    );
    let mut b = BatchBuilder::new(BatchOptions::default());
    b.append(&Record::new(vec![b'x'; 170]).with_key("k"))
        .unwrap();
    let batch = b.build().unwrap();
    let reader = {
        let log = Arc::clone(&log);
        thread::spawn(move || {
            let mut woke = Vec::with_capacity(SAMPLES);
            for i in 0..SAMPLES as i64 {
                log.wait_for_data(i, Instant::now() + Duration::from_secs(30));
                woke.push(Instant::now());
            }
            woke
        })
    };
    let mut sent = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        pause(Duration::from_micros(50));
        let copy = Bytes::from(batch.to_vec());
        sent.push(Instant::now());
        log.append(copy).unwrap();
    }
    let woke = reader.join().unwrap();
    sent.iter()
        .zip(&woke)
        .map(|(s, w)| w.saturating_duration_since(*s).as_nanos() as u64)
        .collect()
}

fn channel_wakeup() -> Vec<u64> {
    let (tx, rx) = crossbeam_channel::bounded::<Instant>(1);
    let reader = thread::spawn(move || {
        let mut lat = Vec::with_capacity(SAMPLES);
        while let Ok(sent) = rx.recv() {
            lat.push(sent.elapsed().as_nanos() as u64);
        }
        lat
    });
    for _ in 0..SAMPLES {
        pause(Duration::from_micros(50));
        tx.send(Instant::now()).unwrap();
    }
    drop(tx);
    reader.join().unwrap()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run
    // a few samples only then, to check it works.
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        return;
    }
    let log = percentiles(log_wakeup());
    let chan = percentiles(channel_wakeup());
    println!("| wake-up latency (µs) | p50 | p99 | p99.9 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, p) in [
        ("weir append → waiting reader", log),
        ("ceiling: crossbeam channel send → recv", chan),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            p[0] as f64 / 1e3,
            p[1] as f64 / 1e3,
            p[2] as f64 / 1e3,
            p[3] as f64 / 1e3
        );
    }
    println!(
        "ratio p50 {:.2}x, p99 {:.2}x",
        log[0] as f64 / chan[0] as f64,
        log[1] as f64 / chan[1] as f64
    );
}

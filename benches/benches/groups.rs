//! Consumer groups: commit throughput, and rebalance time for 8 members × 64
//! partitions, each next to a reference in the same run.
//!
//! - `commit_sync` of 64 partitions' offsets, one member, against the same
//!   bytes appended and fsynced straight to a partition log (the least a
//!   durable commit costs);
//! - `commit_sync` from 8 committers at once, each in a group of its own
//!   (the groups hash to 8 different `__consumer_offsets` partitions, so the
//!   fsyncs run in parallel rather than being shared);
//! - the time from the 8th member's subscribe until every member holds its
//!   final assignment, for eager (range) and cooperative-sticky, and after one
//!   member leaves.
//!
//! `cargo bench -p weir-benches --bench groups`

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use weir::{OffsetAndMetadata, TopicPartition, Weir};
use weir_record::{BatchBuilder, BatchOptions, Record};

const MEMBERS: usize = 8;
const PARTITIONS: u32 = 64;

fn open() -> (tempfile::TempDir, Weir) {
    let dir = match std::env::var_os("WEIR_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let weir = Weir::open(dir.path()).unwrap();
    weir.admin().create_topic("t", PARTITIONS, &[]).unwrap();
    (dir, weir)
}

fn offsets(base: i64) -> Vec<(TopicPartition, OffsetAndMetadata)> {
    (0..PARTITIONS as i32)
        .map(|p| {
            (
                TopicPartition::new("t", p),
                OffsetAndMetadata::new(base + i64::from(p)),
            )
        })
        .collect()
}

fn commits_per_second() -> (f64, f64, f64) {
    let (_dir, weir) = open();
    let tps: Vec<TopicPartition> = (0..PARTITIONS as i32)
        .map(|p| TopicPartition::new("t", p))
        .collect();
    // One member, manual assignment, committing 64 offsets at a time.
    let mut c = weir.consumer(&[("group.id", "solo")]).unwrap();
    c.assign(&tps).unwrap();
    let n = 300;
    let start = Instant::now();
    for i in 0..n {
        c.commit_offsets_sync(&offsets(i)).unwrap();
    }
    let solo = f64::from(n as u32) / start.elapsed().as_secs_f64();

    // Reference: the same number of 64-record batches appended and fsynced.
    let log = weir.partition("t", 0).unwrap();
    let start = Instant::now();
    for i in 0..n {
        let mut b = BatchBuilder::new(BatchOptions::default());
        for p in 0..PARTITIONS {
            b.append(
                &Record::new(vec![0u8; 40])
                    .with_key(format!("solo-t-{p}-{i}"))
                    .with_timestamp(weir.clock().now_ms()),
            )
            .unwrap();
        }
        let info = log.append(b.build().unwrap()).unwrap();
        log.flush_until(info.last_offset + 1).unwrap();
    }
    let reference = f64::from(n as u32) / start.elapsed().as_secs_f64();

    // Eight committers at once (standalone commits of eight groups).
    let barrier = Arc::new(Barrier::new(MEMBERS));
    let start = Instant::now();
    let threads: Vec<_> = (0..MEMBERS)
        .map(|m| {
            let weir = weir.clone();
            let tps = tps.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let group = format!("g{m}");
                let mut c = weir.consumer(&[("group.id", group.as_str())]).unwrap();
                c.assign(&tps).unwrap();
                barrier.wait();
                for i in 0..n {
                    c.commit_offsets_sync(&offsets(i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let eight = f64::from((n * MEMBERS as i64) as u32) / start.elapsed().as_secs_f64();
    (solo, reference, eight)
}

/// Milliseconds from the last member's subscribe until all hold a stable
/// assignment covering every partition, then after one member leaves.
fn rebalance_ms(strategy: &str) -> (f64, f64) {
    let (_dir, weir) = open();
    let mut members: Vec<_> = (0..MEMBERS)
        .map(|_| {
            let mut c = weir
                .consumer(&[
                    ("group.id", "g"),
                    ("partition.assignment.strategy", strategy),
                    ("enable.auto.commit", "false"),
                ])
                .unwrap();
            c.subscribe(&["t"]).unwrap();
            c
        })
        .collect();
    let settle = |members: &mut Vec<weir::Consumer>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            for c in members.iter_mut() {
                c.poll(Duration::ZERO).unwrap();
            }
            let total: usize = members.iter().map(|c| c.assignment().len()).sum();
            let generation = members.first().map(weir::Consumer::generation);
            let same = members.iter().all(|c| Some(c.generation()) == generation);
            if total == PARTITIONS as usize && same {
                // One more round: a cooperative follow-up may still be pending.
                for c in members.iter_mut() {
                    c.poll(Duration::ZERO).unwrap();
                }
                let again = members.first().map(weir::Consumer::generation);
                if again == generation {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the group did not settle");
        }
    };
    let start = Instant::now();
    settle(&mut members);
    let join = start.elapsed().as_secs_f64() * 1e3;
    let mut leaving = members.pop().unwrap();
    let start = Instant::now();
    leaving.close();
    settle(&mut members);
    let leave = start.elapsed().as_secs_f64() * 1e3;
    (join, leave)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (solo, reference, eight) = commits_per_second();
    println!("| commits of 64 offsets each (acks=all semantics) | commits/s |");
    println!("|---|---:|");
    println!("| weir: one member, commit_offsets_sync | {solo:.0} |");
    println!("| reference: append + fsync of a 64-record batch | {reference:.0} |");
    println!("| weir: 8 committers at once (all groups together) | {eight:.0} |");
    println!("ratio one member / reference: {:.2}x", solo / reference);
    println!();
    println!(
        "| rebalance, {MEMBERS} members × {PARTITIONS} partitions | all join → stable (ms) | one leaves → stable (ms) |"
    );
    println!("|---|---:|---:|");
    for strategy in ["range", "cooperative-sticky"] {
        let (join, leave) = rebalance_ms(strategy);
        println!("| {strategy} | {join:.2} | {leave:.2} |");
    }
}

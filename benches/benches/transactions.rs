//! What transactions cost, next to the same work without them, in the same
//! run:
//!
//! - the transactional producer sending 20,000 ~170-byte records to a
//!   6-partition topic in transactions of 100, 1,000 and 5,000 records
//!   (`begin`, sends, `commit`), against the same producer without a
//!   `transactional.id` (idempotent, `acks=all`) calling `flush` at the same
//!   points: the same records made durable at the same moments, without the
//!   coordinator's writes and the markers;
//! - a `read_committed` consumer reading 100,000 records written in
//!   transactions of 1,000 (one in ten aborted, none last), against a
//!   `read_uncommitted` consumer reading the same log (which also returns
//!   the aborted records).
//!
//! `cargo bench -p weir-benches --bench transactions`

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir::{Producer, ProducerRecord};

const RECORDS: usize = 20_000;
const PARTITIONS: u32 = 6;

/// Sends `records` in groups of `per`, ending each group with `end`.
fn send_in_groups(
    producer: &Producer,
    records: &[ProducerRecord],
    per: usize,
    mut start: impl FnMut(&Producer),
    mut end: impl FnMut(&Producer),
) {
    for group in records.chunks(per) {
        start(producer);
        for r in group {
            black_box(producer.send(r.clone()).unwrap());
        }
        end(producer);
    }
}

fn produce(c: &mut Criterion) {
    let records = common::producer_records(&common::orders(RECORDS));
    let bytes: u64 = records
        .iter()
        .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
        .sum();
    for per in [100usize, 1_000, 5_000] {
        // A group per size, so that each pairs one function with its ceiling.
        let mut g = c.benchmark_group(format!("transactions_produce_{RECORDS}x170B_{per}_per_txn"));
        g.throughput(Throughput::Bytes(bytes));
        g.sample_size(10);
        g.bench_function("weir_transactions", |b| {
            let dir = common::bench_dir();
            let weir = common::open_bench_topic(dir.path(), PARTITIONS);
            let producer = weir
                .producer(&[("transactional.id", "bench"), ("linger.ms", "1")])
                .unwrap();
            producer.init_transactions().unwrap();
            b.iter(|| {
                send_in_groups(
                    &producer,
                    &records,
                    per,
                    |p| p.begin_transaction().unwrap(),
                    |p| p.commit_transaction().unwrap(),
                );
            });
            producer.close();
        });
        g.bench_function("ceiling_flush_at_the_same_points", |b| {
            let dir = common::bench_dir();
            let weir = common::open_bench_topic(dir.path(), PARTITIONS);
            let producer = weir
                .producer(&[("acks", "all"), ("linger.ms", "1")])
                .unwrap();
            b.iter(|| {
                send_in_groups(&producer, &records, per, |_| {}, Producer::flush);
            });
            producer.close();
        });
        g.finish();
    }
}

fn consume(c: &mut Criterion) {
    let records = common::producer_records(&common::orders(100_000));
    let dir = common::bench_dir();
    let weir = common::open_bench_topic(dir.path(), PARTITIONS);
    let producer = weir
        .producer(&[("transactional.id", "bench"), ("linger.ms", "5")])
        .unwrap();
    producer.init_transactions().unwrap();
    for (i, group) in records.chunks(1_000).enumerate() {
        producer.begin_transaction().unwrap();
        for r in group {
            producer.send(r.clone()).unwrap();
        }
        if i % 10 == 4 {
            producer.abort_transaction().unwrap();
        } else {
            producer.commit_transaction().unwrap();
        }
    }
    producer.close();
    let total_bytes: u64 = (0..PARTITIONS as i32)
        .map(|p| weir.partition("bench", p).unwrap().size_bytes())
        .sum();
    let mut g = c.benchmark_group("transactions_consume_100000x170B");
    g.throughput(Throughput::Bytes(total_bytes));
    g.sample_size(10);
    let read = |isolation: &str| {
        let mut consumer = weir
            .consumer(&[
                ("auto.offset.reset", "earliest"),
                ("max.poll.records", "5000"),
                ("fetch.max.wait.ms", "0"),
                ("isolation.level", isolation),
            ])
            .unwrap();
        consumer.assign_topic("bench").unwrap();
        let tps = consumer.assignment();
        let ends = consumer.end_offsets(&tps).unwrap();
        let mut n = 0usize;
        loop {
            let done = ends
                .iter()
                .all(|(tp, end)| consumer.position(tp).unwrap() >= *end);
            if done {
                return n;
            }
            let polled = consumer.poll(Duration::from_millis(10)).unwrap();
            for r in polled.iter() {
                black_box(r.value());
            }
            n += polled.count();
        }
    };
    assert_eq!(read("read_committed"), 90_000);
    assert_eq!(read("read_uncommitted"), 100_000);
    g.bench_function("weir_read_committed", |b| b.iter(|| read("read_committed")));
    g.bench_function("ceiling_read_uncommitted", |b| {
        b.iter(|| read("read_uncommitted"))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = produce, consume }
criterion_main!(benches);

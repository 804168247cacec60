//! The producer and consumer against the log they sit on, in the same run:
//!
//! - producer throughput (1 and 4 threads sharing a producer, ~170-byte
//!   records, acks=1, each codec) vs appending the same records pre-built into
//!   16 KiB batches straight to the partition logs (the same number of
//!   threads). Each thread's records are its own (own allocations) and made
//!   before the clock starts, as the ceiling's batches are; `send` takes them
//!   by value;
//! - consumer throughput (`poll` until every record is read) vs fetching the
//!   same bytes straight from the partition logs;
//! - the consumer with one record per poll next to 5,000 per poll.
//!
//! `cargo bench -p weir-benches --bench clients`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir::{Acks, Compression, CompressionConfig, Producer, ProducerConfig, ProducerRecord, Weir};
use weir_record::{BatchBuilder, BatchOptions, BuiltBatch, Record};

const RECORDS: usize = 20_000;
const PARTITIONS: u32 = 6;

/// `items` dealt round-robin to `threads` threads, each thread's share made
/// by `copy` (allocations of its own, as each thread of an application has
/// its own data).
fn deal<T, U>(items: &[T], threads: usize, copy: impl Fn(&T) -> U) -> Vec<Vec<U>> {
    (0..threads)
        .map(|t| items.iter().skip(t).step_by(threads).map(&copy).collect())
        .collect()
}

/// The bench topic's partition logs.
fn partition_logs(weir: &Weir) -> Vec<Arc<weir_log::PartitionLog>> {
    (0..PARTITIONS as i32)
        .map(|p| weir.partition("bench", p).unwrap())
        .collect()
}

/// The same records split by the partition the producer would choose, built
/// into batches of about 16 KiB with `codec`.
fn prebuilt(records: &[Record], codec: Compression) -> Vec<Vec<BuiltBatch>> {
    let n = std::num::NonZeroU32::new(PARTITIONS).unwrap();
    let mut per: Vec<Vec<BuiltBatch>> = vec![Vec::new(); PARTITIONS as usize];
    let mut builders: Vec<BatchBuilder> = (0..PARTITIONS).map(|_| new_builder(codec)).collect();
    for r in records {
        let p = weir_partition::murmur2_partition(r.key.as_deref().unwrap(), n) as usize;
        builders[p].append(r).unwrap();
        if builders[p].uncompressed_size() >= 16384 {
            let full = std::mem::replace(&mut builders[p], new_builder(codec));
            per[p].push(full.build_batch().unwrap());
        }
    }
    for (p, b) in builders.into_iter().enumerate() {
        if !b.is_empty() {
            per[p].push(b.build_batch().unwrap());
        }
    }
    per
}

/// A builder sized for one 16 KiB batch, as the producer sizes its own.
fn new_builder(codec: Compression) -> BatchBuilder {
    BatchBuilder::with_capacity(
        BatchOptions {
            compression: CompressionConfig::new(codec),
            ..BatchOptions::default()
        },
        16384,
    )
}

/// `bytes` in a static allocation (leaked once per bench setup): a `Bytes`
/// over it frees nothing when dropped.
fn leak(bytes: &[u8]) -> Bytes {
    Bytes::from_static(Box::leak(bytes.to_vec().into_boxed_slice()))
}

/// A producer (acks=1, `codec`) on a fresh data directory with the bench
/// topic; the directory and the `Weir` live as long as the returned values.
fn fresh_producer(codec: Compression) -> (tempfile::TempDir, Weir, Producer) {
    let dir = common::bench_dir();
    let weir = common::open_bench_topic(dir.path(), PARTITIONS);
    let config = ProducerConfig::default()
        .acks(Acks::Leader)
        .compression(CompressionConfig::new(codec));
    let producer = Producer::new(&weir, config).unwrap();
    (dir, weir, producer)
}

/// `r` with its key and value in allocations of their own (made by the
/// calling thread).
fn own_copy(r: &ProducerRecord) -> ProducerRecord {
    ProducerRecord {
        key: r.key.as_deref().map(Bytes::copy_from_slice),
        value: r.value.as_deref().map(Bytes::copy_from_slice),
        ..r.clone()
    }
}

/// `iters` runs of one producer sending each thread's records (cloned before
/// the clock starts, as the ceiling's batches are made) from threads of their
/// own, then flushing: the time from the first send to the flush's return.
fn time_producer(records: &[Vec<ProducerRecord>], codec: Compression, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (_dir, _weir, producer) = fresh_producer(codec);
        let work = records.to_vec();
        let start = Instant::now();
        let handles: Vec<_> = work
            .into_iter()
            .map(|mine| {
                let producer = producer.clone();
                std::thread::spawn(move || {
                    for r in mine {
                        black_box(producer.send(r).unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        producer.flush();
        total += start.elapsed();
        producer.close();
    }
    total
}

/// As [`time_producer`], but each sending thread makes its own copies of its
/// records (allocated by that thread, as an application thread that reads or
/// builds its data and then sends it) before the clock starts; the clock
/// starts once every thread holds its records.
fn time_producer_thread_allocated(
    records: &Arc<Vec<Vec<ProducerRecord>>>,
    codec: Compression,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (_dir, _weir, producer) = fresh_producer(codec);
        let ready = Arc::new(std::sync::Barrier::new(records.len() + 1));
        let handles: Vec<_> = (0..records.len())
            .map(|t| {
                let producer = producer.clone();
                let records = Arc::clone(records);
                let ready = Arc::clone(&ready);
                std::thread::spawn(move || {
                    let mine: Vec<ProducerRecord> = records[t].iter().map(own_copy).collect();
                    ready.wait();
                    for r in mine {
                        black_box(producer.send(r).unwrap());
                    }
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        for h in handles {
            h.join().unwrap();
        }
        producer.flush();
        total += start.elapsed();
        producer.close();
    }
    total
}

fn produce(c: &mut Criterion) {
    let records = common::orders(RECORDS);
    let bytes: usize = records
        .iter()
        .map(|r| r.value.as_ref().unwrap().len() + r.key.as_ref().unwrap().len())
        .sum();
    let sends = common::producer_records(&records);
    for codec in Compression::ALL {
        let mut g = c.benchmark_group(format!("producer_{codec}_20000x170B"));
        g.throughput(Throughput::Bytes(bytes as u64));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(4));
        for threads in [1usize, 4] {
            // Each thread's records in allocations of its own, as each thread
            // of an application has its own data; handed to `send` by value.
            let own = deal(&sends, threads, own_copy);
            g.bench_function(format!("weir_producer_{threads}_threads"), |b| {
                b.iter_custom(|iters| time_producer(&own, codec, iters))
            });
            if codec == Compression::None {
                // The same records, each thread's copies allocated by that
                // thread, so it frees them into its own allocator cache.
                let shared = Arc::new(deal(&sends, threads, ProducerRecord::clone));
                g.bench_function(
                    format!("weir_producer_{threads}_threads_thread_allocated"),
                    |b| {
                        b.iter_custom(|iters| time_producer_thread_allocated(&shared, codec, iters))
                    },
                );
                // A reference: the same producer sending records whose keys and
                // values are static (nothing to free when a record is dropped).
                // The records above were allocated by the bench's main thread,
                // so every sending thread frees them into the same glibc arena.
                let borrowed = deal(&sends, threads, |r| ProducerRecord {
                    key: r.key.as_deref().map(leak),
                    value: r.value.as_deref().map(leak),
                    ..r.clone()
                });
                g.bench_function(
                    format!("reference_weir_producer_static_data_{threads}_threads"),
                    |b| b.iter_custom(|iters| time_producer(&borrowed, codec, iters)),
                );
            }
            // A reference that also pays for encoding and compressing: the
            // same records built into 16 KiB batches and appended, per thread.
            let per_thread = deal(&records, threads, |r| Record {
                key: r.key.as_deref().map(Bytes::copy_from_slice),
                value: r.value.as_deref().map(Bytes::copy_from_slice),
                ..r.clone()
            });
            g.bench_function(
                format!("reference_build_compress_append_{threads}_threads"),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let dir = common::bench_dir();
                            let weir = common::open_bench_topic(dir.path(), PARTITIONS);
                            let logs = partition_logs(&weir);
                            let work = per_thread.clone();
                            let start = Instant::now();
                            let handles: Vec<_> = work
                                .into_iter()
                                .map(|mine| {
                                    let logs = logs.clone();
                                    std::thread::spawn(move || {
                                        for (p, bs) in
                                            prebuilt(&mine, codec).into_iter().enumerate()
                                        {
                                            for b in bs {
                                                black_box(logs[p].append_built(b).unwrap());
                                            }
                                        }
                                    })
                                })
                                .collect();
                            for h in handles {
                                h.join().unwrap();
                            }
                            total += start.elapsed();
                        }
                        total
                    })
                },
            );
            g.bench_function(
                format!("ceiling_log_append_prebuilt_{threads}_threads"),
                |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let dir = common::bench_dir();
                            let weir = common::open_bench_topic(dir.path(), PARTITIONS);
                            let logs = partition_logs(&weir);
                            // Built (uniquely owned) before the clock starts.
                            let copies = prebuilt(&records, codec);
                            let mut work: Vec<Vec<(usize, BuiltBatch)>> = vec![Vec::new(); threads];
                            for (p, bs) in copies.into_iter().enumerate() {
                                for b in bs {
                                    work[p % threads].push((p, b));
                                }
                            }
                            let start = Instant::now();
                            let handles: Vec<_> = work
                                .into_iter()
                                .map(|items| {
                                    let logs = logs.clone();
                                    std::thread::spawn(move || {
                                        for (p, b) in items {
                                            black_box(logs[p].append_built(b).unwrap());
                                        }
                                    })
                                })
                                .collect();
                            for h in handles {
                                h.join().unwrap();
                            }
                            total += start.elapsed();
                        }
                        total
                    })
                },
            );
        }
        g.finish();
    }
}

fn consume(c: &mut Criterion) {
    let records = common::orders(100_000);
    let dir = common::bench_dir();
    let weir = common::open_bench_topic(dir.path(), PARTITIONS);
    let producer = weir.producer(&[("acks", "1"), ("linger.ms", "5")]).unwrap();
    for r in common::producer_records(&records) {
        producer.send(r).unwrap();
    }
    producer.close();
    let logs = partition_logs(&weir);
    let total_bytes: u64 = logs.iter().map(|l| l.size_bytes()).sum();
    let mut g = c.benchmark_group("consumer_100000x170B");
    g.throughput(Throughput::Bytes(total_bytes));
    g.sample_size(10);
    g.bench_function("weir_consumer_poll", |b| {
        b.iter(|| {
            let mut consumer = weir
                .consumer(&[
                    ("auto.offset.reset", "earliest"),
                    ("max.poll.records", "5000"),
                ])
                .unwrap();
            consumer.assign_topic("bench").unwrap();
            let mut n = 0usize;
            while n < records.len() {
                let polled = consumer.poll(Duration::from_secs(5)).unwrap();
                for r in polled.iter() {
                    black_box(r.value());
                }
                n += polled.count();
            }
            n
        })
    });
    // The same with one consumer for the whole run, sought back to the start
    // each time, as a long-lived consumer reads: its fetch buffers are reused.
    let mut kept = weir
        .consumer(&[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "5000"),
        ])
        .unwrap();
    kept.assign_topic("bench").unwrap();
    g.bench_function("weir_consumer_poll_long_lived", |b| {
        b.iter(|| {
            kept.seek_to_beginning(&[]).unwrap();
            let mut n = 0usize;
            while n < records.len() {
                let polled = kept.poll(Duration::from_secs(5)).unwrap();
                for r in polled.iter() {
                    black_box(r.value());
                }
                n += polled.count();
            }
            n
        })
    });
    // A batch job's bounded read of the same records (`Weir::bounded_read`,
    // default fetches): CRC-checked, every record decoded and handed to a
    // callback, the integrity summary's checksum taken over every record.
    g.bench_function("weir_bounded_read", |b| {
        b.iter(|| {
            let summary = weir
                .bounded_read("bench")
                .open()
                .unwrap()
                .for_each(|r| {
                    black_box(r.record.value());
                    Ok(())
                })
                .unwrap();
            assert_eq!(summary.records, records.len() as u64);
            summary.checksum
        })
    });
    // A second reference: the least any verifying consumer does with the
    // fetched bytes: CRC-check each batch and decode every record.
    g.bench_function("reference_log_fetch_crc_decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for log in &logs {
                let mut offset = 0;
                loop {
                    let data = log.fetch(offset, 1 << 20).unwrap();
                    if data.is_empty() {
                        break;
                    }
                    for batch in data.batches() {
                        let batch = batch.unwrap().batch;
                        for r in &batch.records().unwrap() {
                            black_box(r.unwrap().value());
                            n += 1;
                        }
                    }
                    offset = data.next_offset;
                }
            }
            n
        })
    });
    g.bench_function("ceiling_log_fetch", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for log in &logs {
                let mut offset = 0;
                loop {
                    let data = log.fetch(offset, 1 << 20).unwrap();
                    if data.is_empty() {
                        break;
                    }
                    bytes += data.records.len();
                    offset = data.next_offset;
                }
            }
            black_box(bytes)
        })
    });
    g.finish();
}

/// One record per poll (`max.poll.records=1`, as slow processors set it) from
/// batches of about 5,000 records (a batch stops near 1 MiB: `batch.size` and
/// `max.message.bytes`), next to the same records read 5,000 per poll:
/// the cost of a poll, and a check that a batch taken over many polls is not
/// decoded again from its start each time.
fn consume_one_per_poll(c: &mut Criterion) {
    const N: usize = 20_000;
    let records = common::orders(N);
    let dir = common::bench_dir();
    let weir = common::open_bench_topic(dir.path(), PARTITIONS);
    let producer = weir
        .producer(&[("linger.ms", "60000"), ("batch.size", "1048576")])
        .unwrap();
    for mut r in common::producer_records(&records) {
        r.partition = Some(0);
        producer.send(r).unwrap();
    }
    producer.close();
    let mut g = c.benchmark_group("consumer_20000x170B_by_max_poll_records");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for max_poll in ["1", "5000"] {
        g.bench_function(format!("weir_consumer_max_poll_records_{max_poll}"), |b| {
            b.iter(|| {
                let mut consumer = weir
                    .consumer(&[
                        ("auto.offset.reset", "earliest"),
                        ("max.poll.records", max_poll),
                    ])
                    .unwrap();
                consumer
                    .assign(&[weir::TopicPartition::new("bench", 0)])
                    .unwrap();
                let mut n = 0usize;
                while n < N {
                    let polled = consumer.poll(Duration::from_secs(5)).unwrap();
                    for r in polled.iter() {
                        black_box(r.value());
                    }
                    n += polled.count();
                }
                n
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1))
}

criterion_group! { name = benches; config = config(); targets = produce, consume, consume_one_per_poll }
criterion_main!(benches);

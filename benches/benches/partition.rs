//! Partitioning a key: Kafka's murmur2 (what the Java client and Weir's default
//! use) per key, next to CRC-32 (librdkafka's `consistent`, hardware-assisted)
//! on the same keys in the same run.
//!
//! `cargo bench -p weir-benches --bench partition`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_partition::{BuiltInPartitioner, Partitioner, murmur2_partition};

fn keys() -> Vec<Vec<u8>> {
    // Typical keys: customer ids, order ids and UUIDs, 9 to 36 bytes.
    (0..1024u32)
        .map(|i| match i % 3 {
            0 => format!("cust-{:05}", i * 37 % 50_000).into_bytes(),
            1 => format!("order-{:010}", u64::from(i) * 7_919).into_bytes(),
            _ => format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                i * 2_654_435_761u32,
                i % 65_536,
                i % 4096,
                (i * 7) % 4096,
                u64::from(i) * 0x9E37_79B9
            )
            .into_bytes(),
        })
        .collect()
}

fn per_key(c: &mut Criterion) {
    let keys = keys();
    let n = NonZeroU32::new(12).unwrap();
    let mut g = c.benchmark_group("partition_key_1024_keys");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("weir_murmur2_partition", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| murmur2_partition(black_box(k), n))
                .fold(0u32, u32::wrapping_add)
        })
    });
    let builtin = BuiltInPartitioner::new(16 * 1024);
    g.bench_function("weir_builtin_partitioner_keyed", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| builtin.partition("orders", Some(black_box(k)), None, n))
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.bench_function("ceiling_crc32", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| crc32fast::hash(black_box(k)) % n.get())
                .fold(0u32, u32::wrapping_add)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = per_key }
criterion_main!(benches);

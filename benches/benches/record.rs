//! RecordBatch encode and decode of 1000 ~170-byte records, each next to its
//! ceiling in the same run: a memcpy plus CRC-32C of the same bytes.
//!
//! `cargo bench -p weir-benches --bench record`

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use weir_record::{BatchBuilder, BatchOptions, CompressionConfig, RecordBatch};

/// The ceiling: copy the batch's bytes into a ready buffer and CRC-32C them.
fn memcpy_crc32c(src: &[u8], dst: &mut Vec<u8>) -> u32 {
    dst.clear();
    dst.extend_from_slice(src);
    crc32c::crc32c(&dst[21..])
}

fn encode(c: &mut Criterion) {
    let records = common::orders(common::RECORDS);
    let encoded = common::batch(&records, CompressionConfig::NONE);
    let mut g = c.benchmark_group("record_encode_1000x170B");
    g.throughput(Throughput::Bytes(encoded.len() as u64));
    g.bench_function("weir_batch_builder", |b| {
        b.iter(|| {
            let mut builder = BatchBuilder::with_capacity(BatchOptions::default(), encoded.len());
            for r in &records {
                builder.append(r).unwrap();
            }
            black_box(builder.build().unwrap())
        })
    });
    // Not a ceiling but a reference point: only copying each record's key and
    // value (with fixed stand-ins for its varints) into one buffer and CRC-ing
    // it. Records live in separate allocations, so this is what any encoder of
    // these records pays before doing any encoding work.
    g.bench_function("reference_copy_fields_crc32c", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(encoded.len());
            out.resize(61, 0);
            for r in &records {
                out.extend_from_slice(&[0; 8]);
                out.extend_from_slice(r.key.as_deref().unwrap_or_default());
                out.extend_from_slice(&[0; 2]);
                out.extend_from_slice(r.value.as_deref().unwrap_or_default());
                out.push(0);
            }
            black_box(crc32c::crc32c(&out[21..]))
        })
    });
    let mut dst = Vec::with_capacity(encoded.len());
    g.bench_function("ceiling_memcpy_crc32c", |b| {
        b.iter(|| black_box(memcpy_crc32c(black_box(&encoded), &mut dst)))
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let records = common::orders(common::RECORDS);
    let encoded = common::batch(&records, CompressionConfig::NONE);
    let mut g = c.benchmark_group("record_decode_1000x170B");
    g.throughput(Throughput::Bytes(encoded.len() as u64));
    g.bench_function("weir_crc_and_every_record", |b| {
        b.iter_batched(
            || encoded.clone(),
            |bytes: Bytes| {
                let batch = RecordBatch::new(bytes).unwrap();
                batch.validate_crc().unwrap();
                let records = batch.records().unwrap();
                let mut sum = 0usize;
                for r in &records {
                    let r = r.unwrap();
                    sum += r.key().map_or(0, <[u8]>::len)
                        + r.value().map_or(0, <[u8]>::len)
                        + r.offset() as usize;
                }
                black_box(sum)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("weir_crc_and_every_record_as_bytes", |b| {
        b.iter_batched(
            || encoded.clone(),
            |bytes: Bytes| {
                let batch = RecordBatch::new(bytes).unwrap();
                batch.validate_crc().unwrap();
                let records = batch.records().unwrap();
                let mut sum = 0usize;
                for r in &records {
                    let r = r.unwrap();
                    let (k, v) = (r.key_bytes(), r.value_bytes());
                    sum += k.map_or(0, |k| k.len()) + v.map_or(0, |v| v.len());
                }
                black_box(sum)
            },
            BatchSize::SmallInput,
        )
    });
    let mut dst = Vec::with_capacity(encoded.len());
    g.bench_function("ceiling_memcpy_crc32c", |b| {
        b.iter(|| black_box(memcpy_crc32c(black_box(&encoded), &mut dst)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! { name = benches; config = config(); targets = encode, decode }
criterion_main!(benches);

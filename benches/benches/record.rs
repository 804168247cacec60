//! RecordBatch encode and decode of 1000 ~170-byte records, each next to its
//! ceiling in the same run: a memcpy plus CRC-32C of the same bytes.
//!
//! `cargo bench -p weir-benches --bench record`

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use weir_record::{BatchBuilder, BatchOptions, CompressionConfig, Record, RecordBatch};

/// The ceiling: copy the batch's bytes into a ready buffer and CRC-32C them
/// with the fastest CRC-32C this machine has (the one Weir uses).
fn memcpy_crc32c(src: &[u8], dst: &mut Vec<u8>) -> u32 {
    dst.clear();
    dst.extend_from_slice(src);
    weir_record::crc32c(&dst[21..])
}

/// The ceiling as earlier runs measured it: the same copy, and the CRC-32C of
/// the `crc32c` crate (the SSE4.2 `crc32` instruction, three streams).
fn memcpy_crc32c_crate(src: &[u8], dst: &mut Vec<u8>) -> u32 {
    dst.clear();
    dst.extend_from_slice(src);
    crc32c::crc32c(&dst[21..])
}

/// Two bytes at most for a zigzagged value below 2^14: (bytes, count).
fn two_byte_varint(z: u64) -> (u64, usize) {
    let high = z >> 7;
    let two = u64::from(high != 0);
    ((z & 0x7f) | (two << 7) | (high << 8), 1 + two as usize)
}

/// A reference, not a ceiling: the least a hand-written, safe encoder of these
/// records does (no headers, every varint at most two bytes, no checks, no
/// options, batch header left zero) and a CRC-32C at the end. Checked against
/// `BatchBuilder`'s bytes once before timing.
fn minimal_encode(records: &[Record], out: &mut Vec<u8>) {
    out.clear();
    out.resize(61, 0);
    let base = records.first().map_or(0, |r| r.timestamp);
    for (i, r) in records.iter().enumerate() {
        let (k, v) = (r.key.as_deref(), r.value.as_deref());
        let delta = r.timestamp - base;
        let (ts, ts_n) = two_byte_varint(((delta << 1) ^ (delta >> 63)) as u64);
        let (off, off_n) = two_byte_varint((i as u64) << 1);
        let (kl, kl_n) = two_byte_varint(k.map_or(1, |k| (k.len() as u64) << 1));
        let (vl, vl_n) = two_byte_varint(v.map_or(1, |v| (v.len() as u64) << 1));
        let size =
            2 + ts_n + off_n + kl_n + vl_n + k.map_or(0, <[u8]>::len) + v.map_or(0, <[u8]>::len);
        let (len, len_n) = two_byte_varint((size as u64) << 1);
        out.reserve(size + 24);
        let head_n = len_n + 1 + ts_n + off_n;
        let head = len
            | (ts << (8 * (len_n + 1)))
            | (off << (8 * (len_n + 1 + ts_n)))
            | (kl << (8 * head_n));
        let at = out.len();
        out.extend_from_slice(&head.to_le_bytes());
        out.truncate(at + head_n + kl_n);
        out.extend_from_slice(k.unwrap_or_default());
        let at = out.len();
        out.extend_from_slice(&vl.to_le_bytes());
        out.truncate(at + vl_n);
        out.extend_from_slice(v.unwrap_or_default());
        out.push(0);
    }
    let crc = weir_record::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
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
    let mut minimal = Vec::with_capacity(encoded.len());
    minimal_encode(&records, &mut minimal);
    assert_eq!(
        minimal[61..],
        encoded[61..],
        "the minimal encoder writes the same records"
    );
    g.bench_function("reference_minimal_safe_encoder", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(encoded.len());
            minimal_encode(black_box(&records), &mut out);
            black_box(out)
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
            black_box(weir_record::crc32c(&out[21..]))
        })
    });
    let mut dst = Vec::with_capacity(encoded.len());
    g.bench_function("ceiling_memcpy_crc32c", |b| {
        b.iter(|| black_box(memcpy_crc32c(black_box(&encoded), &mut dst)))
    });
    g.bench_function("reference_memcpy_crc32c_crate", |b| {
        b.iter(|| black_box(memcpy_crc32c_crate(black_box(&encoded), &mut dst)))
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
    g.bench_function("reference_memcpy_crc32c_crate", |b| {
        b.iter(|| black_box(memcpy_crc32c_crate(black_box(&encoded), &mut dst)))
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

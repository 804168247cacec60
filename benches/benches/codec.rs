//! Each codec on the records section of a 1000-record batch (~180 KB), through
//! weir-codec (Kafka's framing, bounded decompression) and through the codec
//! crate called directly on the same bytes, in the same run.
//!
//! `cargo bench -p weir-benches --bench codec`

mod common;

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_codec::{Compression, CompressionConfig};

const LIMIT: usize = 64 << 20;

/// The codec crate's own one-shot compression of `input`.
fn raw_compress(
    codec: Compression,
    input: &[u8],
    zstd: &mut zstd::bulk::Compressor<'_>,
) -> Vec<u8> {
    match codec {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(input).unwrap();
            e.finish().unwrap()
        }
        Compression::Snappy => snap::raw::Encoder::new().compress_vec(input).unwrap(),
        Compression::Lz4 => lz4_flex::block::compress(input),
        Compression::Zstd => zstd.compress(input).unwrap(),
        _ => unreachable!(),
    }
}

fn compress(c: &mut Criterion) {
    let input = common::records_section(&common::orders(common::RECORDS));
    let mut zstd = zstd::bulk::Compressor::new(3).unwrap();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let config = CompressionConfig::new(codec);
        let mut g = c.benchmark_group(format!("codec_compress_{codec}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        let mut out = Vec::new();
        g.bench_function("weir_codec", |b| {
            b.iter(|| {
                out.clear();
                weir_codec::compress(&config, black_box(&input), &mut out).unwrap();
                black_box(out.len())
            })
        });
        g.bench_function("ceiling_raw_crate", |b| {
            b.iter(|| black_box(raw_compress(codec, black_box(&input), &mut zstd).len()))
        });
        g.finish();
    }
}

fn decompress(c: &mut Criterion) {
    let input = common::records_section(&common::orders(common::RECORDS));
    let mut zstd_c = zstd::bulk::Compressor::new(3).unwrap();
    let mut zstd_d = zstd::bulk::Decompressor::new().unwrap();
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut framed = Vec::new();
        weir_codec::compress(&CompressionConfig::new(codec), &input, &mut framed).unwrap();
        // The raw crates read their own encoding of the same bytes (gzip, lz4 and
        // zstd can also read ours; snappy's xerial framing is Kafka's own).
        let raw = match codec {
            Compression::Gzip | Compression::Zstd => framed.clone(),
            _ => raw_compress(codec, &input, &mut zstd_c),
        };
        let mut g = c.benchmark_group(format!("codec_decompress_{codec}"));
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function("weir_codec", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                weir_codec::decompress(codec, black_box(&framed), LIMIT, &mut out).unwrap();
                black_box(out)
            })
        });
        g.bench_function("ceiling_raw_crate", |b| {
            b.iter(|| {
                let out = match codec {
                    Compression::Gzip => {
                        let mut out = Vec::new();
                        flate2::bufread::MultiGzDecoder::new(black_box(&raw[..]))
                            .read_to_end(&mut out)
                            .unwrap();
                        out
                    }
                    Compression::Snappy => snap::raw::Decoder::new()
                        .decompress_vec(black_box(&raw))
                        .unwrap(),
                    Compression::Lz4 => {
                        lz4_flex::block::decompress(black_box(&raw), input.len()).unwrap()
                    }
                    Compression::Zstd => zstd_d.decompress(black_box(&raw), input.len()).unwrap(),
                    _ => unreachable!(),
                };
                black_box(out)
            })
        });
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40)
}

criterion_group! { name = benches; config = config(); targets = compress, decompress }
criterion_main!(benches);

//! Bench data shared by the bench files: JSON-ish order events of about 170
//! bytes, keyed by customer, as a pipeline would produce them.

#![allow(dead_code)]

use bytes::Bytes;
use weir_record::{BatchBuilder, BatchOptions, CompressionConfig, Record};

/// Records per batch in the batch benches.
pub(crate) const RECORDS: usize = 1000;

/// `n` order records with ~170-byte values and timestamps 1 ms apart.
pub(crate) fn orders(n: usize) -> Vec<Record> {
    let notes = [
        "gift wrap",
        "leave at door",
        "express",
        "",
        "fragile: glassware",
        "call on arrival",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..n)
        .map(|i| {
            let r = next();
            let customer = r % 50_000;
            let value = format!(
                "{{\"order_id\":\"ord-{i:08}\",\"customer\":\"cust-{customer:05}\",\"sku\":\"sku-{:04}\",\"qty\":{},\"amount\":{}.{:02},\"currency\":\"EUR\",\"note\":\"{}\",\"ts\":{}}}",
                (r >> 20) % 10_000,
                (r >> 34) % 9 + 1,
                (r >> 38) % 900 + 10,
                (r >> 48) % 100,
                notes[(r as usize >> 8) % notes.len()],
                1_735_689_600_000u64 + i as u64
            );
            Record::new(value)
                .with_key(format!("cust-{customer:05}"))
                .with_timestamp(1_735_689_600_000 + i as i64)
        })
        .collect()
}

/// One batch of `records`, encoded with `compression`.
pub(crate) fn batch(records: &[Record], compression: CompressionConfig) -> Bytes {
    built_batch(records, compression).into_bytes()
}

/// As [`batch`], as the builder's vouched-for [`weir_record::BuiltBatch`].
pub(crate) fn built_batch(
    records: &[Record],
    compression: CompressionConfig,
) -> weir_record::BuiltBatch {
    let mut builder = BatchBuilder::new(BatchOptions {
        compression,
        ..BatchOptions::default()
    });
    for r in records {
        builder.append(r).unwrap();
    }
    builder.build_batch().unwrap()
}

/// The uncompressed records section of the bench batch.
pub(crate) fn records_section(records: &[Record]) -> Vec<u8> {
    batch(records, CompressionConfig::NONE)[61..].to_vec()
}

/// A temporary directory for a bench's data, under `$WEIR_BENCH_DIR` when set
/// (to measure another disk than the temporary directory's).
pub(crate) fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WEIR_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// A `Weir` on `dir` with the topic `bench` of `partitions` partitions, which
/// takes the bench records' timestamps (from 2025) as they are.
pub(crate) fn open_bench_topic(dir: &std::path::Path, partitions: u32) -> weir::Weir {
    let weir = weir::Weir::builder(dir)
        .topic_default("message.timestamp.after.max.ms", "9223372036854775807")
        .unwrap()
        .open()
        .unwrap();
    weir.admin().create_topic("bench", partitions, &[]).unwrap();
    weir
}

/// The bench records as producer records to the topic `bench`, keyed by
/// customer.
pub(crate) fn producer_records(records: &[Record]) -> Vec<weir::ProducerRecord> {
    records
        .iter()
        .map(|r| weir::ProducerRecord {
            topic: "bench".into(),
            partition: None,
            key: r.key.clone(),
            value: r.value.clone(),
            timestamp: Some(r.timestamp),
            headers: Vec::new(),
        })
        .collect()
}

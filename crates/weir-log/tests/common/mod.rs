//! Helpers shared by the weir-log integration tests.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use weir_log::{Clock, LogConfig, ManualClock, OpenOptions, PartitionLog, RecoveryReport};
use weir_record::{
    BatchBuilder, BatchOptions, Compression, CompressionConfig, Record, RecordBatch,
};

/// A fixed "now" for tests: 2025-01-01T00:00:00Z.
pub const NOW: i64 = 1_735_689_600_000;

/// A batch of `n` records whose values identify them (`tag`-`i`), each
/// `value_len` bytes, timestamps `ts`, `ts + 1`, ...
pub fn batch(tag: u64, n: usize, value_len: usize, ts: i64) -> Bytes {
    batch_with(tag, n, value_len, ts, Compression::None)
}

/// As [`batch`] with a codec.
pub fn batch_with(tag: u64, n: usize, value_len: usize, ts: i64, codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(BatchOptions {
        compression: CompressionConfig::new(codec),
        ..BatchOptions::default()
    });
    for i in 0..n {
        let mut value = format!("{tag}-{i}-").into_bytes();
        value.resize(value_len.max(value.len()), b'x');
        b.append(
            &Record::new(value)
                .with_key(format!("key-{}", i % 7))
                .with_timestamp(ts + i as i64),
        )
        .unwrap();
    }
    b.build().unwrap()
}

/// Config with small segments and index intervals so tests roll and index.
pub fn small_config(segment_bytes: u32) -> LogConfig {
    LogConfig::from_props([
        ("segment.bytes", segment_bytes.to_string().as_str()),
        ("index.interval.bytes", "512"),
        ("message.timestamp.after.max.ms", "9223372036854775807"),
    ])
    .unwrap()
}

/// Opens a partition `t-0` in `dir` with a manual clock at [`NOW`].
pub fn open(
    dir: &Path,
    config: LogConfig,
    clean: bool,
    recovery_point: i64,
) -> (PartitionLog, RecoveryReport) {
    open_with_clock(
        dir,
        config,
        clean,
        recovery_point,
        Arc::new(ManualClock::new(NOW)),
    )
}

/// As [`open`] with a given clock.
pub fn open_with_clock(
    dir: &Path,
    config: LogConfig,
    clean: bool,
    recovery_point: i64,
    clock: Arc<dyn Clock>,
) -> (PartitionLog, RecoveryReport) {
    PartitionLog::open(
        dir,
        "t",
        0,
        config,
        OpenOptions {
            clean_shutdown: clean,
            recovery_point,
            log_start_offset: 0,
            clock,
            damaged_segments_to: None,
        },
    )
    .unwrap()
}

/// Every batch of the log from its start, via fetch, CRC-checked and with
/// every record decoded.
pub fn read_all(log: &PartitionLog) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let data = log.fetch(offset, 64 * 1024).unwrap();
        if data.is_empty() {
            break;
        }
        for b in data.batches() {
            let b = b.unwrap().batch;
            for r in &b.records().unwrap() {
                r.unwrap();
            }
            out.push(b);
        }
        offset = data.next_offset;
    }
    out
}

/// The record values of batches, as strings.
pub fn values(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.records()
                .unwrap()
                .iter()
                .map(|r| String::from_utf8(r.unwrap().value().unwrap().to_vec()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

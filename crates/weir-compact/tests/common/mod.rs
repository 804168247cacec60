//! Shared helpers for the cleaner tests: a data directory on a manual clock,
//! keyed appends, and the log as a consumer reads it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use weir_compact::{Cleaner, CleanerConfig};
use weir_log::{Clock, LogConfig, LogDir, LogDirOptions, ManualClock, PartitionLog};
use weir_record::{BatchBuilder, BatchOptions, Compression, CompressionConfig, Header, Record};

/// The start of the manual clock.
pub const T0: i64 = 1_700_000_000_000;

/// One record of the log: offset, key, value (None: tombstone), headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
    pub timestamp: i64,
}

/// Opens `path` with the background thread off and the given clock.
pub fn open(path: &Path, clock: &Arc<ManualClock>) -> Arc<LogDir> {
    let clock: Arc<dyn Clock> = clock.clone();
    Arc::new(
        LogDir::open_with(
            path,
            LogDirOptions {
                default_config: LogConfig::default(),
                clock,
                background_thread: false,
                ..LogDirOptions::default()
            },
        )
        .unwrap(),
    )
}

/// A fresh directory, a manual clock at [`T0`], and one compacted topic `t`
/// with `configs` on top of `cleanup.policy=compact`.
pub fn setup(configs: &[(&str, &str)]) -> (tempfile::TempDir, Arc<ManualClock>, Arc<LogDir>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let logs = open(dir.path(), &clock);
    let mut all = vec![("cleanup.policy", "compact")];
    all.extend_from_slice(configs);
    logs.create_topic("t", 1, &all).unwrap();
    (dir, clock, logs)
}

/// A cleaner with the default config and no threads.
pub fn cleaner(logs: &Arc<LogDir>) -> Cleaner {
    Cleaner::new(Arc::clone(logs), CleanerConfig::default()).unwrap()
}

/// Appends one batch of `(key, value)` records (None value: tombstone) stamped
/// with the log's clock.
pub fn put_batch(
    log: &PartitionLog,
    records: &[(Option<&str>, Option<&str>)],
    codec: Compression,
) -> i64 {
    let now = log.clock().now_ms();
    let mut b = BatchBuilder::new(BatchOptions {
        compression: CompressionConfig::new(codec),
        ..BatchOptions::default()
    });
    for (k, v) in records {
        let mut r = Record {
            timestamp: now,
            key: k.map(|k| bytes::Bytes::copy_from_slice(k.as_bytes())),
            value: v.map(|v| bytes::Bytes::copy_from_slice(v.as_bytes())),
            headers: Vec::new(),
        };
        if let Some(v) = v {
            r = r.with_header(Header::new("h", format!("for-{v}")));
        }
        b.append(&r).unwrap();
    }
    log.append(b.build().unwrap()).unwrap().base_offset
}

/// Appends one record.
pub fn put(log: &PartitionLog, key: &str, value: Option<&str>) -> i64 {
    put_batch(log, &[(Some(key), value)], Compression::None)
}

/// Every record of the log from its start, through fetch.
pub fn rows(log: &PartitionLog) -> Vec<Row> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let data = log.fetch(offset, 256 * 1024).unwrap();
        if data.is_empty() {
            break;
        }
        for item in data.batches() {
            let batch = item.unwrap().batch;
            for r in &batch.records().unwrap() {
                let r = r.unwrap();
                let s = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push(Row {
                    offset: r.offset(),
                    key: s(r.key()),
                    value: s(r.value()),
                    headers: r
                        .headers()
                        .map(|h| (String::from_utf8(h.key().to_vec()).unwrap(), s(h.value())))
                        .collect(),
                    timestamp: r.timestamp(),
                });
            }
        }
        offset = data.next_offset;
    }
    out
}

/// What a consumer reading the whole log ends up with: the latest value of
/// each key, tombstones removing.
pub fn fold(rows: &[Row]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for r in rows {
        if let Some(k) = &r.key {
            match &r.value {
                Some(v) => {
                    m.insert(k.clone(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
    }
    m
}

/// Names of the files of partition `t-0`.
pub fn files(logs: &LogDir) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(logs.path().join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A cleaner whose offset map holds one key: each pass ends after one key.
pub fn one_key_cleaner(logs: &Arc<LogDir>) -> Cleaner {
    let config = CleanerConfig::from_props([("log.cleaner.dedupe.buffer.size", "24")]).unwrap();
    Cleaner::new(Arc::clone(logs), config).unwrap()
}

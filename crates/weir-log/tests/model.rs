//! The log against a simple in-memory model: random sequences of append, fetch,
//! roll, flush, clean reopen and crash (with the unflushed tail cut at a random
//! byte) must leave the log equal to a prefix of the model that holds every
//! flushed batch.

mod common;

use std::fs;

use common::{NOW, batch, open, values};
use proptest::prelude::*;
use weir_log::{LogConfig, PartitionLog};

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_len: usize },
    Fetch { at: f64, max_bytes: usize },
    Roll,
    Flush,
    Reopen,
    Crash { cut: Option<f64> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..5, 0usize..300).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        3 => (0.0f64..1.0, 1usize..3000).prop_map(|(at, max_bytes)| Op::Fetch { at, max_bytes }),
        1 => Just(Op::Roll),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => proptest::option::of(0.0f64..1.0).prop_map(|cut| Op::Crash { cut }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct ModelBatch {
    base_offset: i64,
    last_offset: i64,
    values: Vec<String>,
}

fn snapshot(log: &PartitionLog) -> Vec<ModelBatch> {
    common::read_all(log)
        .into_iter()
        .map(|b| ModelBatch {
            base_offset: b.base_offset(),
            last_offset: b.last_offset(),
            values: values(std::slice::from_ref(&b)),
        })
        .collect()
}

fn config() -> LogConfig {
    common::small_config(1500)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), config(), true, 0);
        let mut model: Vec<ModelBatch> = Vec::new();
        let mut tag = 0u64;
        for op in ops {
            match op {
                Op::Append { records, value_len } => {
                    let info = log.append(batch(tag, records, value_len, NOW)).unwrap();
                    let expected_base = model.last().map_or(0, |b| b.last_offset + 1);
                    prop_assert_eq!(info.base_offset, expected_base);
                    let b = weir_record::RecordBatch::new(batch(tag, records, value_len, NOW)).unwrap();
                    model.push(ModelBatch {
                        base_offset: info.base_offset,
                        last_offset: info.last_offset,
                        values: values(&[b]),
                    });
                    tag += 1;
                }
                Op::Fetch { at, max_bytes } => {
                    let end = log.log_end_offset();
                    let offset = ((end as f64) * at) as i64;
                    let data = log.fetch(offset, max_bytes).unwrap();
                    let got: Vec<ModelBatch> = data
                        .batches()
                        .map(|b| {
                            let b = b.unwrap().batch;
                            ModelBatch {
                                base_offset: b.base_offset(),
                                last_offset: b.last_offset(),
                                values: values(std::slice::from_ref(&b)),
                            }
                        })
                        .collect();
                    if offset < end {
                        prop_assert!(!got.is_empty());
                        let first = model.iter().position(|b| b.last_offset >= offset).unwrap();
                        prop_assert_eq!(&got[..], &model[first..first + got.len()]);
                        let sizes: usize = data.records.len();
                        let first_size = data.batches().next().unwrap().unwrap().batch.size();
                        prop_assert!(sizes <= max_bytes.max(first_size));
                    } else {
                        prop_assert!(got.is_empty());
                    }
                }
                Op::Roll => log.roll().unwrap(),
                Op::Flush => log.flush().unwrap(),
                Op::Reopen => {
                    log.close().unwrap();
                    drop(log);
                    let (l, report) = open(dir.path(), config(), true, 0);
                    prop_assert_eq!(report.segments_recovered, 0);
                    log = l;
                }
                Op::Crash { cut } => {
                    let durable = log.recovery_point();
                    let active = log.segments().last().unwrap().clone();
                    drop(log);
                    let len = fs::metadata(&active.log_path).unwrap().len();
                    if let Some(f) = cut {
                        // Cut somewhere in the part written after the last flush.
                        let (log2, _) = open(dir.path(), config(), true, 0);
                        let kept_bytes: u64 = log2
                            .fetch(active.base_offset, usize::MAX)
                            .map(|d| {
                                d.batches()
                                    .map(|b| b.unwrap().batch)
                                    .take_while(|b| b.last_offset() < durable)
                                    .map(|b| b.size() as u64)
                                    .sum()
                            })
                            .unwrap_or(0);
                        drop(log2);
                        let at = kept_bytes + ((len - kept_bytes) as f64 * f) as u64;
                        let file = fs::OpenOptions::new().write(true).open(&active.log_path).unwrap();
                        file.set_len(at).unwrap();
                    }
                    let (l, _) = open(dir.path(), config(), false, durable);
                    log = l;
                    let got = snapshot(&log);
                    prop_assert!(got.len() <= model.len());
                    prop_assert_eq!(&got[..], &model[..got.len()]);
                    prop_assert!(log.log_end_offset() >= durable, "lost fsynced data");
                    if cut.is_none() {
                        prop_assert_eq!(got.len(), model.len(), "a process crash loses nothing written");
                    }
                    model.truncate(got.len());
                }
            }
        }
        prop_assert_eq!(snapshot(&log), model);
    }
}

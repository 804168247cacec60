//! A model check: random keyed appends and tombstones, rolls, cleans (with a
//! small offset map), retention of the log start offset, clock moves, clean
//! restarts and crashes. After every step, the log folded as a consumer reads
//! it equals the model's latest value per key, offsets only increase, and
//! the log end offset is the number of records appended.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use weir_compact::{Cleaner, CleanerConfig};
use weir_log::{LogDir, ManualClock};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Option<u16>),
    Roll,
    Clean,
    Advance(u32),
    Restart,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0u8..12, prop::option::weighted(0.85, any::<u16>())).prop_map(|(k, v)| Op::Put(k, v)),
        2 => Just(Op::Roll),
        3 => Just(Op::Clean),
        2 => (0u32..40_000).prop_map(Op::Advance),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
    ]
}

fn cleaner_for(logs: &Arc<LogDir>) -> Cleaner {
    // Room for 5 keys per pass, so big cleans take several.
    let config = CleanerConfig::from_props([("log.cleaner.dedupe.buffer.size", "140")]).unwrap();
    Cleaner::new(Arc::clone(logs), config).unwrap()
}

fn check(logs: &LogDir, model: &BTreeMap<String, String>, appended: i64) {
    let log = logs.partition("t", 0).unwrap();
    let rows = rows(&log);
    assert!(rows.windows(2).all(|w| w[0].offset < w[1].offset));
    assert_eq!(log.log_end_offset(), appended);
    assert_eq!(&fold(&rows), model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compaction_never_changes_what_a_reader_folds_to(ops in prop::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let mut logs = open(dir.path(), &clock);
        logs.create_topic("t", 1, &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "600"),
            ("delete.retention.ms", "30000"),
            ("min.compaction.lag.ms", "1000"),
        ]).unwrap();
        let mut cleaner = cleaner_for(&logs);
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        let mut appended = 0i64;
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    let key = format!("key-{k}");
                    let value = v.map(|v| format!("value-{v}"));
                    let log = logs.partition("t", 0).unwrap();
                    put(&log, &key, value.as_deref());
                    appended += 1;
                    match value {
                        Some(v) => { model.insert(key, v); }
                        None => { model.remove(&key); }
                    }
                }
                Op::Roll => logs.partition("t", 0).unwrap().roll().unwrap(),
                Op::Clean => {
                    while cleaner.clean_partition("t", 0).unwrap().is_some() {}
                }
                Op::Advance(ms) => clock.advance(i64::from(ms)),
                Op::Restart | Op::Crash => {
                    drop(cleaner);
                    if matches!(op, Op::Crash) {
                        logs.simulate_crash_for_test();
                    } else {
                        logs.close().unwrap();
                    }
                    drop(logs);
                    logs = open(dir.path(), &clock);
                    cleaner = cleaner_for(&logs);
                }
            }
            check(&logs, &model, appended);
        }
    }
}

//! A crash at every step of a cleaned segment's swap: the reopened log shows
//! either the old segments or the cleaned one, never a mix, loses no key's
//! latest value, and leaves no `.cleaned`, `.swap` or `.deleted` file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use weir_log::{ManualClock, SwapStep};

fn build(path: &std::path::Path, clock: &Arc<ManualClock>) -> Vec<Row> {
    let logs = open(path, clock);
    logs.create_topic(
        "t",
        1,
        &[("cleanup.policy", "compact"), ("segment.bytes", "1500")],
    )
    .unwrap();
    let log = logs.partition("t", 0).unwrap();
    for i in 0..120 {
        put(&log, &format!("k{}", i % 9), Some(&format!("v{i}")));
    }
    put(&log, "k3", None);
    log.roll().unwrap();
    put(&log, "k1", Some("in the active segment"));
    let rows = rows(&log);
    drop(log);
    logs.close().unwrap();
    rows
}

#[test]
fn a_crash_at_any_swap_step_loses_nothing() {
    for step in [SwapStep::Written, SwapStep::Committed, SwapStep::OldDeleted] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let original = build(dir.path(), &clock);

        let logs = open(dir.path(), &clock);
        let cleaner = cleaner(&logs);
        cleaner
            .clean_partition_until("t", 0, step)
            .unwrap()
            .unwrap();
        let leftovers = files(&logs);
        match step {
            SwapStep::Written => assert!(leftovers.iter().any(|f| f.ends_with(".cleaned"))),
            _ => assert!(
                leftovers.iter().any(|f| f.ends_with(".swap")),
                "{leftovers:?}"
            ),
        }
        drop(cleaner);
        logs.simulate_crash_for_test();
        drop(logs);

        let logs = open(dir.path(), &clock);
        let names = files(&logs);
        assert!(
            names.iter().all(|f| !f.ends_with(".cleaned")
                && !f.ends_with(".swap")
                && !f.ends_with(".deleted")),
            "{step:?}: {names:?}"
        );
        let log = logs.partition("t", 0).unwrap();
        let after = rows(&log);
        assert_eq!(fold(&after), fold(&original), "{step:?}");
        assert_eq!(log.log_end_offset(), original.last().unwrap().offset + 1);
        for r in &after {
            assert!(
                original.contains(r),
                "{step:?}: {r:?} is not an original record"
            );
        }
        if step == SwapStep::Written {
            assert_eq!(after, original, "before the commit point nothing changed");
        } else {
            assert!(
                after.len() < original.len(),
                "{step:?}: the swap was completed"
            );
        }
        // The log is whole: recovery after another crash validates it all,
        // and a full clean from here gives the same view as from the start.
        let cleaner = common::cleaner(&logs);
        while cleaner.clean_partition("t", 0).unwrap().is_some() {}
        assert_eq!(fold(&rows(&log)), fold(&original));
        drop(cleaner);
        drop(log);
        logs.simulate_crash_for_test();
        drop(logs);
        let logs = open(dir.path(), &clock);
        let log = logs.partition("t", 0).unwrap();
        assert_eq!(
            fold(&rows(&log)),
            fold(&original),
            "{step:?} after a second crash"
        );
    }
}

#[test]
fn a_crash_after_a_clean_recovers_the_cleaned_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let original = build(dir.path(), &clock);
    let logs = open(dir.path(), &clock);
    let cleaner = cleaner(&logs);
    cleaner.clean_partition("t", 0).unwrap().unwrap();
    let cleaned = rows(&logs.partition("t", 0).unwrap());
    drop(cleaner);
    logs.simulate_crash_for_test();
    drop(logs);
    let logs = open(dir.path(), &clock);
    for (_, report) in logs.recovery_reports() {
        assert_eq!(report.truncated_bytes, 0, "{report:?}");
    }
    let after = rows(&logs.partition("t", 0).unwrap());
    assert_eq!(after, cleaned);
    assert_eq!(fold(&after), fold(&original));
}

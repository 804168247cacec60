//! Fuzz target body for the `weir` clients over a damaged data directory: a
//! partition whose segment holds arbitrary bytes, opened by `Weir` after a
//! crash (or, by a flag, after a clean shutdown, when the files are trusted),
//! read to its end by a consumer that skips damage as an application would,
//! then rolled and compacted and read again. Shared by the cargo-fuzz binary
//! and the corpus replay test `crates/weir/tests/fuzz_corpus.rs`.
//!
//! Besides "never panics": a consumer returns offsets in increasing order and
//! never loops without moving on.

use std::time::Duration;

use weir::{ProducerRecord, TopicPartition, Weir, WeirError};

/// Input: flags byte (bit 0: clean shutdown; bit 1: `max.poll.records=1`;
/// bit 2: roll and compact after the first read; bit 3:
/// `isolation.level=read_committed`), 8 bytes of base offset (the segment's
/// file name), then the `.log` file of partition `t-0`.
pub fn consume_hostile(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((base, segment)) = rest.split_first_chunk::<8>() else {
        return;
    };
    // A file name holds 20 decimal digits; keep clear of the offset range's
    // top, which `log_recover` covers.
    let base_offset = i64::from_be_bytes(*base) & 0x0000_ffff_ffff_ffff;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let partition_dir = dir.path().join("t-0");
    std::fs::create_dir(&partition_dir).expect("a partition directory");
    std::fs::write(
        partition_dir.join(format!("{base_offset:020}.log")),
        segment,
    )
    .expect("writing the segment");
    if flags & 1 == 1 {
        std::fs::write(dir.path().join(".kafka_cleanshutdown"), b"").expect("the marker");
    }
    let Ok(weir) = Weir::builder(dir.path()).background_thread(false).open() else {
        return;
    };
    let max_poll_records = if flags & 2 != 0 { "1" } else { "500" };
    let isolation = if flags & 8 != 0 {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    read_to_end(&weir, max_poll_records, isolation);
    if flags & 4 != 0 {
        let admin = weir.admin();
        if admin
            .alter_config(
                "t",
                &[("cleanup.policy", "compact"), ("segment.bytes", "100")],
                &[],
            )
            .is_err()
        {
            return;
        }
        // A send rolls the damaged segment, so the cleaner may take it.
        if let Ok(producer) = weir.producer(&[("linger.ms", "0"), ("acks", "1")]) {
            let _ = producer
                .send(ProducerRecord::new("t", "after").key("k").partition(0))
                .and_then(|f| f.wait());
            producer.close();
        }
        let _ = weir.cleaner().clean_partition("t", 0);
        read_to_end(&weir, max_poll_records, isolation);
    }
}

/// Polls partition `t-0` from its start to its end offset (the high
/// watermark, or the last stable offset for `read_committed`), seeking past
/// each damaged offset reported.
fn read_to_end(weir: &Weir, max_poll_records: &str, isolation: &str) {
    let Ok(mut consumer) = weir.consumer(&[
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", max_poll_records),
        ("fetch.max.wait.ms", "0"),
        ("isolation.level", isolation),
    ]) else {
        return;
    };
    let tp = TopicPartition::new("t", 0);
    if consumer.assign(std::slice::from_ref(&tp)).is_err() {
        return;
    }
    let Ok(end) = consumer
        .end_offsets(std::slice::from_ref(&tp))
        .map(|ends| ends.first().map_or(0, |e| e.1))
    else {
        return;
    };
    let mut last: Option<i64> = None;
    let mut idle = 0;
    for _ in 0..5_000 {
        let before = consumer.position(&tp).ok();
        match consumer.poll(Duration::ZERO) {
            Ok(records) => {
                let mut any = false;
                for r in records.iter() {
                    if let Some(l) = last {
                        assert!(r.offset() > l, "offset {} returned after {l}", r.offset());
                    }
                    last = Some(r.offset());
                    any = true;
                    let _ = (r.key(), r.value(), r.timestamp(), r.headers().count());
                }
                let Ok(position) = consumer.position(&tp) else {
                    return;
                };
                if any {
                    assert!(
                        before.is_none_or(|b| position > b),
                        "records returned but the position stayed at {position}"
                    );
                }
                if position >= end {
                    return;
                }
                // Bytes trusted after a clean shutdown may hold offsets that no
                // fetch reaches; a few empty polls in a row end the read.
                idle = if any { 0 } else { idle + 1 };
                if idle > 3 {
                    return;
                }
            }
            Err(WeirError::Corrupt { offset, .. }) => {
                let position = consumer.position(&tp).unwrap_or(offset);
                let next = offset.max(position).saturating_add(1);
                if consumer.seek(&tp, next).is_err() {
                    return;
                }
                last = Some(last.map_or(next - 1, |l| l.max(next - 1)));
            }
            Err(_) => return,
        }
    }
}

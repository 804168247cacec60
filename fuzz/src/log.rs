//! Fuzz target bodies for `weir-log`'s decoders of files it finds on disk:
//! the `.index`, `.timeindex` and `.txnindex` entry formats and the checkpoint
//! text files. Shared by the cargo-fuzz binaries and the corpus replay test
//! `crates/weir-log/tests/fuzz_corpus.rs`.
//!
//! Besides "never panics": what parses re-encodes to the same bytes (indexes)
//! or formats and parses back to the same entries (checkpoints).

use weir_log::checkpoint::{
    format_leader_epoch_checkpoint, format_offset_checkpoint, parse_leader_epoch_checkpoint,
    parse_offset_checkpoint,
};
use weir_log::index::{
    encode_offset_index_entry, encode_time_index_entry, encode_txn_index_entry, parse_offset_index,
    parse_time_index, parse_txn_index,
};

/// The three index formats over the same bytes; the first 8 bytes are the
/// segment's base offset (from a file name, so anything a name can hold).
pub fn index_decode(data: &[u8]) {
    let Some((head, entries)) = data.split_first_chunk::<8>() else {
        return;
    };
    let base_offset = i64::from_be_bytes(*head);
    // A parsed entry's offset back to the relative one it was read from.
    let relative = |offset: i64| {
        offset
            .checked_sub(base_offset)
            .and_then(|r| i32::try_from(r).ok())
            .expect("a relative offset that fits")
    };
    if let Ok(parsed) = parse_offset_index(entries, base_offset) {
        let mut out = Vec::new();
        for e in &parsed {
            encode_offset_index_entry(relative(e.offset), e.position, &mut out);
        }
        assert!(out == entries, "offset index did not round-trip");
    }
    if let Ok(parsed) = parse_time_index(entries, base_offset) {
        let mut out = Vec::new();
        for e in &parsed {
            encode_time_index_entry(e.timestamp, relative(e.offset), &mut out);
        }
        assert!(out == entries, "time index did not round-trip");
    }
    if let Ok(parsed) = parse_txn_index(entries) {
        let mut out = Vec::new();
        for e in &parsed {
            encode_txn_index_entry(e, &mut out);
        }
        assert!(out == entries, "txn index did not round-trip");
    }
}

/// Checkpoint files (`recovery-point-offset-checkpoint` and the like, and
/// `leader-epoch-checkpoint`).
pub fn checkpoint_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entries) = parse_offset_checkpoint(text) {
        let formatted =
            format_offset_checkpoint(entries.iter().map(|(t, p, o)| (t.as_str(), *p, *o)));
        let again = parse_offset_checkpoint(&formatted).expect("our own checkpoint parses");
        assert!(again == entries, "offset checkpoint did not round-trip");
    }
    if let Ok(entries) = parse_leader_epoch_checkpoint(text) {
        let formatted = format_leader_epoch_checkpoint(&entries);
        let again = parse_leader_epoch_checkpoint(&formatted).expect("our own checkpoint parses");
        assert!(
            again == entries,
            "leader epoch checkpoint did not round-trip"
        );
    }
}

/// A partition directory holding one segment of arbitrary bytes, opened as a
/// process would after a crash (or, by the first byte, after a clean
/// shutdown), read to its end and appended to.
///
/// Input: flags byte (bit 0: clean shutdown; bits 1 and 2: an `.index`, a
/// `.timeindex` follows, each as a 2-byte length and its bytes; bit 3: the
/// whole segment was fsynced, and damage in it is cut off after a copy, as
/// `weir repair` does), 8 bytes of base offset (the segment's file name),
/// then the `.log` file. Recovered (unclean) logs must serve only CRC-valid
/// batches at increasing offsets; every outcome is a value or a typed error,
/// never a panic.
pub fn log_recover(data: &[u8]) {
    use std::sync::Arc;

    use weir_log::{LogConfig, ManualClock, OpenOptions, PartitionLog};
    use weir_record::{BatchBuilder, BatchOptions, Record};

    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((base, mut rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let mut part = |present: bool| -> Option<Vec<u8>> {
        if !present {
            return Some(Vec::new());
        }
        let (len, after) = rest.split_first_chunk::<2>()?;
        let (bytes, after) = after.split_at(usize::from(u16::from_be_bytes(*len)).min(after.len()));
        rest = after;
        Some(bytes.to_vec())
    };
    let (Some(index), Some(time_index)) = (part(flags & 2 != 0), part(flags & 4 != 0)) else {
        return;
    };
    let segment = rest;
    // File names hold 20 decimal digits: any non-negative i64.
    let base_offset = i64::from_be_bytes(*base) & i64::MAX;
    let clean = flags & 1 == 1;
    let fsynced = flags & 8 != 0;
    let copies = tempfile::tempdir().expect("a temporary directory");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let name = format!("{base_offset:020}");
    std::fs::write(dir.path().join(format!("{name}.log")), segment).expect("writing the segment");
    for (suffix, bytes) in [("index", &index), ("timeindex", &time_index)] {
        if !bytes.is_empty() {
            std::fs::write(dir.path().join(format!("{name}.{suffix}")), bytes)
                .expect("writing an index");
        }
    }
    let config = LogConfig::from_props([
        ("segment.bytes", "65536"),
        ("index.interval.bytes", "256"),
        ("message.timestamp.after.max.ms", "9223372036854775807"),
    ])
    .expect("a valid config");
    let Ok((log, _report)) = PartitionLog::open(
        dir.path(),
        "t",
        0,
        config,
        OpenOptions {
            clean_shutdown: clean,
            recovery_point: if fsynced {
                base_offset.saturating_add(1 << 40)
            } else {
                base_offset
            },
            log_start_offset: 0,
            clock: Arc::new(ManualClock::new(1_700_000_000_000)),
            damaged_segments_to: fsynced.then(|| copies.path().to_path_buf()),
        },
    ) else {
        return;
    };
    let read_all = |log: &PartitionLog| {
        let mut offset = log.log_start_offset();
        for _ in 0..10_000 {
            let Ok(fetched) = log.fetch(offset, 1 << 20) else {
                return;
            };
            if fetched.is_empty() {
                return;
            }
            for item in fetched.batches().verify_crc(!clean) {
                match item {
                    Ok(positioned) => {
                        let batch = positioned.batch;
                        if !clean {
                            assert!(
                                batch.last_offset() >= offset,
                                "a recovered log served batch {}..={} below the fetch offset {offset}",
                                batch.base_offset(),
                                batch.last_offset()
                            );
                        }
                    }
                    Err(e) => {
                        assert!(clean, "a recovered log served a damaged batch: {e}");
                        return;
                    }
                }
            }
            // (A batch holding i64::MAX ends the offset range.)
            assert!(
                fetched.next_offset > offset || offset == i64::MAX,
                "a fetch at {offset} did not move on"
            );
            if fetched.next_offset <= offset {
                return;
            }
            offset = fetched.next_offset;
        }
    };
    read_all(&log);
    for timestamp in [i64::MIN, 0, 1_700_000_000_000, i64::MAX] {
        if let Ok(Some(found)) = log.offset_for_timestamp(timestamp)
            && !clean
        {
            assert!(
                found.offset >= log.log_start_offset() && found.offset < log.log_end_offset(),
                "offset_for_timestamp({timestamp}) gave {} outside the log",
                found.offset
            );
        }
    }
    let mut builder = BatchBuilder::new(BatchOptions::default());
    builder
        .append(
            &Record::new("after recovery")
                .with_key("k")
                .with_timestamp(1_700_000_000_000),
        )
        .expect("a record");
    let end = log.log_end_offset();
    if let Ok(info) = log.append(builder.build().expect("a batch")) {
        assert_eq!(
            info.base_offset, end,
            "the append did not land at the log end"
        );
    }
    read_all(&log);
}

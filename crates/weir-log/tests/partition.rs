//! PartitionLog behaviour: append, fetch, indexes, time lookups, rolling,
//! validation, waiting readers, durability and the read-only latch.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::{NOW, batch, batch_with, open, open_with_clock, read_all, small_config, values};
use weir_log::index::parse_offset_index;
use weir_log::{LogConfig, LogError, ManualClock, verify_path};
use weir_record::{
    BatchBuilder, BatchOptions, Compression, EndTransactionMarker, RecordBatch, TimestampType,
};

/// Runs a future to completion on this thread (a minimal executor, no tokio).
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park_timeout(Duration::from_secs(10));
    }
}

/// A fresh log (clean open, recovery point 0) with [`small_config`] and these
/// configs set.
fn small_log(configs: &[(&str, &str)]) -> (tempfile::TempDir, weir_log::PartitionLog) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    for (k, v) in configs {
        config.set(k, v).unwrap();
    }
    let (log, _) = open(dir.path(), config, true, 0);
    (dir, log)
}

#[test]
fn append_assigns_offsets_and_fetch_returns_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let a = log.append(batch(1, 3, 20, NOW)).unwrap();
    let b = log.append(batch(2, 5, 20, NOW)).unwrap();
    assert_eq!((a.base_offset, a.last_offset), (0, 2));
    assert_eq!((b.base_offset, b.last_offset), (3, 7));
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.high_watermark(), 8);

    let data = log.fetch(0, 1 << 20).unwrap();
    let batches: Vec<RecordBatch> = data.batches().map(|b| b.unwrap().batch).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].base_offset(), 3);
    assert_eq!(batches[1].partition_leader_epoch(), 0);
    assert_eq!(data.next_offset, 8);
    assert_eq!(values(&batches)[3], "2-0-".to_string() + &"x".repeat(16));

    // An offset inside a batch returns that batch.
    let inside = log.fetch(5, 1 << 20).unwrap();
    assert_eq!(
        inside
            .batches()
            .next()
            .unwrap()
            .unwrap()
            .batch
            .base_offset(),
        3
    );
    // At the end: nothing, no error. Past it or before the start: the range.
    assert!(log.fetch(8, 1 << 20).unwrap().is_empty());
    let err = log.fetch(9, 1 << 20).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::OffsetOutOfRange {
                offset: 9,
                log_start_offset: 0,
                log_end_offset: 8,
                ..
            }
        ),
        "{err}"
    );
    assert!(log.fetch(-1, 10).is_err());
}

#[test]
fn fetch_returns_the_first_batch_whole_even_when_larger_than_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 10, 1000, NOW)).unwrap();
    log.append(batch(2, 1, 10, NOW)).unwrap();
    let data = log.fetch(0, 100).unwrap();
    let batches: Vec<_> = data.batches().map(|b| b.unwrap().batch).collect();
    assert_eq!(batches.len(), 1, "only the first, oversized batch");
    assert_eq!(batches[0].records_count(), 10);
    assert_eq!(data.next_offset, 10);
    // With room for both, both come.
    assert_eq!(log.fetch(0, 1 << 20).unwrap().batches().count(), 2);
}

#[test]
fn fetch_into_reads_into_the_callers_buffer_and_keeps_it_when_nothing_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    // Large enough (over 64 KiB) for the unzeroed read path, and small.
    for i in 0..40 {
        log.append(batch(i, 10, 200, NOW)).unwrap();
    }
    let whole = log.fetch(0, 1 << 20).unwrap();
    assert!(whole.records.len() > 64 * 1024);

    for (max, capacity) in [(1 << 20, 128 * 1024), (300, 8192)] {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(b"stale bytes");
        let at = buf.as_ptr();
        let data = log.fetch_into(0, max, &mut buf).unwrap();
        assert_eq!(data.records.as_ptr(), at, "read into the buffer given");
        assert_eq!(buf.capacity(), 0, "the buffer is taken");
        let plain = log.fetch(0, max).unwrap();
        assert_eq!(data, plain, "the same fetch as into a new buffer");
    }

    // A buffer too small (growing it would copy it) or far too large (the
    // bytes returned would pin it) is left with the caller; a new one is used.
    for capacity in [16, 1 << 20] {
        let mut buf = Vec::with_capacity(capacity);
        let at = buf.as_ptr();
        let data = log.fetch_into(0, 300, &mut buf).unwrap();
        assert_ne!(data.records.as_ptr(), at);
        assert_eq!(data, log.fetch(0, 300).unwrap());
        assert_eq!((buf.as_ptr(), buf.capacity()), (at, capacity));
    }
    let mut small = Vec::with_capacity(16);
    assert_eq!(log.fetch_into(0, 1 << 20, &mut small).unwrap(), whole);

    // Nothing to read at the end: the buffer stays with the caller.
    let mut buf = Vec::with_capacity(4096);
    let at = buf.as_ptr();
    let end = log
        .fetch_into(log.high_watermark(), 1 << 20, &mut buf)
        .unwrap();
    assert!(end.is_empty());
    assert_eq!((buf.as_ptr(), buf.capacity()), (at, 4096));
}

#[test]
fn rolls_on_segment_bytes_and_indexes_exactly_as_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(8 * 1024);
    let (log, _) = open(dir.path(), config.clone(), true, 0);
    let mut sizes = Vec::new();
    for i in 0..60u64 {
        let b = batch(
            i,
            1 + (i as usize % 4),
            90 + (i as usize * 37) % 300,
            NOW + i as i64,
        );
        sizes.push((b.len() as u64, 1 + (i % 4) as i64));
        log.append(b).unwrap();
    }
    let segments = log.segments();
    assert!(segments.len() > 3, "{} segments", segments.len());
    assert!(segments.iter().all(|s| s.size_bytes <= 8 * 1024));
    log.close().unwrap();

    // Kafka's rule, replayed from the batch sizes: an entry (last offset,
    // position) when more than index.interval.bytes were appended since the
    // last entry, never for a segment's first batch.
    let mut expected: Vec<Vec<(i64, u32)>> = Vec::new();
    let (mut seg_size, mut since, mut offset) = (0u64, 0u64, 0i64);
    let mut current: Vec<(i64, u32)> = Vec::new();
    let mut started = false;
    for (size, count) in sizes {
        if started && seg_size + size > 8 * 1024 {
            expected.push(std::mem::take(&mut current));
            seg_size = 0;
            since = 0;
        }
        started = true;
        if since > 512 {
            current.push((offset + count - 1, seg_size as u32));
            since = 0;
        }
        since += size;
        seg_size += size;
        offset += count;
    }
    expected.push(current);
    for (seg, want) in log.segments().iter().zip(&expected) {
        let bytes = std::fs::read(seg.log_path.with_extension("index")).unwrap();
        let got: Vec<(i64, u32)> = parse_offset_index(&bytes, seg.base_offset)
            .unwrap()
            .iter()
            .map(|e| (e.offset, e.position))
            .collect();
        assert_eq!(&got, want, "segment {}", seg.base_offset);
    }
    // The files pass Weir's own verifier (every index and time index entry
    // checked against the batches).
    verify_path(dir.path()).unwrap();

    // Reopened cleanly, every batch reads back the same.
    let (log, report) = open(dir.path(), config, true, 0);
    assert_eq!(report.segments_recovered, 0);
    assert_eq!(read_all(&log).len(), 60);
}

#[test]
fn index_lookup_and_full_scan_agree_for_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(16 * 1024), true, 0);
    for i in 0..80u64 {
        log.append(batch(i, 3, 150, NOW + i as i64)).unwrap();
    }
    for offset in 0..log.log_end_offset() {
        let data = log.fetch(offset, 1).unwrap();
        let b = data.batches().next().unwrap().unwrap().batch;
        assert!(
            b.base_offset() <= offset && offset <= b.last_offset(),
            "offset {offset}"
        );
    }
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(4 * 1024), true, 0);
    // Batch i holds 4 records with timestamps NOW + 10i .. NOW + 10i + 3.
    for i in 0..50u64 {
        let codec = if i % 2 == 0 {
            Compression::None
        } else {
            Compression::Lz4
        };
        log.append(batch_with(i, 4, 100, NOW + 10 * i as i64, codec))
            .unwrap();
    }
    for (ts, want) in [
        (NOW - 5, Some(0)),
        (NOW, Some(0)),
        (NOW + 2, Some(2)),
        (NOW + 4, Some(4)),
        (NOW + 253, Some(103)),
        (NOW + 493, Some(199)),
        (NOW + 494, None),
    ] {
        let got = log.offset_for_timestamp(ts).unwrap().map(|t| t.offset);
        assert_eq!(got, want, "timestamp {ts}");
    }
    let max = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((max.timestamp, max.offset), (NOW + 493, 199));
}

#[test]
fn log_append_time_is_stamped_with_a_valid_crc() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW + 1000);
    let mut config = small_config(1 << 20);
    config
        .set("message.timestamp.type", "LogAppendTime")
        .unwrap();
    let (log, _) = open_with_clock(dir.path(), config, true, 0, Arc::new(clock.clone()));
    let info = log.append(batch(1, 3, 10, NOW)).unwrap();
    assert_eq!(info.log_append_time, Some(NOW + 1000));
    let b = log
        .fetch(0, 1 << 20)
        .unwrap()
        .batches()
        .next()
        .unwrap()
        .unwrap()
        .batch;
    assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(b.max_timestamp(), NOW + 1000);
    for r in &b.records().unwrap() {
        assert_eq!(r.unwrap().timestamp(), NOW + 1000);
    }
}

#[test]
fn bad_batches_are_rejected_with_typed_errors_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.set("max.message.bytes", "2000").unwrap();
    config
        .set("message.timestamp.after.max.ms", "3600000")
        .unwrap();
    let (log, _) = open(dir.path(), config, true, 0);

    let mut corrupt = batch(1, 2, 10, NOW).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        log.append(corrupt.into()),
        Err(LogError::InvalidBatch { .. })
    ));

    let err = log.append(batch(1, 30, 100, NOW)).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::BatchTooLarge {
                max: 2000,
                config: "max.message.bytes",
                ..
            }
        ),
        "{err}"
    );

    let marker = BatchBuilder::end_transaction_marker(
        BatchOptions {
            producer_id: 7,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        EndTransactionMarker::commit(0),
        NOW,
    )
    .unwrap();
    let err = log.append(marker).unwrap_err();
    assert!(err.to_string().contains("control"), "{err}");

    let err = log
        .append(batch(1, 1, 10, NOW + 2 * 3_600_000))
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::InvalidTimestamp {
                config: "message.timestamp.after.max.ms",
                ..
            }
        ),
        "{err}"
    );

    assert!(matches!(
        log.append(vec![0u8; 30].into()),
        Err(LogError::InvalidBatch { .. })
    ));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}

#[test]
fn topic_compression_recompresses_keeping_every_record() {
    let (_dir, log) = small_log(&[("compression.type", "zstd")]);
    let original = RecordBatch::new(batch(4, 20, 50, NOW)).unwrap();
    log.append(original.as_bytes().clone()).unwrap();
    let stored = log
        .fetch(0, 1 << 20)
        .unwrap()
        .batches()
        .next()
        .unwrap()
        .unwrap()
        .batch;
    assert_eq!(stored.compression().unwrap(), Compression::Zstd);
    assert_eq!(stored.max_timestamp(), original.max_timestamp());
    assert_eq!(values(&[stored]), values(&[original]));
}

#[test]
fn rolls_on_segment_ms_and_on_a_full_index() {
    let (_dir, log) = small_log(&[("segment.ms", "60000")]);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    log.append(batch(2, 1, 10, NOW + 60_000)).unwrap();
    assert_eq!(
        log.segments().len(),
        1,
        "exactly segment.ms old does not roll"
    );
    log.append(batch(3, 1, 10, NOW + 60_001)).unwrap();
    assert_eq!(log.segments().len(), 2);
    assert_eq!(log.segments()[1].base_offset, 2);

    let (_dir, log) = small_log(&[("segment.index.bytes", "16")]);
    for i in 0..12 {
        log.append(batch(i, 1, 600, NOW)).unwrap();
    }
    let segs = log.segments();
    assert!(segs.len() >= 3, "{segs:?}");
    assert!(segs.iter().all(|s| s.index_entries <= 2));
}

#[test]
fn a_waiting_reader_wakes_on_append_blocking_and_async() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let log = Arc::new(log);

    let (tx, rx) = std::sync::mpsc::channel();
    let reader = Arc::clone(&log);
    thread::spawn(move || {
        tx.send(reader.fetch_wait(0, 1 << 20, Duration::from_secs(30)))
            .unwrap();
    });
    let future_reader = Arc::clone(&log);
    let waiter = thread::spawn(move || block_on(future_reader.data_available(1)));
    // Give the readers a chance to park, then append; they must wake.
    log.append(batch(1, 1, 10, NOW)).unwrap();
    let data = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    assert_eq!(
        data.batches().next().unwrap().unwrap().batch.base_offset(),
        0
    );
    log.append(batch(2, 1, 10, NOW)).unwrap();
    waiter.join().unwrap();
    assert!(log.wait_for_data(0, Instant::now()));
    assert!(!log.wait_for_data(2, Instant::now() + Duration::from_millis(1)));
}

#[test]
fn concurrent_readers_see_every_batch_in_order_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(64 * 1024), true, 0);
    let log = Arc::new(log);
    const BATCHES: u64 = 600;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let mut offset = 0;
                let mut seen = 0u64;
                while seen < BATCHES {
                    let data = log
                        .fetch_wait(offset, 4096, Duration::from_secs(30))
                        .unwrap();
                    for b in data.batches() {
                        let b = b.unwrap().batch;
                        assert_eq!(b.base_offset(), offset, "gap or reorder");
                        let records = b.records().unwrap();
                        let first = records.iter().next().unwrap().unwrap();
                        assert!(
                            first
                                .value()
                                .unwrap()
                                .starts_with(format!("{seen}-0-").as_bytes())
                        );
                        offset = b.last_offset() + 1;
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..BATCHES {
        log.append(batch(i, 2, 100, NOW)).unwrap();
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), BATCHES);
    }
}

#[test]
fn concurrent_acks_all_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let log = Arc::new(log);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for i in 0..25 {
                    let info = log.append(batch(t * 100 + i, 1, 50, NOW)).unwrap();
                    log.flush_until(info.last_offset + 1).unwrap();
                    assert!(log.recovery_point() > info.last_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(log.log_end_offset(), 200);
    assert_eq!(log.recovery_point(), 200);
    assert!(log.flush_rounds() <= 200, "{} rounds", log.flush_rounds());
    // The async form resolves once durable.
    log.append(batch(9, 1, 10, NOW)).unwrap();
    block_on(log.durable(201)).unwrap();
    assert_eq!(log.recovery_point(), 201);
}

#[test]
fn a_failed_fsync_turns_the_partition_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    log.flush().unwrap();
    let durable = log.recovery_point();
    log.append(batch(2, 1, 10, NOW)).unwrap();
    log.inject_fsync_failure();
    let err = log.flush().unwrap_err();
    assert!(err.is_read_only(), "{err}");
    assert_eq!(
        log.recovery_point(),
        durable,
        "nothing after the failure is durable"
    );
    let err = log.append(batch(3, 1, 10, NOW)).unwrap_err();
    assert!(err.is_read_only(), "{err}");
    assert!(err.to_string().contains("injected fsync failure"), "{err}");
    // Reads go on.
    assert_eq!(read_all(&log).len(), 2);
}

#[test]
fn a_failed_write_turns_the_partition_read_only() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("t-0");
    std::fs::create_dir_all(&part).unwrap();
    // The first segment's file is /dev/full: every write fails with ENOSPC.
    std::os::unix::fs::symlink("/dev/full", part.join("00000000000000000000.log")).unwrap();
    let (log, _) = open(&part, small_config(1 << 20), true, 0);
    let err = log.append(batch(1, 1, 10, NOW)).unwrap_err();
    assert!(err.is_read_only(), "{err}");
    assert_eq!(
        log.log_end_offset(),
        0,
        "a failed write is not acknowledged"
    );
    assert!(log.append(batch(2, 1, 10, NOW)).unwrap_err().is_read_only());
}

#[test]
fn close_then_reopen_cleanly_keeps_everything_without_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(4096), true, 0);
    for i in 0..40 {
        log.append(batch(i, 2, 120, NOW + i as i64)).unwrap();
    }
    let before = values(&read_all(&log));
    assert_eq!(log.close().unwrap(), 80);
    assert!(matches!(
        log.append(batch(99, 1, 1, NOW)),
        Err(LogError::Closed { .. })
    ));
    let (log, report) = open(dir.path(), small_config(4096), true, 0);
    assert_eq!(report.segments_recovered, 0);
    assert_eq!(log.log_end_offset(), 80);
    assert_eq!(values(&read_all(&log)), before);
    let info = log.append(batch(100, 1, 10, NOW + 100)).unwrap();
    assert_eq!(info.base_offset, 80);
    // The time index survives the reopen.
    // Batch 19 holds offsets 38 and 39 with timestamps NOW + 19 and NOW + 20.
    assert_eq!(
        log.offset_for_timestamp(NOW + 20).unwrap().unwrap().offset,
        39
    );
}

#[test]
fn deleting_old_segments_moves_the_log_start_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(2048), true, 0);
    for i in 0..30 {
        log.append(batch(i, 2, 150, NOW + i as i64)).unwrap();
    }
    let segs = log.segments();
    let third = segs[2].base_offset;
    let deleted = log
        .delete_oldest_segments(|s| s.base_offset < third)
        .unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(log.log_start_offset(), third);
    assert!(matches!(
        log.fetch(0, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    for d in deleted {
        assert!(
            d.files
                .iter()
                .all(|f| f.to_string_lossy().ends_with(".deleted"))
        );
        d.delete_files().unwrap();
    }
    // Everything expired: a new active segment is rolled first, so the log end
    // offset stays.
    let end = log.log_end_offset();
    log.delete_oldest_segments(|_| true).unwrap();
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.append(batch(50, 1, 10, NOW)).unwrap().base_offset, end);

    // DeleteRecords moves the start inside a segment; past the high watermark it is refused.
    assert_eq!(log.advance_log_start_offset(end + 1).unwrap(), end + 1);
    assert!(matches!(
        log.advance_log_start_offset(end + 5),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn configs_take_effect_on_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    log.set_config(LogConfig::from_props([("segment.bytes", "100")]).unwrap());
    log.append(batch(2, 1, 10, NOW)).unwrap();
    assert_eq!(log.segments().len(), 2);
}

fn idempotent_batch(producer_id: i64, epoch: i16, base_sequence: i32, n: usize) -> bytes::Bytes {
    let mut b = BatchBuilder::new(BatchOptions {
        producer_id,
        producer_epoch: epoch,
        base_sequence,
        ..BatchOptions::default()
    });
    for i in 0..n {
        b.append(&weir_record::Record::new(format!("v{i}")).with_timestamp(NOW))
            .unwrap();
    }
    b.build().unwrap()
}

#[test]
fn idempotent_producers_get_duplicates_acknowledged_and_gaps_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let first = log.append(idempotent_batch(5, 0, 0, 3)).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (0, 2, false)
    );
    log.append(idempotent_batch(5, 0, 3, 2)).unwrap();
    // A retry of the first batch: its original offsets, nothing appended.
    let retry = log.append(idempotent_batch(5, 0, 0, 3)).unwrap();
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (0, 2, true)
    );
    assert_eq!(log.log_end_offset(), 5);
    let err = log.append(idempotent_batch(5, 0, 9, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::OutOfOrderSequence {
                sequence: 9,
                expected: 5,
                ..
            }
        ),
        "{err}"
    );
    // A new epoch starts at 0; the old epoch is fenced from then on.
    log.append(idempotent_batch(5, 1, 0, 1)).unwrap();
    let err = log.append(idempotent_batch(5, 0, 5, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::ProducerFenced {
                current_epoch: 1,
                ..
            }
        ),
        "{err}"
    );
    // Other producers are independent.
    assert_eq!(
        log.append(idempotent_batch(6, 0, 0, 1))
            .unwrap()
            .base_offset,
        6
    );
}

/// Retention may rename and unlink a rolled segment before the flush that
/// owes it an fsync runs (`file.delete.delay.ms=0`): the flush must not fail
/// on the missing files and turn the partition read-only.
#[test]
fn a_rolled_segment_deleted_before_its_fsync_does_not_fail_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    for i in 0..8 {
        log.append(batch(i, 2, 300, NOW)).unwrap();
    }
    log.roll().unwrap();
    log.append(batch(9, 1, 10, NOW)).unwrap();
    let deleted = log.delete_oldest_segments(|s| !s.is_active).unwrap();
    assert_eq!(deleted.len(), 1);
    for d in deleted {
        d.delete_files().unwrap();
    }
    log.flush().unwrap();
    log.append(batch(10, 1, 10, NOW)).unwrap();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

/// A control batch whose timestamp passes the target holds no record to
/// return: the search goes on with the next batch of the same segment, as
/// Kafka's `FileRecords.searchForTimestamp` does.
#[test]
fn offset_for_timestamp_looks_past_a_control_batch_in_the_same_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 1, 10, NOW + 100)).unwrap();
    let marker = BatchBuilder::end_transaction_marker(
        BatchOptions {
            producer_id: 7,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        EndTransactionMarker::commit(0),
        NOW + 300,
    )
    .unwrap();
    log.append_as(marker, weir_log::AppendOrigin::Coordinator)
        .unwrap();
    let data = log.append(batch(2, 1, 10, NOW + 400)).unwrap();
    assert_eq!(log.segments().len(), 1);
    let found = log.offset_for_timestamp(NOW + 250).unwrap().unwrap();
    assert_eq!(
        (found.offset, found.timestamp),
        (data.base_offset, NOW + 400)
    );
    assert_eq!(
        log.offset_for_timestamp(NOW + 100)
            .unwrap()
            .map(|t| t.offset),
        Some(0)
    );
    assert_eq!(log.offset_for_timestamp(NOW + 401).unwrap(), None);
}

/// `segment.ms` counts from the first batch's timestamp, also after a clean
/// reopen (Kafka's `LogSegment` loads it from the first batch): a rarely
/// written log reopened more often than `segment.ms` still rolls.
#[test]
fn segment_ms_counts_from_the_first_batch_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.set("segment.ms", "3600000").unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let (log, _) = open_with_clock(dir.path(), config.clone(), true, 0, clock.clone());
    log.append(batch(1, 1, 10, NOW)).unwrap();
    log.close().unwrap();
    drop(log);

    clock.advance(2 * 3_600_000);
    let (log, _) = open_with_clock(dir.path(), config, true, 1, clock.clone());
    log.append(batch(2, 1, 10, NOW + 2 * 3_600_000)).unwrap();
    let segments = log.segments();
    assert_eq!(segments.len(), 2, "{segments:?}");
    assert_eq!(segments[1].base_offset, 1);
}

/// `usize::MAX` means "no limit": a fetch at a batch past the start of its
/// segment must not overflow adding it to the batch's position.
#[test]
fn a_fetch_with_no_byte_limit_past_the_segment_start_returns_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    for i in 0..5 {
        log.append(batch(i, 2, 50, NOW)).unwrap();
    }
    for offset in [0, 3, 8, 9] {
        let data = log.fetch(offset, usize::MAX).unwrap();
        assert_eq!(data.next_offset, 10, "offset {offset}");
        let first = data.batches().next().unwrap().unwrap().batch;
        assert!(first.base_offset() <= offset && offset <= first.last_offset());
    }
}

#[test]
fn a_compacted_topic_refuses_records_without_a_key() {
    let (_dir, log) = small_log(&[("cleanup.policy", "compact")]);
    log.append(batch(1, 3, 10, NOW)).unwrap(); // keyed
    let mut keyless = BatchBuilder::new(BatchOptions::default());
    keyless
        .append(&weir_record::Record::new("v").with_timestamp(NOW))
        .unwrap();
    let err = log.append(keyless.build().unwrap()).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidBatch { .. }) && err.to_string().contains("no key"),
        "{err}"
    );
    assert_eq!(
        log.log_end_offset(),
        3,
        "nothing of the refused batch written"
    );
}

#[test]
fn an_emptied_control_batch_is_accepted_recovered_and_verified() {
    // The cleaner leaves a marker whose horizon passed as an empty header;
    // Kafka treats it as already cleaned.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    let mut empty = BatchBuilder::new(BatchOptions {
        control: true,
        transactional: true,
        producer_id: 7,
        producer_epoch: 0,
        ..BatchOptions::default()
    });
    empty.set_last_offset_delta(0).unwrap();
    empty.set_max_timestamp(NOW);
    log.append_as(empty.build().unwrap(), weir_log::AppendOrigin::Coordinator)
        .unwrap();
    log.append(batch(2, 1, 10, NOW)).unwrap();
    log.flush().unwrap();
    verify_path(dir.path()).unwrap();
    drop(log);
    // Recovered from offset 0 after an unclean shutdown: nothing is cut.
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn a_compacted_topic_rolls_by_max_compaction_lag_ms() {
    let (_dir, log) = small_log(&[
        ("cleanup.policy", "compact"),
        ("max.compaction.lag.ms", "60000"),
    ]);
    log.append(batch(1, 1, 10, NOW)).unwrap();
    log.append(batch(2, 1, 10, NOW + 60_001)).unwrap();
    assert_eq!(
        log.segments().len(),
        2,
        "segment.ms (7 days) alone would not roll"
    );
}

#[test]
fn append_built_takes_the_builders_batches_with_every_other_check() {
    let (dir, log) = small_log(&[("cleanup.policy", "compact")]);
    let built = |key: Option<&str>| {
        let mut b = BatchBuilder::new(BatchOptions::default());
        let mut r = weir_record::Record::new("v").with_timestamp(NOW);
        if let Some(k) = key {
            r = r.with_key(k.to_string());
        }
        b.append(&r).unwrap();
        b.build_batch().unwrap()
    };
    assert_eq!(log.append_built(built(Some("k"))).unwrap().base_offset, 0);
    // A compacted topic still checks for keys.
    assert!(log.append_built(built(None)).is_err());
    // The timestamp checks still run.
    let mut old = BatchBuilder::new(BatchOptions::default());
    old.append(
        &weir_record::Record::new("v")
            .with_key("k")
            .with_timestamp(0),
    )
    .unwrap();
    let mut config = small_config(1 << 20);
    config
        .set("message.timestamp.before.max.ms", "1000")
        .unwrap();
    log.set_config(config);
    assert!(matches!(
        log.append_built(old.build_batch().unwrap()),
        Err(LogError::InvalidTimestamp { .. })
    ));
    assert_eq!(log.log_end_offset(), 1);
    // Whatever it took survives recovery from offset 0.
    drop(log);
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    assert_eq!(log.log_end_offset(), 1);
}

/// Fetches racing retention: a fetch of an offset whose segment retention
/// deletes meanwhile is out of range (or reads that offset), never data from a
/// later offset that skips records without a word.
#[test]
fn a_fetch_racing_retention_never_skips_to_a_later_offset() {
    let (_dir, log) = small_log(&[]);
    let log = Arc::new(log);
    for i in 0..400 {
        log.append(batch(i, 2, 10, NOW)).unwrap();
        log.roll().unwrap();
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (log, done) = (Arc::clone(&log), Arc::clone(&done));
        thread::spawn(move || {
            let mut checked = 0u64;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let offset = log.log_start_offset();
                if let Ok(data) = log.fetch(offset, 1024)
                    && let Some(first) = data.batches().next()
                {
                    let first = first.unwrap().batch;
                    assert!(
                        first.base_offset() <= offset && offset <= first.last_offset(),
                        "fetch of {offset} returned {}..={}",
                        first.base_offset(),
                        first.last_offset()
                    );
                    checked += 1;
                }
            }
            checked
        })
    };
    for _ in 0..399 {
        let mut first = true;
        log.delete_oldest_segments(|_| std::mem::take(&mut first))
            .unwrap();
        thread::yield_now();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.join().unwrap() > 0);
}

/// Review finding: `segment.jitter.ms` at or above `segment.ms` made every
/// append roll; Kafka's jitter stays below `segment.ms`.
#[test]
fn a_jitter_as_large_as_segment_ms_does_not_roll_every_append() {
    let (_dir, log) = small_log(&[("segment.ms", "1000"), ("segment.jitter.ms", "5000")]);
    for i in 0..10 {
        log.append(batch(i, 1, 20, NOW)).unwrap();
    }
    assert_eq!(log.segments().len(), 1);
}

/// Review finding: a roll that failed half-way left the new segment's
/// `.log` behind; appends went on into the old segment past that base, and
/// after a restart those records were cut off. The half-made files go.
#[test]
fn a_failed_roll_leaves_no_segment_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    log.append(batch(1, 1, 20, NOW)).unwrap();
    // The next segment's time index cannot be created (as with no file
    // descriptor left at that moment).
    let blocker = dir.path().join("00000000000000000001.timeindex");
    std::fs::create_dir(&blocker).unwrap();
    assert!(log.roll().is_err());
    assert!(!dir.path().join("00000000000000000001.log").exists());
    if let Ok(b) = log.append(batch(2, 1, 20, NOW)) {
        assert_eq!(b.base_offset, 1);
        log.flush_until(2).unwrap();
        log.close().unwrap();
        std::fs::remove_dir(&blocker).unwrap();
        let (log, _) = open(dir.path(), small_config(1 << 20), true, 2);
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(values(&read_all(&log)).len(), 2);
    }
}

/// Review 13: retention published the shorter segment list before it moved
/// the log start. A fetch between the two found its offset gone, but its
/// `OffsetOutOfRange` named the old log start, at or below the offset asked
/// for, so a reader could not tell where to go on (a bounded read that
/// should skip ahead failed). The log start now moves first. A race: with
/// the old order this test failed within its 1.5 s in each of three runs;
/// with the new one it cannot fail.
#[test]
fn a_fetch_racing_retention_is_told_where_the_log_now_begins() {
    let (_dir, log) = small_log(&[("segment.bytes", "1024")]);
    let log = Arc::new(log);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        thread::spawn(move || {
            let mut checked = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let asked = log.log_start_offset();
                match log.fetch(asked, 1) {
                    Ok(_) => {}
                    Err(LogError::OffsetOutOfRange {
                        log_start_offset, ..
                    }) => {
                        assert!(
                            log_start_offset > asked,
                            "offset {asked} is gone, but the log is said to start at {log_start_offset}"
                        );
                        checked += 1;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            checked
        })
    };
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut tag = 0;
    while Instant::now() < deadline {
        for _ in 0..8 {
            tag += 1;
            log.append(batch(tag, 1, 200, NOW)).unwrap();
        }
        log.delete_oldest_segments(|s| !s.is_active).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
}

/// Review 14, finding 3: the largest timestamp was looked up among data
/// records only, at or after the log start, so a COMMIT marker written after
/// its data (the usual case) or a record below the log start that held the
/// largest timestamp gave "no record" for a partition holding records. As
/// Kafka, the marker is the answer when it has the largest timestamp;
/// otherwise the readable record with the largest timestamp is.
#[test]
fn max_timestamp_is_a_marker_or_a_readable_record_never_none() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let mut txn = BatchBuilder::new(BatchOptions {
        transactional: true,
        producer_id: 7,
        producer_epoch: 0,
        base_sequence: 0,
        ..BatchOptions::default()
    });
    txn.append(&weir_record::Record::new("v").with_timestamp(NOW + 1000))
        .unwrap();
    log.append(txn.build().unwrap()).unwrap();
    let marker = BatchBuilder::end_transaction_marker(
        BatchOptions {
            producer_id: 7,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        EndTransactionMarker::commit(0),
        NOW + 2000,
    )
    .unwrap();
    log.append_as(marker, weir_log::AppendOrigin::Coordinator)
        .unwrap();
    let max = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (1, NOW + 2000));

    // Records after the marker, the largest timestamp first; then the log
    // start moves past the marker and that record.
    log.append(batch(1, 1, 10, NOW + 5000)).unwrap(); // offset 2
    log.append(batch(2, 3, 10, NOW + 3000)).unwrap(); // offsets 3..=5
    let max = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (2, NOW + 5000));
    log.advance_log_start_offset(4).unwrap();
    let max = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (5, NOW + 3002));
    // A tie goes to the first record that reaches it.
    log.append(batch(3, 2, 10, NOW + 3001)).unwrap(); // offsets 6, 7
    let max = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp), (5, NOW + 3002));
    log.advance_log_start_offset(8).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), None);
}

/// Review 14 (final), finding 3: once the record with the largest timestamp
/// is below the log start, a readable record without a timestamp (-1) is not
/// the partition's largest timestamp: the answer is none, as for a log that
/// never held the other.
#[test]
fn max_timestamp_never_answers_a_record_without_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), true, 0);
    let mut b = BatchBuilder::new(BatchOptions::default());
    b.append(&weir_record::Record::new("a").with_timestamp(NOW))
        .unwrap();
    b.append(&weir_record::Record::new("b").with_timestamp(-1))
        .unwrap();
    log.append(b.build().unwrap()).unwrap();
    let found = log.max_timestamp_and_offset().unwrap().unwrap();
    assert_eq!((found.offset, found.timestamp), (0, NOW));
    log.advance_log_start_offset(1).unwrap();
    assert_eq!(log.max_timestamp_and_offset().unwrap(), None);
}

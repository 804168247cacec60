//! The append path checks records as recovery does: a CRC-valid batch whose
//! records do not decode is refused, so that recovery never drops an
//! acknowledged batch (and everything after it) as a torn tail.

mod common;

use common::{NOW, batch, batch_with, open, read_all, small_config};
use weir_log::LogError;
use weir_record::layout::{CRC, CRC_START, RECORDS as RECORDS_START};
use weir_record::varint::decode_varint;
use weir_record::{Compression, RecordBatch, crc32c};

/// Recomputes a batch's CRC-32C after its bytes were changed.
fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32c(&bytes[CRC_START..]);
    bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

fn assert_refused(log: &weir_log::PartitionLog, bytes: Vec<u8>) {
    let bytes = bytes::Bytes::from(bytes);
    let view = RecordBatch::new(bytes.clone()).unwrap();
    view.validate_crc().unwrap();
    let end = log.log_end_offset();
    let size = log.size_bytes();
    let err = log.append(bytes).unwrap_err();
    assert!(matches!(err, LogError::InvalidBatch { .. }), "{err}");
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.size_bytes(), size);
}

#[test]
fn a_crc_valid_batch_with_a_broken_record_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), small_config(1 << 20), false, 0);
    log.append(batch(0, 2, 10, NOW)).unwrap();

    // The first record's length varint: five bytes with the continuation bit
    // set is longer than any varint may be.
    let mut bad = batch(1, 2, 10, NOW).to_vec();
    bad[RECORDS_START..RECORDS_START + 5].fill(0xff);
    fix_crc(&mut bad);
    assert_refused(&log, bad);

    // A record whose offset delta puts it past the batch's last offset.
    let mut bad = batch(2, 1, 10, NOW).to_vec();
    let (_, len_bytes) = decode_varint(&bad[RECORDS_START..]).unwrap();
    // length, attributes (1 byte), timestamp delta 0 (1 byte), offset delta.
    let delta_at = RECORDS_START + len_bytes + 2;
    assert_eq!(bad[delta_at], 0, "offset delta 0 expected");
    bad[delta_at] = 2; // zigzag 1: offset 1 in a batch whose last offset is 0
    fix_crc(&mut bad);
    assert_refused(&log, bad);

    // A compressed batch whose payload does not decompress.
    let mut bad = batch_with(3, 20, 50, NOW, Compression::Lz4).to_vec();
    let len = bad.len();
    bad[RECORDS_START + 8..len]
        .iter_mut()
        .for_each(|b| *b ^= 0x5a);
    fix_crc(&mut bad);
    assert_refused(&log, bad);

    log.append(batch(4, 1, 10, NOW)).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    drop(log);
    let (log, report) = open(dir.path(), small_config(1 << 20), false, 0);
    assert_eq!(report.truncated_bytes, 0, "{report:?}");
    assert_eq!(log.log_end_offset(), 3);
}

/// Flips random bytes of the records section of batches (fixing the CRC), and
/// appends them among good ones: whatever the log accepts must survive an
/// unclean reopen that recovers everything (recovery point 0).
#[test]
fn whatever_append_accepts_survives_unclean_recovery_from_offset_zero() {
    let seed = std::env::var("WEIR_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001_u64);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(8 * 1024);
    let (log, _) = open(dir.path(), config.clone(), false, 0);
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut accepted = 0usize;
    let mut refused = 0usize;
    for i in 0..400u64 {
        let codec = codecs[rng.usize(..codecs.len())];
        let mut bytes = batch_with(i, 1 + rng.usize(..4), 8 + rng.usize(..40), NOW, codec).to_vec();
        if rng.bool() {
            for _ in 0..1 + rng.usize(..3) {
                let at = rng.usize(RECORDS_START..bytes.len());
                bytes[at] ^= 1 << rng.u8(..8);
            }
            fix_crc(&mut bytes);
        }
        match log.append(bytes.into()) {
            Ok(_) => accepted += 1,
            Err(LogError::InvalidBatch { .. }) => refused += 1,
            Err(e) => panic!("seed {seed:#x}: unexpected error {e}"),
        }
    }
    let written = batches_as_stored(&log);
    assert_eq!(written.len(), accepted, "seed {seed:#x}");
    let end = log.log_end_offset();
    // The process dies: nothing is closed; the OS keeps what was written.
    drop(log);
    let (log, report) = open(dir.path(), config, false, 0);
    assert_eq!(
        report.truncated_bytes, 0,
        "seed {seed:#x}: recovery dropped acknowledged batches: {report:?}"
    );
    assert_eq!(log.log_end_offset(), end, "seed {seed:#x}");
    let recovered = read_all(&log);
    assert_eq!(recovered.len(), written.len(), "seed {seed:#x}");
    for (r, w) in recovered.iter().zip(&written) {
        assert_eq!(r.as_bytes(), w.as_bytes(), "seed {seed:#x}");
    }
    assert!(refused > 0, "seed {seed:#x}: no damaged batch was refused");
}

/// Every batch from the log start, CRC-checked but with records not decoded.
fn batches_as_stored(log: &weir_log::PartitionLog) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    loop {
        let data = log.fetch(offset, 64 * 1024).unwrap();
        if data.is_empty() {
            return out;
        }
        out.extend(data.batches().map(|b| b.unwrap().batch));
        offset = data.next_offset;
    }
}

/// A batch of records at these timestamps (milliseconds), CreateTime.
fn timed(timestamps: &[i64]) -> weir_record::BatchBuilder {
    let mut b = weir_record::BatchBuilder::new(weir_record::BatchOptions::default());
    for (i, t) in timestamps.iter().enumerate() {
        b.append(&weir_record::Record::new(format!("v{i}")).with_timestamp(*t))
            .unwrap();
    }
    b
}

/// As Kafka's `LogValidator`: every record's timestamp is held against
/// `message.timestamp.before.max.ms` / `after.max.ms` on a CreateTime topic,
/// not only the first and the largest; records without one (-1) are not.
#[test]
fn every_records_timestamp_is_checked_on_a_create_time_topic() {
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config
        .set("message.timestamp.before.max.ms", &DAY.to_string())
        .unwrap();
    let (log, _) = open(dir.path(), config, false, 0);
    // The second record is ten days older than the first.
    for built in [
        || {
            timed(&[NOW, NOW - 10 * DAY])
                .build_batch()
                .unwrap()
                .into_bytes()
        },
        || timed(&[NOW, NOW - 10 * DAY]).build().unwrap(),
    ] {
        let err = log.append(built()).unwrap_err();
        assert!(
            matches!(
                err,
                LogError::InvalidTimestamp {
                    config: "message.timestamp.before.max.ms",
                    timestamp,
                    ..
                } if timestamp == NOW - 10 * DAY
            ),
            "{err}"
        );
    }
    let err = log
        .append_built(timed(&[NOW, NOW - 10 * DAY]).build_batch().unwrap())
        .unwrap_err();
    assert!(matches!(err, LogError::InvalidTimestamp { .. }), "{err}");
    // Records without a timestamp pass.
    log.append(timed(&[NOW, -1]).build().unwrap()).unwrap();
    log.append_built(timed(&[-1, NOW]).build_batch().unwrap())
        .unwrap();
}

/// A LogAppendTime topic stamps its own time: the producer's timestamps,
/// however far off, are not checked (Kafka checks them on CreateTime topics
/// only), and a retried idempotent batch is answered with the time it was
/// first appended.
#[test]
fn a_log_append_time_topic_takes_any_producer_time_and_answers_retries_with_the_first_append_time()
{
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config
        .set("message.timestamp.type", "LogAppendTime")
        .unwrap();
    let clock = std::sync::Arc::new(weir_log::ManualClock::new(NOW));
    let (log, _) = common::open_with_clock(dir.path(), config, false, 0, clock.clone());
    let info = log
        .append(timed(&[NOW + 2 * 3_600_000]).build().unwrap())
        .unwrap();
    assert_eq!(info.log_append_time, Some(NOW));

    let idempotent = || {
        let mut b = weir_record::BatchBuilder::new(weir_record::BatchOptions {
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: 0,
            ..weir_record::BatchOptions::default()
        });
        b.append(&weir_record::Record::new("x").with_timestamp(NOW))
            .unwrap();
        b.build().unwrap()
    };
    let first = log.append(idempotent()).unwrap();
    clock.advance(5_000);
    let retry = log.append(idempotent()).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, first.base_offset);
    assert_eq!(retry.log_append_time, Some(NOW));
}

/// A batch the topic re-compresses is held to `max.message.bytes` again: a
/// small zstd batch of repetitive records grows past the limit once stored
/// uncompressed, and is refused, as Kafka refuses it.
#[test]
fn a_batch_that_grows_when_recompressed_is_held_to_max_message_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(1 << 20);
    config.set("compression.type", "uncompressed").unwrap();
    config.set("max.message.bytes", "2000").unwrap();
    let (log, _) = open(dir.path(), config, false, 0);
    let mut b = weir_record::BatchBuilder::new(weir_record::BatchOptions {
        compression: weir_record::CompressionConfig::new(Compression::Zstd),
        ..weir_record::BatchOptions::default()
    });
    for _ in 0..100 {
        b.append(&weir_record::Record::new(vec![0u8; 1000]).with_timestamp(NOW))
            .unwrap();
    }
    let small = b.build().unwrap();
    assert!(small.len() < 2000, "{}", small.len());
    let err = log.append(small).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::BatchTooLarge {
                config: "max.message.bytes",
                size,
                ..
            } if size > 100_000
        ),
        "{err}"
    );
    assert_eq!(log.log_end_offset(), 0);
}

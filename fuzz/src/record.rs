//! Fuzz target bodies for `weir-record` and `weir-codec`, shared by the
//! cargo-fuzz binaries in `fuzz_targets/` and by the corpus replay test
//! `crates/weir-record/tests/fuzz_corpus.rs`, which includes this file so that
//! CI replays every corpus on stable Rust.
//!
//! Each body only calls public API. Besides "never panics", each checks a
//! property: what decodes re-encodes and decodes to the same records; what
//! decompresses within the limit recompresses and decompresses to the same bytes.

use bytes::Bytes;
use weir_codec::{Compression, CompressionConfig};
use weir_record::{
    BatchBuilder, BatchIter, BatchOptions, Record, RecordBatch, TimestampType, layout,
};

/// The decompression bound used by every target.
pub const DECOMPRESS_LIMIT: usize = 4 << 20;

/// Iterates the batches of arbitrary bytes, with and without CRC checks (random
/// bytes rarely carry a valid CRC, so the unchecked pass reaches the records).
pub fn batch_decode(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    for verify_crc in [true, false] {
        let mut iter = BatchIter::new(bytes.clone()).verify_crc(verify_crc);
        for item in iter.by_ref() {
            match item {
                Ok(positioned) => exercise(&positioned.batch),
                Err(e) => {
                    assert!(e.position() <= data.len() as u64);
                    break;
                }
            }
        }
        assert!(iter.valid_bytes() <= data.len());
    }
}

/// Decodes arbitrary bytes as the records section of an uncompressed batch whose
/// `recordsCount` and `lastOffsetDelta` are the first eight bytes.
pub fn record_decode(data: &[u8]) {
    let Some((head, records)) = data.split_first_chunk::<8>() else {
        return;
    };
    let [c0, c1, c2, c3, l0, l1, l2, l3] = *head;
    let mut buf = vec![0u8; layout::RECORDS];
    buf.extend_from_slice(records);
    let put = |buf: &mut Vec<u8>, at: usize, b: &[u8]| buf[at..at + b.len()].copy_from_slice(b);
    let length = (buf.len() - layout::LOG_OVERHEAD) as i32;
    put(&mut buf, layout::BATCH_LENGTH, &length.to_be_bytes());
    put(&mut buf, layout::MAGIC, &[2]);
    put(&mut buf, layout::LAST_OFFSET_DELTA, &[l0, l1, l2, l3]);
    put(&mut buf, layout::RECORDS_COUNT, &[c0, c1, c2, c3]);
    let crc = crc32c::crc32c(&buf[layout::CRC_START..]);
    put(&mut buf, layout::CRC, &crc.to_be_bytes());
    let batch = RecordBatch::new(Bytes::from(buf)).expect("a well-formed header");
    batch.validate_crc().expect("a valid CRC");
    exercise(&batch);
}

/// Decompresses arbitrary bytes; what fits the limit must survive a round trip
/// through our own compressor.
pub fn decompress(codec: Compression, data: &[u8]) {
    let mut out = Vec::new();
    if weir_codec::decompress(codec, data, DECOMPRESS_LIMIT, &mut out).is_err() {
        return;
    }
    assert!(out.len() <= DECOMPRESS_LIMIT);
    let mut again = Vec::new();
    weir_codec::compress(&CompressionConfig::new(codec), &out, &mut again)
        .expect("compressing decoded bytes");
    let mut back = Vec::new();
    weir_codec::decompress(codec, &again, DECOMPRESS_LIMIT, &mut back)
        .expect("our own output decodes");
    assert!(back == out, "round trip changed the bytes");
}

/// Reads everything a batch offers; if its records decode, re-encodes them and
/// checks the copy decodes to the same records.
fn exercise(batch: &RecordBatch) {
    let _ = (
        batch.base_offset(),
        batch.partition_leader_epoch(),
        batch.crc(),
        batch.compute_crc(),
        batch.attributes(),
        batch.last_offset(),
        batch.next_offset(),
        batch.max_timestamp(),
        batch.producer_id(),
        batch.producer_epoch(),
        batch.last_sequence(),
        batch.delete_horizon_ms(),
        format!("{batch:?}"),
    );
    if batch.is_control() {
        let _ = batch.control_record();
    }
    let Ok(records) = batch.records_with_limit(DECOMPRESS_LIMIT) else {
        return;
    };
    let mut decoded: Vec<(i32, Record)> = Vec::new();
    for record in &records {
        let Ok(view) = record else {
            return;
        };
        assert!(view.offset_delta() >= 0 && view.offset_delta() <= batch.last_offset_delta());
        let headers = view.headers().count();
        assert_eq!(headers, view.header_count());
        decoded.push((view.offset_delta(), view.to_record()));
    }
    assert_eq!(decoded.len(), records.len());
    // Kafka's reader takes negative timestamps below -1, its builder (and
    // ours) refuses to write them: such records decode but do not re-encode.
    if batch.timestamp_type() == TimestampType::LogAppendTime
        || decoded.is_empty()
        || decoded.iter().any(|(_, r)| r.timestamp < -1)
    {
        return;
    }
    let mut builder = BatchBuilder::new(BatchOptions {
        base_offset: batch.base_offset(),
        delete_horizon_ms: batch.delete_horizon_ms(),
        ..BatchOptions::default()
    });
    for (delta, record) in &decoded {
        builder
            .append_with_offset_delta(*delta, record)
            .expect("decoded records re-encode");
    }
    builder
        .set_last_offset_delta(batch.last_offset_delta())
        .expect("last offset delta");
    let copy = RecordBatch::new(builder.build().expect("build")).expect("our own batch");
    copy.validate_crc().expect("our own CRC");
    let again: Vec<(i32, Record)> = copy
        .records()
        .expect("our own records")
        .iter()
        .map(|r| {
            let r = r.expect("our own record");
            (r.offset_delta(), r.to_record())
        })
        .collect();
    assert!(again == decoded, "re-encoded records differ");
}

//! The golden Kafka segments in `testdata/kafka-segments/` (written by an
//! implementation independent of Weir) against their `manifest.json`:
//! every good case decodes exactly to its manifest, every corrupt case fails with
//! the typed error its manifest names, and every uncompressed batch re-encodes
//! from the manifest to the same bytes.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;
use weir_record::{
    BatchBuilder, BatchIter, BatchOptions, CompressionConfig, ControlRecordType,
    EndTransactionMarker, Header, PositionedBatch, ReadError, ReaderBatches, Record, RecordBatch,
    RecordBatchMut, RecordError, TimestampType,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kafka-segments")
}

struct Case {
    name: String,
    dir: PathBuf,
    manifest: Value,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = fs::read_dir(fixtures())
        .expect("testdata/kafka-segments is missing")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let manifest = fs::read_to_string(path.join("manifest.json")).ok()?;
            let manifest: Value = serde_json::from_str(&manifest).unwrap();
            let dir = path.join(manifest["dir"].as_str().unwrap());
            Some(Case {
                name: manifest["case"].as_str().unwrap().to_owned(),
                dir,
                manifest,
            })
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        cases.len() >= 20,
        "only {} fixture cases found",
        cases.len()
    );
    cases
}

/// `{"utf8": ..}` / `{"base64": ..}` / null, as the manifests encode bytes.
fn manifest_bytes(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        return None;
    }
    if let Some(s) = v.get("utf8") {
        return Some(s.as_str().unwrap().as_bytes().to_vec());
    }
    let b64 = v["base64"].as_str().unwrap();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

fn segment_batches(case: &Case, segment: &str) -> Vec<Result<PositionedBatch, ReadError>> {
    let bytes = fs::read(case.dir.join(segment)).unwrap();
    BatchIter::new(Bytes::from(bytes)).collect()
}

fn check_header(case: &str, batch: &RecordBatch, position: u64, m: &Value) {
    let ctx = format!("{case} batch at {position}");
    assert_eq!(position, m["position"].as_u64().unwrap(), "{ctx}");
    assert_eq!(
        batch.size() as u64,
        m["size"].as_u64().unwrap(),
        "{ctx}: size"
    );
    assert_eq!(
        batch.base_offset(),
        m["base_offset"].as_i64().unwrap(),
        "{ctx}: base offset"
    );
    assert_eq!(
        batch.last_offset(),
        m["last_offset"].as_i64().unwrap(),
        "{ctx}: last offset"
    );
    assert_eq!(
        i64::from(batch.records_count()),
        m["count"].as_i64().unwrap(),
        "{ctx}: count"
    );
    assert_eq!(
        i64::from(batch.partition_leader_epoch()),
        m["partition_leader_epoch"].as_i64().unwrap(),
        "{ctx}: leader epoch"
    );
    assert_eq!(
        i64::from(batch.attributes().raw()),
        m["attributes"].as_i64().unwrap(),
        "{ctx}: attributes"
    );
    assert_eq!(
        batch.compression().unwrap().name(),
        m["compression"].as_str().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.timestamp_type().name(),
        m["timestamp_type"].as_str().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.base_timestamp(),
        m["base_timestamp"].as_i64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.max_timestamp(),
        m["max_timestamp"].as_i64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.producer_id(),
        m["producer_id"].as_i64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        i64::from(batch.producer_epoch()),
        m["producer_epoch"].as_i64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        i64::from(batch.base_sequence()),
        m["base_sequence"].as_i64().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        batch.is_transactional(),
        m["transactional"].as_bool().unwrap(),
        "{ctx}"
    );
    assert_eq!(batch.is_control(), m["control"].as_bool().unwrap(), "{ctx}");
    assert_eq!(
        batch.has_delete_horizon(),
        m["delete_horizon"].as_bool().unwrap(),
        "{ctx}"
    );
    assert_eq!(
        u64::from(batch.crc()),
        m["crc"].as_u64().unwrap(),
        "{ctx}: crc"
    );
    batch.validate_crc().unwrap();
}

/// Decodes a batch's records into the manifest's JSON shape (data records) or
/// checks them against the control records.
fn decode_into(case: &str, batch: &RecordBatch, data: &mut Vec<Value>, control: &mut Vec<Value>) {
    let records = batch.records().unwrap_or_else(|e| panic!("{case}: {e}"));
    for r in &records {
        let r = r.unwrap_or_else(|e| panic!("{case} batch {}: {e}", batch.base_offset()));
        let enc = |b: Option<&[u8]>| match b {
            None => Value::Null,
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => serde_json::json!({ "utf8": s }),
                Err(_) => {
                    serde_json::json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) })
                }
            },
        };
        if batch.is_control() {
            let parsed = weir_record::ControlRecord::parse(r.key(), r.value()).unwrap();
            let marker = parsed.end_transaction.unwrap();
            control.push(serde_json::json!({
                "offset": r.offset(),
                "timestamp": r.timestamp(),
                "type": parsed.record_type.name(),
                "key_version": parsed.key_version,
                "coordinator_epoch": marker.coordinator_epoch,
                "producer_id": batch.producer_id(),
                "key": enc(r.key()),
                "value": enc(r.value()),
            }));
        } else {
            let headers: Vec<Value> = r
                .headers()
                .map(
                    |h| serde_json::json!({ "key": h.key_str().unwrap(), "value": enc(h.value()) }),
                )
                .collect();
            data.push(serde_json::json!({
                "offset": r.offset(),
                "timestamp": r.timestamp(),
                "key": enc(r.key()),
                "value": enc(r.value()),
                "headers": headers,
            }));
        }
    }
}

#[test]
fn good_cases_decode_exactly_to_their_manifest() {
    let mut checked = 0;
    for case in cases()
        .iter()
        .filter(|c| c.manifest["expect"]["valid"] == true)
    {
        let m = &case.manifest;
        let mut expected_batches = m["batches"].as_array().unwrap().iter();
        let (mut data, mut control) = (Vec::new(), Vec::new());
        for segment in m["segments"].as_array().unwrap() {
            let log = segment["log"].as_str().unwrap();
            let size = fs::metadata(case.dir.join(log)).unwrap().len();
            assert_eq!(
                size,
                segment["log_size"].as_u64().unwrap(),
                "{}: {log}",
                case.name
            );
            for item in segment_batches(case, log) {
                let PositionedBatch { position, batch } =
                    item.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                let expected = expected_batches
                    .next()
                    .expect("more batches than the manifest lists");
                assert_eq!(expected["segment"].as_str().unwrap(), log);
                check_header(&case.name, &batch, position, expected);
                decode_into(&case.name, &batch, &mut data, &mut control);
            }
        }
        assert!(
            expected_batches.next().is_none(),
            "{}: batches missing",
            case.name
        );
        assert_eq!(Value::Array(data), m["records"], "{}: records", case.name);
        assert_eq!(
            Value::Array(control),
            m["control_records"],
            "{}: control records",
            case.name
        );
        checked += 1;
    }
    assert_eq!(checked, 15);
}

#[test]
fn corrupt_cases_fail_with_the_error_their_manifest_names() {
    let mut checked = 0;
    for case in cases()
        .iter()
        .filter(|c| c.manifest["expect"]["valid"] == false)
    {
        let expect = &case.manifest["expect"];
        let position = expect["position"].as_u64().unwrap();
        let before = expect["batches_before_error"].as_u64().unwrap() as usize;
        let log = case.manifest["segments"][0]["log"].as_str().unwrap();
        let items = segment_batches(case, log);
        let sound: Vec<&PositionedBatch> = items.iter().map_while(|i| i.as_ref().ok()).collect();
        let kind = expect["error"].as_str().unwrap();
        match kind {
            "crc_mismatch" | "truncated_batch" => {
                assert_eq!(sound.len(), before, "{}", case.name);
                let err = items.last().unwrap().as_ref().unwrap_err();
                assert_eq!(err.position(), position, "{}: {err}", case.name);
                match (kind, err) {
                    (
                        "crc_mismatch",
                        ReadError::Corrupt {
                            source: RecordError::CrcMismatch { stored, computed },
                            ..
                        },
                    ) => {
                        assert_ne!(stored, computed);
                    }
                    (
                        "truncated_batch",
                        ReadError::TornBatch {
                            needed, available, ..
                        },
                    ) => {
                        assert!(needed > available, "{}: {err}", case.name);
                        assert!(err.is_torn());
                    }
                    _ => panic!("{}: expected {kind}, got {err}", case.name),
                }
            }
            "invalid_record_count" | "invalid_record_length" => {
                // The CRC is valid: the batch iterator accepts the batch, decoding fails.
                assert!(items.iter().all(Result::is_ok), "{}", case.name);
                let bad = &items[before].as_ref().unwrap();
                assert_eq!(bad.position, position, "{}", case.name);
                let err = bad
                    .batch
                    .records()
                    .and_then(|r| r.iter().try_for_each(|r| r.map(|_| ())))
                    .unwrap_err();
                match (kind, &err) {
                    ("invalid_record_count", RecordError::InvalidRecordCount { count, .. }) => {
                        assert_eq!(*count, i32::MAX);
                    }
                    (
                        "invalid_record_length",
                        RecordError::InvalidRecordLength {
                            index: 0, length, ..
                        },
                    ) => {
                        assert_eq!(*length, 0x7fff_fff0);
                    }
                    _ => panic!("{}: expected {kind}, got {err}", case.name),
                }
                for b in &items[..before] {
                    let b = &b.as_ref().unwrap().batch;
                    b.records().unwrap().iter().for_each(|r| assert!(r.is_ok()));
                }
            }
            other => panic!("{}: unknown expected error {other}", case.name),
        }
        // What precedes the error matches the manifest.
        let expected = case.manifest["batches"].as_array().unwrap();
        assert_eq!(expected.len(), before, "{}", case.name);
        for (b, m) in items.iter().take(before).zip(expected) {
            let b = b.as_ref().unwrap();
            check_header(&case.name, &b.batch, b.position, m);
        }
        let kept: u64 = items
            .iter()
            .take(before)
            .map(|b| b.as_ref().unwrap().batch.size() as u64)
            .sum();
        assert_eq!(
            kept,
            expect["recovery_truncates_to"].as_u64().unwrap(),
            "{}",
            case.name
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn file_reader_agrees_with_buffer_iterator() {
    for case in cases() {
        for segment in case.manifest["segments"].as_array().unwrap() {
            let path = case.dir.join(segment["log"].as_str().unwrap());
            let file = fs::File::open(&path).unwrap();
            let len = file.metadata().unwrap().len();
            let from_file: Vec<_> =
                ReaderBatches::new(std::io::BufReader::new(file), len).collect();
            let from_buf = segment_batches(&case, segment["log"].as_str().unwrap());
            assert_eq!(from_file.len(), from_buf.len(), "{}", case.name);
            for (a, b) in from_file.iter().zip(&from_buf) {
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.position, b.position);
                        assert_eq!(a.batch, b.batch);
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.position(), b.position(), "{}", case.name);
                        assert_eq!(a.to_string(), b.to_string(), "{}", case.name);
                    }
                    _ => panic!("{}: file {a:?} vs buffer {b:?}", case.name),
                }
            }
        }
    }
}

#[test]
fn uncompressed_cases_re_encode_from_their_manifest_byte_for_byte() {
    let mut batches_checked = 0;
    for case in cases()
        .iter()
        .filter(|c| c.manifest["expect"]["valid"] == true)
    {
        let m = &case.manifest;
        if m["batches"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["compression"] != "none")
        {
            continue;
        }
        let records = m["records"].as_array().unwrap();
        let controls = m["control_records"].as_array().unwrap();
        for b in m["batches"].as_array().unwrap() {
            let file = fs::read(case.dir.join(b["segment"].as_str().unwrap())).unwrap();
            let pos = b["position"].as_u64().unwrap() as usize;
            let original = &file[pos..pos + b["size"].as_u64().unwrap() as usize];
            let base_offset = b["base_offset"].as_i64().unwrap();
            let last_offset = b["last_offset"].as_i64().unwrap();
            let options = BatchOptions {
                compression: CompressionConfig::NONE,
                timestamp_type: if b["timestamp_type"] == "LogAppendTime" {
                    TimestampType::LogAppendTime
                } else {
                    TimestampType::CreateTime
                },
                transactional: b["transactional"].as_bool().unwrap(),
                control: b["control"].as_bool().unwrap(),
                producer_id: b["producer_id"].as_i64().unwrap(),
                producer_epoch: b["producer_epoch"].as_i64().unwrap() as i16,
                base_sequence: b["base_sequence"].as_i64().unwrap() as i32,
                base_offset,
                partition_leader_epoch: b["partition_leader_epoch"].as_i64().unwrap() as i32,
                delete_horizon_ms: (b["delete_horizon"] == true)
                    .then(|| b["base_timestamp"].as_i64().unwrap()),
            };
            let in_batch =
                |r: &&Value| (base_offset..=last_offset).contains(&r["offset"].as_i64().unwrap());
            let rebuilt = if options.control {
                let c = controls.iter().find(in_batch).unwrap();
                let epoch = c["coordinator_epoch"].as_i64().unwrap() as i32;
                let marker = match c["type"].as_str().unwrap() {
                    "COMMIT" => EndTransactionMarker::commit(epoch),
                    _ => EndTransactionMarker::abort(epoch),
                };
                assert_eq!(
                    marker.record_type(),
                    ControlRecordType::from_id(marker.record_type().id())
                );
                BatchBuilder::end_transaction_marker(
                    options,
                    marker,
                    c["timestamp"].as_i64().unwrap(),
                )
                .unwrap()
            } else {
                // LogAppendTime replaced what consumers see with the append time; the
                // producer's own timestamps survive only as deltas in the file, so
                // that one case takes them from there.
                let original_batch = RecordBatch::new(Bytes::copy_from_slice(original)).unwrap();
                let original_records = original_batch.records().unwrap();
                let mut producer_timestamps = original_records
                    .iter()
                    .map(|r| r.unwrap().timestamp_delta());
                let mut builder = BatchBuilder::new(options);
                for r in records.iter().filter(in_batch) {
                    let timestamp = if options.timestamp_type == TimestampType::LogAppendTime {
                        original_batch.base_timestamp() + producer_timestamps.next().unwrap()
                    } else {
                        r["timestamp"].as_i64().unwrap()
                    };
                    let record = Record {
                        timestamp,
                        key: manifest_bytes(&r["key"]).map(Bytes::from),
                        value: manifest_bytes(&r["value"]).map(Bytes::from),
                        headers: r["headers"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|h| Header {
                                key: h["key"].as_str().unwrap().to_owned(),
                                value: manifest_bytes(&h["value"]).map(Bytes::from),
                            })
                            .collect(),
                    };
                    let delta = (r["offset"].as_i64().unwrap() - base_offset) as i32;
                    builder.append_with_offset_delta(delta, &record).unwrap();
                }
                builder
                    .set_last_offset_delta((last_offset - base_offset) as i32)
                    .unwrap();
                if options.timestamp_type == TimestampType::LogAppendTime || builder.is_empty() {
                    builder.set_max_timestamp(b["max_timestamp"].as_i64().unwrap());
                }
                builder.build().unwrap()
            };
            assert!(
                rebuilt[..] == original[..],
                "{} batch at {pos} differs:\n{:02x?}\n{:02x?}",
                case.name,
                &rebuilt[..],
                original
            );
            batches_checked += 1;
        }
    }
    // Every batch of the eleven uncompressed good cases.
    assert_eq!(batches_checked, 142);
}

#[test]
fn stamping_base_offset_and_epoch_keeps_the_crc() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "uncompressed-single")
        .unwrap();
    let mut bytes = fs::read(case.dir.join("00000000000000000000.log")).unwrap();
    let crc_before = RecordBatch::new(Bytes::from(bytes.clone())).unwrap().crc();
    let mut batch = RecordBatchMut::new(&mut bytes).unwrap();
    batch.set_base_offset(1_000_000);
    batch.set_partition_leader_epoch(7);
    let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
    assert_eq!(batch.base_offset(), 1_000_000);
    assert_eq!(batch.partition_leader_epoch(), 7);
    assert_eq!(batch.crc(), crc_before);
    batch.validate_crc().unwrap();
    let offsets: Vec<i64> = batch
        .records()
        .unwrap()
        .iter()
        .map(|r| r.unwrap().offset())
        .collect();
    assert_eq!(offsets, (1_000_000..1_000_005).collect::<Vec<_>>());
}

#[test]
fn log_append_time_stamping_matches_the_fixture() {
    // Stamping LogAppendTime onto a CreateTime batch reproduces what the broker
    // wrote in the log-append-time case: attribute bit, max timestamp, new CRC.
    let case = cases()
        .into_iter()
        .find(|c| c.name == "log-append-time")
        .unwrap();
    let file = fs::read(case.dir.join("00000000000000000000.log")).unwrap();
    let first = RecordBatch::new(Bytes::copy_from_slice(&file[..117])).unwrap();
    let mut create_time = first.as_bytes().to_vec();
    // Undo the broker's share: CreateTime, max timestamp = largest producer timestamp.
    let records = first.records().unwrap();
    let max_create = records
        .iter()
        .map(|r| first.base_timestamp() + r.unwrap().timestamp_delta())
        .max()
        .unwrap();
    create_time[21..23].copy_from_slice(&0i16.to_be_bytes());
    create_time[35..43].copy_from_slice(&max_create.to_be_bytes());
    let mut stamp = RecordBatchMut::new(&mut create_time).unwrap();
    stamp.set_log_append_time(first.max_timestamp());
    assert_eq!(stamp.as_slice(), &file[..117]);
}

/// Two records of an idempotent producer, numbered from `base_sequence`.
fn sequenced(base_sequence: i32) -> weir_record::BuiltBatch {
    let mut builder = BatchBuilder::new(BatchOptions {
        producer_id: 7,
        producer_epoch: 0,
        base_sequence,
        ..BatchOptions::default()
    });
    builder
        .append_parts(1_700_000_000_000, Some(b"k"), Some(b"v"), &[])
        .unwrap();
    builder
        .append_parts(1_700_000_000_001, None, Some(b"w"), &[])
        .unwrap();
    builder.build_batch().unwrap()
}

#[test]
fn base_sequence_stamping_equals_building_with_it() {
    let mut restamped = sequenced(40).as_bytes().to_vec();
    let mut stamp = RecordBatchMut::new(&mut restamped).unwrap();
    stamp.set_base_sequence(3);
    assert_eq!(stamp.as_slice(), &sequenced(3).as_bytes()[..]);
    let batch = RecordBatch::new(Bytes::from(restamped)).unwrap();
    batch.validate_crc().unwrap();
    assert_eq!(batch.base_sequence(), 3);

    // The same through a BuiltBatch, which knows its records' size.
    let mut renumbered = sequenced(77);
    assert_eq!(
        renumbered.uncompressed_records_size(),
        renumbered.len() - 61
    );
    renumbered.set_base_sequence(5);
    assert_eq!(renumbered.as_bytes(), sequenced(5).as_bytes());
}

//! Property tests: whatever the builder encodes, the decoder returns, for
//! arbitrary records, headers, nulls, offset gaps, every codec and every flag.

use bytes::Bytes;
use proptest::prelude::*;
use weir_record::{
    BatchBuilder, BatchIter, BatchOptions, Compression, CompressionConfig, Header, Record,
    RecordBatchMut, TimestampType,
};

fn bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn header() -> impl Strategy<Value = Header> {
    (".{0,12}", bytes(24)).prop_map(|(key, value)| Header { key, value })
}

fn record() -> impl Strategy<Value = Record> {
    (
        // -1 is "no timestamp"; Kafka's builder refuses other negatives.
        prop_oneof![-1i64..=i64::MAX, 1_600_000_000_000i64..1_900_000_000_000],
        bytes(40),
        bytes(300),
        proptest::collection::vec(header(), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| Record {
            timestamp,
            key,
            value,
            headers,
        })
}

fn compression() -> impl Strategy<Value = CompressionConfig> {
    prop_oneof![
        Just(CompressionConfig::NONE),
        (1..=9i32).prop_map(|l| CompressionConfig::with_level(Compression::Gzip, l).unwrap()),
        Just(CompressionConfig::new(Compression::Gzip)),
        Just(CompressionConfig::new(Compression::Snappy)),
        Just(CompressionConfig::new(Compression::Lz4)),
        (1..=12i32).prop_map(|l| CompressionConfig::with_level(Compression::Lz4, l).unwrap()),
        (-5..=9i32).prop_map(|l| CompressionConfig::with_level(Compression::Zstd, l).unwrap()),
    ]
}

fn options() -> impl Strategy<Value = BatchOptions> {
    (
        compression(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        (any::<i64>(), any::<i16>(), any::<i32>()),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(
            |(compression, log_append, transactional, control, (pid, epoch, seq), horizon)| {
                // The producer fields Kafka's builder accepts: a producer id
                // for a transactional batch, and with a producer id an epoch
                // and (outside control batches) a sequence.
                let pid = if pid == -1 && transactional { 7 } else { pid };
                let epoch = if pid != -1 && epoch == -1 { 0 } else { epoch };
                let seq = if pid != -1 && seq < 0 && !control {
                    0
                } else {
                    seq
                };
                BatchOptions {
                    compression,
                    timestamp_type: if log_append {
                        TimestampType::LogAppendTime
                    } else {
                        TimestampType::CreateTime
                    },
                    transactional,
                    control,
                    producer_id: pid,
                    producer_epoch: epoch,
                    base_sequence: seq,
                    base_offset: 0,
                    partition_leader_epoch: -1,
                    delete_horizon_ms: horizon,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn what_is_built_decodes_back(
        options in options(),
        records in proptest::collection::vec((record(), 0..3i32), 0..25),
        extra_last in 0..3i32,
        append_time in any::<i64>(),
        base_offset in 0..i64::MAX / 2,
        leader_epoch in any::<i32>(),
    ) {
        let mut builder = BatchBuilder::new(options);
        let mut delta = -1i32;
        let mut expected = Vec::new();
        for (r, gap) in &records {
            delta += 1 + gap;
            builder.append_with_offset_delta(delta, r).unwrap();
            expected.push((delta, r.clone()));
        }
        if !records.is_empty() || extra_last > 0 {
            builder.set_last_offset_delta(delta.max(0) + extra_last).unwrap();
        }
        let log_append = options.timestamp_type == TimestampType::LogAppendTime;
        if log_append {
            builder.set_max_timestamp(append_time);
        }
        let uncompressed = builder.uncompressed_size();
        let mut encoded = builder.build().unwrap().to_vec();
        if options.compression.compression() == Compression::None || records.is_empty() {
            prop_assert_eq!(encoded.len(), uncompressed);
        }
        let mut stamp = RecordBatchMut::new(&mut encoded).unwrap();
        stamp.set_base_offset(base_offset);
        stamp.set_partition_leader_epoch(leader_epoch);

        let mut batches = BatchIter::new(Bytes::from(encoded)).collect::<Vec<_>>();
        prop_assert_eq!(batches.len(), 1);
        let batch = batches.pop().unwrap().unwrap().batch;
        prop_assert_eq!(batch.base_offset(), base_offset);
        prop_assert_eq!(batch.partition_leader_epoch(), leader_epoch);
        prop_assert_eq!(batch.records_count() as usize, records.len());
        prop_assert_eq!(batch.producer_id(), options.producer_id);
        prop_assert_eq!(batch.producer_epoch(), options.producer_epoch);
        prop_assert_eq!(batch.base_sequence(), options.base_sequence);
        prop_assert_eq!(batch.is_transactional(), options.transactional);
        prop_assert_eq!(batch.is_control(), options.control);
        prop_assert_eq!(batch.timestamp_type(), options.timestamp_type);
        if records.is_empty() {
            prop_assert_eq!(batch.base_timestamp(), -1);
            prop_assert_eq!(batch.compression().unwrap(), Compression::None);
            prop_assert!(!batch.has_delete_horizon());
        } else {
            prop_assert_eq!(batch.compression().unwrap(), options.compression.compression());
            prop_assert_eq!(batch.delete_horizon_ms(), options.delete_horizon_ms);
            prop_assert_eq!(batch.last_offset_delta(), delta + extra_last);
            let max = records.iter().map(|(r, _)| r.timestamp).max().unwrap();
            prop_assert_eq!(batch.max_timestamp(), if log_append { append_time } else { max });
        }

        let decoded = batch.records().unwrap();
        let mut n = 0;
        for (view, (delta, original)) in decoded.iter().zip(&expected) {
            let view = view.unwrap();
            prop_assert_eq!(view.offset(), base_offset + i64::from(*delta));
            let timestamp = if log_append { append_time } else { original.timestamp };
            prop_assert_eq!(view.timestamp(), timestamp);
            prop_assert_eq!(view.key(), original.key.as_deref());
            prop_assert_eq!(view.value(), original.value.as_deref());
            prop_assert_eq!(view.header_count(), original.headers.len());
            let mut owned = view.to_record();
            owned.timestamp = original.timestamp;
            prop_assert_eq!(&owned, original);
            n += 1;
        }
        prop_assert_eq!(n, records.len());
        prop_assert_eq!(decoded.iter().count(), records.len(), "no trailing error");
    }

    #[test]
    fn offsets_assigned_by_append_count_from_zero(records in proptest::collection::vec(record(), 1..10)) {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        for (i, r) in records.iter().enumerate() {
            prop_assert_eq!(builder.append(r).unwrap(), i as i32);
        }
        let batch = weir_record::RecordBatch::new(builder.build().unwrap()).unwrap();
        prop_assert_eq!(batch.last_offset_delta() as usize, records.len() - 1);
        let offsets: Vec<i64> = batch.records().unwrap().iter().map(|r| r.unwrap().offset()).collect();
        prop_assert_eq!(offsets, (0..records.len() as i64).collect::<Vec<_>>());
    }
}

/// What Kafka's `MemoryRecordsBuilder` refuses, the builder refuses: negative
/// timestamps other than -1, a transactional batch without a producer id, a
/// producer id without an epoch or (outside control batches) a sequence.
#[test]
fn the_builder_refuses_what_kafkas_refuses() {
    let mut b = BatchBuilder::new(BatchOptions::default());
    assert!(b.append(&Record::new("v").with_timestamp(-5)).is_err());
    assert!(b.is_empty(), "unchanged on error");
    b.append(&Record::new("v").with_timestamp(-1)).unwrap();
    b.build().unwrap();

    let build = |o: BatchOptions| {
        let mut b = BatchBuilder::new(o);
        b.append(&Record::new("v")).unwrap();
        b.build()
    };
    let idempotent = BatchOptions {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: 0,
        ..BatchOptions::default()
    };
    build(idempotent).unwrap();
    for bad in [
        BatchOptions {
            transactional: true,
            ..BatchOptions::default()
        },
        BatchOptions {
            producer_epoch: -1,
            ..idempotent
        },
        BatchOptions {
            base_sequence: -1,
            ..idempotent
        },
    ] {
        let err = build(bad).unwrap_err();
        assert!(err.to_string().contains("producer"), "{err}");
    }
    // What a log already holds is copied as it is (a cleaner rebuilding a
    // batch, an emptied batch kept as a header): not judged as new data.
    let odd = BatchOptions {
        producer_id: 42,
        producer_epoch: 3,
        base_sequence: -1,
        ..BatchOptions::default()
    };
    let mut plain = BatchBuilder::new(BatchOptions::default());
    plain.append_parts(-1, None, Some(b"v"), &[]).unwrap();
    let mut raw = plain.build().unwrap().to_vec();
    raw[27..35].copy_from_slice(&(-5i64).to_be_bytes()); // base timestamp -5
    let crc = weir_record::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
    let logged = weir_record::RecordBatch::new(Bytes::from(raw)).unwrap();
    let records = logged.records().unwrap();
    let view = records.iter().next().unwrap().unwrap();
    assert_eq!(view.timestamp(), -5);
    let mut copy = BatchBuilder::new(odd);
    copy.append_view(&view).unwrap();
    copy.build().unwrap();
    BatchBuilder::new(odd).build().unwrap();

    // A control batch (a transaction marker) has no sequence.
    BatchBuilder::end_transaction_marker(
        idempotent,
        weir_record::EndTransactionMarker::commit(0),
        1,
    )
    .unwrap();
}

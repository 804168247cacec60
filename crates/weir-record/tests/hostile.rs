//! Hostile batches: CRC-valid bytes with impossible contents must fail with the
//! typed error naming what is wrong, never panic and never allocate what a field
//! claims.

use bytes::Bytes;
use weir_record::varint::{encode_varint, encode_varlong};
use weir_record::{
    BatchBuilder, BatchIter, BatchOptions, CodecError, Compression, CompressionConfig, ReadError,
    Record, RecordBatch, RecordError, RecordField, layout,
};

/// A batch around a hand-made records section, with a valid CRC.
fn batch(attributes: i16, count: i32, last_offset_delta: i32, records: &[u8]) -> RecordBatch {
    let mut b = vec![0u8; layout::RECORDS];
    b.extend_from_slice(records);
    let len = (b.len() - layout::LOG_OVERHEAD) as i32;
    b[layout::BATCH_LENGTH..][..4].copy_from_slice(&len.to_be_bytes());
    b[layout::MAGIC] = 2;
    b[layout::ATTRIBUTES..][..2].copy_from_slice(&attributes.to_be_bytes());
    b[layout::LAST_OFFSET_DELTA..][..4].copy_from_slice(&last_offset_delta.to_be_bytes());
    b[layout::RECORDS_COUNT..][..4].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&b[layout::CRC_START..]);
    b[layout::CRC..][..4].copy_from_slice(&crc.to_be_bytes());
    let batch = RecordBatch::new(Bytes::from(b)).unwrap();
    batch.validate_crc().unwrap();
    batch
}

/// One record body field by field; `length` overrides the real length prefix.
#[derive(Clone)]
struct Raw {
    length: Option<i32>,
    offset_delta: i32,
    key_len: i32,
    key: Vec<u8>,
    value_len: i32,
    value: Vec<u8>,
    header_count: i32,
    headers: Vec<u8>,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            length: None,
            offset_delta: 0,
            key_len: 1,
            key: b"k".to_vec(),
            value_len: 1,
            value: b"v".to_vec(),
            header_count: 0,
            headers: Vec::new(),
        }
    }
}

impl Raw {
    fn encode(&self) -> Vec<u8> {
        let mut body = vec![0u8];
        encode_varlong(0, &mut body);
        encode_varint(self.offset_delta, &mut body);
        encode_varint(self.key_len, &mut body);
        body.extend_from_slice(&self.key);
        encode_varint(self.value_len, &mut body);
        body.extend_from_slice(&self.value);
        encode_varint(self.header_count, &mut body);
        body.extend_from_slice(&self.headers);
        let mut out = Vec::new();
        encode_varint(self.length.unwrap_or(body.len() as i32), &mut out);
        out.extend_from_slice(&body);
        out
    }
}

fn decode_all(batch: &RecordBatch) -> Result<usize, RecordError> {
    let records = batch.records()?;
    let mut n = 0;
    for r in &records {
        r?;
        n += 1;
    }
    Ok(n)
}

fn decode_raw(count: i32, last_offset_delta: i32, raws: &[Raw]) -> Result<usize, RecordError> {
    let bytes: Vec<u8> = raws.iter().flat_map(Raw::encode).collect();
    decode_all(&batch(0, count, last_offset_delta, &bytes))
}

#[test]
fn sound_raw_records_decode() {
    let two = [
        Raw::default(),
        Raw {
            offset_delta: 1,
            ..Raw::default()
        },
    ];
    assert_eq!(decode_raw(2, 1, &two).unwrap(), 2);
}

#[test]
fn impossible_record_counts() {
    let one = [Raw::default()];
    for count in [-1, i32::MAX, 3] {
        let err = decode_raw(count, 5, &one).unwrap_err();
        assert!(
            matches!(err, RecordError::InvalidRecordCount { count: c, .. } if c == count),
            "{err}"
        );
    }
    // More records than lastOffsetDelta leaves offsets for.
    let two = [
        Raw::default(),
        Raw {
            offset_delta: 1,
            ..Raw::default()
        },
    ];
    assert!(matches!(
        decode_raw(2, 0, &two),
        Err(RecordError::InvalidRecordCount { .. })
    ));
    // Fewer records declared than present: trailing bytes.
    assert!(matches!(
        decode_raw(1, 1, &two),
        Err(RecordError::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn impossible_record_lengths() {
    for length in [-5, 0x7fff_fff0, 1000] {
        let err = decode_raw(
            1,
            0,
            &[Raw {
                length: Some(length),
                ..Raw::default()
            }],
        )
        .unwrap_err();
        assert!(
            matches!(err, RecordError::InvalidRecordLength { index: 0, length: l, .. } if l == i64::from(length)),
            "{length}: {err}"
        );
    }
    // A length prefix shorter or longer than the fields is a mismatch (or the
    // fields run out of the shortened record).
    let good_len = Raw::default().encode().len() as i32 - 1;
    let shorter = Raw {
        length: Some(good_len - 1),
        ..Raw::default()
    };
    let err = decode_raw(
        1,
        0,
        &[
            shorter,
            Raw {
                offset_delta: 1,
                ..Raw::default()
            },
        ],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidRecordField { index: 0, .. }
                | RecordError::RecordLengthMismatch { .. }
        ),
        "{err}"
    );
    let mut longer = Raw {
        length: Some(good_len + 1),
        ..Raw::default()
    };
    longer.headers.push(0); // the extra byte the prefix claims
    let err = decode_raw(1, 0, &[longer]).unwrap_err();
    assert!(
        matches!(err, RecordError::RecordLengthMismatch { declared, actual, .. } if declared == actual + 1),
        "{err}"
    );
}

#[test]
fn impossible_fields() {
    // Any negative key or value length is null, as Kafka's reader takes it
    // (Kafka writes -1).
    for raw in [
        Raw {
            key_len: -2,
            key: vec![],
            ..Raw::default()
        },
        Raw {
            value_len: -7,
            value: vec![],
            ..Raw::default()
        },
    ] {
        decode_raw(1, 0, &[raw]).unwrap();
    }
    let cases: [(Raw, RecordField); 3] = [
        (
            Raw {
                key_len: 50,
                ..Raw::default()
            },
            RecordField::Key,
        ),
        (
            Raw {
                header_count: -1,
                ..Raw::default()
            },
            RecordField::HeaderCount,
        ),
        (
            Raw {
                header_count: 1,
                headers: {
                    let mut h = Vec::new();
                    encode_varint(-1, &mut h); // header keys are never null
                    encode_varint(-1, &mut h);
                    h
                },
                ..Raw::default()
            },
            RecordField::HeaderKey,
        ),
    ];
    for (raw, field) in cases {
        let err = decode_raw(1, 0, &[raw]).unwrap_err();
        assert!(
            matches!(err, RecordError::InvalidRecordField { index: 0, field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    // A header count that claims far more headers than bytes.
    let err = decode_raw(
        1,
        0,
        &[Raw {
            header_count: i32::MAX,
            ..Raw::default()
        }],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidRecordField {
                field: RecordField::HeaderKey,
                ..
            }
        ),
        "{err}"
    );
    // A varint past five bytes.
    let mut bytes = Vec::new();
    encode_varint(20, &mut bytes);
    bytes.extend_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    bytes.resize(21, 0);
    let err = decode_all(&batch(0, 1, 0, &bytes)).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidRecordField {
                field: RecordField::OffsetDelta,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn offset_deltas_must_increase_within_bounds() {
    let same = [Raw::default(), Raw::default()];
    assert!(matches!(
        decode_raw(2, 1, &same),
        Err(RecordError::InvalidOffsetDelta { index: 1, .. })
    ));
    let past_last = [Raw {
        offset_delta: 4,
        ..Raw::default()
    }];
    assert!(matches!(
        decode_raw(1, 3, &past_last),
        Err(RecordError::InvalidOffsetDelta { index: 0, .. })
    ));
    let negative = [Raw {
        offset_delta: -1,
        ..Raw::default()
    }];
    assert!(matches!(
        decode_raw(1, 3, &negative),
        Err(RecordError::InvalidOffsetDelta { .. })
    ));
    // Gaps are fine (compaction leaves them).
    let gaps = [
        Raw {
            offset_delta: 2,
            ..Raw::default()
        },
        Raw {
            offset_delta: 7,
            ..Raw::default()
        },
    ];
    assert_eq!(decode_raw(2, 9, &gaps).unwrap(), 2);
}

#[test]
fn compressed_garbage_and_unknown_codecs() {
    let garbage = batch(Compression::Zstd.id() as i16, 1, 0, b"not zstd at all");
    assert!(matches!(decode_all(&garbage), Err(RecordError::Codec(_))));
    let gzip = batch(Compression::Gzip.id() as i16, 1, 0, &[0x1f, 0x8b, 8, 0]);
    assert!(matches!(decode_all(&gzip), Err(RecordError::Codec(_))));
    for id in 5..=7 {
        let unknown = batch(id, 1, 0, &Raw::default().encode());
        assert!(matches!(
            decode_all(&unknown),
            Err(RecordError::Codec(CodecError::UnknownCodecId { id: i })) if i16::from(i) == id
        ));
    }
}

#[test]
fn a_compressed_bomb_is_bounded() {
    // 1000 records of 100 KiB of zeros compress to almost nothing.
    let mut builder = BatchBuilder::new(BatchOptions {
        compression: CompressionConfig::new(Compression::Zstd),
        ..BatchOptions::default()
    });
    let zeros = vec![0u8; 100 * 1024];
    for _ in 0..200 {
        builder.append(&Record::new(zeros.clone())).unwrap();
    }
    let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
    assert!(batch.size() < 64 * 1024, "{}", batch.size());
    let err = batch.records_with_limit(1 << 20).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::Codec(CodecError::OutputLimitExceeded { .. })
        ),
        "{err}"
    );
    assert_eq!(batch.records().unwrap().len(), 200);
}

#[test]
fn malformed_batch_framing() {
    let good = BatchBuilder::new(BatchOptions::default()).build().unwrap();
    assert_eq!(good.len(), layout::RECORDS);

    // RecordBatch::new checks what the accessors rely on.
    assert!(matches!(
        RecordBatch::new(good.slice(..60)),
        Err(RecordError::InvalidBatchSize { .. })
    ));
    let mut longer = good.to_vec();
    longer.push(0);
    assert!(matches!(
        RecordBatch::new(longer.into()),
        Err(RecordError::InvalidBatchSize { .. })
    ));
    let mut magic1 = good.to_vec();
    magic1[layout::MAGIC] = 1;
    assert!(matches!(
        RecordBatch::new(magic1.clone().into()),
        Err(RecordError::UnsupportedMagic { magic: 1 })
    ));

    // The iterator: torn header, corrupt length, wrong magic, short length, bad CRC.
    let mut torn = good.to_vec();
    torn.extend_from_slice(&[0; 5]);
    let items: Vec<_> = BatchIter::new(torn.into()).collect();
    assert!(items[0].is_ok());
    assert!(matches!(
        items[1],
        Err(ReadError::TornBatch {
            position: 61,
            needed: 12,
            available: 5
        })
    ));

    let mut tiny = vec![0u8; 30];
    tiny[8..12].copy_from_slice(&13i32.to_be_bytes());
    let err = BatchIter::new(tiny.into()).next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Corrupt {
                position: 0,
                source: RecordError::BatchLengthTooSmall { length: 13 }
            }
        ),
        "{err}"
    );

    let err = BatchIter::new(magic1.into()).next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Corrupt {
                source: RecordError::UnsupportedMagic { magic: 1 },
                ..
            }
        ),
        "{err}"
    );

    let mut short = vec![0u8; 32];
    short[8..12].copy_from_slice(&20i32.to_be_bytes());
    short[layout::MAGIC] = 2;
    let err = BatchIter::new(short.into()).next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Corrupt {
                source: RecordError::BatchLengthTooSmall { length: 20 },
                ..
            }
        ),
        "{err}"
    );

    let mut bad_crc = good.to_vec();
    bad_crc[layout::RECORDS_COUNT] ^= 0x40;
    let mut iter = BatchIter::new(bad_crc.clone().into()).starting_at(1000);
    let err = iter.next().unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            ReadError::Corrupt {
                position: 1000,
                source: RecordError::CrcMismatch { .. }
            }
        ),
        "{err}"
    );
    assert!(iter.next().is_none(), "the iterator stops after an error");
    assert_eq!(iter.valid_bytes(), 0);
    // Without CRC checks the same bytes pass the iterator.
    assert!(
        BatchIter::new(bad_crc.into())
            .verify_crc(false)
            .next()
            .unwrap()
            .is_ok()
    );
}

#[test]
fn empty_batches_keep_what_the_cleaner_keeps() {
    let mut builder = BatchBuilder::new(BatchOptions {
        compression: CompressionConfig::new(Compression::Gzip),
        producer_id: 9009,
        producer_epoch: 3,
        base_sequence: 40,
        delete_horizon_ms: Some(5),
        ..BatchOptions::default()
    });
    builder.set_last_offset_delta(4).unwrap();
    builder.set_max_timestamp(1_735_689_600_024);
    let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
    assert_eq!(batch.size(), layout::RECORDS);
    assert_eq!(batch.records_count(), 0);
    assert_eq!(batch.base_timestamp(), -1);
    assert_eq!(batch.max_timestamp(), 1_735_689_600_024);
    assert_eq!(batch.last_offset(), 4);
    assert_eq!(batch.last_sequence(), 44);
    assert_eq!(batch.compression().unwrap(), Compression::None);
    assert_eq!(decode_all(&batch).unwrap(), 0);
}

#[test]
fn builder_refuses_out_of_order_offsets() {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    builder
        .append_with_offset_delta(3, &Record::new("a"))
        .unwrap();
    assert!(matches!(
        builder.append_with_offset_delta(3, &Record::new("b")),
        Err(RecordError::Encode { .. })
    ));
    assert!(matches!(
        builder.set_last_offset_delta(2),
        Err(RecordError::Encode { .. })
    ));
    assert_eq!(builder.append(&Record::new("c")).unwrap(), 4);
    assert_eq!(builder.len(), 2);
}

#[test]
fn last_sequence_wraps_as_kafka() {
    let mut builder = BatchBuilder::new(BatchOptions {
        producer_id: 1,
        producer_epoch: 0,
        base_sequence: i32::MAX - 1,
        ..BatchOptions::default()
    });
    for _ in 0..4 {
        builder.append(&Record::new("x")).unwrap();
    }
    let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
    // MAX-1, MAX, 0, 1
    assert_eq!(batch.last_sequence(), 1);
}

/// A reader told the file is longer than it is (it shrank, or the caller is
/// wrong) and a header claiming almost 2 GiB: a torn batch at its position,
/// read with memory for the bytes that are there, not for the claim.
#[test]
fn a_reader_past_the_real_end_reports_a_torn_batch() {
    let mut bytes = vec![0u8; 12];
    bytes[8..12].copy_from_slice(&(i32::MAX - 12).to_be_bytes());
    bytes.extend_from_slice(&[0u8; 100]);
    let len = u64::from(i32::MAX as u32);
    let mut reader = weir_record::ReaderBatches::new(std::io::Cursor::new(bytes), len);
    assert!(matches!(
        reader.next(),
        Some(Err(weir_record::ReadError::TornBatch { position: 0, .. }))
    ));
    assert!(reader.next().is_none());
}

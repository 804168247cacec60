//! The JSON record schema shared by `weir dump` and `weir consume`:
//! `{"topic","partition","offset","timestamp","key","value","headers"}`, bytes as
//! `{"utf8": ..}` or `{"base64": ..}`, null as null.

use std::borrow::Cow;

use base64::Engine;
use serde::ser::{Serialize, SerializeMap, Serializer};
use weir::ConsumerRecord;
use weir_record::RecordView;

/// Bytes as the fixtures' manifests encode them.
pub(crate) struct JsonBytes<'a>(pub(crate) Option<&'a [u8]>);

impl Serialize for JsonBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(bytes) = self.0 else {
            return s.serialize_none();
        };
        let mut map = s.serialize_map(Some(1))?;
        match std::str::from_utf8(bytes) {
            Ok(text) => map.serialize_entry("utf8", text)?,
            Err(_) => map.serialize_entry(
                "base64",
                &base64::engine::general_purpose::STANDARD.encode(bytes),
            )?,
        }
        map.end()
    }
}

#[derive(serde::Serialize)]
struct JsonHeader<'a> {
    key: Cow<'a, str>,
    value: JsonBytes<'a>,
}

/// One record line; field order is the schema's.
#[derive(serde::Serialize)]
pub(crate) struct JsonRecord<'a> {
    topic: Option<&'a str>,
    partition: Option<i32>,
    offset: i64,
    timestamp: i64,
    key: JsonBytes<'a>,
    value: JsonBytes<'a>,
    headers: Vec<JsonHeader<'a>>,
}

impl<'a> JsonRecord<'a> {
    pub(crate) fn new(
        topic: Option<&'a str>,
        partition: Option<i32>,
        record: &RecordView<'a>,
    ) -> Self {
        JsonRecord {
            topic,
            partition,
            offset: record.offset(),
            timestamp: record.timestamp(),
            key: JsonBytes(record.key()),
            value: JsonBytes(record.value()),
            headers: record
                .headers()
                .map(|h| JsonHeader {
                    key: String::from_utf8_lossy(h.key()),
                    value: JsonBytes(h.value()),
                })
                .collect(),
        }
    }

    /// A record read by a [`weir::Consumer`].
    pub(crate) fn from_consumer(record: &'a ConsumerRecord) -> Self {
        JsonRecord {
            topic: Some(&record.topic),
            partition: Some(record.partition),
            offset: record.offset,
            timestamp: record.timestamp,
            key: JsonBytes(record.key.as_deref()),
            value: JsonBytes(record.value.as_deref()),
            headers: record
                .headers
                .iter()
                .map(|h| JsonHeader {
                    key: Cow::Borrowed(h.key.as_str()),
                    value: JsonBytes(h.value.as_deref()),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_encode_as_the_manifests_do() {
        let enc = |b: Option<&[u8]>| serde_json::to_string(&JsonBytes(b)).unwrap();
        assert_eq!(enc(None), "null");
        assert_eq!(enc(Some(b"")), r#"{"utf8":""}"#);
        assert_eq!(enc(Some("é\u{0}".as_bytes())), "{\"utf8\":\"é\\u0000\"}");
        assert_eq!(enc(Some(&[0xc3, 0x28])), r#"{"base64":"wyg="}"#);
    }

    #[test]
    fn a_consumer_record_prints_as_its_view_does() {
        use std::sync::Arc;
        use weir_record::{BatchBuilder, BatchOptions, Header, Record, RecordBatch};

        let mut builder = BatchBuilder::new(BatchOptions::default());
        for record in [
            Record::new("v\u{e9}")
                .with_key(&b"k"[..])
                .with_timestamp(7)
                .with_header(Header::new("h", &[0xc3, 0x28][..]))
                .with_header(Header::null("n")),
            Record::new(&b""[..]).with_timestamp(8),
        ] {
            builder.append(&record).unwrap();
        }
        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        let topic: Arc<str> = Arc::from("t");
        let records = batch.records().unwrap();
        let mut n = 0;
        for view in &records {
            let view = view.unwrap();
            let owned = ConsumerRecord::from_view(&topic, 3, batch.timestamp_type(), 0, &view);
            assert_eq!(
                serde_json::to_string(&JsonRecord::from_consumer(&owned)).unwrap(),
                serde_json::to_string(&JsonRecord::new(Some("t"), Some(3), &view)).unwrap()
            );
            n += 1;
        }
        assert_eq!(n, 2);
    }
}

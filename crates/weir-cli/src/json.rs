//! The JSON record schema shared by `weir dump` and `weir consume`:
//! `{"topic","partition","offset","timestamp","key","value","headers"}`, bytes as
//! `{"utf8": ..}` or `{"base64": ..}`, null as null.

use std::borrow::Cow;

use base64::Engine;
use serde::ser::{Serialize, SerializeMap, Serializer};
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
    pub(crate) fn from_ref(record: &'a weir::RecordRef<'a>) -> Self {
        JsonRecord::new(
            Some(record.topic()),
            Some(record.partition()),
            record.view(),
        )
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
}

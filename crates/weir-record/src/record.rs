//! Owned records and headers: what a producer appends and what a view converts to.

use bytes::Bytes;

use crate::varint::{encode_varint, encode_varlong, varint_size, varlong_size};

/// A record header: a UTF-8 key (never null) and bytes or null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header key.
    pub key: String,
    /// The header value; `None` is Kafka's null.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Header {
            key: key.into(),
            value: Some(value.into()),
        }
    }

    /// A header with a null value.
    pub fn null(key: impl Into<String>) -> Self {
        Header {
            key: key.into(),
            value: None,
        }
    }
}

/// The contents of one record, as a producer gives it: timestamp, key, value,
/// headers. Offsets belong to the batch and the log, not to the record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// Milliseconds since the epoch (CreateTime).
    pub timestamp: i64,
    /// The key; `None` is Kafka's null key (an empty key is `Some` of nothing).
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers in order; keys may repeat.
    pub headers: Vec<Header>,
}

impl Record {
    /// A record with a value, no key, no headers, timestamp 0.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// This record with a key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// This record with a timestamp.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// This record with one more header.
    #[must_use]
    pub fn with_header(mut self, header: Header) -> Self {
        self.headers.push(header);
        self
    }
}

/// A borrowed header to encode.
pub(crate) type HeaderRef<'a> = (&'a [u8], Option<&'a [u8]>);

/// Bytes a nullable field takes: its varint length and its bytes.
#[inline]
fn nullable_size(field: Option<&[u8]>) -> usize {
    match field {
        None => 1,
        Some(b) => varint_size(b.len() as i32) + b.len(),
    }
}

#[inline]
fn put_nullable(field: Option<&[u8]>, out: &mut Vec<u8>) {
    match field {
        None => encode_varint(-1, out),
        Some(b) => {
            encode_varint(b.len() as i32, out);
            out.extend_from_slice(b);
        }
    }
}

/// The encoded size of a record body (everything after the length prefix), or
/// `None` when it would not fit Kafka's int32 lengths.
pub(crate) fn body_size<'h>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = HeaderRef<'h>> + Clone,
) -> Option<usize> {
    const LIMIT: usize = i32::MAX as usize;
    let fits = |b: Option<&[u8]>| b.is_none_or(|b| b.len() <= LIMIT);
    if !fits(key) || !fits(value) {
        return None;
    }
    let mut size = 1 // attributes
        + varlong_size(timestamp_delta)
        + varint_size(offset_delta)
        + nullable_size(key)
        + nullable_size(value);
    let mut count = 0usize;
    for (k, v) in headers {
        if k.len() > LIMIT || !fits(v) {
            return None;
        }
        size += varint_size(k.len() as i32) + k.len() + nullable_size(v);
        count += 1;
    }
    size += varint_size(i32::try_from(count).ok()?);
    (size <= LIMIT).then_some(size)
}

/// Appends one record (length prefix and body) whose body size `size` came from
/// [`body_size`].
pub(crate) fn put_record<'h>(
    size: usize,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = HeaderRef<'h>> + Clone,
    out: &mut Vec<u8>,
) {
    out.reserve(size + 5);
    encode_varint(size as i32, out);
    out.push(0); // attributes: unused
    encode_varlong(timestamp_delta, out);
    encode_varint(offset_delta, out);
    put_nullable(key, out);
    put_nullable(value, out);
    encode_varint(headers.clone().count() as i32, out);
    for (k, v) in headers {
        encode_varint(k.len() as i32, out);
        out.extend_from_slice(k);
        put_nullable(v, out);
    }
}

//! [`RecordView`]: one decoded record borrowing its batch's bytes, and its headers.

use std::ops::Range;

use bytes::Bytes;

use crate::cursor::Cursor;
use crate::{Header, Record, RecordSpan};

/// One decoded record, borrowing the batch's (decompressed) bytes.
///
/// Keys, values and headers are ranges of that buffer: [`key`](Self::key) and
/// [`value`](Self::value) borrow, [`key_bytes`](Self::key_bytes) and
/// [`value_bytes`](Self::value_bytes) return zero-copy [`Bytes`] slices that
/// outlive the view.
#[derive(Debug, Clone)]
pub struct RecordView<'a> {
    pub(crate) data: &'a Bytes,
    pub(crate) offset: i64,
    pub(crate) offset_delta: i32,
    pub(crate) timestamp: i64,
    pub(crate) timestamp_delta: i64,
    pub(crate) attributes: i8,
    pub(crate) key: Option<Range<usize>>,
    pub(crate) value: Option<Range<usize>>,
    pub(crate) headers: Range<usize>,
    pub(crate) header_count: u32,
}

impl<'a> RecordView<'a> {
    /// The fields without the borrow, to rebuild this view later with
    /// [`Records::view`](crate::Records::view). (A records section is at most 2 GiB, so positions
    /// fit 32 bits.)
    #[inline]
    pub fn span(&self) -> RecordSpan {
        let pos = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        let range = |r: &Option<Range<usize>>| {
            r.as_ref().map_or((0, -1), |r| {
                (pos(r.start), i32::try_from(r.len()).unwrap_or(i32::MAX))
            })
        };
        RecordSpan {
            timestamp_delta: self.timestamp_delta,
            offset_delta: self.offset_delta,
            key: range(&self.key),
            value: range(&self.value),
            headers: (pos(self.headers.start), pos(self.headers.end)),
            header_count: self.header_count,
            attributes: self.attributes,
        }
    }

    /// The record's offset: base offset plus offset delta.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The offset delta as stored.
    #[inline]
    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }

    /// The timestamp as a consumer sees it: base timestamp plus delta for
    /// CreateTime, the batch's max timestamp for LogAppendTime.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The timestamp delta as stored.
    pub fn timestamp_delta(&self) -> i64 {
        self.timestamp_delta
    }

    /// The record attributes byte (unused by Kafka; 0 when written).
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    #[inline]
    fn slice(&self, r: &Option<Range<usize>>) -> Option<&'a [u8]> {
        r.as_ref()
            .map(|r| self.data.get(r.clone()).unwrap_or_default())
    }

    /// The key; `None` for a null key.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.slice(&self.key)
    }

    /// The value; `None` for a tombstone.
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.slice(&self.value)
    }

    /// The key as a zero-copy slice of the batch buffer.
    #[inline]
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.clone().map(|r| slice_checked(self.data, r))
    }

    /// The value as a zero-copy slice of the batch buffer.
    #[inline]
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| slice_checked(self.data, r))
    }

    /// The number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers in order (already checked when the record was decoded).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter {
            data: self.data,
            cursor_base: self.headers.start,
            bytes: self.data.get(self.headers.clone()).unwrap_or_default(),
            pos: 0,
            left: self.header_count,
        }
    }

    /// The record's contents as an owned [`Record`]: keys, values and header
    /// values stay zero-copy slices; header keys are decoded as UTF-8, replacing
    /// invalid sequences as Kafka's Java client does.
    pub fn to_record(&self) -> Record {
        Record {
            timestamp: self.timestamp,
            key: self.key_bytes(),
            value: self.value_bytes(),
            headers: self
                .headers()
                .map(|h| Header {
                    key: String::from_utf8_lossy(h.key()).into_owned(),
                    value: h.value_bytes(),
                })
                .collect(),
        }
    }
}

/// Iterates a record's headers.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    pub(crate) data: &'a Bytes,
    pub(crate) cursor_base: usize,
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = HeaderView<'a>;

    fn next(&mut self) -> Option<HeaderView<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut c = Cursor::new(self.bytes.get(self.pos..)?);
        // The record decoder walked these bytes already; a failure here cannot
        // happen, and ends the iteration if it somehow does.
        let key_len = usize::try_from(c.varint().ok()?).ok()?;
        let key = c.skip(key_len).ok()?;
        let value_len = c.varint().ok()?;
        let value = if value_len < 0 {
            None
        } else {
            Some(c.skip(usize::try_from(value_len).ok()?).ok()?)
        };
        let base = self.cursor_base + self.pos;
        self.pos += c.pos();
        Some(HeaderView {
            data: self.data,
            key: (key.start + base)..(key.end + base),
            value: value.map(|v| (v.start + base)..(v.end + base)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left as usize))
    }
}

/// One header of a [`RecordView`].
#[derive(Debug, Clone)]
pub struct HeaderView<'a> {
    pub(crate) data: &'a Bytes,
    pub(crate) key: Range<usize>,
    pub(crate) value: Option<Range<usize>>,
}

impl<'a> HeaderView<'a> {
    /// The key's bytes (Kafka writes UTF-8).
    pub fn key(&self) -> &'a [u8] {
        self.data.get(self.key.clone()).unwrap_or_default()
    }

    /// The key as UTF-8, if it is.
    pub fn key_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.key()).ok()
    }

    /// The value; `None` for null.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
            .as_ref()
            .map(|r| self.data.get(r.clone()).unwrap_or_default())
    }

    /// The value as a zero-copy slice of the batch buffer.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.clone().map(|r| slice_checked(self.data, r))
    }
}

/// `data[r]` as a zero-copy `Bytes`, or empty when `r` is not inside `data`
/// (a span of another batch, see [`Records::view`](crate::Records::view)): never a panic.
pub(crate) fn slice_checked(data: &Bytes, r: Range<usize>) -> Bytes {
    if r.start <= r.end && r.end <= data.len() {
        data.slice(r)
    } else {
        Bytes::new()
    }
}

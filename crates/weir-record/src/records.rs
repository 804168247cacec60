//! Lazy record decoding: [`Records`] holds a batch's (decompressed) records
//! section; [`RecordIter`] decodes one [`RecordView`] at a time.

use std::ops::Range;

use bytes::Bytes;

use crate::cursor::{Cursor, Fault};
use crate::{RecordBatch, RecordError, RecordField, RecordView, TimestampType};

/// The smallest encoded record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count of one byte each.
pub const MIN_RECORD_SIZE: usize = 7;

/// The records of one batch, decompressed if they were compressed, ready to
/// iterate with [`iter`](Self::iter).
///
/// The record count was checked against the bytes when this was made; each
/// record is decoded and checked when the iterator reaches it.
#[derive(Debug, Clone)]
pub struct Records {
    data: Bytes,
    count: u32,
    base_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    timestamp_type: TimestampType,
    last_offset_delta: i32,
}

impl Records {
    pub(crate) fn new(batch: &RecordBatch, data: Bytes) -> Result<Self, RecordError> {
        let count = batch.records_count();
        let invalid = |reason: String| RecordError::InvalidRecordCount { count, reason };
        let count_u = u32::try_from(count).map_err(|_| invalid("negative".into()))?;
        if count_u as usize > data.len() / MIN_RECORD_SIZE {
            return Err(invalid(format!(
                "{count} records need at least {} bytes, the records section has {}",
                u64::from(count_u) * MIN_RECORD_SIZE as u64,
                data.len()
            )));
        }
        let last_offset_delta = batch.last_offset_delta();
        if i64::from(count_u) > i64::from(last_offset_delta) + 1 {
            return Err(invalid(format!(
                "more records than the {} offsets lastOffsetDelta {last_offset_delta} allows",
                i64::from(last_offset_delta) + 1
            )));
        }
        Ok(Records {
            data,
            count: count_u,
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            max_timestamp: batch.max_timestamp(),
            timestamp_type: batch.timestamp_type(),
            last_offset_delta,
        })
    }

    /// The number of records the batch declares.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether the batch declares no records.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The (decompressed) records section.
    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }

    /// An iterator decoding the records one at a time. After the last declared
    /// record it checks that no bytes are left over.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            records: self,
            pos: 0,
            index: 0,
            previous_offset_delta: -1,
            done: false,
        }
    }

    /// An iterator that goes on from where one over these records was when
    /// [`RecordIter::position`] was taken, without decoding the records before
    /// it again. A position from other records gives errors or wrong records
    /// from the iterator, never a panic.
    pub fn iter_at(&self, at: IterPosition) -> RecordIter<'_> {
        RecordIter {
            records: self,
            pos: at.pos.min(self.data.len()),
            index: at.index.min(self.count),
            previous_offset_delta: at.previous_offset_delta,
            done: false,
        }
    }
}

/// Where a [`RecordIter`] is: before which record, and the checks' state. Go on
/// from it with [`Records::iter_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterPosition {
    pos: usize,
    index: u32,
    previous_offset_delta: i64,
}

impl IterPosition {
    /// The byte position in the (decompressed) records: the bytes between
    /// two positions are the records between them, length prefixes
    /// included (Kafka's `Record.sizeInBytes` summed).
    pub fn byte_position(&self) -> usize {
        self.pos
    }
}

impl Records {
    /// The view of a record decoded earlier, from its [`RecordSpan`]: no
    /// decoding. The span must come from this `Records` (a span of another
    /// batch gives a view of wrong or empty fields, never a panic: ranges are
    /// checked when the view reads them).
    #[inline]
    pub fn view(&self, span: &RecordSpan) -> RecordView<'_> {
        let range = |(start, len): (u32, i32)| {
            usize::try_from(len)
                .ok()
                .map(|len| start as usize..start as usize + len)
        };
        let timestamp_delta = span.timestamp_delta;
        RecordView {
            data: &self.data,
            offset: self.base_offset.wrapping_add(i64::from(span.offset_delta)),
            offset_delta: span.offset_delta,
            timestamp: match self.timestamp_type {
                TimestampType::LogAppendTime => self.max_timestamp,
                TimestampType::CreateTime => self.base_timestamp.wrapping_add(timestamp_delta),
            },
            timestamp_delta,
            attributes: span.attributes,
            key: range(span.key),
            value: range(span.value),
            headers: span.headers.0 as usize..span.headers.1 as usize,
            header_count: span.header_count,
        }
    }
}

/// A decoded record's fields without the borrow of its buffer (44 bytes):
/// keep spans to revisit records of a [`Records`] later ([`Records::view`])
/// without decoding them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: (u32, i32),
    pub(crate) value: (u32, i32),
    pub(crate) headers: (u32, u32),
    pub(crate) header_count: u32,
    pub(crate) attributes: i8,
}

impl RecordSpan {
    /// The record's offset delta (its offset less the batch's base offset).
    #[inline]
    pub fn offset_delta(&self) -> i32 {
        self.offset_delta
    }

    /// Where the record ends in its batch's records section: the position
    /// of the next record, so a run of records from position `start` takes
    /// the last one's `end() - start` bytes.
    #[inline]
    pub fn end(&self) -> usize {
        self.headers.1 as usize
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = Result<RecordView<'a>, RecordError>;
    type IntoIter = RecordIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Decodes the records of a [`Records`] lazily; yields an error, then stops, at
/// the first record that is not sound.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    records: &'a Records,
    pos: usize,
    index: u32,
    previous_offset_delta: i64,
    done: bool,
}

/// Reads a varint at `*pos` of `buf`, or `None` for anything unusual (the careful
/// decoder then says what).
/// Most lengths and deltas in a batch take one or two bytes; those are read
/// inline, longer ones by the general decoder.
#[inline(always)]
fn fast_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let b0 = *buf.get(*pos)?;
    let z = if b0 & 0x80 == 0 {
        *pos += 1;
        u32::from(b0)
    } else if let Some(&b1) = buf.get(*pos + 1)
        && b1 & 0x80 == 0
    {
        *pos += 2;
        u32::from(b0 & 0x7f) | (u32::from(b1) << 7)
    } else {
        let (v, n) = crate::varint::decode_varint(buf.get(*pos..)?).ok()?;
        *pos += n;
        return Some(v);
    };
    Some(((z >> 1) as i32) ^ -((z & 1) as i32))
}

/// As [`fast_varint`] for a varlong.
#[inline(always)]
fn fast_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let b0 = *buf.get(*pos)?;
    let z = if b0 & 0x80 == 0 {
        *pos += 1;
        u64::from(b0)
    } else if let Some(&b1) = buf.get(*pos + 1)
        && b1 & 0x80 == 0
    {
        *pos += 2;
        u64::from(b0 & 0x7f) | (u64::from(b1) << 7)
    } else {
        let (v, n) = crate::varint::decode_varlong(buf.get(*pos..)?).ok()?;
        *pos += n;
        return Some(v);
    };
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

/// A nullable length and the range it covers; `None` when malformed.
#[inline(always)]
fn fast_nullable(body: &[u8], pos: &mut usize) -> Option<Option<Range<usize>>> {
    let len = fast_varint(body, pos)?;
    // As Kafka's `DefaultRecord.readFrom`: any negative length is null.
    if len < 0 {
        return Some(None);
    }
    let start = *pos;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    if end > body.len() {
        return None;
    }
    *pos = end;
    Some(Some(start..end))
}

/// A record's length prefix and fields up to its offset delta, as the careful
/// decoder reads them.
struct Prefix<'a> {
    /// Where the record's body starts in the records section.
    body_start: usize,
    body: &'a [u8],
    /// Bytes of the body read: attributes and both deltas.
    after: usize,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
}

/// The fields before a record's key, read from the record's first 16 bytes.
struct RecordHead {
    /// Bytes read: the length prefix through the timestamp and offset deltas.
    len: usize,
    /// Where the record ends, from its start.
    end: usize,
    attributes: i8,
    timestamp_delta: i32,
    offset_delta: i32,
}

/// A zigzag varint of at most two bytes at `*at` of a 16-byte window (indexes
/// masked, so no bounds checks); `None` for a longer one.
#[inline(always)]
fn window_varint(window: &[u8; 16], at: &mut usize) -> Option<i32> {
    let b0 = *window.get(*at & 15)?;
    let z = if b0 & 0x80 == 0 {
        *at += 1;
        u32::from(b0)
    } else {
        let b1 = *window.get((*at + 1) & 15)?;
        if b1 & 0x80 != 0 {
            return None;
        }
        *at += 2;
        u32::from(b0 & 0x7f) | (u32::from(b1) << 7)
    };
    Some(((z >> 1) as i32) ^ -((z & 1) as i32))
}

/// The length, attributes and deltas of the common record (each varint at
/// most two bytes: they then take at most 8 of the 16 bytes), or `None` for
/// any other, which the byte-by-byte path reads.
#[inline(always)]
fn record_head(window: &[u8; 16]) -> Option<RecordHead> {
    // The length prefix bounds the walk from record to record (each
    // record's start waits for the one before's length), so it is decoded
    // with the fewest dependent steps: a non-negative zigzag value of one or
    // two bytes, halved without building the zigzag form first.
    let b0 = usize::from(window[0]);
    if b0 & 1 != 0 {
        return None;
    }
    let (mut at, end) = if b0 & 0x80 == 0 {
        (1, 1 + (b0 >> 1))
    } else {
        let b1 = usize::from(window[1]);
        if b1 & 0x80 != 0 {
            return None;
        }
        (2, 2 + (((b0 & 0x7f) >> 1) | (b1 << 6)))
    };
    let attributes = *window.get(at & 15)? as i8;
    at += 1;
    let timestamp_delta = window_varint(window, &mut at)?;
    let offset_delta = window_varint(window, &mut at)?;
    (at <= end).then_some(RecordHead {
        len: at,
        end,
        attributes,
        timestamp_delta,
        offset_delta,
    })
}

impl<'a> RecordIter<'a> {
    /// The hot path: decodes a well-formed record with the same checks as
    /// [`decode`](Self::decode), but gives up (returns `None`) at the first thing
    /// that is not, leaving the careful decoder to name the problem.
    #[inline(always)]
    fn decode_fast(&mut self) -> Option<RecordView<'a>> {
        let data = &self.records.data;
        let all: &'a [u8] = data.as_ref();
        let mut p = self.pos;
        let (end, attributes, timestamp_delta, offset_delta) = match all
            .get(p..)
            .and_then(|rest| rest.first_chunk::<16>())
            .and_then(record_head)
        {
            Some(head) => {
                p += head.len;
                (
                    self.pos.checked_add(head.end)?,
                    head.attributes,
                    i64::from(head.timestamp_delta),
                    head.offset_delta,
                )
            }
            None => {
                let length = usize::try_from(fast_varint(all, &mut p)?).ok()?;
                let end = p.checked_add(length)?;
                let attributes = *all.get(p).filter(|_| p < end)? as i8;
                p += 1;
                let body = all.get(..end)?;
                let timestamp_delta = fast_varlong(body, &mut p)?;
                let offset_delta = fast_varint(body, &mut p)?;
                (end, attributes, timestamp_delta, offset_delta)
            }
        };
        // Reads below are bounded by the record's own end.
        let body = all.get(..end)?;
        if p > end {
            return None;
        }
        let key = fast_nullable(body, &mut p)?;
        let value = fast_nullable(body, &mut p)?;
        // Most records have no headers: the value ends one byte before the
        // record, and that byte is a header count of zero. Checked as such,
        // without the general header loop (measured: 5-10 % of the decode).
        let (header_count, headers_start) =
            if end.checked_sub(1) == Some(p) && body.last() == Some(&0) {
                p = end;
                (0, end)
            } else {
                let header_count = u32::try_from(fast_varint(body, &mut p)?).ok()?;
                let headers_start = p;
                for _ in 0..header_count {
                    let key_len = usize::try_from(fast_varint(body, &mut p)?).ok()?;
                    p = p.checked_add(key_len).filter(|&e| e <= end)?;
                    fast_nullable(body, &mut p)?;
                }
                (header_count, headers_start)
            };
        if p != end
            || i64::from(offset_delta) <= self.previous_offset_delta
            || offset_delta > self.records.last_offset_delta
        {
            return None;
        }
        self.previous_offset_delta = i64::from(offset_delta);
        self.pos = end;
        self.index += 1;
        let timestamp = match self.records.timestamp_type {
            TimestampType::LogAppendTime => self.records.max_timestamp,
            TimestampType::CreateTime => self.records.base_timestamp.wrapping_add(timestamp_delta),
        };
        Some(RecordView {
            data,
            offset: self
                .records
                .base_offset
                .wrapping_add(i64::from(offset_delta)),
            offset_delta,
            timestamp,
            timestamp_delta,
            attributes,
            key,
            value,
            headers: headers_start..end,
            header_count,
        })
    }

    /// Where this iterator is, to go on later with [`Records::iter_at`].
    pub fn position(&self) -> IterPosition {
        IterPosition {
            pos: self.pos,
            index: self.index,
            previous_offset_delta: self.previous_offset_delta,
        }
    }

    fn field_error(&self, field: RecordField, fault: Fault) -> RecordError {
        RecordError::InvalidRecordField {
            index: self.index,
            field,
            reason: fault.to_string(),
        }
    }

    #[cold]
    #[inline(never)]
    /// The length prefix and the fields before the key of the record at the
    /// iterator's position, checked as [`decode`](Self::decode) checks them.
    fn prefix(&self) -> Result<Prefix<'a>, RecordError> {
        let data: &'a Bytes = &self.records.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        let mut prefix = Cursor::new(rest);
        let length = prefix
            .varint()
            .map_err(|f| self.field_error(RecordField::Length, f))?;
        let available = prefix.remaining();
        let body_len = usize::try_from(length)
            .ok()
            .filter(|&l| l <= available)
            .ok_or(RecordError::InvalidRecordLength {
                index: self.index,
                length: i64::from(length),
                available,
            })?;
        let body = rest
            .get(prefix.pos()..prefix.pos() + body_len)
            .unwrap_or_default();
        let mut c = Cursor::new(body);
        let attributes = c
            .i8()
            .map_err(|f| self.field_error(RecordField::Attributes, f))?;
        let timestamp_delta = c
            .varlong()
            .map_err(|f| self.field_error(RecordField::TimestampDelta, f))?;
        let offset_delta = c
            .varint()
            .map_err(|f| self.field_error(RecordField::OffsetDelta, f))?;
        Ok(Prefix {
            body_start: self.pos + prefix.pos(),
            body,
            after: c.pos(),
            attributes,
            timestamp_delta,
            offset_delta,
        })
    }

    /// The offset delta's checks: after the previous record's, within the
    /// batch's last offset delta.
    fn check_offset_delta(&self, offset_delta: i32) -> Result<(), RecordError> {
        let last = self.records.last_offset_delta;
        if i64::from(offset_delta) <= self.previous_offset_delta || offset_delta > last {
            return Err(RecordError::InvalidOffsetDelta {
                index: self.index,
                offset_delta,
                previous: self.previous_offset_delta,
                last_offset_delta: last,
            });
        }
        Ok(())
    }

    /// Moves past the records before `offset` reading only their length
    /// prefix and offset delta: a record further on stays readable when one
    /// before it is damaged past those fields (a consumer that seeks past a
    /// damaged record goes on). The iterator stops before the first record at
    /// or after `offset`.
    ///
    /// # Errors
    /// A record whose length or fields up to its offset delta are not sound;
    /// the iterator stays before it.
    pub fn skip_until(&mut self, offset: i64) -> Result<(), RecordError> {
        while !self.done && self.index < self.records.count {
            let p = self.prefix()?;
            let at = self
                .records
                .base_offset
                .wrapping_add(i64::from(p.offset_delta));
            if at >= offset {
                break;
            }
            self.check_offset_delta(p.offset_delta)?;
            self.previous_offset_delta = i64::from(p.offset_delta);
            self.pos = p.body_start + p.body.len();
            self.index += 1;
        }
        Ok(())
    }

    fn decode(&mut self) -> Result<RecordView<'a>, RecordError> {
        let data = &self.records.data;
        let Prefix {
            body_start,
            body,
            after,
            attributes,
            timestamp_delta,
            offset_delta,
        } = self.prefix()?;
        let body_len = body.len();
        let mut c = Cursor::new(body);
        c.skip(after)
            .map_err(|f| self.field_error(RecordField::OffsetDelta, f))?;
        let key = self.nullable(&mut c, RecordField::Key)?;
        let value = self.nullable(&mut c, RecordField::Value)?;
        let header_count = c
            .varint()
            .map_err(|f| self.field_error(RecordField::HeaderCount, f))?;
        let header_count =
            u32::try_from(header_count).map_err(|_| RecordError::InvalidRecordField {
                index: self.index,
                field: RecordField::HeaderCount,
                reason: format!("negative count {header_count}"),
            })?;
        let headers_start = c.pos();
        for _ in 0..header_count {
            let key_len = c
                .varint()
                .map_err(|f| self.field_error(RecordField::HeaderKey, f))?;
            let key_len =
                usize::try_from(key_len).map_err(|_| RecordError::InvalidRecordField {
                    index: self.index,
                    field: RecordField::HeaderKey,
                    reason: format!("negative length {key_len}"),
                })?;
            c.skip(key_len)
                .map_err(|f| self.field_error(RecordField::HeaderKey, f))?;
            self.nullable(&mut c, RecordField::HeaderValue)?;
        }
        if c.pos() != body_len {
            return Err(RecordError::RecordLengthMismatch {
                index: self.index,
                declared: body_len,
                actual: c.pos(),
            });
        }

        self.check_offset_delta(offset_delta)?;
        self.previous_offset_delta = i64::from(offset_delta);
        self.pos = body_start + body_len;
        self.index += 1;

        let timestamp = match self.records.timestamp_type {
            TimestampType::LogAppendTime => self.records.max_timestamp,
            TimestampType::CreateTime => self.records.base_timestamp.wrapping_add(timestamp_delta),
        };
        let shift = |r: Range<usize>| (r.start + body_start)..(r.end + body_start);
        Ok(RecordView {
            data,
            offset: self
                .records
                .base_offset
                .wrapping_add(i64::from(offset_delta)),
            offset_delta,
            timestamp,
            timestamp_delta,
            attributes,
            key: key.map(shift),
            value: value.map(shift),
            headers: shift(headers_start..body_len),
            header_count,
        })
    }

    /// Reads a varint length and that many bytes; a negative length is null
    /// (Kafka writes -1; its reader takes any negative length as null).
    #[inline]
    fn nullable(
        &self,
        c: &mut Cursor<'_>,
        field: RecordField,
    ) -> Result<Option<Range<usize>>, RecordError> {
        let len = c.varint().map_err(|f| self.field_error(field, f))?;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        c.skip(len)
            .map(Some)
            .map_err(|f| self.field_error(field, f))
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == self.records.count {
            self.done = true;
            let remaining = self.records.data.len().saturating_sub(self.pos);
            return (remaining > 0).then_some(Err(RecordError::TrailingBytes {
                count: self.records.count as i32,
                remaining,
            }));
        }
        if let Some(view) = self.decode_fast() {
            return Some(Ok(view));
        }
        // The careful decoder works on a copy, so that no reference to this
        // iterator reaches a call that is not inlined: the compiler then keeps
        // its fields in registers in the caller's loop instead of storing and
        // reloading the position at every record.
        let mut careful = self.clone();
        let result = careful.decode();
        *self = careful;
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let left = (self.records.count - self.index) as usize;
        (0, Some(left + 1))
    }
}

impl std::iter::FusedIterator for RecordIter<'_> {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::{BatchBuilder, BatchOptions, Header, Record, RecordBatch};

    /// Kafka's reader takes any negative key, value or header-value length
    /// as null (a negative header key length is an error there and here).
    #[test]
    fn negative_lengths_other_than_minus_one_are_null_as_in_kafka() {
        // One record: length, attributes 0, timestamp delta 0, offset delta 0,
        // key length -2 (zigzag 3), value length -7 (13), one header with key
        // "h" and value length -3 (5).
        let body = [0u8, 0, 0, 3, 13, 2, 2, b'h', 5];
        let mut record = vec![(body.len() as u8) << 1];
        record.extend_from_slice(&body);
        let mut builder = BatchBuilder::new(BatchOptions::default());
        builder.append(&Record::new("x")).unwrap();
        let mut bytes = builder.build().unwrap().to_vec();
        bytes.truncate(crate::layout::RECORDS);
        bytes.extend_from_slice(&record);
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crate::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(bytes::Bytes::from(bytes.clone())).unwrap();
        batch.validate_crc().unwrap();
        agree(&batch, true);
        let records = batch.records().unwrap();
        let r = records.iter().next().unwrap().unwrap();
        assert_eq!((r.key(), r.value()), (None, None));
        let h: Vec<_> = r.headers().map(|h| (h.key().to_vec(), h.value())).collect();
        assert_eq!(h, [(b"h".to_vec(), None)]);

        // A negative header key length stays an error.
        let last = bytes.len() - 3;
        bytes[last] = 3; // header key length -2
        let crc = crate::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(bytes::Bytes::from(bytes)).unwrap();
        agree(&batch, false);
        assert!(batch.records().unwrap().iter().next().unwrap().is_err());
    }

    /// A span viewed in another (smaller) batch gives wrong or empty fields,
    /// as documented, and never a panic, also through the `Bytes` accessors.
    #[test]
    fn a_span_of_another_batch_never_panics() {
        let mut big = BatchBuilder::new(BatchOptions::default());
        big.append(
            &Record::new(vec![b'v'; 300])
                .with_key(vec![b'k'; 100])
                .with_header(Header::new("h", vec![b'x'; 50])),
        )
        .unwrap();
        let big = RecordBatch::new(big.build().unwrap()).unwrap();
        let big_records = big.records().unwrap();
        let span = big_records.iter().next().unwrap().unwrap().span();

        let mut small = BatchBuilder::new(BatchOptions::default());
        small.append(&Record::new("v")).unwrap();
        let small = RecordBatch::new(small.build().unwrap()).unwrap();
        let small_records = small.records().unwrap();
        let view = small_records.view(&span);
        assert_eq!(view.key_bytes().map(|b| b.len()), Some(0));
        assert_eq!(view.value_bytes().map(|b| b.len()), Some(0));
        let record = view.to_record();
        assert!(record.value.is_some_and(|v| v.is_empty()));
        for h in view.headers() {
            let _ = (h.key(), h.value(), h.value_bytes());
        }
    }

    /// The fast path must accept exactly what the careful decoder accepts, and
    /// decode it the same way.
    /// Checks that the fast decoder agrees with the careful one on each record
    /// of `batch`; with `sound`, that it also accepts every one of them.
    fn agree(batch: &RecordBatch, sound: bool) {
        let Ok(records) = batch.records() else { return };
        let mut iter = records.iter();
        while iter.index < records.count {
            let mut fast = iter.clone();
            let fast_view = fast.decode_fast();
            let careful = iter.decode();
            match (fast_view, careful) {
                (Some(f), Ok(c)) => {
                    // A span knows the record's offset delta and where the
                    // record ends (where each decoder went on).
                    assert_eq!(c.span().end(), iter.pos);
                    assert_eq!(f.span().end(), fast.pos);
                    assert_eq!(c.span().offset_delta(), c.offset_delta);
                    // A span rebuilds the same view without decoding.
                    let again = records.view(&c.span());
                    assert_eq!(
                        (
                            again.offset,
                            again.timestamp,
                            again.key(),
                            again.value(),
                            again.attributes
                        ),
                        (c.offset, c.timestamp, c.key(), c.value(), c.attributes)
                    );
                    assert_eq!(
                        again
                            .headers()
                            .map(|h| (h.key(), h.value()))
                            .collect::<Vec<_>>(),
                        c.headers()
                            .map(|h| (h.key(), h.value()))
                            .collect::<Vec<_>>()
                    );
                    assert_eq!(
                        (
                            f.offset,
                            f.timestamp,
                            f.key(),
                            f.value(),
                            f.header_count,
                            f.headers.clone()
                        ),
                        (
                            c.offset,
                            c.timestamp,
                            c.key(),
                            c.value(),
                            c.header_count,
                            c.headers.clone()
                        )
                    );
                    assert_eq!((fast.pos, fast.index), (iter.pos, iter.index));
                }
                (None, Err(_)) => return,
                (None, Ok(c)) => {
                    // The fast path may leave damaged-looking records to the
                    // careful one, never a sound one.
                    assert!(
                        !sound,
                        "fast path refused the sound record at offset {}",
                        c.offset
                    );
                }
                (Some(_), Err(e)) => {
                    panic!("fast path accepted what the careful decoder rejects: {e}")
                }
            }
        }
    }

    proptest! {
        /// Going on from a position gives the records a full iteration gives
        /// after it, and the same end (including trailing-bytes checks);
        /// skipping to an offset stops where iterating to it does.
        #[test]
        fn iteration_goes_on_from_a_position(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..30),
            split in any::<usize>(),
        ) {
            let mut b = BatchBuilder::new(BatchOptions::default());
            for (i, v) in values.iter().enumerate() {
                b.append(&Record::new(v.clone()).with_timestamp(i as i64 * 1000)).unwrap();
            }
            let batch = RecordBatch::new(b.build().unwrap()).unwrap();
            let records = batch.records().unwrap();
            let all: Vec<(i64, Vec<u8>)> = records
                .iter()
                .map(|r| r.map(|r| (r.offset(), r.value().unwrap_or_default().to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            let k = split % (all.len() + 1);
            let mut it = records.iter();
            for _ in 0..k {
                it.next().unwrap().unwrap();
            }
            let rest: Vec<(i64, Vec<u8>)> = records
                .iter_at(it.position())
                .map(|r| r.map(|r| (r.offset(), r.value().unwrap_or_default().to_vec())))
                .collect::<Result<_, _>>()
                .unwrap();
            prop_assert_eq!(&rest[..], &all[k..]);
            // Skipping to an offset lands at the same record.
            let mut skipping = records.iter();
            skipping.skip_until(k as i64).unwrap();
            prop_assert_eq!(skipping.position(), it.position());
        }

        #[test]
        fn fast_and_careful_decoders_agree(
            records in proptest::collection::vec(
                (-1i64..=i64::MAX, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                 proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)), 0..3usize),
                1..8),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        ) {
            let mut b = BatchBuilder::new(BatchOptions::default());
            for (ts, key, value, headers) in &records {
                let mut r = Record { timestamp: *ts, key: key.clone().map(Into::into), value: value.clone().map(Into::into), headers: Vec::new() };
                for i in 0..*headers {
                    r.headers.push(Header::new(format!("h{i}"), vec![i as u8; i]));
                }
                b.append(&r).unwrap();
            }
            let mut bytes = b.build().unwrap().to_vec();
            let payload = bytes.len() - crate::layout::RECORDS;
            for (at, x) in &flips {
                bytes[crate::layout::RECORDS + at % payload] ^= x | 1;
            }
            agree(&RecordBatch::new(bytes.into()).unwrap(), flips.is_empty());
        }

        /// Timestamps close together (the 16-byte head path) and far apart
        /// (the byte-by-byte path), every field size: the fast decoder reads
        /// every sound record itself, as the careful one does.
        #[test]
        fn fast_decoder_reads_every_sound_record(
            base in any::<i64>(),
            records in proptest::collection::vec(
                (prop_oneof![0..10_000i64, any::<i64>()],
                 proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                 proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)), 0..3usize),
                1..40),
        ) {
            let mut b = BatchBuilder::new(BatchOptions::default());
            for (spread, key, value, headers) in &records {
                // Not negative (Kafka's builder refuses it), deltas of any size.
                let mut r = Record { timestamp: base.wrapping_add(*spread) & i64::MAX, key: key.clone().map(Into::into), value: value.clone().map(Into::into), headers: Vec::new() };
                for i in 0..*headers {
                    r.headers.push(Header::new(format!("h{i}"), vec![i as u8; i]));
                }
                b.append(&r).unwrap();
            }
            agree(&RecordBatch::new(b.build().unwrap()).unwrap(), true);
        }
    }
}

//! Owned records and headers: what a producer appends and what a view converts to.

use bytes::Bytes;

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

/// A varint's bytes (least significant group first, in the low bytes) and count.
#[derive(Clone, Copy)]
struct Encoded {
    bytes: u128,
    len: u32,
}

impl Encoded {
    /// The varint encoding of an already zigzagged value.
    #[inline(always)]
    fn of(mut z: u64) -> Self {
        if z < 0x80 {
            return Encoded {
                bytes: u128::from(z),
                len: 1,
            };
        }
        if z < 0x4000 {
            return Encoded {
                bytes: u128::from((z & 0x7f) | 0x80 | ((z >> 7) << 8)),
                len: 2,
            };
        }
        let mut bytes = 0u128;
        let mut len = 0;
        while z >= 0x80 {
            bytes |= u128::from((z as u8) | 0x80) << (8 * len);
            z >>= 7;
            len += 1;
        }
        Encoded {
            bytes: bytes | (u128::from(z) << (8 * len)),
            len: len + 1,
        }
    }

    #[inline(always)]
    fn varint(v: i32) -> Self {
        Self::of(u64::from(((v << 1) ^ (v >> 31)) as u32))
    }

    #[inline(always)]
    fn varlong(v: i64) -> Self {
        Self::of(((v << 1) ^ (v >> 63)) as u64)
    }

    /// A nullable field's length: -1 for null.
    #[inline(always)]
    fn length(field: Option<&[u8]>) -> Self {
        Self::varint(field.map_or(-1, |b| b.len() as i32))
    }
}

/// Varints packed into a 64-bit register and appended with one 8-byte store
/// (then trimmed to the bytes used): much cheaper than pushing them byte by byte.
/// Used for records [`put_small_record`] does not take.
struct Packer {
    acc: u64,
    len: u32,
}

impl Packer {
    #[inline(always)]
    fn new() -> Self {
        Packer { acc: 0, len: 0 }
    }

    #[inline(always)]
    fn put(&mut self, e: Encoded, out: &mut Vec<u8>) {
        if e.len > 8 {
            self.put_wide(e, out);
        } else {
            self.put_narrow(e, out);
        }
    }

    /// Only varlongs past 2^55 take more than 8 bytes: put them in two halves.
    #[cold]
    fn put_wide(&mut self, e: Encoded, out: &mut Vec<u8>) {
        let low = Encoded {
            bytes: e.bytes & 0xffff_ffff,
            len: 4,
        };
        self.put_narrow(low, out);
        let high = Encoded {
            bytes: e.bytes >> 32,
            len: e.len - 4,
        };
        self.put_narrow(high, out);
    }

    #[inline(always)]
    fn put_narrow(&mut self, e: Encoded, out: &mut Vec<u8>) {
        if self.len + e.len > 8 {
            self.flush(out);
        }
        // len < 8 here, so the shift stays below 64.
        self.acc |= (e.bytes as u64) << (8 * self.len);
        self.len += e.len;
    }

    #[inline(always)]
    fn flush(&mut self, out: &mut Vec<u8>) {
        append_le(out, self.acc, self.len);
        self.acc = 0;
        self.len = 0;
    }
}

/// A zigzagged value below 2^14 as its one or two varint bytes, without
/// branching: (bytes, count).
#[inline(always)]
fn small_varint(z: u64) -> (u64, u32) {
    let high = z >> 7;
    let two = u64::from(high != 0);
    ((z & 0x7f) | (two << 7) | (high << 8), 1 + two as u32)
}

/// The common record, written with a handful of stores: no headers, key and
/// value under 8 KiB, deltas under 8192, so that every varint takes at most two
/// bytes. Returns `None` (writing nothing) for any other record.
#[inline(always)]
fn put_small_record<'h>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &(impl Iterator<Item = HeaderRef<'h>> + Clone),
    out: &mut Vec<u8>,
    max_len: usize,
) -> Option<usize> {
    const SMALL: u64 = 1 << 14;
    let zz32 = |v: i32| u64::from(((v << 1) ^ (v >> 31)) as u32);
    let zz_len = |b: Option<&[u8]>| b.map_or(1, |b| (b.len() as u64) << 1);
    let ts = ((timestamp_delta << 1) ^ (timestamp_delta >> 63)) as u64;
    let (off, kl, vl) = (zz32(offset_delta), zz_len(key), zz_len(value));
    if (ts | off | kl | vl) >= SMALL || headers.clone().next().is_some() {
        return None;
    }
    let (ts, ts_n) = small_varint(ts);
    let (off, off_n) = small_varint(off);
    let (kl, kl_n) = small_varint(kl);
    let (vl, vl_n) = small_varint(vl);
    let key_bytes = key.map_or(0, <[u8]>::len);
    let value_bytes = value.map_or(0, <[u8]>::len);
    // attributes + header count are one byte each.
    let size = 2 + (ts_n + off_n + kl_n + vl_n) as usize + key_bytes + value_bytes;
    let (len, len_n) = small_varint((size as u64) << 1);
    if size as u64 >= SMALL / 2 || out.len() + size + 2 > max_len {
        return None;
    }
    let total = len_n as usize + size;
    out.reserve(total + 16);
    // length | attributes (0) | timestamp delta | offset delta: at most 7 bytes,
    // and the key length too when it fits the same 8-byte store.
    let head_n = len_n + 1 + ts_n + off_n;
    let head = len | (ts << (8 * (len_n + 1))) | (off << (8 * (len_n + 1 + ts_n)));
    let (head, head_n, key_length_pending) = if head_n + kl_n <= 8 {
        (head | (kl << (8 * head_n)), head_n + kl_n, false)
    } else {
        (head, head_n, true)
    };
    append_le(out, head, head_n);
    if key_length_pending {
        append_le(out, kl, kl_n);
    }
    if let Some(key) = key {
        out.extend_from_slice(key);
    }
    append_le(out, vl, vl_n);
    if let Some(value) = value {
        out.extend_from_slice(value);
    }
    out.push(0); // no headers
    Some(total)
}

/// Appends the low `n` bytes of `bytes`, little end first, with one 8-byte store.
#[inline(always)]
fn append_le(out: &mut Vec<u8>, bytes: u64, n: u32) {
    let at = out.len();
    out.extend_from_slice(&bytes.to_le_bytes());
    out.truncate(at + n as usize);
}

/// Appends one record (length prefix and body) to `out` and returns the bytes
/// written, or writes nothing and returns `None` when a field, the record, or
/// `out` itself would pass `max_len` bytes (Kafka's int32 lengths).
#[inline(always)]
pub(crate) fn put_record<'h>(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = HeaderRef<'h>> + Clone,
    out: &mut Vec<u8>,
    max_len: usize,
) -> Option<usize> {
    const LIMIT: usize = i32::MAX as usize;
    if let Some(written) = put_small_record(
        timestamp_delta,
        offset_delta,
        key,
        value,
        &headers,
        out,
        max_len,
    ) {
        return Some(written);
    }
    let field_len = |b: Option<&[u8]>| b.map_or(Some(0), |b| (b.len() <= LIMIT).then_some(b.len()));
    let (ts, off) = (
        Encoded::varlong(timestamp_delta),
        Encoded::varint(offset_delta),
    );
    let (key_len, value_len) = (Encoded::length(key), Encoded::length(value));
    let mut headers_size = 0usize;
    let mut count = 0usize;
    for (k, v) in headers.clone() {
        let k_len = field_len(Some(k))?;
        headers_size += Encoded::varint(k_len as i32).len as usize + k_len;
        headers_size += Encoded::length(v).len as usize + field_len(v)?;
        count += 1;
    }
    let count = Encoded::varint(i32::try_from(count).ok()?);
    let size = 1 // attributes
        + (ts.len + off.len + key_len.len + value_len.len + count.len) as usize
        + field_len(key)?
        + field_len(value)?
        + headers_size;
    if size > LIMIT {
        return None;
    }
    let length = Encoded::varint(size as i32);
    let total = length.len as usize + size;
    if out.len().checked_add(total)? > max_len {
        return None;
    }
    // Room for the record and the last 8-byte store.
    out.reserve(total + 8);
    let mut p = Packer::new();
    p.put(length, out);
    p.put(Encoded { bytes: 0, len: 1 }, out); // attributes: unused
    p.put(ts, out);
    p.put(off, out);
    p.put(key_len, out);
    p.flush(out);
    if let Some(key) = key {
        out.extend_from_slice(key);
    }
    p.put(value_len, out);
    p.flush(out);
    if let Some(value) = value {
        out.extend_from_slice(value);
    }
    p.put(count, out);
    p.flush(out);
    for (k, v) in headers {
        p.put(Encoded::varint(k.len() as i32), out);
        p.flush(out);
        out.extend_from_slice(k);
        p.put(Encoded::length(v), out);
        p.flush(out);
        if let Some(v) = v {
            out.extend_from_slice(v);
        }
    }
    Some(total)
}

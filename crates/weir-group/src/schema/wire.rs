//! Kafka's message field encodings, as its generated `read`/`write` code uses them.
//!
//! Non-flexible versions: int16 string lengths, int32 byte and array lengths, -1
//! for null. Flexible versions: unsigned varint lengths holding length + 1 (0 for
//! null), and a tagged-field section (a varint count of `tag, size, bytes`) at the
//! end of every struct. All integers are big-endian.
//!
//! Every length is checked against the bytes that remain before anything is
//! allocated, so hostile input yields a [`GroupError`], never a panic or a large
//! allocation.

use bytes::{BufMut, Bytes};

use crate::GroupError;

/// Longest string Kafka's generated readers and writers accept.
const MAX_STRING_LENGTH: usize = 0x7fff;

/// A cursor over a byte slice; each read names the field it is for.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The bytes not yet read.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The next `n` bytes, unparsed.
    pub(crate) fn raw(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], GroupError> {
        self.take(field, n)
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], GroupError> {
        if n > self.rest.len() {
            return Err(GroupError::Truncated {
                field,
                needed: n,
                available: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], GroupError> {
        let bytes = self.take(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, GroupError> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, GroupError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, GroupError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// `readUnsignedVarint`: at most 5 bytes, 7 bits each, low bits first.
    pub(crate) fn unsigned_varint(&mut self, field: &'static str) -> Result<u32, GroupError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let [byte] = self.array::<1>(field)?;
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GroupError::VarintTooLong { field })
    }

    /// A flexible-version length: varint `n + 1` as a Java `int`, so 0 (and any
    /// value of 2^31 or more) reads as negative, i.e. null.
    fn compact_length(&mut self, field: &'static str) -> Result<i64, GroupError> {
        let raw = self.unsigned_varint(field)?;
        Ok(i64::from(raw.cast_signed()) - 1)
    }

    fn string_body(&mut self, field: &'static str, length: i64) -> Result<String, GroupError> {
        if length > MAX_STRING_LENGTH as i64 {
            return Err(GroupError::InvalidStringLength { field, length });
        }
        let n = usize::try_from(length).map_err(|_| GroupError::NullField { field })?;
        let bytes = self.take(field, n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GroupError::InvalidUtf8 { field })
    }

    fn nullable_string_of(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<Option<String>, GroupError> {
        let length = if flexible {
            self.compact_length(field)?
        } else {
            i64::from(self.i16(field)?)
        };
        if length < 0 {
            return Ok(None);
        }
        self.string_body(field, length).map(Some)
    }

    /// A string the schema declares nullable in this version.
    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<Option<String>, GroupError> {
        self.nullable_string_of(field, flexible)
    }

    /// A non-nullable string: null is an error, as in Kafka's generated readers.
    pub(crate) fn string(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<String, GroupError> {
        self.nullable_string_of(field, flexible)?
            .ok_or(GroupError::NullField { field })
    }

    /// Nullable bytes (`zeroCopy` fields are copied here).
    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<Option<Bytes>, GroupError> {
        let length = if flexible {
            self.compact_length(field)?
        } else {
            i64::from(self.i32(field)?)
        };
        let Ok(n) = usize::try_from(length) else {
            return Ok(None);
        };
        Ok(Some(Bytes::copy_from_slice(self.take(field, n)?)))
    }

    /// Non-nullable bytes.
    pub(crate) fn bytes(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<Bytes, GroupError> {
        self.nullable_bytes(field, flexible)?
            .ok_or(GroupError::NullField { field })
    }

    /// The element count of a non-nullable array, bounded by the bytes left: each
    /// element takes at least `min_element_size` bytes.
    pub(crate) fn array_len(
        &mut self,
        field: &'static str,
        flexible: bool,
        min_element_size: usize,
    ) -> Result<usize, GroupError> {
        let count = if flexible {
            self.compact_length(field)?
        } else {
            i64::from(self.i32(field)?)
        };
        let n = usize::try_from(count).map_err(|_| GroupError::NullField { field })?;
        let available = self.remaining();
        if n.saturating_mul(min_element_size.max(1)) > available {
            return Err(GroupError::ArrayTooLong {
                field,
                count,
                available,
            });
        }
        Ok(n)
    }

    /// A flexible struct's tagged fields. None of the records here define a tag,
    /// so every field is unknown and skipped (Java keeps them aside as
    /// `unknownTaggedFields`).
    pub(crate) fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), GroupError> {
        let count = self.unsigned_varint(field)?;
        for _ in 0..count {
            let _tag = self.unsigned_varint(field)?;
            let size = self.unsigned_varint(field)?;
            let size = usize::try_from(size).map_err(|_| GroupError::Truncated {
                field,
                needed: usize::MAX,
                available: self.remaining(),
            })?;
            self.take(field, size)?;
        }
        Ok(())
    }
}

/// Appends fields to a buffer, refusing what Kafka's writers refuse.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Writer::default()
    }

    pub(crate) fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    pub(crate) fn unsigned_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            // The low 7 bits with the continuation bit; truncation is intended.
            self.buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    fn length(&mut self, field: &'static str, n: usize, flexible: bool) -> Result<(), GroupError> {
        if flexible {
            let v = u32::try_from(n)
                .ok()
                .and_then(|n| n.checked_add(1))
                .filter(|v| *v <= i32::MAX.cast_unsigned())
                .ok_or(GroupError::TooLong { field, length: n })?;
            self.unsigned_varint(v);
        } else {
            let v = i32::try_from(n).map_err(|_| GroupError::TooLong { field, length: n })?;
            self.i32(v);
        }
        Ok(())
    }

    fn null_length(&mut self, flexible: bool, non_flexible_width_is_16: bool) {
        if flexible {
            self.unsigned_varint(0);
        } else if non_flexible_width_is_16 {
            self.i16(-1);
        } else {
            self.i32(-1);
        }
    }

    pub(crate) fn string(
        &mut self,
        field: &'static str,
        s: &str,
        flexible: bool,
    ) -> Result<(), GroupError> {
        let length = s.len();
        if length > MAX_STRING_LENGTH {
            return Err(GroupError::StringTooLong { field, length });
        }
        if flexible {
            self.length(field, length, true)?;
        } else {
            // Checked above: at most 0x7fff.
            self.i16(length as i16);
        }
        self.buf.put_slice(s.as_bytes());
        Ok(())
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
        s: Option<&str>,
        flexible: bool,
    ) -> Result<(), GroupError> {
        match s {
            Some(s) => self.string(field, s, flexible),
            None => {
                self.null_length(flexible, true);
                Ok(())
            }
        }
    }

    pub(crate) fn bytes(
        &mut self,
        field: &'static str,
        b: &[u8],
        flexible: bool,
    ) -> Result<(), GroupError> {
        self.length(field, b.len(), flexible)?;
        self.buf.put_slice(b);
        Ok(())
    }

    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
        b: Option<&[u8]>,
        flexible: bool,
    ) -> Result<(), GroupError> {
        match b {
            Some(b) => self.bytes(field, b, flexible),
            None => {
                self.null_length(flexible, false);
                Ok(())
            }
        }
    }

    pub(crate) fn array_len(
        &mut self,
        field: &'static str,
        n: usize,
        flexible: bool,
    ) -> Result<(), GroupError> {
        self.length(field, n, flexible)
    }

    /// An empty tagged-field section.
    pub(crate) fn no_tagged_fields(&mut self) {
        self.unsigned_varint(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_limits() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut w = Writer::new();
            w.unsigned_varint(v);
            let bytes = w.finish();
            assert_eq!(Reader::new(&bytes).unsigned_varint("v"), Ok(v));
        }
        let mut w = Writer::new();
        w.unsigned_varint(300);
        assert_eq!(&w.finish()[..], &[0xac, 0x02]);
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]).unsigned_varint("v"),
            Err(GroupError::VarintTooLong { field: "v" })
        );
        assert!(matches!(
            Reader::new(&[0x80]).unsigned_varint("v"),
            Err(GroupError::Truncated { .. })
        ));
    }

    #[test]
    fn lengths_are_bounded_before_allocating() {
        // An int32 array count of 2^31 - 1 with four bytes behind it.
        let bytes = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert_eq!(
            Reader::new(&bytes).array_len("a", false, 4),
            Err(GroupError::ArrayTooLong {
                field: "a",
                count: i64::from(i32::MAX),
                available: 4
            })
        );
        // A compact array count of -1 (varint 0) is null, refused when non-nullable.
        assert_eq!(
            Reader::new(&[0]).array_len("a", true, 1),
            Err(GroupError::NullField { field: "a" })
        );
        // Compact length 32768 - 1 = 32767 is allowed (then runs out of bytes);
        // 32769 - 1 = 32768 is refused, as Kafka's readers do.
        assert!(matches!(
            Reader::new(&[0x80, 0x80, 0x02]).string("s", true),
            Err(GroupError::Truncated { needed: 32_767, .. })
        ));
        assert_eq!(
            Reader::new(&[0x81, 0x80, 0x02]).string("s", true),
            Err(GroupError::InvalidStringLength {
                field: "s",
                length: 32_768
            })
        );
    }

    #[test]
    fn strings_over_32767_bytes_are_not_written() {
        let long = "x".repeat(0x8000);
        assert_eq!(
            Writer::new().string("s", &long, false),
            Err(GroupError::StringTooLong {
                field: "s",
                length: 0x8000
            })
        );
    }
}

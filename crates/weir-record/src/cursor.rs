//! A bounds-checked reader over a record's bytes.

use crate::varint::{self, VarintError};

/// Reads fields front to back; every read is checked against the end.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// What went wrong reading a field (the caller adds which record and field).
#[derive(Debug)]
pub(crate) enum Fault {
    /// The bytes ended first: `needed` more were wanted.
    Short { needed: usize, available: usize },
    /// A varint longer than Kafka allows.
    Varint(VarintError),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Short { needed, available } => {
                write!(f, "needs {needed} bytes, {available} left in the record")
            }
            Fault::Varint(e) => e.fmt(f),
        }
    }
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn i8(&mut self) -> Result<i8, Fault> {
        let b = self.rest().first().copied().ok_or(Fault::Short {
            needed: 1,
            available: 0,
        })?;
        self.pos += 1;
        Ok(b as i8)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<i32, Fault> {
        let (v, n) = varint::decode_varint(self.rest()).map_err(Fault::Varint)?;
        self.pos += n;
        Ok(v)
    }

    #[inline]
    pub(crate) fn varlong(&mut self) -> Result<i64, Fault> {
        let (v, n) = varint::decode_varlong(self.rest()).map_err(Fault::Varint)?;
        self.pos += n;
        Ok(v)
    }

    /// Skips `len` bytes and returns the range they occupy.
    #[inline]
    pub(crate) fn skip(&mut self, len: usize) -> Result<std::ops::Range<usize>, Fault> {
        let available = self.remaining();
        if len > available {
            return Err(Fault::Short {
                needed: len,
                available,
            });
        }
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }
}

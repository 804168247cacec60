//! Kafka's zigzag varints (`ByteUtils.readVarint` / `readVarlong`).
//!
//! The value is zigzag-encoded (`(n << 1) ^ (n >> 31)`), then written seven bits
//! at a time, least significant group first, with the high bit meaning "more".
//! A varint takes at most 5 bytes and a varlong at most 10; a longer one is an
//! error, as in Kafka. As in Kafka, bits of the last allowed byte that do not fit
//! the type are dropped.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarintError {
    /// The input ended inside the varint.
    #[error("input ends inside a varint")]
    Truncated,
    /// More than 5 (varint) or 10 (varlong) bytes.
    #[error("varint is too long")]
    TooLong,
}

/// Reads a zigzag varint from the start of `buf`; returns it and the bytes used.
///
/// # Errors
/// [`VarintError::Truncated`] when `buf` ends first, [`VarintError::TooLong`] past
/// 5 bytes.
#[inline]
pub fn decode_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    // One byte covers -64..=63: most lengths and deltas in small records.
    if let Some(&b) = buf.first()
        && b & 0x80 == 0
    {
        let v = u32::from(b);
        return Ok((((v >> 1) as i32) ^ -((v & 1) as i32), 1));
    }
    let mut value: u32 = 0;
    for (i, &b) in buf.iter().enumerate().take(5) {
        value |= u32::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            return Ok((((value >> 1) as i32) ^ -((value & 1) as i32), i + 1));
        }
    }
    if buf.len() < 5 {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong)
    }
}

/// Reads a zigzag varlong from the start of `buf`; returns it and the bytes used.
///
/// # Errors
/// [`VarintError::Truncated`] when `buf` ends first, [`VarintError::TooLong`] past
/// 10 bytes.
#[inline]
pub fn decode_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    if let Some(&b) = buf.first()
        && b & 0x80 == 0
    {
        let v = u64::from(b);
        return Ok((((v >> 1) as i64) ^ -((v & 1) as i64), 1));
    }
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).wrapping_shl(7 * i as u32);
        if b & 0x80 == 0 {
            return Ok((((value >> 1) as i64) ^ -((value & 1) as i64), i + 1));
        }
    }
    if buf.len() < 10 {
        Err(VarintError::Truncated)
    } else {
        Err(VarintError::TooLong)
    }
}

/// Appends `v` as a zigzag varint.
#[inline]
pub fn encode_varint(v: i32, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends `v` as a zigzag varlong.
#[inline]
pub fn encode_varlong(v: i64, out: &mut Vec<u8>) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// The bytes [`encode_varint`] writes for `v`.
#[inline]
pub const fn varint_size(v: i32) -> usize {
    let z = ((v << 1) ^ (v >> 31)) as u32;
    // Bits needed, in groups of seven; zero still takes one byte.
    let bits = 32 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The bytes [`encode_varlong`] writes for `v`.
#[inline]
pub const fn varlong_size(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kafka_vectors() {
        // From kafka-format.md §2 and ByteUtilsTest.
        let mut out = Vec::new();
        encode_varint(-1, &mut out);
        assert_eq!(out, [0x01]);
        for (v, bytes) in [
            (0, vec![0x00]),
            (1, vec![0x02]),
            (63, vec![0x7e]),
            (-64, vec![0x7f]),
            (64, vec![0x80, 0x01]),
            (i32::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            encode_varint(v, &mut out);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(decode_varint(&bytes), Ok((v, bytes.len())));
            assert_eq!(varint_size(v), bytes.len());
        }
    }

    #[test]
    fn too_long_and_truncated() {
        assert_eq!(decode_varint(&[0x80; 5]), Err(VarintError::TooLong));
        assert_eq!(decode_varint(&[0x80; 4]), Err(VarintError::Truncated));
        assert_eq!(decode_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(decode_varlong(&[0xff; 10]), Err(VarintError::TooLong));
        assert_eq!(decode_varlong(&[0xff; 9]), Err(VarintError::Truncated));
        // Kafka drops the bits of the fifth byte that do not fit 32 bits.
        assert_eq!(
            decode_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f]),
            Ok((i32::MIN, 5))
        );
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let mut out = Vec::new();
            encode_varint(v, &mut out);
            prop_assert_eq!(out.len(), varint_size(v));
            out.push(0xAA);
            prop_assert_eq!(decode_varint(&out), Ok((v, varint_size(v))));
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            encode_varlong(v, &mut out);
            prop_assert_eq!(out.len(), varlong_size(v));
            prop_assert_eq!(decode_varlong(&out), Ok((v, varlong_size(v))));
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = decode_varint(&bytes);
            let _ = decode_varlong(&bytes);
        }
    }
}

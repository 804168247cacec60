//! CRC-32C (Castagnoli), the checksum of a RecordBatch v2 (`kafka-format.md` §2).

/// CRC-32C of `bytes`, as Kafka's `Crc32C.compute`.
///
/// Runs at the fastest the CPU allows: AVX-512 VPCLMULQDQ or PCLMULQDQ folding
/// together with the `crc32` instruction on x86-64, PMULL on AArch64, detected
/// at run time (through `crc-fast`), with a portable fallback. A batch's CRC
/// covers the bytes from its attributes to its end:
///
/// ```
/// use weir_record::{BatchBuilder, BatchOptions, RecordBatch, Record, crc32c, layout};
///
/// let mut builder = BatchBuilder::new(BatchOptions::default());
/// builder.append(&Record::new("v").with_timestamp(1))?;
/// let bytes = builder.build()?;
/// let batch = RecordBatch::new(bytes.clone())?;
/// assert_eq!(batch.crc(), crc32c(&bytes[layout::CRC_START..]));
/// assert_eq!(crc32c(b"123456789"), 0xe306_9283);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[inline]
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(bytes)
}

#[cfg(test)]
mod tests {
    use super::crc32c;
    use proptest::prelude::*;

    /// The CRC-32C bit by bit, reflected polynomial 0x82F63B78: an oracle that
    /// shares no code with either fast implementation.
    fn bitwise(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn known_values() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
    }

    #[test]
    fn every_length_and_alignment_up_to_600_bytes() {
        // The SIMD paths switch strategy at several lengths; cross every one of
        // them at every alignment of a 64-byte line.
        let data: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..64 {
            for len in 0..600 {
                let s = &data[start..start + len];
                assert_eq!(crc32c(s), bitwise(s), "start {start} len {len}");
                assert_eq!(crc32c(s), crc32c::crc32c(s), "start {start} len {len}");
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_bitwise_oracle(data in proptest::collection::vec(any::<u8>(), 0..70_000), skip in 0usize..64) {
            let s = data.get(skip..).unwrap_or_default();
            prop_assert_eq!(crc32c(s), bitwise(s));
        }
    }
}

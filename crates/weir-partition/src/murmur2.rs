//! Kafka's murmur2, as the Java client computes it (`Utils.murmur2`).

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// murmur2 of `data` exactly as Kafka's Java client computes it: 32-bit wrapping
/// arithmetic, 4-byte little-endian words, the tail folded in by falling through,
/// returned as a signed int.
///
/// ```
/// assert_eq!(weir_partition::murmur2(b"order-12345"), -1747359319);
/// ```
#[inline]
pub fn murmur2(data: &[u8]) -> i32 {
    // The length is mixed in as Java's int; keys past 2 GiB do not occur.
    let mut h = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for word in words.by_ref() {
        let &[b0, b1, b2, b3] = word else { continue };
        let mut k = u32::from_le_bytes([b0, b1, b2, b3]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        // Java's switch on length % 4 falls through 3 → 2 → 1.
        if let Some(&b) = tail.get(2) {
            h ^= u32::from(b) << 16;
        }
        if let Some(&b) = tail.get(1) {
            h ^= u32::from(b) << 8;
        }
        if let Some(&b) = tail.first() {
            h ^= u32::from(b);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which would map
/// `i32::MIN` to itself).
#[inline]
pub const fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition the Java client's default partitioner gives a non-null key:
/// `toPositive(murmur2(key)) % partitions`.
///
/// ```
/// use std::num::NonZeroU32;
/// let six = NonZeroU32::new(6).unwrap();
/// assert_eq!(weir_partition::murmur2_partition(b"order-12345", six), 1);
/// ```
#[inline]
pub fn murmur2_partition(key: &[u8], partitions: std::num::NonZeroU32) -> u32 {
    to_positive(murmur2(key)) as u32 % partitions.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    /// kafka-format.md §7, checked against Kafka's Utils and UtilsTest.
    const VECTORS: [(&[u8], i32, i32, [u32; 3]); 9] = [
        (b"", 275646681, 275646681, [0, 3, 9]),
        (b"a", -1563381124, 584102524, [1, 4, 4]),
        (b"abc", 479470107, 479470107, [0, 3, 3]),
        (b"21", -973932308, 1173551340, [0, 0, 0]),
        (b"foobar", -790332482, 1357151166, [0, 0, 6]),
        (b"key-0", 29210041, 29210041, [1, 1, 1]),
        (b"hello world", 1221641059, 1221641059, [1, 1, 7]),
        (b"order-12345", -1747359319, 400124329, [1, 1, 1]),
        (&[0xff], -311467685, 1836015963, [0, 3, 3]),
    ];

    #[test]
    fn matches_the_java_client() {
        for (key, hash, positive, partitions) in VECTORS {
            assert_eq!(murmur2(key), hash, "{key:?}");
            assert_eq!(to_positive(murmur2(key)), positive, "{key:?}");
            for (n, p) in [3, 6, 12].into_iter().zip(partitions) {
                assert_eq!(
                    murmur2_partition(key, NonZeroU32::new(n).unwrap()),
                    p,
                    "{key:?} % {n}"
                );
            }
        }
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
    }

    #[test]
    fn to_positive_masks_rather_than_negates() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
    }
}

//! librdkafka's `partitioner` settings, so keys land where a librdkafka-based
//! producer (the C, Go, Python and .NET clients) would put them.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use crate::{Partitioner, murmur2, to_positive};

/// One of librdkafka's built-in partitioners, named as its `partitioner`
/// property names them.
///
/// | name | keyed | null key | empty key |
/// |---|---|---|---|
/// | `random` | random | random | random |
/// | `consistent` | CRC32 % n | CRC32("") = partition 0 | partition 0 |
/// | `consistent_random` (librdkafka's default) | CRC32 % n | random | random |
/// | `murmur2` | Java murmur2 | hashed as empty | hashed |
/// | `murmur2_random` (the Java client's behaviour) | Java murmur2 | random | hashed |
/// | `fnv1a` | FNV-1a % n | hashed as empty | hashed |
/// | `fnv1a_random` | FNV-1a % n | random | hashed |
///
/// CRC32 is the IEEE CRC-32; FNV-1a is the 32-bit variant with the absolute value
/// taken, as Sarama's hash partitioner does. librdkafka itself sends the records
/// marked random here through its sticky partitioner
/// (`sticky.partitioning.linger.ms`); this type answers per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LibrdkafkaPartitioner {
    /// `random`.
    Random,
    /// `consistent`.
    Consistent,
    /// `consistent_random`.
    ConsistentRandom,
    /// `murmur2`.
    Murmur2,
    /// `murmur2_random`.
    Murmur2Random,
    /// `fnv1a`.
    Fnv1a,
    /// `fnv1a_random`.
    Fnv1aRandom,
}

impl LibrdkafkaPartitioner {
    /// Every variant.
    pub const ALL: [LibrdkafkaPartitioner; 7] = [
        LibrdkafkaPartitioner::Random,
        LibrdkafkaPartitioner::Consistent,
        LibrdkafkaPartitioner::ConsistentRandom,
        LibrdkafkaPartitioner::Murmur2,
        LibrdkafkaPartitioner::Murmur2Random,
        LibrdkafkaPartitioner::Fnv1a,
        LibrdkafkaPartitioner::Fnv1aRandom,
    ];

    /// librdkafka's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            LibrdkafkaPartitioner::Random => "random",
            LibrdkafkaPartitioner::Consistent => "consistent",
            LibrdkafkaPartitioner::ConsistentRandom => "consistent_random",
            LibrdkafkaPartitioner::Murmur2 => "murmur2",
            LibrdkafkaPartitioner::Murmur2Random => "murmur2_random",
            LibrdkafkaPartitioner::Fnv1a => "fnv1a",
            LibrdkafkaPartitioner::Fnv1aRandom => "fnv1a_random",
        }
    }
}

impl fmt::Display for LibrdkafkaPartitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `partitioner` value that is not one of librdkafka's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown partitioner {name:?}: expected one of random, consistent, consistent_random, murmur2, murmur2_random, fnv1a, fnv1a_random"
)]
pub struct UnknownPartitioner {
    /// The value given.
    pub name: String,
}

impl FromStr for LibrdkafkaPartitioner {
    type Err = UnknownPartitioner;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LibrdkafkaPartitioner::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPartitioner { name: s.to_owned() })
    }
}

/// librdkafka's FNV-1a (`rd_fnv1a`): 32-bit FNV-1a on a signed accumulator, then
/// the absolute value, to match Sarama's hash partitioner.
pub fn fnv1a(data: &[u8]) -> u32 {
    let mut h: i32 = 0x811C_9DC5_u32 as i32;
    for &b in data {
        h ^= i32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.wrapping_abs() as u32
}

impl Partitioner for LibrdkafkaPartitioner {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: NonZeroU32,
    ) -> u32 {
        let n = partitions.get();
        let random = || fastrand::u32(..n);
        match (self, key) {
            (LibrdkafkaPartitioner::Random, _) => random(),
            (LibrdkafkaPartitioner::Consistent, key) => {
                crc32fast::hash(key.unwrap_or_default()) % n
            }
            (LibrdkafkaPartitioner::ConsistentRandom, Some(key)) if !key.is_empty() => {
                crc32fast::hash(key) % n
            }
            (LibrdkafkaPartitioner::ConsistentRandom, _) => random(),
            (LibrdkafkaPartitioner::Murmur2, key) => {
                to_positive(murmur2(key.unwrap_or_default())) as u32 % n
            }
            (LibrdkafkaPartitioner::Murmur2Random, Some(key)) => {
                to_positive(murmur2(key)) as u32 % n
            }
            (LibrdkafkaPartitioner::Fnv1a, key) => fnv1a(key.unwrap_or_default()) % n,
            (LibrdkafkaPartitioner::Fnv1aRandom, Some(key)) => fnv1a(key) % n,
            (LibrdkafkaPartitioner::Murmur2Random | LibrdkafkaPartitioner::Fnv1aRandom, None) => {
                random()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn fnv1a_matches_librdkafkas_unit_test() {
        // rdfnv1a.c's vectors (from Go's hash/fnv with the absolute value).
        let unaligned = b"PreAmbleWillBeRemoved,ThePrePartThatIs";
        for (key, want) in [
            (&b"kafka"[..], 0x0d33c4e1u32),
            (b"giberish123456789", 0x77a58295),
            (b"1234", 0x023bdd03),
            (b"234", 0x2dea3cd2),
            (b"34", 0x740fa83e),
            (b"4", 0x310ca263),
            (&unaligned[..], 0x65cbd69c),
            (&unaligned[1..], 0x6e49c79a),
            (&unaligned[2..], 0x69eed356),
            (&unaligned[3..], 0x6abcc023),
            (b"", 0x7ee3623b),
        ] {
            assert_eq!(fnv1a(key), want, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyed_variants_are_deterministic_and_documented() {
        let p = |kind: LibrdkafkaPartitioner, key: Option<&[u8]>, parts: u32| {
            kind.partition("t", key, None, n(parts))
        };
        // CRC32("123456789") = 0xCBF43926, the IEEE check value.
        assert_eq!(
            p(LibrdkafkaPartitioner::Consistent, Some(b"123456789"), 1000),
            0xCBF4_3926 % 1000
        );
        assert_eq!(
            p(
                LibrdkafkaPartitioner::ConsistentRandom,
                Some(b"123456789"),
                1000
            ),
            0xCBF4_3926 % 1000
        );
        // Null and empty keys: CRC32 of nothing is 0.
        assert_eq!(p(LibrdkafkaPartitioner::Consistent, None, 7), 0);
        assert_eq!(p(LibrdkafkaPartitioner::Consistent, Some(b""), 7), 0);
        // murmur2 hashes a null key as empty: 275646681 % 12 = 9.
        assert_eq!(p(LibrdkafkaPartitioner::Murmur2, None, 12), 9);
        assert_eq!(p(LibrdkafkaPartitioner::Murmur2Random, Some(b""), 12), 9);
        assert_eq!(
            p(
                LibrdkafkaPartitioner::Murmur2Random,
                Some(b"order-12345"),
                6
            ),
            1
        );
        assert_eq!(
            p(LibrdkafkaPartitioner::Fnv1a, Some(b"kafka"), 1000),
            0x0d33c4e1 % 1000
        );
        assert_eq!(
            p(LibrdkafkaPartitioner::Fnv1a, None, 1000),
            0x7ee3623b % 1000
        );
        assert_eq!(
            p(LibrdkafkaPartitioner::Fnv1aRandom, Some(b""), 1000),
            0x7ee3623b % 1000
        );
    }

    #[test]
    fn random_variants_spread_null_keys() {
        for kind in [
            LibrdkafkaPartitioner::Random,
            LibrdkafkaPartitioner::ConsistentRandom,
            LibrdkafkaPartitioner::Murmur2Random,
            LibrdkafkaPartitioner::Fnv1aRandom,
        ] {
            let mut seen = [false; 4];
            for _ in 0..1000 {
                seen[kind.partition("t", None, None, n(4)) as usize] = true;
            }
            assert!(seen.iter().all(|&s| s), "{kind}: {seen:?}");
        }
    }

    #[test]
    fn names_parse_and_unknown_ones_are_named() {
        for kind in LibrdkafkaPartitioner::ALL {
            assert_eq!(kind.name().parse::<LibrdkafkaPartitioner>().unwrap(), kind);
        }
        let err = "crc32".parse::<LibrdkafkaPartitioner>().unwrap_err();
        assert!(err.to_string().contains("\"crc32\""));
    }
}

//! The codec ids of the batch attributes and the KIP-390 levels.

use std::fmt;
use std::str::FromStr;

use crate::CodecError;

/// A compression codec as Kafka numbers it in bits 0-2 of the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip (id 1).
    Gzip,
    /// snappy in snappy-java's xerial framing (id 2).
    Snappy,
    /// LZ4 frame (id 3).
    Lz4,
    /// zstd (id 4).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The id stored in the batch attributes.
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec for an attributes id.
    ///
    /// # Errors
    /// [`CodecError::UnknownCodecId`] for ids 5-7 (and anything above).
    pub const fn from_id(id: u8) -> Result<Self, CodecError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(CodecError::UnknownCodecId { id }),
        }
    }

    /// Kafka's name for the codec, as `compression.type` spells it on the producer.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = CodecError;

    /// Parses the producer's `compression.type` names: `none`, `gzip`, `snappy`,
    /// `lz4`, `zstd` (ASCII case-insensitive, as Kafka's `CompressionType.forName`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| CodecError::UnknownCodecName { name: s.to_owned() })
    }
}

/// Kafka's default `compression.gzip.level`: zlib's default, level 6.
pub(crate) const GZIP_DEFAULT_LEVEL: i32 = -1;
/// Kafka's default `compression.lz4.level`, which selects lz4's fast compressor.
pub(crate) const LZ4_DEFAULT_LEVEL: i32 = 9;
/// Kafka's default `compression.zstd.level`.
pub(crate) const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// A codec with its level, as the producer's `compression.type` and
/// `compression.<codec>.level` settings give it (KIP-390).
///
/// Levels are validated against the ranges Kafka accepts:
///
/// | codec | key | accepted | default |
/// |---|---|---|---|
/// | gzip | `compression.gzip.level` | -1 or 1-9 | -1 (zlib's 6) |
/// | lz4 | `compression.lz4.level` | 1-17 | 9 |
/// | zstd | `compression.zstd.level` | -131072 to 22 | 3 |
///
/// As in Kafka, the default lz4 level uses lz4's fast compressor and any other
/// level its high-compression mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompressionConfig {
    compression: Compression,
    level: i32,
}

impl CompressionConfig {
    /// No compression.
    pub const NONE: CompressionConfig = CompressionConfig {
        compression: Compression::None,
        level: 0,
    };

    /// The codec at Kafka's default level.
    pub const fn new(compression: Compression) -> Self {
        let level = match compression {
            Compression::Gzip => GZIP_DEFAULT_LEVEL,
            Compression::Lz4 => LZ4_DEFAULT_LEVEL,
            Compression::Zstd => ZSTD_DEFAULT_LEVEL,
            Compression::None | Compression::Snappy => 0,
        };
        CompressionConfig { compression, level }
    }

    /// The codec at the given level.
    ///
    /// # Errors
    /// [`CodecError::InvalidLevel`] naming the Kafka property when the level is out
    /// of Kafka's range for the codec; [`CodecError::LevelNotSupported`] for a
    /// level on `none` or `snappy`.
    pub fn with_level(compression: Compression, level: i32) -> Result<Self, CodecError> {
        let (key, ok, expected) = match compression {
            Compression::Gzip => (
                "compression.gzip.level",
                level == GZIP_DEFAULT_LEVEL || (1..=9).contains(&level),
                "-1 (the default) or 1..=9",
            ),
            Compression::Lz4 => ("compression.lz4.level", (1..=17).contains(&level), "1..=17"),
            Compression::Zstd => (
                "compression.zstd.level",
                (-131_072..=22).contains(&level),
                "-131072..=22",
            ),
            Compression::None | Compression::Snappy => {
                return Err(CodecError::LevelNotSupported {
                    codec: compression,
                    value: level,
                });
            }
        };
        if ok {
            Ok(CompressionConfig { compression, level })
        } else {
            Err(CodecError::InvalidLevel {
                key,
                value: level,
                expected,
            })
        }
    }

    /// The codec.
    pub const fn compression(&self) -> Compression {
        self.compression
    }

    /// The level (0 for codecs without levels).
    pub const fn level(&self) -> i32 {
        self.level
    }
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig::NONE
    }
}

impl From<Compression> for CompressionConfig {
    fn from(compression: Compression) -> Self {
        CompressionConfig::new(compression)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
            assert_eq!(c.name().parse::<Compression>().unwrap(), c);
        }
        for id in 5..=7 {
            assert!(matches!(
                Compression::from_id(id),
                Err(CodecError::UnknownCodecId { id: found }) if found == id
            ));
        }
    }

    #[test]
    fn names_are_case_insensitive_and_unknown_names_are_named() {
        assert_eq!("ZSTD".parse::<Compression>().unwrap(), Compression::Zstd);
        let err = "brotli".parse::<Compression>().unwrap_err();
        assert!(err.to_string().contains("\"brotli\""), "{err}");
    }

    #[test]
    fn levels_follow_kafka_ranges() {
        assert!(CompressionConfig::with_level(Compression::Gzip, -1).is_ok());
        assert!(CompressionConfig::with_level(Compression::Gzip, 9).is_ok());
        for bad in [0, 10, -2] {
            let err = CompressionConfig::with_level(Compression::Gzip, bad).unwrap_err();
            assert!(err.to_string().contains("compression.gzip.level"), "{err}");
        }
        assert!(CompressionConfig::with_level(Compression::Lz4, 17).is_ok());
        assert!(CompressionConfig::with_level(Compression::Lz4, 18).is_err());
        assert!(CompressionConfig::with_level(Compression::Lz4, 0).is_err());
        assert!(CompressionConfig::with_level(Compression::Zstd, -131_072).is_ok());
        assert!(CompressionConfig::with_level(Compression::Zstd, 23).is_err());
        assert!(matches!(
            CompressionConfig::with_level(Compression::Snappy, 1),
            Err(CodecError::LevelNotSupported { .. })
        ));
    }

    #[test]
    fn defaults_are_kafkas() {
        assert_eq!(CompressionConfig::new(Compression::Gzip).level(), -1);
        assert_eq!(CompressionConfig::new(Compression::Lz4).level(), 9);
        assert_eq!(CompressionConfig::new(Compression::Zstd).level(), 3);
        assert_eq!(
            CompressionConfig::default().compression(),
            Compression::None
        );
    }
}

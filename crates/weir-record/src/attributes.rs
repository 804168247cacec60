//! The batch attributes field and the timestamp type.

use std::fmt;

use weir_codec::{CodecError, Compression};

/// How a batch's timestamps were assigned (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer; a record's timestamp is `baseTimestamp + delta`.
    #[default]
    CreateTime,
    /// Set by the log on append; every record's timestamp is the batch's
    /// `maxTimestamp`.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name: `CreateTime` or `LogAppendTime`.
    pub const fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The int16 attributes of a batch.
///
/// Bits 0-2 compression, 3 timestamp type, 4 transactional, 5 control, 6 delete
/// horizon set (KIP-534); bits 7-15 are unused and kept as read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(i16);

impl Attributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const TIMESTAMP_TYPE: i16 = 0x08;
    const TRANSACTIONAL: i16 = 0x10;
    const CONTROL: i16 = 0x20;
    const DELETE_HORIZON: i16 = 0x40;

    /// Wraps a raw attributes value.
    pub const fn from_raw(raw: i16) -> Self {
        Attributes(raw)
    }

    /// The raw value.
    pub const fn raw(self) -> i16 {
        self.0
    }

    /// The compression codec id (bits 0-2), whether or not Kafka defines it.
    pub const fn compression_id(self) -> u8 {
        (self.0 & Self::COMPRESSION_MASK) as u8
    }

    /// The compression codec.
    ///
    /// # Errors
    /// [`CodecError::UnknownCodecId`] for ids 5-7.
    pub const fn compression(self) -> Result<Compression, CodecError> {
        Compression::from_id(self.compression_id())
    }

    /// The timestamp type (bit 3).
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (bit 4).
    pub const fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records (bit 5).
    pub const fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    /// Whether `baseTimestamp` holds the cleaner's delete horizon (bit 6).
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    /// These attributes with another codec.
    pub const fn with_compression(self, compression: Compression) -> Self {
        Attributes((self.0 & !Self::COMPRESSION_MASK) | compression.id() as i16)
    }

    /// These attributes with another timestamp type.
    pub const fn with_timestamp_type(self, t: TimestampType) -> Self {
        Attributes(self.set(
            Self::TIMESTAMP_TYPE,
            matches!(t, TimestampType::LogAppendTime),
        ))
    }

    /// These attributes with the transactional bit set or cleared.
    pub const fn with_transactional(self, on: bool) -> Self {
        Attributes(self.set(Self::TRANSACTIONAL, on))
    }

    /// These attributes with the control bit set or cleared.
    pub const fn with_control(self, on: bool) -> Self {
        Attributes(self.set(Self::CONTROL, on))
    }

    /// These attributes with the delete-horizon bit set or cleared.
    pub const fn with_delete_horizon(self, on: bool) -> Self {
        Attributes(self.set(Self::DELETE_HORIZON, on))
    }

    const fn set(self, bit: i16, on: bool) -> i16 {
        if on { self.0 | bit } else { self.0 & !bit }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attributes")
            .field("raw", &self.0)
            .field("compression_id", &self.compression_id())
            .field("timestamp_type", &self.timestamp_type())
            .field("transactional", &self.is_transactional())
            .field("control", &self.is_control())
            .field("delete_horizon", &self.has_delete_horizon())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_match_kafka() {
        // Values seen in the golden fixtures.
        let txn_marker = Attributes::from_raw(48);
        assert!(txn_marker.is_transactional() && txn_marker.is_control());
        assert_eq!(txn_marker.compression().unwrap(), Compression::None);
        let lz4 = Attributes::from_raw(3);
        assert_eq!(lz4.compression().unwrap(), Compression::Lz4);
        assert_eq!(
            Attributes::from_raw(8).timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert!(Attributes::from_raw(64).has_delete_horizon());
        assert!(Attributes::from_raw(5).compression().is_err());
    }

    #[test]
    fn setters_compose() {
        let a = Attributes::default()
            .with_compression(Compression::Zstd)
            .with_timestamp_type(TimestampType::LogAppendTime)
            .with_transactional(true)
            .with_control(true)
            .with_delete_horizon(true);
        assert_eq!(a.raw(), 4 | 8 | 16 | 32 | 64);
        let b = a
            .with_compression(Compression::Gzip)
            .with_transactional(false)
            .with_timestamp_type(TimestampType::CreateTime);
        assert_eq!(b.raw(), 1 | 32 | 64);
    }
}

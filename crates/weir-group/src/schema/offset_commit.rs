//! Committed offsets in `__consumer_offsets`: `OffsetCommitKey` and
//! `OffsetCommitValue` (Kafka's `group-coordinator/src/main/resources/common/
//! message/OffsetCommit{Key,Value}.json`).
//!
//! ```text
//! key   (v0, v1 identical): int16 version | group string | topic string | partition int32
//! value v0, v2:  int16 version | offset int64 | metadata string | commitTimestamp int64
//! value v1:      int16 version | offset int64 | metadata string | commitTimestamp int64 | expireTimestamp int64
//! value v3:      int16 version | offset int64 | leaderEpoch int32 | metadata string | commitTimestamp int64
//! value v4:      as v3 with a compact metadata string, then tagged fields (flexible)
//! ```

use bytes::Bytes;

use super::wire::{Reader, Writer};
use crate::GroupError;

const KEY: &str = "OffsetCommitKey";
const VALUE: &str = "OffsetCommitValue";

/// The key of a committed offset: which group committed for which partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetCommitKey {
    /// The group id.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl OffsetCommitKey {
    /// The key version Kafka writes (`GroupCoordinatorRecordHelpers.newOffsetCommitRecord`).
    pub const WRITE_VERSION: i16 = 1;

    /// Encodes the key as Kafka writes it: version 1 prefix, then the fields.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a group or topic above 32767 bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        self.encode_version(Self::WRITE_VERSION)
    }

    /// Encodes the key with version prefix 0 or 1 (the layouts are the same).
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for another version,
    /// [`GroupError::StringTooLong`] for a group or topic above 32767 bytes.
    pub fn encode_version(&self, version: i16) -> Result<Bytes, GroupError> {
        if !(0..=1).contains(&version) {
            return Err(GroupError::UnsupportedVersion {
                record: KEY,
                version,
                valid: "0-1",
            });
        }
        let mut w = Writer::new();
        w.i16(version);
        w.string("OffsetCommitKey.group", &self.group, false)?;
        w.string("OffsetCommitKey.topic", &self.topic, false)?;
        w.i32(self.partition);
        Ok(w.finish())
    }

    /// Decodes a key with version prefix 0 or 1. Bytes after the last field are
    /// ignored, as Kafka's generated readers ignore them.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for another prefix (see
    /// [`OffsetsRecordKey::decode`](crate::OffsetsRecordKey::decode) to dispatch on
    /// it), and the decoding variants for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("OffsetCommitKey.version")?;
        if !(0..=1).contains(&version) {
            return Err(GroupError::UnsupportedVersion {
                record: KEY,
                version,
                valid: "0-1",
            });
        }
        Self::read_fields(&mut r)
    }

    /// Reads the fields after the version prefix (versions 0 and 1).
    pub(crate) fn read_fields(r: &mut Reader<'_>) -> Result<Self, GroupError> {
        Ok(OffsetCommitKey {
            group: r.string("OffsetCommitKey.group", false)?,
            topic: r.string("OffsetCommitKey.topic", false)?,
            partition: r.i32("OffsetCommitKey.partition")?,
        })
    }
}

/// A committed offset: the next offset the group will consume, and its metadata.
///
/// Fields a version lacks keep their schema defaults when read (`leader_epoch`
/// and `expire_timestamp` are -1), and are dropped when written, as Kafka drops
/// these `ignorable` fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetCommitValue {
    /// The committed offset (the next one to consume).
    pub offset: i64,
    /// The leader epoch of the last consumed record, -1 if unknown (v3+).
    pub leader_epoch: i32,
    /// The consumer's metadata string.
    pub metadata: String,
    /// When the commit was made, in ms since the epoch.
    pub commit_timestamp: i64,
    /// When the offset expires, in ms since the epoch, -1 for none (v1 only).
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    /// The highest version this crate reads and writes.
    pub const HIGHEST_VERSION: i16 = 4;

    /// The version Kafka writes for this value: 1 when an expire timestamp is set
    /// (`expire_timestamp != -1`), else 3 (`MetadataVersion.offsetCommitValueVersion`
    /// on any current metadata version).
    pub fn write_version(&self) -> i16 {
        if self.expire_timestamp != -1 { 1 } else { 3 }
    }

    /// Encodes the value at [`write_version`](Self::write_version), version prefix first.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for metadata above 32767 bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        self.encode_version(self.write_version())
    }

    /// Encodes the value at `version` (0 to 4), version prefix first.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] outside 0-4,
    /// [`GroupError::StringTooLong`] for metadata above 32767 bytes.
    pub fn encode_version(&self, version: i16) -> Result<Bytes, GroupError> {
        check_version(version)?;
        let flexible = version >= 4;
        let mut w = Writer::new();
        w.i16(version);
        w.i64(self.offset);
        if version >= 3 {
            w.i32(self.leader_epoch);
        }
        w.string("OffsetCommitValue.metadata", &self.metadata, flexible)?;
        w.i64(self.commit_timestamp);
        if version == 1 {
            w.i64(self.expire_timestamp);
        }
        if flexible {
            w.no_tagged_fields();
        }
        Ok(w.finish())
    }

    /// Decodes a value (version prefix first). Bytes after the last field are
    /// ignored, as Kafka's generated readers ignore them.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] outside 0-4, and the decoding variants
    /// ([`GroupError::Truncated`], ...) for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("OffsetCommitValue.version")?;
        check_version(version)?;
        let flexible = version >= 4;
        let offset = r.i64("OffsetCommitValue.offset")?;
        let leader_epoch = if version >= 3 {
            r.i32("OffsetCommitValue.leaderEpoch")?
        } else {
            -1
        };
        let metadata = r.string("OffsetCommitValue.metadata", flexible)?;
        let commit_timestamp = r.i64("OffsetCommitValue.commitTimestamp")?;
        let expire_timestamp = if version == 1 {
            r.i64("OffsetCommitValue.expireTimestamp")?
        } else {
            -1
        };
        if flexible {
            r.skip_tagged_fields("OffsetCommitValue._tagged_fields")?;
        }
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

fn check_version(version: i16) -> Result<(), GroupError> {
    if (0..=OffsetCommitValue::HIGHEST_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(GroupError::UnsupportedVersion {
            record: VALUE,
            version,
            valid: "0-4",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value() -> OffsetCommitValue {
        OffsetCommitValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: -1,
        }
    }

    #[test]
    fn key_bytes_derived_from_schema() {
        // By hand from OffsetCommitKey.json: version int16 1, group "g" (int16 len
        // 1 + 'g'), topic "t" (int16 len 1 + 't'), partition int32 3.
        let key = OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        assert_eq!(
            &key.encode().unwrap()[..],
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]
        );
    }

    #[test]
    fn value_v3_bytes_derived_from_schema() {
        // Version 3: int16 3, offset int64 42, leaderEpoch int32 7, metadata
        // int16 len 1 + 'm', commitTimestamp int64 1000 (0x03e8).
        let bytes = value().encode().unwrap();
        assert_eq!(
            &bytes[..],
            &[
                0, 3, //
                0, 0, 0, 0, 0, 0, 0, 42, //
                0, 0, 0, 7, //
                0, 1, b'm', //
                0, 0, 0, 0, 0, 0, 0x03, 0xe8,
            ]
        );
    }

    #[test]
    fn value_with_expire_timestamp_is_written_as_v1() {
        // Version 1 has no leader epoch and ends with expireTimestamp int64 2000.
        let v = OffsetCommitValue {
            expire_timestamp: 2000,
            ..value()
        };
        assert_eq!(v.write_version(), 1);
        let bytes = v.encode().unwrap();
        assert_eq!(
            &bytes[..],
            &[
                0, 1, //
                0, 0, 0, 0, 0, 0, 0, 42, //
                0, 1, b'm', //
                0, 0, 0, 0, 0, 0, 0x03, 0xe8, //
                0, 0, 0, 0, 0, 0, 0x07, 0xd0,
            ]
        );
        let back = OffsetCommitValue::decode(&bytes).unwrap();
        assert_eq!(back.leader_epoch, -1, "v1 has no leader epoch: default -1");
        assert_eq!(back.expire_timestamp, 2000);
    }

    #[test]
    fn value_v4_bytes_derived_from_schema() {
        // Flexible: metadata as compact string (varint 1 + 1 = 2, then 'm'), and
        // a trailing empty tagged-field section (varint 0).
        let bytes = value().encode_version(4).unwrap();
        assert_eq!(
            &bytes[..],
            &[
                0, 4, //
                0, 0, 0, 0, 0, 0, 0, 42, //
                0, 0, 0, 7, //
                2, b'm', //
                0, 0, 0, 0, 0, 0, 0x03, 0xe8, //
                0,
            ]
        );
        // A tagged field (tag 5, 2 bytes) Kafka would keep aside is skipped.
        let mut with_tag = bytes[..bytes.len() - 1].to_vec();
        with_tag.extend_from_slice(&[1, 5, 2, 0xaa, 0xbb]);
        assert_eq!(OffsetCommitValue::decode(&with_tag).unwrap(), value());
    }

    #[test]
    fn v0_and_v2_share_a_layout() {
        let v = OffsetCommitValue {
            leader_epoch: -1,
            ..value()
        };
        let v0 = v.encode_version(0).unwrap();
        let v2 = v.encode_version(2).unwrap();
        assert_eq!(v0[2..], v2[2..]);
        assert_eq!(OffsetCommitValue::decode(&v2).unwrap(), v);
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert_eq!(
            OffsetCommitValue::decode(&[0, 5]),
            Err(GroupError::UnsupportedVersion {
                record: "OffsetCommitValue",
                version: 5,
                valid: "0-4"
            })
        );
        assert!(value().encode_version(-1).is_err());
        assert!(
            OffsetCommitKey {
                group: String::new(),
                topic: String::new(),
                partition: 0
            }
            .encode_version(2)
            .is_err()
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = value().encode_version(4).unwrap();
        for n in 0..bytes.len() {
            assert!(
                OffsetCommitValue::decode(&bytes[..n]).is_err(),
                "prefix of {n} bytes"
            );
        }
    }
}

//! Byte layouts: the classic-group records of `__consumer_offsets`, the consumer
//! protocol that travels inside them, and the sticky assignors' user data.
//!
//! A `__consumer_offsets` record's key and value each start with an int16
//! version. The key's version tells the record type: 0 or 1 an offset commit, 2
//! a group's metadata ([`OffsetsRecordKey::decode`]). A record without a value
//! is a tombstone deleting the key.

mod consumer_protocol;
mod group_metadata;
mod offset_commit;
mod user_data;
mod wire;

use std::num::NonZeroU32;

pub use consumer_protocol::{
    CONSUMER_PROTOCOL_VERSION, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    TopicPartitions,
};
pub use group_metadata::{GroupMetadataKey, GroupMetadataValue, MemberMetadata};
pub use offset_commit::{OffsetCommitKey, OffsetCommitValue};
pub use user_data::{CooperativeStickyUserData, StickyUserData};

use crate::GroupError;
use crate::java::string_hash;

/// The key of a classic-group record in `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OffsetsRecordKey {
    /// A committed offset (key version 0 or 1).
    OffsetCommit {
        /// The key's version prefix.
        version: i16,
        /// The key.
        key: OffsetCommitKey,
    },
    /// A group's metadata (key version 2).
    GroupMetadata(GroupMetadataKey),
}

impl OffsetsRecordKey {
    /// Decodes a key, dispatching on its version prefix as Kafka's
    /// `GroupCoordinatorRecordSerde` does.
    ///
    /// # Errors
    /// [`GroupError::UnknownRecordType`] for a version other than 0, 1 or 2
    /// (Kafka's loader skips those records), and the decoding variants for
    /// malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = wire::Reader::new(bytes);
        let version = r.i16("__consumer_offsets key version")?;
        match version {
            0 | 1 => Ok(OffsetsRecordKey::OffsetCommit {
                version,
                key: OffsetCommitKey::read_fields(&mut r)?,
            }),
            2 => Ok(OffsetsRecordKey::GroupMetadata(
                GroupMetadataKey::read_fields(&mut r)?,
            )),
            _ => Err(GroupError::UnknownRecordType { version }),
        }
    }

    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            OffsetsRecordKey::OffsetCommit { key, .. } => &key.group,
            OffsetsRecordKey::GroupMetadata(key) => &key.group,
        }
    }
}

/// `offsets.topic.num.partitions`' default.
pub const DEFAULT_OFFSETS_TOPIC_PARTITIONS: NonZeroU32 = match NonZeroU32::new(50) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// The `__consumer_offsets` partition that holds `group_id`'s records, and whose
/// leader is the group's coordinator: `Utils.abs(groupId.hashCode()) % partition_count`,
/// with Java's `String.hashCode` over UTF-16 code units and `Utils.abs` mapping
/// `Integer.MIN_VALUE` to 0.
pub fn offsets_partition_for(group_id: &str, partition_count: NonZeroU32) -> u32 {
    let hash = string_hash(group_id);
    let abs = if hash == i32::MIN {
        0
    } else {
        hash.unsigned_abs()
    };
    abs % partition_count.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_matches_java() {
        let fifty = DEFAULT_OFFSETS_TOPIC_PARTITIONS;
        // "hello".hashCode() = 99162322; 99162322 % 50 = 22.
        assert_eq!(offsets_partition_for("hello", fifty), 22);
        assert_eq!(offsets_partition_for("", fifty), 0);
        // "consumer1".hashCode() = -421004549; |.| % 50 = 49.
        assert_eq!(offsets_partition_for("consumer1", fifty), 49);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE: Utils.abs gives 0.
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(offsets_partition_for("polygenelubricants", fifty), 0);
        assert_eq!(
            offsets_partition_for("polygenelubricants", NonZeroU32::MIN),
            0
        );
    }

    #[test]
    fn key_dispatch() {
        let commit = OffsetCommitKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
        };
        for version in [0, 1] {
            let bytes = commit.encode_version(version).unwrap();
            assert_eq!(
                OffsetsRecordKey::decode(&bytes).unwrap(),
                OffsetsRecordKey::OffsetCommit {
                    version,
                    key: commit.clone()
                }
            );
        }
        let meta = GroupMetadataKey { group: "g".into() };
        let decoded = OffsetsRecordKey::decode(&meta.encode().unwrap()).unwrap();
        assert_eq!(decoded.group(), "g");
        assert_eq!(
            OffsetsRecordKey::decode(&[0, 3, 0, 0]),
            Err(GroupError::UnknownRecordType { version: 3 })
        );
    }
}

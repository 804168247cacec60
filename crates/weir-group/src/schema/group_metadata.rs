//! A classic group's state in `__consumer_offsets`: `GroupMetadataKey` and
//! `GroupMetadataValue` (Kafka's `group-coordinator/src/main/resources/common/
//! message/GroupMetadata{Key,Value}.json`).
//!
//! ```text
//! key   (v2 only): int16 version | group string
//! value: int16 version | protocolType string | generation int32 | protocol string? | leader string?
//!        | currentStateTimestamp int64 (v2+) | members array of:
//!          memberId string | groupInstanceId string? (v3+) | clientId string | clientHost string
//!          | rebalanceTimeout int32 (v1+) | sessionTimeout int32 | subscription bytes | assignment bytes
//! v4 is flexible: compact strings, bytes and arrays, and a tagged-field section
//! after each member and after the value.
//! ```

use bytes::Bytes;

use super::wire::{Reader, Writer};
use crate::GroupError;

const KEY: &str = "GroupMetadataKey";
const VALUE: &str = "GroupMetadataValue";

/// The key of a group's metadata record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMetadataKey {
    /// The group id.
    pub group: String,
}

impl GroupMetadataKey {
    /// The only version of this key; it doubles as the record type.
    pub const VERSION: i16 = 2;

    /// Encodes the key: version prefix 2, then the group.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a group id above 32767 bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        let mut w = Writer::new();
        w.i16(Self::VERSION);
        w.string("GroupMetadataKey.group", &self.group, false)?;
        Ok(w.finish())
    }

    /// Decodes a key with version prefix 2.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for another prefix, and the decoding
    /// variants for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("GroupMetadataKey.version")?;
        if version != Self::VERSION {
            return Err(GroupError::UnsupportedVersion {
                record: KEY,
                version,
                valid: "2",
            });
        }
        Self::read_fields(&mut r)
    }

    pub(crate) fn read_fields(r: &mut Reader<'_>) -> Result<Self, GroupError> {
        Ok(GroupMetadataKey {
            group: r.string("GroupMetadataKey.group", false)?,
        })
    }
}

/// One member of a classic group, as stored in [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberMetadata {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The member's `group.instance.id` (static membership), v3+.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host, as the coordinator saw it.
    pub client_host: String,
    /// The rebalance timeout in ms, -1 when absent (v1+).
    pub rebalance_timeout: i32,
    /// The session timeout in ms.
    pub session_timeout: i32,
    /// The member's metadata for the group's protocol (for consumers, a
    /// [`ConsumerProtocolSubscription`](crate::ConsumerProtocolSubscription)).
    pub subscription: Bytes,
    /// The member's assignment (for consumers, a
    /// [`ConsumerProtocolAssignment`](crate::ConsumerProtocolAssignment)).
    pub assignment: Bytes,
}

/// A classic group's state: protocol, generation, leader and members. An empty
/// group is stored with no members; a deleted group is a tombstone (no value).
///
/// Fields a version lacks read as their schema defaults (`current_state_timestamp`
/// and `rebalance_timeout` -1, `group_instance_id` `None`) and are dropped when
/// written, as Kafka drops these `ignorable` fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMetadataValue {
    /// The protocol type, `"consumer"` for consumer groups.
    pub protocol_type: String,
    /// The generation.
    pub generation: i32,
    /// The selected protocol (for consumers, the assignor name).
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// When the group entered its current state, in ms since the epoch, -1 when
    /// absent (v2+).
    pub current_state_timestamp: i64,
    /// The members.
    pub members: Vec<MemberMetadata>,
}

impl GroupMetadataValue {
    /// The version Kafka writes (`MetadataVersion.groupMetadataValueVersion` for
    /// any metadata version since 2.3).
    pub const WRITE_VERSION: i16 = 3;
    /// The highest version this crate reads and writes.
    pub const HIGHEST_VERSION: i16 = 4;

    /// Encodes the value at [`WRITE_VERSION`](Self::WRITE_VERSION), prefix first.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a string above 32767 bytes,
    /// [`GroupError::TooLong`] for more than 2^31 - 1 members or bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        self.encode_version(Self::WRITE_VERSION)
    }

    /// Encodes the value at `version` (0 to 4), prefix first.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] outside 0-4, and the errors of
    /// [`encode`](Self::encode).
    pub fn encode_version(&self, version: i16) -> Result<Bytes, GroupError> {
        check_version(version)?;
        let flexible = version >= 4;
        let mut w = Writer::new();
        w.i16(version);
        w.string(
            "GroupMetadataValue.protocolType",
            &self.protocol_type,
            flexible,
        )?;
        w.i32(self.generation);
        w.nullable_string(
            "GroupMetadataValue.protocol",
            self.protocol.as_deref(),
            flexible,
        )?;
        w.nullable_string(
            "GroupMetadataValue.leader",
            self.leader.as_deref(),
            flexible,
        )?;
        if version >= 2 {
            w.i64(self.current_state_timestamp);
        }
        w.array_len("GroupMetadataValue.members", self.members.len(), flexible)?;
        for m in &self.members {
            w.string("MemberMetadata.memberId", &m.member_id, flexible)?;
            if version >= 3 {
                w.nullable_string(
                    "MemberMetadata.groupInstanceId",
                    m.group_instance_id.as_deref(),
                    flexible,
                )?;
            }
            w.string("MemberMetadata.clientId", &m.client_id, flexible)?;
            w.string("MemberMetadata.clientHost", &m.client_host, flexible)?;
            if version >= 1 {
                w.i32(m.rebalance_timeout);
            }
            w.i32(m.session_timeout);
            w.bytes("MemberMetadata.subscription", &m.subscription, flexible)?;
            w.bytes("MemberMetadata.assignment", &m.assignment, flexible)?;
            if flexible {
                w.no_tagged_fields();
            }
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
    /// for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("GroupMetadataValue.version")?;
        check_version(version)?;
        let flexible = version >= 4;
        let protocol_type = r.string("GroupMetadataValue.protocolType", flexible)?;
        let generation = r.i32("GroupMetadataValue.generation")?;
        let protocol = r.nullable_string("GroupMetadataValue.protocol", flexible)?;
        let leader = r.nullable_string("GroupMetadataValue.leader", flexible)?;
        let current_state_timestamp = if version >= 2 {
            r.i64("GroupMetadataValue.currentStateTimestamp")?
        } else {
            -1
        };
        // A member is at least 4 one-byte lengths (flexible) or 2-byte lengths and
        // 4-byte ints; bounding by the smallest keeps hostile counts cheap.
        let count = r.array_len("GroupMetadataValue.members", flexible, 8)?;
        let mut members = Vec::with_capacity(count);
        for _ in 0..count {
            members.push(read_member(&mut r, version, flexible)?);
        }
        if flexible {
            r.skip_tagged_fields("GroupMetadataValue._tagged_fields")?;
        }
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

fn read_member(
    r: &mut Reader<'_>,
    version: i16,
    flexible: bool,
) -> Result<MemberMetadata, GroupError> {
    let member_id = r.string("MemberMetadata.memberId", flexible)?;
    let group_instance_id = if version >= 3 {
        r.nullable_string("MemberMetadata.groupInstanceId", flexible)?
    } else {
        None
    };
    let client_id = r.string("MemberMetadata.clientId", flexible)?;
    let client_host = r.string("MemberMetadata.clientHost", flexible)?;
    let rebalance_timeout = if version >= 1 {
        r.i32("MemberMetadata.rebalanceTimeout")?
    } else {
        -1
    };
    let session_timeout = r.i32("MemberMetadata.sessionTimeout")?;
    let subscription = r.bytes("MemberMetadata.subscription", flexible)?;
    let assignment = r.bytes("MemberMetadata.assignment", flexible)?;
    if flexible {
        r.skip_tagged_fields("MemberMetadata._tagged_fields")?;
    }
    Ok(MemberMetadata {
        member_id,
        group_instance_id,
        client_id,
        client_host,
        rebalance_timeout,
        session_timeout,
        subscription,
        assignment,
    })
}

fn check_version(version: i16) -> Result<(), GroupError> {
    if (0..=GroupMetadataValue::HIGHEST_VERSION).contains(&version) {
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

    fn member() -> MemberMetadata {
        MemberMetadata {
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout: 5,
            session_timeout: 6,
            subscription: Bytes::from_static(&[0xaa]),
            assignment: Bytes::from_static(&[]),
        }
    }

    fn value() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 1,
            protocol: Some("range".into()),
            leader: None,
            current_state_timestamp: 9,
            members: vec![member()],
        }
    }

    #[test]
    fn key_bytes_derived_from_schema() {
        // int16 version 2, group "g" as int16 length 1 + 'g'.
        let key = GroupMetadataKey { group: "g".into() };
        assert_eq!(&key.encode().unwrap()[..], &[0, 2, 0, 1, b'g']);
        assert_eq!(GroupMetadataKey::decode(&[0, 2, 0, 1, b'g']).unwrap(), key);
    }

    #[test]
    fn value_v3_bytes_derived_from_schema() {
        let mut expected = vec![0, 3]; // version 3
        expected.extend_from_slice(&[0, 8]);
        expected.extend_from_slice(b"consumer"); // protocolType
        expected.extend_from_slice(&[0, 0, 0, 1]); // generation 1
        expected.extend_from_slice(&[0, 5]);
        expected.extend_from_slice(b"range"); // protocol
        expected.extend_from_slice(&[0xff, 0xff]); // leader null: int16 -1
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]); // currentStateTimestamp
        expected.extend_from_slice(&[0, 0, 0, 1]); // one member
        expected.extend_from_slice(&[0, 1, b'm']); // memberId
        expected.extend_from_slice(&[0, 1, b'i']); // groupInstanceId
        expected.extend_from_slice(&[0, 1, b'c']); // clientId
        expected.extend_from_slice(&[0, 1, b'h']); // clientHost
        expected.extend_from_slice(&[0, 0, 0, 5]); // rebalanceTimeout
        expected.extend_from_slice(&[0, 0, 0, 6]); // sessionTimeout
        expected.extend_from_slice(&[0, 0, 0, 1, 0xaa]); // subscription
        expected.extend_from_slice(&[0, 0, 0, 0]); // assignment, empty
        assert_eq!(&value().encode().unwrap()[..], &expected[..]);
    }

    #[test]
    fn value_v4_bytes_derived_from_schema() {
        let mut expected = vec![0, 4, 9];
        expected.extend_from_slice(b"consumer"); // compact: 8 + 1
        expected.extend_from_slice(&[0, 0, 0, 1, 6]);
        expected.extend_from_slice(b"range");
        expected.push(0); // leader null: varint 0
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
        expected.push(2); // one member: varint 1 + 1
        expected.extend_from_slice(&[2, b'm', 2, b'i', 2, b'c', 2, b'h']);
        expected.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 6]);
        expected.extend_from_slice(&[2, 0xaa, 1]); // subscription, empty assignment
        expected.push(0); // member's tagged fields
        expected.push(0); // value's tagged fields
        let bytes = value().encode_version(4).unwrap();
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), value());
    }

    #[test]
    fn older_versions_drop_newer_fields() {
        let v0 = GroupMetadataValue::decode(&value().encode_version(0).unwrap()).unwrap();
        assert_eq!(v0.current_state_timestamp, -1);
        let m = v0.members.first().unwrap();
        assert_eq!(m.group_instance_id, None);
        assert_eq!(m.rebalance_timeout, -1);
        assert_eq!(m.session_timeout, 6);
    }

    #[test]
    fn hostile_member_count_is_refused_without_allocating() {
        let mut bytes = value().encode().unwrap()[..37].to_vec();
        // Overwrite the member count with i32::MAX, leaving the member bytes.
        let count_at = bytes.len() - 4;
        bytes.truncate(count_at);
        bytes.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        bytes.extend_from_slice(&[0; 20]);
        assert!(matches!(
            GroupMetadataValue::decode(&bytes),
            Err(GroupError::ArrayTooLong { count, .. }) if count == i64::from(i32::MAX)
        ));
    }

    #[test]
    fn every_truncation_is_an_error() {
        for version in 0..=4 {
            let bytes = value().encode_version(version).unwrap();
            for n in 0..bytes.len() {
                assert!(
                    GroupMetadataValue::decode(&bytes[..n]).is_err(),
                    "v{version}, prefix of {n} bytes"
                );
            }
        }
    }
}

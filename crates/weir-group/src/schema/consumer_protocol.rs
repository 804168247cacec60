//! The consumer protocol: what a consumer puts in its JoinGroup metadata
//! (`ConsumerProtocolSubscription`) and what the leader sends back in SyncGroup
//! (`ConsumerProtocolAssignment`); stored in [`MemberMetadata`](crate::MemberMetadata).
//! Schemas: Kafka's `clients/src/main/resources/common/message/ConsumerProtocol{Subscription,Assignment}.json`.
//!
//! ```text
//! subscription: int16 version | topics array of string | userData bytes?
//!               | ownedPartitions array of (topic string | partitions array of int32) (v1+)
//!               | generationId int32 (v2+) | rackId string? (v3+)
//! assignment:   int16 version | assignedPartitions array of (topic string | partitions array of int32)
//!               | userData bytes?           (v0-v3 are identical)
//! ```
//!
//! No version is flexible. A version above 3 is read as version 3 and anything
//! after the known fields is ignored: Kafka promises that later versions only
//! append fields (`ConsumerProtocol.checkSubscriptionVersion`).

use std::cmp::Ordering;

use bytes::Bytes;

use super::wire::{Reader, Writer};
use crate::java::cmp_str;
use crate::{GroupError, Subscription, TopicPartition};

/// The highest consumer protocol version (subscription and assignment).
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// Partitions of one topic, as the consumer protocol groups them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicPartitions {
    /// The topic.
    pub topic: String,
    /// Its partitions.
    pub partitions: Vec<i32>,
}

/// A consumer's JoinGroup metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerProtocolSubscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// The assignor's user data.
    pub user_data: Option<Bytes>,
    /// Owned partitions (v1+).
    pub owned_partitions: Vec<TopicPartitions>,
    /// The generation of the owned partitions, -1 for none (v2+).
    pub generation_id: i32,
    /// The consumer's rack (v3+).
    pub rack_id: Option<String>,
}

impl Default for ConsumerProtocolSubscription {
    fn default() -> Self {
        ConsumerProtocolSubscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

fn check_version(record: &'static str, version: i16) -> Result<i16, GroupError> {
    if version < 0 {
        Err(GroupError::UnsupportedVersion {
            record,
            version,
            valid: "0 and above",
        })
    } else {
        Ok(version.min(CONSUMER_PROTOCOL_VERSION))
    }
}

fn write_topic_partitions(
    w: &mut Writer,
    field: &'static str,
    list: &[TopicPartitions],
) -> Result<(), GroupError> {
    w.array_len(field, list.len(), false)?;
    for tp in list {
        w.string("TopicPartition.topic", &tp.topic, false)?;
        w.array_len("TopicPartition.partitions", tp.partitions.len(), false)?;
        for p in &tp.partitions {
            w.i32(*p);
        }
    }
    Ok(())
}

fn read_topic_partitions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<TopicPartitions>, GroupError> {
    // Each entry is at least a 2-byte string length and a 4-byte array length.
    let n = r.array_len(field, false, 6)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let topic = r.string("TopicPartition.topic", false)?;
        let count = r.array_len("TopicPartition.partitions", false, 4)?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(r.i32("TopicPartition.partitions")?);
        }
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}

impl ConsumerProtocolSubscription {
    /// The metadata a Kafka consumer sends for `subscription`
    /// (`ConsumerProtocol.serializeSubscription`): topics sorted, owned partitions
    /// sorted by topic and partition and grouped by topic, generation -1 if absent.
    pub fn from_subscription(subscription: &Subscription) -> Self {
        let mut topics = subscription.topics.clone();
        topics.sort_by(|a, b| cmp_str(a, b));
        let mut owned = subscription.owned_partitions.clone();
        owned.sort_by(|a, b| match cmp_str(&a.topic, &b.topic) {
            Ordering::Equal => a.partition.cmp(&b.partition),
            other => other,
        });
        let mut owned_partitions: Vec<TopicPartitions> = Vec::new();
        for tp in owned {
            match owned_partitions.last_mut() {
                Some(last) if last.topic == tp.topic => last.partitions.push(tp.partition),
                _ => owned_partitions.push(TopicPartitions {
                    topic: tp.topic,
                    partitions: vec![tp.partition],
                }),
            }
        }
        ConsumerProtocolSubscription {
            topics,
            user_data: subscription.user_data.clone(),
            owned_partitions,
            generation_id: subscription.generation().unwrap_or(-1),
            rack_id: subscription.rack_id.clone(),
        }
    }

    /// The assignor's view of this metadata (`ConsumerProtocol.deserializeSubscription`):
    /// owned partitions flattened, a negative generation and an empty rack id
    /// treated as absent.
    pub fn into_subscription(
        self,
        member_id: impl Into<String>,
        group_instance_id: Option<String>,
    ) -> Subscription {
        let owned_partitions = self
            .owned_partitions
            .into_iter()
            .flat_map(|tp| {
                let topic = tp.topic;
                tp.partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect();
        Subscription {
            member_id: member_id.into(),
            group_instance_id,
            topics: self.topics,
            user_data: self.user_data,
            owned_partitions,
            generation_id: (self.generation_id >= 0).then_some(self.generation_id),
            rack_id: self.rack_id.filter(|r| !r.is_empty()),
        }
    }

    /// Encodes at version 3, as Kafka's consumer does.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a topic or rack id above 32767 bytes,
    /// [`GroupError::TooLong`] for more than 2^31 - 1 elements or bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        self.encode_version(CONSUMER_PROTOCOL_VERSION)
    }

    /// Encodes at `version`; fields the version lacks are dropped and a version
    /// above 3 is written as 3, as `ConsumerProtocol.serializeSubscription` does.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for a negative version, and the errors
    /// of [`encode`](Self::encode).
    pub fn encode_version(&self, version: i16) -> Result<Bytes, GroupError> {
        let version = check_version("ConsumerProtocolSubscription", version)?;
        let mut w = Writer::new();
        w.i16(version);
        w.array_len(
            "ConsumerProtocolSubscription.topics",
            self.topics.len(),
            false,
        )?;
        for t in &self.topics {
            w.string("ConsumerProtocolSubscription.topics", t, false)?;
        }
        w.nullable_bytes(
            "ConsumerProtocolSubscription.userData",
            self.user_data.as_deref(),
            false,
        )?;
        if version >= 1 {
            write_topic_partitions(
                &mut w,
                "ConsumerProtocolSubscription.ownedPartitions",
                &self.owned_partitions,
            )?;
        }
        if version >= 2 {
            w.i32(self.generation_id);
        }
        if version >= 3 {
            w.nullable_string(
                "ConsumerProtocolSubscription.rackId",
                self.rack_id.as_deref(),
                false,
            )?;
        }
        Ok(w.finish())
    }

    /// Decodes metadata, version prefix first.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for a negative version, and the decoding
    /// variants for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("ConsumerProtocolSubscription.version")?;
        let version = check_version("ConsumerProtocolSubscription", version)?;
        let n = r.array_len("ConsumerProtocolSubscription.topics", false, 2)?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(r.string("ConsumerProtocolSubscription.topics", false)?);
        }
        let user_data = r.nullable_bytes("ConsumerProtocolSubscription.userData", false)?;
        let owned_partitions = if version >= 1 {
            read_topic_partitions(&mut r, "ConsumerProtocolSubscription.ownedPartitions")?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 {
            r.i32("ConsumerProtocolSubscription.generationId")?
        } else {
            -1
        };
        let rack_id = if version >= 3 {
            r.nullable_string("ConsumerProtocolSubscription.rackId", false)?
        } else {
            None
        };
        Ok(ConsumerProtocolSubscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

/// The leader's assignment for one consumer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConsumerProtocolAssignment {
    /// Assigned partitions, grouped by topic.
    pub assigned_partitions: Vec<TopicPartitions>,
    /// The assignor's user data.
    pub user_data: Option<Bytes>,
}

impl ConsumerProtocolAssignment {
    /// Groups `partitions` by topic in order of first appearance, as
    /// `ConsumerProtocol.serializeAssignment` does.
    pub fn from_partitions(partitions: &[TopicPartition], user_data: Option<Bytes>) -> Self {
        let mut assigned_partitions: Vec<TopicPartitions> = Vec::new();
        for tp in partitions {
            match assigned_partitions.iter_mut().find(|g| g.topic == tp.topic) {
                Some(group) => group.partitions.push(tp.partition),
                None => assigned_partitions.push(TopicPartitions {
                    topic: tp.topic.clone(),
                    partitions: vec![tp.partition],
                }),
            }
        }
        ConsumerProtocolAssignment {
            assigned_partitions,
            user_data,
        }
    }

    /// The assigned partitions, one per entry, in stored order.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.assigned_partitions
            .iter()
            .flat_map(|g| {
                g.partitions
                    .iter()
                    .map(|p| TopicPartition::new(g.topic.clone(), *p))
            })
            .collect()
    }

    /// Encodes at version 3, as Kafka's leader does.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a topic above 32767 bytes,
    /// [`GroupError::TooLong`] for more than 2^31 - 1 elements or bytes.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        self.encode_version(CONSUMER_PROTOCOL_VERSION)
    }

    /// Encodes at `version` (all versions share one layout; above 3 is written as 3).
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for a negative version, and the errors
    /// of [`encode`](Self::encode).
    pub fn encode_version(&self, version: i16) -> Result<Bytes, GroupError> {
        let version = check_version("ConsumerProtocolAssignment", version)?;
        let mut w = Writer::new();
        w.i16(version);
        write_topic_partitions(
            &mut w,
            "ConsumerProtocolAssignment.assignedPartitions",
            &self.assigned_partitions,
        )?;
        w.nullable_bytes(
            "ConsumerProtocolAssignment.userData",
            self.user_data.as_deref(),
            false,
        )?;
        Ok(w.finish())
    }

    /// Decodes an assignment, version prefix first.
    ///
    /// # Errors
    /// [`GroupError::UnsupportedVersion`] for a negative version, and the decoding
    /// variants for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        let mut r = Reader::new(bytes);
        let version = r.i16("ConsumerProtocolAssignment.version")?;
        check_version("ConsumerProtocolAssignment", version)?;
        let assigned_partitions =
            read_topic_partitions(&mut r, "ConsumerProtocolAssignment.assignedPartitions")?;
        let user_data = r.nullable_bytes("ConsumerProtocolAssignment.userData", false)?;
        Ok(ConsumerProtocolAssignment {
            assigned_partitions,
            user_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_v3_bytes_derived_from_schema() {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: None,
            owned_partitions: vec![TopicPartitions {
                topic: "t".into(),
                partitions: vec![0, 2],
            }],
            generation_id: 5,
            rack_id: Some("r".into()),
        };
        let expected: &[u8] = &[
            0, 3, // version 3
            0, 0, 0, 1, 0, 1, b't', // topics: int32 count 1, "t"
            0xff, 0xff, 0xff, 0xff, // userData null: int32 -1
            0, 0, 0, 1, 0, 1, b't', // ownedPartitions: 1 entry, topic "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // partitions [0, 2]
            0, 0, 0, 5, // generationId 5
            0, 1, b'r', // rackId "r"
        ];
        let bytes = sub.encode().unwrap();
        assert_eq!(&bytes[..], expected);
        assert_eq!(ConsumerProtocolSubscription::decode(&bytes).unwrap(), sub);
    }

    #[test]
    fn subscription_v0_has_topics_and_user_data_only() {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: Some(Bytes::from_static(&[7])),
            generation_id: 5,
            ..Default::default()
        };
        let bytes = sub.encode_version(0).unwrap();
        assert_eq!(&bytes[..], &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 7]);
        let back = ConsumerProtocolSubscription::decode(&bytes).unwrap();
        assert_eq!(back.generation_id, -1, "v0 has no generation: default -1");
        assert_eq!(back.user_data, sub.user_data);
    }

    #[test]
    fn future_versions_read_as_v3_and_ignore_appended_fields() {
        // ConsumerProtocolTest.deserializeFutureSubscriptionVersion: a v100 with an
        // extra field after the v3 ones.
        let sub = ConsumerProtocolSubscription {
            topics: vec!["topic".into()],
            generation_id: 1,
            ..Default::default()
        };
        let mut bytes = sub.encode().unwrap().to_vec();
        bytes[..2].copy_from_slice(&100i16.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 42]);
        assert_eq!(ConsumerProtocolSubscription::decode(&bytes).unwrap(), sub);
        assert!(ConsumerProtocolSubscription::decode(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn from_subscription_sorts_like_kafka() {
        // ConsumerProtocolTest.serializeSubscriptionShouldOrderTopics and
        // serializeSubscriptionShouldOrderOwnedPartitions.
        let sub = Subscription::new("m", ["foo", "bar"]).with_owned_partitions(
            vec![
                TopicPartition::new("foo", 1),
                TopicPartition::new("bar", 0),
                TopicPartition::new("foo", 0),
            ],
            3,
        );
        let data = ConsumerProtocolSubscription::from_subscription(&sub);
        assert_eq!(data.topics, ["bar", "foo"]);
        assert_eq!(
            data.owned_partitions,
            [
                TopicPartitions {
                    topic: "bar".into(),
                    partitions: vec![0]
                },
                TopicPartitions {
                    topic: "foo".into(),
                    partitions: vec![0, 1]
                },
            ]
        );
        let back = data.into_subscription("m", None);
        assert_eq!(back.generation_id, Some(3));
        assert_eq!(back.owned_partitions.len(), 3);
    }

    #[test]
    fn assignment_bytes_derived_from_schema() {
        let a = ConsumerProtocolAssignment::from_partitions(
            &[
                TopicPartition::new("t", 1),
                TopicPartition::new("u", 0),
                TopicPartition::new("t", 0),
            ],
            None,
        );
        let expected: &[u8] = &[
            0, 3, // version 3
            0, 0, 0, 2, // two topics, in order of first appearance
            0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, // "t": [1, 0]
            0, 1, b'u', 0, 0, 0, 1, 0, 0, 0, 0, // "u": [0]
            0xff, 0xff, 0xff, 0xff, // userData null
        ];
        let bytes = a.encode().unwrap();
        assert_eq!(&bytes[..], expected);
        let back = ConsumerProtocolAssignment::decode(&bytes).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.partitions().len(), 3);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"xy")),
            owned_partitions: vec![TopicPartitions {
                topic: "a".into(),
                partitions: vec![1],
            }],
            generation_id: 2,
            rack_id: Some("r".into()),
        };
        let bytes = sub.encode().unwrap();
        for n in 0..bytes.len() {
            assert!(
                ConsumerProtocolSubscription::decode(&bytes[..n]).is_err(),
                "{n}"
            );
        }
    }
}

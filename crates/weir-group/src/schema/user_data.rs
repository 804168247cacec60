//! The user data the sticky assignors put in a consumer's subscription.
//!
//! ```text
//! sticky v0:  previous_assignment array of (topic string | partitions array of int32)
//! sticky v1:  v0, then generation int32
//! cooperative-sticky: generation int32
//! ```
//!
//! These are Kafka's older `Struct` schemas (`StickyAssignor.STICKY_ASSIGNOR_USER_DATA_V0/V1`,
//! `CooperativeStickyAssignor.COOPERATIVE_STICKY_ASSIGNOR_USER_DATA_V0`): no version
//! prefix; the reader tries v1, then v0.

use bytes::Bytes;

use super::wire::{Reader, Writer};
use crate::java::{JavaHashMap, string_hash};
use crate::{GroupError, TopicPartition};

/// The default generation Kafka's assignors use for "unknown".
const DEFAULT_GENERATION: i32 = -1;

/// The sticky assignor's user data: the member's previous assignment and its
/// generation. The eager sticky assignor reads a member's previous partitions
/// from here, not from [`Subscription::owned_partitions`](crate::Subscription::owned_partitions).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The partitions the member was assigned.
    pub partitions: Vec<TopicPartition>,
    /// The generation of that assignment; `None` writes (and reads) version 0.
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes as `StickyAssignor.serializeTopicPartitionAssignment` does: topics
    /// in the iteration order of the Java `HashMap` that groups them, each with
    /// its partitions in the given order; the generation last (version 1), or no
    /// generation at all (version 0) when `None`.
    ///
    /// # Errors
    /// [`GroupError::StringTooLong`] for a topic above 32767 bytes,
    /// [`GroupError::TooLong`] for more than 2^31 - 1 elements.
    pub fn encode(&self) -> Result<Bytes, GroupError> {
        // CollectionUtils.groupPartitionsByTopic: HashMap.computeIfAbsent per partition.
        let mut order: JavaHashMap<&str> = JavaHashMap::new();
        for tp in &self.partitions {
            order.compute_if_absent(string_hash(&tp.topic), tp.topic.as_str());
        }
        let mut w = Writer::new();
        w.array_len("StickyUserData.previous_assignment", order.len(), false)?;
        for topic in order.keys() {
            w.string("StickyUserData.topic", topic, false)?;
            let partitions: Vec<i32> = self
                .partitions
                .iter()
                .filter(|tp| tp.topic == *topic)
                .map(|tp| tp.partition)
                .collect();
            w.array_len("StickyUserData.partitions", partitions.len(), false)?;
            for p in partitions {
                w.i32(p);
            }
        }
        if let Some(generation) = self.generation {
            w.i32(generation);
        }
        Ok(w.finish())
    }

    /// Decodes as `StickyAssignor.deserializeTopicPartitionAssignment` does: as
    /// version 1, else as version 0 (no generation), else, when neither parses,
    /// no partitions and generation -1. Never fails: Kafka ignores a previous
    /// assignment it cannot parse. Topic bytes that are not UTF-8 are replaced
    /// with U+FFFD, as Java's decoder does.
    pub fn decode(bytes: &[u8]) -> Self {
        if let Ok((partitions, rest)) = read_assignment(bytes)
            && let Ok(generation) = Reader::new(rest).i32("StickyUserData.generation")
        {
            return StickyUserData {
                partitions,
                generation: Some(generation),
            };
        }
        match read_assignment(bytes) {
            Ok((partitions, _)) => StickyUserData {
                partitions,
                generation: None,
            },
            Err(_) => StickyUserData {
                partitions: Vec::new(),
                generation: Some(DEFAULT_GENERATION),
            },
        }
    }
}

/// Reads the previous-assignment array; returns it and the bytes after it.
fn read_assignment(bytes: &[u8]) -> Result<(Vec<TopicPartition>, &[u8]), GroupError> {
    let mut r = Reader::new(bytes);
    let topics = r.array_len("StickyUserData.previous_assignment", false, 6)?;
    let mut partitions = Vec::new();
    for _ in 0..topics {
        // Type.STRING: int16 length, negative refused, then (lossy) UTF-8.
        let length = r.i16("StickyUserData.topic")?;
        let length = usize::try_from(length).map_err(|_| GroupError::NullField {
            field: "StickyUserData.topic",
        })?;
        let topic = String::from_utf8_lossy(r.raw("StickyUserData.topic", length)?).into_owned();
        let count = r.array_len("StickyUserData.partitions", false, 4)?;
        partitions.reserve(count);
        for _ in 0..count {
            partitions.push(TopicPartition::new(
                topic.clone(),
                r.i32("StickyUserData.partitions")?,
            ));
        }
    }
    Ok((partitions, r.rest()))
}

/// The cooperative-sticky assignor's user data: only the member's generation.
/// Kafka reads it when the subscription itself carries no generation (consumer
/// protocol versions below 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CooperativeStickyUserData {
    /// The generation of the member's owned partitions.
    pub generation: i32,
}

impl CooperativeStickyUserData {
    /// The 4-byte encoding.
    pub fn encode(&self) -> Bytes {
        Bytes::copy_from_slice(&self.generation.to_be_bytes())
    }

    /// Decodes as `CooperativeStickyAssignor.memberData` does: the first 4 bytes,
    /// or generation -1 when there are fewer.
    pub fn decode(bytes: &[u8]) -> Self {
        CooperativeStickyUserData {
            generation: Reader::new(bytes)
                .i32("CooperativeStickyUserData.generation")
                .unwrap_or(DEFAULT_GENERATION),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_v1_bytes_derived_from_schema() {
        let data = StickyUserData {
            partitions: vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)],
            generation: Some(4),
        };
        let expected: &[u8] = &[
            0, 0, 0, 1, // one topic
            0, 1, b't', // "t"
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // [0, 2]
            0, 0, 0, 4, // generation 4
        ];
        let bytes = data.encode().unwrap();
        assert_eq!(&bytes[..], expected);
        assert_eq!(StickyUserData::decode(&bytes), data);
    }

    #[test]
    fn sticky_v0_reads_without_generation() {
        // StickyAssignorTest.testSchemaBackwardCompatibility writes the v0 schema.
        let data = StickyUserData {
            partitions: vec![TopicPartition::new("topic", 1)],
            generation: None,
        };
        assert_eq!(StickyUserData::decode(&data.encode().unwrap()), data);
    }

    #[test]
    fn sticky_garbage_is_no_assignment_at_generation_minus_one() {
        let none = StickyUserData {
            partitions: Vec::new(),
            generation: Some(-1),
        };
        assert_eq!(StickyUserData::decode(&[]), none);
        assert_eq!(StickyUserData::decode(&[0x7f, 0xff, 0xff, 0xff]), none);
        assert_eq!(StickyUserData::decode(&[0, 0, 0, 1, 0xff, 0xff]), none);
    }

    #[test]
    fn sticky_topics_follow_java_hash_map_order() {
        // "topic1", "topic2", "topic3" land in buckets 0, 1 and 6 of a 16-slot
        // table, so Java writes them in that order whatever the input order.
        let data = StickyUserData {
            partitions: vec![
                TopicPartition::new("topic3", 0),
                TopicPartition::new("topic1", 1),
                TopicPartition::new("topic2", 0),
                TopicPartition::new("topic1", 0),
            ],
            generation: Some(1),
        };
        let decoded = StickyUserData::decode(&data.encode().unwrap());
        let topics: Vec<_> = decoded.partitions.iter().map(|tp| tp.to_string()).collect();
        assert_eq!(topics, ["topic1-1", "topic1-0", "topic2-0", "topic3-0"]);
    }

    #[test]
    fn cooperative_generation() {
        let data = CooperativeStickyUserData { generation: 10 };
        assert_eq!(&data.encode()[..], &[0, 0, 0, 10]);
        assert_eq!(CooperativeStickyUserData::decode(&data.encode()), data);
        assert_eq!(CooperativeStickyUserData::decode(&[1, 2]).generation, -1);
    }
}

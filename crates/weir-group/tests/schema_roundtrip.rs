//! Round trips of every record at every version, and decoders fed hostile bytes.

use bytes::Bytes;
use proptest::prelude::*;
use weir_group::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, CooperativeStickyUserData,
    GroupMetadataKey, GroupMetadataValue, MemberMetadata, OffsetCommitKey, OffsetCommitValue,
    OffsetsRecordKey, StickyUserData, Subscription, TopicPartition, TopicPartitions,
};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn topic() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{1,12}"
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn offset_commit_value() -> impl Strategy<Value = OffsetCommitValue> {
    (
        any::<i64>(),
        any::<i32>(),
        text(),
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)| {
                OffsetCommitValue {
                    offset,
                    leader_epoch,
                    metadata,
                    commit_timestamp,
                    expire_timestamp,
                }
            },
        )
}

fn member() -> impl Strategy<Value = MemberMetadata> {
    (
        (text(), prop::option::of(text()), text(), text()),
        (any::<i32>(), any::<i32>(), bytes(), bytes()),
    )
        .prop_map(
            |(
                (member_id, group_instance_id, client_id, client_host),
                (rebalance_timeout, session_timeout, subscription, assignment),
            )| {
                MemberMetadata {
                    member_id,
                    group_instance_id,
                    client_id,
                    client_host,
                    rebalance_timeout,
                    session_timeout,
                    subscription,
                    assignment,
                }
            },
        )
}

fn group_metadata_value() -> impl Strategy<Value = GroupMetadataValue> {
    (
        text(),
        any::<i32>(),
        prop::option::of(text()),
        prop::option::of(text()),
        any::<i64>(),
        prop::collection::vec(member(), 0..4),
    )
        .prop_map(
            |(protocol_type, generation, protocol, leader, current_state_timestamp, members)| {
                GroupMetadataValue {
                    protocol_type,
                    generation,
                    protocol,
                    leader,
                    current_state_timestamp,
                    members,
                }
            },
        )
}

fn topic_partitions() -> impl Strategy<Value = Vec<TopicPartitions>> {
    prop::collection::vec(
        (topic(), prop::collection::vec(any::<i32>(), 0..5))
            .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions }),
        0..4,
    )
}

fn subscription_data() -> impl Strategy<Value = ConsumerProtocolSubscription> {
    (
        prop::collection::vec(topic(), 0..5),
        prop::option::of(bytes()),
        topic_partitions(),
        any::<i32>(),
        prop::option::of(text()),
    )
        .prop_map(
            |(topics, user_data, owned_partitions, generation_id, rack_id)| {
                ConsumerProtocolSubscription {
                    topics,
                    user_data,
                    owned_partitions,
                    generation_id,
                    rack_id,
                }
            },
        )
}

/// What reading `version` gives back for `v`: fields the version lacks take
/// their schema defaults.
fn offset_value_at(mut v: OffsetCommitValue, version: i16) -> OffsetCommitValue {
    if version < 3 {
        v.leader_epoch = -1;
    }
    if version != 1 {
        v.expire_timestamp = -1;
    }
    v
}

fn group_value_at(mut v: GroupMetadataValue, version: i16) -> GroupMetadataValue {
    if version < 2 {
        v.current_state_timestamp = -1;
    }
    for m in &mut v.members {
        if version < 1 {
            m.rebalance_timeout = -1;
        }
        if version < 3 {
            m.group_instance_id = None;
        }
    }
    v
}

fn subscription_at(
    mut v: ConsumerProtocolSubscription,
    version: i16,
) -> ConsumerProtocolSubscription {
    if version < 1 {
        v.owned_partitions.clear();
    }
    if version < 2 {
        v.generation_id = -1;
    }
    if version < 3 {
        v.rack_id = None;
    }
    v
}

proptest! {
    #[test]
    fn offset_commit_round_trips(
        group in text(),
        topic in text(),
        partition in any::<i32>(),
        value in offset_commit_value(),
    ) {
        let key = OffsetCommitKey { group, topic, partition };
        for version in [0, 1] {
            let bytes = key.encode_version(version).unwrap();
            prop_assert_eq!(OffsetCommitKey::decode(&bytes).unwrap(), key.clone());
            prop_assert_eq!(
                OffsetsRecordKey::decode(&bytes).unwrap(),
                OffsetsRecordKey::OffsetCommit { version, key: key.clone() }
            );
        }
        for version in 0..=4 {
            let bytes = value.encode_version(version).unwrap();
            prop_assert_eq!(&bytes[..2], &version.to_be_bytes());
            prop_assert_eq!(OffsetCommitValue::decode(&bytes).unwrap(), offset_value_at(value.clone(), version));
        }
        // Kafka's choice: v1 with an expire timestamp, else v3.
        let written = OffsetCommitValue::decode(&value.encode().unwrap()).unwrap();
        prop_assert_eq!(written, offset_value_at(value.clone(), value.write_version()));
    }

    #[test]
    fn group_metadata_round_trips(group in text(), value in group_metadata_value()) {
        let key = GroupMetadataKey { group };
        let bytes = key.encode().unwrap();
        prop_assert_eq!(GroupMetadataKey::decode(&bytes).unwrap(), key.clone());
        prop_assert_eq!(OffsetsRecordKey::decode(&bytes).unwrap(), OffsetsRecordKey::GroupMetadata(key));
        for version in 0..=4 {
            let bytes = value.encode_version(version).unwrap();
            prop_assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), group_value_at(value.clone(), version));
        }
        prop_assert_eq!(&value.encode().unwrap()[..2], &[0, 3]);
    }

    #[test]
    fn consumer_protocol_round_trips(
        data in subscription_data(),
        assigned in topic_partitions(),
        user_data in prop::option::of(bytes()),
    ) {
        for version in 0..=3 {
            let bytes = data.encode_version(version).unwrap();
            prop_assert_eq!(ConsumerProtocolSubscription::decode(&bytes).unwrap(), subscription_at(data.clone(), version));
        }
        let assignment = ConsumerProtocolAssignment { assigned_partitions: assigned, user_data };
        for version in 0..=3 {
            let bytes = assignment.encode_version(version).unwrap();
            prop_assert_eq!(ConsumerProtocolAssignment::decode(&bytes).unwrap(), assignment.clone());
        }
        // The assignor's view survives the trip through the protocol, up to order.
        let sub = data.clone().into_subscription("m", Some("i".into()));
        let again = ConsumerProtocolSubscription::from_subscription(&sub).into_subscription("m", Some("i".into()));
        let sorted = |s: &Subscription| {
            let (mut t, mut o) = (s.topics.clone(), s.owned_partitions.clone());
            t.sort();
            o.sort();
            (t, o, s.generation_id, s.rack_id.clone(), s.user_data.clone())
        };
        prop_assert_eq!(sorted(&again), sorted(&sub));
    }

    #[test]
    fn assignor_user_data_round_trips(
        owned in prop::collection::vec((topic(), any::<i32>()), 0..12),
        generation in prop::option::of(any::<i32>()),
    ) {
        let partitions: Vec<TopicPartition> = owned.into_iter().map(|(t, p)| TopicPartition::new(t, p)).collect();
        let data = StickyUserData { partitions: partitions.clone(), generation };
        let back = StickyUserData::decode(&data.encode().unwrap());
        // Topics come back grouped (in Java HashMap order); each topic's
        // partitions keep their relative order.
        prop_assert_eq!(back.generation, generation);
        for t in partitions.iter().map(|tp| &tp.topic) {
            let before: Vec<_> = partitions.iter().filter(|tp| &tp.topic == t).collect();
            let after: Vec<_> = back.partitions.iter().filter(|tp| &tp.topic == t).collect();
            prop_assert_eq!(before, after);
        }
        prop_assert_eq!(back.partitions.len(), partitions.len());
        if let Some(g) = generation {
            let c = CooperativeStickyUserData { generation: g };
            prop_assert_eq!(CooperativeStickyUserData::decode(&c.encode()), c);
        }
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(raw in prop::collection::vec(any::<u8>(), 0..64)) {
        decode_everything(&raw);
    }

    #[test]
    fn decoders_never_panic_on_damaged_records(
        value in group_metadata_value(),
        version in 0..=4i16,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = value.encode_version(version).unwrap().to_vec();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        decode_everything(&bytes);
        decode_everything(&bytes[..cut.index(bytes.len() + 1)]);
    }
}

/// Runs every decoder; any of them may refuse, none may panic.
fn decode_everything(raw: &[u8]) {
    let _ = OffsetsRecordKey::decode(raw);
    let _ = OffsetCommitKey::decode(raw);
    let _ = OffsetCommitValue::decode(raw);
    let _ = GroupMetadataKey::decode(raw);
    let _ = GroupMetadataValue::decode(raw);
    let _ = ConsumerProtocolSubscription::decode(raw);
    let _ = ConsumerProtocolAssignment::decode(raw);
    let _ = StickyUserData::decode(raw);
    let _ = CooperativeStickyUserData::decode(raw);
    // Bytes after a version prefix that selects each flexible or older layout.
    for version in [0i16, 1, 2, 3, 4] {
        let mut prefixed = version.to_be_bytes().to_vec();
        prefixed.extend_from_slice(raw);
        let _ = OffsetCommitValue::decode(&prefixed);
        let _ = GroupMetadataValue::decode(&prefixed);
        let _ = ConsumerProtocolSubscription::decode(&prefixed);
    }
}

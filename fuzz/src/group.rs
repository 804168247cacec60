//! Fuzz target bodies for `weir-group`'s decoders of `__consumer_offsets`
//! records and of the consumer protocol's member metadata. Shared by the
//! cargo-fuzz binaries and the corpus replay test
//! `crates/weir-group/tests/fuzz_corpus.rs`.
//!
//! Besides "never panics": whatever decodes encodes again and decodes to the
//! same value.

use weir_group::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, CooperativeStickyUserData,
    GroupMetadataValue, OffsetCommitValue, OffsetsRecordKey, StickyUserData,
};

/// The first byte picks the decoder; the rest is its input.
pub fn offsets_decode(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(key) = OffsetsRecordKey::decode(bytes) {
                let encoded = match &key {
                    OffsetsRecordKey::OffsetCommit { version, key } => {
                        key.encode_version(*version).expect("a decoded key encodes")
                    }
                    OffsetsRecordKey::GroupMetadata(key) => {
                        key.encode().expect("a decoded key encodes")
                    }
                    _ => return,
                };
                let again = OffsetsRecordKey::decode(&encoded).expect("our own key decodes");
                assert!(again == key, "offsets key did not round-trip");
            }
        }
        1 => {
            if let Ok(value) = OffsetCommitValue::decode(bytes) {
                let encoded = value.encode().expect("a decoded value encodes");
                let again = OffsetCommitValue::decode(&encoded).expect("our own value decodes");
                assert!(again == value, "offset commit value did not round-trip");
            }
        }
        2 => {
            if let Ok(value) = GroupMetadataValue::decode(bytes) {
                let encoded = value.encode().expect("a decoded value encodes");
                let again = GroupMetadataValue::decode(&encoded).expect("our own value decodes");
                assert!(again == value, "group metadata value did not round-trip");
            }
        }
        3 => {
            if let Ok(sub) = ConsumerProtocolSubscription::decode(bytes) {
                let encoded = sub.encode().expect("a decoded subscription encodes");
                let again = ConsumerProtocolSubscription::decode(&encoded)
                    .expect("our own subscription decodes");
                assert!(again == sub, "subscription did not round-trip");
            }
        }
        4 => {
            if let Ok(assignment) = ConsumerProtocolAssignment::decode(bytes) {
                let encoded = assignment.encode().expect("a decoded assignment encodes");
                let again = ConsumerProtocolAssignment::decode(&encoded)
                    .expect("our own assignment decodes");
                assert!(again == assignment, "assignment did not round-trip");
            }
        }
        5 => {
            let data = StickyUserData::decode(bytes);
            if let Ok(encoded) = data.encode() {
                let again = StickyUserData::decode(&encoded);
                // Encoding groups partitions by topic, as Kafka's does.
                let sorted = |d: &StickyUserData| {
                    let mut p: Vec<(String, i32)> = d
                        .partitions
                        .iter()
                        .map(|tp| (tp.topic.clone(), tp.partition))
                        .collect();
                    p.sort();
                    p
                };
                assert!(
                    sorted(&again) == sorted(&data),
                    "sticky user data did not round-trip"
                );
                assert!(
                    again.generation == data.generation,
                    "sticky generation changed"
                );
            }
        }
        _ => {
            let data = CooperativeStickyUserData::decode(bytes);
            let again = CooperativeStickyUserData::decode(&data.encode());
            assert!(
                again == data,
                "cooperative sticky user data did not round-trip"
            );
        }
    }
}

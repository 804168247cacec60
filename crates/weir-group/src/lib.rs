//! Kafka's consumer groups inside one process: the assignors and the records of
//! `__consumer_offsets`, each exact to Kafka's Java behaviour.
//!
//! **Assignors.** [`AssignorKind`] is one of Kafka's `partition.assignment.strategy`
//! assignors (range, roundrobin, sticky, cooperative-sticky). Given each member's
//! [`Subscription`] and the partition count of each topic, [`AssignorKind::assign`]
//! returns the same [`GroupAssignment`] as the Java class, including its member
//! ordering rules. [`assign_cooperative_sticky`] exposes the incremental protocol:
//! a partition changing owner is first revoked, and assigned only in the
//! follow-up rebalance ([`CooperativeAssignment`]). [`rebalance_protocol`] gives a
//! consumer's eager or cooperative protocol, and [`select_group_protocol`] the
//! assignor a group's coordinator picks from its members' preferences.
//!
//! **Records.** The classic-group records of `__consumer_offsets`, byte for byte:
//! [`OffsetCommitKey`] and [`OffsetCommitValue`] (committed offsets),
//! [`GroupMetadataKey`] and [`GroupMetadataValue`] (a group's generation, leader
//! and members), dispatched by [`OffsetsRecordKey::decode`]; the consumer protocol
//! inside the member fields ([`ConsumerProtocolSubscription`],
//! [`ConsumerProtocolAssignment`]); the sticky assignors' user data
//! ([`StickyUserData`], [`CooperativeStickyUserData`]); and
//! [`offsets_partition_for`], the partition holding a group's records. Decoding
//! never panics: lengths are checked before allocating and errors are
//! [`GroupError`]s naming the field.
//!
//! The assignors and the record codecs are pure computation: no I/O, no
//! threads, nothing blocks.
//!
//! **Coordinator.** [`GroupCoordinator`] is the in-process group coordinator
//! (Kafka's classic protocol): members join, rebalance and commit through it,
//! and it keeps its state in `__consumer_offsets`, which it creates, replays at
//! open and appends to. Commits wait for their fsync, and members waiting for
//! a rebalance block on its events: call it from threads that may block.
//! Committed offsets expire by Kafka's rules when
//! [`GroupCoordinator::expire_offsets`] runs (the `weir` crate runs it every
//! `offsets.retention.check.interval.ms`), and
//! [`GroupCoordinator::delete_offsets`] deletes some of a group's offsets
//! (Kafka's `OffsetDelete`).
//!
//! ```
//! use std::collections::BTreeMap;
//! use weir_group::{
//!     AssignorKind, ConsumerProtocolAssignment, Subscription, TopicPartition,
//!     assign_cooperative_sticky,
//! };
//!
//! let topics = BTreeMap::from([("orders".to_owned(), 3)]);
//!
//! // Two new members: range gives the first member the extra partition.
//! let members = [Subscription::new("c1", ["orders"]), Subscription::new("c2", ["orders"])];
//! let assignment = AssignorKind::Range.assign(&topics, &members)?;
//! assert_eq!(assignment["c1"], [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)]);
//!
//! // c1 owned everything and c2 joins: cooperative-sticky takes orders-2 from c1
//! // now and gives it to c2 only in the follow-up rebalance.
//! let all: Vec<_> = (0..3).map(|p| TopicPartition::new("orders", p)).collect();
//! let members = [
//!     Subscription::new("c1", ["orders"]).with_owned_partitions(all, 1),
//!     Subscription::new("c2", ["orders"]).with_owned_partitions(Vec::new(), 1),
//! ];
//! let round = assign_cooperative_sticky(&topics, &members)?;
//! assert_eq!(round.assignment["c1"].len(), 2);
//! assert!(round.assignment["c2"].is_empty());
//! assert_eq!(round.transferring[&TopicPartition::new("orders", 2)], "c2");
//! assert!(round.needs_follow_up());
//!
//! // What the leader sends c1, in the consumer protocol's bytes.
//! let bytes = ConsumerProtocolAssignment::from_partitions(&round.assignment["c1"], None).encode()?;
//! assert_eq!(ConsumerProtocolAssignment::decode(&bytes)?.partitions(), round.assignment["c1"]);
//! # Ok::<(), weir_group::GroupError>(())
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod assignor;
mod coordinator;
mod error;
mod java;
mod schema;

pub use assignor::{
    AssignorKind, CooperativeAssignment, GroupAssignment, MemberProtocols, RebalanceProtocol,
    Subscription, TopicPartition, assign_cooperative_sticky, rebalance_protocol,
    select_group_protocol,
};
pub use coordinator::{
    CONSUMER_OFFSETS, ExpiredOffsets, GroupCoordinator, GroupDescription, GroupState, JoinOptions,
    MemberDescription, MemberStatus, OffsetAndMetadata, PartitionOutcome,
};
pub use error::GroupError;
pub use schema::{
    CONSUMER_PROTOCOL_VERSION, ConsumerProtocolAssignment, ConsumerProtocolSubscription,
    CooperativeStickyUserData, DEFAULT_OFFSETS_TOPIC_PARTITIONS, GroupMetadataKey,
    GroupMetadataValue, MemberMetadata, OffsetCommitKey, OffsetCommitValue, OffsetsRecordKey,
    StickyUserData, TopicPartitions, offsets_partition_for,
};

//! The assignors' inputs and outputs.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

/// A partition of a topic.
///
/// Ordered by topic, then partition: the order Kafka's `TopicPartitionComparator`
/// gives for legal (ASCII) topic names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic and partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// `topic-partition`, as Kafka prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One member's subscription, as the group leader sees it: Kafka's
/// `ConsumerPartitionAssignor.Subscription` together with the member id.
///
/// What each assignor reads:
///
/// | assignor | reads |
/// |---|---|
/// | range, roundrobin | `member_id`, `group_instance_id`, `topics` |
/// | sticky | the above, and the previous assignment and generation from `user_data` ([`StickyUserData`](crate::StickyUserData)); `generation_id` breaks ties between members claiming a partition |
/// | cooperative-sticky | the above, `owned_partitions`, and `generation_id` (or, when that is absent, the generation in `user_data`, see [`CooperativeStickyUserData`](crate::CooperativeStickyUserData)) |
///
/// The sticky assignor takes its previous assignment from `user_data` because
/// it is eager: a consumer revokes everything before rejoining, so its
/// `owned_partitions` is empty. `rack_id` is carried but unused: Kafka's assignors
/// only turn rack-aware when they also know the racks of partition replicas,
/// which this API does not take.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The member id the coordinator assigned.
    pub member_id: String,
    /// The member's `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// Subscribed topics, in the member's order (duplicates are kept, as Java
    /// keeps them; they influence the sticky assignors as they do in Java).
    pub topics: Vec<String>,
    /// The assignor-specific user data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns (`ConsumerProtocolSubscription` v1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation of `owned_partitions` (v2+). `None`, or any negative value,
    /// means absent (Kafka's `DEFAULT_GENERATION`, -1).
    pub generation_id: Option<i32>,
    /// The member's `client.rack` (v3+).
    pub rack_id: Option<String>,
}

impl Subscription {
    /// A member subscribing to `topics`, owning nothing.
    pub fn new<T: Into<String>>(
        member_id: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> Self {
        Subscription {
            member_id: member_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            ..Subscription::default()
        }
    }

    /// Sets the member's `group.instance.id`.
    pub fn with_group_instance_id(mut self, group_instance_id: impl Into<String>) -> Self {
        self.group_instance_id = Some(group_instance_id.into());
        self
    }

    /// Sets the owned partitions and their generation (negative: none).
    pub fn with_owned_partitions(mut self, owned: Vec<TopicPartition>, generation_id: i32) -> Self {
        self.owned_partitions = owned;
        self.generation_id = (generation_id >= 0).then_some(generation_id);
        self
    }

    /// Sets the user data.
    pub fn with_user_data(mut self, user_data: Bytes) -> Self {
        self.user_data = Some(user_data);
        self
    }

    /// The generation as Kafka's `Subscription.generationId()` reports it.
    pub(crate) fn generation(&self) -> Option<i32> {
        self.generation_id.filter(|g| *g >= 0)
    }
}

/// What an assignor returns: for every member id, its partitions in ascending
/// order. Every member of the input appears, possibly with no partitions.
pub type GroupAssignment = BTreeMap<String, Vec<TopicPartition>>;

/// The cooperative-sticky assignor's result for one rebalance.
///
/// Kafka's incremental protocol never hands a partition to a new owner in the
/// same rebalance that takes it from the old one. The sticky target assignment is
/// computed as usual; then every partition that would change hands is left out
/// of the new owner's assignment (`CooperativeStickyAssignor.adjustAssignment`).
/// Its old owner, no longer assigned it, revokes it and rejoins; the follow-up
/// rebalance assigns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CooperativeAssignment {
    /// What each member is assigned now (what Kafka's assignor returns).
    pub assignment: GroupAssignment,
    /// Partitions held back in this rebalance, each with the member the target
    /// assignment gives it to.
    pub transferring: BTreeMap<TopicPartition, String>,
    /// Per member, owned partitions it is no longer assigned and must revoke;
    /// only members with something to revoke appear.
    pub revoked: BTreeMap<String, Vec<TopicPartition>>,
}

impl CooperativeAssignment {
    /// Whether a follow-up rebalance will happen: Kafka's consumer rejoins after
    /// revoking partitions.
    pub fn needs_follow_up(&self) -> bool {
        !self.revoked.is_empty()
    }

    /// The target assignment: `assignment` with the transferring partitions given
    /// to their new owners. It equals the sticky assignment computed from the
    /// same ownership.
    pub fn target(&self) -> GroupAssignment {
        let mut target = self.assignment.clone();
        for (partition, member) in &self.transferring {
            if let Some(list) = target.get_mut(member) {
                list.push(partition.clone());
                list.sort();
            }
        }
        target
    }
}

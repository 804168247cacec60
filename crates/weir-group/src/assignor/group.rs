//! What every assignor first derives from its input: the members in the order a
//! Java `HashMap` of subscriptions iterates them, and the topics that take part.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::java::{JavaHashMap, cmp_str, string_hash};
use crate::{GroupAssignment, GroupError, Subscription, TopicPartition};

/// The members and topics of one assignment.
#[derive(Debug)]
pub(crate) struct Group<'a> {
    /// The members, in the caller's order (the order they were put into the
    /// leader's `HashMap`).
    pub(crate) members: &'a [Subscription],
    /// Member indices in Java `HashMap` iteration order.
    pub(crate) hash_order: Vec<usize>,
    /// Topics some member subscribes to and that have at least one partition, in
    /// Java `String` order, with their partition counts.
    pub(crate) topics: Vec<(&'a str, i32)>,
    /// Topic name to its index in `topics`.
    pub(crate) topic_index: HashMap<&'a str, usize>,
}

impl<'a> Group<'a> {
    /// Checks the input and orders it.
    ///
    /// Only topics that some member subscribes to and that have partitions take
    /// part, as `AbstractPartitionAssignor.assign(Cluster, GroupSubscription)`
    /// builds its `partitionsPerTopic` from the subscriptions and the metadata.
    pub(crate) fn new(
        partitions_per_topic: &'a BTreeMap<String, i32>,
        members: &'a [Subscription],
    ) -> Result<Self, GroupError> {
        for (topic, count) in partitions_per_topic {
            if *count < 0 {
                return Err(GroupError::InvalidPartitionCount {
                    topic: topic.clone(),
                    count: *count,
                });
            }
        }
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(members.len());
        let mut map: JavaHashMap<&str> = JavaHashMap::new();
        for (i, m) in members.iter().enumerate() {
            if by_id.insert(m.member_id.as_str(), i).is_some() {
                return Err(GroupError::DuplicateMember {
                    member_id: m.member_id.clone(),
                });
            }
            map.put(string_hash(&m.member_id), m.member_id.as_str());
        }
        let hash_order = map.keys().filter_map(|id| by_id.get(id).copied()).collect();

        let mut topics: Vec<(&str, i32)> = partitions_per_topic
            .iter()
            .filter(|(topic, count)| {
                **count > 0 && members.iter().any(|m| m.topics.contains(topic))
            })
            .map(|(topic, count)| (topic.as_str(), *count))
            .collect();
        topics.sort_by(|a, b| cmp_str(a.0, b.0));
        let topic_index = topics
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (*t, i))
            .collect();
        Ok(Group {
            members,
            hash_order,
            topics,
            topic_index,
        })
    }

    /// The partition count of a topic that takes part.
    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topic_index
            .get(topic)
            .and_then(|i| self.topics.get(*i))
            .map(|(_, c)| *c)
    }

    /// An empty assignment for every member.
    pub(crate) fn empty_assignment(&self) -> GroupAssignment {
        self.members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect()
    }
}

/// `AbstractPartitionAssignor.MemberInfo.compareTo`: members with a
/// `group.instance.id` first, ordered by it; then the others by member id.
pub(crate) fn member_info_cmp(a: &Subscription, b: &Subscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => cmp_str(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => cmp_str(&a.member_id, &b.member_id),
    }
}

/// Sorts each member's partitions, the form assignors return.
pub(crate) fn sorted(mut assignment: GroupAssignment) -> GroupAssignment {
    for list in assignment.values_mut() {
        list.sort();
    }
    assignment
}

/// Adds `partition` to `member`'s list.
pub(crate) fn push(assignment: &mut GroupAssignment, member: &str, partition: TopicPartition) {
    if let Some(list) = assignment.get_mut(member) {
        list.push(partition);
    }
}

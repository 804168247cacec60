//! Kafka's `RangeAssignor`, without rack awareness (which needs replica racks).
//!
//! Per topic: the subscribed members in `MemberInfo` order, the partitions in
//! numeric order; each member takes `n / m` consecutive partitions and the first
//! `n % m` members one more. Topics with the same partition count and subscribers
//! therefore line up (co-partitioning).

use std::collections::HashMap;

use super::group::{Group, member_info_cmp, push, sorted};
use crate::{GroupAssignment, TopicPartition};

pub(crate) fn assign(group: &Group<'_>) -> GroupAssignment {
    // consumersPerTopic, filled in the subscriptions' HashMap order.
    let mut consumers_per_topic: HashMap<&str, Vec<usize>> = HashMap::new();
    for &i in &group.hash_order {
        let Some(member) = group.members.get(i) else {
            continue;
        };
        for topic in &member.topics {
            consumers_per_topic
                .entry(topic.as_str())
                .or_default()
                .push(i);
        }
    }

    let mut assignment = group.empty_assignment();
    for &(topic, count) in &group.topics {
        let mut members = consumers_per_topic.remove(topic).unwrap_or_default();
        // A stable sort: members that compare equal keep the HashMap order.
        members.sort_by(
            |a, b| match (group.members.get(*a), group.members.get(*b)) {
                (Some(x), Some(y)) => member_info_cmp(x, y),
                _ => std::cmp::Ordering::Equal,
            },
        );
        // A member listing the topic twice counts once, at its first position.
        let mut consumers: Vec<usize> = Vec::with_capacity(members.len());
        for m in members {
            if !consumers.contains(&m) {
                consumers.push(m);
            }
        }
        if consumers.is_empty() {
            continue;
        }
        let per_consumer = count as usize / consumers.len();
        let with_extra = count as usize % consumers.len();
        let mut next = 0i32;
        for (k, &m) in consumers.iter().enumerate() {
            let take = per_consumer + usize::from(k < with_extra);
            let Some(member) = group.members.get(m) else {
                continue;
            };
            for _ in 0..take {
                push(
                    &mut assignment,
                    &member.member_id,
                    TopicPartition::new(topic, next),
                );
                next += 1;
            }
        }
    }
    sorted(assignment)
}

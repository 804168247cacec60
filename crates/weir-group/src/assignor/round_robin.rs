//! Kafka's `RoundRobinAssignor`.
//!
//! All subscribed partitions, sorted by topic then partition, are dealt one at a
//! time to the members in `MemberInfo` order, cycling; a member not subscribed to
//! a partition's topic is skipped (and the cycle moves past it).

use super::group::{Group, member_info_cmp, push, sorted};
use crate::java::cmp_str;
use crate::{GroupAssignment, TopicPartition};

pub(crate) fn assign(group: &Group<'_>) -> GroupAssignment {
    let mut assignment = group.empty_assignment();
    let mut members: Vec<usize> = group.hash_order.clone();
    members.sort_by(
        |a, b| match (group.members.get(*a), group.members.get(*b)) {
            (Some(x), Some(y)) => member_info_cmp(x, y),
            _ => std::cmp::Ordering::Equal,
        },
    );
    if members.is_empty() {
        return assignment;
    }

    // The subscribed topics as a TreeSet<String> holds them.
    let mut topics: Vec<&str> = group
        .members
        .iter()
        .flat_map(|m| m.topics.iter().map(String::as_str))
        .collect();
    topics.sort_by(|a, b| cmp_str(a, b));
    topics.dedup();

    // A CircularIterator: `next` is the position `peek` looks at.
    let mut next = 0usize;
    for topic in topics {
        let Some(count) = group.partition_count(topic) else {
            continue;
        };
        for partition in 0..count {
            // Some member subscribes to `topic`, so one lap finds it.
            for _ in 0..members.len() {
                let subscribed = members
                    .get(next)
                    .and_then(|m| group.members.get(*m))
                    .is_some_and(|m| m.topics.iter().any(|t| t == topic));
                if subscribed {
                    break;
                }
                next = (next + 1) % members.len();
            }
            if let Some(member) = members.get(next).and_then(|m| group.members.get(*m)) {
                push(
                    &mut assignment,
                    &member.member_id,
                    TopicPartition::new(topic, partition),
                );
            }
            next = (next + 1) % members.len();
        }
    }
    sorted(assignment)
}

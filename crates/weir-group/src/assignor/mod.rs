//! Kafka's consumer partition assignors, giving the same assignment as its Java
//! classes for the same input.
//!
//! [`AssignorKind`] names the four built-in assignors of `partition.assignment.strategy`;
//! [`AssignorKind::assign`] runs one over the group's [`Subscription`]s and the
//! partition count of each topic. [`assign_cooperative_sticky`] also reports what
//! the incremental protocol holds back until the follow-up rebalance.
//!
//! Member order matters to Kafka's results in two ways, and both are reproduced:
//! members are sorted by `group.instance.id` (static members first) and then by
//! member id, comparing Java strings; and the sticky assignors walk the leader's
//! `HashMap` of subscriptions, whose iteration order depends on the member ids'
//! hashes and on insertion order. Pass the members in the order the leader
//! received them (the JoinGroup response's order).
//!
//! `tests/assignor_oracle.rs` checks all four against Kafka's own classes on 800
//! random groups (and was run on 80,000 more while porting), including Kafka's
//! quirks, which are kept:
//!
//! * the sticky assignors treat a group as uniformly subscribed when the first
//!   member they iterate subscribes to nothing, and may then give that member
//!   partitions;
//! * a partition claimed by several members, a partition number beyond its
//!   topic's count, or an owner at a stale generation that no longer subscribes
//!   can make them assign a partition twice, or to a non-subscriber, or fail
//!   ([`GroupError::AssignorFailed`] where Java throws);
//! * after a cooperative follow-up rebalance the group is as balanced and as
//!   sticky as the eager assignor would make it, but the partitions that moved
//!   may land on different members than the eager assignment.
//!
//! Not reproduced: rack-aware assignment (it needs the racks of partition
//! replicas, which this API does not take; without them Kafka is not rack-aware
//! either), and state a Java assignor instance keeps between calls (the sticky
//! assignors' `maxGeneration` only ever grows; here every call starts afresh).

mod group;
mod protocol;
mod range;
mod round_robin;
mod sticky;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use protocol::{MemberProtocols, RebalanceProtocol, rebalance_protocol, select_group_protocol};
pub use types::{CooperativeAssignment, GroupAssignment, Subscription, TopicPartition};

use crate::GroupError;
use group::Group;

/// One of Kafka's built-in consumer partition assignors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssignorKind {
    /// `RangeAssignor` ("range"): per topic, consecutive ranges of partitions.
    Range,
    /// `RoundRobinAssignor` ("roundrobin"): all partitions dealt in turn.
    RoundRobin,
    /// `StickyAssignor` ("sticky"): balanced, keeping previous owners, eager.
    Sticky,
    /// `CooperativeStickyAssignor` ("cooperative-sticky"): the sticky assignment
    /// reached incrementally.
    CooperativeSticky,
}

impl AssignorKind {
    /// All four, in Kafka's documentation order.
    pub const ALL: [AssignorKind; 4] = [
        AssignorKind::Range,
        AssignorKind::RoundRobin,
        AssignorKind::Sticky,
        AssignorKind::CooperativeSticky,
    ];

    /// The assignor's name: the protocol name in JoinGroup and in the group's metadata.
    pub fn name(self) -> &'static str {
        match self {
            AssignorKind::Range => "range",
            AssignorKind::RoundRobin => "roundrobin",
            AssignorKind::Sticky => "sticky",
            AssignorKind::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The Java class `partition.assignment.strategy` names.
    pub fn class_name(self) -> &'static str {
        match self {
            AssignorKind::Range => "org.apache.kafka.clients.consumer.RangeAssignor",
            AssignorKind::RoundRobin => "org.apache.kafka.clients.consumer.RoundRobinAssignor",
            AssignorKind::Sticky => "org.apache.kafka.clients.consumer.StickyAssignor",
            AssignorKind::CooperativeSticky => {
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            }
        }
    }

    /// Parses an assignor name or Java class name; surrounding whitespace is
    /// ignored, as in Kafka's list configs.
    ///
    /// # Errors
    /// [`GroupError::UnknownAssignor`] for anything else.
    pub fn from_name(name: &str) -> Result<Self, GroupError> {
        let trimmed = name.trim();
        AssignorKind::ALL
            .into_iter()
            .find(|a| a.name() == trimmed || a.class_name() == trimmed)
            .ok_or_else(|| GroupError::UnknownAssignor {
                name: name.to_owned(),
            })
    }

    /// The rebalance protocols the assignor supports (`supportedProtocols()`).
    pub fn supported_protocols(self) -> &'static [RebalanceProtocol] {
        match self {
            AssignorKind::CooperativeSticky => {
                &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
            }
            _ => &[RebalanceProtocol::Eager],
        }
    }

    /// Assigns the partitions of `partitions_per_topic` to `members`, as the
    /// Java assignor's `assign(Cluster, GroupSubscription)` does. Only topics some
    /// member subscribes to and that have partitions are assigned; every member
    /// appears in the result. For [`CooperativeSticky`](AssignorKind::CooperativeSticky)
    /// partitions changing owner are held back (see [`assign_cooperative_sticky`]).
    ///
    /// Pure computation; does not block. A group without members gets an empty
    /// assignment (Kafka never assigns for one; its round-robin and sticky
    /// assignors would throw).
    ///
    /// # Errors
    /// [`GroupError::DuplicateMember`] when two subscriptions share a member id,
    /// [`GroupError::InvalidPartitionCount`] for a negative count, and
    /// [`GroupError::AssignorFailed`] where Kafka's sticky assignors would throw
    /// (possible only for inconsistent input, such as owned partitions numbered
    /// beyond their topic's count).
    pub fn assign(
        self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[Subscription],
    ) -> Result<GroupAssignment, GroupError> {
        let group = Group::new(partitions_per_topic, members)?;
        Ok(match self {
            AssignorKind::Range => range::assign(&group),
            AssignorKind::RoundRobin => round_robin::assign(&group),
            AssignorKind::Sticky => sticky::assign(&group, sticky::Flavor::Eager)?.assignment,
            AssignorKind::CooperativeSticky => {
                sticky::assign(&group, sticky::Flavor::Cooperative)?.assignment
            }
        })
    }
}

impl fmt::Display for AssignorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AssignorKind {
    type Err = GroupError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssignorKind::from_name(s)
    }
}

/// Runs the cooperative-sticky assignor and reports the incremental protocol's
/// view: what members get now, which partitions wait for the follow-up rebalance
/// and for whom, and what each member must revoke.
///
/// Pure computation; does not block.
///
/// # Errors
/// As [`AssignorKind::assign`].
pub fn assign_cooperative_sticky(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[Subscription],
) -> Result<CooperativeAssignment, GroupError> {
    let group = Group::new(partitions_per_topic, members)?;
    sticky::assign(&group, sticky::Flavor::Cooperative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_class_names_parse() {
        for kind in AssignorKind::ALL {
            assert_eq!(kind.name().parse::<AssignorKind>(), Ok(kind));
            assert_eq!(AssignorKind::from_name(kind.class_name()), Ok(kind));
            assert_eq!(kind.to_string(), kind.name());
        }
        assert_eq!(
            AssignorKind::from_name(" org.apache.kafka.clients.consumer.RangeAssignor "),
            Ok(AssignorKind::Range)
        );
        assert_eq!(
            AssignorKind::from_name("uniform"),
            Err(GroupError::UnknownAssignor {
                name: "uniform".into()
            })
        );
    }

    #[test]
    fn only_cooperative_sticky_is_cooperative() {
        for kind in AssignorKind::ALL {
            let cooperative = kind
                .supported_protocols()
                .contains(&RebalanceProtocol::Cooperative);
            assert_eq!(cooperative, kind == AssignorKind::CooperativeSticky);
            assert!(
                kind.supported_protocols()
                    .contains(&RebalanceProtocol::Eager)
            );
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let counts = BTreeMap::from([("t".to_owned(), 1)]);
        let twice = [Subscription::new("a", ["t"]), Subscription::new("a", ["t"])];
        assert_eq!(
            AssignorKind::Range.assign(&counts, &twice),
            Err(GroupError::DuplicateMember {
                member_id: "a".into()
            })
        );
        let negative = BTreeMap::from([("t".to_owned(), -1)]);
        assert!(matches!(
            AssignorKind::Sticky.assign(&negative, &twice[..1]),
            Err(GroupError::InvalidPartitionCount { count: -1, .. })
        ));
        for kind in AssignorKind::ALL {
            assert_eq!(kind.assign(&counts, &[]), Ok(GroupAssignment::new()));
        }
    }
}

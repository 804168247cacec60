//! Choosing protocols: the rebalance protocol a consumer runs, and the assignor
//! a group agrees on.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::AssignorKind;
use crate::GroupError;
use crate::java::{JavaHashMap, string_hash};

/// How a rebalance moves partitions (Kafka's `ConsumerPartitionAssignor.RebalanceProtocol`).
///
/// Ordered by Kafka's protocol id: `Eager` (0) < `Cooperative` (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before rejoining.
    Eager,
    /// Members keep their partitions; only those that move are revoked, and
    /// handed over in a follow-up rebalance.
    Cooperative,
}

impl RebalanceProtocol {
    /// Kafka's id for the protocol.
    pub fn id(self) -> u8 {
        match self {
            RebalanceProtocol::Eager => 0,
            RebalanceProtocol::Cooperative => 1,
        }
    }
}

impl fmt::Display for RebalanceProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RebalanceProtocol::Eager => "EAGER",
            RebalanceProtocol::Cooperative => "COOPERATIVE",
        })
    }
}

/// The rebalance protocol a consumer configured with `assignors` runs: the
/// highest one all of them support (`ConsumerCoordinator`'s constructor). With
/// Kafka's default `[range, cooperative-sticky]` that is [`RebalanceProtocol::Eager`].
///
/// # Errors
/// [`GroupError::NoCommonRebalanceProtocol`] when `assignors` is empty or they
/// share no protocol.
pub fn rebalance_protocol(assignors: &[AssignorKind]) -> Result<RebalanceProtocol, GroupError> {
    let common = |p: &RebalanceProtocol| {
        assignors
            .iter()
            .all(|a| a.supported_protocols().contains(p))
    };
    assignors
        .first()
        .into_iter()
        .flat_map(|a| a.supported_protocols().iter().copied())
        .filter(common)
        .max()
        .ok_or_else(|| GroupError::NoCommonRebalanceProtocol {
            assignors: assignors.iter().map(|a| a.name().to_owned()).collect(),
        })
}

/// A member joining a classic group, with the protocols (for consumers, assignor
/// names) it offers in order of preference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberProtocols {
    /// The member id.
    pub member_id: String,
    /// Protocol names, most preferred first.
    pub protocols: Vec<String>,
}

impl MemberProtocols {
    /// A member offering `protocols`, most preferred first.
    pub fn new<P: Into<String>>(
        member_id: impl Into<String>,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        MemberProtocols {
            member_id: member_id.into(),
            protocols: protocols.into_iter().map(Into::into).collect(),
        }
    }
}

/// The protocol the group coordinator selects (`ClassicGroup.selectProtocol`):
/// among the protocols every member offers, each member votes for the first one
/// in its own list, and the most votes win. A tie goes to the protocol a Java
/// `HashMap` of the votes iterates first, with members voting in the order a
/// `HashMap` of member ids iterates them; `members` is in join order.
///
/// # Errors
/// [`GroupError::EmptyGroup`] without members, [`GroupError::NoCommonGroupProtocol`]
/// when no protocol is offered by every member.
pub fn select_group_protocol(members: &[MemberProtocols]) -> Result<String, GroupError> {
    if members.is_empty() {
        return Err(GroupError::EmptyGroup);
    }
    // supportedProtocols counts each member's distinct protocol names.
    let mut support: HashMap<&str, usize> = HashMap::new();
    let mut member_order: JavaHashMap<&str> = JavaHashMap::new();
    let mut by_id: HashMap<&str, &MemberProtocols> = HashMap::new();
    for m in members {
        // A rejoining member replaces its earlier entry, as in the coordinator.
        if by_id.insert(m.member_id.as_str(), m).is_none() {
            member_order.put(string_hash(&m.member_id), m.member_id.as_str());
        }
    }
    for m in by_id.values() {
        let distinct: HashSet<&str> = m.protocols.iter().map(String::as_str).collect();
        for p in distinct {
            *support.entry(p).or_default() += 1;
        }
    }
    let member_count = by_id.len();
    let candidates: HashSet<&str> = support
        .iter()
        .filter(|(_, n)| **n == member_count)
        .map(|(p, _)| *p)
        .collect();

    let mut votes: HashMap<&str, usize> = HashMap::new();
    let mut vote_order: JavaHashMap<&str> = JavaHashMap::new();
    for id in member_order.keys() {
        let Some(member) = by_id.get(id) else {
            continue;
        };
        let vote = member
            .protocols
            .iter()
            .map(String::as_str)
            .find(|p| candidates.contains(p))
            .ok_or(GroupError::NoCommonGroupProtocol {
                members: member_count,
            })?;
        *votes.entry(vote).or_default() += 1;
        vote_order.put(string_hash(vote), vote);
    }
    // Stream.max keeps the first of equal maxima.
    let mut best: Option<(&str, usize)> = None;
    for p in vote_order.keys() {
        let n = votes.get(p).copied().unwrap_or(0);
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((p, n));
        }
    }
    best.map(|(p, _)| p.to_owned())
        .ok_or(GroupError::NoCommonGroupProtocol {
            members: member_count,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_strategy_is_eager() {
        use AssignorKind::*;
        assert_eq!(
            rebalance_protocol(&[Range, CooperativeSticky]),
            Ok(RebalanceProtocol::Eager)
        );
        assert_eq!(
            rebalance_protocol(&[CooperativeSticky]),
            Ok(RebalanceProtocol::Cooperative)
        );
        assert!(rebalance_protocol(&[]).is_err());
    }

    #[test]
    fn majority_of_first_choices_wins() {
        let members = [
            MemberProtocols::new("a", ["range", "roundrobin"]),
            MemberProtocols::new("b", ["roundrobin", "range"]),
            MemberProtocols::new("c", ["roundrobin", "range", "sticky"]),
        ];
        assert_eq!(select_group_protocol(&members).as_deref(), Ok("roundrobin"));
    }

    #[test]
    fn only_common_protocols_are_voted_for() {
        let members = [
            MemberProtocols::new("a", ["cooperative-sticky", "range"]),
            MemberProtocols::new("b", ["range"]),
        ];
        assert_eq!(select_group_protocol(&members).as_deref(), Ok("range"));
        let disjoint = [
            MemberProtocols::new("a", ["x"]),
            MemberProtocols::new("b", ["y"]),
        ];
        assert_eq!(
            select_group_protocol(&disjoint),
            Err(GroupError::NoCommonGroupProtocol { members: 2 })
        );
        assert_eq!(select_group_protocol(&[]), Err(GroupError::EmptyGroup));
    }

    #[test]
    fn ties_follow_java_hash_map_order() {
        // "range" and "roundrobin" one vote each. Their hashes (108280125 and
        // -128548644) put them in buckets 9 and 10 of a 16-slot table, so the
        // votes HashMap iterates "range" first and it wins, whatever the join order.
        let expected = "range";
        for members in [
            [
                MemberProtocols::new("a", ["range", "roundrobin"]),
                MemberProtocols::new("b", ["roundrobin", "range"]),
            ],
            [
                MemberProtocols::new("b", ["roundrobin", "range"]),
                MemberProtocols::new("a", ["range", "roundrobin"]),
            ],
        ] {
            assert_eq!(select_group_protocol(&members).as_deref(), Ok(expected));
        }
    }
}

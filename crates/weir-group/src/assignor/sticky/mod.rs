//! Kafka's `AbstractStickyAssignor`, shared by `StickyAssignor` (eager) and
//! `CooperativeStickyAssignor`, without rack awareness.
//!
//! Each member's previous partitions and generation are read first (from the
//! user data for the eager assignor, from the subscription for the cooperative
//! one). A partition claimed by two members goes to the higher generation; a tie
//! takes it from both. Then one of two builders runs, as in Java:
//!
//! * every member subscribes to the same topics: [`constrained`] keeps up to a
//!   quota of each member's partitions and deals the rest round-robin;
//! * otherwise: [`general`] keeps what is still valid, assigns the rest to the
//!   least-loaded eligible member, and moves partitions until balanced.
//!
//! Both follow the Java code step by step, including the order in which Java's
//! `HashMap`s are iterated, since that decides who keeps what when quotas bind.

mod constrained;
mod general;
mod movements;

use std::collections::{BTreeMap, HashMap, HashSet};

use super::group::Group;
use crate::java::{JavaHashMap, cmp_str, string_hash};
use crate::schema::{CooperativeStickyUserData, StickyUserData};
use crate::{CooperativeAssignment, GroupAssignment, GroupError, Subscription, TopicPartition};

/// Kafka's `DEFAULT_GENERATION`.
const DEFAULT_GENERATION: i32 = -1;

/// Which of the two sticky assignors runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `StickyAssignor`: previous assignment from the user data.
    Eager,
    /// `CooperativeStickyAssignor`: previous assignment from the subscription,
    /// and moving partitions held back.
    Cooperative,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Eager => "sticky",
            Flavor::Cooperative => "cooperative-sticky",
        }
    }
}

/// A partition of a topic that takes part, by the topic's index (its rank in
/// Java `String` order), so the derived order is Kafka's topic-then-partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Tp {
    pub(crate) topic: usize,
    pub(crate) partition: i32,
}

/// The group with what the builders look up often.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) group: &'a Group<'a>,
    /// Member index to its rank in Java member-id order.
    pub(crate) rank: Vec<usize>,
    /// Rank back to member index.
    pub(crate) by_rank: Vec<usize>,
    /// `String.hashCode` of each topic, for `TopicPartition.hashCode`.
    pub(crate) topic_hash: Vec<i32>,
    pub(crate) flavor: Flavor,
}

impl Ctx<'_> {
    pub(crate) fn count(&self, topic: usize) -> i32 {
        self.group.topics.get(topic).map_or(0, |(_, c)| *c)
    }

    pub(crate) fn topic_count(&self) -> usize {
        self.group.topics.len()
    }

    pub(crate) fn member(&self, i: usize) -> Result<&Subscription, GroupError> {
        self.group
            .members
            .get(i)
            .ok_or_else(|| self.fail("member index out of range"))
    }

    pub(crate) fn rank_of(&self, i: usize) -> usize {
        self.rank.get(i).copied().unwrap_or(usize::MAX)
    }

    pub(crate) fn member_of_rank(&self, r: usize) -> Result<usize, GroupError> {
        self.by_rank
            .get(r)
            .copied()
            .ok_or_else(|| self.fail("member rank out of range"))
    }

    pub(crate) fn tp(&self, tp: &TopicPartition) -> Option<Tp> {
        self.group
            .topic_index
            .get(tp.topic.as_str())
            .map(|&topic| Tp {
                topic,
                partition: tp.partition,
            })
    }

    pub(crate) fn fail(&self, reason: impl Into<String>) -> GroupError {
        GroupError::AssignorFailed {
            assignor: self.flavor.name(),
            reason: reason.into(),
        }
    }
}

/// Removes the first occurrence, as `List.remove(Object)` does.
pub(crate) fn remove_first(list: &mut Vec<Tp>, tp: Tp) {
    if let Some(i) = list.iter().position(|x| *x == tp) {
        list.remove(i);
    }
}

/// `AbstractStickyAssignor.MemberData`.
#[derive(Debug, Clone)]
pub(crate) struct MemberData {
    pub(crate) partitions: Vec<TopicPartition>,
    pub(crate) generation: Option<i32>,
}

fn member_data(flavor: Flavor, sub: &Subscription) -> MemberData {
    match flavor {
        // StickyAssignor.memberData: always the user data.
        Flavor::Eager => match sub.user_data.as_deref() {
            None | Some([]) => MemberData {
                partitions: Vec::new(),
                generation: None,
            },
            Some(bytes) => {
                let data = StickyUserData::decode(bytes);
                MemberData {
                    partitions: data.partitions,
                    generation: data.generation,
                }
            }
        },
        // CooperativeStickyAssignor.memberData: owned partitions, with the
        // subscription's generation or else the one in the user data.
        Flavor::Cooperative => MemberData {
            partitions: sub.owned_partitions.clone(),
            generation: match (sub.generation(), sub.user_data.as_deref()) {
                (Some(g), _) => Some(g),
                (None, None) => None,
                (None, Some(bytes)) => Some(CooperativeStickyUserData::decode(bytes).generation),
            },
        },
    }
}

/// What `allSubscriptionsEqual` gathers on the way.
struct PreviousOwnership {
    all_equal: bool,
    /// `consumerToOwnedPartitions`: each member's still-valid previous partitions.
    owned: Vec<Vec<Tp>>,
    /// Member indices in that map's iteration order.
    owned_order: Vec<usize>,
    /// Partitions claimed by two members of the same generation.
    multiple: HashSet<Tp>,
    max_generation: i32,
}

fn previous_ownership(ctx: &Ctx<'_>, data: &[MemberData]) -> Result<PreviousOwnership, GroupError> {
    let members = ctx.group.members;
    let mut all_equal = true;
    let mut subscribed: HashSet<&str> = HashSet::new();
    let mut owned: Vec<Vec<Tp>> = vec![Vec::new(); members.len()];
    let mut order: JavaHashMap<usize> = JavaHashMap::new();
    let mut owner: HashMap<Tp, usize> = HashMap::new();
    let mut multiple = HashSet::new();
    let mut max_generation = DEFAULT_GENERATION;
    for &c in &ctx.group.hash_order {
        let sub = ctx.member(c)?;
        if subscribed.is_empty() {
            subscribed.extend(sub.topics.iter().map(String::as_str));
        } else if all_equal
            && !(sub.topics.len() == subscribed.len()
                && sub.topics.iter().all(|t| subscribed.contains(t.as_str())))
        {
            all_equal = false;
        }
        let md = data.get(c).ok_or_else(|| ctx.fail("missing member data"))?;
        let generation = md.generation.unwrap_or(DEFAULT_GENERATION);
        max_generation = max_generation.max(generation);
        order.put(string_hash(&sub.member_id), c);

        for tp in &md.partitions {
            let Some(tp) = ctx.tp(tp) else { continue };
            match owner.get(&tp).copied() {
                None => {
                    push(&mut owned, c, tp);
                    owner.insert(tp, c);
                }
                Some(other) => {
                    // The other claimant's generation as its subscription states it.
                    let other_generation = ctx
                        .member(other)?
                        .generation()
                        .unwrap_or(DEFAULT_GENERATION);
                    if generation == other_generation {
                        multiple.insert(tp);
                        if let Some(list) = owned.get_mut(other) {
                            remove_first(list, tp);
                        }
                        owner.insert(tp, c);
                    } else if generation > other_generation {
                        push(&mut owned, c, tp);
                        if let Some(list) = owned.get_mut(other) {
                            remove_first(list, tp);
                        }
                        owner.insert(tp, c);
                    }
                }
            }
        }
    }
    Ok(PreviousOwnership {
        all_equal,
        owned,
        owned_order: order.keys().copied().collect(),
        multiple,
        max_generation,
    })
}

fn push(lists: &mut [Vec<Tp>], member: usize, tp: Tp) {
    if let Some(list) = lists.get_mut(member) {
        list.push(tp);
    }
}

/// Runs a sticky assignor; for the cooperative one, also returns the partitions
/// held back (partition to its new owner) and applies `adjustAssignment`.
pub(crate) fn assign(
    group: &Group<'_>,
    flavor: Flavor,
) -> Result<CooperativeAssignment, GroupError> {
    let members = group.members;
    if members.is_empty() {
        return Ok(CooperativeAssignment::default());
    }
    let mut by_rank: Vec<usize> = (0..members.len()).collect();
    by_rank.sort_by(|a, b| match (members.get(*a), members.get(*b)) {
        (Some(x), Some(y)) => cmp_str(&x.member_id, &y.member_id),
        _ => std::cmp::Ordering::Equal,
    });
    let mut rank = vec![0; members.len()];
    for (r, &m) in by_rank.iter().enumerate() {
        if let Some(slot) = rank.get_mut(m) {
            *slot = r;
        }
    }
    let ctx = Ctx {
        group,
        rank,
        by_rank,
        topic_hash: group.topics.iter().map(|(t, _)| string_hash(t)).collect(),
        flavor,
    };

    let data: Vec<MemberData> = members.iter().map(|m| member_data(flavor, m)).collect();
    let previous = previous_ownership(&ctx, &data)?;
    let (mut assignment, transferring) = if previous.all_equal {
        let built = constrained::build(
            &ctx,
            &previous.owned,
            &previous.owned_order,
            &previous.multiple,
        )?;
        (built.assignment, Some(built.transferring))
    } else {
        let built = general::build(
            &ctx,
            previous.owned,
            &previous.owned_order,
            &data,
            previous.max_generation,
        )?;
        (built, None)
    };

    let transferring = match flavor {
        Flavor::Eager => HashMap::new(),
        Flavor::Cooperative => {
            let transferring = match transferring {
                Some(t) => t,
                None => transferring_ownership(&ctx, &assignment, &previous.owned_order),
            };
            // CooperativeStickyAssignor.adjustAssignment.
            for (tp, member) in &transferring {
                if let Some(list) = assignment.get_mut(*member) {
                    remove_first(list, *tp);
                }
            }
            transferring
        }
    };
    Ok(result(&ctx, &assignment, &transferring))
}

/// `computePartitionsTransferringOwnership`, for the general builder: partitions
/// newly assigned to one member and revoked from another.
///
/// A partition assigned to two members (only after inconsistent input) goes to
/// the one Java's final `currentAssignment` map iterates last. We walk that map's
/// order before the general builder set members aside; Java re-inserts those at
/// the end of their buckets, which could differ only if one shares a bucket with
/// another member.
fn transferring_ownership(
    ctx: &Ctx<'_>,
    assignment: &[Vec<Tp>],
    order: &[usize],
) -> HashMap<Tp, usize> {
    let mut added: HashMap<Tp, usize> = HashMap::new();
    let mut revoked: HashSet<Tp> = HashSet::new();
    for &c in order {
        let (Some(assigned), Ok(sub)) = (assignment.get(c), ctx.member(c)) else {
            continue;
        };
        let owned: HashSet<Tp> = sub
            .owned_partitions
            .iter()
            .filter_map(|tp| ctx.tp(tp))
            .collect();
        let assigned_set: HashSet<Tp> = assigned.iter().copied().collect();
        for tp in assigned {
            if !owned.contains(tp) {
                added.insert(*tp, c);
            }
        }
        revoked.extend(owned.difference(&assigned_set));
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}

fn to_partition(ctx: &Ctx<'_>, tp: Tp) -> TopicPartition {
    let topic = ctx.group.topics.get(tp.topic).map_or("", |(t, _)| t);
    TopicPartition::new(topic, tp.partition)
}

fn result(
    ctx: &Ctx<'_>,
    assignment: &[Vec<Tp>],
    transferring: &HashMap<Tp, usize>,
) -> CooperativeAssignment {
    let mut out: GroupAssignment = BTreeMap::new();
    let mut revoked = BTreeMap::new();
    for (c, member) in ctx.group.members.iter().enumerate() {
        let mut list: Vec<TopicPartition> = assignment
            .get(c)
            .map(|l| l.iter().map(|tp| to_partition(ctx, *tp)).collect())
            .unwrap_or_default();
        list.sort();
        if ctx.flavor == Flavor::Cooperative {
            let mut gone: Vec<TopicPartition> = member
                .owned_partitions
                .iter()
                .filter(|tp| list.binary_search(tp).is_err())
                .cloned()
                .collect();
            gone.sort();
            gone.dedup();
            if !gone.is_empty() {
                revoked.insert(member.member_id.clone(), gone);
            }
        }
        out.insert(member.member_id.clone(), list);
    }
    let transferring = transferring
        .iter()
        .filter_map(|(tp, c)| {
            let member = ctx.group.members.get(*c)?;
            Some((to_partition(ctx, *tp), member.member_id.clone()))
        })
        .collect();
    CooperativeAssignment {
        assignment: out,
        transferring,
        revoked,
    }
}

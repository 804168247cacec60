//! `AbstractStickyAssignor.ConstrainedAssignmentBuilder`: every member subscribes
//! to the same topics.
//!
//! With `P` partitions and `N` members each gets `P / N` (the min quota) or one
//! more (the max quota); exactly `P % N` members get the max. Walking the members
//! in `HashMap` order, each keeps its previous partitions (lowest partition
//! numbers first) up to its quota while max-quota places remain. The partitions
//! left over are dealt round-robin to members below the min quota (in member-id
//! order), then one each to members at the min quota while max places remain.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Ctx, Tp, remove_first};
use crate::GroupError;

/// The assignment and the partitions that change owner.
pub(super) struct Built {
    pub(super) assignment: Vec<Vec<Tp>>,
    /// `partitionsTransferringOwnership`: partition to its new owner.
    pub(super) transferring: HashMap<Tp, usize>,
}

struct Builder<'c, 'a> {
    ctx: &'c Ctx<'a>,
    multiple: &'c HashSet<Tp>,
    maybe_revoked: HashMap<Tp, usize>,
    under_min: Vec<usize>,
    exactly_min: VecDeque<usize>,
    min_quota: usize,
    max_quota: usize,
    expected_over_min: usize,
    current_over_min: usize,
    assignment: Vec<Vec<Tp>>,
    transferring: HashMap<Tp, usize>,
}

pub(super) fn build(
    ctx: &Ctx<'_>,
    owned: &[Vec<Tp>],
    order: &[usize],
    multiple: &HashSet<Tp>,
) -> Result<Built, GroupError> {
    let members = owned.len();
    let total: usize = (0..ctx.topic_count()).map(|t| ctx.count(t) as usize).sum();
    let mut b = Builder {
        ctx,
        multiple,
        maybe_revoked: HashMap::new(),
        under_min: Vec::new(),
        exactly_min: VecDeque::new(),
        min_quota: total / members,
        max_quota: total.div_ceil(members),
        expected_over_min: total % members,
        current_over_min: 0,
        assignment: vec![Vec::new(); members],
        transferring: HashMap::new(),
    };
    let assigned = b.assign_owned(owned, order);
    let unassigned = unassigned(ctx, assigned);
    let rank = |m: &usize| ctx.rank_of(*m);
    b.under_min.sort_by_key(rank);
    b.exactly_min.make_contiguous().sort_by_key(rank);
    b.assign_round_robin(&unassigned)?;
    b.verify_unfilled()?;
    Ok(Built {
        assignment: b.assignment,
        transferring: b.transferring,
    })
}

impl Builder<'_, '_> {
    /// `assignOwnedPartitions`: returns the partitions kept.
    fn assign_owned(&mut self, owned: &[Vec<Tp>], order: &[usize]) -> Vec<Tp> {
        let mut assigned = Vec::new();
        for &c in order {
            let mut mine: Vec<Tp> = owned.get(c).cloned().unwrap_or_default();
            // Sorted by partition number, then topic.
            mine.sort_by(|a, b| a.partition.cmp(&b.partition).then(a.topic.cmp(&b.topic)));
            for tp in self.multiple {
                remove_first(&mut mine, *tp);
            }
            let keep = if mine.len() < self.min_quota {
                self.under_min.push(c);
                mine.len()
            } else if mine.len() >= self.max_quota && self.current_over_min < self.expected_over_min
            {
                self.current_over_min += 1;
                if self.current_over_min == self.expected_over_min {
                    self.exactly_min.clear();
                }
                self.max_quota
            } else {
                if self.current_over_min < self.expected_over_min {
                    self.exactly_min.push_back(c);
                }
                self.min_quota
            };
            let (kept, rest) = mine.split_at(keep.min(mine.len()));
            if let Some(list) = self.assignment.get_mut(c) {
                list.extend_from_slice(kept);
            }
            assigned.extend_from_slice(kept);
            for tp in rest {
                self.maybe_revoked.insert(*tp, c);
            }
        }
        assigned
    }

    /// `assignNewPartition`: returns the member's new partition count.
    fn assign_new(&mut self, tp: Tp, c: usize) -> usize {
        let count = match self.assignment.get_mut(c) {
            Some(list) => {
                list.push(tp);
                list.len()
            }
            None => 0,
        };
        let revoked_elsewhere = self.maybe_revoked.get(&tp).is_some_and(|owner| *owner != c);
        if revoked_elsewhere || self.multiple.contains(&tp) {
            self.transferring.insert(tp, c);
        }
        count
    }

    /// `assignRoundRobin`: a list iterator over the members below the min quota
    /// that restarts when it runs out; members reaching the min quota leave it for
    /// the queue of members that may still take one more.
    fn assign_round_robin(&mut self, unassigned: &[Tp]) -> Result<(), GroupError> {
        let mut next = 0usize;
        let mut last_returned: Option<usize> = None;
        for &tp in unassigned {
            let consumer = if let Some(&c) = self.under_min.get(next) {
                last_returned = Some(next);
                next += 1;
                c
            } else if self.under_min.is_empty() && self.exactly_min.is_empty() {
                return Err(self.ctx.fail("no more unfilled consumers to be assigned"));
            } else if self.under_min.is_empty() {
                match self.exactly_min.pop_front() {
                    Some(c) => c,
                    None => return Err(self.ctx.fail("no more unfilled consumers to be assigned")),
                }
            } else {
                last_returned = Some(0);
                next = 1;
                match self.under_min.first() {
                    Some(&c) => c,
                    None => return Err(self.ctx.fail("no more unfilled consumers to be assigned")),
                }
            };
            let count = self.assign_new(tp, consumer);
            if count == self.min_quota {
                // Iterator.remove() on the element just returned.
                let Some(i) = last_returned.take() else {
                    return Err(self.ctx.fail("iterator remove without a current element"));
                };
                if i < self.under_min.len() {
                    self.under_min.remove(i);
                }
                next = i;
                self.exactly_min.push_back(consumer);
            } else if count == self.max_quota {
                self.current_over_min += 1;
            }
        }
        Ok(())
    }

    /// `verifyUnfilledMembers`.
    fn verify_unfilled(&self) -> Result<(), GroupError> {
        if self.under_min.is_empty() {
            return Ok(());
        }
        if self.current_over_min != self.expected_over_min {
            return Err(self.ctx.fail(
                "we haven't reached the expected number of members with more than the minQuota \
                 partitions, but no more partitions to be assigned",
            ));
        }
        for &c in &self.under_min {
            let count = self.assignment.get(c).map_or(0, Vec::len);
            if count != self.min_quota {
                let id = self
                    .ctx
                    .member(c)
                    .map(|m| m.member_id.clone())
                    .unwrap_or_default();
                return Err(self.ctx.fail(format!(
                    "consumer {id} doesn't reach minQuota partitions, and no more partitions to be assigned"
                )));
            }
        }
        Ok(())
    }
}

/// `getUnassignedPartitions`: all partitions in topic-then-partition order, minus
/// the assigned ones, by walking both sorted lists. (Like Java, an assigned
/// partition that is not among the topic's partitions stalls the walk, and every
/// later partition counts as unassigned.)
fn unassigned(ctx: &Ctx<'_>, mut assigned: Vec<Tp>) -> Vec<Tp> {
    let all = (0..ctx.topic_count())
        .flat_map(|topic| (0..ctx.count(topic)).map(move |partition| Tp { topic, partition }));
    if assigned.is_empty() {
        return all.collect();
    }
    assigned.sort();
    let mut rest = assigned.into_iter();
    let mut next = rest.next();
    let mut add_directly = false;
    let mut out = Vec::new();
    for tp in all {
        if add_directly || next != Some(tp) {
            out.push(tp);
        } else {
            next = rest.next();
            if next.is_none() {
                add_directly = true;
            }
        }
    }
    out
}

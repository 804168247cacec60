//! `AbstractStickyAssignor.GeneralAssignmentBuilder`: members subscribe to
//! different topics.
//!
//! 1. Keep each member's previous partitions of topics it still subscribes to.
//! 2. Give every other partition (topics with the fewest potential members
//!    first) to the eligible member with the fewest partitions.
//! 3. Leave aside topics only one member can take and members that cannot change.
//! 4. Move partitions, each from its member to the least-loaded eligible one (or
//!    back to a previous owner of a later generation), until no move improves the
//!    balance; undo it all if the balance score did not improve.

use std::collections::{BTreeSet, HashMap};

use super::movements::Movements;
use super::{Ctx, DEFAULT_GENERATION, MemberData, Tp, remove_first};
use crate::GroupError;

struct Builder<'c, 'a> {
    ctx: &'c Ctx<'a>,
    /// `topic2AllPotentialConsumers` (a member listing a topic twice is here twice).
    potential_members: Vec<Vec<usize>>,
    /// `consumer2AllPotentialTopics`.
    potential_topics: Vec<Vec<usize>>,
    /// `currentAssignment`; `None` while a member is set aside as fixed.
    current: Vec<Option<Vec<Tp>>>,
    /// `currentPartitionConsumer`.
    partition_member: HashMap<Tp, usize>,
    /// Member indices in the iteration order of Java's `currentAssignment` map.
    /// It matters only when a partition sits in two lists (inconsistent input):
    /// the member iterated last is taken as its holder.
    order: Vec<usize>,
    sorted_all: Vec<Tp>,
    /// `sortedCurrentSubscriptions`: (partition count, member rank).
    by_load: BTreeSet<(usize, usize)>,
    revocation_required: bool,
    movements: Movements,
}

pub(super) fn build(
    ctx: &Ctx<'_>,
    owned: Vec<Vec<Tp>>,
    owned_order: &[usize],
    data: &[MemberData],
    max_generation: i32,
) -> Result<Vec<Vec<Tp>>, GroupError> {
    let topics = ctx.topic_count();
    let members = ctx.group.members;
    let mut potential_members = vec![Vec::new(); topics];
    let mut potential_topics = vec![Vec::new(); members.len()];
    for &c in &ctx.group.hash_order {
        for topic in &ctx.member(c)?.topics {
            if let Some(&t) = ctx.group.topic_index.get(topic.as_str()) {
                if let Some(list) = potential_topics.get_mut(c) {
                    list.push(t);
                }
                if let Some(list) = potential_members.get_mut(t) {
                    list.push(c);
                }
            }
        }
    }
    let mut partition_member = HashMap::new();
    for &c in owned_order {
        for tp in owned.get(c).into_iter().flatten() {
            partition_member.insert(*tp, c);
        }
    }
    // TopicComparator: fewest potential members first, then by name.
    let mut sorted_topics: Vec<usize> = (0..topics).collect();
    sorted_topics.sort_by_key(|t| (potential_members.get(*t).map_or(0, Vec::len), *t));
    let sorted_all = sorted_topics
        .iter()
        .flat_map(|&topic| (0..ctx.count(topic)).map(move |partition| Tp { topic, partition }))
        .collect();

    let mut b = Builder {
        ctx,
        potential_members,
        potential_topics,
        current: owned.into_iter().map(Some).collect(),
        partition_member,
        order: owned_order.to_vec(),
        sorted_all,
        by_load: BTreeSet::new(),
        revocation_required: false,
        movements: Movements::default(),
    };
    let previous = b.previous_assignment(data, max_generation);
    let assigned = b.assign_owned()?;
    let unassigned = b.unassigned(assigned);
    for c in 0..members.len() {
        b.by_load.insert((b.size(c)?, ctx.rank_of(c)));
    }
    b.balance(&previous, unassigned)?;
    Ok(b.current
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

impl Builder<'_, '_> {
    fn size(&self, c: usize) -> Result<usize, GroupError> {
        self.current
            .get(c)
            .and_then(Option::as_ref)
            .map(Vec::len)
            .ok_or_else(|| self.ctx.fail("a member's assignment was looked up while set aside (Java: NullPointerException)"))
    }

    fn list_mut(&mut self, c: usize) -> Result<&mut Vec<Tp>, GroupError> {
        let ctx = self.ctx;
        self.current
            .get_mut(c)
            .and_then(Option::as_mut)
            .ok_or_else(|| ctx.fail("a member's assignment was looked up while set aside (Java: NullPointerException)"))
    }

    fn subscribes(&self, c: usize, topic: usize) -> bool {
        self.potential_topics
            .get(c)
            .is_some_and(|ts| ts.contains(&topic))
    }

    fn potential_count(&self, topic: usize) -> usize {
        self.potential_members.get(topic).map_or(0, Vec::len)
    }

    /// `prepopulateCurrentAssignments`: for each partition, the member of the
    /// highest generation below the current one that owned it.
    fn previous_assignment(
        &self,
        data: &[MemberData],
        max_generation: i32,
    ) -> HashMap<Tp, (usize, i32)> {
        let mut previous: HashMap<Tp, (usize, i32)> = HashMap::new();
        for &c in &self.ctx.group.hash_order {
            let Some(md) = data.get(c) else { continue };
            let generation = match md.generation {
                Some(g) if g < max_generation => g,
                None if max_generation > DEFAULT_GENERATION => DEFAULT_GENERATION,
                _ => continue,
            };
            for tp in md.partitions.iter().filter_map(|tp| self.ctx.tp(tp)) {
                match previous.get(&tp) {
                    Some((_, g)) if generation <= *g => {}
                    _ => {
                        previous.insert(tp, (c, generation));
                    }
                }
            }
        }
        previous
    }

    /// `assignOwnedPartitions`: drops partitions of topics a member no longer
    /// subscribes to; returns the partitions kept.
    fn assign_owned(&mut self) -> Result<Vec<Tp>, GroupError> {
        let mut assigned = Vec::new();
        for c in 0..self.current.len() {
            let topics = &self.ctx.member(c)?.topics;
            let mut dropped = false;
            if let Some(Some(list)) = self.current.get_mut(c) {
                list.retain(|tp| {
                    let name = self.ctx.group.topics.get(tp.topic).map_or("", |(t, _)| t);
                    if topics.iter().any(|t| t == name) {
                        assigned.push(*tp);
                        true
                    } else {
                        // Java leaves currentPartitionConsumer as it is here.
                        dropped = true;
                        false
                    }
                });
            }
            self.revocation_required |= dropped;
        }
        Ok(assigned)
    }

    /// `getUnassignedPartitions`, walking `sorted_all` and the sorted kept
    /// partitions side by side.
    fn unassigned(&self, mut assigned: Vec<Tp>) -> Vec<Tp> {
        if assigned.is_empty() {
            return self.sorted_all.clone();
        }
        // PartitionComparator: potential member count, topic, partition.
        assigned.sort_by_key(|tp| (self.potential_count(tp.topic), tp.topic, tp.partition));
        let mut rest = assigned.into_iter();
        let mut next = rest.next();
        let mut add_directly = false;
        let mut out = Vec::new();
        for &tp in &self.sorted_all {
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

    fn last_size(&self) -> Result<usize, GroupError> {
        self.by_load.last().map(|(n, _)| *n).ok_or_else(|| {
            self.ctx
                .fail("no member to balance (Java: NoSuchElementException)")
        })
    }

    /// `maybeAssignPartition` without racks: the least-loaded member subscribed
    /// to the partition's topic takes it.
    fn assign_to_least_loaded(&mut self, tp: Tp) -> Result<(), GroupError> {
        let mut chosen = None;
        for &(size, rank) in &self.by_load {
            let c = self.ctx.member_of_rank(rank)?;
            if self.subscribes(c, tp.topic) {
                chosen = Some((size, rank, c));
                break;
            }
        }
        if let Some((size, rank, c)) = chosen {
            self.by_load.remove(&(size, rank));
            self.list_mut(c)?.push(tp);
            self.partition_member.insert(tp, c);
            self.by_load.insert((size + 1, rank));
        }
        Ok(())
    }

    fn can_topic_move(&self, topic: usize) -> bool {
        self.potential_count(topic) >= 2
    }

    /// `getMaxAssignmentSize`.
    fn max_assignment_size(&self, topics: &[usize]) -> usize {
        if topics.len() == self.ctx.topic_count() {
            (0..self.ctx.topic_count())
                .map(|t| self.ctx.count(t) as usize)
                .sum()
        } else {
            topics.iter().map(|t| self.ctx.count(*t) as usize).sum()
        }
    }

    fn can_member_move(&self, c: usize) -> Result<bool, GroupError> {
        let size = self.size(c)?;
        let topics = self.potential_topics.get(c).map_or(&[][..], Vec::as_slice);
        if size < self.max_assignment_size(topics) {
            return Ok(true);
        }
        let list = self
            .current
            .get(c)
            .and_then(Option::as_ref)
            .map_or(&[][..], Vec::as_slice);
        Ok(list.iter().any(|tp| self.can_topic_move(tp.topic)))
    }

    fn balance(
        &mut self,
        previous: &HashMap<Tp, (usize, i32)>,
        mut unassigned: Vec<Tp>,
    ) -> Result<(), GroupError> {
        let initializing = self.last_size()? == 0;
        for &tp in &unassigned {
            if self.potential_count(tp.topic) > 0 {
                self.assign_to_least_loaded(tp)?;
            }
        }

        // Partitions of topics only one member can take stay where they are.
        let mut sorted_all = std::mem::take(&mut self.sorted_all);
        let fixed_topic = |tp: &Tp| self.potential_count(tp.topic) < 2;
        sorted_all.retain(|tp| !fixed_topic(tp));
        unassigned.retain(|tp| !fixed_topic(tp));

        // So do members that have all they can get and nothing movable.
        let mut fixed: Vec<(usize, Vec<Tp>)> = Vec::new();
        for c in 0..self.current.len() {
            if !self.can_member_move(c)? {
                let size = self.size(c)?;
                self.by_load.remove(&(size, self.ctx.rank_of(c)));
                if let Some(slot) = self.current.get_mut(c)
                    && let Some(list) = slot.take()
                {
                    fixed.push((c, list));
                }
            }
        }

        let before = self.current.clone();
        let before_owners = self.partition_member.clone();
        if !self.revocation_required {
            self.perform_reassignments(&unassigned, previous)?;
        }
        let reassigned = self.perform_reassignments(&sorted_all, previous)?;
        if !initializing && reassigned && balance_score(&self.current) >= balance_score(&before) {
            self.current = before;
            self.partition_member = before_owners;
        }
        for (c, list) in fixed {
            let size = list.len();
            if let Some(slot) = self.current.get_mut(c) {
                *slot = Some(list);
            }
            self.by_load.insert((size, self.ctx.rank_of(c)));
        }
        self.sorted_all = sorted_all;
        Ok(())
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        previous: &HashMap<Tp, (usize, i32)>,
    ) -> Result<bool, GroupError> {
        let mut performed = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.is_balanced()? {
                    break;
                }
                let Some(&owner) = self.partition_member.get(&tp) else {
                    return Err(self.ctx.fail(format!(
                        "partition {}-{} has no consumer (Java: NullPointerException)",
                        self.topic_name(tp.topic),
                        tp.partition
                    )));
                };
                if let Some(&(prev_owner, _)) = previous.get(&tp)
                    && self.size(owner)? > self.size(prev_owner)? + 1
                {
                    self.reassign_to(tp, prev_owner)?;
                    performed = true;
                    modified = true;
                    continue;
                }
                let owner_size = self.size(owner)?;
                let mut better = false;
                for &other in self
                    .potential_members
                    .get(tp.topic)
                    .map_or(&[][..], Vec::as_slice)
                {
                    if owner_size > self.size(other)? + 1 {
                        better = true;
                        break;
                    }
                }
                if better {
                    self.reassign(tp)?;
                    performed = true;
                    modified = true;
                }
            }
            if !modified {
                return Ok(performed);
            }
        }
    }

    fn topic_name(&self, topic: usize) -> &str {
        self.ctx.group.topics.get(topic).map_or("", |(t, _)| t)
    }

    /// `isBalanced`: loads differ by at most one, or no member could take a
    /// partition from one holding two more than it.
    fn is_balanced(&self) -> Result<bool, GroupError> {
        let (Some(&(min, _)), Some(&(max, _))) = (self.by_load.first(), self.by_load.last()) else {
            return Err(self
                .ctx
                .fail("no member to balance (Java: NoSuchElementException)"));
        };
        if min + 1 >= max {
            return Ok(true);
        }
        let mut holder: HashMap<Tp, usize> = HashMap::new();
        for &c in &self.order {
            for tp in self.current.get(c).into_iter().flatten().flatten() {
                holder.insert(*tp, c);
            }
        }
        for &(count, rank) in &self.by_load {
            let c = self.ctx.member_of_rank(rank)?;
            let topics = self.potential_topics.get(c).map_or(&[][..], Vec::as_slice);
            if count == self.max_assignment_size(topics) {
                continue;
            }
            let mine = self
                .current
                .get(c)
                .and_then(Option::as_ref)
                .map_or(&[][..], Vec::as_slice);
            for &topic in topics {
                for partition in 0..self.ctx.count(topic) {
                    let tp = Tp { topic, partition };
                    if mine.contains(&tp) {
                        continue;
                    }
                    let Some(&other) = holder.get(&tp) else {
                        return Err(self
                            .ctx
                            .fail("a partition has no consumer (Java: NullPointerException)"));
                    };
                    if count + 1 < self.size(other)? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// `reassignPartition(partition)`: to the least-loaded member subscribed to it.
    fn reassign(&mut self, tp: Tp) -> Result<(), GroupError> {
        let mut target = None;
        for &(_, rank) in &self.by_load {
            let c = self.ctx.member_of_rank(rank)?;
            if self.subscribes(c, tp.topic) {
                target = Some(c);
                break;
            }
        }
        match target {
            Some(c) => self.reassign_to(tp, c),
            None => Err(self.ctx.fail("no consumer can take a reassigned partition")),
        }
    }

    /// `reassignPartition(partition, newConsumer)`.
    fn reassign_to(&mut self, tp: Tp, new: usize) -> Result<(), GroupError> {
        let Some(&owner) = self.partition_member.get(&tp) else {
            return Err(self.ctx.fail("reassigned partition has no consumer"));
        };
        let actual = self.movements.actual_partition_to_move(tp, owner, new);
        self.process_movement(actual, new)
    }

    /// `processPartitionMovement`.
    fn process_movement(&mut self, tp: Tp, new: usize) -> Result<(), GroupError> {
        let Some(&old) = self.partition_member.get(&tp) else {
            return Err(self.ctx.fail("moved partition has no consumer"));
        };
        let (old_size, new_size) = (self.size(old)?, self.size(new)?);
        let (old_rank, new_rank) = (self.ctx.rank_of(old), self.ctx.rank_of(new));
        self.by_load.remove(&(old_size, old_rank));
        self.by_load.remove(&(new_size, new_rank));
        self.movements
            .move_partition(&self.ctx.topic_hash, tp, old, new);
        remove_first(self.list_mut(old)?, tp);
        self.list_mut(new)?.push(tp);
        self.partition_member.insert(tp, new);
        let (old_size, new_size) = (self.size(old)?, self.size(new)?);
        self.by_load.insert((new_size, new_rank));
        self.by_load.insert((old_size, old_rank));
        Ok(())
    }
}

/// `getBalanceScore`: the sum over pairs of members of their load difference.
fn balance_score(assignment: &[Option<Vec<Tp>>]) -> usize {
    let sizes: Vec<usize> = assignment.iter().flatten().map(Vec::len).collect();
    let mut score = 0;
    for (i, a) in sizes.iter().enumerate() {
        for b in sizes.iter().skip(i + 1) {
            score += a.abs_diff(*b);
        }
    }
    score
}

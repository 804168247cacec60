//! One group's membership state machine (Kafka's classic group protocol, in
//! process).
//!
//! ```text
//!   Empty ──join──▶ PreparingRebalance ──every member (re)joined──▶ Stable
//!                        ▲                                            │
//!                        └──── join, leave, expiry, new partitions ◀──┘
//! ```
//!
//! A rebalance completes only once every member has rejoined, and an eager
//! member rejoins only after revoking all its partitions; a cooperative member
//! keeps its partitions, and the cooperative-sticky assignment withholds any
//! partition that changes owner until its old owner revoked it and rejoined (the
//! follow-up rebalance). So at every moment each partition has at most one
//! owner. Members that stop calling in are removed: after `session.timeout.ms`
//! without any call once their consumer is gone (a static member that closed,
//! or a caller that gave no liveness token; while a consumer exists its
//! session is alive, as a Kafka consumer's heartbeat thread keeps it), after
//! `max.poll.interval.ms` without a poll, or when they do not rejoin a
//! rebalance within `max.poll.interval.ms` (Kafka's rebalance timeout).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Weak;
use std::time::{Duration, Instant};

use crate::GroupError;
use crate::assignor::{
    AssignorKind, MemberProtocols, Subscription, TopicPartition, assign_cooperative_sticky,
    select_group_protocol,
};
use crate::schema::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupMetadataValue, MemberMetadata,
    StickyUserData,
};

/// How many replaced member ids of static members a group remembers, to
/// answer them with [`GroupError::FencedInstanceId`]; the oldest are
/// forgotten first (and then get [`GroupError::UnknownMember`]).
const FENCED_MEMBERS_KEPT: usize = 1024;

/// A group's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for every member to rejoin.
    PreparingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
}

impl GroupState {
    /// Kafka's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a member asks the group for.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// `group.instance.id`: a static member keeps its assignment across
    /// restarts within the session timeout.
    pub group_instance_id: Option<String>,
    /// `client.id`.
    pub client_id: String,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// `partition.assignment.strategy`, most preferred first.
    pub assignors: Vec<AssignorKind>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `max.poll.interval.ms` (also the rebalance timeout).
    pub rebalance_timeout: Duration,
    /// The joining consumer's liveness: while it upgrades, the consumer
    /// exists and its session stays alive between its calls, as a Kafka
    /// consumer's heartbeat thread keeps it alive (only `max.poll.interval.ms`
    /// removes a member that stopped polling). `None`: the session lasts
    /// `session.timeout.ms` past the member's last call.
    pub liveness: Option<Weak<()>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) topics: Vec<String>,
    pub(crate) assignors: Vec<AssignorKind>,
    pub(crate) owned: Vec<TopicPartition>,
    pub(crate) assignment: Vec<TopicPartition>,
    pub(crate) joined: bool,
    pub(crate) last_heartbeat: Instant,
    pub(crate) last_poll: Instant,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    /// A static member that closed: kept (with its partitions) until its
    /// session times out, so a quick restart causes no rebalance.
    pub(crate) departed: bool,
    /// See [`JoinOptions::liveness`].
    pub(crate) liveness: Option<Weak<()>>,
    /// The partitions and generation of the member's last assignment by the
    /// eager `sticky` assignor: what Kafka's `StickyAssignor` remembers in
    /// `onAssignment` and sends back as its user data (v1) at the next join,
    /// since an eager member revokes everything before rejoining.
    pub(crate) sticky_previous: Option<(Vec<TopicPartition>, i32)>,
}

impl Member {
    /// Whether the member's consumer is known to exist, so its session
    /// cannot time out (see [`JoinOptions::liveness`]).
    fn session_kept_alive(&self) -> bool {
        !self.departed && self.liveness.as_ref().is_some_and(|w| w.strong_count() > 0)
    }

    /// How long the member may go without a poll. A dynamic member leaves
    /// at `max.poll.interval.ms`; a static member sends no leave, its
    /// heartbeats stop, and it is removed a session later (Kafka's
    /// `maybeLeaveGroup`): polling again before that, it keeps its place.
    fn poll_deadline(&self) -> std::time::Duration {
        if self.instance_id.is_some() {
            self.rebalance_timeout.saturating_add(self.session_timeout)
        } else {
            self.rebalance_timeout
        }
    }
}

/// What a member should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberStatus {
    /// The group is stable: this is the member's assignment for `generation`.
    Stable {
        /// The generation.
        generation: i32,
        /// The member's partitions.
        assignment: Vec<TopicPartition>,
    },
    /// A rebalance started: revoke (eager: everything) and rejoin.
    Rebalancing,
    /// The member rejoined; the group waits for others.
    Waiting,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) generation: i32,
    pub(crate) state: GroupState,
    pub(crate) protocol: Option<AssignorKind>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    pub(crate) rebalance_started: Instant,
    pub(crate) partition_counts: BTreeMap<String, i32>,
    pub(crate) next_member: u64,
    /// The metadata record needs writing (a generation completed or the group
    /// emptied).
    pub(crate) dirty: bool,
    /// `(member id, group.instance.id)` of static members replaced by a newer
    /// incarnation, oldest first, at most [`FENCED_MEMBERS_KEPT`].
    pub(crate) fenced: VecDeque<(String, String)>,
    /// Why the pending rebalance could not complete (the assignor failed),
    /// until it completes; reported to the would-be leader only.
    pub(crate) completion_error: Option<GroupError>,
    /// Taken out of the coordinator's map (deleted, or expired with its
    /// offsets): a caller that fetched the slot before must fetch the
    /// group's new one.
    pub(crate) removed: bool,
    /// Loaded from a metadata record that lists members (a process ended
    /// with them in the group) and not recorded Empty since: the first
    /// expiry pass records it Empty.
    pub(crate) loaded_with_members: bool,
}

impl Group {
    pub(crate) fn new(id: &str, generation: i32, protocol: Option<AssignorKind>) -> Self {
        Group {
            id: id.to_string(),
            generation,
            state: GroupState::Empty,
            protocol,
            leader: None,
            members: BTreeMap::new(),
            rebalance_started: Instant::now(),
            partition_counts: BTreeMap::new(),
            next_member: 0,
            dirty: false,
            fenced: VecDeque::new(),
            completion_error: None,
            removed: false,
            loaded_with_members: false,
        }
    }

    /// Members, departed static members included: a group with any is not
    /// Empty, as Kafka counts them until their session ends.
    pub(crate) fn members_not_expired(&self) -> usize {
        self.members.len()
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        let prefix = if client_id.is_empty() {
            "consumer"
        } else {
            client_id
        };
        format!(
            "{prefix}-{:016x}{:08x}",
            fastrand::u64(..),
            self.next_member
        )
    }

    fn start_rebalance(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            self.state = GroupState::PreparingRebalance;
            self.rebalance_started = now;
            for m in self.members.values_mut() {
                m.joined = m.departed;
            }
        }
        if self.members.is_empty() {
            self.become_empty();
        }
    }

    fn become_empty(&mut self) {
        if self.state != GroupState::Empty {
            self.state = GroupState::Empty;
            self.generation = next_generation(self.generation);
            self.leader = None;
            self.dirty = true;
        }
    }

    /// Refuses a join whose assignors include none that every other member
    /// (all but the static member it replaces) supports, as Kafka's
    /// `supportsProtocols` check answers `INCONSISTENT_GROUP_PROTOCOL`: the
    /// group could then pick no protocol at all.
    fn check_protocols(
        &self,
        instance_id: Option<&str>,
        assignors: &[AssignorKind],
    ) -> Result<(), GroupError> {
        let mut others = self
            .members
            .values()
            .filter(|m| instance_id.is_none() || m.instance_id.as_deref() != instance_id);
        let supported: Vec<AssignorKind> = match others.next() {
            None => assignors.to_vec(),
            Some(first) => {
                let mut common = first.assignors.clone();
                for m in others {
                    common.retain(|a| m.assignors.contains(a));
                }
                common
            }
        };
        if assignors.iter().any(|a| supported.contains(a)) {
            return Ok(());
        }
        Err(GroupError::InconsistentGroupProtocol {
            group: self.id.clone(),
            protocols: assignors.iter().map(|a| a.name().to_string()).collect(),
            supported: supported.iter().map(|a| a.name().to_string()).collect(),
        })
    }

    /// Adds a member (or takes over a static member's slot, fencing the
    /// member id it had).
    ///
    /// # Errors
    /// [`GroupError::InconsistentGroupProtocol`]; the group is unchanged then.
    pub(crate) fn join(&mut self, opts: JoinOptions, now: Instant) -> Result<String, GroupError> {
        let JoinOptions {
            group_instance_id,
            client_id,
            topics,
            assignors,
            session_timeout,
            rebalance_timeout,
            liveness,
        } = opts;
        self.check_protocols(group_instance_id.as_deref(), &assignors)?;
        if let Some(instance) = &group_instance_id
            && let Some(old_id) = self
                .members
                .values()
                .find(|m| m.instance_id.as_ref() == Some(instance))
                .map(|m| m.id.clone())
            && let Some(mut old) = self.members.remove(&old_id)
        {
            // The new incarnation replaces (and so fences) the old member id.
            if self.fenced.len() >= FENCED_MEMBERS_KEPT {
                self.fenced.pop_front();
            }
            self.fenced.push_back((old_id.clone(), instance.clone()));
            let id = self.new_member_id(&client_id);
            let same_subscription = old.topics == topics;
            old.id.clone_from(&id);
            old.client_id = client_id;
            old.assignors = assignors;
            old.departed = false;
            old.last_heartbeat = now;
            old.last_poll = now;
            old.session_timeout = session_timeout;
            old.rebalance_timeout = rebalance_timeout;
            old.liveness = liveness;
            old.topics = topics;
            old.joined = true;
            // The partitions the old incarnation owned are not the new one's
            // (it starts with none, as Kafka takes the new consumer's join
            // metadata): left here, the cooperative assignor would hold them
            // back for a hand-over nobody makes.
            old.owned.clear();
            if self.leader.as_deref() == Some(old_id.as_str()) {
                self.leader = Some(id.clone());
            }
            self.members.insert(id.clone(), old);
            if !(same_subscription && self.state == GroupState::Stable) {
                self.start_rebalance(now);
                if let Some(m) = self.members.get_mut(&id) {
                    m.joined = true;
                }
            }
            return Ok(id);
        }
        let id = self.new_member_id(&client_id);
        self.members.insert(
            id.clone(),
            Member {
                id: id.clone(),
                instance_id: group_instance_id,
                client_id,
                topics,
                assignors,
                owned: Vec::new(),
                assignment: Vec::new(),
                joined: false,
                last_heartbeat: now,
                last_poll: now,
                session_timeout,
                rebalance_timeout,
                departed: false,
                liveness,
                sticky_previous: None,
            },
        );
        self.start_rebalance(now);
        if let Some(m) = self.members.get_mut(&id) {
            m.joined = true;
        }
        Ok(id)
    }

    /// A member rejoins the current (or a new) rebalance with what it owns now.
    pub(crate) fn rejoin(
        &mut self,
        member_id: &str,
        topics: Vec<String>,
        owned: Vec<TopicPartition>,
        now: Instant,
    ) -> Result<(), GroupError> {
        if !self.members.contains_key(member_id) {
            return Err(self.unknown(member_id));
        }
        self.start_rebalance(now);
        if let Some(m) = self.members.get_mut(member_id) {
            m.topics = topics;
            m.owned = owned;
            m.joined = true;
            m.last_heartbeat = now;
            m.last_poll = now;
        }
        Ok(())
    }

    /// Starts a rebalance for a member without rejoining it (a changed
    /// subscription, Kafka's `enforceRebalance`): its next status is
    /// `Rebalancing`, so it revokes what it must and rejoins with what it
    /// then owns, as for any rebalance. During a rebalance only its topics
    /// change.
    pub(crate) fn request_rebalance(
        &mut self,
        member_id: &str,
        topics: Vec<String>,
        now: Instant,
    ) -> Result<(), GroupError> {
        let Some(m) = self.members.get_mut(member_id) else {
            return Err(self.unknown(member_id));
        };
        m.topics = topics;
        m.last_heartbeat = now;
        m.last_poll = now;
        self.start_rebalance(now);
        Ok(())
    }

    /// The error for a member id not in the group: fenced if a newer
    /// incarnation of its static member replaced it, else unknown.
    pub(crate) fn unknown(&self, member_id: &str) -> GroupError {
        if let Some((_, instance_id)) = self.fenced.iter().find(|(id, _)| id == member_id) {
            return GroupError::FencedInstanceId {
                group: self.id.clone(),
                instance_id: instance_id.clone(),
                member_id: member_id.to_string(),
            };
        }
        GroupError::UnknownMember {
            group: self.id.clone(),
            member_id: member_id.to_string(),
        }
    }

    /// A member leaves: removed at once (a rebalance), or, for a static
    /// member, kept until its session times out.
    pub(crate) fn leave(&mut self, member_id: &str, now: Instant) {
        let is_static = self
            .members
            .get(member_id)
            .is_some_and(|m| m.instance_id.is_some());
        if is_static {
            if let Some(m) = self.members.get_mut(member_id) {
                m.departed = true;
                m.joined = true;
            }
            return;
        }
        if self.members.remove(member_id).is_some() {
            if self.leader.as_deref() == Some(member_id) {
                self.leader = None;
            }
            self.start_rebalance(now);
        }
    }

    /// Removes members that stopped calling in (see the module docs).
    /// Returns whether any was removed.
    pub(crate) fn expire(&mut self, now: Instant) -> bool {
        let preparing = self.state == GroupState::PreparingRebalance;
        let started = self.rebalance_started;
        let dead: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                (!m.session_kept_alive()
                    && now.saturating_duration_since(m.last_heartbeat) > m.session_timeout)
                    || (!m.departed
                        && now.saturating_duration_since(m.last_poll) > m.poll_deadline())
                    || (preparing
                        && !m.joined
                        && now.saturating_duration_since(started) > m.rebalance_timeout)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in &dead {
            self.members.remove(id);
            if self.leader.as_deref() == Some(id.as_str()) {
                self.leader = None;
            }
        }
        if !dead.is_empty() {
            self.start_rebalance(now);
        }
        !dead.is_empty()
    }

    /// The earliest moment a member could expire (for waiters to wake then).
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.members
            .values()
            .flat_map(|m| {
                let mut t = Vec::new();
                // A deadline past what an `Instant` holds is no deadline
                // (a timeout of `Duration::MAX` means "none").
                if !m.session_kept_alive() {
                    t.extend(m.last_heartbeat.checked_add(m.session_timeout));
                }
                if !m.departed {
                    t.extend(m.last_poll.checked_add(m.poll_deadline()));
                }
                if self.state == GroupState::PreparingRebalance && !m.joined {
                    t.extend(self.rebalance_started.checked_add(m.rebalance_timeout));
                }
                t
            })
            .min()
    }

    /// Records a call from a member: a heartbeat, and a poll if `polled`.
    pub(crate) fn heartbeat(
        &mut self,
        member_id: &str,
        polled: bool,
        now: Instant,
    ) -> Result<(), GroupError> {
        let Some(m) = self.members.get_mut(member_id) else {
            return Err(self.unknown(member_id));
        };
        m.last_heartbeat = now;
        if polled {
            m.last_poll = now;
        }
        Ok(())
    }

    /// Starts a rebalance when a subscribed topic's partition count changed
    /// since the last assignment.
    pub(crate) fn check_partitions(&mut self, counts: &dyn Fn(&str) -> Option<i32>, now: Instant) {
        if self.state != GroupState::Stable {
            return;
        }
        let changed = self
            .subscribed_topics()
            .iter()
            .any(|t| counts(t) != self.partition_counts.get(t.as_str()).copied());
        if changed {
            self.start_rebalance(now);
        }
    }

    fn subscribed_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .members
            .values()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Completes the rebalance if every member has rejoined (see
    /// [`complete`](Self::complete)). A failure is kept for the would-be
    /// leader's [`status`](Self::status), as Kafka's leader is the one whose
    /// poll fails when its assignor throws; the others keep waiting, and
    /// their calls succeed.
    pub(crate) fn try_complete(&mut self, counts: &dyn Fn(&str) -> Option<i32>) {
        match self.complete(counts) {
            Ok(()) => {
                if self.state != GroupState::PreparingRebalance {
                    self.completion_error = None;
                }
            }
            Err(e) => self.completion_error = Some(e),
        }
    }

    /// Picks the protocol, runs the assignor, and moves to the next
    /// generation, once every member has rejoined.
    fn complete(&mut self, counts: &dyn Fn(&str) -> Option<i32>) -> Result<(), GroupError> {
        if self.state != GroupState::PreparingRebalance {
            return Ok(());
        }
        if self.members.is_empty() {
            self.become_empty();
            return Ok(());
        }
        if !self.members.values().all(|m| m.joined) {
            return Ok(());
        }
        let choices: Vec<MemberProtocols> = self
            .members
            .values()
            .map(|m| MemberProtocols::new(m.id.clone(), m.assignors.iter().map(|a| a.name())))
            .collect();
        let chosen = select_group_protocol(&choices)?;
        let kind = AssignorKind::from_name(&chosen)?;
        let mut partition_counts = BTreeMap::new();
        for t in self.subscribed_topics() {
            if let Some(n) = counts(&t) {
                partition_counts.insert(t, n);
            }
        }
        let mut subs = Vec::with_capacity(self.members.len());
        for m in self.members.values() {
            let mut s = Subscription::new(m.id.clone(), m.topics.iter().cloned())
                .with_owned_partitions(m.owned.clone(), self.generation);
            s.group_instance_id.clone_from(&m.instance_id);
            // The eager sticky assignor reads the previous assignment from
            // the user data only (`StickyAssignor.memberData`): what the
            // member's `StickyAssignor` would send (`subscriptionUserData`).
            if kind == AssignorKind::Sticky
                && let Some((partitions, generation)) = &m.sticky_previous
            {
                let data = StickyUserData {
                    partitions: partitions.clone(),
                    generation: Some(*generation),
                };
                s.user_data = Some(data.encode()?);
            }
            subs.push(s);
        }
        let assignment = if kind == AssignorKind::CooperativeSticky {
            assign_cooperative_sticky(&partition_counts, &subs)?.assignment
        } else {
            kind.assign(&partition_counts, &subs)?
        };
        self.generation = next_generation(self.generation);
        self.state = GroupState::Stable;
        self.protocol = Some(kind);
        self.partition_counts = partition_counts;
        self.leader = self.members.keys().next().cloned();
        let generation = self.generation;
        for m in self.members.values_mut() {
            m.assignment = assignment.get(&m.id).cloned().unwrap_or_default();
            m.joined = false;
            if kind == AssignorKind::Sticky {
                m.sticky_previous = Some((m.assignment.clone(), generation));
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// What a member should do now.
    pub(crate) fn status(&self, member_id: &str) -> Result<MemberStatus, GroupError> {
        let m = self
            .members
            .get(member_id)
            .ok_or_else(|| self.unknown(member_id))?;
        if self.state == GroupState::PreparingRebalance
            && let Some(e) = &self.completion_error
            && self.members.keys().next().is_some_and(|k| k == member_id)
        {
            return Err(e.clone());
        }
        Ok(match self.state {
            GroupState::Stable => MemberStatus::Stable {
                generation: self.generation,
                assignment: m.assignment.clone(),
            },
            GroupState::PreparingRebalance if m.joined => MemberStatus::Waiting,
            _ => MemberStatus::Rebalancing,
        })
    }

    /// The group as Kafka's `GroupMetadataValue` records it.
    pub(crate) fn metadata_value(&self, now_ms: i64) -> Result<GroupMetadataValue, GroupError> {
        let mut members = Vec::with_capacity(self.members.len());
        for m in self.members.values() {
            let sub = Subscription::new(m.id.clone(), m.topics.iter().cloned())
                .with_owned_partitions(m.assignment.clone(), self.generation);
            members.push(MemberMetadata {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: i32::try_from(m.rebalance_timeout.as_millis())
                    .unwrap_or(i32::MAX),
                session_timeout: i32::try_from(m.session_timeout.as_millis()).unwrap_or(i32::MAX),
                subscription: ConsumerProtocolSubscription::from_subscription(&sub).encode()?,
                assignment: ConsumerProtocolAssignment::from_partitions(&m.assignment, None)
                    .encode()?,
            });
        }
        Ok(GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: self.generation,
            protocol: self.protocol.map(|p| p.name().to_string()),
            leader: self.leader.clone(),
            current_state_timestamp: now_ms,
            members,
        })
    }
}

/// The generation after `g`: never negative (-1 means "none" to a member),
/// whatever a stored generation said.
fn next_generation(g: i32) -> i32 {
    g.checked_add(1).filter(|n| *n > 0).unwrap_or(1)
}

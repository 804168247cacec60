//! The consumer's side of consumer groups: `subscribe` (topics or a regex),
//! taking part in rebalances (eager or cooperative, per the assignor), the
//! rebalance listener, and committing offsets (sync, async, automatic).

mod commit;

pub(crate) use commit::OFFSET_METADATA_MAX_BYTES;
use commit::PendingCommit;
pub use commit::{CommitCallback, CommitFuture};

use std::sync::Arc;
use std::time::{Duration, Instant};

use event_listener::EventListener;
use regex::Regex;
use weir_group::{
    AssignorKind, GroupCoordinator, GroupError, JoinOptions, MemberStatus, OffsetAndMetadata,
    RebalanceProtocol, rebalance_protocol,
};

use crate::consumer::Consumer;
use crate::error::WeirError;
use crate::record::TopicPartition;

/// Callbacks around rebalances (Kafka's `ConsumerRebalanceListener`), run
/// inside `poll` on the consumer's thread with the consumer at hand, so they
/// can commit or seek.
pub trait ConsumerRebalanceListener: Send {
    /// Partitions are about to go to another member: commit what was
    /// processed, or store offsets in your own store. Eager assignors revoke
    /// everything at each rebalance; cooperative-sticky only what moves.
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions were assigned (called after every rebalance, with the newly
    /// added partitions, possibly none). Seek here to start from offsets kept
    /// in your own store.
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions were lost without a chance to commit (the member timed out
    /// and others may own them now). Defaults to `on_partitions_revoked`, as in
    /// Kafka.
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// What a transactional producer needs of a consumer to commit its offsets
/// in a transaction (Kafka's `ConsumerGroupMetadata`): see
/// [`Consumer::group_metadata`] and
/// [`Producer::send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The generation of the consumer's assignment (-1 for a consumer that
    /// assigned its partitions itself, or has not joined yet).
    pub generation_id: i32,
    /// The member id the group gave the consumer (empty when none).
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// The metadata of a consumer of `group_id` that is not a group member
    /// (it assigns its partitions itself): the group must have no members
    /// when the offsets are sent, as for the consumer's own commits.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// What the consumer subscribed to.
#[derive(Debug, Clone)]
pub(crate) enum Subscribed {
    Topics(Vec<String>),
    Pattern(Regex),
}

/// A consumer's membership of its group.
pub(crate) struct Membership {
    pub(crate) coordinator: Arc<GroupCoordinator>,
    pub(crate) group: String,
    pub(crate) subscribed: Option<Subscribed>,
    pub(crate) topics: Vec<String>,
    pub(crate) member_id: Option<String>,
    pub(crate) generation: i32,
    pub(crate) assignors: Vec<AssignorKind>,
    pub(crate) protocol: RebalanceProtocol,
    pub(crate) listener: Option<Box<dyn ConsumerRebalanceListener>>,
    pub(crate) last_auto_commit: Instant,
    pub(crate) pending: Vec<PendingCommit>,
    /// Held while this consumer exists: the coordinator keeps its session
    /// alive meanwhile (Kafka's heartbeat thread), see `JoinOptions::liveness`.
    pub(crate) liveness: Arc<()>,
    /// [`Consumer::enforce_rebalance`] asked for a rebalance: the next poll
    /// rejoins.
    pub(crate) rejoin_requested: bool,
}

/// What the group needs from `poll` before records can be fetched.
pub(crate) enum GroupStep {
    /// Go on and fetch; a wait for data also ends on the group's account
    /// (see [`GroupWatch`]).
    Ready(GroupWatch),
    /// Wait for the group (until the listener fires or the instant passes).
    Wait(EventListener, Option<Instant>),
}

/// When a poll waiting for data must come back to its group, as Kafka's
/// poll loop returns to its coordinator at least once a heartbeat interval
/// and at each auto-commit.
#[derive(Default)]
pub(crate) struct GroupWatch {
    /// Fires on any change of the group after its status was read (it is
    /// registered before): a rebalance started meanwhile, even during this
    /// poll's rebalance callbacks, is not missed.
    pub(crate) listener: Option<EventListener>,
    /// The next time the group needs this consumer: its auto-commit, a
    /// liveness mark well within `max.poll.interval.ms` (a consumer waiting
    /// inside `poll` is polling), another member's expiry.
    pub(crate) until: Option<Instant>,
}

fn parse_assignors(names: &[String]) -> Result<Vec<AssignorKind>, WeirError> {
    names
        .iter()
        .map(|n| {
            AssignorKind::from_name(n).map_err(|e| {
                WeirError::Config(weir_log::ConfigError::invalid(
                    "partition.assignment.strategy",
                    n,
                    e.to_string(),
                ))
            })
        })
        .collect()
}

impl Consumer {
    fn group_id(&self) -> Result<String, WeirError> {
        self.config.group_id.clone().ok_or_else(|| {
            WeirError::InvalidArgument(
                "subscribe and commit need group.id; without one, use assign and seek".into(),
            )
        })
    }

    fn membership_mut(&mut self) -> Result<&mut Membership, WeirError> {
        if self.membership.is_none() {
            let group = self.group_id()?;
            let assignors = parse_assignors(&self.config.partition_assignment_strategy)?;
            let protocol = rebalance_protocol(&assignors)?;
            self.membership = Some(Membership {
                coordinator: self.weir.group_coordinator()?,
                group,
                subscribed: None,
                topics: Vec::new(),
                member_id: None,
                generation: -1,
                assignors,
                protocol,
                listener: None,
                last_auto_commit: Instant::now(),
                pending: Vec::new(),
                liveness: Arc::new(()),
                rejoin_requested: false,
            });
        }
        self.membership
            .as_mut()
            .ok_or_else(|| WeirError::InvalidArgument("no group membership".into()))
    }

    /// Subscribes to topics with the group's management (Kafka's `subscribe`):
    /// partitions are assigned by the group's assignor and move between the
    /// members as they join and leave. Needs `group.id`. Replaces any earlier
    /// subscription or manual assignment. An empty list unsubscribes, as in
    /// Kafka.
    ///
    /// # Errors
    /// No `group.id`; an unknown `partition.assignment.strategy`; an unknown
    /// topic.
    pub fn subscribe(&mut self, topics: &[&str]) -> Result<(), WeirError> {
        if topics.is_empty() {
            // As Kafka: subscribing to no topic is unsubscribing, once the
            // group id is checked (without one it is an error, and a manual
            // assignment stays).
            self.check_open()?;
            self.group_id()?;
            return self.unsubscribe();
        }
        for t in topics {
            self.weir
                .topic_or_create(t, self.config.allow_auto_create_topics)?;
        }
        let list: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        self.set_subscription(Subscribed::Topics(list))
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a regex);
    /// topics created later that match join the subscription at the next poll.
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe); an invalid regex.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), WeirError> {
        let re = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| WeirError::InvalidArgument(format!("pattern {pattern:?}: {e}")))?;
        self.set_subscription(Subscribed::Pattern(re))
    }

    /// Sets the rebalance listener.
    ///
    /// # Errors
    /// No `group.id`.
    pub fn set_rebalance_listener(
        &mut self,
        listener: impl ConsumerRebalanceListener + 'static,
    ) -> Result<(), WeirError> {
        self.membership_mut()?.listener = Some(Box::new(listener));
        Ok(())
    }

    fn set_subscription(&mut self, subscribed: Subscribed) -> Result<(), WeirError> {
        self.check_open()?;
        if self
            .membership
            .as_ref()
            .is_none_or(|m| m.subscribed.is_none())
        {
            // From manual assignment (or nothing) to group management.
            self.parts.clear();
        }
        let m = self.membership_mut()?;
        m.subscribed = Some(subscribed);
        let topics = resolve(
            &self.weir,
            self.membership.as_ref(),
            self.config.exclude_internal_topics,
        )?;
        let m = self.membership_mut()?;
        let changed = m.topics != topics;
        m.topics = topics;
        if changed && let Some(id) = m.member_id.clone() {
            // The next poll revokes (eager) and rejoins, as for any
            // rebalance.
            m.coordinator
                .request_rebalance(&m.group, &id, m.topics.clone())?;
        }
        Ok(())
    }

    /// The subscribed topics (resolved, for a pattern).
    pub fn subscription(&self) -> Vec<String> {
        self.membership
            .as_ref()
            .filter(|m| m.subscribed.is_some())
            .map(|m| m.topics.clone())
            .unwrap_or_default()
    }

    /// Leaves the group and drops the subscription (committing first with
    /// auto-commit on).
    ///
    /// # Errors
    /// A failed auto-commit.
    pub fn unsubscribe(&mut self) -> Result<(), WeirError> {
        let owned = self.owned();
        if !owned.is_empty() {
            self.revoke(&owned)?;
        }
        if let Some(m) = self.membership.as_mut() {
            if let Some(id) = m.member_id.take() {
                m.coordinator.leave(&m.group, &id);
            }
            m.subscribed = None;
            m.topics.clear();
            m.generation = -1;
            m.rejoin_requested = false;
        }
        self.parts.clear();
        Ok(())
    }

    /// The group member id (`None` before the first poll after subscribing).
    pub fn member_id(&self) -> Option<&str> {
        self.membership
            .as_ref()
            .and_then(|m| m.member_id.as_deref())
    }

    /// Asks for a rebalance of the group (Kafka's `enforceRebalance`): the
    /// next poll rejoins, and every member's next polls take part, with the
    /// rebalance listener's callbacks as for any rebalance. A member that
    /// has not joined yet joins at its next poll anyway.
    ///
    /// # Errors
    /// [`WeirError::InvalidArgument`] without a subscription (Kafka's
    /// `IllegalStateException`: only a subscribed member can rebalance).
    pub fn enforce_rebalance(&mut self) -> Result<(), WeirError> {
        match self.membership.as_mut() {
            Some(m) if m.subscribed.is_some() => {
                m.rejoin_requested = true;
                Ok(())
            }
            _ => Err(WeirError::InvalidArgument(
                "enforce_rebalance needs a subscription (subscribe first)".into(),
            )),
        }
    }

    /// The consumer's group metadata, for a transactional producer's
    /// [`send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction)
    /// (Kafka's `groupMetadata`).
    ///
    /// # Errors
    /// [`WeirError::InvalidArgument`] without a `group.id`.
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata, WeirError> {
        let group_id = self.group_id()?;
        let member = self
            .membership
            .as_ref()
            .filter(|m| m.subscribed.is_some())
            .and_then(|m| m.member_id.clone().map(|id| (id, m.generation)));
        let (member_id, generation_id) = member.unwrap_or((String::new(), -1));
        Ok(ConsumerGroupMetadata {
            group_id,
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        })
    }

    /// The group generation of the current assignment (-1 when none).
    pub fn generation(&self) -> i32 {
        self.membership.as_ref().map_or(-1, |m| m.generation)
    }

    pub(crate) fn owned(&self) -> Vec<TopicPartition> {
        self.assignment()
    }

    /// Runs a listener callback with the consumer at hand.
    fn call_listener(
        &mut self,
        partitions: &[TopicPartition],
        f: fn(&mut dyn ConsumerRebalanceListener, &mut Consumer, &[TopicPartition]),
    ) {
        let listener = self.membership.as_mut().and_then(|m| m.listener.take());
        if let Some(mut l) = listener {
            f(l.as_mut(), self, partitions);
            if let Some(m) = self.membership.as_mut() {
                m.listener = Some(l);
            }
        }
    }

    /// Gives partitions up: auto-commit, the listener, then they are dropped.
    fn revoke(&mut self, partitions: &[TopicPartition]) -> Result<(), WeirError> {
        self.auto_commit_positions(partitions);
        self.call_listener(partitions, |l, c, p| l.on_partitions_revoked(c, p));
        self.parts.retain(|a| !partitions.contains(&a.tp));
        Ok(())
    }

    /// With auto-commit on and a member id, commits the positions of
    /// `partitions`. A rebalance may have fenced us already; the records are
    /// then re-delivered to the next owner, as in Kafka.
    fn auto_commit_positions(&mut self, partitions: &[TopicPartition]) {
        if self.config.enable_auto_commit
            && self
                .membership
                .as_ref()
                .is_some_and(|m| m.member_id.is_some())
        {
            let offsets = self.positions_of(partitions);
            let _ = self.commit_offsets_sync(&offsets);
        }
    }

    fn lose(&mut self, partitions: &[TopicPartition]) {
        self.call_listener(partitions, |l, c, p| l.on_partitions_lost(c, p));
        self.parts.retain(|a| !partitions.contains(&a.tp));
    }

    fn positions_of(
        &self,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        self.parts
            .iter()
            .filter(|a| partitions.contains(&a.tp))
            .filter_map(|a| {
                a.position
                    .map(|p| (a.tp.clone(), OffsetAndMetadata::new(p)))
            })
            .collect()
    }

    /// Takes part in the group before a poll fetches: joins, follows
    /// rebalances, applies new assignments, auto-commits.
    pub(crate) fn group_step(&mut self) -> Result<GroupStep, WeirError> {
        let is_pattern = match self.membership.as_ref().and_then(|m| m.subscribed.as_ref()) {
            None => {
                self.complete_async_commits();
                // Manually assigned partitions of a consumer with a group.id
                // are auto-committed too, as Kafka's coordinator does.
                if self.config.group_id.is_some()
                    && self.config.enable_auto_commit
                    && !self.parts.is_empty()
                {
                    self.membership_mut()?;
                    self.maybe_auto_commit();
                    return Ok(GroupStep::Ready(GroupWatch {
                        listener: None,
                        until: self.next_auto_commit(),
                    }));
                }
                return Ok(GroupStep::Ready(GroupWatch::default()));
            }
            Some(s) => matches!(s, Subscribed::Pattern(_)),
        };
        self.complete_async_commits();
        // A pattern subscription picks up new topics.
        if is_pattern {
            let topics = resolve(
                &self.weir,
                self.membership.as_ref(),
                self.config.exclude_internal_topics,
            )?;
            let m = self.membership_mut()?;
            if topics != m.topics {
                m.topics = topics;
                if let Some(id) = m.member_id.clone() {
                    m.coordinator
                        .request_rebalance(&m.group, &id, m.topics.clone())?;
                }
            }
        }
        // enforce_rebalance, once. A member not joined yet joins anyway.
        if let Some(m) = self.membership.as_mut()
            && std::mem::take(&mut m.rejoin_requested)
            && let Some(id) = m.member_id.clone()
        {
            m.coordinator
                .request_rebalance(&m.group, &id, m.topics.clone())?;
        }
        let session_timeout = self.config.session_timeout;
        let rebalance_timeout = self.config.max_poll_interval;
        let instance = self.config.group_instance_id.clone();
        let client_id = self.config.client_id.clone();
        let m = self.membership_mut()?;
        let coordinator = Arc::clone(&m.coordinator);
        let group = m.group.clone();
        let listener = coordinator.listen(&group);
        let member_id = match m.member_id.clone() {
            Some(id) => id,
            None => {
                let id = coordinator.join(
                    &group,
                    JoinOptions {
                        group_instance_id: instance,
                        client_id,
                        topics: m.topics.clone(),
                        assignors: m.assignors.clone(),
                        session_timeout,
                        rebalance_timeout,
                        liveness: Some(Arc::downgrade(&m.liveness)),
                    },
                )?;
                m.member_id = Some(id.clone());
                m.generation = -1;
                id
            }
        };
        match coordinator.status(&group, &member_id, true) {
            Err(GroupError::UnknownMember { .. }) => {
                // Timed out or fenced: the partitions may be someone else's now.
                let owned = self.owned();
                self.lose(&owned);
                let m = self.membership_mut()?;
                m.member_id = None;
                m.generation = -1;
                Ok(GroupStep::Wait(listener, Some(Instant::now())))
            }
            Err(e) => Err(e.into()),
            Ok(MemberStatus::Stable {
                generation,
                assignment,
            }) => {
                let protocol = self.membership_mut()?.protocol;
                if generation != self.generation() {
                    self.apply_assignment(generation, assignment, protocol, &member_id)?;
                }
                self.maybe_auto_commit();
                Ok(GroupStep::Ready(self.watch(listener, &coordinator, &group)))
            }
            Ok(MemberStatus::Rebalancing) => {
                let protocol = self.membership_mut()?.protocol;
                if protocol == RebalanceProtocol::Eager {
                    let owned = self.owned();
                    self.revoke(&owned)?;
                }
                let owned = self.owned();
                let m = self.membership_mut()?;
                let topics = m.topics.clone();
                match coordinator.rejoin(&group, &member_id, topics, owned) {
                    // A cooperative member goes on fetching the partitions it
                    // owns while the group rebalances (KIP-429).
                    Ok(()) if protocol == RebalanceProtocol::Cooperative => {
                        // As Kafka's coordinator poll, rebalance or not.
                        self.maybe_auto_commit();
                        Ok(GroupStep::Ready(self.watch(listener, &coordinator, &group)))
                    }
                    Ok(()) => Ok(GroupStep::Wait(listener, Some(Instant::now()))),
                    Err(GroupError::UnknownMember { .. }) => {
                        m.member_id = None;
                        Ok(GroupStep::Wait(listener, Some(Instant::now())))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Ok(MemberStatus::Waiting) => {
                if self.membership_mut()?.protocol == RebalanceProtocol::Cooperative {
                    self.maybe_auto_commit();
                    return Ok(GroupStep::Ready(self.watch(listener, &coordinator, &group)));
                }
                let until = coordinator.next_expiry(&group);
                Ok(GroupStep::Wait(listener, until))
            }
        }
    }

    fn apply_assignment(
        &mut self,
        generation: i32,
        assignment: Vec<TopicPartition>,
        protocol: RebalanceProtocol,
        member_id: &str,
    ) -> Result<(), WeirError> {
        let owned = self.owned();
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|t| !assignment.contains(t))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assignment
            .iter()
            .filter(|t| !owned.contains(t))
            .cloned()
            .collect();
        self.membership_mut()?.generation = generation;
        if !revoked.is_empty() {
            self.revoke(&revoked)?;
        }
        let mut keep: Vec<TopicPartition> =
            owned.into_iter().filter(|t| !revoked.contains(t)).collect();
        keep.extend(added.iter().cloned());
        self.assign_inner(&keep)?;
        // Start new partitions at the group's committed offsets.
        let m = self.membership_mut()?;
        let (coordinator, group) = (Arc::clone(&m.coordinator), m.group.clone());
        for tp in &added {
            let weir = self.weir.clone();
            let a = self.part(tp)?;
            crate::consumer::start_at_committed(&weir, &coordinator, &group, a);
        }
        self.call_listener(&added, |l, c, p| l.on_partitions_assigned(c, p));
        if protocol == RebalanceProtocol::Cooperative && !revoked.is_empty() {
            // The follow-up rebalance hands the revoked partitions over.
            let owned = self.owned();
            let m = self.membership_mut()?;
            let topics = m.topics.clone();
            m.coordinator.rejoin(&m.group, member_id, topics, owned)?;
        }
        Ok(())
    }

    /// What a poll of a group member waiting for data watches (see
    /// [`GroupWatch`]).
    fn watch(
        &self,
        listener: EventListener,
        coordinator: &GroupCoordinator,
        group: &str,
    ) -> GroupWatch {
        let liveness = self
            .config
            .heartbeat_interval
            .min(self.config.max_poll_interval / 2);
        let now = Instant::now();
        let until = [
            // One already due (none is: every path that returns a watch has
            // just auto-committed when due) would make the wait spin.
            self.next_auto_commit().filter(|t| *t > now),
            weir_log::clock::instant_after(now, liveness).into(),
            // Just past it: a member expires once its deadline has passed.
            coordinator
                .next_expiry(group)
                .map(|t| weir_log::clock::instant_after(t, Duration::from_millis(1))),
        ]
        .into_iter()
        .flatten()
        .min();
        GroupWatch {
            listener: Some(listener),
            until,
        }
    }
}

impl Consumer {
    /// Leaves the group as `close` does: the owned partitions are revoked
    /// (auto-commit, then the listener), pending commit callbacks run, and the
    /// member leaves.
    pub(crate) fn leave_group(&mut self) {
        if self
            .membership
            .as_ref()
            .is_some_and(|m| m.subscribed.is_some() && m.member_id.is_some())
        {
            let owned = self.owned();
            if !owned.is_empty() {
                // As Kafka's `close` and `onLeavePrepare`: revoke (commit,
                // listener) while our generation is still the group's, which
                // it stays while a rebalance is only being prepared; a member
                // that has already rejoined (or was removed) loses them, its
                // positions committed first where the group still takes them.
                let status = self.membership.as_ref().and_then(|m| {
                    let id = m.member_id.as_deref()?;
                    let status = m.coordinator.status(&m.group, id, false).ok()?;
                    let generation = match status {
                        MemberStatus::Stable { generation, .. } => generation,
                        _ => m.coordinator.describe_group(&m.group).ok()?.generation,
                    };
                    Some((status, generation))
                });
                let ours = self.generation();
                match status {
                    Some((MemberStatus::Stable { .. } | MemberStatus::Rebalancing, generation))
                        if generation == ours =>
                    {
                        let _ = self.revoke(&owned);
                    }
                    Some((MemberStatus::Waiting, _)) => {
                        self.auto_commit_positions(&owned);
                        self.lose(&owned);
                    }
                    _ => self.lose(&owned),
                }
            }
        } else if self.config.group_id.is_some()
            && self.config.enable_auto_commit
            && !self.parts.is_empty()
        {
            // Manually assigned partitions: their positions are committed on
            // close too (Kafka's `maybeAutoCommitOffsetsSync`). A failure is
            // not the caller's to handle at close; the positions stay where
            // the last commit left them.
            let _ = self.commit_sync();
        }
        self.finish_async_commits();
        if let Some(m) = self.membership.as_mut()
            && let Some(id) = m.member_id.take()
        {
            m.coordinator.leave(&m.group, &id);
        }
    }
}

/// The topics a subscription covers now.
fn resolve(
    weir: &crate::Weir,
    membership: Option<&Membership>,
    exclude_internal: bool,
) -> Result<Vec<String>, WeirError> {
    let Some(sub) = membership.and_then(|m| m.subscribed.as_ref()) else {
        return Ok(Vec::new());
    };
    let mut topics: Vec<String> = match sub {
        Subscribed::Topics(t) => t.clone(),
        Subscribed::Pattern(re) => weir
            .log_dir()
            .topics()
            .iter()
            .filter(|t| !(t.is_internal() && exclude_internal) && re.is_match(t.name()))
            .map(|t| t.name().to_string())
            .collect(),
    };
    topics.sort();
    topics.dedup();
    Ok(topics)
}

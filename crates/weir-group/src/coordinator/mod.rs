//! [`GroupCoordinator`]: Kafka's group coordinator inside one process.
//!
//! Members (consumers) call in: [`join`](GroupCoordinator::join),
//! [`status`](GroupCoordinator::status) on every poll (a heartbeat),
//! [`rejoin`](GroupCoordinator::rejoin) after revoking for a rebalance,
//! [`leave`](GroupCoordinator::leave). Each group's state machine (see
//! `group.rs`) runs under the group's own lock and every change is announced on
//! the group's event, so waiting members wake by notification. Committed
//! offsets and group metadata are records of `__consumer_offsets` (see
//! `offsets.rs`).

mod group;
mod offsets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use event_listener::{Event, EventListener};
use weir_log::{LogDir, PartitionLog};

pub use group::{GroupState, JoinOptions, MemberStatus};
pub use offsets::{CONSUMER_OFFSETS, OffsetAndMetadata};

use crate::GroupError;
use crate::assignor::{AssignorKind, TopicPartition};
use group::Group;
use offsets::OffsetStore;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct GroupSlot {
    state: Mutex<Group>,
    event: Event,
}

/// One member as [`GroupCoordinator::describe_group`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// Its `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Its `client.id`.
    pub client_id: String,
    /// Its partitions in the current generation.
    pub assignment: Vec<TopicPartition>,
    /// Subscribed topics.
    pub topics: Vec<String>,
}

/// A group as [`GroupCoordinator::describe_group`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group: String,
    /// Its state.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The assignor in use.
    pub protocol: Option<String>,
    /// Active members (static members that left and may return are listed too).
    pub members: Vec<MemberDescription>,
}

/// The group coordinator of one data directory (see the module docs).
#[derive(Debug)]
pub struct GroupCoordinator {
    logs: Arc<LogDir>,
    store: OffsetStore,
    groups: Mutex<HashMap<String, Arc<GroupSlot>>>,
    /// Held for reading by a commit from its check that its partitions
    /// exist to its append, and for writing while a deleted topic's offsets
    /// are tombstoned: a commit racing a topic's delete lands before the
    /// tombstones or is refused, never after them.
    topics_fence: RwLock<()>,
    /// When it opened (ms, by the directory's clock): a group whose last
    /// metadata record lists members (the process ended without them
    /// leaving) counts as Empty from then on.
    opened_ms: i64,
}

/// A partition with what an operation on it came to (see
/// [`GroupCoordinator::delete_offsets`]).
pub type PartitionOutcome = (TopicPartition, Result<(), GroupError>);

/// What one pass of [`GroupCoordinator::expire_offsets`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiredOffsets {
    /// The committed offsets removed, as `(group, partition)`.
    pub offsets: Vec<(String, TopicPartition)>,
    /// The groups removed: Empty, with no committed offset left.
    pub groups: Vec<String>,
}

impl GroupCoordinator {
    /// Opens the coordinator: creates `__consumer_offsets` (compacted,
    /// `partitions` partitions; Kafka's `offsets.topic.num.partitions` is 50)
    /// if missing and replays it to rebuild committed offsets and groups.
    ///
    /// # Errors
    /// [`GroupError::Storage`] when the topic cannot be created or read.
    pub fn open(logs: Arc<LogDir>, partitions: u32) -> Result<Self, GroupError> {
        let store = OffsetStore::open(&logs, partitions)?;
        let opened_ms = logs.clock().now_ms();
        Ok(GroupCoordinator {
            logs,
            store,
            groups: Mutex::new(HashMap::new()),
            topics_fence: RwLock::new(()),
            opened_ms,
        })
    }

    fn slot(&self, group: &str) -> Arc<GroupSlot> {
        self.slot_in(&mut lock(&self.groups), group)
    }

    /// The group's slot in `groups` (the map, locked), made from its stored
    /// metadata if it has none.
    fn slot_in(&self, groups: &mut HashMap<String, Arc<GroupSlot>>, group: &str) -> Arc<GroupSlot> {
        if let Some(s) = groups.get(group) {
            return Arc::clone(s);
        }
        let stored = lock(&self.store.groups).get(group).cloned();
        let loaded_with_members = stored.as_ref().is_some_and(|s| s.members > 0);
        let (generation, protocol) = stored.map_or((0, None), |s| {
            (
                // From disk: a negative generation would hand out -1 ("none")
                // after the next rebalance.
                s.generation.max(0),
                s.protocol.and_then(|p| AssignorKind::from_name(&p).ok()),
            )
        });
        let mut g = Group::new(group, generation, protocol);
        g.loaded_with_members = loaded_with_members;
        let slot = Arc::new(GroupSlot {
            state: Mutex::new(g),
            event: Event::new(),
        });
        groups.insert(group.to_string(), Arc::clone(&slot));
        slot
    }

    /// Runs `f` on the group with the coordinator's map of groups locked,
    /// then the group (its members' sessions expired first): when `f` says
    /// so, the group's slot is marked removed and taken out of the map in
    /// the same critical section (a call that fetched the slot before finds
    /// the mark and fetches the group's new slot), and its waiters are woken.
    /// Whether it was removed.
    fn remove_group_if(
        &self,
        group: &str,
        f: impl FnOnce(&mut Group) -> Result<bool, GroupError>,
    ) -> Result<bool, GroupError> {
        let mut groups = lock(&self.groups);
        let slot = self.slot_in(&mut groups, group);
        let mut g = lock(&slot.state);
        g.expire(Instant::now());
        let remove = f(&mut g)?;
        if remove {
            g.removed = true;
            // Members' sessions that ended just now may have marked the
            // metadata for writing: the group is gone instead.
            g.dirty = false;
            drop(g);
            groups.remove(group);
            drop(groups);
            slot.event.notify(usize::MAX);
        }
        Ok(remove)
    }

    fn counts(&self) -> impl Fn(&str) -> Option<i32> + '_ {
        |topic| {
            self.logs
                .topic(topic)
                .ok()
                .map(|t| i32::try_from(t.partition_count()).unwrap_or(i32::MAX))
        }
    }

    /// Runs `f` on the group under its lock, then expires members, completes
    /// a pending rebalance, writes the metadata record if it changed, and
    /// wakes the group's waiters.
    fn with_group<T>(
        &self,
        group: &str,
        f: impl FnOnce(&mut Group, Instant) -> Result<T, GroupError>,
    ) -> Result<T, GroupError> {
        self.with_group_notifying(group, true, f)
    }

    /// As [`with_group`](Self::with_group); with `always` false (a
    /// heartbeat) the waiters are woken only when the group's generation,
    /// state or members changed. A member waiting for a rebalance heartbeats
    /// each time it wakes: were every heartbeat a change, waiting members
    /// would wake each other (and themselves) without end.
    fn with_group_notifying<T>(
        &self,
        group: &str,
        always: bool,
        f: impl FnOnce(&mut Group, Instant) -> Result<T, GroupError>,
    ) -> Result<T, GroupError> {
        if group.is_empty() {
            return Err(GroupError::InvalidGroupId {
                group: group.to_string(),
            });
        }
        let mut slot = self.slot(group);
        let mut g = lock(&slot.state);
        while g.removed {
            // Removed after we fetched it: the map has the group's new slot
            // (or makes one). A slot is marked removed with the map's lock
            // held, and taken out of the map at once.
            drop(g);
            slot = self.slot(group);
            g = lock(&slot.state);
        }
        let now = Instant::now();
        let before = (g.generation, g.state, g.members.len());
        g.expire(now);
        let out = f(&mut g, now);
        g.check_partitions(&self.counts(), now);
        // A rebalance that cannot complete is not the caller's failure: the
        // group keeps it for its would-be leader (see `Group::try_complete`).
        g.try_complete(&self.counts());
        if g.dirty {
            let value = g.metadata_value(self.logs.clock().now_ms())?;
            self.store
                .store_group(group, &value, self.logs.clock().now_ms())?;
            // Only once written: a failed write is tried again at the
            // group's next call.
            g.dirty = false;
            g.loaded_with_members = false;
        }
        let changed = always || before != (g.generation, g.state, g.members.len());
        drop(g);
        if changed {
            slot.event.notify(usize::MAX);
        }
        out
    }

    /// Adds a member; starts a rebalance (unless a static member returns to a
    /// stable group with the same subscription). Returns the member id. A
    /// static member (`group.instance.id`) already in the group is replaced:
    /// its old member id is fenced from then on.
    ///
    /// # Errors
    /// [`GroupError::InvalidGroupId`];
    /// [`GroupError::InconsistentGroupProtocol`] when none of the member's
    /// assignors is supported by every current member (only this join is
    /// refused); storage errors.
    pub fn join(&self, group: &str, options: JoinOptions) -> Result<String, GroupError> {
        self.with_group(group, |g, now| g.join(options, now))
    }

    /// Rejoins for a rebalance with the member's current subscription and
    /// owned partitions (after revoking what it must).
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`] when the member was removed;
    /// [`GroupError::FencedInstanceId`] when a newer incarnation of the static
    /// member replaced it.
    pub fn rejoin(
        &self,
        group: &str,
        member_id: &str,
        topics: Vec<String>,
        owned: Vec<TopicPartition>,
    ) -> Result<(), GroupError> {
        self.with_group(group, |g, now| g.rejoin(member_id, topics, owned, now))
    }

    /// Starts a rebalance for a member without rejoining it: a changed
    /// subscription (`topics`), or a member asking for one (Kafka's
    /// `enforceRebalance`). The member's next [`status`](Self::status) is
    /// `Rebalancing`: it revokes what it must, then [`rejoin`](Self::rejoin)s.
    ///
    /// # Errors
    /// As [`rejoin`](Self::rejoin).
    pub fn request_rebalance(
        &self,
        group: &str,
        member_id: &str,
        topics: Vec<String>,
    ) -> Result<(), GroupError> {
        self.with_group(group, |g, now| g.request_rebalance(member_id, topics, now))
    }

    /// A heartbeat (a poll when `polled`): what the member should do now.
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`] when the member was removed: its
    /// partitions are lost and it must join again;
    /// [`GroupError::FencedInstanceId`] when a newer incarnation of the static
    /// member replaced it (fatal: it must not join again). To the member that
    /// would lead the pending rebalance, the assignor's error when the
    /// rebalance cannot complete (as Kafka's leader's poll fails).
    pub fn status(
        &self,
        group: &str,
        member_id: &str,
        polled: bool,
    ) -> Result<MemberStatus, GroupError> {
        self.with_group_notifying(group, false, |g, now| g.heartbeat(member_id, polled, now))?;
        let slot = self.slot(group);
        let g = lock(&slot.state);
        g.status(member_id)
    }

    /// A listener notified at the group's next change.
    pub fn listen(&self, group: &str) -> EventListener {
        self.slot(group).event.listen()
    }

    /// The earliest moment a member of the group could time out: waiters wake
    /// then to expire it.
    pub fn next_expiry(&self, group: &str) -> Option<Instant> {
        lock(&self.slot(group).state).next_expiry()
    }

    /// A member leaves (at once; a static member stays assigned until its
    /// session times out).
    pub fn leave(&self, group: &str, member_id: &str) {
        let _ = self.with_group(group, |g, now| {
            g.leave(member_id, now);
            Ok(())
        });
    }

    /// Commits offsets for a group. `member` is `(member id, generation)` for a
    /// group member; `None` commits as a standalone consumer, which only an
    /// empty group accepts. Returns the `__consumer_offsets` partition and
    /// offset to wait on for durability.
    ///
    /// # Errors
    /// [`GroupError::UnknownMember`], [`GroupError::FencedInstanceId`],
    /// [`GroupError::IllegalGeneration`] (the
    /// group rebalanced since the member's generation), or, for a standalone
    /// commit, [`GroupError::GroupNotEmpty`];
    /// [`GroupError::UnknownTopicOrPartition`] for a partition the data
    /// directory does not have (nothing is committed: callers leave such
    /// partitions out, as the consumer does, and this catches a topic deleted
    /// in between); storage errors.
    pub fn commit(
        &self,
        group: &str,
        member: Option<(&str, i32)>,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<(Arc<PartitionLog>, i64), GroupError> {
        let _fence = self
            .topics_fence
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let counts = self.counts();
        if let Some((tp, _)) = offsets
            .iter()
            .find(|(tp, _)| counts(&tp.topic).is_none_or(|n| tp.partition < 0 || tp.partition >= n))
        {
            return Err(GroupError::UnknownTopicOrPartition {
                group: group.to_string(),
                topic: tp.topic.clone(),
                partition: tp.partition,
            });
        }
        self.with_group(group, |g, now| {
            check_committer(g, group, member, now)?;
            self.store
                .commit(group, offsets, self.logs.clock().now_ms())
        })
    }

    /// Checks that `member` may commit offsets for `group` in a transaction
    /// now, without committing: a transactional producer's
    /// `send_offsets_to_transaction` (Kafka's `TxnOffsetCommit`, which checks
    /// the member's generation when the offsets join the transaction). A
    /// member is checked as [`commit`](Self::commit) checks it; `None` (a
    /// group id alone, Kafka's pre-KIP-447 `sendOffsetsToTransaction(offsets,
    /// groupId)`) is accepted whatever members the group has, as Kafka's
    /// `validateOffsetCommit` accepts a transactional commit.
    ///
    /// # Errors
    /// As [`commit`](Self::commit) for a member.
    pub fn check_member(&self, group: &str, member: Option<(&str, i32)>) -> Result<(), GroupError> {
        self.with_group(group, |g, now| match member {
            Some(_) => check_committer(g, group, member, now),
            None => Ok(()),
        })
    }

    /// Commits offsets a transaction carried, once its commit is decided
    /// (Kafka's group coordinator materializing a transaction's pending
    /// offsets at its COMMIT marker): the member was checked when the
    /// offsets joined the transaction, so none is checked now. Partitions the
    /// data directory no longer has are left out. Returns where to wait for
    /// durability, or `None` when nothing was left to commit.
    ///
    /// # Errors
    /// Storage errors.
    pub fn commit_transactional(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> Result<Option<(Arc<PartitionLog>, i64)>, GroupError> {
        let _fence = self
            .topics_fence
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let counts = self.counts();
        let known: Vec<(TopicPartition, OffsetAndMetadata)> = offsets
            .iter()
            .filter(|(tp, _)| {
                counts(&tp.topic).is_some_and(|n| tp.partition >= 0 && tp.partition < n)
            })
            .cloned()
            .collect();
        if known.is_empty() {
            return Ok(None);
        }
        self.with_group(group, |_, _| {
            self.store
                .commit(group, &known, self.logs.clock().now_ms())
                .map(Some)
        })
    }

    /// A group's committed offset for a partition.
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<OffsetAndMetadata> {
        self.store.committed(group, tp)
    }

    /// Every committed offset of a group, by partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        self.store.group_offsets(group)
    }

    /// Every group with members, committed offsets or stored metadata.
    pub fn list_groups(&self) -> Vec<String> {
        let mut names = self.store.known_groups();
        names.extend(lock(&self.groups).keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    /// A group's state and members.
    ///
    /// # Errors
    /// [`GroupError::UnknownGroup`].
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription, GroupError> {
        if !self.list_groups().iter().any(|g| g == group) {
            return Err(GroupError::UnknownGroup {
                group: group.to_string(),
            });
        }
        self.with_group(group, |g, _| {
            Ok(GroupDescription {
                group: g.id.clone(),
                state: g.state,
                generation: g.generation,
                protocol: g.protocol.map(|p| p.name().to_string()),
                members: g
                    .members
                    .values()
                    .map(|m| MemberDescription {
                        member_id: m.id.clone(),
                        group_instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        assignment: m.assignment.clone(),
                        topics: m.topics.clone(),
                    })
                    .collect(),
            })
        })
    }

    /// Deletes every group's committed offsets for a deleted topic (Kafka's
    /// `onPartitionsDeleted`), so a topic created again under the name starts
    /// from `auto.offset.reset` rather than from the old topic's offsets; the
    /// tombstones are fsynced before this returns.
    ///
    /// # Errors
    /// [`GroupError::Storage`] when `__consumer_offsets` cannot be written.
    pub fn delete_topic_offsets(&self, topic: &str) -> Result<(), GroupError> {
        let _fence = self
            .topics_fence
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let targets = self
            .store
            .delete_topic_offsets(topic, self.logs.clock().now_ms())?;
        for (log, end) in targets {
            log.flush_until(end).map_err(offsets::log_error)?;
        }
        Ok(())
    }

    /// Deletes a group without members: tombstones its offsets and metadata.
    ///
    /// # Errors
    /// [`GroupError::GroupNotEmpty`], [`GroupError::UnknownGroup`]; storage.
    pub fn delete_group(&self, group: &str) -> Result<(Arc<PartitionLog>, i64), GroupError> {
        if !self.list_groups().iter().any(|g| g == group) {
            return Err(GroupError::UnknownGroup {
                group: group.to_string(),
            });
        }
        // The check, the tombstones and the removal in one critical section:
        // a member joining meanwhile either came first (and the delete is
        // refused) or joins the group anew.
        let mut target = None;
        self.remove_group_if(group, |g| {
            // Departed static members count until their session ends: the
            // group is not Empty (Kafka refuses then too).
            let members = g.members_not_expired();
            if members > 0 {
                return Err(GroupError::GroupNotEmpty {
                    group: group.to_string(),
                    members,
                });
            }
            target = Some(self.store.delete_group(group, self.logs.clock().now_ms())?);
            Ok(true)
        })?;
        target.ok_or_else(|| GroupError::Storage {
            reason: format!("group {group}: nothing was deleted"),
        })
    }

    /// Deletes committed offsets of a group (Kafka's `OffsetDelete`,
    /// `kafka-consumer-groups --delete-offsets`), partition by partition: a
    /// partition of a topic a member subscribes to keeps its offset
    /// ([`GroupError::GroupSubscribedToTopic`]), one the data directory does
    /// not have is [`GroupError::UnknownTopicOrPartition`], any other is
    /// deleted (or had no offset: also a success, as in Kafka). The
    /// tombstones are fsynced before this returns. Offsets an open
    /// transaction carries are committed if it commits (Kafka's tombstone
    /// would discard them).
    ///
    /// # Errors
    /// [`GroupError::UnknownGroup`]; [`GroupError::Storage`] when
    /// `__consumer_offsets` cannot be written (nothing is deleted) or
    /// fsynced (the offsets are gone from this process's view, but the
    /// delete may not survive a crash).
    pub fn delete_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<PartitionOutcome>, GroupError> {
        if !self.list_groups().iter().any(|g| g == group) {
            return Err(GroupError::UnknownGroup {
                group: group.to_string(),
            });
        }
        let _fence = self
            .topics_fence
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let counts = self.counts();
        let (outcome, target) = self.with_group(group, |g, _| {
            let mut outcome = Vec::with_capacity(partitions.len());
            let mut deleted = Vec::new();
            for tp in partitions {
                let result =
                    if counts(&tp.topic).is_none_or(|n| tp.partition < 0 || tp.partition >= n) {
                        Err(GroupError::UnknownTopicOrPartition {
                            group: group.to_string(),
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                        })
                    } else if g.members.values().any(|m| m.topics.contains(&tp.topic)) {
                        Err(GroupError::GroupSubscribedToTopic {
                            group: group.to_string(),
                            topic: tp.topic.clone(),
                        })
                    } else {
                        if self.store.committed(group, tp).is_some() && !deleted.contains(tp) {
                            deleted.push(tp.clone());
                        }
                        Ok(())
                    };
                outcome.push((tp.clone(), result));
            }
            let now = self.logs.clock().now_ms();
            let target = self.store.remove(group, &deleted, now)?;
            Ok((outcome, target))
        })?;
        if let Some((log, end)) = target {
            log.flush_until(end).map_err(offsets::log_error)?;
        }
        Ok(outcome)
    }

    /// One pass of Kafka's offset expiry (`offsets.retention.minutes`, run
    /// every `offsets.retention.check.interval.ms`): removes each committed
    /// offset whose base lies `retention` or more in the past, where the base
    /// is, as in Kafka's classic groups,
    ///
    /// - for a group that has had members and is Empty now, when it became
    ///   Empty (all its offsets at once; a group whose last metadata record
    ///   still lists members, left by a process that ended, counts as Empty
    ///   from when this coordinator opened);
    /// - for a Stable group, the commit, and only for topics no member
    ///   subscribes to;
    /// - for a group that never had members (a standalone consumer's
    ///   commits), the commit.
    ///
    /// A group rebalancing keeps its offsets, and so does a partition for
    /// which `pending(group, Some(partition))` says an open transaction
    /// carries an offset. An Empty group left with no offset is removed with
    /// its metadata, as Kafka deletes it, unless `pending(group, None)` says
    /// an open transaction carries offsets of the group. The tombstones are
    /// appended to `__consumer_offsets` without a durability wait.
    ///
    /// # Errors
    /// [`GroupError::Storage`] when `__consumer_offsets` cannot be written;
    /// the groups before the failure keep what this pass removed.
    pub fn expire_offsets(
        &self,
        retention: std::time::Duration,
        pending: &dyn Fn(&str, Option<&TopicPartition>) -> bool,
    ) -> Result<ExpiredOffsets, GroupError> {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let mut out = ExpiredOffsets::default();
        let mut first_error = None;
        // One scan of the offsets for the whole pass; each offset is looked
        // up again under its group's lock before anything is decided.
        let committed = self.store.partitions_by_group();
        for group in self.list_groups() {
            let candidates = committed.get(&group).map_or(&[][..], Vec::as_slice);
            // Waiters wake only if the group changed (a member expired).
            let removed = self.with_group_notifying(&group, false, |g, _| {
                self.expire_group(g, candidates, retention_ms, pending)
            });
            let (expired, candidate) = match removed {
                Ok(Some(done)) => done,
                Ok(None) => continue,
                Err(e) => {
                    // The other groups still get their pass.
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            out.offsets
                .extend(expired.into_iter().map(|tp| (group.clone(), tp)));
            if !candidate {
                continue;
            }
            // Checked again with the group's slot and the map locked (a
            // member may have joined, or an offset been committed, since).
            let removed = self.remove_group_if(&group, |g| {
                let still = !g.dirty
                    && g.state == GroupState::Empty
                    && g.members.is_empty()
                    && !pending(&group, None)
                    && !self.store.has_offsets(&group);
                if still {
                    // As an admin's delete: the metadata tombstoned (no
                    // offset is left), without a durability wait.
                    self.store
                        .delete_group(&group, self.logs.clock().now_ms())?;
                }
                Ok(still)
            });
            match removed {
                Ok(true) => out.groups.push(group),
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// [`expire_offsets`](Self::expire_offsets) for one group, under its
    /// lock: the partitions whose offsets were tombstoned, and whether the
    /// group itself was; `None` when the group is not due.
    fn expire_group(
        &self,
        g: &mut Group,
        candidates: &[TopicPartition],
        retention_ms: i64,
        pending: &dyn Fn(&str, Option<&TopicPartition>) -> bool,
    ) -> Result<Option<(Vec<TopicPartition>, bool)>, GroupError> {
        let group = g.id.clone();
        let now = self.logs.clock().now_ms();
        if g.dirty {
            // Its state changed just now (its members' sessions ended in
            // this call): nothing is due yet.
            return Ok(None);
        }
        // The base every offset of the group shares, or `None` for each
        // offset's commit; the topics members subscribe to.
        let (shared_base, subscribed): (Option<i64>, Vec<&str>) =
            match (g.state, self.store.stored_group(&group)) {
                (GroupState::Empty, Some(_)) if g.loaded_with_members => {
                    // Its last record lists members a process that ended
                    // took with it. Kafka's coordinator expires loaded
                    // members a session after it loads the group, which then
                    // records itself Empty: so here, stamped with this
                    // coordinator's open, so that later opens keep the base.
                    let value = g.metadata_value(self.opened_ms)?;
                    self.store.store_group(&group, &value, now)?;
                    g.loaded_with_members = false;
                    (Some(self.opened_ms), Vec::new())
                }
                // A record from before Kafka stamped state changes: each
                // offset's commit is its base, as in Kafka.
                (GroupState::Empty, Some(s)) => (
                    (s.state_timestamp >= 0).then_some(s.state_timestamp),
                    Vec::new(),
                ),
                (GroupState::Empty, None) => (None, Vec::new()),
                (GroupState::Stable, _) => (
                    None,
                    g.members
                        .values()
                        .flat_map(|m| m.topics.iter().map(String::as_str))
                        .collect(),
                ),
                (GroupState::PreparingRebalance, _) => return Ok(None),
            };
        let mut expired = Vec::new();
        for tp in candidates {
            let Some(o) = self.store.committed(&group, tp) else {
                continue;
            };
            if subscribed.contains(&tp.topic.as_str()) || pending(&group, Some(tp)) {
                continue;
            }
            let due = match self.store.expire_at(&group, tp) {
                // An explicit expire timestamp (old clients) wins.
                Some(at) => now >= at,
                None => {
                    now.saturating_sub(shared_base.unwrap_or(o.commit_timestamp)) >= retention_ms
                }
            };
            if due {
                expired.push(tp.clone());
            }
        }
        // No durability wait: a crash before the tombstones reach the disk
        // only brings the offsets back until the next pass.
        self.store.remove(&group, &expired, now)?;
        let candidate = g.state == GroupState::Empty && !self.store.has_offsets(&group);
        Ok(Some((expired, candidate)))
    }
}

/// Whether `member` (`(member id, generation)`, or `None` for a standalone
/// consumer) may commit offsets for the group `g` now.
fn check_committer(
    g: &mut Group,
    group: &str,
    member: Option<(&str, i32)>,
    now: Instant,
) -> Result<(), GroupError> {
    match member {
        Some((id, generation)) => {
            g.heartbeat(id, false, now)?;
            if generation != g.generation {
                return Err(GroupError::IllegalGeneration {
                    group: group.to_string(),
                    generation,
                    current: g.generation,
                });
            }
        }
        None => {
            // A standalone commit needs an Empty group; departed static
            // members keep it from being one until their session ends
            // (Kafka's `validateOffsetCommit`).
            let members = g.members_not_expired();
            if members > 0 {
                return Err(GroupError::GroupNotEmpty {
                    group: group.to_string(),
                    members,
                });
            }
        }
    }
    Ok(())
}

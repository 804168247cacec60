//! Consumer-group administration (Kafka's `kafka-consumer-groups`): list,
//! describe with lag, alter and reset offsets, delete.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_group::{GroupCoordinator, GroupDescription, OffsetAndMetadata};

use crate::admin::Admin;
use crate::error::WeirError;
use crate::record::TopicPartition;

/// A partition with what an operation on it came to (see
/// [`Admin::delete_group_offsets`]).
pub type PartitionResult = (TopicPartition, Result<(), WeirError>);

/// One group in [`Admin::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group: String,
    /// Kafka's name of its state (`Empty`, `PreparingRebalance`, `Stable`).
    pub state: String,
    /// Members.
    pub members: usize,
}

/// One partition of a group's lag report ([`Admin::group_lag`]), as the
/// columns of `kafka-consumer-groups --describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (the next to consume), if any.
    pub current_offset: Option<i64>,
    /// The partition's log end offset (high watermark).
    pub log_end_offset: i64,
    /// `log_end_offset - current_offset`, when there is a committed offset.
    /// Negative when the committed offset is past the log end (as
    /// `kafka-consumer-groups --describe` shows it): the group's consumers
    /// will find it out of range and reset by `auto.offset.reset`.
    pub lag: Option<i64>,
    /// The member that owns the partition now, if any.
    pub member_id: Option<String>,
    /// That member's `client.id`.
    pub client_id: Option<String>,
}

/// Where [`Admin::reset_group_offsets`] moves a group's offsets (the options of
/// `kafka-consumer-groups --reset-offsets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetSpec {
    /// `--to-earliest`: the log start offset.
    Earliest,
    /// `--to-latest`: the log end offset.
    Latest,
    /// `--to-datetime`: the first offset at or after this time (ms), or the log
    /// end when every record is older.
    ToTimestamp(i64),
    /// `--to-offset`: this offset, clamped to the log's range.
    ToOffset(i64),
    /// `--shift-by`: the current offset moved by this much, clamped.
    ShiftBy(i64),
}

/// A planned or executed offset change of [`Admin::reset_group_offsets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetReset {
    /// The partition.
    pub partition: TopicPartition,
    /// The offset before.
    pub previous: Option<i64>,
    /// The new offset.
    pub offset: i64,
}

impl Admin {
    /// The group coordinator if any group can exist: looking groups up does
    /// not create `__consumer_offsets` (as Kafka's ListGroups does not).
    fn existing_coordinator(&self) -> Result<Option<Arc<GroupCoordinator>>, WeirError> {
        if self
            .weir()
            .log_dir()
            .topic(weir_group::CONSUMER_OFFSETS)
            .is_err()
        {
            return Ok(None);
        }
        self.weir().group_coordinator().map(Some)
    }

    /// The coordinator for a call about `group`, which must exist.
    fn coordinator_of(&self, group: &str) -> Result<Arc<GroupCoordinator>, WeirError> {
        self.existing_coordinator()?.ok_or_else(|| {
            WeirError::from(weir_group::GroupError::UnknownGroup {
                group: group.to_string(),
            })
        })
    }

    /// Every known group: with members now, or with committed offsets.
    ///
    /// # Errors
    /// [`WeirError::Group`] when `__consumer_offsets` cannot be read.
    pub fn list_groups(&self) -> Result<Vec<GroupListing>, WeirError> {
        let Some(c) = self.existing_coordinator()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for group in c.list_groups() {
            let d = c.describe_group(&group)?;
            out.push(GroupListing {
                group,
                state: d.state.name().to_string(),
                members: d.members.len(),
            });
        }
        Ok(out)
    }

    /// A group's state, generation, assignor and members with their partitions.
    ///
    /// # Errors
    /// An unknown group.
    pub fn describe_group(&self, group: &str) -> Result<GroupDescription, WeirError> {
        Ok(self.coordinator_of(group)?.describe_group(group)?)
    }

    /// A group's committed offsets.
    ///
    /// # Errors
    /// [`WeirError::Group`] when `__consumer_offsets` cannot be read.
    pub fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<Vec<(TopicPartition, OffsetAndMetadata)>, WeirError> {
        Ok(self
            .existing_coordinator()?
            .map(|c| c.group_offsets(group))
            .unwrap_or_default())
    }

    /// The group's lag per partition: every partition it committed for or a
    /// member owns, with the log end offset and the owner.
    ///
    /// # Errors
    /// An unknown group.
    pub fn group_lag(&self, group: &str) -> Result<Vec<GroupPartitionLag>, WeirError> {
        let c = self.coordinator_of(group)?;
        let description = c.describe_group(group)?;
        let mut rows: BTreeMap<TopicPartition, GroupPartitionLag> = BTreeMap::new();
        for (tp, committed) in c.group_offsets(group) {
            rows.insert(
                tp.clone(),
                GroupPartitionLag {
                    partition: tp,
                    current_offset: Some(committed.offset),
                    log_end_offset: 0,
                    lag: None,
                    member_id: None,
                    client_id: None,
                },
            );
        }
        for m in &description.members {
            for tp in &m.assignment {
                let row = rows.entry(tp.clone()).or_insert_with(|| GroupPartitionLag {
                    partition: tp.clone(),
                    current_offset: None,
                    log_end_offset: 0,
                    lag: None,
                    member_id: None,
                    client_id: None,
                });
                row.member_id = Some(m.member_id.clone());
                row.client_id = Some(m.client_id.clone());
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (tp, mut row) in rows {
            // Never created here (an admin call creates no topic).
            if let Ok(log) = self
                .weir()
                .partition_or_create(&tp.topic, tp.partition, false)
            {
                row.log_end_offset = log.high_watermark();
                // Not clamped: a negative lag is the one sign of an offset
                // past the end.
                row.lag = row
                    .current_offset
                    .map(|o| row.log_end_offset.saturating_sub(o));
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Sets a group's committed offsets. The group must have no members, as
    /// Kafka requires. Every partition must exist: as Kafka's admin client,
    /// this never creates a topic, even with auto-creation on. An offset past
    /// the log end is stored as given (its lag is then negative).
    ///
    /// # Errors
    /// [`WeirError::InvalidArgument`] for a negative offset (as a consumer's
    /// commit, and Kafka's `OffsetAndMetadata`, refuse it);
    /// [`WeirError::Group`] with `GroupNotEmpty`; an unknown topic or
    /// partition. Nothing is stored then.
    pub fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, i64)],
    ) -> Result<(), WeirError> {
        if let Some((tp, o)) = offsets.iter().find(|(_, o)| *o < 0) {
            return Err(WeirError::InvalidArgument(format!(
                "offset {o} for {}-{} of group {group}: an offset is never negative",
                tp.topic, tp.partition
            )));
        }
        for (tp, _) in offsets {
            self.weir()
                .partition_or_create(&tp.topic, tp.partition, false)?;
        }
        let c = self.weir().group_coordinator()?;
        let offsets: Vec<(TopicPartition, OffsetAndMetadata)> = offsets
            .iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect();
        let (log, end) = c.commit(group, None, &offsets)?;
        log.flush_until(end)?;
        Ok(())
    }

    /// Plans (and with `execute`, applies) a reset of a group's offsets for
    /// every partition of `topic`, as `kafka-consumer-groups --reset-offsets`
    /// does (a dry run by default there too). The group must have no members
    /// (it is Empty, or does not exist yet), for the dry run too, as Kafka
    /// checks the group's state before it plans. The topic must exist: this
    /// never creates one, even with auto-creation on.
    ///
    /// # Errors
    /// [`WeirError::Group`] with `GroupNotEmpty` for a group with members
    /// (the error executing it would give); an unknown topic; for
    /// [`ResetSpec::ShiftBy`], a partition with no committed offset.
    pub fn reset_group_offsets(
        &self,
        group: &str,
        topic: &str,
        spec: ResetSpec,
        execute: bool,
    ) -> Result<Vec<OffsetReset>, WeirError> {
        let t = self.weir().topic_or_create(topic, false)?;
        let c = self.weir().group_coordinator()?;
        // Members expire first inside `describe_group`; a group not known
        // yet (`UnknownGroup`) has none.
        match c.describe_group(group) {
            Ok(d) if !d.members.is_empty() => {
                return Err(weir_group::GroupError::GroupNotEmpty {
                    group: group.to_string(),
                    members: d.members.len(),
                }
                .into());
            }
            Ok(_) | Err(weir_group::GroupError::UnknownGroup { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let mut plan = Vec::new();
        for log in t.partitions() {
            let tp = TopicPartition::new(topic, log.partition());
            let previous = c.committed(group, &tp).map(|o| o.offset);
            let (start, end) = (log.log_start_offset(), log.high_watermark());
            let offset = match spec {
                ResetSpec::Earliest => start,
                ResetSpec::Latest => end,
                ResetSpec::ToTimestamp(ts) => {
                    log.offset_for_timestamp(ts)?.map_or(end, |t| t.offset)
                }
                ResetSpec::ToOffset(o) => o.clamp(start, end),
                // As kafka-consumer-groups: a shift needs an offset to shift.
                ResetSpec::ShiftBy(d) => previous
                    .ok_or_else(|| {
                        WeirError::InvalidArgument(format!(
                            "cannot shift the offset of {topic}-{} for group {group}: it has no committed offset",
                            log.partition()
                        ))
                    })?
                    .saturating_add(d)
                    .clamp(start, end),
            };
            plan.push(OffsetReset {
                partition: tp,
                previous,
                offset,
            });
        }
        if execute {
            let offsets: Vec<(TopicPartition, i64)> = plan
                .iter()
                .map(|r| (r.partition.clone(), r.offset))
                .collect();
            self.alter_group_offsets(group, &offsets)?;
        }
        Ok(plan)
    }

    /// Deletes a group's committed offsets for some partitions, as Kafka's
    /// `Admin.deleteConsumerGroupOffsets` (`kafka-consumer-groups
    /// --delete-offsets`); the group may have members, but a partition of a
    /// topic one of them subscribes to keeps its offset. Returns each
    /// partition's outcome, in the order given: `Ok` when it has no
    /// committed offset now (deleted, or it had none), else
    /// [`WeirError::Group`] with `GroupSubscribedToTopic` or
    /// `UnknownTopicOrPartition`. The deletes are fsynced before this
    /// returns. A consumer of the group with no committed offset for a
    /// partition starts it per `auto.offset.reset`. An offset an open
    /// transaction carries for a partition is committed if the transaction
    /// commits (Kafka's tombstone discards it).
    ///
    /// # Errors
    /// [`WeirError::Group`] with `UnknownGroup`; storage errors (see
    /// [`GroupCoordinator::delete_offsets`]).
    pub fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<PartitionResult>, WeirError> {
        let outcome = self
            .coordinator_of(group)?
            .delete_offsets(group, partitions)?;
        Ok(outcome
            .into_iter()
            .map(|(tp, r)| (tp, r.map_err(WeirError::from)))
            .collect())
    }

    /// Deletes a group without members: its committed offsets and metadata.
    ///
    /// # Errors
    /// [`WeirError::Group`] with `GroupNotEmpty` or `UnknownGroup`.
    pub fn delete_group(&self, group: &str) -> Result<(), WeirError> {
        let (log, end) = self.coordinator_of(group)?.delete_group(group)?;
        log.flush_until(end)?;
        Ok(())
    }
}

//! The group coordinator over a real data directory: membership, protocol
//! checks, static-member fencing, group deletion and the replay of
//! `__consumer_offsets`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::Listener;
use weir_group::{
    AssignorKind, CONSUMER_OFFSETS, GroupCoordinator, GroupError, JoinOptions, MemberStatus,
    OffsetAndMetadata, OffsetCommitKey, OffsetCommitValue, TopicPartition,
};
use weir_log::{AppendOrigin, LogDir};
use weir_record::{BatchBuilder, BatchOptions, Record};

const TOPIC: &str = "t";

/// A data directory with topic `t` of `partitions` partitions and a
/// coordinator with one `__consumer_offsets` partition.
fn open(dir: &tempfile::TempDir, partitions: u32) -> (Arc<LogDir>, GroupCoordinator) {
    let logs = Arc::new(LogDir::open(dir.path()).unwrap());
    if logs.topic(TOPIC).is_err() {
        logs.create_topic(TOPIC, partitions, &[]).unwrap();
    }
    let coordinator = GroupCoordinator::open(Arc::clone(&logs), 1).unwrap();
    (logs, coordinator)
}

fn options(assignors: &[AssignorKind]) -> JoinOptions {
    JoinOptions {
        group_instance_id: None,
        client_id: "test".into(),
        topics: vec![TOPIC.into()],
        assignors: assignors.to_vec(),
        session_timeout: Duration::from_secs(60),
        rebalance_timeout: Duration::from_secs(60),
        liveness: None,
    }
}

fn static_options(instance: &str, session_timeout: Duration) -> JoinOptions {
    JoinOptions {
        group_instance_id: Some(instance.into()),
        session_timeout,
        ..options(&[AssignorKind::Range])
    }
}

/// Drives eager members through rebalances (revoke everything, rejoin)
/// until all are stable in one generation; returns each one's partitions.
fn settle(
    c: &GroupCoordinator,
    group: &str,
    members: &[String],
) -> BTreeMap<String, Vec<TopicPartition>> {
    for _ in 0..100 {
        let mut stable = BTreeMap::new();
        let mut generations = Vec::new();
        for id in members {
            match c.status(group, id, true).unwrap() {
                MemberStatus::Stable {
                    generation,
                    assignment,
                } => {
                    generations.push(generation);
                    stable.insert(id.clone(), assignment);
                }
                MemberStatus::Rebalancing => {
                    c.rejoin(group, id, vec![TOPIC.into()], Vec::new()).unwrap();
                }
                MemberStatus::Waiting => {}
            }
        }
        generations.dedup();
        if stable.len() == members.len() && generations.len() == 1 {
            return stable;
        }
    }
    panic!("group {group} did not settle");
}

#[test]
fn eager_sticky_members_keep_their_partitions_when_one_leaves() {
    // Whichever member leaves, the survivors keep what they had.
    for leaving in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let (_logs, c) = open(&dir, 6);
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(c.join("g", options(&[AssignorKind::Sticky])).unwrap());
            settle(&c, "g", &ids);
        }
        let before = settle(&c, "g", &ids);
        assert!(before.values().all(|a| a.len() == 2), "{before:?}");
        let gone = ids.remove(leaving);
        c.leave("g", &gone);
        let after = settle(&c, "g", &ids);
        for id in &ids {
            let kept = before[id]
                .iter()
                .filter(|tp| after[id].contains(tp))
                .count();
            assert_eq!(
                kept, 2,
                "member {id} had {:?}, now has {:?} (member {leaving} left)",
                before[id], after[id]
            );
            assert_eq!(after[id].len(), 3);
        }
    }
}

#[test]
fn a_join_whose_assignors_no_member_supports_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let a = c.join("g", options(&[AssignorKind::Range])).unwrap();
    let a_partitions = settle(&c, "g", std::slice::from_ref(&a));

    let refused = c.join("g", options(&[AssignorKind::RoundRobin]));
    match refused {
        Err(GroupError::InconsistentGroupProtocol {
            group,
            protocols,
            supported,
        }) => {
            assert_eq!(group, "g");
            assert_eq!(protocols, ["roundrobin"]);
            assert_eq!(supported, ["range"]);
        }
        other => panic!("expected InconsistentGroupProtocol, got {other:?}"),
    }
    // The member already in the group is untouched.
    assert_eq!(settle(&c, "g", std::slice::from_ref(&a)), a_partitions);
    let generation = match c.status("g", &a, true).unwrap() {
        MemberStatus::Stable { generation, .. } => generation,
        other => panic!("{other:?}"),
    };
    let tp = TopicPartition::new(TOPIC, 0);
    c.commit(
        "g",
        Some((&a, generation)),
        &[(tp.clone(), OffsetAndMetadata::new(5))],
    )
    .unwrap();
    assert_eq!(c.committed("g", &tp).map(|o| o.offset), Some(5));

    // A newcomer sharing one assignor with the group is accepted.
    let b = c
        .join(
            "g",
            options(&[AssignorKind::RoundRobin, AssignorKind::Range]),
        )
        .unwrap();
    let both = settle(&c, "g", &[a, b]);
    assert!(both.values().all(|p| p.len() == 1), "{both:?}");
}

#[test]
fn a_failed_assignment_is_not_reported_to_callers_whose_call_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let a = c
        .join("g", options(&[AssignorKind::CooperativeSticky]))
        .unwrap();
    settle(&c, "g", std::slice::from_ref(&a));
    let b = c
        .join("g", options(&[AssignorKind::CooperativeSticky]))
        .unwrap();
    assert_eq!(c.status("g", &a, true).unwrap(), MemberStatus::Rebalancing);
    assert_eq!(c.status("g", &b, true).unwrap(), MemberStatus::Waiting);
    let generation = 1;
    // `b` claims a partition the topic does not have: the cooperative-sticky
    // assignor fails (as Kafka's throws), so the rebalance cannot complete.
    c.rejoin(
        "g",
        &b,
        vec![TOPIC.into()],
        vec![TopicPartition::new(TOPIC, 2)],
    )
    .unwrap();
    c.rejoin(
        "g",
        &a,
        vec![TOPIC.into()],
        vec![TopicPartition::new(TOPIC, 0)],
    )
    .unwrap();
    let tp = TopicPartition::new(TOPIC, 1);
    c.commit(
        "g",
        Some((&b, generation)),
        &[(tp.clone(), OffsetAndMetadata::new(7))],
    )
    .unwrap();
    assert_eq!(c.committed("g", &tp).map(|o| o.offset), Some(7));
    // The failure is the leader's to report (its poll fails, as the Java
    // leader's would); the other member just waits.
    let (leader, other) = if a < b { (&a, &b) } else { (&b, &a) };
    assert!(matches!(
        c.status("g", leader, true),
        Err(GroupError::AssignorFailed { .. })
    ));
    assert_eq!(c.status("g", other, true).unwrap(), MemberStatus::Waiting);
    // Once `b` rejoins with what it really owns, the group completes.
    c.rejoin("g", &b, vec![TOPIC.into()], Vec::new()).unwrap();
    for id in [&a, &b] {
        assert!(matches!(
            c.status("g", id, true).unwrap(),
            MemberStatus::Stable { .. }
        ));
    }
}

#[test]
fn a_replaced_static_member_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let long = Duration::from_secs(60);
    let id1 = c.join("g", static_options("x", long)).unwrap();
    settle(&c, "g", std::slice::from_ref(&id1));
    let id2 = c.join("g", static_options("x", long)).unwrap();
    assert_ne!(id1, id2);

    let fenced = |r: Result<(), GroupError>| match r {
        Err(GroupError::FencedInstanceId {
            group,
            instance_id,
            member_id,
        }) => {
            assert_eq!((group.as_str(), instance_id.as_str()), ("g", "x"));
            assert_eq!(member_id, id1);
        }
        other => panic!("expected FencedInstanceId, got {other:?}"),
    };
    fenced(c.status("g", &id1, true).map(drop));
    fenced(c.rejoin("g", &id1, vec![TOPIC.into()], Vec::new()));
    fenced(
        c.commit(
            "g",
            Some((&id1, 1)),
            &[(TopicPartition::new(TOPIC, 0), OffsetAndMetadata::new(1))],
        )
        .map(drop),
    );
    // A leave from the old incarnation does not remove the new one.
    c.leave("g", &id1);
    let now = settle(&c, "g", std::slice::from_ref(&id2));
    assert_eq!(now[&id2].len(), 2);
    fenced(c.status("g", &id1, true).map(drop));
}

#[test]
fn a_deleted_group_stays_deleted_after_its_static_member_expires() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_logs, c) = open(&dir, 2);
        // The consumer is alive until it leaves; then its session of 1 ms runs.
        let liveness = Arc::new(());
        let id = c
            .join(
                "g",
                JoinOptions {
                    liveness: Some(Arc::downgrade(&liveness)),
                    ..static_options("x", Duration::from_millis(1))
                },
            )
            .unwrap();
        settle(&c, "g", std::slice::from_ref(&id));
        let tp = TopicPartition::new(TOPIC, 0);
        c.commit("g", Some((&id, 1)), &[(tp, OffsetAndMetadata::new(3))])
            .unwrap();
        c.leave("g", &id);
        // Wait (on the group's event, not a sleep) until the departed
        // member's session has run out; the next call expires it.
        let expiry = c.next_expiry("g").unwrap();
        while Instant::now() <= expiry + Duration::from_millis(1) {
            c.listen("g")
                .wait_deadline(expiry + Duration::from_millis(2));
        }
        c.delete_group("g").unwrap();
        assert!(
            !c.list_groups().contains(&"g".to_string()),
            "{:?}",
            c.list_groups()
        );
        assert!(c.group_offsets("g").is_empty());
    }
    let (_logs, c) = open(&dir, 2);
    assert!(
        !c.list_groups().contains(&"g".to_string()),
        "{:?}",
        c.list_groups()
    );
}

/// Appends `(key, value)` records to `__consumer_offsets`' only partition.
fn append_raw(logs: &LogDir, records: &[(Bytes, Option<Bytes>)]) -> i64 {
    let log = logs.partition(CONSUMER_OFFSETS, 0).unwrap();
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for (key, value) in records {
        builder
            .append(&Record {
                timestamp: 0,
                key: Some(key.clone()),
                value: value.clone(),
                headers: Vec::new(),
            })
            .unwrap();
    }
    let info = log
        .append_as(builder.build().unwrap(), AppendOrigin::Coordinator)
        .unwrap();
    info.base_offset
}

fn commit_record(group: &str, offset: i64) -> (Bytes, Option<Bytes>) {
    let key = OffsetCommitKey {
        group: group.into(),
        topic: TOPIC.into(),
        partition: 0,
    };
    let value = OffsetCommitValue {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
        expire_timestamp: -1,
    };
    (key.encode().unwrap(), Some(value.encode().unwrap()))
}

#[test]
fn replay_skips_unknown_record_types() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (logs, c) = open(&dir, 1);
        drop(c);
        // Key version 3 belongs to the new consumer group protocol: skipped.
        let unknown = Bytes::from_static(&[0, 3, 0, 1, b'g']);
        append_raw(
            &logs,
            &[
                commit_record("g", 10),
                (unknown, Some(Bytes::from_static(&[0, 0, 1]))),
            ],
        );
    }
    let (_logs, c) = open(&dir, 1);
    assert_eq!(
        c.committed("g", &TopicPartition::new(TOPIC, 0))
            .map(|o| o.offset),
        Some(10)
    );
}

#[test]
fn replay_fails_on_a_corrupt_key_or_value_naming_its_offset() {
    let cases: [(&str, (Bytes, Option<Bytes>)); 3] = [
        // An offset commit key (version 1) cut inside the group string.
        ("key", (Bytes::from_static(&[0, 1, 0, 5, b'g']), None)),
        // A known key with a value of an unknown version.
        (
            "value",
            (
                commit_record("g", 1).0,
                Some(Bytes::from_static(&[0x7f, 0, 0, 0])),
            ),
        ),
        // A key too short to hold its version.
        ("short key", (Bytes::from_static(&[0]), None)),
    ];
    for (what, record) in cases {
        let dir = tempfile::tempdir().unwrap();
        let bad_offset = {
            let (logs, c) = open(&dir, 1);
            drop(c);
            append_raw(&logs, &[commit_record("g", 10)]);
            append_raw(&logs, &[record])
        };
        let logs = Arc::new(LogDir::open(dir.path()).unwrap());
        match GroupCoordinator::open(logs, 1).map(drop) {
            Err(GroupError::CorruptOffsetsRecord {
                partition, offset, ..
            }) => {
                assert_eq!((partition, offset), (0, bad_offset), "{what}");
            }
            other => panic!("{what}: expected CorruptOffsetsRecord, got {other:?}"),
        }
    }
}

fn coop(instance: Option<&str>) -> JoinOptions {
    JoinOptions {
        group_instance_id: instance.map(str::to_string),
        ..options(&[AssignorKind::CooperativeSticky])
    }
}

fn assignment_of(status: MemberStatus) -> Vec<TopicPartition> {
    match status {
        MemberStatus::Stable { assignment, .. } => assignment,
        other => panic!("not stable: {other:?}"),
    }
}

/// A static member restarting during a rebalance starts with nothing owned,
/// as Kafka takes the new consumer's join metadata: the old incarnation's
/// partitions are not held back for a hand-over nobody makes.
#[test]
fn a_static_member_replaced_in_a_rebalance_owns_nothing_of_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 4);
    let s1 = c.join("g", coop(Some("s"))).unwrap();
    let all = assignment_of(c.status("g", &s1, true).unwrap());
    assert_eq!(all.len(), 4);
    c.request_rebalance("g", &s1, vec![TOPIC.into()]).unwrap();
    assert_eq!(c.status("g", &s1, true).unwrap(), MemberStatus::Rebalancing);
    c.rejoin("g", &s1, vec![TOPIC.into()], all).unwrap();
    assert_eq!(assignment_of(c.status("g", &s1, true).unwrap()).len(), 4);
    // b joins: a rebalance starts; s restarts before its old member rejoins.
    let b = c.join("g", coop(None)).unwrap();
    let s2 = c.join("g", coop(Some("s"))).unwrap();
    let a_s2 = assignment_of(c.status("g", &s2, true).unwrap());
    let a_b = assignment_of(c.status("g", &b, true).unwrap());
    assert_eq!(a_s2.len() + a_b.len(), 4, "s2 {a_s2:?}, b {a_b:?}");
}

/// A timeout of `Duration::MAX` means "none": the group's deadlines do not
/// overflow (a panic here would hit every waiting member).
#[test]
fn timeouts_of_duration_max_are_no_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let a = c
        .join(
            "g",
            JoinOptions {
                rebalance_timeout: Duration::MAX,
                session_timeout: Duration::MAX,
                ..options(&[AssignorKind::Range])
            },
        )
        .unwrap();
    settle(&c, "g", std::slice::from_ref(&a));
    c.join("g", options(&[AssignorKind::Range])).unwrap();
    let _ = c.next_expiry("g");
    let _ = c.status("g", &a, true).unwrap();
}

/// A static member that goes past `max.poll.interval.ms` without a poll is
/// not removed at once (it sends no leave, as Kafka's static members): only
/// a session later. Polling again before that, it keeps its place and the
/// group does not rebalance.
#[test]
fn a_slow_static_member_keeps_its_place_for_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let liveness = Arc::new(());
    let s = c
        .join(
            "g",
            JoinOptions {
                rebalance_timeout: Duration::from_millis(20),
                liveness: Some(Arc::downgrade(&liveness)),
                ..static_options("s", Duration::from_secs(600))
            },
        )
        .unwrap();
    let b = c.join("g", options(&[AssignorKind::Range])).unwrap();
    let settled = settle(&c, "g", &[s.clone(), b.clone()]);
    let generation = match c.status("g", &b, true).unwrap() {
        MemberStatus::Stable { generation, .. } => generation,
        other => panic!("{other:?}"),
    };
    // Past s's max.poll.interval.ms, without a call from s.
    let past = Instant::now() + Duration::from_millis(60);
    while Instant::now() < past {
        c.listen("g").wait_deadline(past);
    }
    assert_eq!(
        c.status("g", &b, true).unwrap(),
        MemberStatus::Stable {
            generation,
            assignment: settled[&b].clone()
        }
    );
    assert!(
        c.describe_group("g")
            .unwrap()
            .members
            .iter()
            .any(|m| m.member_id == s)
    );
    assert!(matches!(
        c.status("g", &s, true).unwrap(),
        MemberStatus::Stable { generation: g, .. } if g == generation
    ));
}

/// A static member that left is still a member until its session ends: the
/// group is not Empty, so standalone commits and deletion are refused, as
/// Kafka refuses them (deleting the offsets would send the restarting
/// member to auto.offset.reset).
#[test]
fn a_group_of_a_departed_static_member_refuses_standalone_commits_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, c) = open(&dir, 2);
    let s = c
        .join("g", static_options("s", Duration::from_secs(600)))
        .unwrap();
    settle(&c, "g", std::slice::from_ref(&s));
    let generation = match c.status("g", &s, true).unwrap() {
        MemberStatus::Stable { generation, .. } => generation,
        other => panic!("{other:?}"),
    };
    let tp = TopicPartition::new(TOPIC, 0);
    c.commit(
        "g",
        Some((&s, generation)),
        &[(tp.clone(), OffsetAndMetadata::new(7))],
    )
    .unwrap();
    c.leave("g", &s);
    assert!(matches!(
        c.commit("g", None, &[(tp.clone(), OffsetAndMetadata::new(0))]),
        Err(GroupError::GroupNotEmpty { .. })
    ));
    assert!(matches!(
        c.delete_group("g"),
        Err(GroupError::GroupNotEmpty { .. })
    ));
    assert_eq!(c.committed("g", &tp).unwrap().offset, 7);
}

/// A generation read back from `__consumer_offsets` is not trusted blindly:
/// the next generation is never negative (-1 is "none" to a member) and
/// never overflows.
#[test]
fn a_stored_generation_out_of_range_neither_panics_nor_hands_out_minus_one() {
    for stored in [i32::MAX, -2] {
        let dir = tempfile::tempdir().unwrap();
        {
            let (logs, _c) = open(&dir, 2);
            let value = weir_group::GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: stored,
                protocol: None,
                leader: None,
                current_state_timestamp: 0,
                members: Vec::new(),
            };
            let key = weir_group::GroupMetadataKey { group: "g".into() };
            append_raw(
                &logs,
                &[(key.encode().unwrap(), Some(value.encode().unwrap()))],
            );
        }
        let (_logs, c) = open(&dir, 2);
        let a = c.join("g", options(&[AssignorKind::Range])).unwrap();
        match c.status("g", &a, true).unwrap() {
            MemberStatus::Stable { generation, .. } => {
                assert!(generation >= 0, "stored {stored}: {generation}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Appends a transactional batch of offset commits for producer 7.
fn append_txn(logs: &LogDir, records: &[(Bytes, Option<Bytes>)], sequence: i32) {
    append_txn_of(logs, 7, records, sequence);
}

fn append_txn_of(logs: &LogDir, pid: i64, records: &[(Bytes, Option<Bytes>)], sequence: i32) {
    let log = logs.partition(CONSUMER_OFFSETS, 0).unwrap();
    let mut builder = BatchBuilder::new(BatchOptions {
        transactional: true,
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: sequence,
        ..BatchOptions::default()
    });
    for (key, value) in records {
        builder
            .append(&Record {
                timestamp: 0,
                key: Some(key.clone()),
                value: value.clone(),
                headers: Vec::new(),
            })
            .unwrap();
    }
    log.append_as(builder.build().unwrap(), AppendOrigin::Coordinator)
        .unwrap();
}

fn end_txn(logs: &LogDir, commit: bool) {
    end_txn_of(logs, 7, commit);
}

fn end_txn_of(logs: &LogDir, pid: i64, commit: bool) {
    let log = logs.partition(CONSUMER_OFFSETS, 0).unwrap();
    let marker = if commit {
        weir_record::EndTransactionMarker::commit(0)
    } else {
        weir_record::EndTransactionMarker::abort(0)
    };
    let batch = BatchBuilder::end_transaction_marker(
        BatchOptions {
            producer_id: pid,
            producer_epoch: 0,
            ..BatchOptions::default()
        },
        marker,
        0,
    )
    .unwrap();
    log.append_as(batch, AppendOrigin::Coordinator).unwrap();
}

/// Offsets committed in a transaction (Kafka's `sendOffsetsToTransaction`)
/// count once its COMMIT marker is replayed, and not if it aborted or has no
/// marker yet; a plain commit written after them wins, as in Kafka's
/// `OffsetMetadataManager`.
#[test]
fn replay_applies_transactional_offset_commits_only_when_committed() {
    let tp = TopicPartition::new(TOPIC, 0);
    // (marker after the transaction, a plain commit between, expected)
    for (marker, plain_between, expected) in [
        (Some(false), None, 50),
        (None, None, 50),
        (Some(true), None, 100),
        (Some(true), Some(60), 60),
    ] {
        let dir = tempfile::tempdir().unwrap();
        {
            let (logs, _c) = open(&dir, 2);
            append_raw(&logs, &[commit_record("g", 50)]);
            append_txn(&logs, &[commit_record("g", 100)], 0);
            if let Some(o) = plain_between {
                append_raw(&logs, &[commit_record("g", o)]);
            }
            if let Some(commit) = marker {
                end_txn(&logs, commit);
            }
        }
        let (_logs, c) = open(&dir, 2);
        assert_eq!(
            c.committed("g", &tp).map(|o| o.offset),
            Some(expected),
            "marker {marker:?}, plain commit between {plain_between:?}"
        );
    }
}

/// Two transactions commit offsets of one partition, the later one's marker
/// first: the commit written later (by record offset) wins, as in Kafka, so
/// compaction of `__consumer_offsets` never changes the outcome.
#[test]
fn replay_keeps_the_later_of_two_transactional_commits() {
    let tp = TopicPartition::new(TOPIC, 0);
    let dir = tempfile::tempdir().unwrap();
    {
        let (logs, _c) = open(&dir, 2);
        append_txn_of(&logs, 1, &[commit_record("g", 100)], 0);
        append_txn_of(&logs, 2, &[commit_record("g", 200)], 0);
        end_txn_of(&logs, 2, true);
        end_txn_of(&logs, 1, true);
    }
    let (_logs, c) = open(&dir, 2);
    assert_eq!(c.committed("g", &tp).map(|o| o.offset), Some(200));
}

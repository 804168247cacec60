//! Committed offsets removed without a group delete, over a real data
//! directory whose clock the tests drive: Kafka's offset expiry
//! (`offsets.retention.minutes`: what each kind of group keeps, from when, and
//! that what expired stays gone after the coordinator reopens) and
//! `OffsetDelete`.

use std::sync::Arc;
use std::time::Duration;

use weir_group::{
    AssignorKind, ExpiredOffsets, GroupCoordinator, GroupError, GroupState, JoinOptions,
    MemberStatus, OffsetAndMetadata, TopicPartition,
};
use weir_log::{LogDir, LogDirOptions, ManualClock};

const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;
/// The retention every test expires with: one hour.
const RETENTION: Duration = Duration::from_secs(3600);
const HOUR: i64 = 60 * MINUTE;

/// A data directory on `clock` with topics `t` (2 partitions) and `u` (1),
/// and a coordinator with one `__consumer_offsets` partition.
fn open(dir: &tempfile::TempDir, clock: &Arc<ManualClock>) -> (Arc<LogDir>, GroupCoordinator) {
    let logs = Arc::new(
        LogDir::open_with(
            dir.path(),
            LogDirOptions {
                clock: Arc::clone(clock) as Arc<dyn weir_log::Clock>,
                background_thread: false,
                ..LogDirOptions::default()
            },
        )
        .unwrap(),
    );
    for (topic, partitions) in [("t", 2), ("u", 1)] {
        if logs.topic(topic).is_err() {
            logs.create_topic(topic, partitions, &[]).unwrap();
        }
    }
    let coordinator = GroupCoordinator::open(Arc::clone(&logs), 1).unwrap();
    (logs, coordinator)
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn nothing_pending(_: &str, _: Option<&TopicPartition>) -> bool {
    false
}

fn expire(c: &GroupCoordinator) -> ExpiredOffsets {
    c.expire_offsets(RETENTION, &nothing_pending).unwrap()
}

fn commit(c: &GroupCoordinator, group: &str, member: Option<(&str, i32)>, at: TopicPartition) {
    c.commit(group, member, &[(at, OffsetAndMetadata::new(5))])
        .unwrap();
}

fn committed(c: &GroupCoordinator, group: &str, at: &TopicPartition) -> Option<i64> {
    c.committed(group, at).map(|o| o.offset)
}

/// A member of `group` subscribed to `t`, its group Stable; its id and
/// generation.
fn stable_member(c: &GroupCoordinator, group: &str) -> (String, i32) {
    let id = c
        .join(group, join_options("test", Duration::from_secs(600)))
        .unwrap();
    let generation = settle(c, group, &id);
    (id, generation)
}

/// A member of `t` in the given session timeout (also its rebalance
/// timeout), with the range assignor.
fn join_options(client: &str, session: Duration) -> JoinOptions {
    JoinOptions {
        group_instance_id: None,
        client_id: client.into(),
        topics: vec!["t".into()],
        assignors: vec![AssignorKind::Range],
        session_timeout: session,
        rebalance_timeout: session,
        liveness: None,
    }
}

/// Polls the only member `id` of `group` until it is Stable; its generation.
fn settle(c: &GroupCoordinator, group: &str, id: &str) -> i32 {
    for _ in 0..10 {
        match c.status(group, id, true).unwrap() {
            MemberStatus::Stable { generation, .. } => return generation,
            MemberStatus::Rebalancing => c.rejoin(group, id, vec!["t".into()], Vec::new()).unwrap(),
            MemberStatus::Waiting => {}
        }
    }
    panic!("the group did not settle");
}

#[test]
fn a_standalone_consumers_offsets_expire_a_retention_after_their_own_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    commit(&c, "s", None, tp("t", 0));
    clock.advance(30 * MINUTE);
    commit(&c, "s", None, tp("t", 1));

    clock.set(T0 + HOUR - 1);
    assert_eq!(expire(&c), ExpiredOffsets::default());
    assert_eq!(committed(&c, "s", &tp("t", 0)), Some(5));

    clock.set(T0 + HOUR);
    let expired = expire(&c);
    assert_eq!(expired.offsets, vec![("s".to_string(), tp("t", 0))]);
    assert!(expired.groups.is_empty(), "t-1 is still there");
    assert_eq!(committed(&c, "s", &tp("t", 0)), None);
    assert_eq!(committed(&c, "s", &tp("t", 1)), Some(5));

    clock.set(T0 + 30 * MINUTE + HOUR);
    let expired = expire(&c);
    assert_eq!(expired.offsets, vec![("s".to_string(), tp("t", 1))]);
    assert_eq!(expired.groups, vec!["s".to_string()]);
    assert!(c.list_groups().is_empty(), "{:?}", c.list_groups());

    // The tombstones are in __consumer_offsets: a reopened coordinator
    // (replaying it) has neither offset.
    drop(c);
    drop(logs);
    let (_logs, c) = open(&dir, &clock);
    assert_eq!(committed(&c, "s", &tp("t", 0)), None);
    assert_eq!(committed(&c, "s", &tp("t", 1)), None);
    assert!(c.list_groups().is_empty());
}

#[test]
fn a_stable_group_keeps_the_offsets_of_subscribed_topics_and_loses_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (_logs, c) = open(&dir, &clock);
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    commit(&c, "g", Some((&id, generation)), tp("u", 0));

    clock.advance(2 * HOUR);
    let expired = expire(&c);
    assert_eq!(expired.offsets, vec![("g".to_string(), tp("u", 0))]);
    assert!(expired.groups.is_empty());
    assert_eq!(committed(&c, "g", &tp("t", 0)), Some(5), "t is subscribed");
    assert_eq!(committed(&c, "g", &tp("u", 0)), None);

    // A rebalancing group keeps everything, subscribed or not.
    commit(&c, "g", Some((&id, generation)), tp("u", 0));
    let second = c
        .join("g", join_options("test", Duration::from_secs(600)))
        .unwrap();
    assert_eq!(
        c.describe_group("g").unwrap().state,
        GroupState::PreparingRebalance
    );
    clock.advance(2 * HOUR);
    assert_eq!(expire(&c), ExpiredOffsets::default());
    assert_eq!(committed(&c, "g", &tp("u", 0)), Some(5));
    c.leave("g", &second);
}

#[test]
fn an_emptied_group_loses_every_offset_a_retention_after_it_emptied_then_itself() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    clock.advance(2 * HOUR);
    assert_eq!(expire(&c), ExpiredOffsets::default(), "t is subscribed");

    // Empty from T0 + 2h: the commit's age no longer counts.
    c.leave("g", &id);
    assert_eq!(c.describe_group("g").unwrap().state, GroupState::Empty);
    clock.advance(HOUR - 1);
    assert_eq!(expire(&c), ExpiredOffsets::default());
    assert_eq!(committed(&c, "g", &tp("t", 0)), Some(5));

    clock.advance(1);
    let expired = expire(&c);
    assert_eq!(expired.offsets, vec![("g".to_string(), tp("t", 0))]);
    assert_eq!(expired.groups, vec!["g".to_string()]);
    assert!(matches!(
        c.describe_group("g"),
        Err(GroupError::UnknownGroup { .. })
    ));

    // Its metadata is tombstoned too: gone after a reopen.
    drop(c);
    drop(logs);
    let (_logs, c) = open(&dir, &clock);
    assert!(c.list_groups().is_empty(), "{:?}", c.list_groups());
}

#[test]
fn a_group_whose_members_vanished_with_the_process_counts_as_empty_from_the_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    // The process ends with the member in the group: the last metadata
    // record lists it.
    drop(c);
    drop(logs);

    clock.advance(5 * HOUR);
    let (_logs, c) = open(&dir, &clock);
    clock.advance(HOUR - 1);
    assert_eq!(expire(&c), ExpiredOffsets::default());
    assert_eq!(committed(&c, "g", &tp("t", 0)), Some(5));
    clock.advance(1);
    let expired = expire(&c);
    assert_eq!(expired.offsets, vec![("g".to_string(), tp("t", 0))]);
    assert_eq!(expired.groups, vec!["g".to_string()]);
}

#[test]
fn offsets_an_open_transaction_carries_and_their_group_stay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (_logs, c) = open(&dir, &clock);
    commit(&c, "s", None, tp("t", 0));
    commit(&c, "s", None, tp("t", 1));
    clock.advance(2 * HOUR);

    let t0_pending =
        |g: &str, at: Option<&TopicPartition>| g == "s" && at.is_none_or(|at| *at == tp("t", 0));
    let expired = c.expire_offsets(RETENTION, &t0_pending).unwrap();
    assert_eq!(expired.offsets, vec![("s".to_string(), tp("t", 1))]);
    assert_eq!(committed(&c, "s", &tp("t", 0)), Some(5));

    // With no offset left but a transaction carrying some, the group stays.
    let group_pending = |g: &str, at: Option<&TopicPartition>| g == "s" && at.is_none();
    let expired = c.expire_offsets(RETENTION, &group_pending).unwrap();
    assert_eq!(expired.offsets, vec![("s".to_string(), tp("t", 0))]);
    assert!(expired.groups.is_empty());
    assert_eq!(c.list_groups(), vec!["s".to_string()]);
    assert_eq!(expire(&c).groups, vec!["s".to_string()]);
}

#[test]
fn a_group_whose_last_member_times_out_during_the_pass_starts_its_retention_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (_logs, c) = open(&dir, &clock);
    let id = c
        .join("g", join_options("test", Duration::from_millis(20)))
        .unwrap();
    let generation = settle(&c, "g", &id);
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    clock.advance(2 * HOUR);
    // The member's session ends (by the monotonic clock) with nobody
    // calling in: the pass itself finds the group empty now, and its
    // retention starts now, not at the coordinator's open.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(expire(&c), ExpiredOffsets::default());
    assert_eq!(c.describe_group("g").unwrap().state, GroupState::Empty);
    assert_eq!(committed(&c, "g", &tp("t", 0)), Some(5));
    clock.advance(HOUR);
    assert_eq!(expire(&c).groups, vec!["g".to_string()]);
}

#[test]
fn offset_delete_spares_subscribed_topics_and_names_unknown_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    assert!(matches!(
        c.delete_offsets("g", &[tp("u", 0)]),
        Err(GroupError::UnknownGroup { .. })
    ));
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    commit(&c, "g", Some((&id, generation)), tp("u", 0));

    let outcome = c
        .delete_offsets("g", &[tp("t", 0), tp("u", 0), tp("u", 3)])
        .unwrap();
    assert!(matches!(
        &outcome[0],
        (at, Err(GroupError::GroupSubscribedToTopic { topic, .. })) if *at == tp("t", 0) && topic == "t"
    ));
    assert!(matches!(&outcome[1], (at, Ok(())) if *at == tp("u", 0)));
    assert!(matches!(
        &outcome[2],
        (
            _,
            Err(GroupError::UnknownTopicOrPartition { partition: 3, .. })
        )
    ));
    assert_eq!(committed(&c, "g", &tp("t", 0)), Some(5));
    assert_eq!(committed(&c, "g", &tp("u", 0)), None);
    // A partition without an offset is no error.
    assert!(c.delete_offsets("g", &[tp("u", 0)]).unwrap()[0].1.is_ok());

    // Durable and replayed: gone after a reopen; once the member left, its
    // topic's offsets can go too.
    c.leave("g", &id);
    drop(c);
    drop(logs);
    let (_logs, c) = open(&dir, &clock);
    assert_eq!(committed(&c, "g", &tp("u", 0)), None);
    assert!(c.delete_offsets("g", &[tp("t", 0)]).unwrap()[0].1.is_ok());
    assert_eq!(committed(&c, "g", &tp("t", 0)), None);
}

/// Kafka, loading a group whose record lists members, expires them a
/// session later and records the group Empty then: the base is fixed from
/// then on, however often the process restarts.
#[test]
fn a_group_left_with_members_expires_even_if_the_process_restarts_often() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    drop(c);
    drop(logs);
    // The process restarts every 50 minutes for 5 hours, running a pass each time.
    for _ in 0..6 {
        clock.advance(50 * MINUTE);
        let (_logs, c) = open(&dir, &clock);
        let _ = expire(&c);
    }
    // 5 h since the members vanished, retention 1 h.
    let (_logs, c) = open(&dir, &clock);
    let _ = expire(&c);
    assert_eq!(committed(&c, "g", &tp("t", 0)), None);
}

/// A join that fetched the group's slot while a pass was removing the group
/// joins the group's new slot, not the removed one: the member is known at
/// its next call.
#[test]
fn a_member_joining_while_a_pass_removes_its_empty_group_is_not_orphaned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (_logs, c) = open(&dir, &clock);
    let c = Arc::new(c);
    let mut orphaned = Vec::new();
    for round in 0..20 {
        let group = format!("g{round}");
        // Empty (a member joined and left), no offset: a pass removes it.
        let (id, _) = stable_member(&c, &group);
        c.leave(&group, &id);
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let pass = {
            let c = Arc::clone(&c);
            let group = group.clone();
            std::thread::spawn(move || {
                let pending = |g: &str, at: Option<&TopicPartition>| {
                    if g == group && at.is_none() {
                        entered_tx.send(()).unwrap();
                        // The group's lock is held: the joiner queues on it.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    false
                };
                c.expire_offsets(RETENTION, &pending).unwrap()
            })
        };
        entered_rx.recv().unwrap();
        let joiner = {
            let c = Arc::clone(&c);
            let group = group.clone();
            std::thread::spawn(move || {
                c.join(&group, join_options("late", Duration::from_secs(600)))
                    .unwrap()
            })
        };
        let id2 = joiner.join().unwrap();
        pass.join().unwrap();
        if let Err(e) = c.status(&group, &id2, true) {
            orphaned.push((round, e));
        }
    }
    assert!(orphaned.is_empty(), "{orphaned:?}");
}

/// A value of version 1 (old clients) carries its own expire timestamp: the
/// offset expires then, whatever the retention, as in Kafka.
#[test]
fn an_explicit_expire_timestamp_wins_over_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    drop(c);
    let record = |partition: i32, expire_timestamp: i64| {
        let key = weir_group::OffsetCommitKey {
            group: "old".into(),
            topic: "t".into(),
            partition,
        };
        let value = weir_group::OffsetCommitValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: T0,
            expire_timestamp,
        };
        weir_record::Record {
            timestamp: T0,
            key: Some(key.encode().unwrap()),
            value: Some(value.encode().unwrap()),
            headers: Vec::new(),
        }
    };
    let mut builder = weir_record::BatchBuilder::new(weir_record::BatchOptions::default());
    builder.append(&record(0, T0 + 10 * MINUTE)).unwrap();
    builder.append(&record(1, T0 + 5 * HOUR)).unwrap();
    logs.partition(weir_group::CONSUMER_OFFSETS, 0)
        .unwrap()
        .append_as(
            builder.build().unwrap(),
            weir_log::AppendOrigin::Coordinator,
        )
        .unwrap();
    let c = GroupCoordinator::open(Arc::clone(&logs), 1).unwrap();

    clock.advance(10 * MINUTE);
    assert_eq!(expire(&c).offsets, vec![("old".to_string(), tp("t", 0))]);
    clock.advance(2 * HOUR);
    assert_eq!(
        expire(&c),
        ExpiredOffsets::default(),
        "t-1 lives to T0 + 5h"
    );
    clock.set(T0 + 5 * HOUR);
    assert_eq!(expire(&c).offsets, vec![("old".to_string(), tp("t", 1))]);
}

/// A poll takes its listener before it joins (weir's consumer does); a pass
/// that removes the Empty group in between wakes that listener, whose slot
/// nothing would notify again.
#[test]
fn a_listener_taken_before_a_pass_removes_the_group_wakes_when_it_goes() {
    use event_listener::Listener;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (_logs, c) = open(&dir, &clock);
    let (id, _) = stable_member(&c, "g");
    c.leave("g", &id);
    let listener = c.listen("g");
    assert_eq!(expire(&c).groups, vec!["g".to_string()]);
    c.join("g", join_options("late", Duration::from_secs(600)))
        .unwrap();
    assert!(
        listener.wait_timeout(Duration::from_millis(500)).is_some(),
        "the listener was not woken by the join"
    );
}

/// A join racing `delete_group` either comes first (the delete is refused)
/// or joins the group anew: never the slot being deleted, which would leave
/// its member unknown at its next call. Many listeners slow the delete's
/// wake-ups, widening the window.
#[test]
fn a_join_racing_delete_group_is_not_orphaned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    // Many offsets: the delete holds the group's lock long enough for the
    // joiner to queue on it.
    logs.create_topic("many", 2000, &[]).unwrap();
    let many: Vec<(TopicPartition, OffsetAndMetadata)> = (0..2000)
        .map(|p| (tp("many", p), OffsetAndMetadata::new(1)))
        .collect();
    let c = Arc::new(c);
    let mut orphaned = Vec::new();
    for round in 0..60 {
        let group = format!("d{round}");
        let (id, _) = stable_member(&c, &group);
        c.leave(&group, &id);
        c.commit(&group, None, &many).unwrap();
        // Many waiters on the group: the delete's wake-up, between its
        // release of the group's lock and `remove_slot`, takes a while.
        let _waiters: Vec<_> = (0..20_000).map(|_| c.listen(&group)).collect();
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let deleter = {
            let (c, group, barrier) = (Arc::clone(&c), group.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                c.delete_group(&group).is_ok()
            })
        };
        barrier.wait();
        std::thread::sleep(Duration::from_micros(25 * (round % 80)));
        let id2 = c
            .join(&group, join_options("late", Duration::from_secs(600)))
            .unwrap();
        let deleted = deleter.join().unwrap();
        if !deleted {
            // The join came first: clean up for the next round.
            c.leave(&group, &id2);
            c.delete_group(&group).unwrap();
            continue;
        }
        if let Err(e) = c.status(&group, &id2, true) {
            orphaned.push((round, e));
        }
    }
    assert!(
        orphaned.is_empty(),
        "{} of 60 orphaned: {:?}",
        orphaned.len(),
        orphaned.first()
    );
}

/// A group loaded with members that then has a member again and empties in
/// this process counts from when it emptied, not from the open.
#[test]
fn a_group_loaded_with_members_that_empties_again_counts_from_then() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (logs, c) = open(&dir, &clock);
    let (id, generation) = stable_member(&c, "g");
    commit(&c, "g", Some((&id, generation)), tp("t", 0));
    drop(c);
    drop(logs);

    let (_logs, c) = open(&dir, &clock);
    clock.advance(2 * HOUR);
    let (id, _) = stable_member(&c, "g");
    c.leave("g", &id);
    clock.advance(HOUR - 1);
    assert_eq!(
        expire(&c),
        ExpiredOffsets::default(),
        "empty for 1 h - 1 ms"
    );
    clock.advance(1);
    assert_eq!(expire(&c).groups, vec!["g".to_string()]);
}

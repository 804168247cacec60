//! Consumer groups with real threads: joins, leaves, crashes, slow pollers,
//! cooperative moves, static members; commits and their fencing; restarts.
//! Every wait is on the consumers' own polls with generous deadlines: no sleeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod metric_cell;

use metric_cell::MetricCell;
use weir::{
    Consumer, ConsumerRebalanceListener, InternalTopicOperation, OffsetAndMetadata, ProducerRecord,
    ResetSpec, TopicPartition, Weir, WeirError,
};

const LONG: Duration = Duration::from_secs(60);

fn weir() -> (tempfile::TempDir, Weir) {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    (dir, weir)
}

fn produce(weir: &Weir, topic: &str, n: usize, from: usize) {
    let producer = weir.producer(&[("linger.ms", "1")]).unwrap();
    for i in from..from + n {
        producer
            .send(ProducerRecord::new(topic, format!("{i}")).key(format!("k{i}")))
            .unwrap();
    }
    producer.close();
}

fn consumer(weir: &Weir, group: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut props = vec![
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "10"),
        ("enable.auto.commit", "false"),
    ];
    props.extend_from_slice(extra);
    weir.consumer(&props).unwrap()
}

/// Polls until `done` says so, failing after a long deadline.
fn poll_until(c: &mut Consumer, mut done: impl FnMut(&mut Consumer) -> bool) {
    let deadline = Instant::now() + LONG;
    while !done(c) {
        assert!(Instant::now() < deadline, "timed out waiting for the group");
        c.poll(Duration::from_millis(20)).unwrap();
    }
}

/// Topic `t` of one partition holding 3 records, and a member of group `g`
/// (with `extra` configs) that has read them.
fn member_that_read_3(weir: &Weir, extra: &[(&str, &str)]) -> (TopicPartition, Consumer) {
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(weir, "t", 3, 0);
    let tp = TopicPartition::new("t", 0);
    let mut c = consumer(weir, "g", extra);
    c.subscribe(&["t"]).unwrap();
    poll_until(&mut c, |c| c.position(&tp).unwrap_or(0) == 3);
    (tp, c)
}

/// Who owns what, as listeners report it; panics on a partition with two owners.
#[derive(Clone, Default)]
struct Registry(Arc<Mutex<HashMap<TopicPartition, String>>>);

impl Registry {
    fn listener(&self, name: &str) -> Owner {
        Owner {
            name: name.into(),
            registry: self.clone(),
            revoked: Arc::new(Mutex::new(Vec::new())),
            commit_on_revoke: true,
        }
    }
    fn drop_member(&self, name: &str) {
        self.0.lock().unwrap().retain(|_, o| o != name);
    }
    fn owners(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for o in self.0.lock().unwrap().values() {
            *out.entry(o.clone()).or_insert(0) += 1;
        }
        out
    }
}

struct Owner {
    name: String,
    registry: Registry,
    revoked: Arc<Mutex<Vec<TopicPartition>>>,
    commit_on_revoke: bool,
}

impl ConsumerRebalanceListener for Owner {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        if self.commit_on_revoke && !partitions.is_empty() {
            consumer.commit_sync().unwrap();
        }
        let mut r = self.registry.0.lock().unwrap();
        for tp in partitions {
            assert_eq!(
                r.remove(tp).as_deref(),
                Some(self.name.as_str()),
                "{tp} revoked from a non-owner"
            );
        }
        self.revoked.lock().unwrap().extend_from_slice(partitions);
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        let mut r = self.registry.0.lock().unwrap();
        for tp in partitions {
            if let Some(other) = r.insert(tp.clone(), self.name.clone()) {
                panic!("{tp} assigned to {} while {other} owns it", self.name);
            }
        }
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        let mut r = self.registry.0.lock().unwrap();
        for tp in partitions {
            if r.get(tp) == Some(&self.name) {
                r.remove(tp);
            }
        }
    }
}

#[test]
fn members_share_partitions_and_rebalance_on_join_and_leave() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("orders", 6, &[]).unwrap();
    produce(&weir, "orders", 600, 0);
    let registry = Registry::default();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |name: &'static str| {
        let weir = weir.clone();
        let registry = registry.clone();
        let seen = Arc::clone(&seen);
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut c = consumer(&weir, "g", &[]);
            c.set_rebalance_listener(registry.listener(name)).unwrap();
            c.subscribe(&["orders"]).unwrap();
            while !stop.load(Ordering::Acquire) {
                let records = c.poll(Duration::from_millis(20)).unwrap();
                for r in records.iter() {
                    seen.lock()
                        .unwrap()
                        .push(r.value_str().unwrap().parse().unwrap());
                }
                if !records.is_empty() {
                    c.commit_sync().unwrap();
                }
            }
            c.close();
        })
    };
    let a = spawn("a");
    let b = spawn("b");
    let deadline = Instant::now() + LONG;
    while registry.owners() != BTreeMap::from([("a".into(), 3), ("b".into(), 3)]) {
        assert!(
            Instant::now() < deadline,
            "no 3/3 split: {:?}",
            registry.owners()
        );
        thread::yield_now();
    }
    let c = spawn("c");
    while registry.owners().len() != 3 || registry.owners().values().any(|&n| n != 2) {
        assert!(
            Instant::now() < deadline,
            "no 2/2/2 split: {:?}",
            registry.owners()
        );
        thread::yield_now();
    }
    produce(&weir, "orders", 600, 600);
    while seen.lock().unwrap().len() < 1200 {
        assert!(
            Instant::now() < deadline,
            "only {} records seen",
            seen.lock().unwrap().len()
        );
        thread::yield_now();
    }
    stop.store(true, Ordering::Release);
    for t in [a, b, c] {
        t.join().unwrap();
    }
    let mut all = seen.lock().unwrap().clone();
    all.sort_unstable();
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(unique.len(), 1200, "a record was skipped");
    assert_eq!(
        all.len(),
        1200,
        "committing before revocation re-delivers nothing"
    );
}

#[test]
fn a_closed_static_member_is_replaced_after_session_timeout_and_a_slow_one_after_max_poll_interval()
{
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 4, &[]).unwrap();
    let registry = Registry::default();
    let props = [
        ("session.timeout.ms", "300"),
        ("heartbeat.interval.ms", "100"),
        ("max.poll.interval.ms", "60000"),
    ];
    let mut a = consumer(&weir, "g", &props);
    a.set_rebalance_listener(registry.listener("a")).unwrap();
    a.subscribe(&["t"]).unwrap();
    let mut b = consumer(
        &weir,
        "g",
        &[
            ("session.timeout.ms", "300"),
            ("heartbeat.interval.ms", "100"),
            ("max.poll.interval.ms", "60000"),
            ("group.instance.id", "b"),
        ],
    );
    b.set_rebalance_listener(registry.listener("b")).unwrap();
    b.subscribe(&["t"]).unwrap();
    // Both must poll for the first rebalance to complete.
    let deadline = Instant::now() + LONG;
    while registry.owners().len() < 2 {
        assert!(Instant::now() < deadline);
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
    // b, a static member, closes without leaving the group (as Kafka's static
    // members do, to come back without a rebalance): its session then runs
    // out, and a gets its partitions.
    b.close();
    drop(b);
    registry.drop_member("b");
    poll_until(&mut a, |a| a.assignment().len() == 4);
    assert_eq!(registry.owners(), BTreeMap::from([("a".into(), 4)]));

    // A slow poller: c joins, then stops polling past max.poll.interval.ms.
    let props = [
        ("session.timeout.ms", "60000"),
        ("max.poll.interval.ms", "300"),
    ];
    let g2 = Registry::default();
    let mut c = consumer(&weir, "g2", &props);
    c.set_rebalance_listener(g2.listener("c")).unwrap();
    c.subscribe(&["t"]).unwrap();
    let mut d = consumer(&weir, "g2", &props);
    d.subscribe(&["t"]).unwrap();
    let deadline = Instant::now() + LONG;
    while c.assignment().len() + d.assignment().len() < 4 || c.assignment().is_empty() {
        assert!(Instant::now() < deadline);
        c.poll(Duration::from_millis(10)).unwrap();
        d.poll(Duration::from_millis(10)).unwrap();
    }
    let c_member = c.member_id().unwrap().to_string();
    // d keeps polling; c does not, until d owns everything.
    poll_until(&mut d, |d| d.assignment().len() == 4);
    // c learns on its next poll that it lost its partitions, and rejoins.
    c.poll(Duration::from_millis(10)).unwrap();
    assert!(c.assignment().is_empty() || c.member_id() != Some(c_member.as_str()));
}

#[test]
fn a_live_consumer_keeps_its_session_through_long_polls_and_long_processing() {
    // In Kafka a heartbeat thread keeps a consumer's session alive between
    // its polls; only max.poll.interval.ms bounds the time between polls.
    let (_dir, weir) = weir();
    weir.admin().create_topic("idle", 2, &[]).unwrap();
    let mut c = consumer(
        &weir,
        "g",
        &[
            ("session.timeout.ms", "200"),
            ("heartbeat.interval.ms", "60"),
            ("max.poll.interval.ms", "60000"),
        ],
    );
    c.subscribe(&["idle"]).unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 2);
    let member = c.member_id().unwrap().to_string();
    // A poll that waits (nothing to read) longer than the session timeout,
    // then processing that takes longer than it too.
    assert!(c.poll(Duration::from_millis(500)).unwrap().is_empty());
    std::thread::sleep(Duration::from_millis(400));
    assert!(c.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(c.member_id(), Some(member.as_str()));
    assert_eq!(c.assignment().len(), 2);
}

#[test]
fn cooperative_sticky_moves_only_what_it_must() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 6, &[]).unwrap();
    let registry = Registry::default();
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let mut a = consumer(&weir, "g", &coop);
    let owner = registry.listener("a");
    let a_revoked = Arc::clone(&owner.revoked);
    a.set_rebalance_listener(owner).unwrap();
    a.subscribe(&["t"]).unwrap();
    poll_until(&mut a, |a| a.assignment().len() == 6);
    let mut b = consumer(&weir, "g", &coop);
    b.set_rebalance_listener(registry.listener("b")).unwrap();
    b.subscribe(&["t"]).unwrap();
    let deadline = Instant::now() + LONG;
    while registry.owners() != BTreeMap::from([("a".into(), 3), ("b".into(), 3)]) {
        assert!(Instant::now() < deadline, "{:?}", registry.owners());
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
    // a gave up exactly the three partitions that moved, nothing else.
    let revoked: BTreeSet<TopicPartition> = a_revoked.lock().unwrap().iter().cloned().collect();
    assert_eq!(revoked.len(), 3, "{revoked:?}");
    let kept: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    assert!(revoked.is_disjoint(&kept));
    assert_eq!(b.assignment().into_iter().collect::<BTreeSet<_>>(), revoked);
}

#[test]
fn a_static_member_restarting_keeps_its_partitions_without_a_rebalance() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 4, &[]).unwrap();
    let mut a = consumer(&weir, "g", &[("group.instance.id", "pod-a")]);
    a.subscribe(&["t"]).unwrap();
    let mut b = consumer(&weir, "g", &[("group.instance.id", "pod-b")]);
    b.subscribe(&["t"]).unwrap();
    let deadline = Instant::now() + LONG;
    while a.assignment().is_empty() || b.assignment().is_empty() {
        assert!(Instant::now() < deadline);
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
    let generation = b.generation();
    let b_partitions = b.assignment();
    b.close();
    drop(b);
    let mut b2 = consumer(&weir, "g", &[("group.instance.id", "pod-b")]);
    b2.subscribe(&["t"]).unwrap();
    poll_until(&mut b2, |b2| !b2.assignment().is_empty());
    assert_eq!(b2.assignment(), b_partitions);
    assert_eq!(
        b2.generation(),
        generation,
        "no rebalance for a returning static member"
    );
    a.poll(Duration::from_millis(10)).unwrap();
    assert_eq!(a.generation(), generation);
}

#[test]
fn commits_are_fenced_by_generation_and_survive_a_restart() {
    let (dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    produce(&weir, "t", 100, 0);
    let mut a = consumer(&weir, "g", &[]);
    a.subscribe(&["t"]).unwrap();
    poll_until(&mut a, |a| a.assignment().len() == 2);
    a.seek_to_beginning(&[]).unwrap(); // poll_until dropped what it read
    let mut got = 0;
    while got < 100 {
        got += a.poll(Duration::from_millis(50)).unwrap().count();
    }
    a.commit_sync().unwrap();
    let tps = [TopicPartition::new("t", 0), TopicPartition::new("t", 1)];
    let committed: i64 = a
        .committed(&tps)
        .unwrap()
        .iter()
        .map(|(_, o)| o.as_ref().unwrap().offset)
        .sum();
    assert_eq!(
        committed, 100,
        "a committed offset is the next offset to read"
    );

    // Async commits with a callback and a future.
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let fut = a.commit_offsets_async(
        &[(
            tps[0].clone(),
            OffsetAndMetadata::new(7).with_metadata("checkpoint"),
        )],
        Some(Box::new(move |r| {
            r.unwrap();
            flag.store(true, Ordering::Release);
        })),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(fut).unwrap();
    a.poll(Duration::from_millis(1)).unwrap();
    assert!(called.load(Ordering::Acquire), "the callback runs in poll");
    assert_eq!(
        a.committed(&tps[..1]).unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .metadata,
        "checkpoint"
    );
    a.commit_sync().unwrap();

    // A member of an old generation cannot commit.
    let mut b = consumer(&weir, "g", &[]);
    b.subscribe(&["t"]).unwrap();
    b.poll(Duration::from_millis(10)).unwrap(); // joins: the group starts rebalancing
    let stale = a.generation();
    poll_both_until_stable(&mut a, &mut b);
    assert_ne!(a.generation(), stale);
    let coordinator = weir.group_coordinator().unwrap();
    let err = coordinator
        .commit(
            "g",
            Some((a.member_id().unwrap(), stale)),
            &[(tps[0].clone(), OffsetAndMetadata::new(1))],
        )
        .unwrap_err();
    assert!(
        matches!(err, weir_group::GroupError::IllegalGeneration { .. }),
        "{err}"
    );
    // A standalone commit into a group with members is refused.
    let mut manual = consumer(&weir, "g", &[]);
    manual.assign(&tps[..1]).unwrap();
    let err = manual
        .commit_offsets_sync(&[(tps[0].clone(), OffsetAndMetadata::new(1))])
        .unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::Group(weir_group::GroupError::GroupNotEmpty { .. })
        ),
        "{err}"
    );
    a.close();
    b.close();
    drop((a, b, manual, coordinator));
    weir.close().unwrap();
    drop(weir);

    // Reopened: the committed offsets are there, and a new member resumes at them.
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    produce(&weir, "t", 10, 100);
    let mut c = consumer(&weir, "g", &[]);
    c.subscribe(&["t"]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + LONG;
    while seen.len() < 10 {
        assert!(Instant::now() < deadline);
        seen.extend(
            c.poll(Duration::from_millis(20))
                .unwrap()
                .iter()
                .map(|r| r.value_str().unwrap().to_string()),
        );
    }
    seen.sort();
    let want: Vec<String> = (100..110).map(|i| i.to_string()).collect();
    assert_eq!(seen, want, "resumed exactly after the committed offsets");
}

fn poll_both_until_stable(a: &mut Consumer, b: &mut Consumer) {
    let deadline = Instant::now() + LONG;
    while a.assignment().len() + b.assignment().len() < 2 || a.generation() != b.generation() {
        assert!(Instant::now() < deadline);
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
}

#[test]
fn a_torn_tail_of_consumer_offsets_loses_no_durable_commit() {
    let dir = tempfile::tempdir().unwrap();
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(1)
        .open()
        .unwrap();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 50, 0);
    let tp = TopicPartition::new("t", 0);
    let mut c = consumer(&weir, "g", &[]);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    c.commit_offsets_sync(&[(tp.clone(), OffsetAndMetadata::new(42))])
        .unwrap();
    drop(c);
    weir.log_dir().simulate_crash_for_test();
    drop(weir);
    // Garbage after the durable commit, as a torn write leaves it.
    let log = dir
        .path()
        .join("__consumer_offsets-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 7, 7]);
    std::fs::write(&log, bytes).unwrap();
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(1)
        .open()
        .unwrap();
    let mut c = consumer(&weir, "g", &[]);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .offset,
        42
    );
}

#[test]
fn pattern_subscriptions_and_new_partitions_rebalance() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("metrics-a", 1, &[]).unwrap();
    weir.admin().create_topic("other", 1, &[]).unwrap();
    let mut c = consumer(&weir, "g", &[]);
    c.subscribe_pattern("metrics-.*").unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 1);
    assert_eq!(c.subscription(), ["metrics-a"]);
    weir.admin().create_topic("metrics-b", 2, &[]).unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 3);
    weir.admin().create_partitions("metrics-a", 3).unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 5);
    assert!(
        c.assignment()
            .iter()
            .all(|tp| tp.topic.starts_with("metrics-"))
    );
}

#[test]
fn auto_commit_commits_positions_on_poll_and_close() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 20, 0);
    let mut c = consumer(
        &weir,
        "g",
        &[
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "0"),
        ],
    );
    c.subscribe(&["t"]).unwrap();
    let mut got = 0;
    while got < 20 {
        got += c.poll(Duration::from_millis(20)).unwrap().count();
    }
    c.close();
    drop(c);
    let mut d = consumer(&weir, "g", &[]);
    let tp = TopicPartition::new("t", 0);
    assert_eq!(
        d.committed(std::slice::from_ref(&tp)).unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .offset,
        20
    );
}

#[test]
fn an_async_commit_whose_future_is_dropped_is_still_fsynced_and_an_empty_one_succeeds() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 10, 0);
    let mut c = consumer(&weir, "g", &[]);
    c.subscribe(&["t"]).unwrap();
    let mut seen = 0;
    poll_until(&mut c, |c| {
        seen = c.position(&TopicPartition::new("t", 0)).unwrap_or(0);
        seen == 10
    });
    // Nothing assigned has moved yet for a fresh consumer of another group:
    // its empty commit completes at once, successfully.
    let mut idle = consumer(&weir, "other", &[]);
    assert!(wait_for(idle.commit_async(None)).is_ok());

    drop(c.commit_async(None));
    // No later call on the consumer: the commit becomes durable by itself.
    let logs: Vec<_> = (0..4)
        .map(|p| weir.partition("__consumer_offsets", p).unwrap())
        .collect();
    let deadline = Instant::now() + LONG;
    while logs.iter().any(|l| l.recovery_point() < l.high_watermark()) {
        assert!(
            Instant::now() < deadline,
            "the dropped commit was never fsynced"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Drives a future on this thread.
fn wait_for<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_secs(1));
    }
}

#[test]
fn manually_assigned_partitions_of_a_group_are_auto_committed() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 10, 0);
    let tp = TopicPartition::new("t", 0);
    let committed = |weir: &Weir| {
        weir.consumer(&[("group.id", "manual")])
            .unwrap()
            .committed(std::slice::from_ref(&tp))
            .unwrap()
            .into_iter()
            .find_map(|(_, o)| o.map(|o| o.offset))
    };
    // On poll, once auto.commit.interval.ms has passed.
    let mut c = weir
        .consumer(&[
            ("group.id", "manual"),
            ("auto.offset.reset", "earliest"),
            ("auto.commit.interval.ms", "0"),
        ])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let deadline = Instant::now() + LONG;
    while c.position(&tp).unwrap() < 10 {
        assert!(Instant::now() < deadline);
        c.poll(Duration::from_millis(20)).unwrap();
    }
    c.poll(Duration::from_millis(1)).unwrap();
    assert_eq!(committed(&weir), Some(10));
    // And on close.
    produce(&weir, "t", 5, 10);
    let mut c = weir
        .consumer(&[
            ("group.id", "manual"),
            ("auto.commit.interval.ms", "600000"),
        ])
        .unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let deadline = Instant::now() + LONG;
    while c.position(&tp).unwrap() < 15 {
        assert!(Instant::now() < deadline);
        c.poll(Duration::from_millis(20)).unwrap();
    }
    c.close();
    assert_eq!(committed(&weir), Some(15));
}

#[test]
fn commits_are_checked_as_kafka_checks_them() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let mut c = consumer(&weir, "g", &[]);
    let tp = TopicPartition::new("t", 0);
    for (tp, offset) in [
        (tp.clone(), OffsetAndMetadata::new(-1)),
        (
            tp.clone(),
            OffsetAndMetadata::new(1).with_metadata("m".repeat(4097)),
        ),
        (TopicPartition::new("t", 5), OffsetAndMetadata::new(1)),
        (TopicPartition::new("nope", 0), OffsetAndMetadata::new(1)),
    ] {
        let what = format!("{tp:?} {offset:?}");
        assert!(c.commit_offsets_sync(&[(tp, offset)]).is_err(), "{what}");
    }
    c.commit_offsets_sync(&[(
        tp.clone(),
        OffsetAndMetadata::new(1).with_metadata("m".repeat(4096)),
    )])
    .unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(committed[0].1.as_ref().map(|o| o.offset), Some(1));
}

#[test]
fn a_cooperative_member_goes_on_consuming_its_partitions_during_a_rebalance() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 4, &[]).unwrap();
    let coop = [("partition.assignment.strategy", "cooperative-sticky")];
    let mut a = consumer(&weir, "g", &coop);
    a.subscribe(&["t"]).unwrap();
    let mut b = consumer(&weir, "g", &coop);
    b.subscribe(&["t"]).unwrap();
    let deadline = Instant::now() + LONG;
    while a.assignment().len() != 2 || b.assignment().len() != 2 {
        assert!(Instant::now() < deadline);
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
    // c joins: the group rebalances, and waits for b, which does not poll.
    let mut c = consumer(&weir, "g", &coop);
    c.subscribe(&["t"]).unwrap();
    c.poll(Duration::from_millis(10)).unwrap();
    produce(&weir, "t", 40, 0);
    let mine = a.assignment();
    let want: i64 = a.end_offsets(&mine).unwrap().iter().map(|(_, o)| o).sum();
    assert!(want > 0);
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while (got as i64) < want && Instant::now() < deadline {
        let records = a.poll(Duration::from_millis(50)).unwrap();
        for r in records.iter() {
            assert!(mine.contains(&TopicPartition::new(r.topic(), r.partition())));
        }
        got += records.count();
    }
    assert_eq!(
        got as i64, want,
        "a stopped consuming while the group rebalanced"
    );
    assert_eq!(a.assignment(), mine);
}

#[test]
fn deleting_a_topic_deletes_the_groups_offsets_for_it() {
    let (dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    admin.create_topic("kept", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    let kept = TopicPartition::new("kept", 0);
    let mut c = consumer(&weir, "g", &[]);
    c.commit_offsets_sync(&[
        (tp.clone(), OffsetAndMetadata::new(5)),
        (kept.clone(), OffsetAndMetadata::new(7)),
    ])
    .unwrap();
    drop(c);
    admin.delete_topic("t").unwrap();
    admin.create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 10, 0);
    let mut c = consumer(&weir, "g", &[]);
    let committed = c.committed(&[tp.clone(), kept.clone()]).unwrap();
    assert_eq!(committed[0].1, None);
    assert_eq!(committed[1].1.as_ref().map(|o| o.offset), Some(7));
    c.subscribe(&["t"]).unwrap();
    let mut offsets = Vec::new();
    poll_until(&mut c, |c| {
        offsets.extend(
            c.poll(Duration::from_millis(20))
                .unwrap()
                .iter()
                .map(|r| r.offset()),
        );
        offsets.len() >= 10
    });
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());
    drop((c, admin, weir));
    // The tombstones are durable: the offsets stay deleted after a reopen.
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    let mut c = consumer(&weir, "g", &[]);
    let committed = c.committed(&[tp, kept]).unwrap();
    assert_eq!(committed[0].1, None);
    assert_eq!(committed[1].1.as_ref().map(|o| o.offset), Some(7));
}

/// Review 18b: a topic's delete that a crash cut short after its data was
/// gone (`LogDir::delete_topic` done, the offsets not yet deleted) leaves no
/// offsets for a topic created again under the name: the next open finishes
/// the delete, before anyone can create one. Before,
/// a group read a new topic of 400,800 records from the old one's offsets
/// and got the last 800.
#[test]
fn a_delete_cut_short_after_the_data_leaves_no_offsets_for_the_topic_created_again() {
    let (dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    admin.create_topic("kept", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    let kept = TopicPartition::new("kept", 0);
    let mut c = consumer(&weir, "g", &[]);
    c.commit_offsets_sync(&[
        (tp.clone(), OffsetAndMetadata::new(5)),
        (kept.clone(), OffsetAndMetadata::new(7)),
    ])
    .unwrap();
    drop(c);
    // The data directory's part of the delete only, as a crash leaves it.
    weir.log_dir().delete_topic("t").unwrap();
    drop((admin, weir));

    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    assert!(
        weir.log_dir().unfinished_deletes().is_empty(),
        "the open finishes the delete"
    );
    weir.admin().create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 10, 0);
    let mut c = consumer(&weir, "g", &[]);
    let committed = c.committed(&[tp.clone(), kept.clone()]).unwrap();
    assert_eq!(committed[0].1, None, "the old topic's offset");
    assert_eq!(committed[1].1.as_ref().map(|o| o.offset), Some(7));
}

/// Review 18c: a commit naming a partition that does not exist (a topic
/// deleted meanwhile) stores the others and reports the unknown one, as
/// Kafka's broker stores a commit's known partitions; a consumer's commits
/// after a subscribed topic was deleted keep its progress on the others.
#[test]
fn a_commit_with_an_unknown_partition_stores_the_others() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("a", 1, &[]).unwrap();
    admin.create_topic("gone", 1, &[]).unwrap();
    let a0 = TopicPartition::new("a", 0);
    let gone0 = TopicPartition::new("gone", 0);
    let mut c = consumer(&weir, "g", &[]);
    admin.delete_topic("gone").unwrap();
    let err = c
        .commit_offsets_sync(&[
            (a0.clone(), OffsetAndMetadata::new(5)),
            (gone0.clone(), OffsetAndMetadata::new(1)),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
    let committed = c.committed(std::slice::from_ref(&a0)).unwrap();
    assert_eq!(committed[0].1.as_ref().map(|o| o.offset), Some(5));
    // Async: the same, the future reporting the unknown partition.
    let async_err = wait_for(c.commit_offsets_async(
        &[
            (a0.clone(), OffsetAndMetadata::new(6)),
            (gone0.clone(), OffsetAndMetadata::new(1)),
        ],
        None,
    ));
    assert!(async_err.is_err());
    c.commit_offsets_sync(&[]).unwrap();
    let committed = c.committed(std::slice::from_ref(&a0)).unwrap();
    assert_eq!(committed[0].1.as_ref().map(|o| o.offset), Some(6));
    // Only unknown partitions: refused as before.
    assert!(
        c.commit_offsets_sync(&[(gone0.clone(), OffsetAndMetadata::new(1))])
            .is_err()
    );
    // The known partitions' durability comes first: a failed fsync is what
    // the partial commit reports, not the unknown partition.
    for p in 0..4 {
        weir.log_dir()
            .partition("__consumer_offsets", p)
            .unwrap()
            .inject_fsync_failure();
    }
    let err = wait_for(c.commit_offsets_async(
        &[
            (a0, OffsetAndMetadata::new(7)),
            (gone0, OffsetAndMetadata::new(1)),
        ],
        None,
    ))
    .unwrap_err();
    assert!(!err.to_string().contains("gone"), "{err}");
}

/// Review 18d: a delete that failed after the topic left the data
/// directory's map (a partition's rename, or its write of weir-topics.json)
/// is still listed as unfinished, so a creation of the name in this process
/// finishes it first and the new topic starts with no committed offsets.
#[test]
fn a_delete_that_failed_midway_is_still_finished_before_a_creation() {
    for fail_at in ["rename", "topics file"] {
        let (dir, weir) = weir();
        let admin = weir.admin();
        admin.create_topic("t", 1, &[]).unwrap();
        let tp = TopicPartition::new("t", 0);
        admin
            .alter_group_offsets("g", &[(tp.clone(), 500)])
            .unwrap();
        let blocker = dir.path().join(format!("{}.tmp", weir_log::TOPICS_FILE));
        match fail_at {
            "rename" => std::fs::remove_dir_all(dir.path().join("t-0")).unwrap(),
            _ => std::fs::create_dir(&blocker).unwrap(),
        }
        assert!(admin.delete_topic("t").is_err(), "{fail_at}");
        assert_eq!(weir.log_dir().unfinished_deletes(), ["t"], "{fail_at}");
        let _ = std::fs::remove_dir(&blocker);
        admin.create_topic("t", 1, &[]).unwrap();
        assert_eq!(
            weir.group_coordinator().unwrap().committed("g", &tp),
            None,
            "{fail_at}"
        );
    }
}

/// A commit that reaches the coordinator after its topic was deleted (it
/// passed the consumer's own check before the delete) is refused, as Kafka's
/// `UNKNOWN_TOPIC_OR_PARTITION`, instead of storing offsets of a deleted
/// topic after its tombstones; the coordinator serializes that check with
/// the tombstoning.
#[test]
fn the_coordinator_refuses_a_commit_to_a_topic_deleted_meanwhile() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let coordinator = weir.group_coordinator().unwrap();
    let t0 = TopicPartition::new("t", 0);
    coordinator
        .commit("g", None, &[(t0.clone(), OffsetAndMetadata::new(1))])
        .unwrap();
    for bad in [TopicPartition::new("t", 2), TopicPartition::new("t", -1)] {
        let err = coordinator
            .commit("g", None, &[(bad.clone(), OffsetAndMetadata::new(1))])
            .unwrap_err();
        assert!(
            matches!(&err, weir_group::GroupError::UnknownTopicOrPartition { partition, .. } if *partition == bad.partition),
            "{err:?}"
        );
    }
    weir.log_dir().delete_topic("t").unwrap();
    let err = coordinator
        .commit("g", None, &[(t0.clone(), OffsetAndMetadata::new(9))])
        .unwrap_err();
    assert!(
        matches!(&err, weir_group::GroupError::UnknownTopicOrPartition { topic, .. } if topic == "t"),
        "{err:?}"
    );
    assert_eq!(coordinator.committed("g", &t0).map(|o| o.offset), Some(1));
}

/// A delete unfinished in this process (the data directory's part done) is
/// finished by the creation of a topic of the name, which then starts with
/// no committed offsets.
#[test]
fn creating_a_topic_finishes_an_unfinished_delete_of_its_name() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    admin.alter_group_offsets("g", &[(tp.clone(), 5)]).unwrap();
    weir.log_dir().delete_topic("t").unwrap();
    assert_eq!(weir.log_dir().unfinished_deletes(), ["t"]);
    admin.create_topic("t", 1, &[]).unwrap();
    assert!(weir.log_dir().unfinished_deletes().is_empty());
    assert_eq!(weir.group_coordinator().unwrap().committed("g", &tp), None);
}

/// Review 18c: a delete whose offsets step failed (here `__consumer_offsets`
/// latched read-only by a failed fsync) stays unfinished, and creating a
/// topic of the name finishes it first, or fails: the new topic is never
/// read from the old topic's offsets, in this process or after a restart.
#[test]
fn a_topic_is_not_created_over_a_delete_whose_offsets_step_failed() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Weir::builder(dir.path())
            .offsets_topic_partitions(1)
            .open()
            .unwrap()
    };
    let weir = open();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    admin.alter_group_offsets("g", &[(tp.clone(), 5)]).unwrap();
    weir.log_dir()
        .partition("__consumer_offsets", 0)
        .unwrap()
        .inject_fsync_failure();
    assert!(admin.alter_group_offsets("h", &[(tp.clone(), 1)]).is_err());
    assert!(matches!(admin.delete_topic("t"), Err(WeirError::Group(_))));
    assert_eq!(weir.log_dir().unfinished_deletes(), ["t"]);
    // Not over the old offsets: the creation finishes the delete first,
    // which the read-only offsets partition refuses.
    assert!(admin.create_topic("t", 1, &[]).is_err());
    assert!(weir.log_dir().topic("t").is_err());
    drop(admin);
    drop(weir);

    let weir = open();
    assert!(weir.log_dir().unfinished_deletes().is_empty());
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let committed = weir.group_coordinator().unwrap().committed("g", &tp);
    assert_eq!(committed, None, "the old topic's offset");
}

/// An unfinished delete (its offsets not yet deleted) is finished when the
/// data directory opens, but a `__consumer_offsets` that does not load does
/// not keep the directory from opening: producing and reading work, the
/// delete stays unfinished, and group operations, and creating a topic of
/// the deleted name, report the damage.
#[test]
fn a_damaged_offsets_topic_does_not_keep_the_data_directory_from_opening() {
    let (dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    weir.admin().create_topic("gone", 1, &[]).unwrap();
    let mut c = consumer(&weir, "g", &[]);
    c.commit_offsets_sync(&[(TopicPartition::new("gone", 0), OffsetAndMetadata::new(1))])
        .unwrap();
    drop(c);
    // The data directory's part of a delete only, as a crash leaves it.
    weir.log_dir().delete_topic("gone").unwrap();
    // A record whose key does not decode, in every offsets partition.
    for p in 0..4 {
        let mut builder = weir_record::BatchBuilder::new(weir_record::BatchOptions::default());
        builder
            .append(&weir_record::Record::new("x").with_key(vec![0u8]))
            .unwrap();
        weir.log_dir()
            .partition("__consumer_offsets", p)
            .unwrap()
            .append_as(
                builder.build().unwrap(),
                weir_log::AppendOrigin::Coordinator,
            )
            .unwrap();
    }
    drop(weir);

    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    produce(&weir, "t", 3, 0);
    assert_eq!(weir.log_dir().unfinished_deletes(), ["gone"]);
    let err = weir.group_coordinator().unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::Group(weir_group::GroupError::CorruptOffsetsRecord { .. })
        ),
        "{err:?}"
    );
    let err = weir.admin().create_topic("gone", 1, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            WeirError::Group(weir_group::GroupError::CorruptOffsetsRecord { .. })
        ),
        "{err:?}"
    );
}

/// Review 18c: opening a directory that lacks a topic some group committed
/// offsets for (a Kafka broker's log directory holds `__consumer_offsets`
/// with commits for partitions on other brokers) keeps those offsets: only
/// a delete made here deletes a topic's offsets, as in Kafka.
#[test]
fn offsets_of_a_topic_the_directory_does_not_hold_are_kept() {
    let (dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("a", 1, &[]).unwrap();
    admin.create_topic("b", 1, &[]).unwrap();
    let mut c = consumer(&weir, "g", &[]);
    c.commit_offsets_sync(&[
        (TopicPartition::new("a", 0), OffsetAndMetadata::new(5)),
        (TopicPartition::new("b", 0), OffsetAndMetadata::new(7)),
    ])
    .unwrap();
    drop((c, admin));
    weir.close().unwrap();
    drop(weir);
    // The directory without `b`, as a broker's that holds only `a`.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path().join("b-0"), elsewhere.path().join("b-0")).unwrap();
    let topics_file = dir.path().join(weir_log::TOPICS_FILE);
    let mut topics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&topics_file).unwrap()).unwrap();
    topics["topics"].as_object_mut().unwrap().remove("b");
    std::fs::write(&topics_file, serde_json::to_vec(&topics).unwrap()).unwrap();
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    weir.group_coordinator().unwrap();
    weir.close().unwrap();
    drop(weir);
    // `b` copied back in: its group's offset is still there.
    std::fs::rename(elsewhere.path().join("b-0"), dir.path().join("b-0")).unwrap();
    let weir = Weir::builder(dir.path())
        .offsets_topic_partitions(4)
        .open()
        .unwrap();
    let committed = weir
        .group_coordinator()
        .unwrap()
        .committed("g", &TopicPartition::new("b", 0));
    assert_eq!(committed.map(|o| o.offset), Some(7));
}

#[test]
fn enforce_rebalance_starts_a_new_generation_for_every_member() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let mut a = consumer(&weir, "g", &[]);
    let mut b = consumer(&weir, "g", &[]);
    // Only a subscribed member can ask.
    assert!(matches!(
        a.enforce_rebalance(),
        Err(WeirError::InvalidArgument(_))
    ));
    let registry = Registry::default();
    let (listener_a, listener_b) = (registry.listener("a"), registry.listener("b"));
    let revoked_a = Arc::clone(&listener_a.revoked);
    a.set_rebalance_listener(listener_a).unwrap();
    b.set_rebalance_listener(listener_b).unwrap();
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    poll_both_until_stable(&mut a, &mut b);
    let (before, owned_a, owned_b) = (a.generation(), a.assignment(), b.assignment());
    // (b's join revoked a's partitions once already.)
    revoked_a.lock().unwrap().clear();

    a.enforce_rebalance().unwrap();
    let deadline = Instant::now() + LONG;
    while !(a.generation() > before && a.generation() == b.generation()) {
        assert!(Instant::now() < deadline, "no rebalance");
        a.poll(Duration::from_millis(10)).unwrap();
        b.poll(Duration::from_millis(10)).unwrap();
    }
    // Same members, same subscriptions: the range assignor gives the same,
    // after the eager protocol revoked everything from both first (as
    // Kafka's onJoinPrepare does; the registry checks one owner at a time).
    poll_both_until_stable(&mut a, &mut b);
    assert_eq!((a.assignment(), b.assignment()), (owned_a.clone(), owned_b));
    assert_eq!(*revoked_a.lock().unwrap(), owned_a);
    assert_eq!(registry.owners().values().sum::<usize>(), 2);
}

/// Two members polled with `poll_async` on one thread: a member waiting for
/// the others to rejoin yields to them. Were its heartbeats waking it at once,
/// its poll would never return `Pending`, the other member would never run,
/// and the group would never complete its rebalance.
#[test]
fn members_polled_async_on_one_thread_complete_their_rebalance() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let mut a = consumer(&weir, "g", &[]);
    let mut b = consumer(&weir, "g", &[]);
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let (a, b) = rt.block_on(async move {
            let fa = async move {
                for _ in 0..50 {
                    a.poll_async(Duration::from_millis(50)).await.unwrap();
                    if a.assignment().len() == 1 {
                        break;
                    }
                }
                a
            };
            let fb = async move {
                for _ in 0..50 {
                    b.poll_async(Duration::from_millis(50)).await.unwrap();
                    if b.assignment().len() == 1 {
                        break;
                    }
                }
                b
            };
            tokio::join!(fa, fb)
        });
        let _ = tx.send((a.assignment().len(), b.assignment().len()));
    });
    let (na, nb) = rx.recv_timeout(LONG).expect("the polls returned");
    assert_eq!((na, nb), (1, 1), "each member owns one partition");
}

/// Members closed one after another: the first's leave starts a rebalance, and
/// each later member still commits its positions on close (its generation is
/// the group's until the rebalance completes) and has its partitions revoked,
/// not lost, as Kafka's `close`.
#[test]
fn members_closed_one_after_another_all_commit_on_close() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let auto = [
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "600000"),
    ];
    let mut a = consumer(&weir, "g", &auto);
    let mut b = consumer(&weir, "g", &auto);
    let revoked = Arc::new(Mutex::new(Vec::new()));
    struct Revoked(Arc<Mutex<Vec<&'static str>>>);
    impl ConsumerRebalanceListener for Revoked {
        fn on_partitions_revoked(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
            if !p.is_empty() {
                self.0.lock().unwrap().push("revoked");
            }
        }
        fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
            if !p.is_empty() {
                self.0.lock().unwrap().push("lost");
            }
        }
    }
    a.subscribe(&["t"]).unwrap();
    b.set_rebalance_listener(Revoked(Arc::clone(&revoked)))
        .unwrap();
    b.subscribe(&["t"]).unwrap();
    poll_both_until_stable(&mut a, &mut b);
    revoked.lock().unwrap().clear();
    // Ten records in each partition, read by their owners.
    let producer = weir.producer(&[("linger.ms", "1")]).unwrap();
    for p in 0..2 {
        for i in 0..10 {
            producer
                .send(ProducerRecord::new("t", format!("{i}")).partition(p))
                .unwrap();
        }
    }
    producer.close();
    let deadline = Instant::now() + LONG;
    let (mut na, mut nb) = (0, 0);
    while na < 10 || nb < 10 {
        assert!(Instant::now() < deadline);
        na += a.poll(Duration::from_millis(10)).unwrap().count();
        nb += b.poll(Duration::from_millis(10)).unwrap().count();
    }
    a.close();
    b.close();
    let coordinator = weir.group_coordinator().unwrap();
    for p in 0..2 {
        let committed = coordinator.committed("g", &TopicPartition::new("t", p));
        assert_eq!(committed.map(|c| c.offset), Some(10), "partition {p}");
    }
    assert_eq!(*revoked.lock().unwrap(), ["revoked"]);
}

/// As Kafka's consumer: a closed consumer's poll fails and does nothing (it
/// does not join its group again); subscribing to no topic unsubscribes; a
/// poll with neither a subscription nor an assignment is an error.
#[test]
fn a_closed_or_unsubscribed_consumer_is_no_member_and_cannot_poll() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let coordinator = weir.group_coordinator().unwrap();
    let members = |g: &str| coordinator.describe_group(g).unwrap().members.len();

    let mut c = consumer(&weir, "g", &[]);
    c.subscribe(&["t"]).unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 2);
    assert_eq!(members("g"), 1);
    c.subscribe(&[]).unwrap();
    assert_eq!(members("g"), 0, "subscribe(&[]) left the group");
    assert!(c.assignment().is_empty());
    assert!(matches!(
        c.poll(Duration::from_millis(10)),
        Err(WeirError::NotSubscribed)
    ));

    c.subscribe(&["t"]).unwrap();
    poll_until(&mut c, |c| c.assignment().len() == 2);
    c.close();
    assert_eq!(members("g"), 0);
    assert!(matches!(
        c.poll(Duration::from_millis(10)),
        Err(WeirError::Closed { .. })
    ));
    assert_eq!(members("g"), 0, "the closed consumer did not join again");

    let mut fresh = consumer(&weir, "h", &[]);
    assert!(matches!(
        fresh.poll(Duration::from_millis(10)),
        Err(WeirError::NotSubscribed)
    ));
}

/// `group.protocol` and `exclude.internal.topics` are checked as Kafka checks
/// them, and `exclude.internal.topics=false` lets a pattern subscription
/// match the offsets topic (Kafka's way to read it).
#[test]
fn group_protocol_and_exclude_internal_topics_are_kafkas() {
    for (k, v) in [
        ("group.protocol", "bogus"),
        ("group.protocol", "consumer"),
        ("exclude.internal.topics", "maybe"),
    ] {
        let err = weir::ConsumerConfig::from_props([(k, v)]).unwrap_err();
        assert!(err.to_string().contains(k), "{err}");
    }
    assert!(weir::ConsumerConfig::from_props([("group.protocol", "CLASSIC")]).is_ok());

    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    // A commit creates the offsets topic.
    let mut writer = consumer(&weir, "w", &[]);
    writer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    writer
        .commit_offsets_sync(&[(TopicPartition::new("t", 0), OffsetAndMetadata::new(0))])
        .unwrap();
    let mut hidden = consumer(&weir, "g1", &[]);
    hidden.subscribe_pattern("__consumer_offsets|t").unwrap();
    assert_eq!(hidden.subscription(), ["t"]);
    let mut shown = consumer(&weir, "g2", &[("exclude.internal.topics", "false")]);
    shown.subscribe_pattern("__consumer_offsets|t").unwrap();
    assert_eq!(shown.subscription(), ["__consumer_offsets", "t"]);
}

/// As Kafka: `subscribe(&[])` without a `group.id` is an error (Kafka's
/// `InvalidGroupIdException`), and the manual assignment stays.
#[test]
fn subscribing_to_nothing_without_a_group_id_is_an_error() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 1, &[]).unwrap();
    let mut c = weir.consumer(&[("auto.offset.reset", "earliest")]).unwrap();
    let tp = TopicPartition::new("t", 0);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert!(c.subscribe(&[]).is_err());
    assert_eq!(c.assignment(), vec![tp]);
}

/// Review finding: a `__consumer_offsets` adopted from a Kafka directory kept
/// the default `cleanup.policy=delete`, and retention deleted commits older
/// than a week. The coordinator's configs apply to it, as Kafka's broker
/// applies them to its internal topics.
#[test]
fn an_adopted_offsets_topic_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("__consumer_offsets-0")).unwrap();
    let weir = Weir::open(dir.path()).unwrap();
    weir.group_coordinator().unwrap();
    let topic = weir.log_dir().topic("__consumer_offsets").unwrap();
    assert!(topic.config().log_config().cleanup_policy.compact);
}

/// Review 13: `commit_sync` ran no async commit's callback (Kafka's runs the
/// callbacks of every async commit made before it, in order, before it
/// returns), and a refused or empty `commit_async` ran its callback inside
/// the call, ahead of the callbacks of earlier commits.
#[test]
fn async_commit_callbacks_run_in_order_and_before_commit_sync_returns() {
    let (_dir, weir) = weir();
    let (tp, mut c) = member_that_read_3(&weir, &[]);
    let order = Arc::new(Mutex::new(Vec::new()));
    let push = |name: &'static str| -> Option<weir::CommitCallback> {
        let order = Arc::clone(&order);
        Some(Box::new(move |r: Result<(), WeirError>| {
            order.lock().unwrap().push((name, r.is_ok()));
        }))
    };
    drop(c.commit_offsets_async(&[(tp.clone(), OffsetAndMetadata::new(1))], push("x")));
    // Refused: metadata over offset.metadata.max.bytes.
    drop(c.commit_offsets_async(
        &[(
            tp.clone(),
            OffsetAndMetadata::new(2).with_metadata("m".repeat(5000)),
        )],
        push("y"),
    ));
    drop(c.commit_offsets_async(&[], push("z")));
    assert!(
        order.lock().unwrap().is_empty(),
        "a callback ran inside commit_async"
    );
    c.commit_sync().unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        [("x", true), ("y", false), ("z", true)]
    );
    c.close();
}

/// Review 13, finding 1: a poll waiting longer than `max.poll.interval.ms`
/// got its own member expired (nothing marked it as polling while it
/// waited): it lost its partitions without a commit and rejoined, and its
/// records came again. Kafka's poll loop returns to its coordinator at least
/// once a heartbeat interval. A long poll also never auto-committed.
#[test]
fn a_poll_waiting_past_max_poll_interval_keeps_its_membership_and_auto_commits() {
    let (_dir, weir) = weir();
    let (tp, mut c) = member_that_read_3(
        &weir,
        &[
            ("max.poll.interval.ms", "300"),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "400"),
        ],
    );
    let member = c.member_id().unwrap().to_string();
    // One idle poll, longer than max.poll.interval.ms and the auto-commit
    // interval.
    assert!(c.poll(Duration::from_millis(1000)).unwrap().is_empty());
    let committed = weir
        .group_coordinator()
        .unwrap()
        .committed("g", &tp)
        .map(|o| o.offset);
    assert_eq!(committed, Some(3), "auto-committed during the poll");
    produce(&weir, "t", 1, 3);
    let got: Vec<i64> = c
        .poll(Duration::from_secs(5))
        .unwrap()
        .iter()
        .map(|r| r.offset())
        .collect();
    assert_eq!(got, [3]);
    assert_eq!(c.member_id(), Some(member.as_str()));
    c.close();
}

/// Review 13, finding 2: a group change after the poll read its group's
/// status (here a member joining from the poll's own `on_partitions_assigned`)
/// was missed: the poll registered a new listener only once it waited for
/// data, and slept to its timeout while the group waited for it.
#[test]
fn a_rebalance_started_during_the_assigned_callback_is_joined_in_the_same_poll() {
    struct JoinOther {
        coordinator: Arc<weir_group::GroupCoordinator>,
        joined_at: Arc<Mutex<Option<Instant>>>,
        revoked_at: Arc<Mutex<Option<Instant>>>,
    }
    impl ConsumerRebalanceListener for JoinOther {
        fn on_partitions_assigned(&mut self, _: &mut Consumer, _: &[TopicPartition]) {
            let mut joined = self.joined_at.lock().unwrap();
            if joined.is_none() {
                self.coordinator
                    .join(
                        "g",
                        weir_group::JoinOptions {
                            group_instance_id: None,
                            client_id: "other".into(),
                            topics: vec!["t".into()],
                            assignors: vec![weir_group::AssignorKind::Range],
                            session_timeout: Duration::from_secs(45),
                            rebalance_timeout: Duration::from_secs(300),
                            liveness: None,
                        },
                    )
                    .unwrap();
                *joined = Some(Instant::now());
            }
        }
        fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
            if !partitions.is_empty() {
                self.revoked_at
                    .lock()
                    .unwrap()
                    .get_or_insert(Instant::now());
            }
        }
    }
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let joined_at = Arc::new(Mutex::new(None));
    let revoked_at = Arc::new(Mutex::new(None));
    let mut a = consumer(&weir, "g", &[("partition.assignment.strategy", "range")]);
    a.set_rebalance_listener(JoinOther {
        coordinator: weir.group_coordinator().unwrap(),
        joined_at: Arc::clone(&joined_at),
        revoked_at: Arc::clone(&revoked_at),
    })
    .unwrap();
    a.subscribe(&["t"]).unwrap();
    a.poll(Duration::from_secs(4)).unwrap();
    let joined = joined_at.lock().unwrap().expect("assigned in the poll");
    let revoked = revoked_at
        .lock()
        .unwrap()
        .expect("rejoined the rebalance in the poll");
    // At once, not at the poll's timeout.
    assert!(
        revoked - joined < Duration::from_secs(2),
        "{:?}",
        revoked - joined
    );
}

/// Review 13, finding 3: members expire only when some member calls its
/// group, and a poll waiting for data never woke at another member's
/// deadline: a member that stopped polling kept its partitions until the
/// others' polls timed out.
#[test]
fn a_waiting_poll_takes_over_from_a_member_that_stopped_polling() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let extra = [("partition.assignment.strategy", "range")];
    let mut a = consumer(&weir, "g", &extra);
    let mut b = consumer(
        &weir,
        "g",
        &[
            ("partition.assignment.strategy", "range"),
            ("max.poll.interval.ms", "500"),
        ],
    );
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    poll_both_until_stable(&mut a, &mut b);
    let b_owns = b.assignment();
    assert_eq!(b_owns.len(), 1);
    // b stops polling (alive, stuck in its processing).
    let producer = weir.producer(&[("linger.ms", "0")]).unwrap();
    for i in 0..5 {
        producer
            .send(ProducerRecord::new("t", format!("{i}")).partition(b_owns[0].partition))
            .unwrap()
            .wait()
            .unwrap();
    }
    let started = Instant::now();
    let mut got = 0;
    while got < 5 && started.elapsed() < Duration::from_secs(10) {
        got += a.poll(Duration::from_secs(10)).unwrap().count();
    }
    assert_eq!(got, 5);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(b);
}

/// Review 13 (this session's diffs): a cooperative member waiting in a
/// rebalance never auto-committed, so once its auto-commit was due the
/// deadline its poll waited for stayed in the past, and the poll spun:
/// `poll_async` ran its whole timeout inside one `Future::poll`.
#[test]
fn a_cooperative_member_waiting_in_a_rebalance_does_not_spin() {
    let (_dir, weir) = weir();
    weir.admin().create_topic("t", 2, &[]).unwrap();
    let extra = [
        ("partition.assignment.strategy", "cooperative-sticky"),
        ("enable.auto.commit", "true"),
        ("auto.commit.interval.ms", "100"),
    ];
    let mut a = consumer(&weir, "g", &extra);
    let mut b = consumer(&weir, "g", &extra);
    a.subscribe(&["t"]).unwrap();
    b.subscribe(&["t"]).unwrap();
    poll_both_until_stable(&mut a, &mut b);
    // c joins: the rebalance waits for b, which stops polling.
    let mut c = consumer(&weir, "g", &extra);
    c.subscribe(&["t"]).unwrap();
    c.poll(Duration::from_millis(10)).unwrap();
    // a's auto-commit is due.
    thread::sleep(Duration::from_millis(200));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut poll = std::pin::pin!(a.poll_async(Duration::from_secs(2)));
    assert!(
        std::future::Future::poll(poll.as_mut(), &mut cx).is_pending(),
        "the poll ran to its timeout without yielding"
    );
    drop(b);
}

/// Review 13 (this session's diffs): after `close`, an async commit's
/// callback was queued for a poll that never comes, and explicit offsets
/// were still written. As Kafka's (which throws), a closed consumer commits
/// nothing: the commit fails with `Closed`, and its callback says so.
#[test]
fn a_closed_consumer_commits_nothing_and_its_callbacks_still_run() {
    let (_dir, weir) = weir();
    let (tp, mut c) = member_that_read_3(&weir, &[]);
    c.close();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    for explicit in [false, true] {
        let o = Arc::clone(&outcomes);
        let cb: weir::CommitCallback = Box::new(move |r: Result<(), WeirError>| {
            o.lock()
                .unwrap()
                .push(matches!(r, Err(WeirError::Closed { .. })));
        });
        let fut = if explicit {
            c.commit_offsets_async(&[(tp.clone(), OffsetAndMetadata::new(1))], Some(cb))
        } else {
            c.commit_async(Some(cb))
        };
        assert!(matches!(wait_for(fut), Err(WeirError::Closed { .. })));
    }
    assert_eq!(*outcomes.lock().unwrap(), [true, true]);
    assert!(matches!(
        c.commit_offsets_sync(&[(tp.clone(), OffsetAndMetadata::new(1))]),
        Err(WeirError::Closed { .. })
    ));
    drop(c);
    // Nothing was written after close (auto-commit is off: close committed
    // nothing either).
    let committed = weir
        .group_coordinator()
        .unwrap()
        .committed("g", &tp)
        .map(|o| o.offset);
    assert_eq!(committed, None);
}

/// Review 14, finding 1: deleting `__consumer_offsets` while the coordinator
/// held it left every later commit failing on closed partitions while
/// consumers kept reading the deleted offsets from memory. It is refused,
/// and groups are dropped with `delete_group` instead.
#[test]
fn the_offsets_topic_cannot_be_deleted_and_groups_are_deleted_instead() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    let tp = TopicPartition::new("t", 0);
    admin.alter_group_offsets("g", &[(tp.clone(), 3)]).unwrap();
    let err = admin.delete_topic("__consumer_offsets").unwrap_err();
    assert!(
        matches!(
            &err,
            WeirError::InternalTopic { topic, operation: InternalTopicOperation::Delete }
                if topic == "__consumer_offsets"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("delete_group"), "{err}");
    // Nothing was deleted: the groups go on.
    admin.alter_group_offsets("g", &[(tp.clone(), 5)]).unwrap();
    let offsets = admin.list_group_offsets("g").unwrap();
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0].1.offset, 5);
    admin.delete_group("g").unwrap();
    assert!(admin.list_groups().unwrap().is_empty());
    assert_eq!(weir.group_coordinator().unwrap().committed("g", &tp), None);
}

/// Review 14, finding 4: a negative offset was stored, which consumers then
/// ignored. Refused as a consumer's commit refuses it; nothing is stored.
#[test]
fn alter_group_offsets_refuses_a_negative_offset() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 2, &[]).unwrap();
    let r = admin.alter_group_offsets(
        "g",
        &[
            (TopicPartition::new("t", 1), 2),
            (TopicPartition::new("t", 0), -5),
        ],
    );
    assert!(
        matches!(&r, Err(WeirError::InvalidArgument(m)) if m.contains("t-0") && m.contains("-5")),
        "{r:?}"
    );
    assert!(admin.list_group_offsets("g").unwrap().is_empty());
}

/// Review 14, finding 7: a committed offset past the log end showed lag 0.
/// As `kafka-consumer-groups`, the lag is negative.
#[test]
fn group_lag_is_negative_for_an_offset_past_the_log_end() {
    let (_dir, weir) = weir();
    let admin = weir.admin();
    admin.create_topic("t", 1, &[]).unwrap();
    produce(&weir, "t", 5, 0);
    let tp = TopicPartition::new("t", 0);
    admin
        .alter_group_offsets("g", &[(tp.clone(), 100)])
        .unwrap();
    let lag = admin.group_lag("g").unwrap();
    assert_eq!(lag.len(), 1);
    assert_eq!(
        (lag[0].current_offset, lag[0].log_end_offset, lag[0].lag),
        (Some(100), 5, Some(-95))
    );
}

/// Review 14, finding 8: a dry run planned a reset for a group with active
/// members, which executing then refused. Both are refused, as Kafka does.
#[test]
fn resetting_the_offsets_of_a_group_with_members_is_refused_even_as_a_dry_run() {
    let (_dir, weir) = weir();
    let (tp, mut c) = member_that_read_3(&weir, &[]);
    let admin = weir.admin();
    for execute in [false, true] {
        let r = admin.reset_group_offsets("g", "t", ResetSpec::Earliest, execute);
        assert!(
            matches!(
                &r,
                Err(WeirError::Group(weir_group::GroupError::GroupNotEmpty { group, members: 1 }))
                    if group == "g"
            ),
            "execute {execute}: {r:?}"
        );
    }
    c.close();
    drop(c);
    // Empty now: the plan is made, and a group not known yet can be planned too.
    let plan = admin
        .reset_group_offsets("g", "t", ResetSpec::Earliest, false)
        .unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!((plan[0].partition.clone(), plan[0].offset), (tp, 0));
    let plan = admin
        .reset_group_offsets("new", "t", ResetSpec::Latest, false)
        .unwrap();
    assert_eq!((plan[0].previous, plan[0].offset), (None, 3));
}

/// A directory on a clock the test drives, with topic `t` (1 partition) and
/// offsets kept an hour (`offsets.retention.minutes=60`); background threads
/// as `background` says, the expiry pass every 10 ms.
fn weir_on_clock(
    dir: &std::path::Path,
    clock: &Arc<weir_log::ManualClock>,
    background: bool,
) -> Weir {
    let weir = Weir::builder(dir)
        .offsets_topic_partitions(2)
        .clock(Arc::clone(clock) as Arc<dyn weir_log::Clock>)
        .background_thread(background)
        .group_coordinator_property("offsets.retention.minutes", "60")
        .unwrap()
        .group_coordinator_property("offsets.retention.check.interval.ms", "10")
        .unwrap()
        .open()
        .unwrap();
    if weir.topic("t").is_err() {
        weir.admin().create_topic("t", 1, &[]).unwrap();
    }
    weir
}

const HOUR_MS: i64 = 3_600_000;

/// A consumer of group `standalone` assigned `tp` (not a member), having
/// committed offset 3 for it.
fn standalone_commit(weir: &Weir, tp: &TopicPartition) -> Consumer {
    let mut c = consumer(weir, "standalone", &[]);
    c.assign(std::slice::from_ref(tp)).unwrap();
    c.commit_offsets_sync(&[(tp.clone(), OffsetAndMetadata::new(3))])
        .unwrap();
    c
}

#[test]
fn committed_offsets_expire_after_offsets_retention_minutes_and_stay_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let weir = weir_on_clock(dir.path(), &clock, false);
    let tp = TopicPartition::new("t", 0);
    let mut c = standalone_commit(&weir, &tp);

    clock.advance(HOUR_MS - 1);
    assert!(weir.expire_offsets().unwrap().offsets.is_empty());
    clock.advance(1);
    let expired = weir.expire_offsets().unwrap();
    assert_eq!(
        expired.offsets,
        vec![("standalone".to_string(), tp.clone())]
    );
    assert_eq!(expired.groups, vec!["standalone".to_string()]);
    assert_eq!(c.committed(std::slice::from_ref(&tp)).unwrap()[0].1, None);
    assert!(weir.admin().list_groups().unwrap().is_empty());
    drop(c);
    drop(weir);

    // Reopened: the tombstones were replayed, nothing comes back.
    let weir = weir_on_clock(dir.path(), &clock, false);
    let mut c = consumer(&weir, "standalone", &[]);
    assert_eq!(c.committed(std::slice::from_ref(&tp)).unwrap()[0].1, None);
    // And the consumer starts over per auto.offset.reset, as in Kafka.
    produce(&weir, "t", 2, 0);
    c.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(c.position(&tp).unwrap(), 0);
}

#[test]
fn the_background_thread_expires_offsets_every_check_interval() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let weir = weir_on_clock(dir.path(), &clock, true);
    let tp = TopicPartition::new("t", 0);
    let mut c = standalone_commit(&weir, &tp);
    clock.advance(2 * HOUR_MS);
    let deadline = Instant::now() + LONG;
    while c.committed(std::slice::from_ref(&tp)).unwrap()[0]
        .1
        .is_some()
    {
        assert!(Instant::now() < deadline, "the offset never expired");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn offsets_an_open_transaction_carries_do_not_expire_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let weir = weir_on_clock(dir.path(), &clock, false);
    let tp = TopicPartition::new("t", 0);
    let mut c = standalone_commit(&weir, &tp);
    let p = weir
        .producer(&[
            ("transactional.id", "expiry"),
            ("transaction.timeout.ms", "900000"),
        ])
        .unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(
        &[(tp.clone(), OffsetAndMetadata::new(4))],
        &weir::ConsumerGroupMetadata::new("standalone"),
    )
    .unwrap();
    clock.advance(2 * HOUR_MS);
    let expired = weir.expire_offsets().unwrap();
    assert!(
        expired.offsets.is_empty() && expired.groups.is_empty(),
        "{expired:?}"
    );
    p.commit_transaction().unwrap();
    // Committed now: a fresh hour.
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).unwrap()[0]
            .1
            .as_ref()
            .map(|o| o.offset),
        Some(4)
    );
    assert!(weir.expire_offsets().unwrap().offsets.is_empty());
    clock.advance(HOUR_MS);
    assert_eq!(weir.expire_offsets().unwrap().offsets.len(), 1);
}

#[test]
fn group_coordinator_properties_are_checked_as_kafka_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("offsets.retention.minutes", "0"),
        ("offsets.retention.minutes", "2147483648"),
        ("offsets.retention.minutes", "a week"),
        ("offsets.retention.check.interval.ms", "0"),
        ("offsets.topic.num.partitions", "-1"),
        ("offsets.retention.hours", "1"),
    ] {
        let err = Weir::builder(dir.path())
            .group_coordinator_property(key, value)
            .unwrap_err();
        assert!(
            matches!(err, WeirError::Config(_)) && err.to_string().contains(key),
            "{key}={value}: {err}"
        );
    }
    Weir::builder(dir.path())
        .group_coordinator_property("offsets.retention.minutes", "2147483647")
        .unwrap()
        .group_coordinator_property("offsets.topic.num.partitions", "3")
        .unwrap();
}

#[test]
fn offsets_past_their_retention_are_gone_as_soon_as_the_group_coordinator_opens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let weir = weir_on_clock(dir.path(), &clock, false);
    let tp = TopicPartition::new("t", 0);
    drop(standalone_commit(&weir, &tp));
    drop(weir);

    // A process that starts after the retention ran out: the first pass runs
    // when its group coordinator opens (the next only an hour later).
    clock.advance(2 * HOUR_MS);
    let weir = Weir::builder(dir.path())
        .clock(Arc::clone(&clock) as Arc<dyn weir_log::Clock>)
        .offsets_retention(Duration::from_secs(3600))
        .offsets_retention_check_interval(Duration::from_secs(3600))
        .open()
        .unwrap();
    let coordinator = weir.group_coordinator().unwrap();
    assert_eq!(coordinator.committed("standalone", &tp), None);
    assert!(coordinator.list_groups().is_empty());
}

/// The last handle dropped while a background pass runs closes the directory
/// on the dropping thread: it can be opened again at once.
#[test]
fn dropping_the_last_handle_during_a_background_pass_frees_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    {
        let weir = weir_on_clock(dir.path(), &clock, false);
        let coordinator = weir.group_coordinator().unwrap();
        // Many standalone groups: a pass takes a while.
        for i in 0..3000 {
            coordinator
                .commit(
                    &format!("s{i}"),
                    None,
                    &[(TopicPartition::new("t", 0), weir::OffsetAndMetadata::new(1))],
                )
                .unwrap();
        }
    }
    for attempt in 0..40u64 {
        let weir = weir_on_clock(dir.path(), &clock, true); // a pass every 10 ms
        drop(weir.group_coordinator().unwrap());
        thread::sleep(Duration::from_millis(10 + attempt % 7));
        drop(weir);
        let again = Weir::builder(dir.path())
            .clock(Arc::clone(&clock) as Arc<dyn weir_log::Clock>)
            .background_thread(false)
            .open();
        assert!(again.is_ok(), "attempt {attempt}: {:?}", again.err());
    }
}

/// Retention is the opener's setting, not the directory's: a tool that opens
/// the directory with defaults and `offsets_expiry(false)` (as the `weir`
/// command does) leaves the offsets the application keeps for 30 days.
#[test]
fn an_opener_with_expiry_off_does_not_expire_what_the_application_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let month = Duration::from_secs(30 * 24 * 3600);
    let tp = TopicPartition::new("t", 0);
    let app = |background: bool| {
        Weir::builder(dir.path())
            .clock(Arc::clone(&clock) as Arc<dyn weir_log::Clock>)
            .background_thread(background)
            .offsets_retention(month)
            .open()
            .unwrap()
    };
    {
        let weir = app(false);
        weir.admin().create_topic("t", 1, &[]).unwrap();
        let mut c = consumer(&weir, "app", &[]);
        c.assign(std::slice::from_ref(&tp)).unwrap();
        c.commit_offsets_sync(&[(tp.clone(), OffsetAndMetadata::new(3))])
            .unwrap();
    }
    clock.advance(8 * 24 * HOUR_MS);
    {
        // `weir groups list`
        let weir = Weir::builder(dir.path())
            .clock(Arc::clone(&clock) as Arc<dyn weir_log::Clock>)
            .offsets_expiry(false)
            .open()
            .unwrap();
        let _ = weir.admin().list_groups().unwrap();
        weir.close().unwrap();
    }
    let weir = app(false);
    assert_eq!(
        weir.group_coordinator()
            .unwrap()
            .committed("app", &tp)
            .map(|o| o.offset),
        Some(3)
    );
}

#[test]
fn expired_offsets_are_counted_in_a_metric() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(weir_log::ManualClock::new(1_700_000_000_000));
    let weir = weir_on_clock(dir.path(), &clock, false);
    let _c = standalone_commit(&weir, &TopicPartition::new("t", 0));
    clock.advance(2 * HOUR_MS);
    let recorder = MetricCell::new("kafka.group-coordinator.offset-expiration-total");
    let expired = metrics::with_local_recorder(&recorder, || weir.expire_offsets().unwrap());
    assert_eq!(expired.offsets.len(), 1);
    assert_eq!(recorder.value.load(std::sync::atomic::Ordering::Relaxed), 1);
}

//! Kafka's own sticky and cooperative-sticky assignor test cases, as tables: inputs and
//! the assignment Kafka's tests expect. Each case names the Kafka test method it
//! comes from (files under `clients/src/test/java/org/apache/kafka/clients/consumer/`).
//!
//! Members are listed in the order the Kafka test puts them into its `HashMap`;
//! that order matters to the sticky assignors as it does in Java. Rack-aware
//! variants are not ported (this API takes no replica racks); the
//! "non-rack-aware" expectations of the rack tests are.
//!
//! The last cases are not from Kafka's suite: they pin down behaviour found by
//! the property tests and confirmed against Kafka's Java classes (commit
//! 1eb7644 of apache/kafka, run outside this repository).

mod common;

use std::collections::BTreeMap;

use common::{T1_T2, T123, counts, expected, parse, sorted};
use weir_group::{
    AssignorKind, CooperativeAssignment, CooperativeStickyUserData, GroupAssignment,
    StickyUserData, Subscription, TopicPartition, assign_cooperative_sticky,
};

// ---------------------------------------------------------------------------
// sticky and cooperative-sticky

/// A sticky member: id, topics, and what it owned: `None` for a new member
/// (Kafka's `subscription(topics, i)`), or the owned partitions and generation
/// (Kafka's `buildSubscriptionV2Above`; generation -1 for `DEFAULT_GENERATION`).
type StickyMember = (
    &'static str,
    &'static [&'static str],
    Option<(&'static str, i32)>,
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavor {
    Sticky,
    Cooperative,
}

/// `buildSubscriptionV2Above` of `StickyAssignorTest` / `CooperativeStickyAssignorTest`.
fn v2_above(
    flavor: Flavor,
    id: &str,
    topics: &[&str],
    owned: Vec<TopicPartition>,
    generation: i32,
) -> Subscription {
    let s = Subscription::new(id, topics.iter().copied())
        .with_owned_partitions(owned.clone(), generation);
    match flavor {
        // The previous assignment travels in the user data.
        Flavor::Sticky => s.with_user_data(
            StickyUserData {
                partitions: owned,
                generation: Some(generation),
            }
            .encode()
            .unwrap(),
        ),
        // The test's assignor instance never saw onAssignment: its generation is -1.
        Flavor::Cooperative => {
            s.with_user_data(CooperativeStickyUserData { generation: -1 }.encode())
        }
    }
}

fn sticky_members(flavor: Flavor, list: &[StickyMember]) -> Vec<Subscription> {
    list.iter()
        .map(|(id, topics, owned)| match owned {
            None => Subscription::new(*id, topics.iter().copied()),
            Some((owned, generation)) => v2_above(flavor, id, topics, parse(owned), *generation),
        })
        .collect()
}

/// `CooperativeStickyAssignorTest.verifyValidityAndBalance`: while members revoke
/// something, rebuild their subscriptions from the assignment (generation 1) and
/// assign again.
fn settle(
    topics: &BTreeMap<String, i32>,
    mut members: Vec<Subscription>,
    first: CooperativeAssignment,
) -> GroupAssignment {
    let mut round = first;
    for _ in 0..4 {
        if !round.needs_follow_up() {
            return round.assignment;
        }
        members = members
            .iter()
            .map(|m| {
                let topics: Vec<&str> = m.topics.iter().map(String::as_str).collect();
                v2_above(
                    Flavor::Cooperative,
                    &m.member_id,
                    &topics,
                    round.assignment[&m.member_id].clone(),
                    1,
                )
            })
            .collect();
        round = assign_cooperative_sticky(topics, &members).unwrap();
    }
    panic!("no stable assignment after 4 follow-up rebalances");
}

struct StickyCase {
    kafka_test: &'static str,
    topics: &'static [(&'static str, i32)],
    members: &'static [StickyMember],
    /// The assignment once settled (for cooperative-sticky: after follow-ups).
    expected: &'static [(&'static str, &'static str)],
    /// For cooperative-sticky, the partitions held back in the first round.
    transferring: &'static [(&'static str, &'static str)],
}

fn run_sticky(cases: &[StickyCase]) {
    for case in cases {
        let topics = counts(case.topics);
        let want = expected(case.expected);

        let eager = AssignorKind::Sticky
            .assign(&topics, &sticky_members(Flavor::Sticky, case.members))
            .unwrap();
        assert_eq!(eager, want, "sticky {}", case.kafka_test);

        let members = sticky_members(Flavor::Cooperative, case.members);
        let first = assign_cooperative_sticky(&topics, &members).unwrap();
        let transferring: BTreeMap<TopicPartition, String> = case
            .transferring
            .iter()
            .map(|(tp, m)| (parse(tp).remove(0), (*m).to_owned()))
            .collect();
        assert_eq!(
            first.transferring, transferring,
            "cooperative-sticky {}",
            case.kafka_test
        );
        assert_eq!(
            first.target(),
            want,
            "cooperative-sticky target {}",
            case.kafka_test
        );
        assert_eq!(
            AssignorKind::CooperativeSticky
                .assign(&topics, &members)
                .unwrap(),
            first.assignment,
            "{}",
            case.kafka_test
        );
        assert_eq!(
            settle(&topics, members, first),
            want,
            "cooperative-sticky {}",
            case.kafka_test
        );
    }
}

const TOPIC: &[&str] = &["topic"];
const TOPIC_TOPIC2: &[&str] = &["topic", "topic2"];
const ALL4: &[&str] = &["topic", "topic2", "topic3", "topic1"];

#[rustfmt::skip]
const STICKY_CASES: &[StickyCase] = &[
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOneConsumerNoTopic",
        topics: &[],
        members: &[("consumer", &[], None)],
        expected: &[("consumer", "")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOneConsumerNonexistentTopic",
        topics: &[("topic", 0)],
        members: &[("consumer", TOPIC, None)],
        expected: &[("consumer", "")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOneConsumerOneTopic",
        topics: &[("topic", 3)],
        members: &[("consumer", TOPIC, None)],
        expected: &[("consumer", "topic-0, topic-1, topic-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics",
        topics: &[("topic", 2)],
        members: &[("consumer", TOPIC, Some(("topic-0, topic-1, other-0, other-1", 1)))],
        expected: &[("consumer", "topic-0, topic-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOneConsumerMultipleTopics",
        topics: &[("topic1", 1), ("topic2", 2)],
        members: &[("consumer", T1_T2, None)],
        expected: &[("consumer", "topic1-0, topic2-0, topic2-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testTwoConsumersOneTopicTwoPartitions",
        topics: &[("topic", 2)],
        members: &[("consumer1", TOPIC, None), ("consumer2", TOPIC, None)],
        expected: &[("consumer1", "topic-0"), ("consumer2", "topic-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testMultipleConsumersMixedTopicSubscriptions",
        topics: &[("topic1", 3), ("topic2", 2)],
        members: &[("consumer1", &["topic1"], None), ("consumer2", T1_T2, None), ("consumer3", &["topic1"], None)],
        expected: &[("consumer1", "topic1-0, topic1-2"), ("consumer2", "topic2-0, topic2-1"), ("consumer3", "topic1-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer1", T1_T2, None), ("consumer2", T1_T2, None)],
        expected: &[("consumer1", "topic1-0, topic1-2, topic2-1"), ("consumer2", "topic1-1, topic2-0, topic2-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testConsumerOwningMinQuotaExpectedMaxQuota",
        topics: &[("topic1", 2), ("topic2", 3)],
        members: &[("consumer1", T1_T2, Some(("topic1-0, topic2-1", 1))), ("consumer2", T1_T2, Some(("topic1-1, topic2-2", 1)))],
        expected: &[("consumer1", "topic1-0, topic2-1, topic2-0"), ("consumer2", "topic1-1, topic2-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers",
        topics: &[("topic1", 2), ("topic2", 2)],
        members: &[("consumer1", T1_T2, Some(("topic1-0, topic2-0", 1))), ("consumer2", T1_T2, Some(("topic1-1, topic2-1", 1))), ("consumer3", T1_T2, Some(("", 1)))],
        expected: &[("consumer1", "topic1-0"), ("consumer2", "topic1-1, topic2-1"), ("consumer3", "topic2-0")],
        transferring: &[("topic2-0", "consumer3")],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAllConsumersAreUnderMinQuota",
        topics: &[("topic1", 2), ("topic2", 3)],
        members: &[("consumer1", T1_T2, Some(("topic1-0", 1))), ("consumer2", T1_T2, Some(("topic1-1", 1))), ("consumer3", T1_T2, Some(("", 1)))],
        expected: &[("consumer1", "topic1-0, topic2-1"), ("consumer2", "topic1-1, topic2-2"), ("consumer3", "topic2-0")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic (round 1)",
        topics: &[("topic", 3)],
        members: &[("consumer1", TOPIC, None)],
        expected: &[("consumer1", "topic-0, topic-1, topic-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic (round 2)",
        topics: &[("topic", 3)],
        members: &[("consumer1", TOPIC, Some(("topic-0, topic-1, topic-2", 1))), ("consumer2", TOPIC, Some(("", 1)))],
        expected: &[("consumer1", "topic-0, topic-1"), ("consumer2", "topic-2")],
        transferring: &[("topic-2", "consumer2")],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic (round 3)",
        topics: &[("topic", 3)],
        members: &[("consumer2", TOPIC, Some(("topic-2", 1)))],
        expected: &[("consumer2", "topic-0, topic-1, topic-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics (round 1)",
        topics: &[("topic1", 3), ("topic2", 4)],
        members: &[("consumer1", T1_T2, None), ("consumer2", T1_T2, None)],
        expected: &[("consumer1", "topic1-0, topic1-2, topic2-1, topic2-3"), ("consumer2", "topic1-1, topic2-0, topic2-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics (round 2)",
        topics: &[("topic1", 3), ("topic2", 4)],
        members: &[("consumer1", T1_T2, Some(("topic1-0, topic1-2, topic2-1, topic2-3", 1))), ("consumer2", T1_T2, Some(("topic1-1, topic2-0, topic2-2", 1))), ("consumer3", T1_T2, Some(("", 1))), ("consumer4", T1_T2, Some(("", 1)))],
        expected: &[("consumer1", "topic1-0, topic2-1"), ("consumer2", "topic2-0, topic1-1"), ("consumer3", "topic1-2, topic2-3"), ("consumer4", "topic2-2")],
        transferring: &[("topic1-2", "consumer3"), ("topic2-3", "consumer3"), ("topic2-2", "consumer4")],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics (round 3)",
        topics: &[("topic1", 3), ("topic2", 4)],
        members: &[("consumer3", T1_T2, Some(("topic1-2, topic2-3", 1))), ("consumer4", T1_T2, Some(("topic2-2", 1)))],
        expected: &[("consumer3", "topic1-2, topic2-3, topic1-0, topic2-1"), ("consumer4", "topic2-2, topic1-1, topic2-0")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testAllConsumersReachExpectedQuotaAndAreConsideredFilled",
        topics: &[("topic", 4)],
        members: &[("consumer1", TOPIC, Some(("topic-0, topic-1", 1))), ("consumer2", TOPIC, Some(("topic-2", 1))), ("consumer3", TOPIC, Some(("", 1)))],
        expected: &[("consumer1", "topic-0, topic-1"), ("consumer2", "topic-2"), ("consumer3", "topic-3")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration",
        topics: &[("topic", 3), ("topic2", 3)],
        members: &[("consumer1", TOPIC_TOPIC2, Some(("topic-0, topic-2, topic2-1", 10))), ("consumer2", TOPIC_TOPIC2, Some(("topic-0, topic-2, topic2-1", 9)))],
        expected: &[("consumer1", "topic-0, topic-2, topic2-1"), ("consumer2", "topic-1, topic2-0, topic2-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithNoGeneration",
        topics: &[("topic", 3), ("topic2", 3)],
        members: &[("consumer1", TOPIC_TOPIC2, Some(("topic-0, topic-2, topic2-1", 10))), ("consumer2", TOPIC_TOPIC2, Some(("topic-0, topic-2, topic2-1", -1)))],
        expected: &[("consumer1", "topic-0, topic-2, topic2-1"), ("consumer2", "topic-1, topic2-0, topic2-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testPartitionsTransferringOwnershipIncludeThePartitionClaimedByMultipleConsumersInSameGeneration",
        topics: &[("topic", 3)],
        members: &[("consumer1", TOPIC, Some(("topic-0, topic-1", 1))), ("consumer2", TOPIC, Some(("topic-0, topic-2", 1))), ("consumer3", TOPIC, Some(("", 1)))],
        expected: &[("consumer1", "topic-1"), ("consumer2", "topic-2"), ("consumer3", "topic-0")],
        transferring: &[("topic-0", "consumer3")],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testEnsurePartitionsAssignedToHighestGeneration",
        topics: &[("topic", 3), ("topic2", 3), ("topic3", 3)],
        members: &[("consumer1", &["topic", "topic2", "topic3"], Some(("topic-0, topic2-0, topic3-0", 10))), ("consumer2", &["topic", "topic2", "topic3"], Some(("topic-1, topic2-1, topic3-1", 9))), ("consumer3", &["topic", "topic2", "topic3"], Some(("topic2-1, topic3-0, topic3-2", 8)))],
        expected: &[("consumer1", "topic-0, topic2-0, topic3-0"), ("consumer2", "topic-1, topic2-1, topic3-1"), ("consumer3", "topic-2, topic2-2, topic3-2")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration",
        topics: &[("topic", 3), ("topic2", 3)],
        members: &[("consumer1", TOPIC_TOPIC2, Some(("topic-0, topic2-1, topic-1", 10))), ("consumer2", TOPIC_TOPIC2, Some(("topic-0, topic2-1, topic2-2", 8)))],
        expected: &[("consumer1", "topic-0, topic2-1, topic-1"), ("consumer2", "topic-2, topic2-2, topic2-0")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testRackAwareAssignmentWithUniformSubscription (non-rack-aware)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", T123, None), ("consumer1", T123, None), ("consumer2", T123, None)],
        expected: &[("consumer0", "t1-0, t1-3, t2-0, t2-3, t2-6"), ("consumer1", "t1-1, t1-4, t2-1, t2-4, t3-0"), ("consumer2", "t1-2, t1-5, t2-2, t2-5, t3-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testRackAwareAssignmentWithUniformSubscription (non-rack-aware, owning the result)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", T123, Some(("t1-0, t1-3, t2-0, t2-3, t2-6", -1))), ("consumer1", T123, Some(("t1-1, t1-4, t2-1, t2-4, t3-0", -1))), ("consumer2", T123, Some(("t1-2, t1-5, t2-2, t2-5, t3-1", -1)))],
        expected: &[("consumer0", "t1-0, t1-3, t2-0, t2-3, t2-6"), ("consumer1", "t1-1, t1-4, t2-1, t2-4, t3-0"), ("consumer2", "t1-2, t1-5, t2-2, t2-5, t3-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testRackAwareAssignmentWithNonEqualSubscription (non-rack-aware)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", T123, None), ("consumer1", T123, None), ("consumer2", &["t1", "t3"], None)],
        expected: &[("consumer0", "t1-5, t2-0, t2-2, t2-4, t2-6"), ("consumer1", "t1-3, t2-1, t2-3, t2-5, t3-0"), ("consumer2", "t1-0, t1-1, t1-2, t1-4, t3-1")],
        transferring: &[],
    },
    StickyCase {
        kafka_test: "AbstractStickyAssignorTest.testRackAwareAssignmentWithNonEqualSubscription (non-rack-aware, owning the result)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", T123, Some(("t1-5, t2-0, t2-2, t2-4, t2-6", -1))), ("consumer1", T123, Some(("t1-3, t2-1, t2-3, t2-5, t3-0", -1))), ("consumer2", &["t1", "t3"], Some(("t1-0, t1-1, t1-2, t1-4, t3-1", -1)))],
        expected: &[("consumer0", "t1-5, t2-0, t2-2, t2-4, t2-6"), ("consumer1", "t1-3, t2-1, t2-3, t2-5, t3-0"), ("consumer2", "t1-0, t1-1, t1-2, t1-4, t3-1")],
        transferring: &[],
    },
];

#[test]
fn sticky_assignors_match_kafka_tests() {
    run_sticky(STICKY_CASES);
}

/// Kafka's rack tests build subscriptions with owned partitions but no user data
/// and no generation: the eager assignor then sees no previous assignment, the
/// cooperative one does.
fn owned_without_generation(id: &str, topics: &[&str], owned: &str) -> Subscription {
    Subscription::new(id, topics.iter().copied()).with_owned_partitions(parse(owned), -1)
}

#[test]
fn non_equal_subscription_with_misplaced_owned_partitions() {
    // AbstractStickyAssignorTest.testRackAwareAssignmentWithNonEqualSubscription,
    // "Verify that result is same as non-rack-aware assignment if all racks
    // match" with preferRackAwareLogic false.
    let topics = counts(&[("t1", 6), ("t2", 7), ("t3", 2)]);
    let owned = [
        owned_without_generation("consumer0", T123, "t1-0, t1-1, t1-2, t1-3, t1-4"),
        owned_without_generation("consumer1", T123, "t1-5, t2-0, t2-1, t2-2, t2-3"),
        owned_without_generation("consumer2", &["t1", "t3"], "t2-4, t2-5, t2-6, t3-0, t3-1"),
    ];
    // StickyAssignorTest branch: the eager assignor ignores ownedPartitions.
    assert_eq!(
        AssignorKind::Sticky.assign(&topics, &owned).unwrap(),
        expected(&[
            ("consumer0", "t1-5, t2-0, t2-2, t2-4, t2-6"),
            ("consumer1", "t1-3, t2-1, t2-3, t2-5, t3-0"),
            ("consumer2", "t1-0, t1-1, t1-4, t1-2, t3-1"),
        ])
    );
    // CooperativeStickyAssignorTest branch: an intermediate assignment, then the
    // final one from the intermediate as owned.
    let intermediate = expected(&[
        ("consumer0", "t1-2, t1-3, t1-4"),
        ("consumer1", "t2-0, t2-1, t2-2, t2-3"),
        ("consumer2", "t3-0, t3-1"),
    ]);
    assert_eq!(
        AssignorKind::CooperativeSticky
            .assign(&topics, &owned)
            .unwrap(),
        intermediate
    );
    let next: Vec<Subscription> = owned
        .iter()
        .map(|m| {
            let topics: Vec<&str> = m.topics.iter().map(String::as_str).collect();
            let list: Vec<String> = intermediate[&m.member_id]
                .iter()
                .map(ToString::to_string)
                .collect();
            owned_without_generation(&m.member_id, &topics, &list.join(", "))
        })
        .collect();
    assert_eq!(
        AssignorKind::CooperativeSticky
            .assign(&topics, &next)
            .unwrap(),
        expected(&[
            ("consumer0", "t1-2, t1-3, t1-4, t2-4, t2-5"),
            ("consumer1", "t2-0, t2-1, t2-2, t2-3, t2-6"),
            ("consumer2", "t1-0, t1-1, t1-5, t3-0, t3-1"),
        ])
    );
}

#[test]
fn partition_claimed_twice_in_one_generation() {
    // StickyAssignorTest and CooperativeStickyAssignorTest
    // .testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGeneration
    // WithEqualPartitionsPerConsumer / WithUnequalPartitionsPerConsumer.
    let cases = [
        (
            3,
            [
                ("consumer1", "topic-1"),
                ("consumer2", "topic-2"),
                ("consumer3", "topic-0"),
            ],
            [
                ("consumer1", "topic-1"),
                ("consumer2", "topic-2"),
                ("consumer3", ""),
            ],
        ),
        (
            4,
            [
                ("consumer1", "topic-1, topic-3"),
                ("consumer2", "topic-2"),
                ("consumer3", "topic-0"),
            ],
            [
                ("consumer1", "topic-1, topic-3"),
                ("consumer2", "topic-2"),
                ("consumer3", ""),
            ],
        ),
    ];
    for (count, eager, cooperative) in cases {
        let topics = counts(&[("topic", count)]);
        let members: &[StickyMember] = &[
            ("consumer1", TOPIC, Some(("topic-0, topic-1", 1))),
            ("consumer2", TOPIC, Some(("topic-0, topic-2", 1))),
            ("consumer3", TOPIC, Some(("", 1))),
        ];
        let got = AssignorKind::Sticky
            .assign(&topics, &sticky_members(Flavor::Sticky, members))
            .unwrap();
        assert_eq!(got, expected(&eager), "sticky, {count} partitions");
        // topic-0 counts as owned until both claimants revoked it.
        let got = AssignorKind::CooperativeSticky
            .assign(&topics, &sticky_members(Flavor::Cooperative, members))
            .unwrap();
        assert_eq!(
            got,
            expected(&cooperative),
            "cooperative-sticky, {count} partitions"
        );
    }
}

#[test]
fn no_reassignment_on_current_members() {
    // AbstractStickyAssignorTest.testNoReassignmentOnCurrentMembers: only
    // consumer1's assignment is asserted there.
    let topics = counts(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)]);
    let members: &[StickyMember] = &[
        ("consumer1", ALL4, Some(("", -1))),
        ("consumer2", ALL4, Some(("topic-0, topic2-0, topic1-0", 9))),
        ("consumer3", ALL4, Some(("topic3-2, topic2-2, topic1-1", 8))),
        ("consumer4", ALL4, Some(("topic3-1, topic-1, topic-2", 7))),
    ];
    for flavor in [Flavor::Sticky, Flavor::Cooperative] {
        let all = sticky_members(flavor, members);
        let kind = match flavor {
            Flavor::Sticky => AssignorKind::Sticky,
            Flavor::Cooperative => AssignorKind::CooperativeSticky,
        };
        let got = kind.assign(&topics, &all).unwrap();
        assert_eq!(
            got["consumer1"],
            sorted(parse("topic1-2, topic2-1, topic3-0")),
            "{kind}"
        );
        if flavor == Flavor::Cooperative {
            assert!(
                assign_cooperative_sticky(&topics, &all)
                    .unwrap()
                    .transferring
                    .is_empty()
            );
        }
    }
}

#[test]
fn old_subscription_versions() {
    // StickyAssignorTest.testAssignorWithOldVersionSubscriptions: v0 and v1
    // subscriptions carry the previous assignment only in the user data.
    let topics = counts(&[("topic1", 3)]);
    let user_data = |owned: &str| {
        StickyUserData {
            partitions: parse(owned),
            generation: Some(1),
        }
        .encode()
        .unwrap()
    };
    let members = [
        Subscription::new("consumer1", ["topic1"]).with_user_data(user_data("topic1-0")),
        Subscription::new("consumer2", ["topic1"])
            .with_owned_partitions(parse("topic1-1"), -1)
            .with_user_data(user_data("topic1-1")),
        v2_above(Flavor::Sticky, "consumer3", &["topic1"], Vec::new(), 1),
    ];
    let want = expected(&[
        ("consumer1", "topic1-0"),
        ("consumer2", "topic1-1"),
        ("consumer3", "topic1-2"),
    ]);
    assert_eq!(
        AssignorKind::Sticky.assign(&topics, &members).unwrap(),
        want
    );

    // CooperativeStickyAssignorTest.testAssignorWithOldVersionSubscriptions: v1
    // subscriptions have owned partitions and the generation in the user data.
    let generation_one = CooperativeStickyUserData { generation: 1 }.encode();
    let members = [
        Subscription::new("consumer1", ["topic1"])
            .with_owned_partitions(parse("topic1-0"), -1)
            .with_user_data(generation_one.clone()),
        Subscription::new("consumer2", ["topic1"])
            .with_owned_partitions(parse("topic1-1"), -1)
            .with_user_data(generation_one.clone()),
        Subscription::new("consumer3", ["topic1"])
            .with_owned_partitions(Vec::new(), 1)
            .with_user_data(generation_one),
    ];
    assert_eq!(
        AssignorKind::CooperativeSticky
            .assign(&topics, &members)
            .unwrap(),
        want
    );
}

#[test]
fn where_each_assignor_reads_previous_ownership() {
    // After StickyAssignorTest.testMemberDataWithInconsistentData and
    // CooperativeStickyAssignorTest.testMemberDataWithInconsistentData: the user
    // data says "topic-1 at generation 1", the subscription "topic-0, no
    // generation". Two members, two partitions: whichever the first keeps, the
    // second gets the other.
    let topics = counts(&[("topic", 2)]);
    let sticky = [
        Subscription::new("consumer1", TOPIC.iter().copied())
            .with_owned_partitions(parse("topic-0"), -1)
            .with_user_data(
                StickyUserData {
                    partitions: parse("topic-1"),
                    generation: Some(1),
                }
                .encode()
                .unwrap(),
            ),
        Subscription::new("consumer2", TOPIC.iter().copied()),
    ];
    // The eager assignor honours the user data.
    let got = AssignorKind::Sticky.assign(&topics, &sticky).unwrap();
    assert_eq!(
        got,
        expected(&[("consumer1", "topic-1"), ("consumer2", "topic-0")])
    );

    let cooperative = [
        Subscription::new("consumer1", TOPIC.iter().copied())
            .with_owned_partitions(parse("topic-0"), -1)
            .with_user_data(CooperativeStickyUserData { generation: 1 }.encode()),
        Subscription::new("consumer2", TOPIC.iter().copied()),
    ];
    // The cooperative one takes the owned partitions from the subscription.
    let got = AssignorKind::CooperativeSticky
        .assign(&topics, &cooperative)
        .unwrap();
    assert_eq!(
        got,
        expected(&[("consumer1", "topic-0"), ("consumer2", "topic-1")])
    );
}

// ---------------------------------------------------------------------------
// Behaviour checked against Kafka's Java classes (commit 1eb7644 of
// apache/kafka, through tests/oracle), not taken from its test suite.

#[test]
fn empty_subscription_iterated_first() {
    // AbstractStickyAssignor.allSubscriptionsEqual starts from the first member's
    // topics; when that member subscribes to nothing, the next one's topics are
    // taken instead and the empty member is never compared. "consumer-7" comes
    // first in the HashMap, so the group counts as uniform and the constrained
    // builder gives it a partition of a topic it does not subscribe to. Kafka
    // does exactly this, in either join order.
    let topics = counts(&[("t4", 2)]);
    for members in [
        [
            Subscription::new("consumer-0", ["t4"]),
            Subscription::new("consumer-7", Vec::<String>::new()),
        ],
        [
            Subscription::new("consumer-7", Vec::<String>::new()),
            Subscription::new("consumer-0", ["t4"]),
        ],
    ] {
        let want = expected(&[("consumer-0", "t4-0"), ("consumer-7", "t4-1")]);
        assert_eq!(
            AssignorKind::Sticky.assign(&topics, &members).unwrap(),
            want
        );
        assert_eq!(
            AssignorKind::CooperativeSticky
                .assign(&topics, &members)
                .unwrap(),
            want
        );
    }
}

#[test]
fn cooperative_follow_up_can_differ_from_eager() {
    // consumer-0 owned t1-0, t2-0, t2-1, t2-2 and consumer-7 t2-3; consumer-3 is
    // new. All at generation 1, all subscribed to t1 and t2.
    let topics = counts(&[("t1", 2), ("t2", 4)]);
    let owned = [
        ("consumer-0", "t1-0, t2-0, t2-1, t2-2"),
        ("consumer-7", "t2-3"),
        ("consumer-3", ""),
    ];
    let subs = |flavor: Flavor, owned: &[(&str, &str)], generation: i32| -> Vec<Subscription> {
        owned
            .iter()
            .map(|(id, ps)| v2_above(flavor, id, &["t1", "t2"], parse(ps), generation))
            .collect()
    };
    let eager = expected(&[
        ("consumer-0", "t1-0, t2-0"),
        ("consumer-7", "t2-1, t2-3"),
        ("consumer-3", "t1-1, t2-2"),
    ]);
    assert_eq!(
        AssignorKind::Sticky
            .assign(&topics, &subs(Flavor::Sticky, &owned, 1))
            .unwrap(),
        eager
    );

    // Round 1 holds t2-1 and t2-2 back; its target is the eager assignment.
    let first = assign_cooperative_sticky(&topics, &subs(Flavor::Cooperative, &owned, 1)).unwrap();
    assert_eq!(
        first.assignment,
        expected(&[
            ("consumer-0", "t1-0, t2-0"),
            ("consumer-7", "t2-3"),
            ("consumer-3", "t1-1")
        ])
    );
    assert_eq!(first.target(), eager);

    // Round 2 deals the two freed partitions round-robin in member-id order:
    // consumer-3 before consumer-7, so each gets the other's eager partition.
    let kept = [
        ("consumer-0", "t1-0, t2-0"),
        ("consumer-7", "t2-3"),
        ("consumer-3", "t1-1"),
    ];
    let second = assign_cooperative_sticky(&topics, &subs(Flavor::Cooperative, &kept, 2)).unwrap();
    assert!(second.transferring.is_empty() && !second.needs_follow_up());
    assert_eq!(
        second.assignment,
        expected(&[
            ("consumer-0", "t1-0, t2-0"),
            ("consumer-7", "t2-2, t2-3"),
            ("consumer-3", "t1-1, t2-1"),
        ])
    );
}

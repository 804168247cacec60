//! Kafka's own range and round-robin assignor test cases, as tables: inputs and
//! the assignment Kafka's tests expect. Each case names the Kafka test method it
//! comes from (files under `clients/src/test/java/org/apache/kafka/clients/consumer/`).
//!
//! Members are listed in the order the Kafka test puts them into its `HashMap`;
//! that order matters to the sticky assignors as it does in Java. Rack-aware
//! variants are not ported (this API takes no replica racks); the
//! "non-rack-aware" expectations of the rack tests are.

mod common;

use std::collections::BTreeMap;

use common::{T1_T2, T123, counts, expected};
use weir_group::{AssignorKind, Subscription, TopicPartition};

// ---------------------------------------------------------------------------
// range and roundrobin

/// A member: id, group.instance.id, topics.
type Member = (&'static str, Option<&'static str>, &'static [&'static str]);

struct Case {
    kafka_test: &'static str,
    topics: &'static [(&'static str, i32)],
    members: &'static [Member],
    expected: &'static [(&'static str, &'static str)],
}

fn members(list: &[Member]) -> Vec<Subscription> {
    list.iter()
        .map(|(id, instance, topics)| {
            let s = Subscription::new(*id, topics.iter().copied());
            match instance {
                Some(i) => s.with_group_instance_id(*i),
                None => s,
            }
        })
        .collect()
}

fn run(kind: AssignorKind, cases: &[Case]) {
    for case in cases {
        let got = kind
            .assign(&counts(case.topics), &members(case.members))
            .unwrap();
        assert_eq!(got, expected(case.expected), "{kind} {}", case.kafka_test);
    }
}

const T1234: &[&str] = &["t1", "t2", "t3", "t4"];

#[rustfmt::skip]
const RANGE_CASES: &[Case] = &[
    Case {
        kafka_test: "RangeAssignorTest.testOneConsumerNoTopic",
        topics: &[],
        members: &[("consumer1", None, &[])],
        expected: &[("consumer1", "")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testOneConsumerNonexistentTopic",
        topics: &[],
        members: &[("consumer1", None, &["topic1"])],
        expected: &[("consumer1", "")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testOneConsumerOneTopic",
        topics: &[("topic1", 3)],
        members: &[("consumer1", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0, topic1-1, topic1-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics",
        topics: &[("topic1", 3), ("other", 3)],
        members: &[("consumer1", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0, topic1-1, topic1-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testOneConsumerMultipleTopics",
        topics: &[("topic1", 1), ("topic2", 2)],
        members: &[("consumer1", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic2-0, topic2-1")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testTwoConsumersOneTopicOnePartition",
        topics: &[("topic1", 1)],
        members: &[("consumer1", None, &["topic1"]), ("consumer2", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0"), ("consumer2", "")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testTwoConsumersOneTopicTwoPartitions",
        topics: &[("topic1", 2)],
        members: &[("consumer1", None, &["topic1"]), ("consumer2", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0"), ("consumer2", "topic1-1")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testMultipleConsumersMixedTopics",
        topics: &[("topic1", 3), ("topic2", 2)],
        members: &[("consumer1", None, &["topic1"]), ("consumer2", None, T1_T2), ("consumer3", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0"), ("consumer2", "topic1-1, topic2-0, topic2-1"), ("consumer3", "topic1-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer1", None, T1_T2), ("consumer2", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-1, topic2-0, topic2-1"), ("consumer2", "topic1-2, topic2-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer-b", Some("instance1"), T1_T2), ("consumer-a", Some("instance2"), T1_T2)],
        expected: &[("consumer-b", "topic1-0, topic1-1, topic2-0, topic2-1"), ("consumer-a", "topic1-2, topic2-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer-b", Some("instance1"), T1_T2), ("consumer-a", None, T1_T2)],
        expected: &[("consumer-b", "topic1-0, topic1-1, topic2-0, topic2-1"), ("consumer-a", "topic1-2, topic2-2")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testStaticMemberRangeAssignmentPersistent (round 1)",
        topics: &[("topic1", 5), ("topic2", 4)],
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer2", Some("instance2"), T1_T2), ("consumer3", Some("instance3"), T1_T2), ("consumer4", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-1, topic2-0"), ("consumer2", "topic1-2, topic2-1"), ("consumer3", "topic1-3, topic2-2"), ("consumer4", "topic1-4, topic2-3")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testStaticMemberRangeAssignmentPersistent (round 2)",
        topics: &[("topic1", 5), ("topic2", 4)],
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer2", Some("instance2"), T1_T2), ("consumer3", Some("instance3"), T1_T2), ("consumer5", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-1, topic2-0"), ("consumer2", "topic1-2, topic2-1"), ("consumer3", "topic1-3, topic2-2"), ("consumer5", "topic1-4, topic2-3")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testStaticMemberRangeAssignmentPersistentAfterMemberIdChanges",
        topics: &[("topic1", 5), ("topic2", 5)],
        // After the change: consumer4 carries instance3, consumer5 instance2.
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer4", Some("instance3"), T1_T2), ("consumer5", Some("instance2"), T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-1, topic2-0, topic2-1"), ("consumer5", "topic1-2, topic1-3, topic2-2, topic2-3"), ("consumer4", "topic1-4, topic2-4")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithUniformSubscription (non-rack-aware)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", None, T123), ("consumer1", None, T123), ("consumer2", None, T123)],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0"), ("consumer1", "t1-2, t1-3, t2-3, t2-4, t3-1"), ("consumer2", "t1-4, t1-5, t2-5, t2-6")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithNonEqualSubscription (non-rack-aware)",
        topics: &[("t1", 6), ("t2", 7), ("t3", 2)],
        members: &[("consumer0", None, T123), ("consumer1", None, T123), ("consumer2", None, &["t1", "t3"])],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t2-2, t2-3, t3-0"), ("consumer1", "t1-2, t1-3, t2-4, t2-5, t2-6, t3-1"), ("consumer2", "t1-4, t1-5")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithUniformPartitions (non-rack-aware)",
        topics: &[("t1", 5), ("t2", 5), ("t3", 5)],
        members: &[("consumer0", None, T123), ("consumer1", None, T123), ("consumer2", None, T123)],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t3-0, t3-1"), ("consumer1", "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3"), ("consumer2", "t1-4, t2-4, t3-4")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithUniformPartitionsNonEqualSubscription (non-rack-aware)",
        topics: &[("t1", 5), ("t2", 5), ("t3", 5)],
        members: &[("consumer0", None, T123), ("consumer1", None, T123), ("consumer2", None, &["t1", "t3"])],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t2-2, t3-0, t3-1"), ("consumer1", "t1-2, t1-3, t2-3, t2-4, t3-2, t3-3"), ("consumer2", "t1-4, t3-4")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithCoPartitioning (non-rack-aware, split subscriptions)",
        topics: &[("t1", 6), ("t2", 6), ("t3", 2), ("t4", 2)],
        members: &[("consumer0", None, &["t1", "t2"]), ("consumer1", None, &["t1", "t2"]), ("consumer2", None, &["t3", "t4"]), ("consumer3", None, &["t3", "t4"])],
        expected: &[("consumer0", "t1-0, t1-1, t1-2, t2-0, t2-1, t2-2"), ("consumer1", "t1-3, t1-4, t1-5, t2-3, t2-4, t2-5"), ("consumer2", "t3-0, t4-0"), ("consumer3", "t3-1, t4-1")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testRackAwareAssignmentWithCoPartitioning (non-rack-aware, all topics)",
        topics: &[("t1", 6), ("t2", 6), ("t3", 2), ("t4", 2)],
        members: &[("consumer0", None, T1234), ("consumer1", None, T1234), ("consumer2", None, T1234), ("consumer3", None, T1234)],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t3-0, t4-0"), ("consumer1", "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1"), ("consumer2", "t1-4, t2-4"), ("consumer3", "t1-5, t2-5")],
    },
    Case {
        kafka_test: "RangeAssignorTest.testCoPartitionedAssignmentWithSameSubscription (non-rack-aware)",
        topics: &[("t1", 6), ("t2", 6), ("t3", 2), ("t4", 2), ("t5", 4), ("t6", 4)],
        members: &[("consumer0", None, &["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]), ("consumer1", None, &["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]), ("consumer2", None, &["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"])],
        expected: &[("consumer0", "t1-0, t1-1, t2-0, t2-1, t3-0, t4-0, t5-0, t5-1, t6-0, t6-1"), ("consumer1", "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1, t5-2, t6-2"), ("consumer2", "t1-4, t1-5, t2-4, t2-5, t5-3, t6-3")],
    },
];

#[rustfmt::skip]
const ROUND_ROBIN_CASES: &[Case] = &[
    Case {
        kafka_test: "RoundRobinAssignorTest.testOneConsumerNoTopic",
        topics: &[],
        members: &[("consumer", None, &[])],
        expected: &[("consumer", "")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testOneConsumerNonexistentTopic",
        topics: &[],
        members: &[("consumer", None, &["topic"])],
        expected: &[("consumer", "")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testOneConsumerOneTopic",
        topics: &[("topic", 3)],
        members: &[("consumer", None, &["topic"])],
        expected: &[("consumer", "topic-0, topic-1, topic-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testOnlyAssignsPartitionsFromSubscribedTopics",
        topics: &[("topic", 3), ("other", 3)],
        members: &[("consumer", None, &["topic"])],
        expected: &[("consumer", "topic-0, topic-1, topic-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testOneConsumerMultipleTopics",
        topics: &[("topic1", 1), ("topic2", 2)],
        members: &[("consumer", None, T1_T2)],
        expected: &[("consumer", "topic1-0, topic2-0, topic2-1")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testTwoConsumersOneTopicOnePartition",
        topics: &[("topic", 1)],
        members: &[("consumer1", None, &["topic"]), ("consumer2", None, &["topic"])],
        expected: &[("consumer1", "topic-0"), ("consumer2", "")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testTwoConsumersOneTopicTwoPartitions",
        topics: &[("topic", 2)],
        members: &[("consumer1", None, &["topic"]), ("consumer2", None, &["topic"])],
        expected: &[("consumer1", "topic-0"), ("consumer2", "topic-1")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testMultipleConsumersMixedTopics",
        topics: &[("topic1", 3), ("topic2", 2)],
        members: &[("consumer1", None, &["topic1"]), ("consumer2", None, T1_T2), ("consumer3", None, &["topic1"])],
        expected: &[("consumer1", "topic1-0"), ("consumer2", "topic1-1, topic2-0, topic2-1"), ("consumer3", "topic1-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testTwoDynamicConsumersTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer1", None, T1_T2), ("consumer2", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-2, topic2-1"), ("consumer2", "topic1-1, topic2-0, topic2-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer-b", Some("instance1"), T1_T2), ("consumer-a", Some("instance2"), T1_T2)],
        expected: &[("consumer-b", "topic1-0, topic1-2, topic2-1"), ("consumer-a", "topic1-1, topic2-0, topic2-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer-b", Some("instance1"), T1_T2), ("consumer-a", None, T1_T2)],
        expected: &[("consumer-b", "topic1-0, topic1-2, topic2-1"), ("consumer-a", "topic1-1, topic2-0, topic2-2")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistent (round 1)",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer2", Some("instance2"), T1_T2), ("consumer3", Some("instance3"), T1_T2), ("consumer4", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic2-1"), ("consumer2", "topic1-1, topic2-2"), ("consumer3", "topic1-2"), ("consumer4", "topic2-0")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistent (round 2)",
        topics: &[("topic1", 3), ("topic2", 3)],
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer2", Some("instance2"), T1_T2), ("consumer3", Some("instance3"), T1_T2), ("consumer5", None, T1_T2)],
        expected: &[("consumer1", "topic1-0, topic2-1"), ("consumer2", "topic1-1, topic2-2"), ("consumer3", "topic1-2"), ("consumer5", "topic2-0")],
    },
    Case {
        kafka_test: "RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistentAfterMemberIdChanges",
        topics: &[("topic1", 5), ("topic2", 5)],
        members: &[("consumer1", Some("instance1"), T1_T2), ("consumer4", Some("instance3"), T1_T2), ("consumer5", Some("instance2"), T1_T2)],
        expected: &[("consumer1", "topic1-0, topic1-3, topic2-1, topic2-4"), ("consumer5", "topic1-1, topic1-4, topic2-2"), ("consumer4", "topic1-2, topic2-0, topic2-3")],
    },
];

#[test]
fn range_assignor_matches_kafka_tests() {
    run(AssignorKind::Range, RANGE_CASES);
}

#[test]
fn round_robin_assignor_matches_kafka_tests() {
    run(AssignorKind::RoundRobin, ROUND_ROBIN_CASES);
}

#[test]
fn static_members_keep_their_assignment_when_member_ids_change() {
    // RangeAssignorTest / RoundRobinAssignorTest ...PersistentAfterMemberIdChanges:
    // the per-instance assignment before and after the ids change is the same.
    for kind in [AssignorKind::Range, AssignorKind::RoundRobin] {
        let topics = counts(&[("topic1", 5), ("topic2", 5)]);
        let before = [
            Subscription::new("consumer1", T1_T2.iter().copied())
                .with_group_instance_id("instance1"),
            Subscription::new("consumer2", T1_T2.iter().copied())
                .with_group_instance_id("instance2"),
            Subscription::new("consumer3", T1_T2.iter().copied())
                .with_group_instance_id("instance3"),
        ];
        let after = [
            Subscription::new("consumer1", T1_T2.iter().copied())
                .with_group_instance_id("instance1"),
            Subscription::new("consumer4", T1_T2.iter().copied())
                .with_group_instance_id("instance3"),
            Subscription::new("consumer5", T1_T2.iter().copied())
                .with_group_instance_id("instance2"),
        ];
        let by_instance = |members: &[Subscription]| -> BTreeMap<String, Vec<TopicPartition>> {
            let a = kind.assign(&topics, members).unwrap();
            members
                .iter()
                .map(|m| {
                    (
                        m.group_instance_id.clone().unwrap(),
                        a[&m.member_id].clone(),
                    )
                })
                .collect()
        };
        assert_eq!(by_instance(&before), by_instance(&after), "{kind}");
    }
}

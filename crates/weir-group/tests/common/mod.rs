//! Helpers shared by the Kafka test-case tables.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::collections::BTreeMap;

use weir_group::{GroupAssignment, TopicPartition};

/// Two topics most of Kafka's cases use.
pub(crate) const T1_T2: &[&str] = &["topic1", "topic2"];
/// The topics of Kafka's rack-aware test cases.
pub(crate) const T123: &[&str] = &["t1", "t2", "t3"];

/// Partition counts from `(topic, count)` pairs.
pub(crate) fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
    topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
}

/// "t1-0, t1-1" to partitions.
pub(crate) fn parse(list: &str) -> Vec<TopicPartition> {
    list.split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (topic, p) = s.rsplit_once('-').unwrap();
            TopicPartition::new(topic, p.parse().unwrap())
        })
        .collect()
}

pub(crate) fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
    v.sort();
    v
}

pub(crate) fn expected(list: &[(&str, &str)]) -> GroupAssignment {
    list.iter()
        .map(|(m, ps)| ((*m).to_owned(), sorted(parse(ps))))
        .collect()
}

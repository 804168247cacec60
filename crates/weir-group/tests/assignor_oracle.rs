//! Differential test against Kafka's Java assignors.
//!
//! `fixtures/kafka_assignor_oracle.tsv` holds random groups with the assignment
//! Kafka's own `RangeAssignor`, `RoundRobinAssignor`, `StickyAssignor` and
//! `CooperativeStickyAssignor` gave them (or the exception they threw), recorded
//! once by running Kafka's classes (apache/kafka commit 1eb7644) on random
//! groups; the harness that ran them is not part of this repository, only its
//! output. Members appear in
//! the order they were put into the Java `HashMap`, user data as hex. Member ids
//! include non-ASCII characters, duplicate and unknown topics, conflicting and
//! out-of-range previous ownership, and stale generations.

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_group::{AssignorKind, GroupAssignment, StickyUserData, Subscription, TopicPartition};

const FIXTURE: &str = include_str!("fixtures/kafka_assignor_oracle.tsv");

#[derive(Debug, Default)]
struct Case {
    name: String,
    kind: Option<AssignorKind>,
    counts: BTreeMap<String, i32>,
    members: Vec<Subscription>,
    expected: GroupAssignment,
    error: Option<String>,
}

fn partitions(field: &str) -> Vec<TopicPartition> {
    field
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (topic, p) = s.rsplit_once(':').unwrap();
            TopicPartition::new(topic, p.parse().unwrap())
        })
        .collect()
}

fn hex(field: &str) -> Option<Bytes> {
    if field == "-" {
        return None;
    }
    let bytes = (0..field.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&field[i..i + 2], 16).unwrap())
        .collect::<Vec<_>>();
    Some(Bytes::from(bytes))
}

/// The committed fixture, or the file named by `WEIR_ASSIGNOR_ORACLE` (a
/// larger batch of the same format, checked without committing it).
fn cases() -> Vec<Case> {
    let text = match std::env::var("WEIR_ASSIGNOR_ORACLE") {
        Ok(path) => std::fs::read_to_string(path).unwrap(),
        Err(_) => FIXTURE.to_owned(),
    };
    let mut out = Vec::new();
    let mut case = Case::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "case" => {
                case = Case {
                    name: format!("case {} ({})", f[1], f[2]),
                    kind: Some(AssignorKind::from_name(f[2]).unwrap()),
                    ..Case::default()
                }
            }
            "topic" => {
                case.counts.insert(f[1].to_owned(), f[2].parse().unwrap());
            }
            "member" => {
                let topics: Vec<&str> = f[4].split(',').filter(|t| !t.is_empty()).collect();
                let mut s = Subscription::new(f[1], topics)
                    .with_owned_partitions(partitions(f[5]), f[3].parse().unwrap());
                s.user_data = hex(f[6]);
                if f[2] != "-" {
                    s.group_instance_id = Some(f[2].to_owned());
                }
                case.members.push(s);
            }
            "result" => {
                case.expected.insert(f[1].to_owned(), partitions(f[2]));
            }
            "error" => case.error = Some(f[1].to_owned()),
            "end" => out.push(std::mem::take(&mut case)),
            other => panic!("unknown fixture line {other:?}"),
        }
    }
    out
}

#[test]
fn every_assignor_matches_kafka_on_random_groups() {
    let cases = cases();
    assert!(cases.len() >= 400, "fixture has {} cases", cases.len());
    let mut errors = 0;
    for case in &cases {
        let kind = case.kind.unwrap();
        let got = kind.assign(&case.counts, &case.members);
        match &case.error {
            // Kafka threw; we must refuse too, never panic or make something up.
            Some(exception) => {
                errors += 1;
                assert!(
                    got.is_err(),
                    "{}: Kafka threw {exception}, we gave {got:?}",
                    case.name
                );
            }
            None => {
                let got = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                assert_eq!(got, case.expected, "{}", case.name);
            }
        }
    }
    assert!(
        errors < cases.len() / 20,
        "{errors} error cases: the fixture should be mostly answers"
    );
}

#[test]
fn sticky_user_data_encodes_as_kafka_does() {
    // The eager sticky members' user data was written by Kafka's
    // StickyAssignor.serializeTopicPartitionAssignment: decoding and encoding it
    // again must give the same bytes (topics in Java HashMap order).
    let mut checked = 0;
    for case in cases() {
        if case.kind != Some(AssignorKind::Sticky) {
            continue;
        }
        for m in &case.members {
            let Some(bytes) = &m.user_data else { continue };
            let data = StickyUserData::decode(bytes);
            if data.generation == Some(-1) && data.partitions.is_empty() && bytes.len() == 5 {
                continue; // the deliberately unreadable user data
            }
            assert_eq!(
                &data.encode().unwrap(),
                bytes,
                "{}: {}",
                case.name,
                m.member_id
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} user data checked");
}

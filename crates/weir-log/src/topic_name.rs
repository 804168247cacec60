//! Topic names as Kafka accepts them (`Topic.java`, `kafka-format.md` §9).

use crate::error::LogError;

/// The longest legal topic name.
pub const MAX_TOPIC_NAME_LENGTH: usize = 249;

/// Kafka's internal topic for consumer group offsets and metadata.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's internal topic for transaction state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// Kafka's internal topic for share groups' state (KIP-932).
pub const SHARE_GROUP_STATE_TOPIC: &str = "__share_group_state";
/// KRaft's metadata log: in a broker's log directory, but no topic of its
/// data (Kafka's `LogManager` does not load it as one, and refuses to create
/// it).
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Whether `name` is one of Kafka's internal topics (`Topic.INTERNAL_TOPICS`,
/// and KRaft's metadata log): no client creates one or writes to it.
pub fn is_internal_topic(name: &str) -> bool {
    matches!(
        name,
        CONSUMER_OFFSETS_TOPIC
            | TRANSACTION_STATE_TOPIC
            | SHARE_GROUP_STATE_TOPIC
            | CLUSTER_METADATA_TOPIC
    )
}

/// Checks a topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or
/// `..`.
///
/// # Errors
/// [`LogError::InvalidTopicName`] saying which rule the name breaks.
pub fn validate_topic_name(name: &str) -> Result<(), LogError> {
    let invalid = |reason: String| LogError::InvalidTopicName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed".into()));
    }
    if name.len() > MAX_TOPIC_NAME_LENGTH {
        return Err(invalid(format!(
            "it is {} characters long; the limit is {MAX_TOPIC_NAME_LENGTH}",
            name.chars().count()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(format!(
            "{c:?} is not allowed; use ASCII letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

/// The name with `.` mapped to `_` (Kafka's `unifyCollisionChars`): two topics
/// whose unified names are equal collide in metric names.
pub fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_rules() {
        for ok in [
            "orders",
            "a",
            "x.y_z-0",
            "__consumer_offsets",
            &"a".repeat(249),
        ] {
            validate_topic_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "with space",
            "ümlaut",
            "slash/",
            &"a".repeat(250),
            "star*",
        ] {
            let err = validate_topic_name(bad).unwrap_err();
            assert!(
                matches!(err, LogError::InvalidTopicName { .. }),
                "{bad}: {err}"
            );
        }
        assert_eq!(unify_collision_chars("a.b_c"), "a_b_c");
        assert!(is_internal_topic("__consumer_offsets"));
        assert!(!is_internal_topic("__consumer_offsets2"));
    }
}

//! The crate's one error type.

/// Why bytes could not be decoded or encoded, or why an assignment or protocol
/// choice could not be made.
///
/// Decoding variants name the field as `Record.field` (for example
/// `OffsetCommitValue.metadata`), using the field names of Kafka's message schemas.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// The bytes end before a field does.
    #[error("{field}: needs {needed} more bytes, only {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },

    /// A length of -1 (null) for a field Kafka's schema declares non-nullable.
    #[error("{field}: non-nullable field was serialized as null")]
    NullField {
        /// The field.
        field: &'static str,
    },

    /// A string length above 32767, which Kafka's readers reject.
    #[error("{field}: string length {length} is above the maximum of 32767")]
    InvalidStringLength {
        /// The field.
        field: &'static str,
        /// The length found.
        length: i64,
    },

    /// A string whose bytes are not UTF-8. (Java would substitute U+FFFD; no
    /// Kafka writer produces such bytes.)
    #[error("{field}: string is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },

    /// An array claiming more elements than the remaining bytes could hold.
    #[error("{field}: array of {count} elements cannot fit in the {available} bytes left")]
    ArrayTooLong {
        /// The array field.
        field: &'static str,
        /// The element count found.
        count: i64,
        /// Bytes left in the input.
        available: usize,
    },

    /// An unsigned varint longer than the 5 bytes Kafka allows.
    #[error("{field}: unsigned varint is longer than 5 bytes")]
    VarintTooLong {
        /// The field.
        field: &'static str,
    },

    /// A record version outside those the schema defines.
    #[error("{record}: version {version} is not supported (valid: {valid})")]
    UnsupportedVersion {
        /// The record type.
        record: &'static str,
        /// The version found or requested.
        version: i16,
        /// The versions the schema defines, in words.
        valid: &'static str,
    },

    /// A `__consumer_offsets` key version that is not an offset commit (0, 1) or
    /// group metadata (2) key. Kafka's loader skips such records with a warning;
    /// versions 3 and above belong to the new consumer and share groups.
    #[error(
        "__consumer_offsets key version {version} is not an offset commit or classic group key"
    )]
    UnknownRecordType {
        /// The key's version prefix.
        version: i16,
    },

    /// A string too long to encode (Kafka's writers refuse above 32767 bytes).
    #[error("{field}: {length} bytes is too long to be serialized (maximum 32767)")]
    StringTooLong {
        /// The field.
        field: &'static str,
        /// The string's length in UTF-8 bytes.
        length: usize,
    },

    /// An array or byte field too long for its 32-bit length prefix.
    #[error("{field}: {length} is too long for a 32-bit length")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The number of elements or bytes.
        length: usize,
    },

    /// A name that is neither an assignor name nor a Kafka assignor class name.
    #[error(
        "unknown partition assignor {name:?}: expected range, roundrobin, sticky, cooperative-sticky \
         or their org.apache.kafka.clients.consumer class names"
    )]
    UnknownAssignor {
        /// The name given.
        name: String,
    },

    /// The configured assignors share no rebalance protocol.
    #[error("assignors {assignors:?} have no commonly supported rebalance protocol")]
    NoCommonRebalanceProtocol {
        /// The assignor names.
        assignors: Vec<String>,
    },

    /// No protocol is supported by every member of the group.
    #[error("no protocol is supported by all {members} members of the group")]
    NoCommonGroupProtocol {
        /// The number of members.
        members: usize,
    },

    /// A protocol was to be chosen for a group without members.
    #[error("cannot select a protocol for a group without members")]
    EmptyGroup,

    /// Two subscriptions name the same member.
    #[error("member id {member_id:?} appears more than once")]
    DuplicateMember {
        /// The member id.
        member_id: String,
    },

    /// A negative partition count.
    #[error("topic {topic:?}: partition count {count} is negative")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count given.
        count: i32,
    },

    /// The assignor reached a state in which Kafka's Java implementation throws
    /// (an `IllegalStateException` or a null dereference). This only happens for
    /// inputs Kafka itself cannot handle, such as owned partitions numbered beyond
    /// their topic's partition count.
    #[error("{assignor} assignor: {reason}")]
    AssignorFailed {
        /// The assignor's name.
        assignor: &'static str,
        /// What Java would have thrown on.
        reason: String,
    },

    /// Reading or writing `__consumer_offsets` failed.
    #[error("__consumer_offsets: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },

    /// The member is not (or no longer) in the group: it left or timed out.
    /// (A member replaced by a newer one with the same `group.instance.id`
    /// gets [`GroupError::FencedInstanceId`] instead, while the group still
    /// remembers it.)
    #[error("group {group}: unknown member {member_id} (it left or timed out)")]
    UnknownMember {
        /// The group.
        group: String,
        /// The member id.
        member_id: String,
    },

    /// A commit or call from a member of an older generation (Kafka's
    /// `ILLEGAL_GENERATION`): the group rebalanced since.
    #[error(
        "group {group}: generation {generation} is not the current generation {current}; the group rebalanced"
    )]
    IllegalGeneration {
        /// The group.
        group: String,
        /// The generation given.
        generation: i32,
        /// The group's generation.
        current: i32,
    },

    /// The group is rebalancing (Kafka's `REBALANCE_IN_PROGRESS`).
    #[error("group {group} is rebalancing")]
    RebalanceInProgress {
        /// The group.
        group: String,
    },

    /// The group has active members (Kafka's `NON_EMPTY_GROUP`).
    #[error("group {group} has {members} active member(s)")]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// How many.
        members: usize,
    },

    /// No such group.
    #[error("group {group} does not exist")]
    UnknownGroup {
        /// The group.
        group: String,
    },

    /// A joining member's assignors share none with what every current member
    /// supports (Kafka's `INCONSISTENT_GROUP_PROTOCOL`). Only that join is
    /// refused; the group carries on.
    #[error(
        "group {group}: the joining member's assignors {protocols:?} include none that every member supports ({supported:?})"
    )]
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// The joining member's assignors, most preferred first.
        protocols: Vec<String>,
        /// The assignors every current member supports.
        supported: Vec<String>,
    },

    /// The member id was replaced by a newer member with the same
    /// `group.instance.id` (Kafka's `FENCED_INSTANCE_ID`): another consumer
    /// took this static member's place. Fatal for the fenced consumer; it must
    /// not rejoin.
    #[error(
        "group {group}: member {member_id} was fenced by a newer member with group.instance.id {instance_id}"
    )]
    FencedInstanceId {
        /// The group.
        group: String,
        /// The `group.instance.id` both incarnations use.
        instance_id: String,
        /// The fenced (old) member id.
        member_id: String,
    },

    /// A `__consumer_offsets` record of a known type whose key or value does
    /// not decode: the topic is corrupt, and replaying past it could resurrect
    /// or lose committed offsets.
    #[error("__consumer_offsets-{partition}: record at offset {offset} does not decode: {source}")]
    CorruptOffsetsRecord {
        /// The `__consumer_offsets` partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Why it does not decode.
        #[source]
        source: Box<GroupError>,
    },

    /// A group id Kafka would not accept (empty).
    #[error("invalid group id {group:?}")]
    InvalidGroupId {
        /// The id given.
        group: String,
    },

    /// A commit or an offset delete names a partition the data directory
    /// does not have (Kafka's `UNKNOWN_TOPIC_OR_PARTITION`), say of a topic
    /// deleted meanwhile.
    #[error("group {group}: the data directory has no partition {partition} of topic {topic}")]
    UnknownTopicOrPartition {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// An offset delete names a topic a member of the group subscribes to
    /// (Kafka's `GROUP_SUBSCRIBED_TO_TOPIC`): the member would commit it
    /// again.
    #[error("group {group}: a member subscribes to topic {topic}, whose offsets stay")]
    GroupSubscribedToTopic {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
    },
}

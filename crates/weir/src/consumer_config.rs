//! [`ConsumerConfig`]: Kafka's consumer configs by their property names, or
//! through typed setters.

use std::time::Duration;

use weir_log::ConfigError;

use crate::props::{boolean, int, is_network_only, unknown, usize_of};

/// `auto.offset.reset`: where to start a partition without a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OffsetReset {
    /// `earliest`: the log start offset.
    Earliest,
    /// `latest`: the high watermark (only new records).
    #[default]
    Latest,
    /// `none`: fail with [`WeirError::NoOffsetForPartition`](crate::WeirError::NoOffsetForPartition)
    /// when there is no position, [`WeirError::OffsetOutOfRange`](crate::WeirError::OffsetOutOfRange)
    /// when the position is outside the log.
    None,
    /// `by_duration:<ISO-8601 duration>` (KIP-1106, e.g. `by_duration:PT1H`):
    /// the first record at most this long before now (by timestamp), or the
    /// high watermark when every record is older.
    ByDuration(Duration),
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// `read_uncommitted`: every record below the high watermark.
    #[default]
    ReadUncommitted,
    /// `read_committed`: reads stop at the last stable offset (the first
    /// record of the oldest transaction still open), and the records of
    /// aborted transactions are skipped, as Kafka's consumer skips them, from
    /// the aborted-transaction lists each segment's `.txnindex` keeps (Weir's
    /// transactional producer writes them as Kafka does); control records
    /// are never returned. Not tracked: a transaction a Kafka broker left
    /// open in files copied from it (no marker, and no entry in Weir's
    /// transaction coordinator): its records are returned, where Kafka would
    /// hold them back.
    ReadCommitted,
}

/// A consumer's configuration. `Default` is Kafka 4.x's consumer defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `client.id`.
    pub client_id: String,
    /// `group.id` (consumer groups; without one, assign only).
    pub group_id: Option<String>,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes`: a poll waits (up to `fetch.max.wait.ms`) until this many
    /// bytes are available.
    pub fetch_min_bytes: usize,
    /// `fetch.max.bytes`: bytes fetched per poll round across partitions (at
    /// least one batch is always returned).
    pub fetch_max_bytes: usize,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`: bytes fetched per partition per round.
    pub max_partition_fetch_bytes: usize,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `max.poll.interval.ms` (at least 1 ms).
    pub max_poll_interval: Duration,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `default.api.timeout.ms`: how long `position` and `committed` wait
    /// for a committed offset an open transaction carries (Kafka's
    /// `require_stable` retries), 60 s by default.
    pub default_api_timeout: Duration,
    /// `partition.assignment.strategy`, as given (Kafka names or class names).
    pub partition_assignment_strategy: Vec<String>,
    /// `check.crcs`: verify each fetched batch's CRC-32C.
    pub check_crcs: bool,
    /// `allow.auto.create.topics`.
    pub allow_auto_create_topics: bool,
    /// `exclude.internal.topics`: a pattern subscription leaves out internal
    /// topics (`__consumer_offsets`); `false` lets a pattern match them.
    pub exclude_internal_topics: bool,
    /// `enable.auto.commit` was set by its key (only then is `true` without a
    /// `group.id` an error, as in Kafka).
    auto_commit_set: bool,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client_id: String::new(),
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1_048_576,
            max_poll_records: 500,
            max_poll_interval: Duration::from_secs(300),
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            isolation_level: IsolationLevel::ReadUncommitted,
            default_api_timeout: Duration::from_secs(60),
            partition_assignment_strategy: vec!["range".into(), "cooperative-sticky".into()],
            check_crcs: true,
            allow_auto_create_topics: true,
            exclude_internal_topics: true,
            auto_commit_set: false,
        }
    }
}

impl ConsumerConfig {
    /// A config from Kafka consumer properties over the defaults.
    /// Network-only keys (`bootstrap.servers`, `request.timeout.ms`, `ssl.*`,
    /// ...) are accepted and ignored, their values unchecked.
    ///
    /// The rules across keys are checked when a consumer is created
    /// ([`validate`](Self::validate)), as Kafka checks them, so a config may
    /// be completed through its fields or builders first.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unknown key or invalid value.
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut c = ConsumerConfig::default();
        for (k, v) in props {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Kafka's checks of a whole config, as its consumer makes them when it
    /// is created ([`Consumer::new`](crate::Consumer::new) calls this): with
    /// a `group.id`, `heartbeat.interval.ms` must be lower than
    /// `session.timeout.ms`; `enable.auto.commit` set to `true` by its key
    /// needs a `group.id`; `max.poll.interval.ms` and `max.poll.records` are
    /// at least one; and the values [`set`](Self::set) checks by key that
    /// fields may also hold: a `group.instance.id` by Kafka's rules, known
    /// assignors.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |d: Duration| d.as_millis().to_string();
        if self.max_poll_interval.is_zero() {
            return Err(ConfigError::invalid(
                "max.poll.interval.ms",
                &ms(self.max_poll_interval),
                "must be at least 1",
            ));
        }
        if self.max_poll_records == 0 {
            return Err(ConfigError::invalid(
                "max.poll.records",
                "0",
                "must be at least 1",
            ));
        }
        if self.group_id.is_some() && self.heartbeat_interval >= self.session_timeout {
            return Err(ConfigError::invalid(
                "heartbeat.interval.ms",
                &ms(self.heartbeat_interval),
                format!(
                    "must be lower than session.timeout.ms ({})",
                    ms(self.session_timeout)
                ),
            ));
        }
        if self.group_id.is_none() && self.enable_auto_commit && self.auto_commit_set {
            return Err(ConfigError::invalid(
                "enable.auto.commit",
                "true",
                "cannot be true without a group.id",
            ));
        }
        if let Some(id) = &self.group_instance_id {
            check_instance_id(id)?;
        }
        for name in &self.partition_assignment_strategy {
            check_assignor(name)?;
        }
        Ok(())
    }

    /// Sets one property by its Kafka name.
    ///
    /// # Errors
    /// As [`from_props`](Self::from_props) for this key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        // Kafka's consumer takes these as int milliseconds.
        let ms = |v: &str, min: i64| {
            int(key, v, min, i64::from(i32::MAX))
                .map(|n| Duration::from_millis(u64::try_from(n).unwrap_or(0)))
        };
        match key {
            "client.id" => self.client_id = value.to_string(),
            "group.id" => {
                self.group_id = (!value.trim().is_empty()).then(|| value.trim().to_string());
            }
            "group.instance.id" => {
                let id = value.trim();
                check_instance_id(id)?;
                self.group_instance_id = Some(id.to_string());
            }
            "auto.offset.reset" => {
                let v = value.trim();
                self.auto_offset_reset = match v.to_ascii_lowercase().as_str() {
                    "earliest" => OffsetReset::Earliest,
                    "latest" => OffsetReset::Latest,
                    "none" => OffsetReset::None,
                    lower if lower.starts_with("by_duration:") => {
                        let d = v.get("by_duration:".len()..).unwrap_or_default();
                        OffsetReset::ByDuration(parse_iso_duration(d).ok_or_else(|| {
                            ConfigError::invalid(
                                key,
                                value,
                                "by_duration needs a non-negative ISO-8601 duration (PnDTnHnMn.nS)",
                            )
                        })?)
                    }
                    _ => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "must be earliest, latest, none or by_duration:<ISO-8601 duration>",
                        ));
                    }
                };
            }
            "enable.auto.commit" => {
                self.enable_auto_commit = boolean(key, value)?;
                self.auto_commit_set = true;
            }
            "auto.commit.interval.ms" => self.auto_commit_interval = ms(value, 0)?,
            "fetch.min.bytes" => self.fetch_min_bytes = usize_of(key, value, 0)?,
            "fetch.max.bytes" => self.fetch_max_bytes = usize_of(key, value, 0)?,
            "fetch.max.wait.ms" => self.fetch_max_wait = ms(value, 0)?,
            "max.partition.fetch.bytes" => {
                self.max_partition_fetch_bytes = usize_of(key, value, 0)?;
            }
            "max.poll.records" => self.max_poll_records = usize_of(key, value, 1)?,
            "max.poll.interval.ms" => self.max_poll_interval = ms(value, 1)?,
            "session.timeout.ms" => self.session_timeout = ms(value, 0)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = ms(value, 0)?,
            "default.api.timeout.ms" => self.default_api_timeout = ms(value, 0)?,
            "isolation.level" => {
                self.isolation_level = match value.trim() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "must be read_uncommitted or read_committed",
                        ));
                    }
                };
            }
            "partition.assignment.strategy" => {
                let list: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.is_empty() {
                    return Err(ConfigError::invalid(
                        key,
                        value,
                        "needs at least one assignor",
                    ));
                }
                for name in &list {
                    check_assignor(name)?;
                }
                self.partition_assignment_strategy = list;
            }
            "check.crcs" => self.check_crcs = boolean(key, value)?,
            "allow.auto.create.topics" => self.allow_auto_create_topics = boolean(key, value)?,
            "exclude.internal.topics" => self.exclude_internal_topics = boolean(key, value)?,
            "group.protocol" => {
                // Kafka's classic protocol is what the in-process coordinator
                // runs (client-side assignors); KIP-848's server-side
                // assignment is not available.
                match value.trim().to_ascii_lowercase().as_str() {
                    "classic" => {}
                    "consumer" => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "the consumer protocol (KIP-848) is not available in process; use classic",
                        ));
                    }
                    _ => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "must be classic or consumer",
                        ));
                    }
                }
            }
            "client.rack" => {}
            k if is_network_only(k) => {}
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// This config with `auto.offset.reset` set.
    #[must_use]
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.auto_offset_reset = reset;
        self
    }

    /// This config with `max.poll.records` set.
    #[must_use]
    pub fn max_poll_records(mut self, n: usize) -> Self {
        self.max_poll_records = n.max(1);
        self
    }

    /// This config with `fetch.min.bytes` set.
    #[must_use]
    pub fn fetch_min_bytes(mut self, n: usize) -> Self {
        self.fetch_min_bytes = n;
        self
    }

    /// This config with `fetch.max.wait.ms` set.
    #[must_use]
    pub fn fetch_max_wait(mut self, d: Duration) -> Self {
        self.fetch_max_wait = d;
        self
    }

    /// This config with `max.partition.fetch.bytes` set.
    #[must_use]
    pub fn max_partition_fetch_bytes(mut self, n: usize) -> Self {
        self.max_partition_fetch_bytes = n;
        self
    }

    /// This config with `group.id` set.
    #[must_use]
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// This config with `client.id` set.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }
}

/// Kafka checks a `group.instance.id` by its topic name rules
/// (`JoinGroupRequest.validateGroupInstanceId`); an empty one is refused, not
/// taken for a dynamic member.
fn check_instance_id(id: &str) -> Result<(), ConfigError> {
    match weir_log::topic_name::validate_topic_name(id) {
        Err(weir_log::LogError::InvalidTopicName { reason, .. }) => Err(ConfigError::invalid(
            "group.instance.id",
            id,
            format!(
                "not a valid group instance id: {reason} (leave it unset for a dynamic member)"
            ),
        )),
        _ => Ok(()),
    }
}

/// An assignor of `partition.assignment.strategy` Weir has (by Kafka's name
/// or class name).
fn check_assignor(name: &str) -> Result<(), ConfigError> {
    weir_group::AssignorKind::from_name(name)
        .map(|_| ())
        .map_err(|e| ConfigError::invalid("partition.assignment.strategy", name, e.to_string()))
}

/// Parses an ISO-8601 duration as Java's `Duration.parse` reads it
/// (`PnDTnHnMn.nS`, days of 24 hours, a fraction on seconds only, case
/// insensitive), refusing negative parts. `None` when it is not one.
pub(crate) fn parse_iso_duration(text: &str) -> Option<Duration> {
    let upper = text.trim().to_ascii_uppercase();
    let rest = upper.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut total = Duration::ZERO;
    if !date.is_empty() {
        let days: u64 = date.strip_suffix('D')?.parse().ok()?;
        total = total.checked_add(Duration::from_secs(days.checked_mul(86_400)?))?;
    }
    if let Some(mut time) = time {
        // Units in order, each at most once.
        for (unit, secs) in [('H', 3_600u64), ('M', 60)] {
            if let Some(at) = time.find(unit) {
                let n: u64 = time.get(..at)?.parse().ok()?;
                total = total.checked_add(Duration::from_secs(n.checked_mul(secs)?))?;
                time = time.get(at + 1..)?;
            }
        }
        if !time.is_empty() {
            let seconds = time.strip_suffix('S')?;
            let (whole, fraction) = match seconds.split_once(['.', ',']) {
                Some((w, f)) => (w, f),
                None => (seconds, ""),
            };
            if whole.is_empty() || fraction.len() > 9 {
                return None;
            }
            let whole: u64 = whole.parse().ok()?;
            let nanos: u32 = if fraction.is_empty() {
                0
            } else {
                if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                format!("{fraction:0<9}").parse().ok()?
            };
            total = total.checked_add(Duration::new(whole, nanos))?;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_defaults_and_errors() {
        let c = ConsumerConfig::default();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        let c = ConsumerConfig::from_props([
            ("group.id", "billing"),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "10"),
            ("bootstrap.servers", "kafka:9092"),
        ])
        .unwrap();
        assert_eq!(c.group_id.as_deref(), Some("billing"));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        let c = ConsumerConfig::from_props([("auto.offset.reset", "by_duration:PT1H30M")]).unwrap();
        assert_eq!(
            c.auto_offset_reset,
            OffsetReset::ByDuration(Duration::from_secs(5_400))
        );
        for (k, v) in [
            ("auto.offset.reset", "smallest"),
            ("max.poll.records", "0"),
            ("fetch.max.wait.ms", "-5"),
            ("isolation.level", "serializable"),
            ("enable.auto.commit", "maybe"),
            ("fetch.mx.bytes", "1"),
        ] {
            let err = ConsumerConfig::from_props([(k, v)]).unwrap_err();
            assert_eq!(err.key(), k, "{err}");
        }
    }

    #[test]
    fn what_kafkas_consumer_refuses_at_creation_is_refused() {
        let g = ("group.id", "g");
        // By key, as they are set.
        for (props, key) in [
            (
                vec![g, ("max.poll.interval.ms", "0")],
                "max.poll.interval.ms",
            ),
            (
                vec![("session.timeout.ms", "3000000000")],
                "session.timeout.ms",
            ),
            (
                vec![("auto.commit.interval.ms", "2147483648")],
                "auto.commit.interval.ms",
            ),
            (vec![g, ("group.instance.id", "")], "group.instance.id"),
            (vec![g, ("group.instance.id", "pod 1")], "group.instance.id"),
            (
                vec![
                    g,
                    ("partition.assignment.strategy", "range,com.example.Nope"),
                ],
                "partition.assignment.strategy",
            ),
            // Kafka's consumer takes a negative heartbeat or session timeout
            // (neither key has a validator); they are no durations, and Weir
            // refuses them.
            (
                vec![("heartbeat.interval.ms", "-1")],
                "heartbeat.interval.ms",
            ),
        ] {
            let err = ConsumerConfig::from_props(props.clone()).unwrap_err();
            assert_eq!(err.key(), key, "{props:?}: {err}");
        }
        // Across keys, when the consumer is created (the config may be
        // completed first).
        for (props, key) in [
            (
                vec![
                    g,
                    ("session.timeout.ms", "3000"),
                    ("heartbeat.interval.ms", "3000"),
                ],
                "heartbeat.interval.ms",
            ),
            (vec![("enable.auto.commit", "true")], "enable.auto.commit"),
        ] {
            let c = ConsumerConfig::from_props(props.clone()).unwrap();
            let err = c.validate().unwrap_err();
            assert_eq!(err.key(), key, "{props:?}: {err}");
        }
        let completed = ConsumerConfig::from_props([("enable.auto.commit", "true")])
            .unwrap()
            .group_id("g");
        completed.validate().unwrap();
        // What Kafka takes: the same checks pass these.
        for props in [
            vec![("heartbeat.interval.ms", "60000")],
            vec![("enable.auto.commit", "false")],
            vec![
                g,
                ("enable.auto.commit", "true"),
                ("group.instance.id", "pod-1"),
            ],
            vec![
                g,
                (
                    "partition.assignment.strategy",
                    "org.apache.kafka.clients.consumer.RangeAssignor",
                ),
            ],
        ] {
            ConsumerConfig::from_props(props.clone())
                .unwrap()
                .validate()
                .unwrap();
        }
        // Values set through fields are checked as their keys are.
        let mut c = ConsumerConfig::from_props([g]).unwrap();
        c.heartbeat_interval = c.session_timeout;
        assert_eq!(c.validate().unwrap_err().key(), "heartbeat.interval.ms");
        let mut c = ConsumerConfig::from_props([g]).unwrap();
        c.group_instance_id = Some(String::new());
        assert_eq!(c.validate().unwrap_err().key(), "group.instance.id");
        let mut c = ConsumerConfig::from_props([g]).unwrap();
        c.partition_assignment_strategy = vec!["uniform".into()];
        assert_eq!(
            c.validate().unwrap_err().key(),
            "partition.assignment.strategy"
        );
    }

    #[test]
    fn iso_durations_as_java_reads_them() {
        let ok = [
            ("PT1H", 3_600.0),
            ("P1D", 86_400.0),
            (
                "P2DT3H4M5S",
                2.0 * 86_400.0 + 3.0 * 3_600.0 + 4.0 * 60.0 + 5.0,
            ),
            ("pt0.5s", 0.5),
            ("PT1,25S", 1.25),
            ("PT15M", 900.0),
            ("PT0S", 0.0),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_iso_duration(text).map(|d| d.as_secs_f64()),
                Some(secs),
                "{text}"
            );
        }
        for bad in [
            "",
            "P",
            "PT",
            "1H",
            "PT-1H",
            "P-1D",
            "PT1H1H",
            "PT1S1M",
            "PT.5S",
            "PT1.1234567891S",
            "P1H",
            "PT1X",
            "PT1.5M",
        ] {
            assert_eq!(parse_iso_duration(bad), None, "{bad}");
        }
        assert!(ConsumerConfig::from_props([("auto.offset.reset", "by_duration:-PT1H")]).is_err());
    }
}

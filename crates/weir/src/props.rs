//! Parsing Kafka client properties: typed readers that name the key in their
//! errors, and the network-only keys an in-process client accepts and ignores.

use weir_log::ConfigError;

/// Keys that only matter to a networked Kafka client. They are accepted (so a
/// Kafka client's config can be used as it is) and have no effect in process.
const NETWORK_ONLY_PREFIXES: &[&str] = &["ssl.", "sasl.", "security.", "metrics.", "metric."];
const NETWORK_ONLY_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.dns.lookup",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "request.timeout.ms",
    "default.api.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.connection.setup.timeout.max.ms",
    "send.buffer.bytes",
    "receive.buffer.bytes",
    "metadata.max.age.ms",
    "metadata.max.idle.ms",
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "interceptor.classes",
    "auto.include.jmx.reporter",
    "enable.metrics.push",
    "metadata.recovery.strategy",
    "metadata.recovery.rebootstrap.trigger.ms",
    "config.providers",
];

/// Whether `key` is a network-only key accepted and ignored in process.
pub(crate) fn is_network_only(key: &str) -> bool {
    NETWORK_ONLY_KEYS.contains(&key) || NETWORK_ONLY_PREFIXES.iter().any(|p| key.starts_with(p))
}

pub(crate) fn unknown(key: &str) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.to_string(),
    }
}

pub(crate) fn long(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    weir_log::parse_i64(key, value, min)
}

pub(crate) fn int(key: &str, value: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
    let v = long(key, value, min)?;
    if v > max {
        return Err(ConfigError::invalid(
            key,
            value,
            format!("must be at most {max}"),
        ));
    }
    Ok(v)
}

pub(crate) fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ConfigError::invalid(key, value, "must be true or false")),
    }
}

pub(crate) fn usize_of(key: &str, value: &str, min: i64) -> Result<usize, ConfigError> {
    let v = int(key, value, min, i64::from(i32::MAX))?;
    usize::try_from(v).map_err(|_| ConfigError::invalid(key, value, "out of range"))
}

pub(crate) fn u64_of(key: &str, value: &str, min: i64) -> Result<u64, ConfigError> {
    let v = long(key, value, min)?;
    u64::try_from(v).map_err(|_| ConfigError::invalid(key, value, "must not be negative"))
}

//! [`ProducerConfig`]: Kafka's producer configs by their property names, or
//! through typed setters.

use std::time::Duration;

use weir_log::ConfigError;
use weir_record::{Compression, CompressionConfig};

use crate::props::{boolean, int, is_network_only, long, u64_of, unknown, usize_of};

/// `acks`: when a send counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: delivered once queued in the producer.
    None,
    /// `acks=1`: delivered once written to the OS (survives a process crash).
    Leader,
    /// `acks=all` (`-1`): delivered once fsynced (survives a power loss).
    #[default]
    All,
}

impl Acks {
    fn parse(key: &str, value: &str) -> Result<Acks, ConfigError> {
        match value.trim() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(ConfigError::invalid(key, value, "must be 0, 1, all or -1")),
        }
    }

    /// Kafka's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// How a producer picks the partition of a record without an explicit one.
/// Any other partitioner (a [`Partitioner`](weir_partition::Partitioner) of
/// your own) goes to `Producer::with_partitioner`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PartitionerChoice {
    /// Kafka's built-in partitioner: murmur2 for keys, sticky for null keys
    /// (KIP-794). Its adaptive part (weighing partitions against the length
    /// of their queues) has no queue statistics to weigh here: a partition's
    /// batches are appended in process, not queued behind a broker, so the
    /// producer reports none and null keys are spread uniformly, as Kafka's
    /// partitioner does while all queues are equal.
    #[default]
    BuiltIn,
    /// `partitioner.class=org.apache.kafka.clients.producer.RoundRobinPartitioner`:
    /// [`weir_partition::RoundRobinPartitioner`], which deals records to the
    /// partitions in turn, ignoring keys.
    RoundRobin,
    /// One of librdkafka's `partitioner` values (`consistent`,
    /// `consistent_random`, `murmur2`, `murmur2_random`, `fnv1a`,
    /// `fnv1a_random`, `random`), for data that librdkafka clients partitioned.
    Librdkafka(weir_partition::LibrdkafkaPartitioner),
}

/// A producer's configuration. `Default` is Kafka 4.x's producer defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// `client.id`.
    pub client_id: String,
    /// `acks`.
    pub acks: Acks,
    /// `batch.size`: the size at which a partition's batch is sent. With
    /// compression it bounds the batch's compressed size by an estimate of
    /// the topic's compression ratio, as Kafka's producer does (the records
    /// held before compression may then be several times larger).
    pub batch_size: usize,
    /// `linger.ms`: how long a batch waits for more records.
    pub linger: Duration,
    /// `compression.type` with its level (`compression.<codec>.level`).
    pub compression: CompressionConfig,
    /// `buffer.memory`: bytes of batches waiting for delivery. As Kafka's
    /// buffer pool, each open batch takes `batch.size` of it (its records'
    /// size when larger, or only what they need when memory runs short).
    pub buffer_memory: u64,
    /// `max.block.ms`: how long `send` blocks for buffer memory.
    pub max_block: Duration,
    /// `delivery.timeout.ms`, checked as Kafka checks it (at least `linger.ms +
    /// request.timeout.ms`) but not enforced: in
    /// process a batch waits at most `linger.ms` before it is appended and
    /// nothing is retried, so an outcome waits only on the append and (with
    /// `acks=all`) the fsync. Bound a wait with `DeliveryFuture::wait_timeout`
    /// or `Producer::close_timeout`.
    pub delivery_timeout: Duration,
    /// `max.request.size`: the largest record, counted in a batch of its own
    /// (with the 61-byte batch header). Batches are bounded by `batch.size`
    /// and the topic's `max.message.bytes`, as in Kafka, where a request
    /// always carries at least one batch whatever its size.
    pub max_request_size: usize,
    /// `enable.idempotence`: stamp producer id, epoch and sequences so the log
    /// rejects gaps and acknowledges duplicates.
    pub enable_idempotence: bool,
    /// `max.in.flight.requests.per.connection` (at most 5 with idempotence).
    pub max_in_flight: usize,
    /// `partitioner.ignore.keys`: sticky partitioning even for keyed records.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable`: accepted and passed to the
    /// built-in partitioner, but without effect in process: the producer
    /// reports no queue statistics for it to weigh (see
    /// [`PartitionerChoice::BuiltIn`]), so null keys are spread uniformly
    /// either way.
    pub partitioner_adaptive: bool,
    /// The partitioner: `partitioner` (librdkafka's key) picks a librdkafka
    /// one, `partitioner.class` Kafka's `RoundRobinPartitioner`.
    pub partitioner: PartitionerChoice,
    /// `transactional.id`: makes the producer transactional (see
    /// `Producer::init_transactions`). Needs idempotence and `acks=all`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long a transaction may stay open before
    /// the coordinator aborts it (at most Kafka's broker default
    /// `transaction.max.timeout.ms`, 15 minutes).
    pub transaction_timeout: Duration,
    idempotence_set: bool,
    /// `delivery.timeout.ms` was set (only then is a value below
    /// `linger.ms + request.timeout.ms` an error, as in Kafka).
    delivery_timeout_set: bool,
    /// `request.timeout.ms` (no request goes over a network here; it only
    /// takes part in Kafka's check of `delivery.timeout.ms`).
    request_timeout_ms: u64,
    /// `retries=0` was set (only its conflict with idempotence matters here).
    retries_zero: bool,
    gzip_level: i32,
    lz4_level: i32,
    zstd_level: i32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client_id: String::new(),
            acks: Acks::All,
            batch_size: 16384,
            linger: Duration::from_millis(5),
            compression: CompressionConfig::NONE,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            delivery_timeout: Duration::from_secs(120),
            max_request_size: 1024 * 1024,
            enable_idempotence: true,
            max_in_flight: 5,
            partitioner_ignore_keys: false,
            partitioner_adaptive: true,
            partitioner: PartitionerChoice::BuiltIn,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            idempotence_set: false,
            delivery_timeout_set: false,
            request_timeout_ms: 30_000,
            retries_zero: false,
            gzip_level: -1,
            lz4_level: 9,
            zstd_level: 3,
        }
    }
}

impl ProducerConfig {
    /// A config from Kafka producer properties over the defaults.
    ///
    /// Network-only keys (`bootstrap.servers`, `ssl.*`, `sasl.*`, ...) are
    /// accepted and ignored (their values unchecked, but for
    /// `request.timeout.ms`, which takes part in Kafka's check of
    /// `delivery.timeout.ms`), so a Kafka client's properties can be used as they
    /// are.
    ///
    /// The rules across keys are applied when a producer is created
    /// ([`validate`](Self::validate)), as Kafka applies them, so a config may
    /// be completed through its fields or builders first.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unknown key or invalid value.
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut c = ProducerConfig::default();
        for (k, v) in props {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets one property by its Kafka name.
    ///
    /// # Errors
    /// As [`from_props`](Self::from_props) for this key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "client.id" => self.client_id = value.to_string(),
            "acks" => self.acks = Acks::parse(key, value)?,
            "batch.size" => self.batch_size = usize_of(key, value, 0)?,
            "linger.ms" => self.linger = Duration::from_millis(u64_of(key, value, 0)?),
            "compression.type" => {
                let codec = match value.trim() {
                    "none" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    _ => {
                        return Err(ConfigError::invalid(
                            key,
                            value,
                            "must be none, gzip, snappy, lz4 or zstd",
                        ));
                    }
                };
                self.compression = self.compression_config(codec);
            }
            "compression.gzip.level" => {
                self.gzip_level = level(key, value, Compression::Gzip)?;
                self.refresh_level(Compression::Gzip);
            }
            "compression.lz4.level" => {
                self.lz4_level = level(key, value, Compression::Lz4)?;
                self.refresh_level(Compression::Lz4);
            }
            "compression.zstd.level" => {
                self.zstd_level = level(key, value, Compression::Zstd)?;
                self.refresh_level(Compression::Zstd);
            }
            "buffer.memory" => self.buffer_memory = u64_of(key, value, 0)?,
            "max.block.ms" => self.max_block = Duration::from_millis(u64_of(key, value, 0)?),
            "delivery.timeout.ms" => {
                self.delivery_timeout =
                    Duration::from_millis(int(key, value, 0, i64::from(i32::MAX))? as u64);
                self.delivery_timeout_set = true;
            }
            "request.timeout.ms" => {
                self.request_timeout_ms = int(key, value, 0, i64::from(i32::MAX))? as u64;
            }
            "max.request.size" => self.max_request_size = usize_of(key, value, 0)?,
            "enable.idempotence" => {
                self.enable_idempotence = boolean(key, value)?;
                self.idempotence_set = true;
            }
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight = usize_of(key, value, 1)?;
            }
            "retries" => {
                self.retries_zero = int(key, value, 0, i64::from(i32::MAX))? == 0;
            }
            "partitioner.class" => match value.trim() {
                // Unset, as Kafka's default.
                "" => {}
                ROUND_ROBIN_CLASS => self.partitioner = PartitionerChoice::RoundRobin,
                _ => {
                    return Err(ConfigError::invalid(
                        key,
                        value,
                        format!(
                            "Java partitioner classes cannot run here: use {ROUND_ROBIN_CLASS}, \
                             librdkafka's partitioner key, or a weir_partition::Partitioner \
                             of your own with Producer::with_partitioner"
                        ),
                    ));
                }
            },
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = boolean(key, value)?,
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner_adaptive = boolean(key, value)?;
            }
            "partitioner.availability.timeout.ms" => {
                long(key, value, 0)?;
            }
            "partitioner" => {
                let p = value
                    .trim()
                    .parse()
                    .map_err(|e: weir_partition::UnknownPartitioner| {
                        ConfigError::invalid(key, value, e.to_string())
                    })?;
                self.partitioner = PartitionerChoice::Librdkafka(p);
            }
            "transactional.id" => {
                // Kafka treats an empty id as none.
                self.transactional_id = Some(value.to_string()).filter(|v| !v.is_empty());
            }
            "transaction.timeout.ms" => {
                let ms = u64_of(key, value, 1)?;
                if ms > MAX_TRANSACTION_TIMEOUT_MS {
                    return Err(ConfigError::invalid(
                        key,
                        value,
                        format!(
                            "must be at most {MAX_TRANSACTION_TIMEOUT_MS} (Kafka's transaction.max.timeout.ms)"
                        ),
                    ));
                }
                self.transaction_timeout = Duration::from_millis(ms);
            }
            k if is_network_only(k) => {}
            _ => return Err(unknown(key)),
        }
        Ok(())
    }

    /// `codec` at its `compression.<codec>.level`.
    fn compression_config(&self, codec: Compression) -> CompressionConfig {
        let level = match codec {
            Compression::Gzip => self.gzip_level,
            Compression::Lz4 => self.lz4_level,
            Compression::Zstd => self.zstd_level,
            _ => return CompressionConfig::new(codec),
        };
        CompressionConfig::with_level(codec, level).unwrap_or(CompressionConfig::new(codec))
    }

    /// After `compression.<codec>.level` changed: the compression in use
    /// takes the new level if it is that codec. Only keys change the
    /// compression, so a `compression` field set directly stays as it is
    /// through later `set`s of other keys.
    fn refresh_level(&mut self, codec: Compression) {
        if self.compression.compression() == codec {
            self.compression = self.compression_config(codec);
        }
    }

    /// Kafka's cross-key rules. Idempotence left at its default turns itself off
    /// when `acks` is not `all` or `retries` is 0, as in the Java client; set
    /// to `true` explicitly, it makes those values errors.
    /// `max.in.flight.requests.per.connection` over 5 is an error unless
    /// idempotence is set to `false`, as in Kafka 4's Java client (3.x turned
    /// a default idempotence off instead).
    /// `delivery.timeout.ms` must be at least `linger.ms + request.timeout.ms`
    /// when set (the default is raised to it), as in the Java client.
    ///
    /// # Errors
    /// The conflicting key.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        // Kafka's `configureDeliveryTimeout`: at least linger.ms +
        // request.timeout.ms; an explicit smaller value is an error, the
        // default is raised to it.
        let floor_ms = (self.linger.as_millis().min(i32::MAX as u128) as u64)
            .saturating_add(self.request_timeout_ms)
            .min(i32::MAX as u64);
        if (self.delivery_timeout.as_millis() as u64) < floor_ms {
            if self.delivery_timeout_set {
                return Err(ConfigError::invalid(
                    "delivery.timeout.ms",
                    &self.delivery_timeout.as_millis().to_string(),
                    format!("must be at least linger.ms + request.timeout.ms ({floor_ms})"),
                ));
            }
            self.delivery_timeout = Duration::from_millis(floor_ms);
        }
        // Kafka 4 checks the requests in flight whenever idempotence is on
        // (by default too), before the other rules may turn it off.
        if self.enable_idempotence && self.max_in_flight > 5 {
            return Err(ConfigError::invalid(
                "max.in.flight.requests.per.connection",
                &self.max_in_flight.to_string(),
                "must be at most 5 when enable.idempotence is true (the default); set enable.idempotence=false for more",
            ));
        }
        // Kafka's `postProcessAndValidateIdempotenceConfigs`: a
        // transactional id needs idempotence, which needs acks=all and
        // retries.
        let timeout_ms = self.transaction_timeout.as_millis();
        if timeout_ms == 0 || timeout_ms > u128::from(MAX_TRANSACTION_TIMEOUT_MS) {
            return Err(ConfigError::invalid(
                "transaction.timeout.ms",
                &timeout_ms.to_string(),
                format!(
                    "must be between 1 and {MAX_TRANSACTION_TIMEOUT_MS} (Kafka's transaction.max.timeout.ms)"
                ),
            ));
        }
        if self.transactional_id.is_some() {
            if !self.enable_idempotence {
                return Err(ConfigError::invalid(
                    "enable.idempotence",
                    "false",
                    "must be true when transactional.id is set",
                ));
            }
            if self.acks != Acks::All {
                return Err(ConfigError::invalid(
                    "acks",
                    self.acks.name(),
                    "must be all when transactional.id is set",
                ));
            }
            if self.retries_zero {
                return Err(ConfigError::invalid(
                    "retries",
                    "0",
                    "must not be 0 when transactional.id is set",
                ));
            }
        }
        if self.enable_idempotence && !self.idempotence_set && self.retries_zero {
            self.enable_idempotence = false;
        }
        if self.enable_idempotence && self.retries_zero {
            return Err(ConfigError::invalid(
                "retries",
                "0",
                "must not be 0 when enable.idempotence is true",
            ));
        }
        if self.enable_idempotence && self.acks != Acks::All {
            if self.idempotence_set {
                return Err(ConfigError::invalid(
                    "acks",
                    self.acks.name(),
                    "must be all when enable.idempotence is true",
                ));
            }
            self.enable_idempotence = false;
        }
        Ok(())
    }

    /// This config with `acks` set.
    #[must_use]
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// This config with `linger.ms` set.
    #[must_use]
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// This config with `batch.size` set.
    #[must_use]
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = bytes;
        self
    }

    /// This config with `compression.type` (and level) set.
    #[must_use]
    pub fn compression(mut self, compression: CompressionConfig) -> Self {
        // The level is kept as its codec's `compression.<codec>.level`, so a
        // later `compression.type` of the same codec keeps it.
        match compression.compression() {
            Compression::Gzip => self.gzip_level = compression.level(),
            Compression::Lz4 => self.lz4_level = compression.level(),
            Compression::Zstd => self.zstd_level = compression.level(),
            _ => {}
        }
        self.compression = compression;
        self
    }

    /// This config with `buffer.memory` set.
    #[must_use]
    pub fn buffer_memory(mut self, bytes: u64) -> Self {
        self.buffer_memory = bytes;
        self
    }

    /// This config with `max.block.ms` set.
    #[must_use]
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = max_block;
        self
    }

    /// This config with `enable.idempotence` set.
    #[must_use]
    pub fn idempotence(mut self, on: bool) -> Self {
        self.enable_idempotence = on;
        self.idempotence_set = true;
        self
    }

    /// This config with `client.id` set.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }
}

/// Kafka's round-robin partitioner class, which Weir implements.
const ROUND_ROBIN_CLASS: &str = "org.apache.kafka.clients.producer.RoundRobinPartitioner";

fn level(key: &str, value: &str, codec: Compression) -> Result<i32, ConfigError> {
    let v = int(key, value, i64::from(i32::MIN), i64::from(i32::MAX))?;
    let v = i32::try_from(v).map_err(|_| ConfigError::invalid(key, value, "out of range"))?;
    CompressionConfig::with_level(codec, v)
        .map_err(|e| ConfigError::invalid(key, value, e.to_string()))?;
    Ok(v)
}

/// Kafka's broker default `transaction.max.timeout.ms` (15 minutes): the
/// longest `transaction.timeout.ms` a coordinator accepts.
const MAX_TRANSACTION_TIMEOUT_MS: u64 = 900_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_defaults_and_names() {
        let c = ProducerConfig::default();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.batch_size, 16384);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.buffer_memory, 33_554_432);
        assert!(c.enable_idempotence);
        let c = ProducerConfig::from_props([
            ("acks", "1"),
            ("compression.type", "zstd"),
            ("compression.zstd.level", "9"),
            ("linger.ms", "20"),
            ("bootstrap.servers", "localhost:9092"),
            ("ssl.truststore.location", "/x"),
        ])
        .unwrap();
        assert_eq!(c.acks, Acks::Leader);
        // The rules across keys apply when the producer is created.
        let mut c = c;
        c.validate().unwrap();
        assert!(
            !c.enable_idempotence,
            "idempotence left at its default turns off with acks=1"
        );
        assert_eq!(
            (c.compression.compression(), c.compression.level()),
            (Compression::Zstd, 9)
        );
        assert_eq!(c.linger, Duration::from_millis(20));
    }

    #[test]
    fn a_typed_compression_level_survives_later_sets() {
        let zstd19 = CompressionConfig::with_level(Compression::Zstd, 19).unwrap();
        let mut c = ProducerConfig::default().compression(zstd19);
        c.set("acks", "all").unwrap();
        assert_eq!(
            (c.compression.compression(), c.compression.level()),
            (Compression::Zstd, 19)
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (k, v) in [
            ("acks", "2"),
            ("batch.size", "-1"),
            ("linger.ms", "soon"),
            ("compression.type", "brotli"),
            ("compression.lz4.level", "99"),
            ("enable.idempotence", "yes"),
            ("partitioner.class", "com.example.MyPartitioner"),
            ("partitioner", "bogus"),
            ("transaction.timeout.ms", "0"),
            ("transaction.timeout.ms", "900001"),
            ("lingr.ms", "5"),
        ] {
            let err = ProducerConfig::from_props([(k, v)]).unwrap_err();
            assert_eq!(err.key(), k, "{err}");
        }
        // The rules across keys, applied when the producer is created.
        let validated = |props: &[(&str, &str)]| {
            let mut c = ProducerConfig::from_props(props.iter().copied())?;
            c.validate().map(|()| c)
        };
        let err = validated(&[("enable.idempotence", "true"), ("acks", "1")]).unwrap_err();
        assert_eq!(err.key(), "acks");
        for (props, key) in [
            (&[("transactional.id", "t"), ("acks", "1")][..], "acks"),
            (
                &[("transactional.id", "t"), ("enable.idempotence", "false")][..],
                "enable.idempotence",
            ),
            (
                &[("transactional.id", "t"), ("retries", "0")][..],
                "retries",
            ),
        ] {
            assert_eq!(validated(props).unwrap_err().key(), key, "{props:?}");
        }
        let c = validated(&[
            ("transactional.id", "t"),
            ("transaction.timeout.ms", "900000"),
        ])
        .unwrap();
        assert_eq!(c.transactional_id.as_deref(), Some("t"));
        assert_eq!(c.transaction_timeout, Duration::from_secs(900));
        assert_eq!(
            validated(&[("transactional.id", "")])
                .unwrap()
                .transactional_id,
            None
        );
        // Left at its default, idempotence gives way to retries=0; set
        // explicitly, that is an error.
        assert!(!validated(&[("retries", "0")]).unwrap().enable_idempotence);
        let err = validated(&[("enable.idempotence", "true"), ("retries", "0")]).unwrap_err();
        assert_eq!(err.key(), "retries", "{err}");
        // More than 5 requests in flight is an error with idempotence on, by
        // default too (also where acks would turn it off), as in Kafka 4.
        let in_flight = ("max.in.flight.requests.per.connection", "6");
        for props in [
            vec![in_flight],
            vec![("acks", "1"), in_flight],
            vec![("enable.idempotence", "true"), in_flight],
        ] {
            let err = validated(&props).unwrap_err();
            assert_eq!(err.key(), in_flight.0, "{props:?}: {err}");
        }
        let c = validated(&[("enable.idempotence", "false"), in_flight]).unwrap();
        assert_eq!(c.max_in_flight, 6);
        // A config completed after its properties: acks=1, then all, keeps
        // idempotence (Kafka sees the whole config at once).
        let mut c = ProducerConfig::from_props([("acks", "1")])
            .unwrap()
            .acks(Acks::All);
        c.validate().unwrap();
        assert!(c.enable_idempotence);
    }

    #[test]
    fn a_compression_set_directly_survives_later_keys() {
        let mut c = ProducerConfig {
            compression: CompressionConfig::new(Compression::Lz4),
            ..ProducerConfig::default()
        };
        c.set("acks", "all").unwrap();
        c.set("linger.ms", "20").unwrap();
        assert_eq!(c.compression.compression(), Compression::Lz4);
        // A level key of the codec in use applies to it; another codec's
        // level waits for its compression.type.
        c.set("compression.lz4.level", "3").unwrap();
        assert_eq!(
            c.compression,
            CompressionConfig::with_level(Compression::Lz4, 3).unwrap()
        );
        c.set("compression.zstd.level", "7").unwrap();
        assert_eq!(c.compression.compression(), Compression::Lz4);
        c.set("compression.type", "zstd").unwrap();
        assert_eq!(
            c.compression,
            CompressionConfig::with_level(Compression::Zstd, 7).unwrap()
        );
        // Either order of type and level.
        let c = ProducerConfig::from_props([
            ("compression.gzip.level", "5"),
            ("compression.type", "gzip"),
        ])
        .unwrap();
        assert_eq!(
            c.compression,
            CompressionConfig::with_level(Compression::Gzip, 5).unwrap()
        );
        let c = ProducerConfig::from_props([
            ("compression.type", "gzip"),
            ("compression.gzip.level", "5"),
        ])
        .unwrap();
        assert_eq!(
            c.compression,
            CompressionConfig::with_level(Compression::Gzip, 5).unwrap()
        );
    }
}

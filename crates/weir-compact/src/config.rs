//! [`CleanerConfig`]: the broker-level `log.cleaner.*` and
//! `log.retention.check.interval.ms` settings under Kafka's names. Per-topic
//! settings (`cleanup.policy`, `retention.ms`, `min.cleanable.dirty.ratio`,
//! ...) live in each topic's `LogConfig`.

use std::time::Duration;

use weir_log::ConfigError;

/// How the cleaner runs. `Default` is Kafka's broker defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CleanerConfig {
    /// `log.cleaner.enable`: run compaction in the background.
    pub enable: bool,
    /// `log.cleaner.threads`: partitions compacted at once.
    pub threads: usize,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map, in
    /// bytes, shared by the threads (24 bytes per key, as Kafka counts).
    pub dedupe_buffer_size: u64,
    /// `log.cleaner.io.max.bytes.per.second`: read + write throttle, one
    /// rate for all the cleaner's threads (as Kafka's), measured every 300 ms.
    pub io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: sleep when nothing needs cleaning.
    pub backoff: Duration,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub retention_check_interval: Duration,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            dedupe_buffer_size: 128 * 1024 * 1024,
            io_max_bytes_per_second: f64::MAX,
            backoff: Duration::from_secs(15),
            retention_check_interval: Duration::from_secs(300),
        }
    }
}

impl CleanerConfig {
    /// A config from broker properties over the defaults.
    ///
    /// # Errors
    /// [`ConfigError`] naming an unknown key or a bad value.
    pub fn from_props<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut c = CleanerConfig::default();
        for (k, v) in props {
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Sets one property.
    ///
    /// # Errors
    /// As [`from_props`](Self::from_props).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let int = |min: u64| -> Result<u64, ConfigError> {
            let min = i64::try_from(min).unwrap_or(i64::MAX);
            Ok(weir_log::parse_i64(key, value, min)?.unsigned_abs())
        };
        match key {
            "log.cleaner.enable" => {
                self.enable = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ConfigError::invalid(key, value, "must be true or false")),
                };
            }
            "log.cleaner.threads" => {
                self.threads = usize::try_from(int(0)?)
                    .map_err(|_| ConfigError::invalid(key, value, "too large"))?;
            }
            "log.cleaner.dedupe.buffer.size" => self.dedupe_buffer_size = int(24)?,
            "log.cleaner.io.max.bytes.per.second" => {
                let v: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::invalid(key, value, "not a number"))?;
                // Below one byte a second a pass would sleep for ages, with
                // the partition locked (Kafka takes any double).
                if v.is_nan() || v < 1.0 {
                    return Err(ConfigError::invalid(
                        key,
                        value,
                        "must be at least 1 (byte per second)",
                    ));
                }
                self.io_max_bytes_per_second = v;
            }
            "log.cleaner.backoff.ms" => self.backoff = Duration::from_millis(int(0)?),
            "log.retention.check.interval.ms" => {
                self.retention_check_interval = Duration::from_millis(int(1)?);
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Keys the offset map of one cleaning may hold.
    pub(crate) fn max_map_entries(&self) -> usize {
        let per_thread = self.dedupe_buffer_size / self.threads.max(1) as u64;
        // Kafka: 16-byte hash + 8-byte offset per slot, 90 % load.
        usize::try_from(per_thread / 24 * 9 / 10)
            .unwrap_or(usize::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_and_errors() {
        let c = CleanerConfig::from_props([
            ("log.cleaner.threads", "2"),
            ("log.cleaner.dedupe.buffer.size", "2400"),
            ("log.retention.check.interval.ms", "1000"),
        ])
        .unwrap();
        assert_eq!(c.threads, 2);
        assert_eq!(c.max_map_entries(), 45);
        assert_eq!(c.retention_check_interval, Duration::from_secs(1));
        for (k, v) in [
            ("log.cleaner.threads", "-1"),
            ("log.cleaner.io.max.bytes.per.second", "0"),
            ("log.cleaner.io.max.bytes.per.second", "1e-300"),
            ("log.cleaner.enable", "yes"),
            ("log.cleaner.thread", "1"),
        ] {
            assert_eq!(CleanerConfig::from_props([(k, v)]).unwrap_err().key(), k);
        }
    }
}

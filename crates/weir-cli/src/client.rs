//! What `weir produce`, `weir consume` and `weir bench` share: the data
//! directory opened as a [`Weir`], client configs built from flags and
//! `--property KEY=VALUE`, and the exit code each [`WeirError`] maps to.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use weir::{ConfigError, ConsumerConfig, LogError, ProducerConfig, Weir, WeirError};

use crate::{Failure, parse_property};

/// `--acks`: when a sent record counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Acks {
    /// Once queued in the producer.
    #[value(name = "0")]
    Zero,
    /// Once written to the OS.
    #[value(name = "1")]
    One,
    /// Once fsynced (Kafka's -1 too).
    #[value(alias = "-1")]
    All,
}

/// `--compression`: the codec batches are compressed with, in the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Codec {
    /// Uncompressed.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as the Java client).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// The producer flags of `weir produce` and `weir bench`; each is a shorthand
/// for one Kafka producer property and overrides `--property` for that key.
#[derive(Debug, Clone, Args)]
pub(crate) struct ProducerFlags {
    /// When a record counts as delivered: 0 once queued, 1 once written to the
    /// OS, all (or -1) once fsynced (acks) [default: all].
    #[arg(long, value_enum, allow_negative_numbers = true)]
    pub(crate) acks: Option<Acks>,
    /// Compression of each batch, done in the producer (compression.type)
    /// [default: none].
    #[arg(long, value_enum)]
    pub(crate) compression: Option<Codec>,
    /// How long an open batch waits for more records (linger.ms) [default: 5].
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub(crate) linger_ms: Option<u64>,
    /// Largest batch, in bytes of uncompressed records (batch.size) [default:
    /// 16384].
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub(crate) batch_size: Option<u64>,
}

impl ProducerFlags {
    /// The flags given, as Kafka producer properties.
    fn properties(&self) -> Vec<(String, String)> {
        let mut props = Vec::new();
        if let Some(acks) = self.acks {
            let v = match acks {
                Acks::Zero => "0",
                Acks::One => "1",
                Acks::All => "all",
            };
            props.push(("acks".to_string(), v.to_string()));
        }
        if let Some(codec) = self.compression {
            let v = match codec {
                Codec::None => "none",
                Codec::Gzip => "gzip",
                Codec::Snappy => "snappy",
                Codec::Lz4 => "lz4",
                Codec::Zstd => "zstd",
            };
            props.push(("compression.type".to_string(), v.to_string()));
        }
        if let Some(ms) = self.linger_ms {
            props.push(("linger.ms".to_string(), ms.to_string()));
        }
        if let Some(bytes) = self.batch_size {
            props.push(("batch.size".to_string(), bytes.to_string()));
        }
        props
    }
}

/// Splits each `--property KEY=VALUE`.
///
/// # Errors
/// Exit 2 for text that is not KEY=VALUE, and for a property of the record
/// reader or formatter of Kafka's console tools (whose `--property` sets
/// those; client configs go through `--producer-property` and
/// `--consumer-property` there), naming the flag that does its job here.
pub(crate) fn parse_properties(texts: &[String]) -> Result<Properties, Failure> {
    texts
        .iter()
        .map(|t| {
            let (key, value) = parse_property(t, "--property")?;
            if let Some(instead) = console_property(&key) {
                return Err(Failure::Usage(format!(
                    "--property {key}: that is a property of the record reader or formatter of Kafka's console tools; here {instead}. --property takes producer and consumer configs (Kafka's --producer-property and --consumer-property)"
                )));
            }
            Ok((key, value))
        })
        .collect()
}

/// What replaces a reader or formatter property of Kafka's console producer
/// or consumer (`LineMessageReader`, `DefaultMessageFormatter`).
fn console_property(key: &str) -> Option<&'static str> {
    Some(match key {
        "parse.key" | "print.key" | "key.separator" => {
            "--key-separator SEP splits each input line into key and value (weir produce) or prints the key and SEP before the value (weir consume)"
        }
        "null.marker" => "--null-marker MARKER makes a key or value equal to MARKER null",
        "print.value"
        | "print.timestamp"
        | "print.partition"
        | "print.offset"
        | "print.headers"
        | "null.literal"
        | "line.separator"
        | "key.deserializer"
        | "value.deserializer"
        | "headers.deserializer"
        | "headers.separator"
        | "headers.key.separator"
        | "headers.delimiter"
        | "parse.headers"
        | "ignore.error" => {
            "--format json prints every field of each record (topic, partition, offset, timestamp, key, value, headers)"
        }
        _ => return None,
    })
}

fn as_refs(props: &[(String, String)]) -> Vec<(&str, &str)> {
    props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A producer config from `props`, then the flags (which win for their keys),
/// checked whole (the rules across keys too) before anything is opened.
///
/// # Errors
/// Exit 2 naming the first unknown key, bad value or conflicting key.
pub(crate) fn producer_config(
    flags: &ProducerFlags,
    props: &[(String, String)],
) -> Result<ProducerConfig, Failure> {
    let mut all = props.to_vec();
    all.extend(flags.properties());
    ProducerConfig::from_props(as_refs(&all))
        .and_then(|mut config| config.validate().map(|()| config))
        .map_err(|e| Failure::Usage(format!("producer config: {e}")))
}

/// A consumer config from `props`.
///
/// Checked whole (the rules across keys too) before anything is opened.
///
/// # Errors
/// Exit 2 naming the first unknown key, bad value or conflicting key.
pub(crate) fn consumer_config(props: &[(String, String)]) -> Result<ConsumerConfig, Failure> {
    ConsumerConfig::from_props(as_refs(props))
        .and_then(|config| config.validate().map(|()| config))
        .map_err(|e| Failure::Usage(format!("consumer config: {e}")))
}

/// Properties as `(key, value)` pairs, in the order given.
pub(crate) type Properties = Vec<(String, String)>;

/// Sends each property to the client(s) whose config knows its key: the
/// first list is for producers, the second for consumers (keys such as
/// `client.id` go to both).
///
/// # Errors
/// Exit 2 naming a key that neither a producer nor a consumer knows.
pub(crate) fn route_properties(
    props: &[(String, String)],
) -> Result<(Properties, Properties), Failure> {
    let unknown = |r: Result<(), ConfigError>| matches!(r, Err(ConfigError::UnknownKey { .. }));
    let mut producer = Vec::new();
    let mut consumer = Vec::new();
    for (k, v) in props {
        let for_producer = !unknown(ProducerConfig::default().set(k, v));
        let for_consumer = !unknown(ConsumerConfig::default().set(k, v));
        if !for_producer && !for_consumer {
            return Err(Failure::Usage(format!(
                "--property {k}: unknown config key {k:?} (neither a producer nor a consumer config)"
            )));
        }
        if for_producer {
            producer.push((k.clone(), v.clone()));
        }
        if for_consumer {
            consumer.push((k.clone(), v.clone()));
        }
    }
    Ok((producer, consumer))
}

/// Opens the data directory, naming it in the error. Compaction does not run
/// in the background of a short command (`weir compact` runs it on demand),
/// nor does offset expiry (its retention is the application's setting: the
/// command's defaults must not expire what the application keeps longer).
pub(crate) fn open(data_dir: &Path) -> Result<Weir, Failure> {
    Weir::builder(data_dir)
        .offsets_expiry(false)
        .cleaner_property("log.cleaner.enable", "false")
        .and_then(weir::WeirBuilder::open)
        .map_err(|e| match &e {
            WeirError::Log(log) if matches!(**log, LogError::DirLocked { .. }) => {
                Failure::Usage(format!("{e}; {}", crate::locked_hint(data_dir)))
            }
            WeirError::Log(log) if matches!(**log, LogError::Corrupt { .. }) => {
                Failure::Data(format!("{e}; {}", crate::damaged_hint(data_dir, log)))
            }
            _ => failure(e),
        })
}

/// Damaged data exits 1; everything else (an unknown topic, a bad config, a
/// locked directory, a record too large, I/O) exits 2, as for the log's
/// errors.
pub(crate) fn failure(e: WeirError) -> Failure {
    let damaged = match &e {
        WeirError::Corrupt { .. } | WeirError::Record(_) => true,
        WeirError::Log(log) => matches!(**log, LogError::Corrupt { .. }),
        _ => false,
    };
    if damaged {
        Failure::Data(e.to_string())
    } else {
        Failure::Usage(e.to_string())
    }
}

/// Locks, ignoring poisoning: the data behind these locks are counters that a
/// panicking callback cannot leave half-updated.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts delivery callbacks as they run, so a caller can wait until every
/// sent record's callback has finished. `Producer::flush` alone does not
/// promise that: it returns once each batch's outcome is known, which may be
/// just before that batch's callbacks run.
#[derive(Debug, Default)]
pub(crate) struct Completions {
    done: Mutex<u64>,
    changed: Condvar,
}

impl Completions {
    /// One more callback finished.
    pub(crate) fn add(&self) {
        *lock(&self.done) += 1;
        self.changed.notify_all();
    }

    /// Blocks until `n` callbacks finished or `timeout` passed; returns how
    /// many finished.
    pub(crate) fn wait_for(&self, n: u64, timeout: Duration) -> u64 {
        let deadline = weir_log::clock::deadline_in(timeout);
        let mut done = lock(&self.done);
        while *done < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            done = self
                .changed
                .wait_timeout(done, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *done
    }
}

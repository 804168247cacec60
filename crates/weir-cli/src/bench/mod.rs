//! `weir bench produce|consume|e2e`: Kafka's perf-test tools
//! (kafka-producer-perf-test, kafka-consumer-perf-test, EndToEndLatency)
//! against a fresh topic in the data directory.
//!
//! Each run creates its topic, drives it with `--producers` threads sharing one
//! [`weir::Producer`] and/or `--consumers` threads each owning a
//! [`weir::Consumer`] over a disjoint slice of the partitions, prints one
//! [`Report`](report::Report), and deletes the topic unless `--keep`.

mod consume;
mod e2e;
mod produce;
mod report;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use clap::{Args, Subcommand};
use weir::{ConsumerConfig, ProducerConfig, Weir};

use crate::client::{self, ProducerFlags};
use crate::{Failure, Format};

/// The header `bench e2e` stamps on each record: the send time, as 8
/// big-endian bytes of nanoseconds since an `Instant` the producer and
/// consumer threads share.
pub(crate) const SENT_NS_HEADER: &str = "weir-bench-sent-ns";

/// How many distinct keys the records cycle through (`key-<i % 1000>`).
const KEYS: u64 = 1000;

/// `weir bench` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Producer throughput and latency (kafka-producer-perf-test).
    ///
    /// --producers threads share one producer and send --records records in
    /// all. Latency is per record, from the call to send until its delivery
    /// callback (per --acks: queued, written to the OS, or fsynced); the
    /// clock stops when every record is delivered.
    Produce {
        #[command(flatten)]
        common: BenchArgs,
        /// Send at most this many records per second in all (0: unlimited).
        #[arg(
            long,
            allow_negative_numbers = true,
            value_name = "RECORDS_PER_SEC",
            default_value_t = 0
        )]
        rate: u64,
    },
    /// Consumer throughput (kafka-consumer-perf-test).
    ///
    /// First produces --records records, untimed; then --consumers threads,
    /// each assigned a disjoint slice of the partitions, read them all from
    /// the beginning. The clock runs from the consumers' start until every
    /// partition is read to its end offset. No latency is reported.
    Consume {
        #[command(flatten)]
        common: BenchArgs,
    },
    /// End-to-end latency: producers and consumers run together.
    ///
    /// Each record carries its send time in a header, weir-bench-sent-ns (8
    /// big-endian bytes of nanoseconds since an instant shared by all threads
    /// of the process, so nanosecond-precise, unlike the ms record
    /// timestamp). Latency = the time a consumer's poll returned the record
    /// minus that send time. Records are readable once appended, before any
    /// fsync, so --linger-ms adds up to its wait while --acks counts only
    /// through the producer's back-pressure (buffer.memory is freed on
    /// delivery). The clock runs from the first send until the last record is
    /// consumed.
    E2e {
        #[command(flatten)]
        common: BenchArgs,
        /// Send at most this many records per second in all (0: unlimited).
        #[arg(
            long,
            allow_negative_numbers = true,
            value_name = "RECORDS_PER_SEC",
            default_value_t = 10_000
        )]
        rate: u64,
    },
}

/// Flags every bench kind takes.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The topic to create; it must not exist [default:
    /// weir-bench-KIND-PID].
    #[arg(long)]
    topic: Option<String>,
    /// Partitions of the topic.
    #[arg(long, allow_negative_numbers = true, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    partitions: u32,
    /// Keep the topic and its data at the end instead of deleting it.
    #[arg(long)]
    keep: bool,
    /// Records to send (and, for consume and e2e, to read).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Bytes of each record's value: random printable ASCII, different for
    /// each record (compressible to about 82%). Keys are `key-<i % 1000>`.
    #[arg(long, allow_negative_numbers = true, value_name = "BYTES", default_value_t = 170, value_parser = clap::value_parser!(u32).range(0..=16 << 20))]
    record_size: u32,
    #[command(flatten)]
    producer: ProducerFlags,
    /// Producer threads, all sending through one shared producer (for
    /// consume, they fill the topic before the timed read).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    producers: u16,
    /// Consumer threads (consume and e2e), each with its own consumer
    /// assigned a disjoint, contiguous slice of the partitions; at most
    /// --partitions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    consumers: u16,
    /// A Kafka producer or consumer property, as KEY=VALUE (repeatable). Each
    /// goes to the client(s) whose config knows the key; the producer flags
    /// above win over a property with the same key. Consumers start with
    /// auto.offset.reset=earliest.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Output: a table on stdout and a progress bar on stderr (when it is a
    /// terminal), or one JSON object on stdout and no progress bar.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// A bench kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Produce,
    Consume,
    E2e,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Produce => "produce",
            Kind::Consume => "consume",
            Kind::E2e => "e2e",
        }
    }
}

/// Everything a run needs: the open directory, its fresh topic, the client
/// configs and the record values.
struct Bench<'a> {
    weir: Weir,
    topic: String,
    args: &'a BenchArgs,
    producer_config: ProducerConfig,
    consumer_config: ConsumerConfig,
    payloads: Payloads,
    show_progress: bool,
}

/// Set by SIGINT, SIGTERM or SIGHUP: the bench's threads stop, and the run
/// deletes its topic (unless `--keep`) before it exits.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether a signal asked the bench to stop.
pub(super) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Makes the signals stop the bench rather than the process, so that its
/// topic is deleted; a second signal exits at once (130). Without a handler
/// (one was set already) the signals keep their default action.
fn stop_on_signals() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Runs a bench and prints its report to `out`.
pub(crate) fn run(
    data_dir: &Path,
    command: &BenchCommand,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let (kind, args, rate) = match command {
        BenchCommand::Produce { common, rate } => (Kind::Produce, common, *rate),
        BenchCommand::Consume { common } => (Kind::Consume, common, 0),
        BenchCommand::E2e { common, rate } => (Kind::E2e, common, *rate),
    };
    if kind != Kind::Produce && u32::from(args.consumers) > args.partitions {
        return Err(Failure::Usage(format!(
            "--consumers {} exceeds --partitions {}: each consumer needs a partition",
            args.consumers, args.partitions
        )));
    }
    let props = client::parse_properties(&args.properties)?;
    let (producer_props, consumer_props) = client::route_properties(&props)?;
    let producer_config = client::producer_config(&args.producer, &producer_props)?;
    let mut with_reset = vec![("auto.offset.reset".to_string(), "earliest".to_string())];
    with_reset.extend(consumer_props);
    let consumer_config = client::consumer_config(&with_reset)?;
    let topic = args
        .topic
        .clone()
        .unwrap_or_else(|| format!("weir-bench-{}-{}", kind.name(), std::process::id()));
    let weir = client::open(data_dir)?;
    stop_on_signals();
    let created = weir.admin().create_topic(&topic, args.partitions, &[]);
    if let Err(e) = created {
        let _ = weir.close();
        return Err(client::failure(e));
    }
    let bench = Bench {
        weir: weir.clone(),
        topic: topic.clone(),
        args,
        producer_config,
        consumer_config,
        payloads: Payloads::new(args.record_size as usize),
        show_progress: args.format == Format::Text
            && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let result = match kind {
        Kind::Produce => produce::run(&bench, rate),
        Kind::Consume => consume::run(&bench),
        Kind::E2e => e2e::run(&bench, rate),
    };
    drop(bench);
    let printed = if interrupted() {
        let cleanup = if args.keep {
            format!("topic {topic} kept (--keep)")
        } else {
            format!("topic {topic} deleted")
        };
        Err(Failure::Interrupted(format!(
            "interrupted: the bench stopped before it finished, no report; {cleanup}"
        )))
    } else {
        result.and_then(|report| report.print(args.format, out))
    };
    let deleted = if args.keep {
        Ok(())
    } else {
        weir.admin().delete_topic(&topic).map_err(client::failure)
    };
    let closed = weir.close().map_err(client::failure);
    printed.and(deleted).and(closed)
}

/// Record values and keys, made once: values are slices of one pool of
/// random printable bytes at scattered starts, so sending copies nothing and
/// batches are not trivially compressible.
struct Payloads {
    pool: Bytes,
    size: usize,
    keys: Vec<Bytes>,
}

/// Distinct value starts in the pool: a prime about 2^20, so the values in
/// one batch rarely overlap and compress like random printable text (to about
/// 82%, log2(94)/8), not like one repeated payload.
const POOL_STARTS: u64 = 1_048_573;

impl Payloads {
    fn new(size: usize) -> Self {
        // xorshift64*: fixed seed, so runs send the same bytes.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let pool: Vec<u8> = (0..size + POOL_STARTS as usize)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
                b'!' + (r % 94) as u8
            })
            .collect();
        Payloads {
            pool: Bytes::from(pool),
            size,
            keys: (0..KEYS).map(|i| Bytes::from(format!("key-{i}"))).collect(),
        }
    }

    /// Record `i`'s value: `size` bytes.
    fn value(&self, i: u64) -> Bytes {
        let start = (i.wrapping_mul(2_654_435_761) % POOL_STARTS) as usize;
        self.pool.slice(start..start + self.size)
    }

    /// Record `i`'s key, `key-<i % 1000>`.
    fn key(&self, i: u64) -> Bytes {
        self.keys
            .get((i % KEYS) as usize)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_printable_sized_and_vary() {
        let p = Payloads::new(170);
        let a = p.value(0);
        let b = p.value(1);
        assert_eq!((a.len(), b.len()), (170, 170));
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_graphic()));
        assert_eq!(p.key(1234), Bytes::from("key-234"));
        assert_eq!(Payloads::new(0).value(7).len(), 0);
    }
}

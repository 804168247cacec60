//! The orders pipeline: streaming enrichment and a batch report over one Weir
//! data directory, in one process.
//!
//! ```text
//!  checkout ──▶ orders (6) ──▶ enricher ──┬─▶ orders-enriched (6) ──▶ revenue report
//!  (producer)                    │        ├─▶ order-alerts (1)        (bounded read)
//!                                │        └─▶ orders-dlq (1)
//!                                └──▶ orders-pipeline-checkpoints (compacted)
//! ```
//!
//! [`run`] creates the topics if missing, resumes from the checkpoints of the
//! previous run, then runs three threads at once: the checkout producer
//! ([`source`]), the enricher ([`enricher`]) and, once the enricher is halfway
//! through this run's orders, the batch job ([`report`]). It returns a
//! [`RunReport`] whose `Display` is what the `orders_pipeline` example prints.
//!
//! ```
//! use weir_examples::orders::{PipelineConfig, run};
//!
//! let dir = tempfile::tempdir()?;
//! let config = PipelineConfig {
//!     orders: 1_000,
//!     rate_per_sec: 0, // as fast as possible
//!     ..PipelineConfig::new(dir.path())
//! };
//! let first = run(&config)?;
//! let second = run(&config)?;
//! // The second run started where the first one's checkpoints said...
//! assert_eq!(second.checkpoints_at_start, first.checkpoints_at_end);
//! // ...and enriched only its own orders.
//! assert_eq!(second.enricher.consumed, 1_000);
//! # Ok::<(), weir_examples::orders::Error>(())
//! ```

pub mod checkpoint;
pub mod enricher;
pub mod model;
pub mod report;
pub mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weir::{NewTopic, Producer, ProducerRecord, Weir, WeirError};

use self::enricher::{EnricherSignals, EnricherStats, run_enricher};
use self::report::{RevenueReport, revenue_report, thousands, utc};
use self::source::{SourceStats, next_order_id, produce_orders};

/// Errors of the pipeline: Weir's, JSON's, and a few of its own as text.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The header carrying an order's creation time in µs since the epoch.
pub const CREATED_AT_HEADER: &str = "created-at-us";

/// The header carrying an order's id (in decimal), readable even when the
/// order itself is malformed: the next run takes its first id from it.
pub const ORDER_ID_HEADER: &str = "order-id";

/// The pipeline's topic names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Orders as the checkout service writes them.
    pub orders: &'static str,
    /// Enriched orders.
    pub enriched: &'static str,
    /// Large-order alerts.
    pub alerts: &'static str,
    /// Orders that could not be enriched.
    pub dlq: &'static str,
    /// The enricher's positions (compacted).
    pub checkpoints: &'static str,
}

/// The topics the example uses.
pub const TOPICS: Topics = Topics {
    orders: "orders",
    enriched: "orders-enriched",
    alerts: "order-alerts",
    dlq: "orders-dlq",
    checkpoints: "orders-pipeline-checkpoints",
};

const DAY_MS: i64 = 24 * 3600 * 1000;
const WEEK_MS: &str = "604800000";
const MONTH_MS: &str = "2592000000";

/// The topics with their partitions and the Kafka configs they are created
/// with.
fn topic_specs(t: &Topics) -> Vec<NewTopic> {
    vec![
        // The event streams keep a week, in 64 MiB segments so retention can
        // drop whole old segments.
        NewTopic::new(t.orders, 6)
            .config("retention.ms", WEEK_MS)
            .config("segment.bytes", "67108864"),
        NewTopic::new(t.enriched, 6)
            .config("retention.ms", WEEK_MS)
            .config("segment.bytes", "67108864"),
        // People look at alerts and dead letters days later: keep a month.
        NewTopic::new(t.alerts, 1).config("retention.ms", MONTH_MS),
        NewTopic::new(t.dlq, 1).config("retention.ms", MONTH_MS),
        // Only the latest checkpoint per key matters: compact, in small
        // segments so the cleaner can get at them.
        NewTopic::new(t.checkpoints, 1)
            .config("cleanup.policy", "compact")
            .config("segment.bytes", "1048576")
            .config("min.cleanable.dirty.ratio", "0.1"),
    ]
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// The Weir data directory (created if missing).
    pub data_dir: PathBuf,
    /// Orders this run produces.
    pub orders: u64,
    /// Orders per second (0: as fast as possible).
    pub rate_per_sec: u64,
}

impl PipelineConfig {
    /// 200,000 orders at 100,000 a second into `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        PipelineConfig {
            data_dir: data_dir.into(),
            orders: 200_000,
            rate_per_sec: 100_000,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Each topic, its partition count, and whether this run created it.
    pub topics: Vec<(String, u32, bool)>,
    /// The checkpoints found at start (next offset per `orders` partition).
    pub checkpoints_at_start: BTreeMap<i32, i64>,
    /// The checkpoints in the topic at the end.
    pub checkpoints_at_end: BTreeMap<i32, i64>,
    /// The producer's side.
    pub source: SourceStats,
    /// The enricher's side.
    pub enricher: EnricherStats,
    /// The batch job's report.
    pub report: RevenueReport,
    /// When the batch job started, after the run's start.
    pub report_started_after: Duration,
    /// The whole run.
    pub elapsed: Duration,
}

/// Runs the pipeline once: see the module docs. Blocks until done, and closes
/// the data directory.
///
/// # Errors
/// The first failure of any part: the data directory (in use by another
/// process, say), a topic, a delivery, an unreadable checkpoint.
pub fn run(config: &PipelineConfig) -> Result<RunReport, Error> {
    let started = Instant::now();
    let weir = Weir::open(&config.data_dir)?;
    let outcome = run_on(&weir, config, started);
    // Close even after a failure, so the next open needs no recovery; the
    // failure is what gets reported.
    let closed = weir.close();
    let mut report = outcome?;
    closed?;
    report.elapsed = started.elapsed();
    Ok(report)
}

fn run_on(weir: &Weir, config: &PipelineConfig, started: Instant) -> Result<RunReport, Error> {
    let t = &TOPICS;
    let topics = create_topics(weir, t)?;
    // The enricher's transactional producer first: its init fences any
    // other enricher and ends that one's open transaction, so that the
    // checkpoints read next are final (Kafka Streams fences, then reads the
    // committed positions).
    let producer = enricher::open_producer(weir)?;
    // "A second run continues where the first left off": positions from the
    // checkpoint topic, order ids from the orders written so far.
    let checkpoints_at_start = checkpoint::load_checkpoints(weir, t.checkpoints, t.orders)?;
    let first_order_id = next_order_id(weir, t.orders)?;

    let (stop_tx, stop_rx) = mpsc::channel();
    let (half_tx, half_rx) = mpsc::channel();
    let (source, enricher, (report, report_started_after)) = thread::scope(|s| {
        let source = s.spawn(move || {
            let stats = produce_orders(
                weir,
                t.orders,
                first_order_id,
                config.orders,
                config.rate_per_sec,
            )?;
            // The enricher is done once it has read up to here.
            let _ = stop_tx.send(stats.end_offsets.clone());
            Ok::<_, Error>(stats)
        });
        let enricher = s.spawn(|| {
            let signals = EnricherSignals {
                stop_at: stop_rx,
                after: config.orders / 2,
                notify: half_tx,
            };
            run_enricher(weir, t, producer, &checkpoints_at_start, signals)
        });
        let batch = s.spawn(move || {
            // In production a scheduler starts this job; here it starts when
            // the enricher is halfway through this run, so that it overlaps
            // the streaming part and has data to read on the first run too.
            let _ = half_rx.recv();
            let job_started = started.elapsed();
            let now_ms = micros_since_epoch() / 1000;
            // The last 24 hours of order time up to now, resolved to offsets
            // through the time index.
            let report = revenue_report(weir, t.enriched, Some((now_ms - DAY_MS, now_ms)))?;
            Ok::<_, Error>((report, job_started))
        });
        Ok::<_, Error>((join(source)?, join(enricher)?, join(batch)?))
    })?;
    let checkpoints_at_end = checkpoint::load_checkpoints(weir, t.checkpoints, t.orders)?;
    Ok(RunReport {
        data_dir: config.data_dir.clone(),
        topics,
        checkpoints_at_start,
        checkpoints_at_end,
        source,
        enricher,
        report,
        report_started_after,
        elapsed: started.elapsed(),
    })
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, Result<T, Error>>) -> Result<T, Error> {
    handle
        .join()
        .map_err(|_| Error::from("a pipeline thread panicked"))?
}

/// Creates the missing topics; returns each with its partition count and
/// whether it was created now.
fn create_topics(weir: &Weir, t: &Topics) -> Result<Vec<(String, u32, bool)>, Error> {
    let admin = weir.admin();
    let existing = admin.list_topics();
    let specs = topic_specs(t);
    let missing: Vec<NewTopic> = specs
        .iter()
        .filter(|topic| !existing.contains(&topic.name))
        .cloned()
        .collect();
    for created in admin.create_topics(&missing) {
        created?;
    }
    specs
        .iter()
        .map(|topic| {
            let partitions = weir.topic(&topic.name)?.partition_count();
            Ok((topic.name.clone(), partitions, missing.contains(topic)))
        })
        .collect()
}

/// Microseconds since the Unix epoch: the clock both ends of the latency
/// measurement read (one process, one clock).
pub fn micros_since_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The outcomes of a producer's sends, tracked through their callbacks: how
/// many are still pending, and the first failure.
///
/// `Producer::flush` alone is not enough to know that every send succeeded:
/// with `acks=all` it returns once the batches are complete, which can be
/// before their callbacks have run (Kafka's Java producer runs the callbacks
/// first). So [`wait`](Self::wait) counts the callbacks in.
#[derive(Debug, Clone, Default)]
pub struct Deliveries(Arc<(Mutex<DeliveryState>, Condvar)>);

#[derive(Debug, Default)]
struct DeliveryState {
    pending: u64,
    failure: Option<WeirError>,
}

/// How long [`Deliveries::wait`] waits for callbacks after a flush.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(60);

impl Deliveries {
    /// Sends `record` and tracks its outcome; `on_delivered` runs once it is
    /// delivered (on the thread that completes its batch: keep it short).
    ///
    /// # Errors
    /// As `Producer::send`; the record is not tracked then.
    pub fn send(
        &self,
        producer: &Producer,
        record: ProducerRecord,
        on_delivered: impl FnOnce() + Send + 'static,
    ) -> Result<(), WeirError> {
        self.state().pending += 1;
        let this = self.clone();
        let sent = producer.send_with_callback(record, move |outcome| {
            let failure = match outcome {
                Ok(_) => {
                    on_delivered();
                    None
                }
                Err(e) => Some(e),
            };
            let mut state = this.state();
            if let Some(e) = failure {
                state.failure.get_or_insert(e);
            }
            state.pending = state.pending.saturating_sub(1);
            drop(state);
            this.0.1.notify_all();
        });
        if sent.is_err() {
            // The callback will not run.
            let mut state = self.state();
            state.pending = state.pending.saturating_sub(1);
        }
        sent
    }

    /// Blocks until every tracked send has its outcome (flush the producer
    /// first, or this waits for `linger.ms`).
    ///
    /// # Errors
    /// The first failed delivery so far; a timeout if callbacks stop coming.
    pub fn wait(&self) -> Result<(), Error> {
        let (lock, cv) = &*self.0;
        let state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (state, timeout) = cv
            .wait_timeout_while(state, CALLBACK_TIMEOUT, |s| s.pending > 0)
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = &state.failure {
            return Err(e.clone().into());
        }
        if timeout.timed_out() {
            return Err(format!(
                "{} deliveries still pending after {CALLBACK_TIMEOUT:?}",
                state.pending
            )
            .into());
        }
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DeliveryState> {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// p50, p99 and max of µs samples (sorted in place), as text.
fn percentiles(samples: &mut [u64]) -> String {
    samples.sort_unstable();
    let at = |q: usize| {
        let i = (samples.len() * q / 100).min(samples.len().saturating_sub(1));
        samples.get(i).copied().unwrap_or(0) as f64 / 1e3
    };
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} orders)",
        at(50),
        at(99),
        samples.last().copied().unwrap_or(0) as f64 / 1e3,
        thousands(samples.len() as u64)
    )
}

fn offsets(positions: &BTreeMap<i32, i64>) -> String {
    if positions.is_empty() {
        return "none".to_string();
    }
    positions
        .iter()
        .map(|(p, o)| format!("{p}:{o}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_setup(f)?;
        writeln!(f)?;
        self.write_streaming(f)?;
        writeln!(f)?;
        self.write_batch(f)?;
        writeln!(f)?;
        write!(f, "done in {:.2} s", self.elapsed.as_secs_f64())
    }
}

impl RunReport {
    fn write_setup(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data directory {}", self.data_dir.display())?;
        for (name, partitions, created) in &self.topics {
            let how = if *created { "created" } else { "exists" };
            writeln!(f, "  topic {name:<28} {partitions} partitions ({how})")?;
        }
        if self.checkpoints_at_start.is_empty() {
            writeln!(
                f,
                "no checkpoints: the enricher starts at the beginning of orders"
            )?;
        } else {
            writeln!(
                f,
                "resuming from checkpoints (orders partition:next offset): {}",
                offsets(&self.checkpoints_at_start)
            )?;
        }
        Ok(())
    }

    fn write_streaming(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (src, enr) = (&self.source, &self.enricher);
        writeln!(
            f,
            "producer  {} orders (ids {}..{}, {} malformed on purpose) in {:.2} s: \
             {} records/s, {:.1} MB/s",
            thousands(src.orders),
            src.first_order_id,
            src.first_order_id + src.orders,
            thousands(src.malformed),
            src.elapsed.as_secs_f64(),
            thousands(rate(src.orders, src.elapsed) as u64),
            rate(src.bytes, src.elapsed) / 1e6
        )?;
        let dlq: Vec<String> = enr
            .dead_lettered
            .iter()
            .map(|(class, n)| format!("{class} {n}"))
            .collect();
        writeln!(
            f,
            "enricher  {} orders read: {} enriched, {} alerts, {} dead-lettered ({})",
            thousands(enr.consumed),
            thousands(enr.enriched),
            thousands(enr.alerts),
            thousands(enr.dead_lettered_total()),
            if dlq.is_empty() {
                "-".to_string()
            } else {
                dlq.join(", ")
            }
        )?;
        writeln!(
            f,
            "          in {:.2} s: {} records/s, {:.1} MB/s in; busy {:.0}% of the time, \
             {} checkpoints",
            enr.elapsed.as_secs_f64(),
            thousands(rate(enr.consumed, enr.elapsed) as u64),
            rate(enr.bytes_in, enr.elapsed) / 1e6,
            100.0 * enr.busy.as_secs_f64() / enr.elapsed.as_secs_f64().max(1e-9),
            enr.checkpoints
        )?;
        let mut delivered = enr.delivered_latencies_us.clone();
        writeln!(
            f,
            "latency   order created -> enriched order fsynced: {}",
            percentiles(&mut delivered)
        )?;
        let mut committed = enr.latencies_us.clone();
        writeln!(
            f,
            "          -> committed, seen by read_committed readers (every {} ms): {}",
            enricher::CHECKPOINT_INTERVAL.as_millis(),
            percentiles(&mut committed)
        )?;
        writeln!(
            f,
            "checkpoints now (orders partition:next offset): {}",
            offsets(&self.checkpoints_at_end)
        )
    }

    fn write_batch(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let window = match self.report.window_ms {
            Some((start, end)) => format!("orders created {} .. {}", utc(start), utc(end)),
            None => "everything".to_string(),
        };
        writeln!(
            f,
            "batch job, started {:.2} s into the run while the enricher kept going: revenue \
             report over {}, {window}",
            self.report_started_after.as_secs_f64(),
            self.report.topic
        )?;
        write!(f, "{}", self.report)
    }
}

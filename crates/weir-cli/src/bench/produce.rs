//! `weir bench produce`, and the sending half every bench kind uses:
//! `--producers` threads sending through one shared [`Producer`], optionally
//! at a fixed rate, timing each record from send to delivery callback.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use weir::{Producer, ProducerRecord, RecordMetadata, WeirError};

use super::report::{Progress, Report, latency_histogram, record_ns};
use super::{Bench, SENT_NS_HEADER};
use crate::Failure;
use crate::client::{self, Completions, lock};

/// What the sending threads did.
pub(super) struct Sent {
    /// Records delivered.
    pub(super) delivered: u64,
    /// From the first send until every delivery callback ran.
    pub(super) elapsed: Duration,
    /// Send → delivery callback, in µs.
    pub(super) latency: Histogram<u64>,
}

/// State the delivery callbacks update.
struct Deliveries {
    latency: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<WeirError>>,
    completions: Completions,
    progress: Arc<AtomicU64>,
}

impl Deliveries {
    fn record(&self, outcome: Result<RecordMetadata, WeirError>, sent_at: Instant) {
        match outcome {
            Ok(_) => {
                record_ns(&mut lock(&self.latency), sent_at.elapsed().as_nanos());
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.progress.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                lock(&self.first_error).get_or_insert(e);
            }
        }
        self.completions.add();
    }
}

/// How the sending threads send.
pub(super) struct Plan<'a> {
    /// The shared producer.
    pub(super) producer: &'a Producer,
    /// Records per second in all; 0 for as fast as the producer takes them.
    pub(super) rate: u64,
    /// Stamp each record with [`SENT_NS_HEADER`], nanoseconds since this.
    pub(super) stamp_since: Option<Instant>,
    /// Bumped per delivered record.
    pub(super) progress: Arc<AtomicU64>,
}

/// Sends `--records` records from `--producers` threads (thread `t` sends
/// records `t`, `t + producers`, ...) and waits for every delivery.
///
/// # Errors
/// A send that failed or a record not delivered; the error of the first.
pub(super) fn send_records(bench: &Bench<'_>, plan: &Plan<'_>) -> Result<Sent, Failure> {
    let deliveries = Arc::new(Deliveries {
        latency: Mutex::new(latency_histogram()?),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        first_error: Mutex::new(None),
        completions: Completions::default(),
        progress: Arc::clone(&plan.progress),
    });
    let threads = u64::from(bench.args.producers);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut send_error: Option<Failure> = None;
    thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..threads {
            let (deliveries, stop) = (&deliveries, &stop);
            let spawned = thread::Builder::new()
                .name(format!("weir-bench-producer-{t}"))
                .spawn_scoped(s, move || {
                    send_share(bench, plan, t, threads, start, deliveries, stop)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    send_error.get_or_insert(Failure::Usage(format!(
                        "cannot start a producer thread: {e}"
                    )));
                }
            }
        }
        for h in handles {
            match h.join() {
                Ok((n, result)) => {
                    sent += n;
                    if let Err(e) = result {
                        send_error.get_or_insert(client::failure(e));
                    }
                }
                Err(_) => {
                    send_error.get_or_insert(Failure::Usage("a producer thread panicked".into()));
                }
            }
        }
    });
    plan.producer.flush();
    // flush returns once every batch's outcome is known; wait for the
    // callbacks that count them too.
    let completed = deliveries
        .completions
        .wait_for(sent, Duration::from_secs(120));
    let elapsed = start.elapsed();
    if let Some(e) = send_error {
        return Err(e);
    }
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if let Some(e) = lock(&deliveries.first_error).take() {
        return Err(Failure::Usage(format!("{failed} record(s) failed: {e}")));
    }
    if completed < sent {
        return Err(Failure::Usage(format!(
            "only {completed} of {sent} deliveries completed within 120 s of the flush"
        )));
    }
    let latency = std::mem::replace(&mut *lock(&deliveries.latency), latency_histogram()?);
    Ok(Sent {
        delivered: deliveries.delivered.load(Ordering::Relaxed),
        elapsed,
        latency,
    })
}

/// One thread's records; returns how many it sent, and the send error that
/// stopped it early.
fn send_share(
    bench: &Bench<'_>,
    plan: &Plan<'_>,
    t: u64,
    threads: u64,
    start: Instant,
    deliveries: &Arc<Deliveries>,
    stop: &AtomicBool,
) -> (u64, Result<(), WeirError>) {
    // Each thread keeps its share of the rate on its own schedule: the n-th
    // send is due n / rate_per_thread seconds after the start. A thread that
    // falls behind sends without waiting until it is on schedule again.
    let per_thread_rate = plan.rate as f64 / threads as f64;
    let mut sent = 0u64;
    let mut i = t;
    while i < bench.args.records {
        if stop.load(Ordering::Relaxed) || super::interrupted() {
            break;
        }
        if plan.rate > 0
            && let Some(due) = Duration::try_from_secs_f64(sent as f64 / per_thread_rate)
                .ok()
                .and_then(|d| start.checked_add(d))
        {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        let mut record = ProducerRecord::new(bench.topic.as_str(), bench.payloads.value(i))
            .key(bench.payloads.key(i));
        let sent_at = Instant::now();
        if let Some(base) = plan.stamp_since {
            let ns = u64::try_from(sent_at.duration_since(base).as_nanos()).unwrap_or(u64::MAX);
            record = record.header(SENT_NS_HEADER, ns.to_be_bytes().to_vec());
        }
        let d = Arc::clone(deliveries);
        let result = plan
            .producer
            .send_with_callback(record, move |outcome| d.record(outcome, sent_at));
        if let Err(e) = result {
            stop.store(true, Ordering::Relaxed);
            return (sent, Err(e));
        }
        sent += 1;
        i += threads;
    }
    (sent, Ok(()))
}

/// `weir bench produce`.
pub(super) fn run(bench: &Bench<'_>, rate: u64) -> Result<Report, Failure> {
    let producer =
        Producer::new(&bench.weir, bench.producer_config.clone()).map_err(client::failure)?;
    let progress = Progress::start("produce", bench.args.records, bench.show_progress);
    let plan = Plan {
        producer: &producer,
        rate,
        stamp_since: None,
        progress: progress.counter(),
    };
    let sent = send_records(bench, &plan);
    producer.close();
    drop(progress);
    let sent = sent?;
    Ok(Report::new(
        bench,
        "produce",
        sent.delivered,
        sent.elapsed,
        Some(("send to delivery callback (per --acks)", &sent.latency)),
    ))
}

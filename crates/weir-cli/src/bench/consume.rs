//! `weir bench consume`, and the reading half of `e2e`: `--consumers` threads,
//! each with its own [`Consumer`] assigned a disjoint slice of the partitions,
//! polling until every partition is read to its target end offset.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use weir::{Consumer, TopicPartition, WeirError};

use super::produce::{Plan, Sent, send_records};
use super::report::{Progress, Report, latency_histogram, record_ns};
use super::{Bench, SENT_NS_HEADER};
use crate::Failure;
use crate::client;

/// How long a consumer may go without a record while its partitions are
/// behind their targets before the bench gives up.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The offsets each partition is read up to, by partition; set once known
/// (at once for `consume`, after the producers finish for `e2e`).
pub(super) type Targets = OnceLock<Vec<i64>>;

/// What one consumer thread read.
pub(super) struct Received {
    /// Records read.
    pub(super) records: u64,
    /// When its last partition reached its target.
    pub(super) finished: Instant,
    /// Poll return time minus the [`SENT_NS_HEADER`] stamp, in µs (e2e only).
    pub(super) latency: Histogram<u64>,
}

impl Received {
    /// Every delivered record was consumed: a count that differs is a data
    /// problem.
    pub(super) fn check_against(&self, sent: &Sent) -> Result<(), Failure> {
        if self.records != sent.delivered {
            return Err(Failure::Data(format!(
                "consumed {} record(s) but {} were delivered",
                self.records, sent.delivered
            )));
        }
        Ok(())
    }
}

/// Contiguous, disjoint slices of `0..partitions`, one per consumer, sizes
/// differing by at most one.
pub(super) fn slices(partitions: u32, consumers: u16) -> Vec<Vec<i32>> {
    let (p, c) = (u64::from(partitions), u64::from(consumers.max(1)));
    (0..c)
        .map(|k| {
            (k * p / c..(k + 1) * p / c)
                .map(|x| i32::try_from(x).unwrap_or(i32::MAX))
                .collect()
        })
        .collect()
}

/// What the consumer threads share.
pub(super) struct Reading<'a> {
    /// Where each partition ends.
    pub(super) targets: &'a Targets,
    /// For e2e: the instant the send stamps count from.
    pub(super) stamp_since: Option<Instant>,
    /// Bumped per record read.
    pub(super) progress: &'a AtomicU64,
    /// Set to make the consumers stop early (the producers failed).
    pub(super) stop: &'a AtomicBool,
}

/// Starts one thread per slice; each assigns its partitions, seeks to the
/// beginning, sends on `ready`, then reads.
pub(super) fn spawn<'scope, 'env>(
    s: &'scope Scope<'scope, 'env>,
    bench: &'scope Bench<'_>,
    reading: &'scope Reading<'_>,
    ready: &Sender<()>,
) -> Result<Vec<ScopedJoinHandle<'scope, Result<Received, WeirError>>>, Failure> {
    let mut handles = Vec::new();
    for (k, slice) in slices(bench.args.partitions, bench.args.consumers)
        .into_iter()
        .enumerate()
    {
        let ready = ready.clone();
        let h = thread::Builder::new()
            .name(format!("weir-bench-consumer-{k}"))
            .spawn_scoped(s, move || read_slice(bench, reading, &slice, &ready))
            .map_err(|e| Failure::Usage(format!("cannot start a consumer thread: {e}")))?;
        handles.push(h);
    }
    Ok(handles)
}

/// Joins the consumer threads; the total read, the last to finish, and the
/// merged latencies.
pub(super) fn join(
    handles: Vec<ScopedJoinHandle<'_, Result<Received, WeirError>>>,
) -> Result<Received, Failure> {
    let mut total = Received {
        records: 0,
        finished: Instant::now(),
        latency: latency_histogram()?,
    };
    let mut latest: Option<Instant> = None;
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => {
                total.records += r.records;
                latest = Some(latest.map_or(r.finished, |l| l.max(r.finished)));
                // Same bounds, so adding cannot fail.
                let _ = total.latency.add(&r.latency);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(client::failure(e));
            }
            Err(_) => {
                first_error.get_or_insert(Failure::Usage("a consumer thread panicked".into()));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    total.finished = latest.unwrap_or(total.finished);
    Ok(total)
}

fn read_slice(
    bench: &Bench<'_>,
    reading: &Reading<'_>,
    partitions: &[i32],
    ready: &Sender<()>,
) -> Result<Received, WeirError> {
    let mut consumer = Consumer::new(&bench.weir, bench.consumer_config.clone())?;
    let tps: Vec<TopicPartition> = partitions
        .iter()
        .map(|p| TopicPartition::new(bench.topic.as_str(), *p))
        .collect();
    consumer.assign(&tps)?;
    consumer.seek_to_beginning(&tps)?;
    let _ = ready.send(());
    let mut latency = latency_histogram()
        .map_err(|_| WeirError::InvalidArgument("cannot make a latency histogram".into()))?;
    let mut records = 0u64;
    let mut last_read = Instant::now();
    let result = loop {
        let polled = match consumer.poll(Duration::from_millis(100)) {
            Ok(p) => p,
            Err(e) => break Err(e),
        };
        let now = Instant::now();
        let n = polled.count() as u64;
        if let Some(base) = reading.stamp_since {
            let now_ns = now.duration_since(base).as_nanos();
            for r in polled.iter() {
                if let Some(sent_ns) = sent_ns(&r) {
                    record_ns(&mut latency, now_ns.saturating_sub(u128::from(sent_ns)));
                }
            }
        }
        records += n;
        reading.progress.fetch_add(n, Ordering::Relaxed);
        if n > 0 {
            last_read = now;
        }
        if reading.stop.load(Ordering::Relaxed) || super::interrupted() {
            break Ok(());
        }
        if let Some(ends) = reading.targets.get() {
            match caught_up(&mut consumer, &tps, ends) {
                Ok(true) => break Ok(()),
                Ok(false) => {}
                Err(e) => break Err(e),
            }
            if now.duration_since(last_read) > STALL_LIMIT {
                break Err(WeirError::Timeout {
                    what: format!("records of {} partition(s) {partitions:?}", bench.topic),
                    waited_ms: STALL_LIMIT.as_millis() as u64,
                });
            }
        }
    };
    let finished = Instant::now();
    consumer.close();
    result.map(|()| Received {
        records,
        finished,
        latency,
    })
}

fn caught_up(
    consumer: &mut Consumer,
    tps: &[TopicPartition],
    ends: &[i64],
) -> Result<bool, WeirError> {
    for tp in tps {
        let end = usize::try_from(tp.partition)
            .ok()
            .and_then(|p| ends.get(p))
            .copied()
            .unwrap_or(0);
        if consumer.position(tp)? < end {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The send stamp of a bench record.
fn sent_ns(record: &weir::RecordRef<'_>) -> Option<u64> {
    let value = record.header(SENT_NS_HEADER)?.value()?;
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// Each partition's end offset now.
pub(super) fn end_offsets(bench: &Bench<'_>) -> Result<Vec<i64>, Failure> {
    let topic = bench.weir.topic(&bench.topic).map_err(client::failure)?;
    Ok(topic
        .partitions()
        .iter()
        .map(|log| log.high_watermark())
        .collect())
}

/// `weir bench consume`.
pub(super) fn run(bench: &Bench<'_>) -> Result<Report, Failure> {
    let producer =
        weir::Producer::new(&bench.weir, bench.producer_config.clone()).map_err(client::failure)?;
    let progress = Progress::start("fill", bench.args.records, bench.show_progress);
    let plan = Plan {
        producer: &producer,
        rate: 0,
        stamp_since: None,
        progress: progress.counter(),
    };
    let sent = send_records(bench, &plan);
    producer.close();
    drop(progress);
    let sent = sent?;
    let targets = Targets::new();
    let _ = targets.set(end_offsets(bench)?);
    let progress = Progress::start("consume", bench.args.records, bench.show_progress);
    let counter = progress.counter();
    let stop = AtomicBool::new(false);
    let reading = Reading {
        targets: &targets,
        stamp_since: None,
        progress: &counter,
        stop: &stop,
    };
    let (ready, _ready_rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    let received = thread::scope(|s| {
        let handles = spawn(s, bench, &reading, &ready)?;
        join(handles)
    });
    drop(progress);
    let received = received?;
    received.check_against(&sent)?;
    Ok(Report::new(
        bench,
        "consume",
        received.records,
        received.finished.duration_since(start),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_disjoint_contiguous_and_cover_every_partition() {
        for partitions in 1..=13u32 {
            for consumers in 1..=partitions as u16 {
                let s = slices(partitions, consumers);
                assert_eq!(s.len(), consumers as usize);
                let all: Vec<i32> = s.iter().flatten().copied().collect();
                assert_eq!(all, (0..partitions as i32).collect::<Vec<_>>());
                let sizes: Vec<usize> = s.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(
                    max - min <= 1 && *min >= 1,
                    "{partitions}/{consumers}: {sizes:?}"
                );
            }
        }
    }
}

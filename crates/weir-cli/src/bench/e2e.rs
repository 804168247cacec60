//! `weir bench e2e`: producers and consumers at once; latency from the send
//! stamp in each record's header to the poll that returned it.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use weir::Producer;

use super::Bench;
use super::consume::{self, Reading, Targets};
use super::produce::{Plan, send_records};
use super::report::{Progress, Report};
use crate::Failure;
use crate::client;

/// How long to wait for the consumers to be assigned before sending.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `weir bench e2e`.
pub(super) fn run(bench: &Bench<'_>, rate: u64) -> Result<Report, Failure> {
    let producer =
        Producer::new(&bench.weir, bench.producer_config.clone()).map_err(client::failure)?;
    let progress = Progress::start("e2e", bench.args.records, bench.show_progress);
    let consumed = progress.counter();
    // Producer deliveries are counted apart from the bar, which shows records
    // consumed.
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let targets = Targets::new();
    let stop = AtomicBool::new(false);
    let base = Instant::now();
    let reading = Reading {
        targets: &targets,
        stamp_since: Some(base),
        progress: &consumed,
        stop: &stop,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let outcome = thread::scope(|s| {
        let handles = match consume::spawn(s, bench, &reading, &ready_tx) {
            Ok(h) => h,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        // Every consumer is positioned before the first send, so no record's
        // latency includes a consumer's start-up.
        for _ in 0..handles.len() {
            if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
                break;
            }
        }
        let start = Instant::now();
        let plan = Plan {
            producer: &producer,
            rate,
            stamp_since: Some(base),
            progress: std::sync::Arc::clone(&delivered),
        };
        let sent = send_records(bench, &plan);
        // The consumers read up to the end offsets once everything sent is
        // delivered (or up to wherever the log ends if sending failed).
        if sent.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        match consume::end_offsets(bench) {
            Ok(ends) => {
                let _ = targets.set(ends);
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = consume::join(handles);
                return Err(e);
            }
        }
        let received = consume::join(handles);
        let sent = sent?;
        let received = received?;
        Ok((start, sent, received))
    });
    producer.close();
    drop(progress);
    let (start, sent, received) = outcome?;
    received.check_against(&sent)?;
    Ok(Report::new(
        bench,
        "e2e",
        received.records,
        received.finished.saturating_duration_since(start),
        Some((
            "send to consumer poll return, by the weir-bench-sent-ns header",
            &received.latency,
        )),
    ))
}

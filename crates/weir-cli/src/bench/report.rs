//! What a bench shows: a progress bar while it runs, then one [`Report`] (a
//! table or a JSON object) with throughput and latency percentiles.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::Bench;
use crate::{Failure, Format};

/// The largest latency a histogram holds, in µs (one hour); longer ones are
/// recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in µs with 3 significant digits.
pub(super) fn latency_histogram() -> Result<Histogram<u64>, Failure> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| Failure::Usage(format!("cannot make a latency histogram: {e:?}")))
}

/// Records a latency in nanoseconds.
pub(super) fn record_ns(h: &mut Histogram<u64>, ns: u128) {
    h.saturating_record(u64::try_from(ns / 1000).unwrap_or(u64::MAX));
}

/// A progress bar on stderr fed from a counter the workers bump; a ticker
/// thread redraws it, so the workers never touch the terminal. Hidden when
/// not shown; cleared on drop.
pub(super) struct Progress {
    bar: ProgressBar,
    count: Arc<AtomicU64>,
    stop: Option<Sender<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// A bar for `total` items labelled `label`.
    pub(super) fn start(label: &'static str, total: u64, show: bool) -> Self {
        let count = Arc::new(AtomicU64::new(0));
        if !show {
            return Progress {
                bar: ProgressBar::hidden(),
                count,
                stop: None,
                ticker: None,
            };
        }
        let style = ProgressStyle::with_template(
            "{msg:>10} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_message(label);
        let (tx, rx) = mpsc::channel::<()>();
        let (b, c) = (bar.clone(), Arc::clone(&count));
        let ticker = std::thread::Builder::new()
            .name("weir-bench-progress".into())
            .spawn(move || {
                loop {
                    b.set_position(c.load(Ordering::Relaxed));
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })
            .ok();
        Progress {
            bar,
            count,
            stop: Some(tx),
            ticker,
        }
    }

    /// The counter to bump per item done.
    pub(super) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.count)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Latency percentiles in ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct LatencyMs {
    p50: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
    mean: f64,
}

impl LatencyMs {
    /// The percentiles of a µs histogram; `None` when it is empty.
    pub(super) fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(LatencyMs {
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        })
    }
}

/// One bench's result.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    kind: &'static str,
    topic: String,
    partitions: u32,
    producers: u16,
    consumers: u16,
    acks: &'static str,
    compression: &'static str,
    linger_ms: u128,
    batch_size: usize,
    /// Records delivered (produce) or consumed (consume, e2e).
    records: u64,
    record_size: u32,
    seconds: f64,
    records_per_sec: f64,
    /// MB of record values per second, MB = 2^20 bytes as Kafka's perf tools
    /// count.
    mb_per_sec: f64,
    /// What `latency_ms` measures.
    latency: Option<&'static str>,
    latency_ms: Option<LatencyMs>,
}

impl Report {
    /// A report of `records` in `elapsed`, with latencies if measured.
    pub(super) fn new(
        bench: &Bench<'_>,
        kind: &'static str,
        records: u64,
        elapsed: Duration,
        latency: Option<(&'static str, &Histogram<u64>)>,
    ) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let bytes = records as f64 * f64::from(bench.args.record_size);
        let (consumers, producers) = (bench.args.consumers, bench.args.producers);
        Report {
            kind,
            topic: bench.topic.clone(),
            partitions: bench.args.partitions,
            producers,
            consumers: if kind == "produce" { 0 } else { consumers },
            acks: bench.producer_config.acks.name(),
            compression: bench.producer_config.compression.compression().name(),
            linger_ms: bench.producer_config.linger.as_millis(),
            batch_size: bench.producer_config.batch_size,
            records,
            record_size: bench.args.record_size,
            seconds,
            records_per_sec: records as f64 / seconds,
            mb_per_sec: bytes / (1024.0 * 1024.0) / seconds,
            latency: latency.map(|(what, _)| what),
            latency_ms: latency.and_then(|(_, h)| LatencyMs::of(h)),
        }
    }

    /// Prints a table, or one JSON object.
    pub(super) fn print(&self, format: Format, out: &mut impl Write) -> Result<(), Failure> {
        if format == Format::Json {
            serde_json::to_writer(&mut *out, self).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            return Ok(());
        }
        let lat = |f: fn(&LatencyMs) -> f64| {
            self.latency_ms
                .as_ref()
                .map_or_else(|| "-".to_string(), |l| format!("{:.3}", f(l)))
        };
        let columns = [
            ("records", self.records.to_string()),
            ("seconds", format!("{:.3}", self.seconds)),
            ("records/s", format!("{:.1}", self.records_per_sec)),
            ("MB/s", format!("{:.2}", self.mb_per_sec)),
            ("p50 ms", lat(|l| l.p50)),
            ("p99 ms", lat(|l| l.p99)),
            ("p99.9 ms", lat(|l| l.p99_9)),
            ("max ms", lat(|l| l.max)),
        ];
        let widths: Vec<usize> = columns.iter().map(|(h, v)| h.len().max(v.len())).collect();
        let row = |cells: Vec<&str>| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        writeln!(
            out,
            "bench {} on {}: {} partition(s), {} producer(s){}, acks={}, compression={}, linger.ms={}, batch.size={}, {}-byte values",
            self.kind,
            self.topic,
            self.partitions,
            self.producers,
            if self.consumers > 0 {
                format!(", {} consumer(s)", self.consumers)
            } else {
                String::new()
            },
            self.acks,
            self.compression,
            self.linger_ms,
            self.batch_size,
            self.record_size,
        )?;
        writeln!(out, "{}", row(columns.iter().map(|(h, _)| *h).collect()))?;
        writeln!(
            out,
            "{}",
            row(columns.iter().map(|(_, v)| v.as_str()).collect())
        )?;
        if let Some(what) = self.latency {
            writeln!(out, "latency: {what}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_in_ms() {
        let mut h = latency_histogram().unwrap();
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let l = LatencyMs::of(&h).unwrap();
        assert!(l.p50 <= l.p99 && l.p99 <= l.p99_9 && l.p99_9 <= l.max);
        assert!((l.p50 - 5.0).abs() < 0.01, "{l:?}");
        assert!((l.max - 10.0).abs() < 0.01, "{l:?}");
        assert!(LatencyMs::of(&latency_histogram().unwrap()).is_none());
    }
}

//! Weir's metrics in Prometheus' text format: install a
//! `metrics-exporter-prometheus` recorder, run a small producer/consumer
//! workload on a temp dir, publish the log gauges, and print what a Prometheus
//! scrape would receive.
//!
//! ```sh
//! cargo run --release -p weir-examples --example metrics_prometheus
//! ```
//!
//! No HTTP listener here: a service would serve `handle.render()` on its own
//! `/metrics` endpoint (or enable the exporter's `http-listener` feature).

use metrics_exporter_prometheus::PrometheusBuilder;
use weir::Weir;
use weir_examples::metrics_workload::{TOPIC, run_workload};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Install the recorder before creating clients: Weir's metrics go to
    // whichever recorder is global when they are recorded.
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let dir = tempfile::tempdir()?;
    let weir = Weir::open(dir.path())?;
    let stats = run_workload(&weir, 10_000)?;
    // Log sizes and offsets are gauges read on demand: publish them before
    // rendering (a service would do this on each scrape, or on a timer).
    weir::metrics::record_log_metrics(&weir);
    weir.close()?;

    println!(
        "# produced {} and consumed {} records of {TOPIC:?}; the scrape:",
        stats.produced, stats.consumed
    );
    // Without the exporter's upkeep task, histograms are drained into their
    // summaries here, when rendering; a long-lived service calls
    // `handle.run_upkeep()` every few seconds as well.
    print!("{}", handle.render());
    Ok(())
}

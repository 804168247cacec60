//! A metrics recorder for tests: the counter or gauge of one name is backed
//! by a cell the test reads; every other metric is a no-op.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Install with `metrics::with_local_recorder` around the calls that
/// register the metric; a counter's value is the cell's, a gauge's the `f64`
/// whose bits the cell holds.
pub(crate) struct MetricCell {
    name: &'static str,
    /// The metric's value.
    pub(crate) value: Arc<AtomicU64>,
}

impl MetricCell {
    pub(crate) fn new(name: &'static str) -> Self {
        MetricCell {
            name,
            value: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl metrics::Recorder for MetricCell {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() == self.name {
            metrics::Counter::from_arc(Arc::clone(&self.value))
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        if key.name() == self.name {
            metrics::Gauge::from_arc(Arc::clone(&self.value))
        } else {
            metrics::Gauge::noop()
        }
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

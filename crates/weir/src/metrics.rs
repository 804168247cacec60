//! Metrics through the [`metrics`] facade, named after Kafka's client metrics
//! (a recorder such as `metrics-exporter-prometheus` turns the dots and dashes
//! into its own syntax; rates and averages come from the counters and
//! histograms):
//!
//! | name | kind | labels | Kafka's metric |
//! |---|---|---|---|
//! | `kafka.producer.record-send-total` | counter | client-id, topic | record-send-total / -rate |
//! | `kafka.producer.record-error-total` | counter | client-id, topic | record-error-total / -rate |
//! | `kafka.producer.batch-size` | histogram (bytes) | client-id | batch-size-avg / -max |
//! | `kafka.producer.compression-rate` | histogram (records' compressed / uncompressed bytes, without the 61-byte batch header, as Kafka's) | client-id | compression-rate-avg |
//! | `kafka.producer.records-per-request` | histogram (records per batch: in process each batch is its own append, where Kafka's produce request carries a batch for each partition of a broker) | client-id | records-per-request-avg |
//! | `kafka.producer.request-latency` | histogram (ms, from the batch's append to the log to its delivery per `acks`; the wait for `linger.ms` is not counted) | client-id | request-latency-avg / -max |
//! | `kafka.producer.buffer-available-bytes` | gauge | client-id | buffer-available-bytes |
//! | `kafka.consumer.records-consumed-total` | counter | client-id, topic¹ | records-consumed-total / -rate |
//! | `kafka.consumer.bytes-consumed-total` | counter | client-id, topic¹ | bytes-consumed-total / -rate |
//! | `kafka.consumer.fetch-latency` | histogram (ms) | client-id | fetch-latency-avg / -max |
//! | `kafka.consumer.records-lag` | gauge | client-id, topic¹, partition | records-lag |
//! | `kafka.consumer.records-lag-max` | gauge | client-id | records-lag-max |
//! | `weir.log.size-bytes`, `weir.log.log-start-offset`, `weir.log.log-end-offset`, `weir.log.segments` | gauge | topic, partition | (broker: Size, LogStartOffset, LogEndOffset, NumLogSegments) |
//! | `kafka.group-coordinator.offset-expiration-total` | counter | — | (broker: offset-expiration-count / -rate) |
//!
//! ¹ The consumer's `topic` label has each `.` of the name replaced by `_`,
//! as Kafka's consumer tags its fetch metrics (`orders.v1` is `orders_v1`);
//! the producer's is the name as it is, as Kafka's.
//!
//! Without an installed recorder every call is a no-op. A consumer registers
//! its metrics when it is created and when partitions are assigned to it, and
//! a poll only updates them; a producer registers its own when it is created
//! and a topic's when it first sends to it, and sending only updates them:
//! install the recorder before creating clients (as the `metrics_prometheus`
//! example does). Recording allocates nothing.
//!
//! Kafka removes a partition's `records-lag` when the partition leaves the
//! consumer's assignment; the facade cannot remove a metric, so Weir sets it
//! to 0 then (no stale lag keeps an alert firing) and stops updating it. A
//! recorder that drops metrics left idle (`metrics-exporter-prometheus`'s
//! `idle_timeout`) removes it.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, SharedString, counter, gauge, histogram};

use crate::weir::Weir;

/// A producer's metric handles: the client's registered when it is created,
/// a topic's `record-send-total` when the producer first sends to it (see
/// [`send_counter`](Self::send_counter)). Sending only updates them.
#[derive(Debug, Clone)]
pub(crate) struct ProducerMetrics {
    client_id: Arc<str>,
    batch_size: Histogram,
    compression_rate: Histogram,
    records_per_request: Histogram,
    request_latency: Histogram,
    buffer_available: Gauge,
}

impl ProducerMetrics {
    pub(crate) fn new(client_id: &str) -> Self {
        let client_id: Arc<str> = Arc::from(client_id);
        let id = || SharedString::from(Arc::clone(&client_id));
        ProducerMetrics {
            batch_size: histogram!("kafka.producer.batch-size", "client-id" => id()),
            compression_rate: histogram!("kafka.producer.compression-rate", "client-id" => id()),
            records_per_request: histogram!("kafka.producer.records-per-request", "client-id" => id()),
            request_latency: histogram!("kafka.producer.request-latency", "client-id" => id()),
            buffer_available: gauge!("kafka.producer.buffer-available-bytes", "client-id" => id()),
            client_id,
        }
    }

    fn id(&self) -> SharedString {
        SharedString::from(Arc::clone(&self.client_id))
    }

    /// The topic's `record-send-total`, registered once per topic (the
    /// producer keeps it with the topic's partitions).
    pub(crate) fn send_counter(&self, topic: &Arc<str>) -> Counter {
        counter!("kafka.producer.record-send-total", "client-id" => self.id(), "topic" => SharedString::from(Arc::clone(topic)))
    }

    /// Counts records that failed. Registered at each call: failures are
    /// rare, and a record refused before its topic is known has no handle.
    pub(crate) fn error(&self, topic: impl Into<SharedString>, records: usize) {
        counter!("kafka.producer.record-error-total", "client-id" => self.id(), "topic" => topic.into())
            .increment(records as u64);
    }

    /// A batch sent: its size, and its size before compression (both with
    /// the batch header).
    pub(crate) fn batch(&self, bytes: usize, uncompressed: usize, records: usize) {
        self.batch_size.record(bytes as f64);
        // Kafka's rate is of the records' bytes alone.
        let header = weir_record::layout::RECORD_BATCH_OVERHEAD;
        let compressed = bytes.saturating_sub(header);
        let raw = uncompressed.saturating_sub(header);
        if raw > 0 {
            self.compression_rate.record(compressed as f64 / raw as f64);
        }
        self.records_per_request.record(records as f64);
    }

    pub(crate) fn latency(&self, d: Duration) {
        self.request_latency.record(d.as_secs_f64() * 1e3);
    }

    pub(crate) fn buffer_available(&self, bytes: u64) {
        self.buffer_available.set(bytes as f64);
    }
}

/// A consumer's metric handles.
/// A consumer's client-level metrics, registered once.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerMetrics {
    client_id: Arc<str>,
    fetch_latency: Histogram,
    lag_max: Gauge,
}

/// One assigned partition's metrics, registered when it is assigned: a poll
/// updates them without building or hashing a metric key.
#[derive(Debug, Clone)]
pub(crate) struct PartitionMetrics {
    records_consumed: Counter,
    bytes_consumed: Counter,
    lag: Gauge,
}

impl ConsumerMetrics {
    pub(crate) fn new(client_id: &str) -> Self {
        let client_id: Arc<str> = Arc::from(client_id);
        let id = || SharedString::from(Arc::clone(&client_id));
        ConsumerMetrics {
            fetch_latency: histogram!("kafka.consumer.fetch-latency", "client-id" => id()),
            lag_max: gauge!("kafka.consumer.records-lag-max", "client-id" => id()),
            client_id,
        }
    }

    /// The metrics of an assigned partition.
    pub(crate) fn partition(&self, topic: &Arc<str>, partition: i32) -> PartitionMetrics {
        let id = || SharedString::from(Arc::clone(&self.client_id));
        let tag: Arc<str> = Arc::from(topic.replace('.', "_"));
        let topic = || SharedString::from(Arc::clone(&tag));
        PartitionMetrics {
            records_consumed: counter!("kafka.consumer.records-consumed-total", "client-id" => id(), "topic" => topic()),
            bytes_consumed: counter!("kafka.consumer.bytes-consumed-total", "client-id" => id(), "topic" => topic()),
            lag: gauge!("kafka.consumer.records-lag", "client-id" => id(), "topic" => topic(), "partition" => partition.to_string()),
        }
    }

    pub(crate) fn fetch_latency(&self, d: Duration) {
        self.fetch_latency.record(d.as_secs_f64() * 1e3);
    }

    /// Sets each partition's lag and the largest.
    pub(crate) fn lag<'a>(&self, lags: impl Iterator<Item = (&'a PartitionMetrics, i64)>) {
        let mut max = 0i64;
        for (partition, lag) in lags {
            max = max.max(lag);
            partition.lag.set(lag as f64);
        }
        self.lag_max.set(max as f64);
    }
}

impl PartitionMetrics {
    /// The partition left the assignment: its lag gauge drops to 0 (the
    /// `metrics` facade cannot remove a gauge, as Kafka removes the
    /// partition's sensor), so no stale lag keeps an alert firing.
    pub(crate) fn clear_lag(&self) {
        self.lag.set(0.0);
    }

    pub(crate) fn consumed(&self, records: usize, bytes: usize) {
        self.records_consumed.increment(records as u64);
        self.bytes_consumed.increment(bytes as u64);
    }
}

/// Publishes every partition's size, offsets and segment count as gauges
/// (`weir.log.*`). Call it before an exporter renders, or periodically.
pub fn record_log_metrics(weir: &Weir) {
    for topic in weir.log_dir().topics() {
        for log in topic.partitions() {
            let labels = [
                ("topic", topic.name().to_string()),
                ("partition", log.partition().to_string()),
            ];
            gauge!("weir.log.size-bytes", &labels).set(log.size_bytes() as f64);
            gauge!("weir.log.log-start-offset", &labels).set(log.log_start_offset() as f64);
            gauge!("weir.log.log-end-offset", &labels).set(log.log_end_offset() as f64);
            gauge!("weir.log.segments", &labels).set(log.segments().len() as f64);
        }
    }
}

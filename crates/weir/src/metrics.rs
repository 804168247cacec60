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
//! | `kafka.producer.compression-rate` | histogram (compressed / uncompressed) | client-id | compression-rate-avg |
//! | `kafka.producer.records-per-request` | histogram | client-id | records-per-request-avg |
//! | `kafka.producer.request-latency` | histogram (ms, seal → delivered) | client-id | request-latency-avg / -max |
//! | `kafka.producer.buffer-available-bytes` | gauge | client-id | buffer-available-bytes |
//! | `kafka.consumer.records-consumed-total` | counter | client-id, topic | records-consumed-total / -rate |
//! | `kafka.consumer.bytes-consumed-total` | counter | client-id, topic | bytes-consumed-total / -rate |
//! | `kafka.consumer.fetch-latency` | histogram (ms) | client-id | fetch-latency-avg / -max |
//! | `kafka.consumer.records-lag` | gauge | client-id, topic, partition | records-lag |
//! | `kafka.consumer.records-lag-max` | gauge | client-id | records-lag-max |
//! | `weir.log.size-bytes`, `weir.log.log-start-offset`, `weir.log.log-end-offset`, `weir.log.segments` | gauge | topic, partition | (broker: Size, LogStartOffset, LogEndOffset, NumLogSegments) |
//!
//! Without an installed recorder every call is a no-op.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::weir::Weir;

/// A producer's metric handles.
#[derive(Debug, Clone)]
pub(crate) struct ProducerMetrics {
    client_id: String,
}

impl ProducerMetrics {
    pub(crate) fn new(client_id: &str) -> Self {
        ProducerMetrics {
            client_id: client_id.to_string(),
        }
    }

    pub(crate) fn sent(&self, topic: &str, records: usize) {
        counter!("kafka.producer.record-send-total", "client-id" => self.client_id.clone(), "topic" => topic.to_string())
            .increment(records as u64);
    }

    pub(crate) fn error(&self, topic: &str, records: usize) {
        counter!("kafka.producer.record-error-total", "client-id" => self.client_id.clone(), "topic" => topic.to_string())
            .increment(records as u64);
    }

    pub(crate) fn batch(&self, bytes: usize, uncompressed: usize, records: usize) {
        let id = self.client_id.clone();
        histogram!("kafka.producer.batch-size", "client-id" => id.clone()).record(bytes as f64);
        histogram!("kafka.producer.compression-rate", "client-id" => id.clone())
            .record(bytes as f64 / uncompressed.max(1) as f64);
        histogram!("kafka.producer.records-per-request", "client-id" => id).record(records as f64);
    }

    pub(crate) fn latency(&self, d: Duration) {
        histogram!("kafka.producer.request-latency", "client-id" => self.client_id.clone())
            .record(d.as_secs_f64() * 1e3);
    }

    pub(crate) fn buffer_available(&self, bytes: u64) {
        gauge!("kafka.producer.buffer-available-bytes", "client-id" => self.client_id.clone())
            .set(bytes as f64);
    }
}

/// A consumer's metric handles.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerMetrics {
    client_id: String,
}

impl ConsumerMetrics {
    pub(crate) fn new(client_id: &str) -> Self {
        ConsumerMetrics {
            client_id: client_id.to_string(),
        }
    }

    pub(crate) fn consumed(&self, topic: &str, records: usize, bytes: usize) {
        let id = self.client_id.clone();
        counter!("kafka.consumer.records-consumed-total", "client-id" => id.clone(), "topic" => topic.to_string())
            .increment(records as u64);
        counter!("kafka.consumer.bytes-consumed-total", "client-id" => id, "topic" => topic.to_string())
            .increment(bytes as u64);
    }

    pub(crate) fn fetch_latency(&self, d: Duration) {
        histogram!("kafka.consumer.fetch-latency", "client-id" => self.client_id.clone())
            .record(d.as_secs_f64() * 1e3);
    }

    pub(crate) fn lag(&self, lags: impl Iterator<Item = (String, i32, i64)>) {
        let mut max = 0i64;
        for (topic, partition, lag) in lags {
            max = max.max(lag);
            gauge!("kafka.consumer.records-lag", "client-id" => self.client_id.clone(), "topic" => topic, "partition" => partition.to_string())
                .set(lag as f64);
        }
        gauge!("kafka.consumer.records-lag-max", "client-id" => self.client_id.clone())
            .set(max as f64);
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

//! A small producer/consumer workload whose metrics the `metrics_prometheus`
//! example renders. Weir reports through the [`metrics`] facade, so whichever
//! recorder the application installs (Prometheus here) receives Kafka-named
//! client metrics; see [`weir::metrics`] for the list.

use std::time::Duration;

use weir::{ProducerRecord, Weir};

/// Errors of the workload.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The topic the workload writes and reads.
pub const TOPIC: &str = "payments";

/// What the workload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadStats {
    /// Records produced (and delivered).
    pub produced: u64,
    /// Records consumed.
    pub consumed: u64,
}

/// Creates [`TOPIC`] (3 partitions), produces `records` keyed records to it,
/// and consumes them all back. Blocks until done; closes its clients but not
/// `weir`.
///
/// # Errors
/// Weir's: a topic that exists already, a failed delivery, a corrupt batch.
pub fn run_workload(weir: &Weir, records: u64) -> Result<WorkloadStats, Error> {
    weir.admin().create_topic(TOPIC, 3, &[])?;
    let producer = weir.producer(&[
        ("client.id", "payments-producer"),
        ("acks", "all"),
        ("linger.ms", "1"),
        ("compression.type", "zstd"),
    ])?;
    let mut deliveries = Vec::new();
    for i in 0..records {
        let value = format!(r#"{{"payment":{i},"amount_cents":{}}}"#, 100 + i % 9_900);
        let record = ProducerRecord::new(TOPIC, value).key(format!("account-{}", i % 100));
        deliveries.push(producer.send(record)?);
    }
    // Each future resolves once its record is fsynced (acks=all) or failed.
    for delivery in deliveries {
        delivery.wait()?;
    }
    producer.close();

    let mut consumer = weir.consumer(&[
        ("client.id", "payments-consumer"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "10"),
    ])?;
    consumer.assign_topic(TOPIC)?;
    let mut consumed = 0u64;
    while consumed < records {
        let polled = consumer.poll(Duration::from_secs(10))?;
        if polled.is_empty() {
            return Err(format!("{consumed} of {records} records came back").into());
        }
        consumed += polled.count() as u64;
    }
    consumer.close();
    Ok(WorkloadStats {
        produced: records,
        consumed,
    })
}

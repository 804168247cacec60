//! The checkout service's side: a producer writing orders to `orders`, keyed by
//! customer, at a steady rate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use weir::{ProducerRecord, TopicPartition, Weir};

use crate::orders::model::generate_order;
use crate::orders::{CREATED_AT_HEADER, Deliveries, Error, ORDER_ID_HEADER, micros_since_epoch};

/// What the order producer did.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStats {
    /// The first order id of this run.
    pub first_order_id: u64,
    /// Orders written (all delivered: fsynced, `acks=all`).
    pub orders: u64,
    /// Of which broken on purpose.
    pub malformed: u64,
    /// Key and value bytes written.
    pub bytes: u64,
    /// From the first send to the last delivery.
    pub elapsed: Duration,
    /// `orders`' end offsets once every order was delivered.
    pub end_offsets: BTreeMap<i32, i64>,
}

/// The id the next order gets: one past the largest id in `orders`, so a run
/// continues the ids of the one before, even after a crash.
///
/// Each partition's last record holds its largest id (ids grow, and one
/// thread sends them, in order per partition), read from its
/// [`ORDER_ID_HEADER`]. Counting the records would not do: a run killed while
/// batches lingered loses some ids below ids that reached the log, and the
/// next run would give those out again. The count is still a floor (ids are
/// distinct from 0), for records written without the header.
pub fn next_order_id(weir: &Weir, topic: &str) -> Result<u64, Error> {
    let described = weir.admin().describe_topic(topic)?;
    let written: i64 = described.partitions.iter().map(|p| p.log_end_offset).sum();
    let mut next = u64::try_from(written)?;
    let mut consumer = weir.consumer(&[("client.id", "order-ids")])?;
    for p in &described.partitions {
        if p.high_watermark <= p.log_start_offset {
            continue;
        }
        let tp = TopicPartition::new(topic, p.partition);
        consumer.assign(std::slice::from_ref(&tp))?;
        consumer.seek(&tp, p.high_watermark - 1)?;
        let records = consumer.poll(Duration::from_secs(5))?;
        let last = records
            .iter()
            .filter_map(|r| r.header(ORDER_ID_HEADER)?.value())
            .filter_map(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
            .max();
        if let Some(id) = last {
            next = next.max(id.saturating_add(1));
        }
    }
    Ok(next)
}

/// `topic`'s end offsets now.
pub fn end_offsets(weir: &Weir, topic: &str) -> Result<BTreeMap<i32, i64>, Error> {
    let described = weir.admin().describe_topic(topic)?;
    Ok(described
        .partitions
        .iter()
        .map(|p| (p.partition, p.high_watermark))
        .collect())
}

/// Writes `count` orders from `first_order_id` on, `rate_per_sec` a second (as
/// fast as possible for 0), and waits until all are delivered. Blocks.
pub fn produce_orders(
    weir: &Weir,
    topic: &str,
    first_order_id: u64,
    count: u64,
    rate_per_sec: u64,
) -> Result<SourceStats, Error> {
    let producer = weir.producer(&[
        ("client.id", "checkout"),
        // Durable before acknowledged; group commit keeps fsyncs cheap.
        ("acks", "all"),
        ("enable.idempotence", "true"),
        // At 100,000 orders/s over 6 partitions, 2 ms gathers ~30 orders per
        // batch: fewer, larger appends and better lz4 ratios.
        ("linger.ms", "2"),
        ("batch.size", "65536"),
        ("compression.type", "lz4"),
    ])?;
    let deliveries = Deliveries::default();
    let mut stats = SourceStats {
        first_order_id,
        orders: 0,
        malformed: 0,
        bytes: 0,
        elapsed: Duration::ZERO,
        end_offsets: BTreeMap::new(),
    };
    let started = Instant::now();
    for i in 0..count {
        if rate_per_sec > 0 && i % 64 == 0 {
            pace(started, i, rate_per_sec);
        }
        let created_us = micros_since_epoch();
        let order_id = first_order_id + i;
        let order = generate_order(order_id, created_us / 1000);
        stats.orders += 1;
        stats.malformed += u64::from(order.defect.is_some());
        stats.bytes += (order.key.len() + order.value.len()) as u64;
        // The creation time in µs rides in a header so the enricher can
        // measure end-to-end latency finer than the record's ms timestamp.
        let record = ProducerRecord::new(topic, order.value)
            .key(order.key)
            .timestamp(created_us / 1000)
            .header(CREATED_AT_HEADER, created_us.to_string())
            .header(ORDER_ID_HEADER, order_id.to_string());
        deliveries.send(&producer, record, || {})?;
    }
    producer.close();
    deliveries.wait()?;
    stats.elapsed = started.elapsed();
    stats.end_offsets = end_offsets(weir, topic)?;
    Ok(stats)
}

/// Sleeps until order `sent` is due at `rate_per_sec`: a steady stream rather
/// than one burst, as a real checkout service sends.
fn pace(started: Instant, sent: u64, rate_per_sec: u64) {
    let due = started + Duration::from_secs_f64(sent as f64 / rate_per_sec as f64);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

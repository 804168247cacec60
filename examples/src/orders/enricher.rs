//! The streaming part: a consumer tailing every partition of `orders` that
//! enriches each order into `orders-enriched`, raises alerts for large ones in
//! `order-alerts`, and sends what it cannot read to `orders-dlq`.
//!
//! Delivery is exactly-once, as Kafka Streams' `exactly_once_v2`: the outputs
//! of each checkpoint interval and the checkpoint records saying how far the
//! interval read `orders` are one transaction of a transactional producer, so
//! they commit together or not at all. Readers of the outputs and of the
//! checkpoints use `isolation.level=read_committed`. After a crash, the next
//! open of the data directory aborts the interval that was open, and the next
//! run resumes from the last committed checkpoints: the orders of the aborted
//! interval are enriched again, and their first outputs are never seen.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use weir::{Consumer, Header, Producer, ProducerRecord, RecordRef, TopicPartition, Weir};

use crate::orders::checkpoint::checkpoint_record;
use crate::orders::model::{OrderAlert, enrich};
use crate::orders::source::end_offsets;
use crate::orders::{CREATED_AT_HEADER, Deliveries, Error, Topics, micros_since_epoch};

/// How often the open transaction (outputs and checkpoints) commits: Kafka
/// Streams' `commit.interval.ms`, 100 ms under exactly-once. Shorter means
/// outputs visible sooner to `read_committed` readers, and more commits.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// What the enricher did.
#[derive(Debug, Clone, PartialEq)]
pub struct EnricherStats {
    /// Where it started in each `orders` partition (checkpoint or beginning).
    pub start_positions: BTreeMap<i32, i64>,
    /// Where it stopped: the last checkpoint it wrote.
    pub end_positions: BTreeMap<i32, i64>,
    /// Orders read.
    pub consumed: u64,
    /// Key and value bytes read.
    pub bytes_in: u64,
    /// Orders written to `orders-enriched`.
    pub enriched: u64,
    /// Alerts written to `order-alerts`.
    pub alerts: u64,
    /// Orders written to `orders-dlq`, by `error.class`.
    pub dead_lettered: BTreeMap<&'static str, u64>,
    /// Transactions committed with a checkpoint (a moved position).
    pub checkpoints: u64,
    /// From start to the last checkpoint.
    pub elapsed: Duration,
    /// Time spent enriching and checkpointing rather than waiting for orders.
    pub busy: Duration,
    /// Per enriched order: µs from its creation to the commit of the
    /// transaction holding its enriched record (when `read_committed`
    /// readers can see it), in commit order.
    pub latencies_us: Vec<u64>,
    /// Per enriched order: µs from its creation to its enriched record being
    /// delivered (fsynced, not yet committed), in delivery order: the
    /// streaming path's own speed.
    pub delivered_latencies_us: Vec<u64>,
}

impl EnricherStats {
    /// Orders sent to the dead-letter topic.
    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.values().sum()
    }
}

/// Signals sent to the enricher and by it.
#[derive(Debug)]
pub struct EnricherSignals {
    /// Receives `orders`' end offsets once the producer is done; the enricher
    /// stops when it has processed up to them. If the sender goes away without
    /// sending, it stops at the end offsets of that moment.
    pub stop_at: Receiver<BTreeMap<i32, i64>>,
    /// Sent once after this many orders were processed (or at the end), to
    /// start the batch job while streaming goes on.
    pub after: u64,
    /// Where to send it.
    pub notify: Sender<()>,
}

/// Runs the enricher with `producer` (from [`open_producer`], made before
/// the checkpoints were read) from `start` (next offsets per `orders`
/// partition; partitions without one start at the beginning) until told to
/// stop. Blocks.
pub fn run_enricher(
    weir: &Weir,
    topics: &Topics,
    producer: Producer,
    start: &BTreeMap<i32, i64>,
    signals: EnricherSignals,
) -> Result<EnricherStats, Error> {
    let started = Instant::now();
    let (mut consumer, partitions) = open_consumer(weir, topics.orders, start)?;
    let start_positions = positions(&mut consumer, &partitions)?;
    producer.begin_transaction()?;
    let mut enricher = Enricher::new(topics, producer, start_positions);
    let mut notify = Some(signals.notify);
    let mut stop_at: Option<BTreeMap<i32, i64>> = None;
    let mut last_checkpoint = Instant::now();
    loop {
        let records = consumer.poll(Duration::from_millis(100))?;
        let work = Instant::now();
        for record in records.iter() {
            enricher.process(&record)?;
        }
        if enricher.stats.consumed >= signals.after
            && let Some(tx) = notify.take()
        {
            // The batch job may be gone already; nothing to do then.
            let _ = tx.send(());
        }
        if stop_at.is_none() {
            stop_at = match signals.stop_at.try_recv() {
                Ok(ends) => Some(ends),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(end_offsets(weir, topics.orders)?),
            };
        }
        let now = positions(&mut consumer, &partitions)?;
        let done = stop_at.as_ref().is_some_and(|ends| {
            ends.iter()
                .all(|(p, end)| now.get(p).is_some_and(|at| at >= end))
        });
        if done || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            enricher.checkpoint(&now)?;
            last_checkpoint = Instant::now();
        }
        enricher.stats.busy += work.elapsed();
        if done {
            break;
        }
    }
    if let Some(tx) = notify.take() {
        let _ = tx.send(());
    }
    consumer.close();
    let mut stats = enricher.close()?;
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// A consumer of every partition of `topic`, positioned at `start` where given.
fn open_consumer(
    weir: &Weir,
    topic: &str,
    start: &BTreeMap<i32, i64>,
) -> Result<(Consumer, Vec<TopicPartition>), Error> {
    let mut consumer = weir.consumer(&[
        ("client.id", "orders-enricher"),
        // Partitions never checkpointed start at the beginning.
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "2000"),
        ("fetch.max.wait.ms", "100"),
    ])?;
    // Manual assignment of every partition: one enricher owns the topic.
    // (Consumer groups, which share partitions among instances, come later.)
    consumer.assign_topic(topic)?;
    let partitions = consumer.assignment();
    for tp in &partitions {
        if let Some(&offset) = start.get(&tp.partition) {
            consumer.seek(tp, offset)?;
        }
    }
    Ok((consumer, partitions))
}

/// The enricher's transactional producer of enriched orders, alerts, dead
/// letters and checkpoints, initialized: any earlier enricher with the same
/// `transactional.id` is fenced and its open transaction aborted. Make it
/// before reading the checkpoints, so that they are final.
///
/// # Errors
/// A producer config Weir refuses; the transaction coordinator's storage.
pub fn open_producer(weir: &Weir) -> Result<Producer, Error> {
    let producer = weir.producer(&[
        ("client.id", "orders-enricher"),
        // One enricher owns `orders`: a second one started by mistake
        // fences this one (its next commit fails) instead of both writing.
        ("transactional.id", "orders-enricher"),
        // Transactions need acks=all and idempotence (the defaults).
        ("acks", "all"),
        // Latency matters here: 1 ms still batches at this rate, while 0
        // would append (and fsync) tiny batches from this thread.
        ("linger.ms", "1"),
        ("batch.size", "65536"),
        ("compression.type", "lz4"),
    ])?;
    producer.init_transactions()?;
    Ok(producer)
}

/// The consumer's next offset in each partition.
fn positions(
    consumer: &mut Consumer,
    partitions: &[TopicPartition],
) -> Result<BTreeMap<i32, i64>, Error> {
    partitions
        .iter()
        .map(|tp| Ok((tp.partition, consumer.position(tp)?)))
        .collect()
}

struct Enricher<'a> {
    topics: &'a Topics,
    producer: Producer,
    deliveries: Deliveries,
    /// Creation times (µs) of the orders enriched in the open transaction.
    created_in_txn: Vec<i64>,
    /// Filled by the delivery callbacks.
    delivered_us: Arc<Mutex<Vec<u64>>>,
    stats: EnricherStats,
}

impl<'a> Enricher<'a> {
    fn new(topics: &'a Topics, producer: Producer, start_positions: BTreeMap<i32, i64>) -> Self {
        Enricher {
            topics,
            producer,
            deliveries: Deliveries::default(),
            created_in_txn: Vec::new(),
            delivered_us: Arc::new(Mutex::new(Vec::new())),
            stats: EnricherStats {
                end_positions: start_positions.clone(),
                start_positions,
                consumed: 0,
                bytes_in: 0,
                enriched: 0,
                alerts: 0,
                dead_lettered: BTreeMap::new(),
                checkpoints: 0,
                elapsed: Duration::ZERO,
                busy: Duration::ZERO,
                latencies_us: Vec::new(),
                delivered_latencies_us: Vec::new(),
            },
        }
    }

    /// Closes the producer (aborting the transaction opened after the last
    /// commit, empty unless a failure stopped the run) and returns the stats.
    fn close(self) -> Result<EnricherStats, Error> {
        self.producer.close();
        self.deliveries.wait()?;
        let mut stats = self.stats;
        stats.delivered_latencies_us = std::mem::take(
            &mut *self
                .delivered_us
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        Ok(stats)
    }

    /// Enriches one order, or dead-letters it, in the open transaction.
    /// Sends without waiting: the commit waits for the deliveries.
    fn process(&mut self, record: &RecordRef<'_>) -> Result<(), Error> {
        self.stats.consumed += 1;
        let value = record.value().unwrap_or_default();
        self.stats.bytes_in += (value.len() + record.key().map_or(0, <[u8]>::len)) as u64;
        let order = match enrich(value) {
            Ok(order) => order,
            Err(e) => {
                *self.stats.dead_lettered.entry(e.class()).or_default() += 1;
                return self.send(dead_letter(
                    self.topics.dlq,
                    record,
                    e.class(),
                    &e.to_string(),
                ));
            }
        };
        if order.is_large() {
            self.stats.alerts += 1;
            let alert = serde_json::to_vec(&OrderAlert::for_order(&order))?;
            let alert = ProducerRecord::new(self.topics.alerts, alert)
                .key(order.customer.clone())
                .timestamp(record.timestamp());
            self.send(alert)?;
        }
        self.stats.enriched += 1;
        // Kafka Streams' convention: an output record keeps its input's
        // timestamp, so time windows over `orders-enriched` mean order time.
        let mut enriched = ProducerRecord::new(self.topics.enriched, serde_json::to_vec(&order)?)
            .key(order.customer)
            .timestamp(record.timestamp());
        let created_us = record
            .header(CREATED_AT_HEADER)
            .and_then(|h| h.value())
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok());
        if let Some(created_us) = created_us {
            enriched = enriched.header(CREATED_AT_HEADER, created_us.to_string());
            self.created_in_txn.push(created_us);
        }
        let delivered = Arc::clone(&self.delivered_us);
        self.deliveries.send(&self.producer, enriched, move || {
            if let Some(created_us) = created_us {
                let latency = u64::try_from(micros_since_epoch() - created_us).unwrap_or(0);
                delivered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(latency);
            }
        })?;
        Ok(())
    }

    fn send(&self, record: ProducerRecord) -> Result<(), Error> {
        Ok(self.deliveries.send(&self.producer, record, || {})?)
    }

    /// Adds checkpoint records for the partitions that moved to `positions`
    /// to the open transaction, commits it (every output sent so far and
    /// the checkpoints, fsynced, become visible to `read_committed` readers
    /// together), and opens the next one. A failure leaves the transaction
    /// uncommitted: the run stops, and its outputs are never seen.
    fn checkpoint(&mut self, positions: &BTreeMap<i32, i64>) -> Result<(), Error> {
        let mut wrote = false;
        for (&partition, &next_offset) in positions {
            if self.stats.end_positions.get(&partition) == Some(&next_offset) {
                continue;
            }
            self.send(checkpoint_record(
                self.topics.checkpoints,
                self.topics.orders,
                partition,
                next_offset,
            )?)?;
            wrote = true;
        }
        self.producer.commit_transaction()?;
        // The callbacks ran (the commit waited for the deliveries, not for
        // their callbacks) and none failed.
        self.deliveries.wait()?;
        let now = micros_since_epoch();
        self.stats.latencies_us.extend(
            self.created_in_txn
                .drain(..)
                .map(|created| u64::try_from(now - created).unwrap_or(0)),
        );
        self.producer.begin_transaction()?;
        if wrote {
            self.stats.checkpoints += 1;
            self.stats.end_positions.clone_from(positions);
        }
        Ok(())
    }
}

/// The dead-letter record for `record`: its key, value and headers unchanged,
/// plus headers saying what failed and where the record came from, as Kafka
/// Connect's `errors.deadletterqueue.context.headers.enable` adds them
/// (Connect names them `__connect.errors.*`).
fn dead_letter(topic: &str, record: &RecordRef<'_>, class: &str, message: &str) -> ProducerRecord {
    ProducerRecord {
        topic: topic.to_string(),
        key: record.key().map(bytes::Bytes::copy_from_slice),
        value: record.value().map(bytes::Bytes::copy_from_slice),
        timestamp: Some(record.timestamp()),
        headers: record
            .headers()
            .map(|h| Header {
                key: String::from_utf8_lossy(h.key()).into_owned(),
                value: h.value().map(bytes::Bytes::copy_from_slice),
            })
            .collect(),
        ..ProducerRecord::default()
    }
    .header("error.class", class.to_string())
    .header("error.message", message.to_string())
    .header("source.topic", record.topic().to_string())
    .header("source.partition", record.partition().to_string())
    .header("source.offset", record.offset().to_string())
}

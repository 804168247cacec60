//! Runnable Weir pipelines. Each program in this package's `examples/` is a whole
//! pipeline that prints what it did; the code they share lives here, so the
//! package's tests run the same code with small numbers.
//!
//! - `orders_pipeline` ([`orders`]): a checkout producer, a streaming enricher
//!   with alerts, a dead-letter topic and checkpoints in a compacted topic,
//!   and a batch revenue report over a bounded read, all at once on one data
//!   directory (`./weir-data`). Run it twice: the second run continues where
//!   the first left off.
//! - `metrics_prometheus` ([`metrics_workload`]): Weir's Kafka-named metrics
//!   in Prometheus' text format.
//! - `offsets_in_own_store` ([`own_store`]): a consumer group whose members
//!   keep results and consumed offsets in one store, written in one
//!   transaction, through a rebalance listener: exactly-once effects across
//!   joins and leaves.
//! - `kafka_files`: partitions a stream of orders by customer with Kafka's
//!   murmur2, writes each partition as Kafka segment files by hand (batches,
//!   `.index`, `.timeindex`, `leader-epoch-checkpoint`), verifies them and
//!   reads them back with an integrity check.
//!
//! ```sh
//! cargo run --release -p weir-examples --example orders_pipeline
//! weir topics list --data-dir ./weir-data        # then look at what it wrote
//! cargo run --release -p weir-examples --example metrics_prometheus
//! cargo run --release -p weir-examples --example kafka_files            # temp dir
//! cargo run --release -p weir-examples --example kafka_files -- out/    # keep the files
//! ```

pub mod metrics_workload;
pub mod orders;
pub mod own_store;

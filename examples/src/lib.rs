//! Runnable Weir pipelines. Each program in this package's `examples/` is a whole
//! pipeline that prints what it did:
//!
//! - `kafka_files`: partitions a stream of orders by customer with Kafka's
//!   murmur2, writes each partition as Kafka segment files (batches, `.index`,
//!   `.timeindex`, `leader-epoch-checkpoint`), verifies them and reads them back
//!   with an integrity check.
//!
//! ```sh
//! cargo run -p weir-examples --example kafka_files            # in a temp dir
//! cargo run -p weir-examples --example kafka_files -- out/    # keep the files
//! ```

//! Kafka's partitioners: which partition a record goes to.
//!
//! - [`murmur2`], [`to_positive`] and [`murmur2_partition`]: the Java client's hash,
//!   so a key lands on the same partition as with the Java client.
//! - [`BuiltInPartitioner`]: the Java producer's default since Kafka 3.3 —
//!   murmur2 for keys, sticky for null keys (KIP-794), adaptive to queue lengths
//!   that its caller reports (Weir's producer reports none).
//! - [`RoundRobinPartitioner`]: Kafka's round-robin, ignoring keys.
//! - [`LibrdkafkaPartitioner`]: librdkafka's `consistent`, `consistent_random`,
//!   `murmur2`, `murmur2_random`, `fnv1a`, `fnv1a_random` and `random`.
//! - [`Partitioner`]: the trait all of them implement, for custom partitioners.
//!
//! ```
//! use std::num::NonZeroU32;
//! use weir_partition::{BuiltInPartitioner, Partitioner};
//!
//! let six = NonZeroU32::new(6).unwrap();
//! let p = BuiltInPartitioner::new(16 * 1024);
//! // A key goes where the Java client puts it.
//! assert_eq!(p.partition("orders", Some(b"order-12345"), None, six), 1);
//! // Null keys stick to one partition until a batch's worth of bytes went there.
//! let first = p.partition("orders", None, None, six);
//! p.on_append("orders", None, first, 1_000, false);
//! assert_eq!(p.partition("orders", None, None, six), first);
//! ```

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod builtin;
mod librdkafka;
mod murmur2;
mod partitioner;
mod round_robin;

pub use builtin::BuiltInPartitioner;
pub use librdkafka::{LibrdkafkaPartitioner, UnknownPartitioner, fnv1a};
pub use murmur2::{murmur2, murmur2_partition, to_positive};
pub use partitioner::Partitioner;
pub use round_robin::RoundRobinPartitioner;

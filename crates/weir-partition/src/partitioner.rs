//! The [`Partitioner`] trait.

use std::num::NonZeroU32;

/// Picks the partition of a record, as Kafka's `Partitioner` interface does.
///
/// The producer calls [`partition`](Self::partition) for every record sent without
/// an explicit partition, then [`on_append`](Self::on_append) once the record is in
/// a batch, so partitioners that stick to a partition for a while (like Kafka's
/// built-in one for null keys) can count bytes. Implementations are shared by all
/// of a producer's threads, hence `Send + Sync` and `&self`.
///
/// A returned partition must be below `partitions`; the producer checks it and
/// fails the send with an error naming the partitioner's answer otherwise.
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// The partition for a record with this key and value, in `0..partitions`.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: NonZeroU32,
    ) -> u32;

    /// Called after a record that [`partition`](Self::partition) placed was
    /// appended to `partition` (never for a record sent with an explicit
    /// partition, as Kafka's accumulator): `appended_bytes` is what it added
    /// to the batch's estimated size (its encoded size, times the estimated
    /// compression ratio when the batch is compressed, as Kafka's
    /// accumulator reports it), and `batch_boundary` is true when the partition's
    /// open batch is full after it (so moving on would not split a batch).
    /// The default does nothing.
    fn on_append(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partition: u32,
        appended_bytes: usize,
        batch_boundary: bool,
    ) {
        let _ = (topic, key, partition, appended_bytes, batch_boundary);
    }
}

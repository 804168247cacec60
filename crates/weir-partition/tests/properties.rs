//! Every partitioner stays in range, and keyed partitioning is a function of the
//! key alone.

use std::num::NonZeroU32;

use proptest::prelude::*;
use weir_partition::{
    BuiltInPartitioner, LibrdkafkaPartitioner, Partitioner, RoundRobinPartitioner,
    murmur2_partition,
};

fn partitioners() -> Vec<Box<dyn Partitioner>> {
    let mut all: Vec<Box<dyn Partitioner>> = vec![
        Box::new(BuiltInPartitioner::with_seed(100, 1)),
        Box::new(BuiltInPartitioner::with_seed(100, 2).ignore_keys(true)),
        Box::new(RoundRobinPartitioner::new()),
    ];
    all.extend(LibrdkafkaPartitioner::ALL.map(|p| Box::new(p) as Box<dyn Partitioner>));
    all
}

proptest! {
    #[test]
    fn always_in_range(key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)), n in 1u32..=10_000, appended in 0usize..500) {
        let n = NonZeroU32::new(n).unwrap();
        for p in partitioners() {
            let part = p.partition("topic", key.as_deref(), None, n);
            prop_assert!(part < n.get(), "{p:?} gave {part} of {n}");
            p.on_append("topic", key.as_deref(), part, appended, true);
            prop_assert!(p.partition("topic", key.as_deref(), None, n) < n.get());
        }
    }

    #[test]
    fn keyed_builtin_is_murmur2_of_the_key(key in proptest::collection::vec(any::<u8>(), 0..64), n in 1u32..=10_000) {
        let n = NonZeroU32::new(n).unwrap();
        let a = BuiltInPartitioner::with_seed(100, 1);
        let b = BuiltInPartitioner::with_seed(100, 99);
        prop_assert_eq!(a.partition("x", Some(&key), None, n), murmur2_partition(&key, n));
        prop_assert_eq!(b.partition("y", Some(&key), Some(b"v"), n), murmur2_partition(&key, n));
    }
}

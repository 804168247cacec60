//! Replays the cargo-fuzz corpus of the clients over damaged data directories
//! (`fuzz/corpus/consume_hostile`) through the same target body the fuzzer
//! runs (`fuzz/src/client.rs`), so CI checks it on stable Rust. Crashes found
//! while fuzzing are kept in the corpus and replay here too.

#[path = "../../../fuzz/src/client.rs"]
#[allow(dead_code, unreachable_pub)]
mod bodies;
#[path = "../../../fuzz/src/replay.rs"]
#[allow(dead_code, unreachable_pub)]
mod replay;

#[test]
fn consume_hostile_corpus() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "consume_hostile",
        bodies::consume_hostile,
    );
}

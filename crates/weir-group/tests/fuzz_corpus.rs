//! Replays the cargo-fuzz corpus of `weir-group`'s decoders
//! (`fuzz/corpus/offsets_decode`) through the same target body the fuzzer runs
//! (`fuzz/src/group.rs`), so CI checks it on stable Rust. Crashes found while
//! fuzzing are kept in the corpus and replay here too.

#[path = "../../../fuzz/src/group.rs"]
#[allow(dead_code, unreachable_pub)]
mod bodies;
#[path = "../../../fuzz/src/replay.rs"]
#[allow(dead_code, unreachable_pub)]
mod replay;

#[test]
fn offsets_decode_corpus() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "offsets_decode",
        bodies::offsets_decode,
    );
}

//! Replays the cargo-fuzz corpora of `weir-log`'s decoders and recovery
//! (`fuzz/corpus/index_decode`, `checkpoint_decode`, `log_recover`) through the
//! same target bodies the fuzzers run (`fuzz/src/log.rs`), so CI checks them on
//! stable Rust. Crashes found while fuzzing are kept in the corpora and replay
//! here too.

#[path = "../../../fuzz/src/log.rs"]
#[allow(dead_code, unreachable_pub)]
mod bodies;
#[path = "../../../fuzz/src/replay.rs"]
#[allow(dead_code, unreachable_pub)]
mod replay;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn index_decode_corpus() {
    replay::replay(CRATE, "index_decode", bodies::index_decode);
}

#[test]
fn checkpoint_decode_corpus() {
    replay::replay(CRATE, "checkpoint_decode", bodies::checkpoint_decode);
}

#[test]
fn log_recover_corpus() {
    replay::replay(CRATE, "log_recover", bodies::log_recover);
}

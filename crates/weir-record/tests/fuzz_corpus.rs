//! Replays every cargo-fuzz corpus of `weir-record` and `weir-codec` in
//! `fuzz/corpus/` through the same target bodies the fuzzers run
//! (`fuzz/src/record.rs`), so CI checks them on stable Rust. Crashes found
//! while fuzzing are kept in the corpora and replay here too.

#[path = "../../../fuzz/src/record.rs"]
#[allow(dead_code, unreachable_pub)]
mod bodies;
#[path = "../../../fuzz/src/replay.rs"]
#[allow(dead_code, unreachable_pub)]
mod replay;

use weir_codec::Compression;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn batch_decode_corpus() {
    replay::replay(CRATE, "batch_decode", bodies::batch_decode);
}

#[test]
fn record_decode_corpus() {
    replay::replay(CRATE, "record_decode", bodies::record_decode);
}

#[test]
fn decompress_corpora() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        replay::replay(CRATE, &format!("decompress_{codec}"), |d| {
            bodies::decompress(codec, d)
        });
    }
}

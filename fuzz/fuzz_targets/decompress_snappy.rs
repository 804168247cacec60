#![no_main]
//! cargo-fuzz target; the body lives in `src/lib.rs`, shared with the corpus
//! replay test `crates/weir-record/tests/fuzz_corpus.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::decompress(
    weir_codec::Compression::Snappy,
    data
));

#![no_main]
//! cargo-fuzz target; the body lives in `src/`, shared with a corpus replay
//! test under `crates/`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| weir_fuzz::consume_hostile(data));

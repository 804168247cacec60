//! Replays the cargo-fuzz corpora of `weir-log`'s decoders (`fuzz/corpus/
//! index_decode`, `checkpoint_decode`, `log_recover`) through the same target bodies the
//! fuzzers run (`fuzz/src/log.rs`), so CI checks them on stable Rust. Crashes
//! found while fuzzing are kept in the corpora and replay here too.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/log.rs"]
#[allow(dead_code, unreachable_pub)]
mod bodies;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    for file in corpus(target) {
        let data = fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&data)));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
}

#[test]
fn index_decode_corpus() {
    replay("index_decode", bodies::index_decode);
}

#[test]
fn checkpoint_decode_corpus() {
    replay("checkpoint_decode", bodies::checkpoint_decode);
}

#[test]
fn log_recover_corpus() {
    replay("log_recover", bodies::log_recover);
}

//! Replays the cargo-fuzz corpora of `weir-group`'s decoders (`fuzz/corpus/
//! offsets_decode`) through the same target bodies the
//! fuzzers run (`fuzz/src/group.rs`), so CI checks them on stable Rust. Crashes
//! found while fuzzing are kept in the corpora and replay here too.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/group.rs"]
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
fn offsets_decode_corpus() {
    replay("offsets_decode", bodies::offsets_decode);
}

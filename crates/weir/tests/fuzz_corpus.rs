//! Replays the cargo-fuzz corpus of the clients over damaged data directories
//! (`fuzz/corpus/consume_hostile`) through the same target body the fuzzer
//! runs (`fuzz/src/client.rs`), so CI checks it on stable Rust. Crashes found
//! while fuzzing are kept in the corpus and replay here too.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/client.rs"]
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

#[test]
fn consume_hostile_corpus() {
    for file in corpus("consume_hostile") {
        let data = fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bodies::consume_hostile(&data)
        }));
        assert!(
            outcome.is_ok(),
            "consume_hostile: {} panicked",
            file.display()
        );
    }
}

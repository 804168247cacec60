//! Corpus replay for the crates' `tests/fuzz_corpus.rs`: each includes this
//! file and its crate's bodies, and runs every file of a target's corpus
//! through the body the fuzzer runs, so CI replays the corpora on stable Rust.

use std::fs;
use std::path::{Path, PathBuf};

/// The files of `fuzz/corpus/<target>`, sorted; `crate_dir` is the including
/// crate's `CARGO_MANIFEST_DIR`.
pub fn corpus(crate_dir: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(crate_dir).join("../../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// Runs `body` on every file of the target's corpus; fails naming the first
/// file that panics.
pub fn replay(crate_dir: &str, target: &str, body: impl Fn(&[u8])) {
    for file in corpus(crate_dir, target) {
        let data = fs::read(&file).expect("a corpus file");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&data)));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
}

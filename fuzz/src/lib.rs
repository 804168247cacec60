//! Fuzz target bodies, one module per crate whose decoders they exercise. Each
//! module is also included by that crate's corpus replay test
//! (`crates/<crate>/tests/fuzz_corpus.rs`), so CI replays every corpus on
//! stable Rust (with `replay.rs`, which is not part of this crate); a module
//! uses only its crate's public API.

pub mod client;
pub mod group;
pub mod log;
pub mod record;

pub use client::consume_hostile;
pub use group::offsets_decode;
pub use log::{checkpoint_decode, index_decode, log_recover};
pub use record::{DECOMPRESS_LIMIT, batch_decode, decompress, record_decode};

//! Fuzz target bodies for `weir-log`'s decoders of files it finds on disk:
//! the `.index`, `.timeindex` and `.txnindex` entry formats and the checkpoint
//! text files. Shared by the cargo-fuzz binaries and the corpus replay test
//! `crates/weir-log/tests/fuzz_corpus.rs`.
//!
//! Besides "never panics": what parses re-encodes to the same bytes (indexes)
//! or formats and parses back to the same entries (checkpoints).

use weir_log::checkpoint::{
    format_leader_epoch_checkpoint, format_offset_checkpoint, parse_leader_epoch_checkpoint,
    parse_offset_checkpoint,
};
use weir_log::index::{
    encode_offset_index_entry, encode_time_index_entry, encode_txn_index_entry, parse_offset_index,
    parse_time_index, parse_txn_index,
};

/// The three index formats over the same bytes; the first 8 bytes are the
/// segment's base offset (from a file name, so anything a name can hold).
pub fn index_decode(data: &[u8]) {
    let Some((head, entries)) = data.split_first_chunk::<8>() else {
        return;
    };
    let base_offset = i64::from_be_bytes(*head);
    if let Ok(parsed) = parse_offset_index(entries, base_offset) {
        let mut out = Vec::new();
        for e in &parsed {
            let relative = e
                .offset
                .checked_sub(base_offset)
                .and_then(|r| i32::try_from(r).ok());
            encode_offset_index_entry(
                relative.expect("a relative offset that fits"),
                e.position,
                &mut out,
            );
        }
        assert!(out == entries, "offset index did not round-trip");
    }
    if let Ok(parsed) = parse_time_index(entries, base_offset) {
        let mut out = Vec::new();
        for e in &parsed {
            let relative = e
                .offset
                .checked_sub(base_offset)
                .and_then(|r| i32::try_from(r).ok());
            encode_time_index_entry(
                e.timestamp,
                relative.expect("a relative offset that fits"),
                &mut out,
            );
        }
        assert!(out == entries, "time index did not round-trip");
    }
    if let Ok(parsed) = parse_txn_index(entries) {
        let mut out = Vec::new();
        for e in &parsed {
            encode_txn_index_entry(e, &mut out);
        }
        assert!(out == entries, "txn index did not round-trip");
    }
}

/// Checkpoint files (`recovery-point-offset-checkpoint` and the like, and
/// `leader-epoch-checkpoint`).
pub fn checkpoint_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entries) = parse_offset_checkpoint(text) {
        let formatted =
            format_offset_checkpoint(entries.iter().map(|(t, p, o)| (t.as_str(), *p, *o)));
        let again = parse_offset_checkpoint(&formatted).expect("our own checkpoint parses");
        assert!(again == entries, "offset checkpoint did not round-trip");
    }
    if let Ok(entries) = parse_leader_epoch_checkpoint(text) {
        let formatted = format_leader_epoch_checkpoint(&entries);
        let again = parse_leader_epoch_checkpoint(&formatted).expect("our own checkpoint parses");
        assert!(
            again == entries,
            "leader epoch checkpoint did not round-trip"
        );
    }
}

//! Kafka's consumer groups inside one process.
//!
//! This crate is being built; see the modules below.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

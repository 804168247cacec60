//! A consumer group keeping results and offsets in its own store, in one
//! transaction per write, through a rebalance listener (see
//! `weir_examples::own_store`). Members join and leave while it runs; at the
//! end every account's balance equals the sum of its payments exactly.
//!
//! ```sh
//! cargo run --release -p weir-examples --example offsets_in_own_store
//! ```

use std::collections::BTreeMap;

use weir_examples::own_store::{payment, run_demo};

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let payments = 20_000u64;
    let dir = tempfile::tempdir()?;
    let state = run_demo(dir.path(), payments)?;
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for i in 0..payments {
        let (account, cents) = payment(i);
        *expected.entry(account).or_default() += cents;
    }
    let stored: i64 = state.offsets.values().sum();
    println!(
        "store: {} accounts, offsets {:?} ({stored} payments)",
        state.balances.len(),
        state.offsets
    );
    if state.balances != expected {
        return Err("the stored balances differ from the payments".into());
    }
    println!("every balance equals the sum of its payments: exactly-once effects");
    Ok(())
}

//! `weir transactions list`: the data directory's transactional ids and their
//! transactions (like `kafka-transactions.sh list` and `describe`), read from
//! the coordinator's state file without opening the directory, so it works
//! while an application has the directory open.

use std::io::Write;
use std::path::Path;

use clap::Subcommand;
use serde_json::json;
use weir::{TransactionDescription, transactions_in};

use crate::{Failure, Format};

/// The subcommands of `weir transactions`.
#[derive(Debug, Subcommand)]
pub(crate) enum TransactionsCommand {
    /// List every transactional id: its producer id and epoch, its
    /// transaction's state (Empty, Ongoing, PrepareCommit, PrepareAbort), when
    /// the open one began and which partitions it wrote to.
    ///
    /// Reads the data directory's weir-transactions.json without taking the
    /// directory's lock: it shows what an application that has the directory
    /// open is doing now. (Opening a directory ends what a crash left
    /// unfinished, so a directory no process has open shows no open
    /// transaction once it was opened again.)
    List {
        /// Output format: a table, or one JSON object per transactional id.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Runs `weir transactions`.
pub(crate) fn run(
    data_dir: &Path,
    command: &TransactionsCommand,
    out: &mut impl Write,
) -> Result<(), Failure> {
    match command {
        TransactionsCommand::List { format } => {
            let list = transactions_in(data_dir).map_err(crate::client::failure)?;
            match format {
                Format::Text => list_text(&list, out),
                Format::Json => {
                    for t in &list {
                        writeln!(out, "{}", to_json(t))?;
                    }
                    Ok(())
                }
            }
        }
    }
}

fn partitions(t: &TransactionDescription) -> Vec<String> {
    t.topic_partitions
        .iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect()
}

fn to_json(t: &TransactionDescription) -> serde_json::Value {
    json!({
        "transactional_id": t.transactional_id,
        "producer_id": t.producer_id,
        "producer_epoch": t.producer_epoch,
        "state": t.state.name(),
        "transaction_timeout_ms": t.transaction_timeout_ms,
        "transaction_start_time_ms": t.transaction_start_time_ms,
        "partitions": partitions(t),
    })
}

fn list_text(list: &[TransactionDescription], out: &mut impl Write) -> Result<(), Failure> {
    if list.is_empty() {
        eprintln!("weir: no transactional producer has used this data directory");
        return Ok(());
    }
    writeln!(
        out,
        "{:<24} {:>20} {:>6} {:<14} {:>10} {:>14}  PARTITIONS",
        "TRANSACTIONAL ID", "PRODUCER ID", "EPOCH", "STATE", "TIMEOUT MS", "STARTED MS"
    )?;
    for t in list {
        let started = t
            .transaction_start_time_ms
            .map_or_else(|| "-".to_string(), |ms| ms.to_string());
        let parts = partitions(t);
        writeln!(
            out,
            "{:<24} {:>20} {:>6} {:<14} {:>10} {:>14}  {}",
            t.transactional_id,
            t.producer_id,
            t.producer_epoch,
            t.state.name(),
            t.transaction_timeout_ms,
            started,
            if parts.is_empty() {
                "-".to_string()
            } else {
                parts.join(",")
            }
        )?;
    }
    Ok(())
}

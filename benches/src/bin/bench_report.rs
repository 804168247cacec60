//! Prints the last criterion run as a markdown table: each `weir_*` function next
//! to the `ceiling_*` function of its group, with the ratio weir time / ceiling
//! time (1.0 = as fast as the ceiling).
//!
//! ```sh
//! cargo bench -p weir-benches && cargo run -p weir-benches --bin bench-report
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

struct Measurement {
    median_ns: f64,
    bytes: Option<f64>,
}

fn read(dir: &Path) -> Option<Measurement> {
    let estimates: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("new/estimates.json")).ok()?).ok()?;
    let benchmark: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("new/benchmark.json")).ok()?).ok()?;
    Some(Measurement {
        median_ns: estimates["median"]["point_estimate"].as_f64()?,
        bytes: benchmark["throughput"]["Bytes"].as_f64(),
    })
}

fn human_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

fn rate(m: &Measurement) -> String {
    m.bytes.map_or_else(String::new, |b| {
        format!("{:.0} MB/s", b / m.median_ns * 1e3)
    })
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let Ok(groups) = fs::read_dir(&root) else {
        eprintln!(
            "bench-report: {} not found; run `cargo bench -p weir-benches` first",
            root.display()
        );
        std::process::exit(2);
    };
    let mut table: BTreeMap<String, BTreeMap<String, Measurement>> = BTreeMap::new();
    for group in groups.flatten().filter(|g| g.path().is_dir()) {
        let name = group.file_name().to_string_lossy().into_owned();
        if name == "report" {
            continue;
        }
        for func in fs::read_dir(group.path()).into_iter().flatten().flatten() {
            if let Some(m) = read(&func.path()) {
                table
                    .entry(name.clone())
                    .or_default()
                    .insert(func.file_name().to_string_lossy().into_owned(), m);
            }
        }
    }
    println!("| group | weir | time | rate | ceiling | time | rate | ratio |");
    println!("|---|---|---:|---:|---|---:|---:|---:|");
    for (group, funcs) in &table {
        let ceiling = funcs.iter().find(|(n, _)| n.starts_with("ceiling"));
        for (name, m) in funcs.iter().filter(|(n, _)| !n.starts_with("ceiling")) {
            match ceiling {
                Some((cname, c)) => println!(
                    "| {group} | {name} | {} | {} | {cname} | {} | {} | {:.2}x |",
                    human_time(m.median_ns),
                    rate(m),
                    human_time(c.median_ns),
                    rate(c),
                    m.median_ns / c.median_ns
                ),
                None => println!(
                    "| {group} | {name} | {} | {} | | | | |",
                    human_time(m.median_ns),
                    rate(m)
                ),
            }
        }
    }
}

//! The orders pipeline: a checkout service writes orders, a streaming enricher
//! turns them into enriched orders, alerts and dead letters, and a batch job
//! reports revenue over a bounded window, all at once on one Weir data
//! directory. Run it again and it continues where it left off.
//!
//! ```sh
//! cargo run --release -p weir-examples --example orders_pipeline
//! cargo run --release -p weir-examples --example orders_pipeline   # continues
//! weir topics list --data-dir ./weir-data
//! cargo run -p weir-examples --example orders_pipeline -- --orders 20000 --data-dir /tmp/w
//! ```
//!
//! The pipeline itself is in `examples/src/orders/` (`weir_examples::orders`),
//! so the package's tests run the same code.

use std::path::PathBuf;
use std::process::ExitCode;

use weir_examples::orders::{self, PipelineConfig};

const USAGE: &str = "\
usage: orders_pipeline [--data-dir DIR] [--orders N] [--rate N]

  --data-dir DIR  Weir data directory (default: $WEIR_DATA_DIR, else ./weir-data)
  --orders N      orders to produce in this run (default 200000)
  --rate N        orders per second, 0 for as fast as possible (default 100000)";

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders_pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let Some(config) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    println!(
        "orders pipeline: {} orders at {} into {}",
        config.orders,
        if config.rate_per_sec == 0 {
            "full speed".to_string()
        } else {
            format!("{} orders/s", config.rate_per_sec)
        },
        config.data_dir.display()
    );
    let report = orders::run(&config)?;
    println!("{report}");
    println!(
        "\nrun it again to continue from these checkpoints; see the topics with \
         `weir topics list --data-dir {}`",
        config.data_dir.display()
    );
    Ok(())
}

/// The config from the command line, or `None` for `--help`. Only std, on
/// purpose: a real service would use clap.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<PipelineConfig>, Error> {
    let data_dir =
        std::env::var_os("WEIR_DATA_DIR").map_or_else(|| "./weir-data".into(), PathBuf::from);
    let mut config = PipelineConfig::new(data_dir);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n\n{USAGE}"))
        };
        let number = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|e| format!("{name} {v:?}: {e}\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--data-dir" => config.data_dir = value("--data-dir")?.into(),
            "--orders" => config.orders = number("--orders", value("--orders")?)?,
            "--rate" => config.rate_per_sec = number("--rate", value("--rate")?)?,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    Ok(Some(config))
}

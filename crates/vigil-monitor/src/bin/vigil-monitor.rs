//! `vigil-monitor`: what a compute node runs, without the rest of Vigil. The same commands as
//! `vigil monitor …` and `vigil notify`, in a binary that links neither the API, the engine nor
//! the store: a resident monitor's memory is mostly its binary's pages, so a small binary is a
//! small monitor. One thread: a monitor waits far more than it works.

use clap::{Parser, Subcommand};
use vigil_monitor::cli::{self, MonitorCommand, NotifyArgs};

/// Vigil's compute-node monitors.
#[derive(Parser)]
#[command(name = "vigil-monitor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Made once, from the command line: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Monitor(MonitorCommand),
    /// Append one report to an outbox, for `vigil-monitor send` to deliver as a monitor's.
    Notify(NotifyArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    cli::init_logging();
    match Cli::parse().command {
        Command::Monitor(command) => cli::run(command).await,
        Command::Notify(args) => cli::notify(args).await,
    }
}

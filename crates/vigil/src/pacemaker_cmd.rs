//! `vigil alerter`: hands the hosts of Pacemaker's failed-host queue to the recovery service.

use crate::monitor_cmd::ApiArgs;
use anyhow::Context;
use clap::Args;
use std::time::Duration;
use vigil_client::Client;
use vigil_pacemaker::alerter::{Alerter, Driver};
use vigil_pacemaker::attrd::Attrd;

#[derive(Args)]
pub struct AlerterArgs {
    /// The Masakari-compatible API (Vigil, or Masakari) the failed hosts are reported to.
    #[command(flatten)]
    api: ApiArgs,
    /// How often the queue is read.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = crate::monitor_cmd::secs)]
    interval: Duration,
    /// This alerter's name in its claims; default: the host name and the process id.
    #[arg(long)]
    owner: Option<String>,
    /// The attrd_updater to run.
    #[arg(long, value_name = "PATH", default_value = "attrd_updater")]
    attrd_updater: String,
}

pub async fn alerter(args: AlerterArgs) -> anyhow::Result<()> {
    let client = Client::from_config(&args.api.config()).context("the API client")?;
    if let Some(session) = client.session() {
        session.keep_token_fresh();
    }
    let owner = match args.owner {
        Some(o) => o,
        None => format!(
            "{}:{}",
            vigil_monitor::hostname().unwrap_or_else(|| "alerter".into()),
            std::process::id()
        ),
    };
    let queue = Attrd {
        program: args.attrd_updater,
        ..Attrd::default()
    };
    tracing::info!(%owner, "alerter started");
    Alerter::new(queue, Driver::Masakari(client), owner)
        .run(args.interval, crate::shutdown_signal())
        .await;
    tracing::info!("alerter stopped");
    Ok(())
}

//! `vigil alerter`, which hands the hosts of Pacemaker's failed-host queue to the recovery
//! service, and `vigil pacemaker-alert`, Pacemaker's alert agent.

use crate::monitor_cmd::ApiArgs;
use anyhow::Context;
use clap::Args;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use vigil_client::Client;
use vigil_domain::{NotificationType, Timestamp};
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

/// `vigil pacemaker-alert` (or the binary run as `vigil-pacemaker-alert`): Pacemaker's alert
/// agent. A node lost, fenced or back is appended to the outbox named by the alert's recipient
/// (or `outbox`), for `vigil monitor send` to deliver; anything else is ignored. Every node
/// runs its alerts, so the same event may be appended on several: it carries the event's own
/// time, and the API counts the repeats once.
pub async fn pacemaker_alert(outbox: Option<PathBuf>) -> anyhow::Result<()> {
    let vars: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CRM_alert_"))
        .collect();
    let this_node = vigil_monitor::hostname();
    let Some(alert) = vigil_pacemaker::alert::decide(&vars, this_node.as_deref()) else {
        return Ok(());
    };
    let dir = match outbox {
        Some(dir) => dir,
        None => vars
            .get("CRM_alert_recipient")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .context(
                "no outbox: give --outbox, or the outbox directory as the alert's recipient",
            )?,
    };
    let generated_time = vars
        .get("CRM_alert_timestamp_epoch")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|secs| {
            let usec = vars
                .get("CRM_alert_timestamp_usec")
                .and_then(|u| u.parse::<i64>().ok())
                .unwrap_or(0);
            Timestamp::from_micros(secs * 1_000_000 + usec)
        })
        .unwrap_or_else(Timestamp::now);
    let event = vigil_outbox::Event {
        notification_type: NotificationType::ComputeHost,
        hostname: alert.node.clone(),
        generated_time,
        payload: vigil_wire::payload::Payload::ComputeHost(alert.payload).to_map(),
    };
    let outbox = vigil_outbox::Outbox::open(&dir)
        .with_context(|| format!("opening the outbox {}", dir.display()))?;
    outbox.append(event).await.context("appending the report")?;
    tracing::info!(node = %alert.node, outbox = %dir.display(), "alert appended as a report");
    Ok(())
}

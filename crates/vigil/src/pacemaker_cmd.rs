//! `vigil alerter`, which hands the hosts of Pacemaker's failed-host queue to the recovery
//! service, and `vigil pacemaker-alert`, Pacemaker's alert agent.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use vigil_domain::{NotificationType, Timestamp};
use vigil_monitor::cli::ApiArgs;
use vigil_pacemaker::alerter::{Alerter, Driver};
use vigil_pacemaker::attrd::Attrd;
use vigil_pacemaker::https::{HttpsConfig, HttpsDriver};

#[derive(Clone, Copy, ValueEnum)]
enum DriverKind {
    /// A Masakari-compatible COMPUTE_HOST notification to Vigil's API or Masakari's.
    #[value(alias = "masakari")]
    Vigil,
    /// The instance-HA design's host-failure JSON, POSTed to --endpoint.
    Https,
}

#[derive(Args)]
pub struct AlerterArgs {
    /// Where the failed hosts are handed over.
    #[arg(long, value_enum, default_value = "vigil")]
    driver: DriverKind,
    /// The Masakari-compatible API (Vigil, or Masakari) the failed hosts are reported to;
    /// with the https driver only --ca-file and --timeout-secs apply.
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    https: HttpsArgs,
    /// How often the queue is read.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = vigil_monitor::cli::secs)]
    interval: Duration,
    /// This alerter's name in its claims; default: the host name. An alerter restarted on
    /// the same node (by Pacemaker, after a crash) takes its own claims back at once; one on
    /// another node waits until they are stale (60 s).
    #[arg(long)]
    owner: Option<String>,
    /// The attrd_updater to run.
    #[arg(long, value_name = "PATH", default_value = "attrd_updater")]
    attrd_updater: String,
}

/// The https driver's endpoint and credentials.
#[derive(Args)]
struct HttpsArgs {
    /// https driver: the address the reports are POSTed to.
    #[arg(long, value_name = "URL", required_if_eq("driver", "https"))]
    endpoint: Option<String>,
    /// https driver: a file holding the token sent as `Authorization: Bearer` (a file, so
    /// that the token is not in the process list).
    #[arg(long, value_name = "FILE")]
    bearer_token_file: Option<PathBuf>,
    /// https driver: a client certificate (PEM; its key may be in the same file).
    #[arg(long, value_name = "FILE")]
    client_cert: Option<PathBuf>,
    /// https driver: the client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// https driver: accept any server certificate (a test bed only).
    #[arg(long)]
    insecure: bool,
    /// https driver: report the hosts' instances as on shared storage.
    #[arg(long)]
    on_shared_storage: bool,
}

fn driver(args: &AlerterArgs) -> anyhow::Result<Driver> {
    let api = args.api.config();
    match args.driver {
        DriverKind::Vigil => Ok(Driver::Masakari(
            args.api.client().context("the API client")?,
        )),
        DriverKind::Https => {
            let h = &args.https;
            let bearer_token = match &h.bearer_token_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading the bearer token {}", path.display()))?
                        .trim()
                        .to_owned(),
                ),
                None => None,
            };
            let config = HttpsConfig {
                url: h.endpoint.clone().unwrap_or_default(),
                ca_file: api.ca_file,
                insecure: h.insecure,
                bearer_token,
                client_cert: h.client_cert.clone(),
                client_key: h.client_key.clone(),
                on_shared_storage: h.on_shared_storage,
                timeout: Duration::from_secs(api.timeout_secs),
            };
            let driver = HttpsDriver::new(&config).context("the https driver")?;
            Ok(Driver::Https(driver))
        }
    }
}

pub async fn alerter(args: AlerterArgs) -> anyhow::Result<()> {
    let driver = driver(&args)?;
    let owner = args
        .owner
        .or_else(vigil_monitor::hostname)
        .unwrap_or_else(|| "alerter".into());
    let queue = Attrd {
        program: args.attrd_updater,
        ..Attrd::default()
    };
    tracing::info!(%owner, "alerter started");
    Alerter::new(queue, driver, owner)
        .run(args.interval, vigil_monitor::runner::shutdown_signal())
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

//! The compute-node side's commands so far: `vigil monitor send` delivers an outbox's reports
//! to the API; `vigil notify` appends one report to an outbox, an operator's way to inject a
//! report through the same durable path a monitor's takes.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use vigil_client::{AuthMode, Client, ClientConfig};
use vigil_domain::{ErrorChain, NotificationType, Timestamp};
use vigil_outbox::{Answer, DeliveryConfig, Dispatcher, Event, Outbox, Sink};

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Deliver an outbox's reports to the API, in order, each until it is accepted; runs
    /// until stopped (SIGTERM, SIGINT), or with --drain until nothing is pending.
    Send(SendArgs),
}

#[derive(Args)]
pub struct SendArgs {
    /// The outbox directory.
    #[arg(long, value_name = "DIR", env = "VIGIL_OUTBOX")]
    outbox: PathBuf,
    #[command(flatten)]
    api: ApiArgs,
    #[command(flatten)]
    delivery: DeliveryArgs,
    /// Exit once nothing is pending.
    #[arg(long)]
    drain: bool,
}

/// Where reports go and how to authenticate.
#[derive(Args)]
struct ApiArgs {
    /// The API's v1 address, e.g. https://controller:15868/v1; with --os-cloud it may be left
    /// out for the catalog's instance-ha endpoint.
    #[arg(long, value_name = "URL", env = "VIGIL_API_URL")]
    url: Option<String>,
    /// A project id to put in the URL (<url>/<project>/notifications).
    #[arg(long, value_name = "ID")]
    project_id: Option<String>,
    /// Without Keystone: an X-Auth-Token to send (Masakari's noauth2 wants `user:project`).
    #[arg(long, value_name = "TOKEN", env = "VIGIL_API_TOKEN")]
    token: Option<String>,
    /// Authenticate with Keystone as this cloud of clouds.yaml (a password or an
    /// application credential); without it, no authentication.
    #[arg(long, value_name = "CLOUD")]
    os_cloud: Option<String>,
    /// A PEM file of CA certificates to trust, for the API and Keystone.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The longest one request may take.
    #[arg(long, value_name = "SECS", default_value_t = ClientConfig::default().timeout_secs)]
    timeout_secs: u64,
}

/// The retry schedule and the maximum age (`vigil_outbox::DeliveryConfig`).
#[derive(Args)]
struct DeliveryArgs {
    /// The first pause after a failed send, doubled after each failure.
    #[arg(long, value_name = "MS", default_value_t = DeliveryConfig::default().initial_delay_ms)]
    initial_delay_ms: u64,
    #[arg(long, value_name = "MS", default_value_t = DeliveryConfig::default().max_delay_ms)]
    max_delay_ms: u64,
    /// A report not accepted this long after it was appended goes to the dead-letter file.
    #[arg(long, value_name = "SECS", default_value_t = DeliveryConfig::default().max_age_secs)]
    max_age_secs: u64,
    /// How often to look for reports appended by other processes.
    #[arg(long, value_name = "MS", default_value_t = DeliveryConfig::default().poll_interval_ms)]
    poll_interval_ms: u64,
}

#[derive(Args)]
pub struct NotifyArgs {
    /// The outbox directory.
    #[arg(long, value_name = "DIR", env = "VIGIL_OUTBOX")]
    outbox: PathBuf,
    /// COMPUTE_HOST, VM or PROCESS.
    #[arg(long = "type", value_name = "TYPE")]
    notification_type: NotificationType,
    /// The compute host the report is about, as the API knows it.
    #[arg(long)]
    hostname: String,
    /// The payload, a JSON object, e.g. '{"event": "STOPPED", "host_status": "NORMAL",
    /// "cluster_status": "OFFLINE"}'.
    #[arg(long, value_name = "JSON")]
    payload: String,
    /// When it happened (ISO 8601, UTC unless a zone is given); default now.
    #[arg(long, value_name = "TIME")]
    generated_time: Option<String>,
}

pub async fn run(command: MonitorCommand) -> anyhow::Result<()> {
    match command {
        MonitorCommand::Send(args) => send(args).await,
    }
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let outbox = Outbox::open(&args.outbox)
        .with_context(|| format!("opening the outbox {}", args.outbox.display()))?;
    let client = Client::from_config(&args.api.config()).context("setting up the API client")?;
    if let Some(session) = client.session() {
        session.keep_token_fresh();
    }
    let dispatcher = Dispatcher::new(args.delivery.config(), outbox, ApiSink(client))
        .context("starting to deliver")?;
    tracing::info!(outbox = %args.outbox.display(), "delivering reports");
    let done = if args.drain {
        dispatcher.drain().await
    } else {
        dispatcher.start().until(crate::shutdown_signal()).await
    }
    .context("delivering reports")?;
    tracing::info!(
        delivered = done.delivered,
        duplicates = done.duplicates,
        dead_lettered = done.dead_lettered,
        "stopped delivering"
    );
    Ok(())
}

pub async fn notify(args: NotifyArgs) -> anyhow::Result<()> {
    let payload: serde_json::Value =
        serde_json::from_str(&args.payload).context("--payload is not JSON")?;
    let serde_json::Value::Object(payload) = payload else {
        anyhow::bail!("--payload must be a JSON object");
    };
    // Checked here, so a mistyped report is refused now rather than dead-lettered later.
    vigil_wire::payload::Payload::parse(args.notification_type, &payload)
        .context("--payload does not suit --type")?;
    let generated_time = match &args.generated_time {
        None => Timestamp::now(),
        Some(t) => vigil_wire::time::parse_isotime(t)
            .with_context(|| format!("--generated-time '{t}' is not an ISO 8601 time"))?,
    };
    let event = Event {
        notification_type: args.notification_type,
        hostname: args.hostname,
        generated_time,
        payload,
    };
    let outbox = Outbox::open(&args.outbox)
        .with_context(|| format!("opening the outbox {}", args.outbox.display()))?;
    let at = outbox.append(event).await.context("appending the report")?;
    tracing::info!(outbox = %args.outbox.display(), %at, "report appended");
    Ok(())
}

impl ApiArgs {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig {
            url: self.url.clone().unwrap_or_default(),
            project_id: self.project_id.clone().unwrap_or_default(),
            token: self.token.clone().unwrap_or_default(),
            ca_file: self.ca_file.clone(),
            timeout_secs: self.timeout_secs,
            ..ClientConfig::default()
        };
        if let Some(cloud) = &self.os_cloud {
            config.auth = AuthMode::Keystone;
            config.openstack.cloud = cloud.clone();
        }
        config
    }
}

impl DeliveryArgs {
    fn config(&self) -> DeliveryConfig {
        DeliveryConfig {
            initial_delay_ms: self.initial_delay_ms,
            max_delay_ms: self.max_delay_ms,
            max_age_secs: self.max_age_secs,
            poll_interval_ms: self.poll_interval_ms,
        }
    }
}

/// The outbox's sink: the Masakari client, its result read as the dispatcher's [`Answer`].
struct ApiSink(Client);

impl Sink for ApiSink {
    async fn send(&self, event: &Event) -> Answer {
        match self.0.create_notification(event).await {
            Ok(_) => Answer::Status {
                code: 202,
                body: String::new(),
            },
            Err(e) => match e.answered() {
                Some((code, body)) => Answer::Status {
                    code,
                    body: body.to_owned(),
                },
                None => Answer::NoAnswer {
                    error: ErrorChain(&e).to_string(),
                },
            },
        }
    }
}

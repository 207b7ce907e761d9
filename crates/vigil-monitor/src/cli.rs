//! The compute-node side's commands: the monitors (`instance`, `guest`, `process`, `host`),
//! their `status`, `send`, which delivers an outbox's reports to the API, and `notify`, which
//! appends one report to an outbox, an operator's way to inject a report through the same
//! durable path a monitor's takes. The `vigil` binary runs them as `vigil monitor …` and
//! `vigil notify`; the `vigil-monitor` binary (`src/bin/vigil-monitor.rs`), which is all a
//! compute node needs, as `vigil-monitor …`.

mod host;

use crate::process::{ProcessConfig, ProcessMonitor, RestartPolicy};
use crate::sender::ApiSink;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_client::{AuthMode, Client, ClientConfig, ClientError};
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{DeliveryConfig, Dispatcher, Event, Outbox};

// The monitors that link libvirt (the instance and guest-agent monitors).
#[cfg(feature = "libvirt")]
mod libvirt;
#[cfg(feature = "libvirt")]
use libvirt::{GuestArgs, InstanceArgs};

/// Logs to standard error, `RUST_LOG` filtering (default `info`), coloured on a terminal.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Where monitors keep their state and status files unless told otherwise.
const STATE_DIR: &str = "/var/lib/vigil/monitor";

#[derive(Subcommand)]
pub enum MonitorCommand {
    /// Deliver an outbox's reports to the API, in order, each until it is accepted; runs
    /// until stopped (SIGTERM, SIGINT), or with --drain until nothing is pending.
    Send(SendArgs),
    /// Keep the processes of Masakari's process_list.yaml running: restart them, and report
    /// to the outbox those that cannot be restarted (PROCESS/STOPPED) and their return
    /// (STARTED). Runs until stopped; SIGHUP checks at once.
    Process(ProcessArgs),
    /// Report libvirt domain events (VM notifications, masakari-monitors' instancemonitor's
    /// table) to the outbox; reconnects when libvirtd restarts, and reports the domains that
    /// stopped while it was not listening. Runs until stopped (SIGTERM, SIGINT). Built only
    /// with the `libvirt` feature, so that a control-plane binary does not link libvirt.
    #[cfg(feature = "libvirt")]
    Instance(InstanceArgs),
    /// Ping the QEMU guest agent of each running domain with an agent channel (as
    /// masakari-monitors' introspective instance monitor) and report one that stops answering
    /// (VM QEMU_GUEST_AGENT_ERROR), once per failure episode. Runs until stopped; SIGHUP
    /// checks at once. Built only with the `libvirt` feature.
    #[cfg(feature = "libvirt")]
    Guest(GuestArgs),
    /// Report the compute hosts that go down (COMPUTE_HOST/STOPPED) and come back (STARTED)
    /// to the outbox, as masakari-monitors' hostmonitor does. --driver pacemaker: the
    /// cluster's view (crm_mon), only with quorum, host_status NORMAL once fenced;
    /// --driver gossip: SWIM membership among the monitors, reported by those in the
    /// majority. Never this host. Runs until stopped.
    Host(host::HostArgs),
    /// Print every monitor's status (from its status file) as JSON, with its outbox's
    /// pending reports and dead letters.
    Status(StatusArgs),
}

/// A monitor's state directory and host name.
#[derive(Args)]
struct NodeArgs {
    /// Where the monitor keeps its state (what it last saw) and its status file.
    #[arg(long, value_name = "DIR", env = "VIGIL_MONITOR_STATE_DIR", default_value = STATE_DIR)]
    state_dir: PathBuf,
    /// The host name reports carry, as the API knows the host; default this machine's.
    #[arg(long, env = "VIGIL_HOSTNAME")]
    hostname: Option<String>,
}

#[derive(Args)]
pub struct ProcessArgs {
    /// Masakari's process_list.yaml, unchanged; read again at every check.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/vigil/process_list.yaml"
    )]
    config: PathBuf,
    /// The outbox directory reports are appended to.
    #[arg(long, value_name = "DIR", env = "VIGIL_OUTBOX")]
    outbox: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    /// Seconds between two checks (masakari-monitors' [process] check_interval).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = secs)]
    check_interval: Duration,
    /// Restarts tried after the first failed one, before the process is reported
    /// ([process] restart_retries).
    #[arg(long, value_name = "N", default_value_t = RestartPolicy::default().retries)]
    restart_retries: u32,
    /// Seconds between two restarts ([process] restart_interval).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = secs)]
    restart_interval: Duration,
    /// A start or restart command running longer is killed and counts as failed.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = secs)]
    command_timeout: Duration,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The monitors' state directory.
    #[arg(long, value_name = "DIR", env = "VIGIL_MONITOR_STATE_DIR", default_value = STATE_DIR)]
    state_dir: PathBuf,
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
pub struct ApiArgs {
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
        MonitorCommand::Process(args) => process(args).await,
        #[cfg(feature = "libvirt")]
        MonitorCommand::Instance(args) => libvirt::instance(args).await,
        #[cfg(feature = "libvirt")]
        MonitorCommand::Guest(args) => libvirt::guest(args).await,
        MonitorCommand::Host(args) => host::run(args).await,
        MonitorCommand::Status(args) => status(&args.state_dir),
    }
}

async fn process(args: ProcessArgs) -> anyhow::Result<()> {
    let hostname = args.node.hostname()?;
    let outbox = Outbox::open(&args.outbox)
        .with_context(|| format!("opening the outbox {}", args.outbox.display()))?;
    let mut config = ProcessConfig::new(args.config.clone(), hostname, args.node.state_dir);
    config.check_interval = args.check_interval;
    config.restart = RestartPolicy {
        retries: args.restart_retries,
        interval: args.restart_interval,
    };
    config.command_timeout = args.command_timeout;
    let monitor = ProcessMonitor::new(config, outbox).context("starting the process monitor")?;
    tracing::info!(
        process_list = %args.config.display(),
        outbox = %args.outbox.display(),
        "process monitor started"
    );
    run_until_stopped(monitor, &tokio::sync::Notify::new()).await;
    tracing::info!("process monitor stopped");
    Ok(())
}

/// Runs `monitor` until SIGTERM or SIGINT; SIGHUP wakes it.
async fn run_until_stopped<R: crate::runner::Reconciler>(monitor: R, wake: &tokio::sync::Notify) {
    let hangup = async {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return std::future::pending().await;
        };
        while hup.recv().await.is_some() {
            wake.notify_one();
        }
    };
    tokio::select! {
        () = crate::runner::run(monitor, wake, crate::runner::shutdown_signal()) => {}
        () = hangup => {}
    }
}

/// Prints `{"monitors": [...]}`: each status file, with its outbox's pending reports (count,
/// oldest) and dead letters read now.
fn status(state_dir: &Path) -> anyhow::Result<()> {
    let mut monitors = crate::status::read_all(state_dir)?;
    for m in &mut monitors {
        let Some(dir) = m["outbox"].as_str().map(PathBuf::from) else {
            continue;
        };
        // Opening creates a missing directory: only look at one that is there.
        let outbox = dir.is_dir().then(|| Outbox::open(&dir)).transpose()?;
        let (pending, dead) = match &outbox {
            Some(o) => (o.pending()?, o.dead_letters()?.len()),
            None => (Vec::new(), 0),
        };
        m["outbox_pending"] = pending.len().into();
        m["outbox_oldest_pending"] = pending
            .first()
            .map(|p| p.appended_at.to_string().into())
            .unwrap_or_default();
        m["outbox_dead_letters"] = dead.into();
    }
    let out = serde_json::json!({ "monitors": monitors });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Seconds, possibly fractional, as a positive duration.
pub fn secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("'{text}' is not a positive number of seconds"))
}

impl NodeArgs {
    fn hostname(&self) -> anyhow::Result<String> {
        match &self.hostname {
            Some(h) => Ok(h.clone()),
            None => {
                crate::hostname().context("this machine's host name is unknown: give --hostname")
            }
        }
    }
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let outbox = Outbox::open(&args.outbox)
        .with_context(|| format!("opening the outbox {}", args.outbox.display()))?;
    let client = args.api.client().context("setting up the API client")?;
    let dispatcher = Dispatcher::new(args.delivery.config(), outbox, ApiSink(client))
        .context("starting to deliver")?;
    tracing::info!(outbox = %args.outbox.display(), "delivering reports");
    let done = if args.drain {
        dispatcher.drain().await
    } else {
        dispatcher
            .start()
            .until(crate::runner::shutdown_signal())
            .await
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
    /// A client of the API; with Keystone, its token is kept fresh in the background for as
    /// long as the process runs.
    pub fn client(&self) -> Result<Client, ClientError> {
        let client = Client::from_config(&self.config())?;
        if let Some(session) = client.session() {
            session.keep_token_fresh();
        }
        Ok(client)
    }

    pub fn config(&self) -> ClientConfig {
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

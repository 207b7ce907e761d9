//! The monitors that link libvirt: `vigil monitor instance` (domain events) and `vigil monitor
//! guest` (QEMU guest agents), with the connection flags they share.

use super::{run_until_stopped, secs, NodeArgs};
use crate::guest::{GuestConfig, GuestMonitor, MASAKARI_SOCKET_PATTERN};
use crate::instance::link::LibvirtConfig;
use crate::instance::{table::EventFilter, InstanceConfig, InstanceMonitor};
use crate::runner::Reconciler;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Notify;
use vigil_domain::Backoff;
use vigil_outbox::Outbox;

/// What both monitors are told: the outbox, the node, and the libvirt connection ([libvirt]
/// connection_uri) and how it is kept.
#[derive(Args)]
struct LibvirtArgs {
    /// The outbox directory reports are appended to.
    #[arg(long, value_name = "DIR", env = "VIGIL_OUTBOX")]
    outbox: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    /// The libvirt connection: read-only for the instance monitor, read-write for the
    /// guest-agent monitor (libvirt runs agent commands for those only).
    #[arg(
        long,
        value_name = "URI",
        env = "VIGIL_LIBVIRT_URI",
        default_value = "qemu:///system"
    )]
    libvirt_uri: String,
    /// Seconds between keepalive probes; the connection is closed after --keepalive-count
    /// unanswered ones.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    keepalive_interval: i32,
    #[arg(long, value_name = "N", default_value_t = 3)]
    keepalive_count: u32,
    /// The first pause before reconnecting, doubled after each failed attempt up to
    /// --reconnect-max.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = secs)]
    reconnect_initial: Duration,
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = secs)]
    reconnect_max: Duration,
}

impl LibvirtArgs {
    /// The monitors' shared settings, and the outbox opened.
    fn open(self) -> anyhow::Result<(LibvirtConfig, Outbox)> {
        let hostname = self.node.hostname()?;
        let outbox = Outbox::open(&self.outbox)
            .with_context(|| format!("opening the outbox {}", self.outbox.display()))?;
        let mut config = LibvirtConfig::new(self.libvirt_uri, hostname, self.node.state_dir);
        config.keepalive = (self.keepalive_interval, self.keepalive_count);
        config.reconnect = Backoff::new(self.reconnect_initial, self.reconnect_max);
        Ok((config, outbox))
    }
}

#[derive(Args)]
pub struct InstanceArgs {
    #[command(flatten)]
    libvirt: LibvirtArgs,
    /// Report only these, each EVENT or EVENT/VIR_DOMAIN_EVENT (e.g. LIFECYCLE/STOPPED_FAILED,
    /// IO_ERROR); repeat or separate with commas. Default: every report of masakari-monitors'
    /// table.
    #[arg(long = "event", value_name = "PATTERN", value_delimiter = ',')]
    events: Vec<String>,
    /// Seconds between two listings of the domains while connected (a lost event is found).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = secs)]
    resync_interval: Duration,
}

#[derive(Args)]
pub struct GuestArgs {
    #[command(flatten)]
    libvirt: LibvirtArgs,
    /// Seconds between two rounds of pings (guest_monitoring_interval).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = secs)]
    interval: Duration,
    /// Seconds an agent has to answer, whole (guest_monitoring_timeout).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = secs)]
    timeout: Duration,
    /// Consecutive failed pings that are reported (guest_monitoring_failure_threshold).
    #[arg(long, value_name = "N", default_value_t = 3)]
    failure_threshold: u32,
    /// A regular expression the agent channel's socket path must match from its start for
    /// the domain to be watched (qemu_guest_agent_sock_path; default Nova's path).
    #[arg(long, value_name = "REGEX", default_value = MASAKARI_SOCKET_PATTERN)]
    socket_pattern: regex::Regex,
}

pub async fn instance(args: InstanceArgs) -> anyhow::Result<()> {
    let (libvirt, outbox) = args.libvirt.open()?;
    let mut config = InstanceConfig::new(libvirt);
    if !args.events.is_empty() {
        config.filter = EventFilter::only(&args.events).context("--event")?;
    }
    config.resync_interval = args.resync_interval;
    let announce = Started::of("instance monitor", &config.libvirt, &outbox);
    let monitor = InstanceMonitor::new(config, outbox).context("starting the instance monitor")?;
    let wake = monitor.wake();
    announce.run(monitor, &wake).await
}

pub async fn guest(args: GuestArgs) -> anyhow::Result<()> {
    let (libvirt, outbox) = args.libvirt.open()?;
    let mut config = GuestConfig::new(libvirt);
    config.interval = args.interval;
    config.timeout = args.timeout;
    config.failure_threshold = args.failure_threshold;
    config.socket_pattern = args.socket_pattern;
    let announce = Started::of("guest-agent monitor", &config.libvirt, &outbox);
    let monitor = GuestMonitor::new(config, outbox).context("starting the guest-agent monitor")?;
    let wake = monitor.wake();
    announce.run(monitor, &wake).await
}

/// What a started monitor logs of itself.
struct Started {
    what: &'static str,
    uri: String,
    outbox: PathBuf,
}

impl Started {
    fn of(what: &'static str, config: &LibvirtConfig, outbox: &Outbox) -> Started {
        Started {
            what,
            uri: config.uri.clone(),
            outbox: outbox.dir().to_owned(),
        }
    }

    /// Runs `monitor` until stopped, saying when it starts and stops.
    async fn run<R: Reconciler>(self, monitor: R, wake: &Notify) -> anyhow::Result<()> {
        let what = self.what;
        tracing::info!(libvirt_uri = %self.uri, outbox = %self.outbox.display(), "{what} started");
        run_until_stopped(monitor, wake).await;
        tracing::info!("{what} stopped");
        Ok(())
    }
}

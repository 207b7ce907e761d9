//! `vigil monitor host`: the host monitor, by driver. `pacemaker` reads the cluster's view
//! (crate::host); `gossip` needs no cluster stack: the monitors of all compute nodes
//! and controllers form a SWIM group and report the hosts they see die
//! (crate::gossip).

use super::{run_until_stopped, secs, NodeArgs};
use crate::gossip::{GossipConfig, GossipMonitor, Timing};
use crate::host::pacemaker::{Pacemaker, PacemakerConfig};
use crate::host::{HostConfig, HostMonitor};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use vigil_outbox::Outbox;

/// Where `vigil monitor host` learns the membership.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HostDriver {
    /// Pacemaker: `crm_mon --output-as=xml`, cluster and pacemaker_remote nodes.
    Pacemaker,
    /// SWIM membership among the monitors (no Pacemaker).
    Gossip,
}

#[derive(Args)]
pub struct HostArgs {
    /// How hosts are watched.
    #[arg(long, value_enum, default_value = "pacemaker")]
    driver: HostDriver,
    /// The outbox directory reports are appended to.
    #[arg(long, value_name = "DIR", env = "VIGIL_OUTBOX")]
    outbox: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    pacemaker: PacemakerArgs,
    #[command(flatten)]
    gossip: GossipArgs,
}

/// The pacemaker driver's settings.
#[derive(Args)]
struct PacemakerArgs {
    /// Seconds between two looks at the membership (masakari-monitors' [host]
    /// monitoring_interval is 60).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = secs)]
    interval: Duration,
    /// Consecutive looks that must agree before a change is reported ([host]
    /// monitoring_samples).
    #[arg(long, value_name = "N", default_value_t = 1)]
    monitoring_samples: u32,
    /// The crm_mon program.
    #[arg(long, value_name = "FILE", default_value = "crm_mon")]
    crm_mon: PathBuf,
    /// A crm_mon run taking longer is killed and the look fails.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = secs)]
    crm_mon_timeout: Duration,
    /// Read this CIB file instead of the live cluster (crm_mon's CIB_file; no fence history).
    #[arg(long, value_name = "FILE")]
    cib_file: Option<PathBuf>,
}

/// The gossip driver's settings; the member's name is the host name (--hostname).
#[derive(Args)]
struct GossipArgs {
    /// This member's UDP address on the network the members share, e.g. 192.0.2.11:7946;
    /// the others reach it there, so not 0.0.0.0. Needed by the gossip driver.
    #[arg(long, value_name = "ADDR", env = "VIGIL_GOSSIP_BIND")]
    bind: Option<SocketAddr>,
    /// Other members' addresses to join through (any live one will do); repeat or separate
    /// with commas. Listing every member is simplest.
    #[arg(
        long = "seed",
        value_name = "ADDR",
        env = "VIGIL_GOSSIP_SEEDS",
        value_delimiter = ','
    )]
    seeds: Vec<SocketAddr>,
    /// Seconds between two probes by a member.
    #[arg(long, value_name = "SECS", default_value = "0.25", value_parser = secs)]
    probe_period: Duration,
    /// Seconds a probe waits for its ack before asking others to probe; below the period.
    #[arg(long, value_name = "SECS", default_value = "0.1", value_parser = secs)]
    probe_timeout: Duration,
    /// A suspect is declared down after this × max(1, log10(members)) probe periods
    /// (Lifeguard's suspicion multiplier; at least 3).
    #[arg(long, value_name = "N", default_value_t = Timing::default().suspicion_multiplier)]
    suspicion_multiplier: u32,
    /// Members asked to probe when a direct probe gets no ack.
    #[arg(long, value_name = "N", default_value_t = Timing::default().indirect_probes)]
    indirect_probes: usize,
    /// Seconds between two rounds of gossip while there is news.
    #[arg(long, value_name = "SECS", default_value = "0.1", value_parser = secs)]
    gossip_interval: Duration,
    /// Seconds a host must stay down before it is reported, time for a member wrongly
    /// declared down to come back first.
    #[arg(long, value_name = "SECS", default_value = "0.4", value_parser = secs)]
    confirm: Duration,
    /// The number of members expected; default the seeds and this one.
    #[arg(long, value_name = "N")]
    expected_members: Option<u32>,
}

pub async fn run(args: HostArgs) -> anyhow::Result<()> {
    let hostname = args.node.hostname()?;
    let outbox = Outbox::open(&args.outbox)
        .with_context(|| format!("opening the outbox {}", args.outbox.display()))?;
    match args.driver {
        HostDriver::Pacemaker => pacemaker(args, hostname, outbox).await,
        HostDriver::Gossip => gossip(args, hostname, outbox).await,
    }
}

async fn pacemaker(args: HostArgs, hostname: String, outbox: Outbox) -> anyhow::Result<()> {
    let p = args.pacemaker;
    let mut config = HostConfig::new(hostname, args.node.state_dir);
    config.interval = p.interval;
    config.monitoring_samples = p.monitoring_samples;
    let driver = Pacemaker::new(PacemakerConfig {
        crm_mon: p.crm_mon,
        timeout: p.crm_mon_timeout,
        cib_file: p.cib_file,
    });
    let monitor = HostMonitor::new(config, driver, outbox).context("starting the host monitor")?;
    tracing::info!(outbox = %args.outbox.display(), "host monitor started (pacemaker)");
    run_until_stopped(monitor, &tokio::sync::Notify::new()).await;
    tracing::info!("host monitor stopped");
    Ok(())
}

async fn gossip(args: HostArgs, hostname: String, outbox: Outbox) -> anyhow::Result<()> {
    let g = args.gossip;
    let timing = Timing {
        probe_period: g.probe_period,
        probe_rtt: g.probe_timeout,
        indirect_probes: g.indirect_probes,
        suspicion_multiplier: g.suspicion_multiplier,
        gossip_interval: g.gossip_interval,
        expected_members: g.expected_members.unwrap_or(g.seeds.len() as u32 + 1),
        confirm: g.confirm,
    };
    let config = GossipConfig {
        hostname,
        bind: g.bind.context("the gossip driver needs --bind")?,
        seeds: g.seeds,
        timing,
        state_dir: args.node.state_dir,
    };
    let monitor = GossipMonitor::new(config, outbox)
        .await
        .context("starting the gossip host monitor")?;
    tracing::info!(
        addr = %monitor.addr(),
        suspicion = ?timing.suspicion(),
        outbox = %args.outbox.display(),
        "gossip host monitor started"
    );
    run_until_stopped(monitor, &tokio::sync::Notify::new()).await;
    tracing::info!("gossip host monitor stopped");
    Ok(())
}

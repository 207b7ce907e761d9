//! `vigil fence`: the operator's hands on the power devices of `[fencing]`, through the same
//! drivers and topologies a recovery will use. `check` probes every bound device of every host
//! in the database without changing anything, so a broken BMC is found before it is needed.

use crate::config::Config;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use vigil_fence::config::FencingConfig;
use vigil_store::{HostFilter, Page, SegmentFilter, Store};

#[derive(Subcommand)]
pub enum FenceCommand {
    /// Ask each level's device for the host's power state; nothing is changed.
    Status(HostArgs),
    /// Power the host off, level by level, until a device confirms it off.
    Off(HostArgs),
    /// Power the host on through the first level that manages it.
    On(HostArgs),
    /// Ask every bound device of every host in the database for its power state.
    Check(FormatArg),
}

#[derive(Args)]
pub struct HostArgs {
    /// The host, as Nova and Vigil name it.
    pub host: String,
    /// Its segment (for bindings by segment); default: the host's segment in the database.
    #[arg(long)]
    pub segment: Option<String>,
    #[command(flatten)]
    pub format: FormatArg,
}

#[derive(Args)]
pub struct FormatArg {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// What one device said about one host.
#[derive(Serialize)]
struct Row {
    host: String,
    level: usize,
    device: String,
    /// `on`, `off`, `unknown`, or `error`.
    power: &'static str,
    error: Option<String>,
}

/// Runs the command; `Ok(false)` when a device failed (the exit status says so).
pub async fn run(
    command: FenceCommand,
    config: &Config,
    store: Option<Store>,
) -> anyhow::Result<bool> {
    let fencing = &config.fencing;
    match command {
        FenceCommand::Status(args) => {
            let segment = segment_of(&args, store.as_ref()).await?;
            let rows = status(fencing, &args.host, &segment).await?;
            let ok = rows.iter().all(|r| r.error.is_none());
            print(&rows, args.format.format)?;
            Ok(ok)
        }
        FenceCommand::Off(args) => {
            let segment = segment_of(&args, store.as_ref()).await?;
            let topology = fencing.topology(&args.host, &segment)?;
            let done = topology.fence(&args.host, None).await;
            Ok(say(&args.host, "fenced", done.map(|f| f.to_string())))
        }
        FenceCommand::On(args) => {
            let segment = segment_of(&args, store.as_ref()).await?;
            let topology = fencing.topology(&args.host, &segment)?;
            let done = topology.on(&args.host).await;
            Ok(say(
                &args.host,
                "powered on",
                done.map(|d| format!("on, by {d}")),
            ))
        }
        FenceCommand::Check(format) => {
            let store = store.context("`vigil fence check` reads the hosts from the database")?;
            let mut rows = Vec::new();
            for segment in store
                .segment_list(&SegmentFilter::default(), &Page::default())
                .await?
            {
                let hosts = store
                    .host_list(segment.uuid, &HostFilter::default(), &Page::default())
                    .await?;
                for host in hosts {
                    let found = status(fencing, &host.name, &segment.name).await?;
                    if found.is_empty() {
                        rows.push(Row {
                            host: host.name.clone(),
                            level: 0,
                            device: "-".into(),
                            power: "unknown",
                            error: Some(format!(
                                "no device bound (segment {} is {:?})",
                                segment.name,
                                fencing.policy(&segment.name)
                            )),
                        });
                    }
                    rows.extend(found);
                }
            }
            let ok = rows.iter().all(|r| r.error.is_none());
            print(&rows, format.format)?;
            Ok(ok)
        }
    }
}

/// Prints what a power change did to `host`; whether it did it.
fn say(host: &str, done: &str, result: Result<String, vigil_fence::TopologyError>) -> bool {
    let ok = result.is_ok();
    match result {
        Ok(how) => println!("{host}: {how}"),
        Err(e) => println!("{host}: not {done}: {}", vigil_domain::ErrorChain(&e)),
    }
    ok
}

async fn segment_of(args: &HostArgs, store: Option<&Store>) -> anyhow::Result<String> {
    if let Some(s) = &args.segment {
        return Ok(s.clone());
    }
    let store = store.context("give --segment, or a database that knows the host")?;
    let host = store
        .host_get_by_name(&args.host)
        .await
        .with_context(|| format!("finding {} in the database (or give --segment)", args.host))?;
    Ok(host.segment.name)
}

async fn status(fencing: &FencingConfig, host: &str, segment: &str) -> anyhow::Result<Vec<Row>> {
    let topology = fencing.topology(host, segment)?;
    Ok(topology
        .status(host)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, (device, answer))| match answer {
            Ok(state) => Row {
                host: host.to_owned(),
                level: i + 1,
                device,
                power: state.as_str(),
                error: None,
            },
            Err(e) => Row {
                host: host.to_owned(),
                level: i + 1,
                device,
                power: "error",
                error: Some(vigil_domain::ErrorChain(&e).to_string()),
            },
        })
        .collect())
}

/// Data to stdout: a table, or JSON.
fn print(rows: &[Row], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Table => {
            let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
            let dwidth = rows
                .iter()
                .map(|r| r.device.len())
                .max()
                .unwrap_or(6)
                .max(6);
            println!(
                "{:width$}  LEVEL  {:dwidth$}  POWER    ERROR",
                "HOST", "DEVICE"
            );
            for r in rows {
                println!(
                    "{:width$}  {:>5}  {:dwidth$}  {:7}  {}",
                    r.host,
                    r.level,
                    r.device,
                    r.power,
                    r.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

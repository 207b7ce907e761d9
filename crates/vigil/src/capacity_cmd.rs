//! `vigil capacity`: each segment's headroom from Placement, as a table per segment or JSON.
//! `vigil plan` (in `plan_cmd`) shares the sources and the exit codes: 2 for what the operator
//! named but does not exist, 1 for what could not be read.

use crate::config::Config;
use anyhow::Context;
use clap::{Args, ValueEnum};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use std::collections::BTreeSet;
use vigil_capacity::{HostReport, SegmentReport, Sources};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Args, Clone)]
pub struct CapacityArgs {
    /// Only this segment (its name or uuid).
    #[arg(long, value_name = "NAME_OR_UUID")]
    segment: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Exit code for a segment or host the operator named that does not exist (clap uses 2 for
/// bad usage too).
pub const NOT_FOUND: i32 = 2;

/// The store, Nova and Placement, from the configuration `vigil serve` reads.
pub async fn sources(config: &Config) -> anyhow::Result<Sources> {
    let store = crate::open_store(config).await?;
    let Some(session) = crate::openstack_session(config)? else {
        anyhow::bail!(
            "measuring capacity needs Nova and Placement: set [openstack] auth_url and credentials"
        );
    };
    Ok(Sources {
        store,
        nova: vigil_openstack::nova::Compute::new(session.clone()),
        placement: vigil_openstack::placement::Placement::new(session),
    })
}

pub async fn run(args: CapacityArgs, config: &Config) -> anyhow::Result<()> {
    let sources = sources(config).await?;
    let segments = match &args.segment {
        Some(key) => {
            let found = vigil_capacity::find_segment(&sources.store, key)
                .await
                .context("reading the segments")?;
            let Some(segment) = found else {
                eprintln!("vigil capacity: no segment named or with uuid {key}");
                std::process::exit(NOT_FOUND);
            };
            vec![segment]
        }
        None => sources.segments().await?,
    };
    let facts = sources
        .gather(&segments)
        .await
        .context("measuring capacity")?;
    let reports: Vec<SegmentReport> = facts.iter().map(vigil_capacity::assess).collect();
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({ "segments": reports });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Table => {
            if reports.is_empty() {
                println!("no segments");
            }
            for r in &reports {
                print_segment(r);
            }
        }
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

fn print_segment(r: &SegmentReport) {
    println!(
        "segment {} ({}), {}{}",
        r.segment,
        r.uuid,
        r.recovery_method,
        if r.enabled { "" } else { ", disabled" }
    );
    println!(
        "  survives the loss of its largest host{}: {}; of any one host: {}",
        r.largest_host
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default(),
        yes_no(r.survives_largest_host),
        yes_no(r.survives_any_host)
    );
    // The classes any host has, the usual three first.
    let mut classes: Vec<String> = ["VCPU", "MEMORY_MB", "DISK_GB"].map(String::from).to_vec();
    let all: BTreeSet<&String> = r.hosts.iter().flat_map(|h| h.resources.keys()).collect();
    let others: Vec<String> = all
        .into_iter()
        .filter(|c| !classes.contains(c))
        .cloned()
        .collect();
    classes.extend(others);
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let mut header = vec![
        "host".to_owned(),
        "role".into(),
        "nova".into(),
        "servers".into(),
    ];
    header.extend(classes.iter().map(|c| format!("{c} used/cap (free)")));
    header.push("if it fails".into());
    table.set_header(header);
    // By name for reading; the JSON keeps the store's order, the engine's order of spares.
    let mut hosts: Vec<&HostReport> = r.hosts.iter().collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    for h in &hosts {
        let mut row = vec![
            h.name.clone(),
            role(h),
            nova(h),
            h.servers.len().to_string(),
        ];
        row.extend(classes.iter().map(|c| match h.resources.get(c) {
            Some(x) => format!("{}/{} ({})", x.used, x.capacity, x.free),
            None => "-".into(),
        }));
        row.push(match &h.loss {
            None => "not recovered (maintenance)".into(),
            Some(l) if l.survives => format!("all {} placed", l.placed.len()),
            Some(l) => format!("{} fit nowhere", l.not_fitting.len()),
        });
        table.add_row(row);
    }
    println!("{table}");
    for h in &hosts {
        if let Some(l) = h.loss.as_ref().filter(|l| !l.survives) {
            println!(
                "  {} fails: no room for {}",
                h.name,
                l.not_fitting.join(", ")
            );
        }
        for note in &h.notes {
            println!("  note: {note}");
        }
    }
    println!();
}

fn role(h: &HostReport) -> String {
    match (h.reserved, h.on_maintenance) {
        (true, true) => "reserved, maintenance".into(),
        (true, false) => "reserved".into(),
        (false, true) => "maintenance".into(),
        (false, false) => "-".into(),
    }
}

fn nova(h: &HostReport) -> String {
    match h.service {
        None => "unknown".into(),
        Some(s) => format!(
            "{}, {}",
            if s.up { "up" } else { "down" },
            if s.enabled { "enabled" } else { "disabled" }
        ),
    }
}

//! `vigil plan HOST`: what a failure of HOST would do now, changing nothing (the engine's
//! `what_if`), as tables or JSON.

use crate::capacity_cmd::{sources, Format, NOT_FOUND};
use crate::config::Config;
use clap::Args;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use vigil_capacity::Strategy;
use vigil_engine::what_if::{what_if, WhatIf, WhatIfError};

#[derive(Args, Clone)]
pub struct PlanArgs {
    /// The host, by its name in Vigil (Nova's compute service host name).
    host: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

pub async fn run(args: PlanArgs, config: &Config) -> anyhow::Result<()> {
    let sources = sources(config).await?;
    let plan = match what_if(&sources, &config.engine, &config.fencing, &args.host).await {
        Ok(p) => p,
        Err(WhatIfError::UnknownHost(host)) => {
            eprintln!("vigil plan: no host named {host} in any segment");
            std::process::exit(NOT_FOUND);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("predicting the recovery")),
    };
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        Format::Table => print_plan(&plan),
    }
    Ok(())
}

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

fn print_plan(p: &WhatIf) {
    println!(
        "if {} failed now: segment {} ({}), {}; {} servers on the host, {} would be moved",
        p.host,
        p.segment,
        p.segment_uuid,
        p.recovery_method,
        p.servers_on_host,
        p.servers.len()
    );
    let mut servers = table();
    servers.set_header([
        "#", "server", "id", "priority", "HA", "state", "tier", "goes to",
    ]);
    for (n, s) in p.servers.iter().enumerate() {
        let to = match (s.strategy, &s.destination) {
            (_, Some(host)) => format!("{host} (reserved)"),
            (Some(Strategy::Auto), None) => "scheduler's choice".into(),
            _ => "NO ROOM".into(),
        };
        servers.add_row([
            (n + 1).to_string(),
            s.name.clone(),
            s.id.clone(),
            s.priority.to_string(),
            if s.ha_enabled { "yes" } else { "no" }.into(),
            s.vm_state.clone(),
            s.tier.map_or("-".into(), |t| t.to_string()),
            to,
        ]);
    }
    println!("{servers}");
    println!(
        "reserved hosts enabled: {}",
        if p.reserved_hosts_enabled.is_empty() {
            "none".into()
        } else {
            p.reserved_hosts_enabled.join(", ")
        }
    );
    if !p.not_fitting.is_empty() {
        println!("no room for: {}", p.not_fitting.join(", "));
    }
    let mut gates = table();
    gates.set_header(["step", "check", "verdict", "detail"]);
    for g in &p.gates {
        let verdict = serde_json::to_value(g.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        gates.add_row([
            g.step.to_owned(),
            g.check.to_owned(),
            verdict,
            g.detail.clone(),
        ]);
    }
    println!("{gates}");
    match p.stopped_by {
        Some(check) => println!("the recovery would be stopped by: {check}"),
        None => println!("no gate would stop the recovery"),
    }
}

//! The lab does what Vigil's recovery relies on: a killed nova-compute is a host failure Nova
//! sees, and Nova evacuates a server of that host to another one.
//!
//! Runs only with VIGIL_LAB=1 (it starts the whole lab on first use).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use vigil_lab::{Cloud, Lab, ServerId, ServiceState};

/// Nova's service_down_time in the lab is 6 s and computes report every second: a host is
/// `down` well within this. The margin covers a loaded two-core machine.
const DOWN_WITHIN: Duration = Duration::from_secs(45);
const BOOT_WITHIN: Duration = Duration::from_secs(90);
const EVACUATE_WITHIN: Duration = Duration::from_secs(120);

#[tokio::test]
async fn killed_host_is_seen_down_and_its_server_evacuated() -> anyhow::Result<()> {
    if !vigil_lab::enabled_or_skip("killed_host_is_seen_down_and_its_server_evacuated") {
        return Ok(());
    }
    // It fails a host: no other test may use the lab meanwhile.
    let _turn = Lab::turn().await?;
    let lab = Lab::up().await?;
    let cloud = lab.connect().await?;
    let mut servers = Vec::new();
    let mut killed = None;
    let outcome = scenario(lab, &cloud, &mut servers, &mut killed).await;

    // The lab is shared by the whole run: leave it as it was, whatever happened.
    if let Some(host) = killed {
        lab.revive_host(&host).await?;
    }
    for id in &servers {
        cloud.server_delete(id).await?;
    }
    for id in &servers {
        cloud.wait_server_gone(id, BOOT_WITHIN).await?;
    }
    outcome
}

async fn scenario(
    lab: &Lab,
    cloud: &Cloud,
    servers: &mut Vec<ServerId>,
    killed: &mut Option<String>,
) -> anyhow::Result<()> {
    let hosts = lab.computes();
    ensure!(
        hosts.len() >= 2,
        "evacuation needs two hosts, the lab has {hosts:?}"
    );
    for host in hosts {
        cloud
            .wait_compute_state(host, ServiceState::Up, BOOT_WITHIN)
            .await?;
    }

    // One server per host, each pinned to its host.
    for host in hosts {
        let name = format!("vigil-lab-test-{host}-{}", std::process::id());
        let spec = lab.env().server(name).on_host(host);
        servers.push(cloud.server_create(&spec).await?);
    }
    for (host, id) in hosts.iter().zip(servers.iter()) {
        let server = cloud.wait_server_active(id, BOOT_WITHIN).await?;
        ensure!(
            server.host.as_deref() == Some(host.as_str()),
            "{id} booted on {:?}, not {host}",
            server.host
        );
    }

    let (victim, victim_server) = (&hosts[0], &servers[0]);
    let t0 = Instant::now();
    lab.kill_host(victim).await?;
    *killed = Some(victim.clone());
    cloud
        .wait_compute_state(victim, ServiceState::Down, DOWN_WITHIN)
        .await?;
    eprintln!("{victim} down {:.1?} after kill -9", t0.elapsed());

    cloud.server_evacuate(victim_server).await?;
    let server = cloud
        .wait_server(
            victim_server,
            "ACTIVE on another host",
            EVACUATE_WITHIN,
            |s| {
                s.status == "ACTIVE"
                    && s.task_state.is_none()
                    && s.host.as_deref() != Some(victim.as_str())
            },
        )
        .await?;
    eprintln!(
        "{victim_server} ACTIVE on {} {:.1?} after the kill",
        server.host.as_deref().unwrap_or("?"),
        t0.elapsed()
    );

    lab.revive_host(victim).await?;
    *killed = None;
    cloud
        .wait_compute_state(victim, ServiceState::Up, BOOT_WITHIN)
        .await
        .context("the revived host did not come back up")?;
    Ok(())
}

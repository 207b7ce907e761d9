//! End to end on the lab: an HA-enabled Nova server whose domain dies is restarted by Vigil.
//! The server's domain is a tiny qemu domain in the power lab's libvirtd with the server's
//! UUID (as Nova's libvirt driver names them; the lab's Nova runs the fake driver), watched by
//! Vigil's instance monitor as the server's compute host; its reports go through the outbox
//! to a real `vigil serve` on the lab's Nova, which stops and starts the server.
//!
//! Needs `VIGIL_LAB=1` and `VIGIL_POWER_LAB=1` (scripts/test sets both); without them it says
//! loudly that it did not run.

mod common;

use common::domain::{kill_qemu, Case};
use common::reporting::reporting_to;
use common::vigil::Vigil;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_lab::{Cloud, Lab, LabEnv, ServerId};

const DEADLINE: Duration = Duration::from_secs(120);

/// A transient domain of the power lab with `uuid`: gone from libvirt once it stops.
fn create_domain(uri: &str, name: &str, uuid: &str, dir: &Path) {
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><uuid>{uuid}</uuid>\
         <memory unit='KiB'>32768</memory><vcpu>1</vcpu>\
         <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>\
         <on_crash>destroy</on_crash>\
         <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>\
         <controller type='usb' model='none'/><memballoon model='none'/></devices></domain>"
    );
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    let out = Command::new("virsh")
        .args(["-c", uri, "create"])
        .arg(&file)
        .output()
        .expect("virsh runs");
    assert!(
        out.status.success(),
        "virsh create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server's instance actions in Nova, oldest first.
async fn actions(cloud: &Cloud, id: &ServerId) -> Vec<String> {
    let got = cloud
        .compute_get(&format!("/servers/{}/os-instance-actions", id.0))
        .await
        .unwrap();
    let mut all: Vec<(String, String)> = got["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let at = a["start_time"].as_str().unwrap_or_default().to_owned();
            (at, a["action"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    all.sort();
    all.into_iter().map(|(_, action)| action).collect()
}

/// Waits until the notification `uuid` has ended; its view.
async fn wait_ended(vigil: &Vigil, uuid: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(view) = vigil.get(&format!("/notifications/{uuid}")).await {
            let status = view["notification"]["status"].as_str().unwrap_or_default();
            if ["finished", "failed", "ignored"].contains(&status) {
                return view;
            }
            assert!(Instant::now() < deadline, "never ended: {view}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_domain_is_reported_and_its_server_restarted() {
    if std::env::var("VIGIL_LAB").as_deref() != Ok("1") {
        eprintln!("\n!!! SKIPPED: VIGIL_LAB is not 1, so the lab's Nova was not used !!!\n");
        return;
    }
    let Some(case) = Case::take().await else {
        return;
    };
    let lab = Lab::up().await.unwrap();
    let cloud = lab.connect().await.unwrap();
    let env = lab.env();
    let home = env.computes[0].clone();
    let server = cloud
        .server_create(
            &env.server("vm-domain")
                .on_host(&home)
                .meta("HA_Enabled", "True"),
        )
        .await
        .unwrap();
    let scenario = tokio::spawn(restarted(case, cloud.clone(), env, server.clone(), home));
    // The server goes whatever happened; the transient domain went with its qemu.
    let outcome = scenario.await;
    cloud.server_delete(&server).await.unwrap();
    cloud.wait_server_gone(&server, DEADLINE).await.unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The domain of `server` (ACTIVE on `home`, HA-enabled) dies: reported, and the server
/// stopped and started by Vigil.
async fn restarted(case: Case, cloud: Cloud, env: &'static LabEnv, server: ServerId, home: String) {
    cloud.wait_server_active(&server, DEADLINE).await.unwrap();
    let vigil = Vigil::start(&env.openstack_vars()).await;
    vigil.register(&home).await;

    let dir = case.dir.path();
    let uri = &case.domain.uri;
    let name = format!("vm-{}", &server.0[..8]);
    create_domain(uri, &name, &server.0, dir);

    let (monitor, delivering) = reporting_to(&vigil, uri, &home, dir).await;

    let before = actions(&cloud, &server).await;
    kill_qemu(&name);
    let deadline = Instant::now() + DEADLINE;
    let reported = loop {
        let list = vigil.get("/notifications").await.unwrap_or_default();
        let found = list["notifications"].as_array().and_then(|all| {
            all.iter()
                .find(|n| n["payload"]["instance_uuid"] == server.0.as_str())
                .cloned()
        });
        if let Some(n) = found {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the domain's death was never reported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reported["type"], "VM");
    assert_eq!(reported["payload"]["vir_domain_event"], "STOPPED_FAILED");
    let uuid = reported["notification_uuid"].as_str().unwrap().to_owned();
    let view = wait_ended(&vigil, &uuid).await;
    assert_eq!(view["notification"]["status"], "finished", "{view}");

    let server_now = cloud.server_get(&server).await.unwrap().expect("exists");
    assert_eq!(server_now.status, "ACTIVE");
    assert_eq!(server_now.host.as_deref(), Some(home.as_str()));
    let after = actions(&cloud, &server).await;
    assert_eq!(after[before.len()..], ["stop", "start"], "{after:?}");

    delivering.shutdown().await.unwrap();
    monitor.stop().await;
}

//! `vigil capacity` and `vigil plan` against the lab's real Nova and Placement: a segment made
//! short by filling its survivors matches Placement's own numbers and is said not to survive;
//! a `reserved_host` plan predicts the servers and destinations a real recovery then uses; bad
//! names exit 2; Placement stopped is named, and the engine keeps recovering meanwhile.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it), one test at a time on the lab.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Output;
use std::time::{Duration, Instant};
use support::lab::{restoring, LabTest, WITHIN};
use vigil_lab::ServerId;
use vigil_openstack::placement::Placement;

const FLAVOR: &str = "lab.capacity";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A flavor of `ram` MB, 1 VCPU, 1 GB of disk, for this test alone.
async fn flavor_create(t: &LabTest, ram: i64) -> anyhow::Result<()> {
    let body = json!({"flavor": {"name": FLAVOR, "id": FLAVOR, "ram": ram, "vcpus": 1, "disk": 1}});
    // One left by an interrupted run would have another size.
    let _ = flavor_delete(t).await;
    let version = Some(("X-OpenStack-Nova-API-Version", "2.53"));
    t.cloud
        .nova()
        .session()
        .request("compute", Method::POST, "/flavors", version, Some(&body))
        .await?;
    Ok(())
}

async fn flavor_delete(t: &LabTest) -> anyhow::Result<()> {
    let version = Some(("X-OpenStack-Nova-API-Version", "2.53"));
    t.cloud
        .nova()
        .session()
        .request(
            "compute",
            Method::DELETE,
            &format!("/flavors/{FLAVOR}"),
            version,
            None,
        )
        .await?;
    Ok(())
}

/// The survivors are filled with two servers each of a flavor half their free memory, and the
/// victim carries one: no survivor has room for it. `vigil capacity` shows Placement's numbers
/// (read here directly) and says the segment survives neither loss; the engine's headroom
/// check counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_made_short_is_measured_as_placement_counts_it() -> anyhow::Result<()> {
    let Some(mut t) = LabTest::start().await? else {
        return Ok(());
    };
    let metrics = free_address();
    t.set("VIGIL_ENGINE__HEADROOM_CHECK_SECS", "1");
    let (_vigil, api) = t.vigil("serve", &["--metrics-listen", &metrics.to_string()]);
    let [victim, a, b] = [t.computes()[0], t.computes()[1], t.computes()[2]];
    api.segment_named(
        "lab-capacity",
        "auto",
        &[(victim, false), (a, false), (b, false)],
    )
    .await?;
    let placement = Placement::new(t.cloud.nova().session().clone());
    let mut free_mb = i64::MAX;
    for host in [a, b] {
        let p = placement
            .provider_named(host)
            .await?
            .expect("a provider per compute");
        let inv = placement.inventories(&p.uuid).await?;
        let used = placement.usages(&p.uuid).await?;
        let free = inv["MEMORY_MB"].capacity() - used.get("MEMORY_MB").copied().unwrap_or(0);
        free_mb = free_mb.min(free);
    }
    let ram = free_mb / 2;
    flavor_create(&t, ram).await?;
    // Filled by the body, emptied by the clean-up whatever happened.
    let created: std::sync::Mutex<Vec<ServerId>> = Default::default();
    let body = async {
        let mut booted = Vec::new();
        let mut specs = Vec::new();
        for (i, host) in [a, a, b, b, victim].iter().enumerate() {
            let mut spec = t.server_on(format!("cap-{i}"), host);
            spec.flavor = FLAVOR.into();
            specs.push(spec);
        }
        for spec in &specs {
            let id = t.cloud.server_create(spec).await?;
            created.lock().unwrap().push(id.clone());
            booted.push(id);
        }
        for id in &booted {
            t.cloud.wait_server_active(id, WITHIN).await?;
        }
        let out = t.run_vigil(&["capacity", "--segment", "lab-capacity", "--format", "json"]);
        let report = json_of(&out);
        let segment = &report["segments"][0];
        assert_eq!(segment["segment"], "lab-capacity", "{report:#}");
        assert_eq!(segment["survives_any_host"], false, "{segment:#}");
        assert_eq!(segment["survives_largest_host"], false, "{segment:#}");
        for h in segment["hosts"].as_array().unwrap() {
            let name = h["name"].as_str().unwrap();
            let p = placement.provider_named(name).await?.unwrap();
            let inventories = placement.inventories(&p.uuid).await?;
            let usages = placement.usages(&p.uuid).await?;
            for (class, inv) in &inventories {
                let shown = &h["resources"][class];
                let used = usages.get(class).copied().unwrap_or(0);
                assert_eq!(shown["total"], inv.total, "{name} {class}");
                assert_eq!(shown["reserved"], inv.reserved, "{name} {class}");
                assert_eq!(
                    shown["allocation_ratio"], inv.allocation_ratio,
                    "{name} {class}"
                );
                assert_eq!(shown["max_unit"], inv.max_unit, "{name} {class}");
                assert_eq!(shown["used"], used, "{name} {class}");
                assert_eq!(shown["free"], inv.capacity() - used, "{name} {class}");
            }
            let allocations = placement.allocations(&p.uuid).await?;
            let mut servers: Vec<&str> = h["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            servers.sort();
            let want: Vec<&str> = allocations.keys().map(String::as_str).collect();
            assert_eq!(servers, want, "{name}");
        }
        let victim_row = segment["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == victim)
            .unwrap();
        assert_eq!(
            victim_row["loss"]["not_fitting"],
            json!([booted[4].0]),
            "{victim_row:#}"
        );
        let table = t.run_vigil(&["capacity", "--segment", "lab-capacity"]);
        eprintln!("{}", stdout(&table));
        assert!(
            stdout(&table).contains("of any one host: NO"),
            "{}",
            stdout(&table)
        );
        // The engine's headroom check, every second, counts the segment.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = reqwest::get(format!("http://{metrics}/metrics"))
                .await?
                .text()
                .await?;
            if text
                .lines()
                .any(|l| l == "vigil_segments_without_headroom 1")
            {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the gauge never said 1:\n{text}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    };
    restoring(body, async {
        let booted = created.lock().unwrap().clone();
        t.delete_servers(&booted).await?;
        flavor_delete(&t).await
    })
    .await
}

/// `reserved_host`: the plan names the servers in the engine's order (priority first) and the
/// reserved host as every destination; a real failure then puts each server there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserved_host_plan_predicts_the_real_recovery() -> anyhow::Result<()> {
    let Some(t) = LabTest::start().await? else {
        return Ok(());
    };
    let [victim, other, reserved] = [t.computes()[0], t.computes()[1], t.computes()[2]];
    let (_vigil, api) = t.vigil("serve", &[]);
    api.segment(
        "reserved_host",
        &[(victim, false), (other, false), (reserved, true)],
    )
    .await?;
    let specs = [("low", "1"), ("high", "10"), ("mid", "5")]
        .iter()
        .map(|(name, prio)| {
            t.server_on(format!("plan-{name}"), victim)
                .meta("HA_Priority", prio)
        })
        .collect();
    let servers = t.boot(specs).await?;
    t.cloud.compute_service_set_enabled(reserved, false).await?;
    let body = async {
        let plan = json_of(&t.run_vigil(&["plan", victim, "--format", "json"]));
        eprintln!("{}", stdout(&t.run_vigil(&["plan", victim])));
        assert_eq!(plan["recovery_method"], "reserved_host", "{plan:#}");
        assert_eq!(plan["stopped_by"], Value::Null, "{plan:#}");
        assert_eq!(
            plan["reserved_hosts_enabled"],
            json!([reserved]),
            "{plan:#}"
        );
        let names: Vec<&str> = plan["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["plan-high", "plan-mid", "plan-low"]);
        let predicted: BTreeMap<String, String> = plan["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let to = s["destination"].as_str().unwrap_or("none").to_owned();
                (s["id"].as_str().unwrap().to_owned(), to)
            })
            .collect();
        t.with_failed_host(victim, &servers, || async {
            let nid = api.report_host_down(victim).await?;
            let view = api.wait_ended(&nid, WITHIN).await?;
            assert_eq!(view["notification"]["status"], "finished", "{view}");
            for s in &servers {
                let got = t.cloud.server_get(s).await?.expect("exists");
                assert_eq!(got.host.as_deref(), Some(predicted[&s.0].as_str()), "{s:?}");
            }
            Ok(())
        })
        .await
    };
    restoring(body, t.enable_computes(&[reserved])).await
}

/// Unknown names exit 2 with a message; with Placement stopped `vigil capacity` names it and
/// fails, and the engine (its headroom check failing every second) still recovers a process
/// failure, which needs only Nova.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_exit_2_and_a_stopped_placement_is_named() -> anyhow::Result<()> {
    let Some(mut t) = LabTest::start().await? else {
        return Ok(());
    };
    t.set("VIGIL_ENGINE__HEADROOM_CHECK_SECS", "1");
    let metrics = free_address();
    let (_vigil, api, _) = t.serve(&["--metrics-listen", &metrics.to_string()]).await?;
    let out = t.run_vigil(&["plan", "no-such-host"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no host named no-such-host"),
        "{}",
        stderr(&out)
    );
    let out = t.run_vigil(&["capacity", "--segment", "no-such-segment"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no segment named or with uuid no-such-segment"),
        "{}",
        stderr(&out)
    );

    let host = t.computes()[1];
    t.lab.stop_service("placement").await?;
    let body = async {
        let out = t.run_vigil(&["capacity"]);
        let err = stderr(&out);
        eprintln!("{err}");
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("asking Placement for its resource providers"),
            "{err}"
        );
        // The endpoint that did not answer is named.
        assert!(
            err.contains(":8778") && err.contains("/resource_providers"),
            "{err}"
        );
        let out = t.run_vigil(&["plan", host]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("Placement"), "{}", stderr(&out));
        let nid = api.report_process_down(host, "nova-compute").await?;
        let view = api.wait_ended(&nid, WITHIN).await?;
        assert_eq!(view["notification"]["status"], "finished", "{view}");
        let text = reqwest::get(format!("http://{metrics}/metrics"))
            .await?
            .text()
            .await?;
        let failed = text
            .lines()
            .find_map(|l| l.strip_prefix("vigil_headroom_checks_total{outcome=\"failed\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(failed >= 1.0, "{text}");
        Ok(())
    };
    restoring(body, async {
        t.lab.start_service("placement").await?;
        t.enable_computes(&[host]).await
    })
    .await
}

//! A host recovery followed live through the real `openstack` CLI, as an operator in the middle
//! of an outage would: `openstack notification show` (µv 1.1: the steps' progress details) and
//! `openstack notification vmove list` (µv 1.3) change while the servers are evacuated, not
//! only when the flow ends, and end with every server moved; the server the policy leaves
//! behind is listed as `ignored` with the reason.
//!
//! Runs only with VIGIL_LAB=1 (scripts/test and CI set it), on the lab's turn.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::clients::Clients;
use support::lab::{LabTest, WITHIN};
use support::metrics::{free_address, parse, scrape, value};

const SERVERS: usize = 20;
/// A server without the HA key, left behind (`evacuate_all_instances` is off here).
const LEFT: &str = "live-left";

/// What one look through the CLI showed.
#[derive(Debug)]
struct Look {
    status: String,
    /// EvacuateInstancesTask's progress and its number of messages, once it has started.
    evacuation: Option<(String, usize)>,
    /// How many vmoves were in each status (pending, ongoing, succeeded, other).
    vmoves: [usize; 4],
    /// Ongoing moves that already name their destination: server id → host.
    rebuilding: BTreeMap<String, String>,
    /// FenceHostTask's progress messages.
    fencing: Vec<String>,
}

fn look(cli: &Clients, nid: &str) -> Look {
    let shown = cli.osc_json(&["--os-ha-api-version", "1.1", "notification", "show", nid]);
    let steps = shown["recovery_workflow_details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let evacuation = steps
        .iter()
        .find(|s| s["name"] == "EvacuateInstancesTask")
        .map(|s| {
            let details = s["progress_details"].as_array().map_or(0, Vec::len);
            (s["progress"].to_string(), details)
        });
    let listed = cli.osc_json(&[
        "--os-ha-api-version",
        "1.3",
        "notification",
        "vmove",
        "list",
        nid,
    ]);
    let fencing = steps
        .iter()
        .find(|s| s["name"] == "FenceHostTask")
        .and_then(|s| s["progress_details"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| d["message"].as_str().map(str::to_owned))
        .collect();
    let mut vmoves = [0; 4];
    let mut rebuilding = BTreeMap::new();
    for v in listed.as_array().expect("a list") {
        if let (Some("ongoing"), Some(dest)) = (v["status"].as_str(), v["dest_host"].as_str()) {
            let id = v["server_id"].as_str().unwrap_or_default();
            rebuilding.insert(id.to_owned(), dest.to_owned());
        }
        let slot = match v["status"].as_str() {
            Some("pending") => 0,
            Some("ongoing") => 1,
            Some("succeeded") => 2,
            _ => 3,
        };
        vmoves[slot] += 1;
    }
    Look {
        status: shown["status"].as_str().unwrap_or_default().to_owned(),
        evacuation,
        vmoves,
        rebuilding,
        fencing,
    }
}

/// 20 HA-enabled servers and one without the key on one host, evacuated one at a time so the
/// recovery lasts long enough to be watched: all 21 are recorded while the host is fenced
/// (FenceHostTask says how many wait), the one left behind becomes `ignored` with the reason;
/// while it runs, the CLI shows all the vmoves from the start (pending ones first), a move
/// under way names its destination before it ends,
/// some succeeded and some not yet, and EvacuateInstancesTask's progress between 0 and 1 with
/// messages accumulating; at the end every vmove succeeded, the progress is 1.0 with a message
/// per server, and every server is ACTIVE elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_details_and_vmoves_change_while_a_host_recovers() -> anyhow::Result<()> {
    let Some(t) = LabTest::start_with(&[
        ("VIGIL_ENGINE__HOST__EVACUATION_PARALLELISM", "1"),
        ("VIGIL_ENGINE__SELECTION__EVACUATE_ALL_INSTANCES", "false"),
    ])
    .await?
    else {
        return Ok(());
    };
    let metrics = free_address();
    let (vigil, api, _sid) = t.serve(&["--metrics-listen", &metrics.to_string()]).await?;
    let cli = Clients::new(&vigil, t.dir.path());
    let victim = t.computes()[0].to_owned();
    let mut specs: Vec<_> = (0..SERVERS)
        .map(|i| {
            t.server_on(format!("live-{i:02}"), &victim)
                .meta("HA_Enabled", "True")
        })
        .collect();
    specs.push(t.server_on(LEFT, &victim));
    let mut servers = t.boot(specs).await?;
    let left = servers.pop().expect("booted");

    let all: Vec<_> = servers.iter().chain([&left]).cloned().collect();
    t.with_failed_host(&victim, &all, || async {
        let nid = api.report_host_down(&victim).await?;
        let deadline = Instant::now() + WITHIN;
        let mut during = Vec::new();
        let last = loop {
            let cli = cli.clone();
            let id = nid.clone();
            let seen = tokio::task::spawn_blocking(move || look(&cli, &id)).await?;
            eprintln!("{seen:?}");
            if ["finished", "error", "failed", "ignored"].contains(&seen.status.as_str()) {
                break seen;
            }
            anyhow::ensure!(Instant::now() < deadline, "still {}", seen.status);
            during.push(seen);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // What an operator sees at the end, for the log.
        let table = [
            "--os-ha-api-version",
            "1.3",
            "notification",
            "vmove",
            "list",
            &nid,
        ];
        eprintln!("{}", cli.osc(&table, false));
        assert_eq!(last.status, "finished", "{last:?}");
        assert_eq!(last.vmoves, [0, 0, SERVERS, 1], "{last:?}");
        let wait = format!("Fencing host '{victim}' with ");
        let count = format!(": {} instances wait", SERVERS + 1);
        assert!(
            last.fencing
                .iter()
                .any(|m| m.starts_with(&wait) && m.ends_with(&count)),
            "the servers were not recorded while fencing: {:?}",
            last.fencing
        );
        let moves = cli.osc_json(&table);
        let moves = moves.as_array().expect("a list");
        let ignored = moves
            .iter()
            .find(|v| v["server_id"] == left.0.as_str())
            .expect("a vmove for the server left behind");
        assert_eq!(ignored["status"], "ignored", "{ignored}");
        let shown = cli.osc_json(&[
            "--os-ha-api-version",
            "1.3",
            "notification",
            "vmove",
            "show",
            &nid,
            ignored["uuid"].as_str().unwrap_or_default(),
        ]);
        let why = shown["message"].as_str().unwrap_or_default();
        assert!(why.contains("not HA-enabled"), "{shown}");
        // A destination named while a move was under way is where the server went.
        let dest_of: BTreeMap<&str, &str> = moves
            .iter()
            .filter_map(|v| Some((v["server_id"].as_str()?, v["dest_host"].as_str()?)))
            .collect();
        let rebuilding: BTreeMap<&String, &String> =
            during.iter().flat_map(|l| l.rebuilding.iter()).collect();
        eprintln!(
            "{} moves seen rebuilding with their destination",
            rebuilding.len()
        );
        for (id, dest) in &rebuilding {
            assert_eq!(dest_of.get(id.as_str()), Some(&dest.as_str()), "{id}");
        }
        let (progress, messages) = last.evacuation.clone().expect("the step ran");
        assert_eq!(progress, "1.0");
        // The opening message, one per server accepted and one per server evacuated, the
        // step's end.
        assert!(messages > 2 * SERVERS, "{messages} messages");

        // While it ran: every server listed from the start, part of them done.
        let evacuating: Vec<&Look> = during.iter().filter(|l| l.evacuation.is_some()).collect();
        let partial: BTreeSet<[usize; 4]> = evacuating
            .iter()
            .map(|l| l.vmoves)
            .filter(|v| v[2] > 0 && v[2] < SERVERS)
            .collect();
        assert!(
            partial.len() >= 2,
            "the vmove list changed too little while the recovery ran: {during:?}"
        );
        for l in &evacuating {
            assert_eq!(l.vmoves.iter().sum::<usize>(), SERVERS + 1, "{l:?}");
        }
        let progress: BTreeSet<String> = evacuating
            .iter()
            .filter_map(|l| l.evacuation.as_ref())
            .map(|(p, _)| p.clone())
            .filter(|p| p != "0.0" && p != "1.0")
            .collect();
        assert!(
            progress.len() >= 2,
            "the step's progress changed too little while it ran: {during:?}"
        );

        // The API's own view agrees with the CLI's, per server.
        let view: Value = api.wait_ended(&nid, WITHIN).await?;
        let steps = view["notification"]["recovery_workflow_details"].to_string();
        for s in &servers {
            assert!(steps.contains(&format!("({}) evacuated to", s.0)), "{s:?}");
        }
        t.assert_recovered(&servers, &victim).await?;

        // The engine's metrics count what happened: one host flow finished, 20 evacuations
        // succeeded, 20 servers recovered, each step timed once.
        let scraped = parse(&scrape(metrics).await.0);
        let n = SERVERS as f64;
        let host = [("flow", "host")];
        for (metric, labels, want) in [
            (
                "vigil_flow_duration_seconds_count",
                &[("flow", "host"), ("outcome", "finished")][..],
                1.0,
            ),
            (
                "vigil_evacuation_outcomes_total",
                &[("outcome", "succeeded")][..],
                n,
            ),
            ("vigil_servers_recovered_total", &host[..], n),
            ("vigil_engine_leases_held", &[][..], 0.0),
        ] {
            assert_eq!(value(&scraped, metric, labels), want, "{metric} {labels:?}");
        }
        for step in ["FenceHostTask", "EvacuateInstancesTask"] {
            let labels = [("flow", "host"), ("step", step), ("outcome", "success")];
            let timed = value(&scraped, "vigil_step_duration_seconds_count", &labels);
            assert_eq!(timed, 1.0, "{step}");
        }
        Ok(())
    })
    .await
}

//! `fence_vigil` and `vigil alerter` as Pacemaker runs them: the `vigil` binary under the fence
//! agent's name, options on standard input, against the lab's real Nova, the failed-host queue
//! in a real Pacemaker cluster's attribute manager (`lab/cluster up 1`), and Vigil's API.
//!
//! Needs VIGIL_LAB=1 (scripts/test sets it), corosync and pacemaker (.ci/run installs them);
//! otherwise it says loudly that it did not run.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::cluster::{agent_dir, cluster, pacemaker_installed, path_with, queue_value, Alerter};
use support::lab::{restoring, LabTest, WITHIN};

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lab/lab");
const COMPUTE_AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contrib/pacemaker/compute"
);
const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Runs fence_vigil with `options` on standard input, as the fencer does.
fn fence_vigil(bin: &Path, options: &str) -> anyhow::Result<Output> {
    let mut child = Command::new(bin.join("fence_vigil"))
        .env("PATH", path_with(bin))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    use std::io::Write;
    child.stdin.take().unwrap().write_all(options.as_bytes())?;
    Ok(child.wait_with_output()?)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The lab's turn and a one-node cluster, or `None` (said loudly) when either cannot run.
async fn with_cluster() -> anyhow::Result<Option<LabTest>> {
    let Some(t) = LabTest::start().await? else {
        return Ok(None);
    };
    if !pacemaker_installed()? {
        return Ok(None);
    }
    let _ = cluster(&["down"]);
    cluster(&["up", "1"])?;
    Ok(Some(t))
}

/// Runs `body` on the lab's last compute host with a one-node cluster up, then revives the
/// host and takes the cluster down whatever happened.
async fn on_the_last_host<F>(body: F) -> anyhow::Result<()>
where
    F: for<'a> AsyncFnOnce(&'a LabTest, &'a str) -> anyhow::Result<()>,
{
    let Some(t) = with_cluster().await? else {
        return Ok(());
    };
    let host = t.computes().last().unwrap().to_string();
    let restore = async {
        let revived = t.lab.revive_host(&host).await;
        cluster(&["down"])?;
        Ok(revived?)
    };
    restoring(body(&t, &host), restore).await
}

/// fence_vigil's options for the lab's admin and `vigil`'s API, without action and host.
fn lab_options(t: &LabTest, vigil: &support::Vigil) -> String {
    let c = &t.env.credentials;
    format!(
        "auth_url={}\nlogin={}\npasswd={}\ntenant_name={}\nregion_name={}\nendpoint_type=publicURL\n\
         vigil_url={}/v1\n",
        c.auth_url,
        c.username,
        c.password,
        c.project_name,
        c.region_name,
        vigil.url()
    )
}

/// `off` forces the host down and disables it in Nova and queues it; `status` then says OFF;
/// `on` waits while the queue holds the host; `vigil alerter` hands the host to Vigil, once;
/// `on` returns once that recovery has ended, having enabled the host and cleared the queue.
/// Also: metadata (through Pacemaker's own stonith_admin), validate-all, list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_vigil_fences_in_nova_and_unfences_only_after_the_recovery() -> anyhow::Result<()> {
    on_the_last_host(fence_and_unfence).await
}

async fn fence_and_unfence(t: &LabTest, host: &str) -> anyhow::Result<()> {
    let bin = agent_dir(t.dir.path(), &cluster(&["pid", "1"])?)?;
    let (vigil, api, _segment) = t.serve(&[]).await?;
    let options = format!("{}port={host}\nnodename={host}\n", lab_options(t, &vigil));
    let run = |action: &str| fence_vigil(&bin, &format!("action={action}\n{options}"));

    // Pacemaker's fencer reads the metadata through the agent's name.
    let xml = stdout(&run("metadata")?);
    assert!(
        xml.contains("<resource-agent name=\"fence_vigil\""),
        "{xml}"
    );
    let installed = Path::new("/usr/sbin/fence_vigil");
    if !installed.exists() {
        std::os::unix::fs::symlink(VIGIL, installed)?;
        let seen = Command::new("stonith_admin")
            .args(["--metadata", "--agent", "fence_vigil"])
            .output();
        std::fs::remove_file(installed)?;
        let seen = seen?;
        assert!(seen.status.success(), "{seen:?}");
        assert!(stdout(&seen).contains("name=\"vigil_url\""), "{seen:?}");
    }

    let valid = run("validate-all")?;
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    let invalid = fence_vigil(
        &bin,
        &format!("action=validate-all\nqueue=redis\n{options}"),
    )?;
    assert_eq!(invalid.status.code(), Some(1), "{invalid:?}");
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("queue must be attrd or none"));
    let unknown = fence_vigil(
        &bin,
        &format!("action=off\n{}", options.replace(host, "nosuchhost")),
    )?;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");

    let list = stdout(&run("list")?);
    for compute in t.computes() {
        assert!(list.lines().any(|l| l == format!("{compute},")), "{list}");
    }
    let on = run("status")?;
    assert_eq!(
        (on.status.code(), stdout(&on)),
        (Some(0), "Status: ON\n".into())
    );

    // off: forced down and disabled in Nova, `yes` in the queue.
    let off = run("off")?;
    assert_eq!(off.status.code(), Some(0), "{off:?}");
    let service = t.cloud.compute_service(host).await?;
    assert!(
        service.forced_down && service.status == "disabled",
        "{service:?}"
    );
    assert_eq!(
        service.disabled_reason.as_deref(),
        Some("fenced by fence_vigil")
    );
    assert_eq!(queue_value(&bin, host)?, "yes");
    let status = run("status")?;
    assert_eq!(
        (status.status.code(), stdout(&status)),
        (Some(2), "Status: OFF\n".into())
    );

    // on: held while the queue says `yes`.
    let unfence = {
        let (bin, options) = (bin.clone(), format!("action=on\n{options}"));
        std::thread::spawn(move || fence_vigil(&bin, &options))
    };
    // The alerter hands the host to Vigil and marks it delivered; `on` returns only once
    // Vigil's recovery of the host has ended.
    released_once_recovered(&bin, &vigil, &api, unfence, "on").await?;
    let service = t.cloud.compute_service(host).await?;
    assert!(
        !service.forced_down && service.status == "enabled",
        "{service:?}"
    );
    assert_eq!(queue_value(&bin, host)?, "");
    Ok(())
}

/// Checks that `held` (fence_vigil's `on`, or the compute agent's `start`) waits while the
/// host is queued; then runs the alerter, which hands the host to Vigil, and checks that
/// `held` succeeds once that one recovery has ended.
async fn released_once_recovered(
    bin: &Path,
    vigil: &support::Vigil,
    api: &support::api::Api,
    held: std::thread::JoinHandle<anyhow::Result<Output>>,
    what: &str,
) -> anyhow::Result<()> {
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !held.is_finished(),
        "{what} returned while the host was queued"
    );
    let _alerter = Alerter::start(bin, &["--url", &format!("{}/v1", vigil.url())])?;
    let began = Instant::now();
    while !held.is_finished() {
        anyhow::ensure!(began.elapsed() < WITHIN, "{what} still waiting");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = held.join().unwrap()?;
    assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
    let listed = api
        .call(
            reqwest::Method::GET,
            "/notifications?type=COMPUTE_HOST",
            None,
        )
        .await?;
    let reports = listed["notifications"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{listed}");
    let status = reports[0]["status"].as_str().unwrap_or_default();
    assert!(
        ["finished", "failed", "ignored"].contains(&status),
        "{listed}"
    );
    Ok(())
}

/// `ocf:vigil:compute` (contrib/pacemaker/compute) on a host that was fenced and whose
/// nova-compute died: its start waits while the host is queued and while Vigil recovers it,
/// then enables the host and starts nova-compute (the lab's, for real); stop stops it. Then
/// resource-agents' `ocf-tester` runs its whole protocol on the healthy host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compute_agent_starts_nova_compute_only_after_the_recovery() -> anyhow::Result<()> {
    on_the_last_host(compute_agent).await
}

/// The agent's parameters, as Pacemaker passes them (`OCF_RESKEY_<name>`). nova-compute is
/// the lab's: started, stopped and checked through `lab/lab`, by scripts in `bin` (ocf-tester
/// passes its options through `eval`, so no spaces).
fn compute_params(
    bin: &Path,
    options: &Path,
    host: &str,
    vigil: &support::Vigil,
) -> anyhow::Result<Vec<(String, String)>> {
    let running = format!(
        "{LAB} status --format json | jq -e '.services[] | select(.name == \"{host}\" and .state == \"running\")' >/dev/null"
    );
    let scripts = [
        (
            "start_command",
            format!("{LAB} revive-host {host} --fenced"),
        ),
        ("stop_command", format!("{LAB} kill-host {host}")),
        ("status_command", running),
    ];
    let mut params = vec![
        ("host".to_owned(), host.to_owned()),
        (
            "fence_agent".to_owned(),
            bin.join("fence_vigil").display().to_string(),
        ),
        ("fence_options".to_owned(), options.display().to_string()),
        ("vigil_url".to_owned(), format!("{}/v1", vigil.url())),
        ("evacuation_delay".to_owned(), "1".to_owned()),
    ];
    for (name, body) in scripts {
        let script = bin.join(name);
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n"))?;
        Command::new("chmod").arg("+x").arg(&script).status()?;
        params.push((name.to_owned(), script.display().to_string()));
    }
    Ok(params)
}

fn compute_agent_run(
    bin: &Path,
    params: &[(String, String)],
    action: &str,
) -> anyhow::Result<Output> {
    let mut command = Command::new(COMPUTE_AGENT);
    command.arg(action).env("PATH", path_with(bin));
    for (k, v) in params {
        command.env(format!("OCF_RESKEY_{k}"), v);
    }
    Ok(command.output()?)
}

async fn compute_agent(t: &LabTest, host: &str) -> anyhow::Result<()> {
    let bin = agent_dir(t.dir.path(), &cluster(&["pid", "1"])?)?;
    let (vigil, api, _segment) = t.serve(&[]).await?;
    let options_file = t.path("fence_vigil.conf");
    std::fs::write(&options_file, lab_options(t, &vigil))?;
    let params = compute_params(&bin, &options_file, host, &vigil)?;
    let options = format!("{}plug={host}\n", lab_options(t, &vigil));

    // The host fails: fenced (queued), and its nova-compute is dead.
    let off = fence_vigil(&bin, &format!("action=off\n{options}"))?;
    assert_eq!(off.status.code(), Some(0), "{off:?}");
    t.lab.kill_host(host).await?;
    assert_eq!(
        compute_agent_run(&bin, &params, "monitor")?.status.code(),
        Some(7)
    );

    let start = {
        let (bin, params) = (bin.clone(), params.clone());
        std::thread::spawn(move || compute_agent_run(&bin, &params, "start"))
    };
    released_once_recovered(&bin, &vigil, &api, start, "start").await?;
    assert_eq!(
        compute_agent_run(&bin, &params, "monitor")?.status.code(),
        Some(0)
    );
    let service = t.cloud.compute_service(host).await?;
    assert_eq!(service.status, "enabled", "{service:?}");

    let stopped = compute_agent_run(&bin, &params, "stop")?;
    assert_eq!(stopped.status.code(), Some(0), "{stopped:?}");
    assert_eq!(
        compute_agent_run(&bin, &params, "monitor")?.status.code(),
        Some(7)
    );

    // The whole OCF protocol, on the host with nothing to wait for.
    let mut tester = Command::new("ocf-tester");
    tester
        .args(["-n", "vigil-compute-test"])
        .env("PATH", path_with(&bin));
    for (k, v) in &params {
        tester.args(["-o", &format!("{k}={v}")]);
    }
    let out = tester.arg(COMPUTE_AGENT).output()?;
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && text.contains("passed all tests"),
        "{text}"
    );
    Ok(())
}

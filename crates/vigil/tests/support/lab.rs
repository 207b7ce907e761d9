//! What every lab recovery test shares: its turn on the lab, `vigil` processes with the lab's
//! credentials, booting servers, failing a host, and putting the lab back whatever happened.
//!
//! The lab is one per machine and the tests change it (fail hosts, stop Nova's services,
//! disable computes), so a test holds its [`vigil_lab::LabTurn`] from [`LabTest::start`] until
//! it ends: a file lock, so the tests of one binary take turns, and so do the binaries
//! (`recovery_*.rs`, `operator_steps.rs`) even when a runner starts them side by side.

use futures::FutureExt;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;
use vigil_lab::{Cloud, Lab, LabEnv, LabTurn, ServerCreate, ServerId};
use vigil_store::testing::TestStore;
use vigil_store::Backend;

use super::api::Api;
use super::{Engine, Vigil};

/// How long any one wait of a lab test may last.
pub const WITHIN: Duration = Duration::from_secs(180);

/// A setting for tests that report the same failure twice within seconds: each report is
/// recovered, not refused as a duplicate of the one before.
pub const NO_DUPLICATE_WINDOW: (&str, &str) =
    ("VIGIL_API__DUPLICATE_NOTIFICATION_DETECTION_INTERVAL", "0");

/// The steps of the host-failure flow, in order.
pub const HOST_STEPS: [&str; 5] = [
    "CheckHostStatusTask",
    "FenceHostTask",
    "DisableComputeServiceTask",
    "PrepareHAEnabledInstancesTask",
    "EvacuateInstancesTask",
];

/// One lab test's setting: its turn on the lab, a Nova client, the lab's facts, a scratch
/// directory and the configuration overrides its `vigil` processes get.
pub struct LabTest {
    pub lab: &'static Lab,
    pub cloud: Cloud,
    pub env: LabEnv,
    pub dir: TempDir,
    /// `VIGIL_*` overrides: the lab admin's `[openstack]` settings, and what the test adds.
    vars: Vec<(&'static str, String)>,
    _turn: LabTurn,
}

impl LabTest {
    /// Waits for the lab's turn and brings the lab up; `None` (said loudly) when lab tests are
    /// off (VIGIL_LAB is not 1), and the test should then end there.
    pub async fn start() -> anyhow::Result<Option<LabTest>> {
        if !vigil_lab::enabled_or_skip(&vigil_lab::test_name()) {
            return Ok(None);
        }
        let turn = Lab::turn().await?;
        let lab = Lab::up().await?;
        let cloud = lab.connect().await?;
        let env = lab.env().clone();
        let vars = env.openstack_vars();
        Ok(Some(LabTest {
            lab,
            cloud,
            env,
            dir: tempfile::tempdir()?,
            vars,
            _turn: turn,
        }))
    }

    /// [`LabTest::start`], with configuration overrides for every process the test starts.
    pub async fn start_with(settings: &[(&'static str, &str)]) -> anyhow::Result<Option<LabTest>> {
        let mut started = Self::start().await?;
        if let Some(t) = &mut started {
            for (name, value) in settings {
                t.set(name, *value);
            }
        }
        Ok(started)
    }

    /// [`LabTest::start_with`] on a fresh PostgreSQL database that all the test's processes
    /// share; `None` also when PostgreSQL cannot be reached (said loudly).
    pub async fn start_on_postgres(
        settings: &[(&'static str, &str)],
    ) -> anyhow::Result<Option<(LabTest, TestStore)>> {
        let Some(mut t) = Self::start_with(settings).await? else {
            return Ok(None);
        };
        let Some(db) = vigil_store::testing::server(Backend::Postgres).await else {
            return Ok(None);
        };
        t.set("VIGIL_DATABASE__URL", db.url.clone());
        Ok(Some((t, db)))
    }

    /// Adds a configuration override for the processes started from now on.
    pub fn set(&mut self, name: &'static str, value: impl Into<String>) {
        self.vars.push((name, value.into()));
    }

    fn vars(&self) -> Vec<(&'static str, &str)> {
        self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// A scratch path of this test.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `vigil <subcommand> <args…>` (`serve` or `api`) with the overrides, and a client of it.
    pub fn vigil(&self, subcommand: &str, args: &[&str]) -> (Vigil, Api) {
        let vigil = Vigil::start_with_env(subcommand, &self.path(subcommand), args, &self.vars());
        let api = Api::new(vigil.url());
        (vigil, api)
    }

    /// `vigil <args…>` run to its end (a one-shot command: `capacity`, `plan`) with the
    /// overrides and the database of the test's `vigil serve`; its output.
    pub fn run_vigil(&self, args: &[&str]) -> std::process::Output {
        let mut command = super::vigil_command(&self.vars());
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.path("serve"))
            .stdout(std::process::Stdio::piped());
        command.output().expect("running vigil")
    }

    /// `vigil serve <args…>` and a segment (`auto`) of every compute; returns the process
    /// (killed when dropped), a client and the segment's uuid.
    pub async fn serve(&self, args: &[&str]) -> anyhow::Result<(Vigil, Api, String)> {
        let (vigil, api) = self.vigil("serve", args);
        let hosts: Vec<(&str, bool)> = self.computes().iter().map(|h| (*h, false)).collect();
        let sid = api.segment("auto", &hosts).await?;
        Ok((vigil, api, sid))
    }

    /// A `vigil engine` with the overrides; all of a test's engines share one data directory.
    pub fn engine(&self) -> Engine {
        Engine::start(&self.path("engine"), &self.vars())
    }

    /// The fake computes' names.
    pub fn computes(&self) -> Vec<&str> {
        self.env.computes.iter().map(String::as_str).collect()
    }

    /// A server named `name` to boot on `host`.
    pub fn server_on(&self, name: impl Into<String>, host: &str) -> ServerCreate {
        self.env.server(name).on_host(host)
    }

    /// Boots `specs` and waits for each to be ACTIVE.
    pub async fn boot(&self, specs: Vec<ServerCreate>) -> anyhow::Result<Vec<ServerId>> {
        let mut ids = Vec::new();
        for spec in &specs {
            ids.push(self.cloud.server_create(spec).await?);
        }
        for id in &ids {
            self.cloud.wait_server_active(id, WITHIN).await?;
        }
        Ok(ids)
    }

    /// Deletes `servers` and waits until Nova has them gone.
    pub async fn delete_servers(&self, servers: &[ServerId]) -> anyhow::Result<()> {
        for s in servers {
            self.cloud.server_delete(s).await?;
        }
        for s in servers {
            self.cloud.wait_server_gone(s, WITHIN).await?;
        }
        Ok(())
    }

    /// Enables the hosts' compute services again, as the other tests expect them.
    pub async fn enable_computes(&self, hosts: &[&str]) -> anyhow::Result<()> {
        for host in hosts {
            self.cloud.compute_service_set_enabled(host, true).await?;
        }
        Ok(())
    }

    /// Nova's evacuation records of a server.
    pub async fn evacuations(&self, id: &ServerId) -> anyhow::Result<Vec<Value>> {
        let m = self
            .cloud
            .compute_get(&format!(
                "/os-migrations?instance_uuid={}&migration_type=evacuation",
                id.0
            ))
            .await?;
        Ok(m["migrations"].as_array().cloned().unwrap_or_default())
    }

    /// Nova's instance actions of a server (`create`, `start`, `migrate`, …), oldest last.
    pub async fn instance_actions(&self, id: &ServerId) -> anyhow::Result<Vec<Value>> {
        let actions = self
            .cloud
            .compute_get(&format!("/servers/{}/os-instance-actions", id.0))
            .await?;
        Ok(actions["instanceActions"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Every server ACTIVE away from `victim`, each evacuated exactly once.
    pub async fn assert_recovered(&self, servers: &[ServerId], victim: &str) -> anyhow::Result<()> {
        for s in servers {
            let got = self.cloud.server_get(s).await?.expect("server exists");
            assert_eq!(got.status, "ACTIVE", "{s:?}");
            assert_ne!(got.host.as_deref(), Some(victim), "{s:?} still on {victim}");
            let m = self.evacuations(s).await?;
            assert_eq!(m.len(), 1, "{s:?} evacuated {} times: {m:?}", m.len());
        }
        Ok(())
    }

    /// Runs `body` with `victim` failed, then puts the lab back as it was whatever happened:
    /// `revive-host` restarts the compute and, once it has cleaned up (Nova refuses to
    /// un-force it before), clears forced_down and enables it; the servers are deleted.
    pub async fn with_failed_host<F, Fut>(
        &self,
        victim: &str,
        servers: &[ServerId],
        body: F,
    ) -> anyhow::Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        self.lab.kill_host(victim).await?;
        restoring(body(), async {
            let revived = self.lab.revive_host(victim).await;
            self.delete_servers(servers).await?;
            Ok(revived?)
        })
        .await
    }
}

/// Runs `body`, then `restore` whatever happened to it, an assertion's panic included (the
/// lab is shared: it must be put back before the test fails). A failed restore is the test's
/// error; otherwise `body`'s result is, or its panic goes on.
pub async fn restoring<T>(
    body: impl Future<Output = anyhow::Result<T>>,
    restore: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<T> {
    let outcome = std::panic::AssertUnwindSafe(body).catch_unwind().await;
    restore.await?;
    match outcome {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

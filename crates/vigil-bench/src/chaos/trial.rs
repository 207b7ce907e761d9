//! One trial: servers on a host, the host killed and reported, faults struck while Vigil
//! recovers, the host brought back and taken back by Vigil, then the history read and checked.

use anyhow::{Context, Result};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_lab::{retrying, Cloud, Lab, LabEnv, PrivatePostgres, ServerId, TcpProxy};

use crate::check::{self, History, Sample, ServerOutcome, Stored, Violation};
use crate::cluster::{Cluster, Role};
use crate::faults::{Fault, Planned};
use crate::reports::{Answer, Reporter};
use crate::DEADLINE;

const POLL: Duration = Duration::from_millis(250);

/// Everything the trials share.
pub struct Rig {
    pub lab: &'static Lab,
    pub cloud: Cloud,
    pub env: LabEnv,
    pub api: Reporter,
    pub cluster: Arc<Mutex<Cluster>>,
    pub db: Arc<Mutex<PrivatePostgres>>,
    pub proxy: TcpProxy,
    /// Servers on the failed host.
    pub servers: usize,
}

/// What a trial met and broke.
pub struct Outcome {
    pub faults: Vec<Fault>,
    pub violations: Vec<Violation>,
    /// From the host's failure to every server ACTIVE elsewhere; `None` if that never came.
    pub recovered_in: Option<Duration>,
    /// How long each phase of the trial took, in order: where a trial's minutes go.
    pub phases: Vec<(&'static str, Duration)>,
}

impl Outcome {
    pub fn line(&self, i: usize) -> String {
        let faults: Vec<&str> = self.faults.iter().map(|f| f.name()).collect();
        let took = self.recovered_in.map_or("not recovered".into(), |d| {
            format!("{:.1} s", d.as_secs_f64())
        });
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|(name, d)| format!("{name} {:.1}", d.as_secs_f64()))
            .collect();
        format!(
            "trial {i}: {took}, faults [{}], violations {} (phases, s: {})",
            faults.join(", "),
            self.violations.len(),
            phases.join(", ")
        )
    }
}

/// Reports acknowledged with 202 during a trial.
type Acked = Arc<Mutex<Vec<String>>>;

impl Rig {
    /// One `auto` segment of every compute.
    pub async fn segment(&self) -> Result<()> {
        let http = reqwest::Client::new();
        let base = &self.api.urls()[0];
        let seg: serde_json::Value = http
            .post(format!("{base}/segments"))
            .json(
                &json!({"segment": {"name": "chaos", "recovery_method": "auto",
                "service_type": "COMPUTE"}}),
            )
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let sid = seg["segment"]["uuid"].as_str().context("segment uuid")?;
        for host in &self.env.computes {
            http.post(format!("{base}/segments/{sid}/hosts"))
                .json(&json!({"host": {"name": host, "type": "COMPUTE",
                    "control_attributes": "SSH"}}))
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }

    pub async fn trial(&self, i: usize, planned: &[Planned]) -> Result<Outcome> {
        // Always the same host: failures of different hosts within the mass-failure window
        // (300 s) would rightly stop Vigil as a partition would (2 of the lab's 3 hosts).
        let victim = self.env.computes[0].clone(); // main.rs revives it before the first trial
        let mut phases = Phases::new();
        // Booted at once: Nova builds them side by side, as it would a tenant's batch.
        let boots = (0..self.servers).map(|n| self.boot_on(&victim, format!("chaos-{i}-{n}")));
        let ids = futures::future::try_join_all(boots).await?;
        phases.end("boot");
        // Reports generated from now on are this trial's (the API filters on whole seconds).
        let since = (chrono::Utc::now() - chrono::Duration::seconds(1))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let acked: Acked = Arc::default();
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = tokio::spawn(sample(
            self.cloud.clone(),
            self.api.clone(),
            victim.clone(),
            since.clone(),
            sampling.clone(),
        ));

        let start = Instant::now();
        self.lab.kill_host(&victim).await?;
        let strikes = planned.iter().map(|p| self.strike(*p, &victim, &acked));
        let report = async {
            let answer = self
                .api
                .post(&Reporter::host_report(&victim, "STOPPED"))
                .await?;
            match answer {
                Answer::Accepted(uuid) => acked.lock().expect("not poisoned").push(uuid),
                // A duplicate's 409 when a fault's report got there first; anything else
                // shows in the trial's violations (nothing recovered).
                Answer::Refused(status, body) => {
                    eprintln!("the failure report was refused: {status} {body}")
                }
            }
            anyhow::Ok(())
        };
        let recovery = async {
            let took = self.wait_recovered(&ids, &victim, start).await;
            // A repaired host may come back at any moment; here, as soon as its servers run
            // elsewhere, while the faults' spans run out. Its nova-compute then starts beside a
            // recovery that may not have ended, forced down and disabled until Vigil takes it
            // back, which the checker holds to after the recovery's end.
            if took.is_some() {
                self.lab.restart_host_fenced(&victim).await?;
            }
            // The failure's reports first: a STARTED sent early waits for the host to be back.
            // Then the host is reported back and taken back, faults or not.
            self.wait_reports_ended(&since, Some("STOPPED")).await?;
            self.take_back(&victim, &since, &acked).await?;
            anyhow::Ok(took)
        };
        let (struck, reported, recovered_in) =
            tokio::join!(futures::future::join_all(strikes), report, recovery);
        for s in struck {
            s?;
        }
        reported?;
        let recovered_in = recovered_in?;
        phases.end("faults, recovery and take back");
        // Replicas a fault's restart could not bring back (a port still held, say).
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || cluster.lock().expect("not poisoned").heal()).await??;
        self.wait_reports_ended(&since, None).await?;
        phases.end("every report ended");
        sampling.store(false, Ordering::Relaxed);
        let samples = sampler.await?;

        let acknowledged = acked.lock().expect("not poisoned").clone();
        let history = History {
            victim: victim.clone(),
            acknowledged,
            stored: self.stored(&since).await?,
            servers: self.outcomes(&ids).await?,
            samples,
        };
        let violations = check::violations(&history);
        phases.end("check");
        self.clean_up(&victim, &ids).await?;
        phases.end("clean up");
        Ok(Outcome {
            faults: planned.iter().map(|p| p.fault).collect(),
            violations,
            recovered_in,
            phases: phases.done,
        })
    }

    /// Strikes with `p` at its moment and puts things right after its span.
    async fn strike(&self, p: Planned, victim: &str, acked: &Acked) -> Result<()> {
        tokio::time::sleep(p.at).await;
        match p.fault {
            Fault::KillApi | Fault::KillEngine => {
                let role = if p.fault == Fault::KillApi {
                    Role::Api
                } else {
                    Role::Engine
                };
                let index = self
                    .cluster
                    .lock()
                    .expect("not poisoned")
                    .kill(role, p.which)?;
                tokio::time::sleep(p.lasts).await;
                let cluster = self.cluster.clone();
                // Not ready again (a port still held): heal() after the trial retries.
                let _ = tokio::task::spawn_blocking(move || {
                    cluster.lock().expect("not poisoned").restart(index)
                })
                .await?;
            }
            Fault::RestartDatabase => {
                self.db.lock().expect("not poisoned").stop_immediate()?;
                tokio::time::sleep(p.lasts).await;
                let db = self.db.clone();
                tokio::task::spawn_blocking(move || db.lock().expect("not poisoned").start_again())
                    .await??;
            }
            Fault::StopNovaApi | Fault::StopKeystone => {
                let service = if p.fault == Fault::StopNovaApi {
                    "nova-api"
                } else {
                    "keystone"
                };
                self.lab.stop_service(service).await?;
                tokio::time::sleep(p.lasts).await;
                self.lab.start_service(service).await?;
            }
            Fault::SlowNova => {
                self.proxy.set_delay(p.delay);
                tokio::time::sleep(p.lasts).await;
                self.proxy.set_delay(Duration::ZERO);
            }
            Fault::DuplicateReport => {
                let report = Reporter::host_report(victim, "STOPPED");
                self.post_to_every_replica(&report, acked).await;
                tokio::time::sleep(p.lasts).await;
                self.post_to_every_replica(&report, acked).await;
            }
            Fault::EarlyRejoin => {
                let report = Reporter::host_report(victim, "STARTED");
                if let Answer::Accepted(uuid) = self.api.post(&report).await? {
                    acked.lock().expect("not poisoned").push(uuid);
                }
            }
        }
        Ok(())
    }

    /// The same report to every replica at once, each tried once.
    async fn post_to_every_replica(&self, report: &serde_json::Value, acked: &Acked) {
        let tries = self
            .api
            .urls()
            .iter()
            .map(|url| self.api.post_once(url, report));
        for answer in futures::future::join_all(tries).await {
            if let Some(Answer::Accepted(uuid)) = answer {
                acked.lock().expect("not poisoned").push(uuid);
            }
        }
    }

    /// Waits until every server is ACTIVE on another host; how long that took from `start`.
    async fn wait_recovered(
        &self,
        ids: &[ServerId],
        victim: &str,
        start: Instant,
    ) -> Option<Duration> {
        while start.elapsed() < DEADLINE {
            let mut all = true;
            for id in ids {
                // Nova stopped by a fault: not recovered as far as anyone can tell.
                let Ok(Some(s)) = self.cloud.server_get(id).await else {
                    all = false;
                    break;
                };
                if s.status != "ACTIVE" || s.host.as_deref() == Some(victim) {
                    all = false;
                    break;
                }
            }
            if all {
                return Some(start.elapsed());
            }
            tokio::time::sleep(POLL).await;
        }
        None
    }

    /// Waits (within the deadline) until every report of the trial (of `event`, if given)
    /// has ended.
    async fn wait_reports_ended(&self, since: &str, event: Option<&str>) -> Result<()> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            let stored = self.api.notifications_since(since).await?;
            if stored
                .iter()
                .filter(|(_, e, _)| event.is_none_or(|want| e == want))
                .all(|(_, _, status)| check::ENDED.contains(&status.as_str()))
            {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// A server ACTIVE on `host`. The host taken back by the previous trial is enabled in Nova
    /// before its nova-compute has cleared the `COMPUTE_STATUS_DISABLED` trait in Placement
    /// (it does so asynchronously), and Nova's scheduler finds no room there until it has: a
    /// server that ends in ERROR with "No valid host" is deleted and booted again.
    async fn boot_on(&self, host: &str, name: String) -> Result<ServerId> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let spec = self.env.server(name.clone()).on_host(host);
            let id = self.cloud.server_create(&spec).await?;
            match self.cloud.wait_server_active(&id, DEADLINE).await {
                Ok(_) => return Ok(id),
                Err(e) if e.to_string().contains("No valid host") && Instant::now() < deadline => {
                    self.cloud.server_delete(&id).await?;
                    self.cloud.wait_server_gone(&id, DEADLINE).await?;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Keeps the host's nova-compute running, still fenced, and reports it back until Vigil
    /// has it in service again (a STARTED sent early may have ended before the host was back).
    async fn take_back(&self, victim: &str, since: &str, acked: &Acked) -> Result<()> {
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            // Started again if it is not running: a nova-compute that starts while Keystone is
            // stopped exits at once (it cannot reach Placement), and its init system would
            // start it again.
            self.lab.restart_host_fenced(victim).await?;
            if in_service(&self.cloud, victim).await == Some(true) {
                return Ok(());
            }
            let stored = self.api.notifications_since(since).await?;
            let rejoining = stored.iter().any(|(_, event, status)| {
                event == "STARTED" && !check::ENDED.contains(&status.as_str())
            });
            if !rejoining {
                // Refused as a duplicate while an earlier one is recent: sent again later.
                if let Answer::Accepted(uuid) = self
                    .api
                    .post(&Reporter::host_report(victim, "STARTED"))
                    .await?
                {
                    acked.lock().expect("not poisoned").push(uuid);
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }

    async fn stored(&self, since: &str) -> Result<Vec<Stored>> {
        Ok(self
            .api
            .notifications_since(since)
            .await?
            .into_iter()
            .map(|(uuid, event, status)| Stored {
                uuid,
                event,
                status,
            })
            .collect())
    }

    /// Each server as Nova has it now, with its evacuation records.
    async fn outcomes(&self, ids: &[ServerId]) -> Result<Vec<ServerOutcome>> {
        let cloud = &self.cloud;
        let services = retrying("Nova's services", DEADLINE, || cloud.compute_services()).await?;
        let mut out = Vec::new();
        for id in ids {
            let server = retrying("a server", DEADLINE, || cloud.server_get(id))
                .await?
                .unwrap_or_default();
            let host_live = services.iter().any(|s| {
                Some(&s.host) == server.host.as_ref()
                    && s.state == "up"
                    && s.status == "enabled"
                    && !s.forced_down
            });
            let path = format!(
                "/os-migrations?instance_uuid={}&migration_type=evacuation",
                id.0
            );
            let migrations = retrying("migrations", DEADLINE, || cloud.compute_get(&path)).await?;
            let evacuations = migrations["migrations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["status"].as_str().unwrap_or_default().to_owned())
                .collect();
            out.push(ServerOutcome {
                id: id.0.clone(),
                status: server.status,
                host: server.host,
                host_live,
                evacuations,
            });
        }
        Ok(out)
    }

    /// Deletes the trial's servers and, if Vigil did not take the host back, revives it.
    async fn clean_up(&self, victim: &str, ids: &[ServerId]) -> Result<()> {
        for id in ids {
            retrying("a server's deletion", DEADLINE, || {
                self.cloud.server_delete(id)
            })
            .await?;
        }
        let gone = ids
            .iter()
            .map(|id| self.cloud.wait_server_gone(id, DEADLINE));
        futures::future::try_join_all(gone).await?;
        if in_service(&self.cloud, victim).await != Some(true) {
            self.lab.revive_host(victim).await?;
        }
        Ok(())
    }
}

/// The phases of a trial as they end, each timed from the end of the one before.
struct Phases {
    since: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            done: Vec::new(),
        }
    }

    fn end(&mut self, name: &'static str) {
        let now = Instant::now();
        self.done.push((name, now - self.since));
        self.since = now;
    }
}

/// Whether `host`'s compute service is enabled, up and not forced down; `None` when Nova
/// cannot say (stopped by a fault).
async fn in_service(cloud: &Cloud, host: &str) -> Option<bool> {
    let s = cloud.compute_service(host).await.ok()?;
    Some(s.status == "enabled" && s.state == "up" && !s.forced_down)
}

/// Samples the victim's service, then the trial's failure reports, until told to stop; a
/// look that Nova or every API replica could not answer is skipped.
async fn sample(
    cloud: Cloud,
    api: Reporter,
    victim: String,
    since: String,
    going: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    while going.load(Ordering::Relaxed) {
        if let Ok(s) = cloud.compute_service(&victim).await {
            if let Some(stored) = api.notifications_since_once(&since).await {
                let failures: Vec<&(String, String, String)> = stored
                    .iter()
                    .filter(|(_, event, _)| event == "STOPPED")
                    .collect();
                samples.push(Sample {
                    in_service: s.status == "enabled" && !s.forced_down,
                    recovery_ended: !failures.is_empty()
                        && failures
                            .iter()
                            .all(|(_, _, status)| check::ENDED.contains(&status.as_str())),
                });
            }
        }
        tokio::time::sleep(POLL).await;
    }
    samples
}

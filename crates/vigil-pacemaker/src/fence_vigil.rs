//! `fence_vigil`: the notification-fencing level of a compute host's topology (after its power
//! device). `off` forces the host's nova-compute down and disables it in Nova, then records the
//! host as failed in the queue; `on` (unfencing, when the host rejoins) waits until the queue
//! says the host was handed over and Vigil says its recovery ended, then lets Nova use the
//! host again and clears its entry; `status` reads Nova's service.

use crate::agent::{exit, Action, Request};
use crate::attrd::{Attrd, AttrdError};
use crate::queue::Entry;
use std::sync::Arc;
use std::time::Duration;
use vigil_client::{Client, ClientError};
use vigil_domain::{NotificationStatus, NotificationType};
use vigil_openstack::nova::{Compute, Service};
use vigil_openstack::{Credentials, OsError, Session};

/// The reason Nova shows on a host this agent disabled.
pub const DISABLED_REASON: &str = "fenced by fence_vigil";

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    #[error("no credentials: give cloud, or auth_url with login and passwd (or passwd_script)")]
    NoCredentials,
    #[error("running the password script")]
    PasswordScript(#[source] std::io::Error),
    #[error("queue must be attrd or none, not {0:?}")]
    BadQueue(String),
    #[error("opening a Keystone session")]
    Session(#[source] OsError),
    #[error("listing Nova's compute services")]
    ListServices(#[source] OsError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("forcing down and disabling nova-compute on {host}")]
    ForceDown {
        host: String,
        #[source]
        source: OsError,
    },
    #[error("enabling nova-compute on {host}")]
    Enable {
        host: String,
        #[source]
        source: OsError,
    },
    #[error("reading the failed-host queue")]
    ReadQueue(#[source] AttrdError),
    #[error("recording {host} in the failed-host queue")]
    WriteQueue {
        host: String,
        #[source]
        source: AttrdError,
    },
    #[error("asking Vigil whether {host}'s recovery ended")]
    AskVigil {
        host: String,
        #[source]
        source: ClientError,
    },
}

/// How a plug name failed to match one of Nova's compute hosts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("Nova has no compute host named {0} (nor one with that short name)")]
    NotInNova(String),
    #[error("{plug} could be any of {candidates:?} in Nova; set domain")]
    Ambiguous {
        plug: String,
        candidates: Vec<String>,
    },
}

/// A host's fencing state as Nova shows it; fence_compute's four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    /// Up and enabled: in use.
    On,
    /// Down (forced or not) and disabled: fenced.
    Off,
    /// Down but enabled: failed, not fenced yet.
    Failed,
    /// Up but disabled: back, not unfenced yet.
    Running,
}

impl PowerState {
    pub fn of(s: &Service) -> PowerState {
        let down = s.forced_down || s.state == "down";
        let enabled = s.status == "enabled";
        match (down, enabled) {
            (false, true) => PowerState::On,
            (true, false) => PowerState::Off,
            (true, true) => PowerState::Failed,
            (false, false) => PowerState::Running,
        }
    }

    /// As `status` and `list-status` print it: only a fenced host is off.
    fn shown(self) -> &'static str {
        match self {
            PowerState::Off => "OFF",
            _ => "ON",
        }
    }
}

/// The Nova host a cluster node name means (CAP-8: clusters often use short names where Nova
/// has FQDNs, or the other way round): the exact name, else the one host with the same short
/// name, preferring `<short>.<domain>` when a domain is given.
pub fn nova_host_name(
    plug: &str,
    domain: Option<&str>,
    nova_hosts: &[String],
) -> Result<String, NameError> {
    if nova_hosts.iter().any(|h| h == plug) {
        return Ok(plug.to_owned());
    }
    let short = |h: &str| h.split('.').next().unwrap_or_default().to_owned();
    let wanted = short(plug);
    if let Some(d) = domain.filter(|d| !d.is_empty()) {
        let full = format!("{wanted}.{}", d.trim_start_matches('.'));
        if nova_hosts.contains(&full) {
            return Ok(full);
        }
    }
    let candidates: Vec<String> = nova_hosts
        .iter()
        .filter(|h| short(h) == wanted)
        .cloned()
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(NameError::NotInNova(plug.to_owned())),
        _ => Err(NameError::Ambiguous {
            plug: plug.to_owned(),
            candidates,
        }),
    }
}

/// The agent's connections, from a request's options.
pub struct FenceVigil {
    nova: Compute,
    queue: Option<Attrd>,
    vigil: Option<Client>,
    domain: Option<String>,
    /// How often `on` looks again while the recovery goes on.
    pub poll: Duration,
}

impl FenceVigil {
    pub async fn from_request(req: &Request) -> Result<FenceVigil, FenceError> {
        let creds = credentials(req).await?;
        let session = Arc::new(Session::new(creds).map_err(FenceError::Session)?);
        let queue = match req.get("queue").unwrap_or("attrd") {
            "attrd" => Some(Attrd::default()),
            "none" => None,
            other => return Err(FenceError::BadQueue(other.to_owned())),
        };
        let vigil = match req.get("vigil_url").unwrap_or_default() {
            "none" => None,
            url => Some(Client::with_session(session.clone(), url)),
        };
        Ok(FenceVigil {
            nova: Compute::new(session),
            queue,
            vigil,
            domain: req.nonempty("domain").map(str::to_owned),
            poll: Duration::from_secs(2),
        })
    }

    /// Runs `req`'s action; returns the exit code and what to print on standard output.
    pub async fn run(&self, req: &Request) -> Result<(u8, String), FenceError> {
        let plug = req.get("plug").unwrap_or_default();
        match req.action {
            Action::Off | Action::Reboot => {
                self.off(plug).await?;
                Ok((exit::OK, String::new()))
            }
            Action::On => {
                self.on(plug).await?;
                Ok((exit::OK, String::new()))
            }
            Action::Status => {
                let (_, service) = self.service(plug).await?;
                let state = PowerState::of(&service);
                let code = match state {
                    PowerState::Off => exit::STATUS_OFF,
                    _ => exit::OK,
                };
                Ok((code, format!("Status: {}\n", state.shown())))
            }
            Action::Monitor => {
                self.services().await?;
                Ok((exit::OK, String::new()))
            }
            Action::List | Action::ListStatus => {
                let mut out = String::new();
                for s in self.services().await? {
                    match req.action {
                        Action::List => out.push_str(&format!("{},\n", s.host)),
                        _ => out.push_str(&format!("{},,{}\n", s.host, PowerState::of(&s).shown())),
                    }
                }
                Ok((exit::OK, out))
            }
            // Answered before anything is connected (see `main`).
            Action::Metadata | Action::ValidateAll => Ok((exit::OK, String::new())),
        }
    }

    async fn services(&self) -> Result<Vec<Service>, FenceError> {
        self.nova
            .compute_services()
            .await
            .map_err(FenceError::ListServices)
    }

    /// Nova's name for `plug` and its nova-compute service.
    async fn service(&self, plug: &str) -> Result<(String, Service), FenceError> {
        let services = self.services().await?;
        let names: Vec<String> = services.iter().map(|s| s.host.clone()).collect();
        let host = nova_host_name(plug, self.domain.as_deref(), &names)?;
        let service = services
            .into_iter()
            .find(|s| s.host == host)
            .expect("the name came from this list");
        Ok((host, service))
    }

    /// Forced down and disabled in one call, then `yes` in the queue — every time, even for a
    /// host Nova shows fenced already: a host fenced again has failed again.
    async fn off(&self, plug: &str) -> Result<(), FenceError> {
        let (host, service) = self.service(plug).await?;
        if !(service.forced_down && service.status == "disabled") {
            self.nova
                .service_force_down(&service.id, DISABLED_REASON)
                .await
                .map_err(|source| FenceError::ForceDown {
                    host: host.clone(),
                    source,
                })?;
        }
        self.write_queue(&host, Some(&Entry::Failed)).await?;
        tracing::info!(%host, "forced down and disabled in Nova; recorded as failed");
        Ok(())
    }

    /// Waits (for as long as the fencer lets it) until the host's recovery is over, then
    /// enables it and clears forced-down, in that order. Nova refuses the latter while evacuations from the
    /// host await the clean-up that the host's own nova-compute does when it starts: then it
    /// is left to Vigil's rejoin, which clears it after that clean-up.
    async fn on(&self, plug: &str) -> Result<(), FenceError> {
        let (host, _) = self.service(plug).await?;
        loop {
            match self.why_not_yet(&host).await? {
                None => break,
                Some(why) => tracing::info!(%host, "waiting to unfence: {why}"),
            }
            tokio::time::sleep(self.poll).await;
        }
        // Read again: the wait may have lasted minutes, and Vigil's rejoin may have changed it.
        let (_, service) = self.service(&host).await?;
        // Enabled first, while still forced down: enabling a service Nova believes up makes
        // nova-api call the host's nova-compute (to sync its disabled trait), and a host just
        // back may not answer, which holds the request for Nova's RPC timeout.
        if service.status != "enabled" {
            self.nova
                .service_enable(&service.id)
                .await
                .map_err(|source| FenceError::Enable {
                    host: host.clone(),
                    source,
                })?;
        }
        if service.forced_down {
            if let Err(e) = self.nova.service_unforce_down(&service.id).await {
                tracing::warn!(%host, error = %vigil_domain::ErrorChain(&e),
                    "forced-down left for Vigil's rejoin to clear");
            }
        }
        self.write_queue(&host, None).await?;
        tracing::info!(%host, "unfenced: enabled in Nova, removed from the queue");
        Ok(())
    }

    /// Sets `host`'s queue entry, or removes it (`None`), when there is a queue.
    async fn write_queue(&self, host: &str, entry: Option<&Entry>) -> Result<(), FenceError> {
        let Some(q) = &self.queue else {
            return Ok(());
        };
        let written = match entry {
            Some(e) => q.set(host, e).await,
            None => q.delete(host).await,
        };
        written.map_err(|source| FenceError::WriteQueue {
            host: host.to_owned(),
            source,
        })
    }

    /// What still holds the host fenced, if anything.
    async fn why_not_yet(&self, host: &str) -> Result<Option<String>, FenceError> {
        if let Some(q) = &self.queue {
            let entry = q.get(host).await.map_err(FenceError::ReadQueue)?;
            if !Entry::lets_unfence(entry.as_ref()) {
                let entry = entry.map(|e| e.to_string()).unwrap_or_default();
                return Ok(Some(format!("the queue holds {entry:?}")));
            }
        }
        if let Some(vigil) = &self.vigil {
            let open = unfinished_recoveries(vigil, host).await.map_err(|source| {
                FenceError::AskVigil {
                    host: host.to_owned(),
                    source,
                }
            })?;
            if open > 0 {
                return Ok(Some(format!("{open} host recovery not ended in Vigil")));
            }
        }
        Ok(None)
    }
}

/// How many `COMPUTE_HOST` notifications of `host` (in any segment) have not reached a final
/// status.
async fn unfinished_recoveries(vigil: &Client, host: &str) -> Result<usize, ClientError> {
    let mut open = 0;
    for segment in vigil.list_segments().await? {
        let uuid = segment.uuid.to_string();
        for h in vigil.list_hosts(&uuid, &[("name", host)]).await? {
            let id = h.uuid.to_string();
            let query = [
                ("source_host_uuid", id.as_str()),
                ("type", NotificationType::ComputeHost.as_str()),
            ];
            open += vigil
                .list_notifications(&query)
                .await?
                .iter()
                .filter(|n| !NotificationStatus::is_final(n.status))
                .count();
        }
    }
    Ok(open)
}

/// Keystone credentials from the options: a clouds.yaml cloud, or the fence_compute options.
async fn credentials(req: &Request) -> Result<Credentials, FenceError> {
    let mut c = Credentials {
        cloud: req.get("cloud").unwrap_or_default().to_owned(),
        auth_url: req.get("auth_url").unwrap_or_default().to_owned(),
        username: req.get("login").unwrap_or_default().to_owned(),
        password: req.get("passwd").unwrap_or_default().to_owned(),
        project_name: req.get("tenant_name").unwrap_or_default().to_owned(),
        region_name: req.get("region_name").unwrap_or_default().to_owned(),
        ..Credentials::default()
    };
    if let Some(d) = req.nonempty("user-domain") {
        c.user_domain_name = d.to_owned();
    }
    if let Some(d) = req.nonempty("project-domain") {
        c.project_domain_name = d.to_owned();
    }
    c.interface = match req.get("endpoint_type").unwrap_or_default() {
        "publicURL" | "public" => "public",
        "adminURL" | "admin" => "admin",
        _ => "internal",
    }
    .to_owned();
    if let Some(script) = req.nonempty("passwd_script") {
        let out = tokio::process::Command::new("sh")
            .args(["-c", script])
            .output()
            .await
            .map_err(FenceError::PasswordScript)?;
        c.password = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
    }
    let configured = !c.cloud.is_empty() || !(c.auth_url.is_empty() || c.username.is_empty());
    if !configured {
        return Err(FenceError::NoCredentials);
    }
    c.resolve_cloud().map_err(FenceError::Session)
}

/// Checks the options without connecting anywhere (`validate-all`).
pub async fn validate(req: &Request) -> Result<(), FenceError> {
    credentials(req).await?;
    match req.get("queue").unwrap_or("attrd") {
        "attrd" | "none" => Ok(()),
        other => Err(FenceError::BadQueue(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(state: &str, status: &str, forced_down: bool) -> Service {
        Service {
            id: "id".into(),
            host: "h".into(),
            status: status.into(),
            state: state.into(),
            forced_down,
            disabled_reason: None,
            updated_at: None,
        }
    }

    #[test]
    fn nova_service_states_map_to_fence_states() {
        let table = [
            ("up", "enabled", false, PowerState::On),
            ("down", "disabled", true, PowerState::Off),
            ("down", "disabled", false, PowerState::Off),
            // Forced down reads `down` in Nova whatever the heartbeats say.
            ("up", "disabled", true, PowerState::Off),
            ("down", "enabled", false, PowerState::Failed),
            ("up", "enabled", true, PowerState::Failed),
            ("up", "disabled", false, PowerState::Running),
        ];
        for (state, status, forced, want) in table {
            assert_eq!(
                PowerState::of(&service(state, status, forced)),
                want,
                "{state} {status} forced={forced}"
            );
        }
    }

    #[test]
    fn cluster_names_resolve_to_nova_hosts() {
        let nova = |hs: &[&str]| hs.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            &'a [&'a str],
            Result<&'a str, NameError>,
        );
        let table: &[Case] = &[
            ("c1", None, &["c1", "c2"], Ok("c1")),
            ("c1", None, &["c1.ex.org", "c2.ex.org"], Ok("c1.ex.org")),
            ("c1.ex.org", None, &["c1", "c2"], Ok("c1")),
            (
                "c1",
                Some("ex.org"),
                &["c1.ex.org", "c1.other.org"],
                Ok("c1.ex.org"),
            ),
            ("c1", Some(".ex.org"), &["c1.ex.org"], Ok("c1.ex.org")),
            (
                "c1",
                None,
                &["c1.ex.org", "c1.other.org"],
                Err(NameError::Ambiguous {
                    plug: "c1".into(),
                    candidates: vec!["c1.ex.org".into(), "c1.other.org".into()],
                }),
            ),
            (
                "c3",
                None,
                &["c1", "c2"],
                Err(NameError::NotInNova("c3".into())),
            ),
            // A domain that matches nothing falls back to the short name.
            ("c1", Some("elsewhere"), &["c1.ex.org"], Ok("c1.ex.org")),
        ];
        for (plug, domain, hosts, want) in table {
            let got = nova_host_name(plug, *domain, &nova(hosts));
            assert_eq!(
                got,
                want.clone().map(str::to_owned),
                "{plug} {domain:?} {hosts:?}"
            );
        }
    }
}

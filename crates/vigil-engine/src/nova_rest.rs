//! The `Nova` trait over Nova's REST API, through a shared Keystone session.

use crate::nova::{Migration, Nova, NovaError, Server, Service};
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_domain::Timestamp;
use vigil_openstack::{OsError, Session};

const HEADER: &str = "X-OpenStack-Nova-API-Version";
/// Service UUIDs and the one-call force-down + disable.
const SERVICES: &str = "2.53";
/// Flavor extra specs embedded in servers (for the `evacuable` tag).
const SERVERS: &str = "2.61";
/// Migration uuids and time filters.
const MIGRATIONS: &str = "2.59";
/// Evacuate without `force`, power state preserved.
const EVACUATE: &str = "2.68";
/// Evacuate leaving the server stopped at the destination.
const EVACUATE_STOPPED: &str = "2.95";

pub struct NovaRest {
    session: Arc<Session>,
}

impl NovaRest {
    pub fn new(session: Arc<Session>) -> Self {
        Self { session }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        version: &str,
        body: Option<Value>,
    ) -> Result<Value, NovaError> {
        self.session
            .request(
                "compute",
                method,
                path,
                Some((HEADER, version)),
                body.as_ref(),
            )
            .await
            .map_err(classify)
    }
}

/// Nova's answers in the engine's terms (reference: nova-and-peers §B.2, B.9).
fn classify(e: OsError) -> NovaError {
    let text = e.to_string();
    match e.status() {
        Some(StatusCode::NOT_FOUND) => NovaError::NotFound(text),
        Some(StatusCode::CONFLICT) => NovaError::Conflict(text),
        Some(StatusCode::BAD_REQUEST) if text.contains("is still in use") => {
            NovaError::ServiceInUse(text)
        }
        _ if e.is_transient() => NovaError::Transient(text),
        _ => NovaError::Rejected(text),
    }
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn server(v: &Value) -> Server {
    Server {
        id: v["id"].as_str().unwrap_or_default().to_owned(),
        name: v["name"].as_str().unwrap_or_default().to_owned(),
        host: opt_str(&v["OS-EXT-SRV-ATTR:host"]),
        vm_state: v["OS-EXT-STS:vm_state"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        task_state: opt_str(&v["OS-EXT-STS:task_state"]),
        status: v["status"].as_str().unwrap_or_default().to_owned(),
        metadata: string_map(&v["metadata"]),
        extra_specs: string_map(&v["flavor"]["extra_specs"]),
    }
}

fn nova_time(v: &Value) -> Option<Timestamp> {
    let s = v.as_str()?;
    chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| Timestamp::from_datetime(t.and_utc()))
}

#[async_trait]
impl Nova for NovaRest {
    async fn compute_service(&self, host: &str) -> Result<Option<Service>, NovaError> {
        let path = format!("/os-services?binary=nova-compute&host={}", urlencode(host));
        let v = self.call(Method::GET, &path, SERVICES, None).await?;
        Ok(v["services"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["host"] == host))
            .map(|s| Service {
                id: s["id"].as_str().unwrap_or_default().to_owned(),
                host: host.to_owned(),
                status: s["status"].as_str().unwrap_or_default().to_owned(),
                state: s["state"].as_str().unwrap_or_default().to_owned(),
                forced_down: s["forced_down"].as_bool().unwrap_or(false),
                disabled_reason: opt_str(&s["disabled_reason"]),
                updated_at: nova_time(&s["updated_at"]),
            }))
    }

    async fn schedulers_up(&self) -> Result<usize, NovaError> {
        let v = self
            .call(
                Method::GET,
                "/os-services?binary=nova-scheduler",
                SERVICES,
                None,
            )
            .await?;
        Ok(v["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["state"] == "up" && s["status"] == "enabled")
            .count())
    }

    async fn force_down(&self, service_id: &str, reason: &str) -> Result<(), NovaError> {
        let reason: String = reason.chars().take(255).collect();
        let body = json!({"status": "disabled", "disabled_reason": reason, "forced_down": true});
        self.call(
            Method::PUT,
            &format!("/os-services/{service_id}"),
            SERVICES,
            Some(body),
        )
        .await
        .map(drop)
    }

    async fn enable_service(&self, service_id: &str) -> Result<(), NovaError> {
        self.call(
            Method::PUT,
            &format!("/os-services/{service_id}"),
            SERVICES,
            Some(json!({"status": "enabled"})),
        )
        .await
        .map(drop)
    }

    async fn disable_service(&self, service_id: &str, reason: &str) -> Result<(), NovaError> {
        let reason: String = reason.chars().take(255).collect();
        self.call(
            Method::PUT,
            &format!("/os-services/{service_id}"),
            SERVICES,
            Some(json!({"status": "disabled", "disabled_reason": reason})),
        )
        .await
        .map(drop)
    }

    async fn unforce_down(&self, service_id: &str) -> Result<(), NovaError> {
        self.call(
            Method::PUT,
            &format!("/os-services/{service_id}"),
            SERVICES,
            Some(json!({"forced_down": false})),
        )
        .await
        .map(drop)
    }

    async fn evacuations_from(&self, source: &str) -> Result<Vec<Migration>, NovaError> {
        let path = format!(
            "/os-migrations?migration_type=evacuation&source_compute={}",
            urlencode(source)
        );
        self.migrations(&path).await
    }

    async fn migrate_server(&self, server_id: &str) -> Result<(), NovaError> {
        self.action(server_id, json!({"migrate": null})).await
    }

    async fn confirm_resize(&self, server_id: &str) -> Result<(), NovaError> {
        match self.action(server_id, json!({"confirmResize": null})).await {
            // Nova answers 400 "Instance has not been resized" while the migration record is
            // not (yet, or any more) `finished`, though the server already shows RESIZED: a
            // state to wait out, not a refusal.
            Err(NovaError::Rejected(text)) if text.contains("has not been resized") => {
                Err(NovaError::Conflict(text))
            }
            other => other,
        }
    }

    async fn servers_on_host(&self, host: &str) -> Result<Vec<Server>, NovaError> {
        let mut out = Vec::new();
        let mut path = format!(
            "/servers/detail?all_tenants=1&host={}&limit=1000",
            urlencode(host)
        );
        loop {
            let v = self.call(Method::GET, &path, SERVERS, None).await?;
            let page = v["servers"].as_array().cloned().unwrap_or_default();
            out.extend(page.iter().map(server));
            // Follow `next` links: Nova caps pages at [api] max_limit.
            let next = v["servers_links"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["rel"] == "next"))
                .and_then(|x| x["href"].as_str())
                .map(str::to_owned);
            match next {
                Some(href) if !page.is_empty() => path = href,
                _ => break,
            }
        }
        // The host filter is exact, but be certain: a server elsewhere must never be moved.
        out.retain(|s| s.host.as_deref() == Some(host));
        Ok(out)
    }

    async fn server(&self, id: &str) -> Result<Option<Server>, NovaError> {
        match self
            .call(Method::GET, &format!("/servers/{id}"), SERVERS, None)
            .await
        {
            Ok(v) => Ok(Some(server(&v["server"]))),
            Err(NovaError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn evacuate(
        &self,
        server_id: &str,
        target: Option<&str>,
        stopped: bool,
    ) -> Result<(), NovaError> {
        let mut args = serde_json::Map::new();
        if let Some(t) = target {
            args.insert("host".into(), json!(t));
        }
        let version = if stopped { EVACUATE_STOPPED } else { EVACUATE };
        self.call(
            Method::POST,
            &format!("/servers/{server_id}/action"),
            version,
            Some(json!({ "evacuate": args })),
        )
        .await
        .map(drop)
    }

    async fn evacuations(
        &self,
        server_id: &str,
        source: &str,
    ) -> Result<Vec<Migration>, NovaError> {
        let path = format!(
            "/os-migrations?instance_uuid={server_id}&migration_type=evacuation&source_compute={}",
            urlencode(source)
        );
        self.migrations(&path).await
    }

    async fn aggregates_of(&self, host: &str) -> Result<Vec<i64>, NovaError> {
        let v = self
            .call(Method::GET, "/os-aggregates", SERVICES, None)
            .await?;
        Ok(v["aggregates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| {
                a["hosts"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|x| x == host))
            })
            .filter_map(|a| a["id"].as_i64())
            .collect())
    }

    async fn aggregate_add_host(&self, aggregate: i64, host: &str) -> Result<(), NovaError> {
        match self
            .call(
                Method::POST,
                &format!("/os-aggregates/{aggregate}/action"),
                SERVICES,
                Some(json!({"add_host": {"host": host}})),
            )
            .await
        {
            Ok(_) | Err(NovaError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn start_server(&self, server_id: &str) -> Result<(), NovaError> {
        self.action(server_id, json!({"os-start": null})).await
    }

    async fn stop_server(&self, server_id: &str) -> Result<(), NovaError> {
        self.action(server_id, json!({"os-stop": null})).await
    }

    async fn reset_state(&self, server_id: &str, state: &str) -> Result<(), NovaError> {
        self.action(server_id, json!({"os-resetState": {"state": state}}))
            .await
    }
}

impl NovaRest {
    /// `GET` a migrations list, newest first.
    async fn migrations(&self, path: &str) -> Result<Vec<Migration>, NovaError> {
        let v = self.call(Method::GET, path, MIGRATIONS, None).await?;
        let mut out: Vec<Migration> = v["migrations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| Migration {
                id: m["id"].as_i64().unwrap_or_default(),
                uuid: opt_str(&m["uuid"]),
                instance_uuid: m["instance_uuid"].as_str().unwrap_or_default().to_owned(),
                source_compute: opt_str(&m["source_compute"]),
                dest_compute: opt_str(&m["dest_compute"]),
                status: m["status"].as_str().unwrap_or_default().to_owned(),
                created_at: nova_time(&m["created_at"]),
            })
            .collect();
        out.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        Ok(out)
    }

    async fn action(&self, server_id: &str, body: Value) -> Result<(), NovaError> {
        self.call(
            Method::POST,
            &format!("/servers/{server_id}/action"),
            SERVICES,
            Some(body),
        )
        .await
        .map(drop)
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

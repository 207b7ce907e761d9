//! `Compute`: the Nova calls Vigil makes (the engine, the API's host check, the lab support
//! crate and the bench), each at the microversion it needs, with typed results.
//!
//! Errors are [`OsError`]s; their [`vigil_domain::Classify`] class says what a caller that may
//! retry should do (transient, gone, conflict, fatal).

mod servers;
mod types;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

use crate::{OsError, Session};

pub use types::{Migration, Server, ServerCreate, Service};

/// The header that carries a microversion.
const HEADER: &str = "X-OpenStack-Nova-API-Version";
/// Service UUIDs and the one-call force-down + disable; also the version of every call that
/// needs nothing later (server actions, aggregates).
pub const SERVICES: &str = "2.53";
/// Migration uuids and time filters.
pub const MIGRATIONS: &str = "2.59";
/// Flavor extra specs embedded in servers (for the `evacuable` tag).
pub const SERVERS: &str = "2.61";
/// Evacuate without `force`, power state preserved.
pub const EVACUATE: &str = "2.68";
/// A create may name its compute host.
pub const CREATE: &str = "2.74";
/// Evacuate leaving the server stopped at the destination.
pub const EVACUATE_STOPPED: &str = "2.95";
/// The newest microversion any call above needs: raw reads ([`Compute::get`]) use it, so they
/// see every field the typed calls can.
pub const NEWEST: &str = EVACUATE_STOPPED;

/// Nova, through a shared Keystone session. Cheap to clone.
#[derive(Clone)]
pub struct Compute {
    session: Arc<Session>,
}

impl Compute {
    pub fn new(session: Arc<Session>) -> Self {
        Self { session }
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        version: &str,
        body: Option<Value>,
    ) -> Result<Value, OsError> {
        self.session
            .request(
                "compute",
                method,
                path,
                Some((HEADER, version)),
                body.as_ref(),
            )
            .await
    }

    /// `GET` any compute path as JSON, for tests that inspect what Nova recorded (instance
    /// actions and their events) beyond what the typed calls read.
    pub async fn get(&self, path: &str) -> Result<Value, OsError> {
        self.call(Method::GET, path, NEWEST, None).await
    }

    async fn services(&self, query: &str) -> Result<Vec<Service>, OsError> {
        let v = self
            .call(
                Method::GET,
                &format!("/os-services?{query}"),
                SERVICES,
                None,
            )
            .await?;
        Ok(v["services"]
            .as_array()
            .into_iter()
            .flatten()
            .map(types::service)
            .collect())
    }

    /// Every `nova-compute` service.
    pub async fn compute_services(&self) -> Result<Vec<Service>, OsError> {
        self.services("binary=nova-compute").await
    }

    /// The `nova-compute` service on `host`, if Nova has one. Nova's host filter is exact;
    /// the name is compared again anyway, case-sensitively, as Masakari does.
    pub async fn compute_service(&self, host: &str) -> Result<Option<Service>, OsError> {
        let query = format!("binary=nova-compute&host={}", urlencode(host));
        let services = self.services(&query).await?;
        Ok(services.into_iter().find(|s| s.host == host))
    }

    /// How many `nova-scheduler` services are up and enabled.
    pub async fn schedulers_up(&self) -> Result<usize, OsError> {
        let services = self.services("binary=nova-scheduler").await?;
        Ok(services
            .iter()
            .filter(|s| s.state == "up" && s.status == "enabled")
            .count())
    }

    async fn service_update(&self, service_id: &str, body: Value) -> Result<(), OsError> {
        let path = format!("/os-services/{service_id}");
        self.call(Method::PUT, &path, SERVICES, Some(body))
            .await
            .map(drop)
    }

    /// Marks the service forced down and disabled with `reason`, in one call.
    pub async fn service_force_down(&self, service_id: &str, reason: &str) -> Result<(), OsError> {
        let body = json!({"status": "disabled", "disabled_reason": reason_text(reason),
                          "forced_down": true});
        self.service_update(service_id, body).await
    }

    pub async fn service_enable(&self, service_id: &str) -> Result<(), OsError> {
        self.service_update(service_id, json!({"status": "enabled"}))
            .await
    }

    /// Disables the service with `reason`, leaving forced-down alone.
    pub async fn service_disable(&self, service_id: &str, reason: &str) -> Result<(), OsError> {
        let body = json!({"status": "disabled", "disabled_reason": reason_text(reason)});
        self.service_update(service_id, body).await
    }

    /// Clears forced-down. Nova refuses it (400) while evacuations from the host are `done`
    /// but not yet cleaned up (`completed`) by the returning nova-compute.
    pub async fn service_unforce_down(&self, service_id: &str) -> Result<(), OsError> {
        self.service_update(service_id, json!({"forced_down": false}))
            .await
    }

    /// Every evacuation migration away from `source`, any server, newest first. Not filtered
    /// with `changes-since`: Nova compares it with `updated_at`, which a just-accepted
    /// evacuation does not have yet.
    pub async fn evacuations_from(&self, source: &str) -> Result<Vec<Migration>, OsError> {
        let query = format!(
            "migration_type=evacuation&source_compute={}",
            urlencode(source)
        );
        self.migrations(&query).await
    }

    /// The evacuation migrations of `server_id` away from `source`, newest first.
    pub async fn evacuations(
        &self,
        server_id: &str,
        source: &str,
    ) -> Result<Vec<Migration>, OsError> {
        let query = format!(
            "instance_uuid={}&migration_type=evacuation&source_compute={}",
            urlencode(server_id),
            urlencode(source)
        );
        self.migrations(&query).await
    }

    /// A migrations list, newest first.
    async fn migrations(&self, query: &str) -> Result<Vec<Migration>, OsError> {
        let path = format!("/os-migrations?{query}");
        let v = self.call(Method::GET, &path, MIGRATIONS, None).await?;
        let mut out: Vec<Migration> = v["migrations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(types::migration)
            .collect();
        out.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
        Ok(out)
    }

    /// Ids of the host aggregates `host` belongs to.
    pub async fn aggregates_of(&self, host: &str) -> Result<Vec<i64>, OsError> {
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

    /// Adds `host` to an aggregate; already being a member (409) is success.
    pub async fn aggregate_add_host(&self, aggregate: i64, host: &str) -> Result<(), OsError> {
        let path = format!("/os-aggregates/{aggregate}/action");
        let body = json!({"add_host": {"host": host}});
        match self.call(Method::POST, &path, SERVICES, Some(body)).await {
            Err(e) if e.status() == Some(StatusCode::CONFLICT) => Ok(()),
            other => other.map(drop),
        }
    }
}

/// Nova keeps at most 255 characters of a disabled reason and refuses longer ones.
fn reason_text(reason: &str) -> String {
    reason.chars().take(255).collect()
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

//! Servers: listing, reading, the actions a recovery takes, and create/delete for the lab.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{types, urlencode, Compute, Server, ServerCreate, CREATE, EVACUATE};
use super::{EVACUATE_STOPPED, SERVERS, SERVICES};
use crate::OsError;

impl Compute {
    /// Every server whose host is `host`, all projects, following pages.
    pub async fn servers_on_host(&self, host: &str) -> Result<Vec<Server>, OsError> {
        let mut out = self
            .servers(&format!("all_tenants=1&host={}", urlencode(host)))
            .await?;
        // The host filter is exact, but be certain: a server elsewhere must never be moved.
        out.retain(|s| s.host.as_deref() == Some(host));
        Ok(out)
    }

    /// Every server whose name matches the regular expression `name`, all projects.
    pub async fn servers_named(&self, name: &str) -> Result<Vec<Server>, OsError> {
        self.servers(&format!("all_tenants=1&name={}", urlencode(name)))
            .await
    }

    /// `/servers/detail` with `query`, following `next` links: Nova caps pages at
    /// `[api] max_limit`.
    async fn servers(&self, query: &str) -> Result<Vec<Server>, OsError> {
        let mut out = Vec::new();
        let mut path = format!("/servers/detail?{query}&limit=1000");
        loop {
            let v = self.call(Method::GET, &path, SERVERS, None).await?;
            let page = v["servers"].as_array().cloned().unwrap_or_default();
            out.extend(page.iter().map(types::server));
            let next = v["servers_links"]
                .as_array()
                .and_then(|l| l.iter().find(|x| x["rel"] == "next"))
                .and_then(|x| x["href"].as_str())
                .map(str::to_owned);
            match next {
                Some(href) if !page.is_empty() => path = href,
                _ => return Ok(out),
            }
        }
    }

    /// The server, or `None` once Nova no longer knows it.
    pub async fn server(&self, id: &str) -> Result<Option<Server>, OsError> {
        let path = format!("/servers/{}", urlencode(id));
        match self.call(Method::GET, &path, SERVERS, None).await {
            Ok(v) => Ok(Some(types::server(&v["server"]))),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Boots the servers of `spec` and returns the (first) one's id at once: it is still BUILD.
    pub async fn server_create(&self, spec: &ServerCreate) -> Result<String, OsError> {
        let v = self
            .call(Method::POST, "/servers", CREATE, Some(spec.body()))
            .await?;
        Ok(v["server"]["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Deletes a server; one Nova no longer knows counts as deleted.
    pub async fn server_delete(&self, id: &str) -> Result<(), OsError> {
        let path = format!("/servers/{}", urlencode(id));
        match self.call(Method::DELETE, &path, SERVICES, None).await {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Starts an evacuation; `target` pins the destination (validated by the scheduler);
    /// `stopped` asks for µv 2.95 semantics (the server ends STOPPED at the destination).
    pub async fn server_evacuate(
        &self,
        id: &str,
        target: Option<&str>,
        stopped: bool,
    ) -> Result<(), OsError> {
        let mut args = serde_json::Map::new();
        if let Some(t) = target {
            args.insert("host".into(), json!(t));
        }
        let version = if stopped { EVACUATE_STOPPED } else { EVACUATE };
        self.action(id, version, json!({ "evacuate": args })).await
    }

    /// Cold-migrates a server; the scheduler chooses another host.
    pub async fn server_migrate(&self, id: &str) -> Result<(), OsError> {
        self.action(id, SERVICES, json!({"migrate": null})).await
    }

    /// Confirms a finished migration (`VERIFY_RESIZE`).
    pub async fn server_confirm_resize(&self, id: &str) -> Result<(), OsError> {
        self.action(id, SERVICES, json!({"confirmResize": null}))
            .await
    }

    pub async fn server_start(&self, id: &str) -> Result<(), OsError> {
        self.action(id, SERVICES, json!({"os-start": null})).await
    }

    pub async fn server_stop(&self, id: &str) -> Result<(), OsError> {
        self.action(id, SERVICES, json!({"os-stop": null})).await
    }

    /// `os-resetState` to `active` or `error`.
    pub async fn server_reset_state(&self, id: &str, state: &str) -> Result<(), OsError> {
        self.action(id, SERVICES, json!({"os-resetState": {"state": state}}))
            .await
    }

    async fn action(&self, id: &str, version: &str, body: Value) -> Result<(), OsError> {
        let path = format!("/servers/{}/action", urlencode(id));
        self.call(Method::POST, &path, version, Some(body))
            .await
            .map(drop)
    }
}

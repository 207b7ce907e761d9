//! Keystone v3 tokens: the request that asks for one, and what Vigil reads from the answer
//! (expiry, the service catalog, who a validated token belongs to).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::{Credentials, Exchange, OsError};

/// A service endpoint of the catalog.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    service_type: String,
    interface: String,
    region: String,
    url: String,
}

/// Our own token and the catalog that came with it.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) expires: DateTime<Utc>,
    pub(crate) catalog: Vec<Endpoint>,
}

/// What Keystone says about a user's token (`GET /v3/auth/tokens`).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInfo {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub expires: DateTime<Utc>,
}

/// The body of `POST /v3/auth/tokens` for `c`. An application credential carries its own
/// scope; a password is scoped to the project.
pub(crate) fn auth_request(c: &Credentials) -> Value {
    if c.application_credential_id.is_empty() {
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
        }})
    } else {
        json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {
                "id": c.application_credential_id,
                "secret": c.application_credential_secret}}}})
    }
}

fn expiry(t: &Value) -> Result<DateTime<Utc>, Exchange> {
    t["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or(Exchange::NoExpiry)
}

pub(crate) fn token_info(doc: &Value) -> Result<TokenInfo, Exchange> {
    let t = &doc["token"];
    Ok(TokenInfo {
        user_id: t["user"]["id"].as_str().map(str::to_owned),
        project_id: t["project"]["id"].as_str().map(str::to_owned),
        roles: t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect(),
        expires: expiry(t)?,
    })
}

pub(crate) fn parse_token(value: String, doc: &Value) -> Result<Token, Exchange> {
    let t = &doc["token"];
    let mut catalog = Vec::new();
    for service in t["catalog"].as_array().into_iter().flatten() {
        let service_type = service["type"].as_str().unwrap_or_default();
        for e in service["endpoints"].as_array().into_iter().flatten() {
            catalog.push(Endpoint {
                service_type: service_type.to_owned(),
                interface: e["interface"].as_str().unwrap_or_default().to_owned(),
                region: e["region_id"]
                    .as_str()
                    .or_else(|| e["region"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                url: e["url"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    Ok(Token {
        value,
        expires: expiry(t)?,
        catalog,
    })
}

/// The URL of `service_type` for the credentials' interface and region.
pub(crate) fn select_endpoint(
    catalog: &[Endpoint],
    service_type: &str,
    creds: &Credentials,
) -> Result<String, OsError> {
    if let Some(url) = creds.endpoint_override.get(service_type) {
        return Ok(url.clone());
    }
    catalog
        .iter()
        .find(|e| {
            e.service_type == service_type
                && e.interface == creds.interface
                && (creds.region_name.is_empty() || e.region == creds.region_name)
        })
        .map(|e| e.url.clone())
        .ok_or_else(|| OsError::NoEndpoint {
            service_type: service_type.to_owned(),
            interface: creds.interface.clone(),
            region: creds.region_name.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_catalogs_are_read() {
        let doc = json!({"token": {"expires_at": "2026-11-25T03:00:00.000000Z", "catalog": [
            {"type": "compute", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://n:8774/v2.1/i"},
                {"interface": "public", "region_id": "RegionTwo", "url": "http://n2:8774/v2.1"},
                {"interface": "public", "region_id": "RegionOne", "url": "http://n:8774/v2.1"}]}]}});
        let t = parse_token("tok".into(), &doc).unwrap();
        assert_eq!(t.expires.to_rfc3339(), "2026-11-25T03:00:00+00:00");
        let mut creds = Credentials {
            region_name: "RegionOne".into(),
            ..Credentials::default()
        };
        assert_eq!(
            select_endpoint(&t.catalog, "compute", &creds).unwrap(),
            "http://n:8774/v2.1"
        );
        creds.interface = "internal".into();
        assert_eq!(
            select_endpoint(&t.catalog, "compute", &creds).unwrap(),
            "http://n:8774/v2.1/i"
        );
        assert!(matches!(
            select_endpoint(&t.catalog, "image", &creds),
            Err(OsError::NoEndpoint { .. })
        ));
        // An override wins over the catalog, and names a service the catalog lacks.
        creds
            .endpoint_override
            .insert("image".into(), "http://proxy:9292".into());
        assert_eq!(
            select_endpoint(&t.catalog, "image", &creds).unwrap(),
            "http://proxy:9292"
        );
    }

    #[test]
    fn a_validated_token_names_its_user_and_roles() {
        let doc = json!({"token": {"expires_at": "2026-11-25T03:00:00Z",
            "user": {"id": "u1"}, "project": {"id": "p1"},
            "roles": [{"name": "admin"}, {"name": "member"}]}});
        let info = token_info(&doc).unwrap();
        assert_eq!(info.user_id.as_deref(), Some("u1"));
        assert_eq!(info.project_id.as_deref(), Some("p1"));
        assert_eq!(info.roles, ["admin", "member"]);
        assert!(matches!(
            token_info(&json!({"token": {}})),
            Err(Exchange::NoExpiry)
        ));
    }
}

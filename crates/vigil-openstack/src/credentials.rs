//! Keystone v3 credentials, as Vigil's configuration gives them or a `clouds.yaml` names them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::OsError;

/// Keystone v3 credentials (`[openstack]` in Vigil's configuration): a password, or an
/// application credential, given here or taken from a named cloud of a `clouds.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// A cloud of `clouds.yaml` (searched in `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
    /// `~/.config/openstack/`, `/etc/openstack/`); its values fill the fields left empty here.
    pub cloud: String,
    /// e.g. `http://keystone:5000/v3`; empty (and no cloud) means "not configured".
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Empty: any region.
    pub region_name: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// Application credential (used instead of username/password when set).
    pub application_credential_id: String,
    pub application_credential_secret: String,
    /// A PEM file of CA certificates trusted, besides the system's, for Keystone and the
    /// endpoints of its catalog (a cloud's `cacert`); unset: the system's only.
    pub cafile: Option<PathBuf>,
    /// Service type → base URL used instead of the catalog's (keystoneauth's
    /// `endpoint_override`, a `clouds.yaml`'s `<type>_endpoint_override`): for a proxy or a
    /// load balancer the catalog does not name.
    pub endpoint_override: BTreeMap<String, String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            cloud: String::new(),
            auth_url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            region_name: String::new(),
            interface: "public".into(),
            application_credential_id: String::new(),
            application_credential_secret: String::new(),
            cafile: None,
            endpoint_override: BTreeMap::new(),
        }
    }
}

impl Credentials {
    /// Whether Vigil has OpenStack credentials at all.
    pub fn is_configured(&self) -> bool {
        !self.auth_url.is_empty() || !self.cloud.is_empty()
    }

    /// Fills empty fields from the named cloud of the first `clouds.yaml` found.
    pub fn resolve_cloud(mut self) -> Result<Credentials, OsError> {
        if self.cloud.is_empty() {
            return Ok(self);
        }
        let mut candidates = Vec::new();
        if let Ok(p) = std::env::var("OS_CLIENT_CONFIG_FILE") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push("clouds.yaml".into());
        if let Ok(home) = std::env::var("HOME") {
            candidates.push(PathBuf::from(home).join(".config/openstack/clouds.yaml"));
        }
        candidates.push("/etc/openstack/clouds.yaml".into());
        let path = candidates
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| OsError::NoCloudsYaml {
                cloud: self.cloud.clone(),
            })?;
        let text = std::fs::read_to_string(&path).map_err(|source| OsError::ReadCloudsYaml {
            path: path.clone(),
            source,
        })?;
        let doc: Value =
            serde_yaml::from_str(&text).map_err(|source| OsError::ParseCloudsYaml {
                path: path.clone(),
                source,
            })?;
        let cloud = &doc["clouds"][&self.cloud];
        if cloud.is_null() {
            return Err(OsError::NoSuchCloud {
                path,
                cloud: self.cloud,
            });
        }
        self.merge_cloud(cloud);
        Ok(self)
    }

    fn merge_cloud(&mut self, cloud: &Value) {
        let auth = &cloud["auth"];
        let fill = |field: &mut String, value: &Value| {
            if field.is_empty() {
                if let Some(v) = value.as_str() {
                    *field = v.to_owned();
                }
            }
        };
        fill(&mut self.auth_url, &auth["auth_url"]);
        fill(&mut self.username, &auth["username"]);
        fill(&mut self.password, &auth["password"]);
        fill(&mut self.project_name, &auth["project_name"]);
        fill(
            &mut self.application_credential_id,
            &auth["application_credential_id"],
        );
        fill(
            &mut self.application_credential_secret,
            &auth["application_credential_secret"],
        );
        fill(&mut self.region_name, &cloud["region_name"]);
        if self.cafile.is_none() {
            self.cafile = cloud["cacert"].as_str().map(PathBuf::from);
        }
        // Domain names and the interface have defaults; a cloud's values win over them.
        for (field, value) in [
            (&mut self.user_domain_name, &auth["user_domain_name"]),
            (&mut self.project_domain_name, &auth["project_domain_name"]),
            (&mut self.interface, &cloud["interface"]),
        ] {
            if let Some(v) = value.as_str() {
                *field = v.to_owned();
            }
        }
        for (key, value) in cloud.as_object().into_iter().flatten() {
            if let (Some(service), Some(url)) =
                (key.strip_suffix("_endpoint_override"), value.as_str())
            {
                self.endpoint_override
                    .entry(service.to_owned())
                    .or_insert_with(|| url.to_owned());
            }
        }
        if !self.auth_url.is_empty() && !self.auth_url.trim_end_matches('/').ends_with("/v3") {
            self.auth_url = format!("{}/v3", self.auth_url.trim_end_matches('/'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_yaml_fills_what_the_config_leaves_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clouds.yaml");
        std::fs::write(
            &file,
            "clouds:\n  prod:\n    region_name: R1\n    interface: internal\n    auth:\n      \
             auth_url: http://k:5000\n      username: vigil\n      password: pw\n      \
             project_name: service\n      user_domain_name: ops\n    cacert: /etc/ca.pem\n    \
             compute_endpoint_override: http://proxy:8774/v2.1\n",
        )
        .unwrap();
        std::env::set_var("OS_CLIENT_CONFIG_FILE", &file);
        let c = Credentials {
            cloud: "prod".into(),
            password: "from-vigil".into(),
            ..Credentials::default()
        }
        .resolve_cloud()
        .unwrap();
        assert_eq!(c.auth_url, "http://k:5000/v3");
        assert_eq!(
            c.endpoint_override.get("compute").map(String::as_str),
            Some("http://proxy:8774/v2.1")
        );
        assert_eq!(c.username, "vigil");
        assert_eq!(c.password, "from-vigil");
        assert_eq!(c.user_domain_name, "ops");
        assert_eq!(c.project_domain_name, "Default");
        assert_eq!(c.cafile, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            (c.region_name.as_str(), c.interface.as_str()),
            ("R1", "internal")
        );
        let missing = Credentials {
            cloud: "nope".into(),
            ..Credentials::default()
        }
        .resolve_cloud()
        .unwrap_err();
        assert!(
            matches!(&missing, OsError::NoSuchCloud { cloud, .. } if cloud == "nope"),
            "{missing}"
        );
    }
}

//! What `lab/lab env` prints: the admin credentials and the lab's own facts (hosts, image).

use std::collections::HashMap;

use vigil_openstack::nova::ServerCreate;
use vigil_openstack::Credentials;

use crate::LabError;

/// Everything a test needs to know about the running lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabEnv {
    pub credentials: Credentials,
    /// The fake compute hosts, in order (`compute1`, `compute2`, …).
    pub computes: Vec<String>,
    /// The id of the lab's tiny image, for `imageRef`.
    pub image: String,
    /// The id of the lab's small flavor, for `flavorRef`.
    pub flavor: String,
    /// Where the catalog's `instance-ha` entry points (Vigil under test).
    pub vigil_url: String,
    /// Where `lab masakari up` serves the real Masakari's v1 API.
    pub masakari_url: String,
}

impl LabEnv {
    /// Parses the `export NAME=VALUE` lines of `lab/lab env`; other lines are ignored.
    pub fn parse(output: &str) -> Result<LabEnv, LabError> {
        let vars: HashMap<&str, &str> = output
            .lines()
            .filter_map(|line| line.trim().strip_prefix("export "))
            .filter_map(|assignment| assignment.split_once('='))
            .map(|(name, value)| (name.trim(), unquote(value.trim())))
            .collect();
        let get = |name: &'static str| {
            vars.get(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string())
                .ok_or(LabError::EnvMissing { variable: name })
        };
        Ok(LabEnv {
            credentials: Credentials {
                auth_url: get("OS_AUTH_URL")?,
                username: get("OS_USERNAME")?,
                password: get("OS_PASSWORD")?,
                project_name: get("OS_PROJECT_NAME")?,
                user_domain_name: get("OS_USER_DOMAIN_NAME")?,
                project_domain_name: get("OS_PROJECT_DOMAIN_NAME")?,
                region_name: get("OS_REGION_NAME")?,
                ..Credentials::default()
            },
            computes: get("VIGIL_LAB_COMPUTES")?
                .split(',')
                .map(str::to_owned)
                .collect(),
            image: get("VIGIL_LAB_IMAGE")?,
            flavor: get("VIGIL_LAB_FLAVOR")?,
            vigil_url: get("VIGIL_LAB_VIGIL_URL")?,
            masakari_url: get("VIGIL_LAB_MASAKARI_URL")?,
        })
    }
}

impl LabEnv {
    /// A server to boot on the lab: its tiny image and flavor, no network.
    pub fn server(&self, name: impl Into<String>) -> ServerCreate {
        ServerCreate::new(name, &self.image, &self.flavor)
    }

    /// The `VIGIL_OPENSTACK__*` overrides that give a `vigil` process the lab admin's
    /// `[openstack]` credentials.
    pub fn openstack_vars(&self) -> Vec<(&'static str, String)> {
        let c = &self.credentials;
        vec![
            ("VIGIL_OPENSTACK__AUTH_URL", c.auth_url.clone()),
            ("VIGIL_OPENSTACK__USERNAME", c.username.clone()),
            ("VIGIL_OPENSTACK__PASSWORD", c.password.clone()),
            ("VIGIL_OPENSTACK__PROJECT_NAME", c.project_name.clone()),
            ("VIGIL_OPENSTACK__REGION_NAME", c.region_name.clone()),
        ]
    }
}

fn unquote(value: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = r#"# The lab's admin credentials: eval "$(lab/lab env)"
export OS_AUTH_URL=http://127.0.0.1:5000/v3
export OS_USERNAME=admin
export OS_PASSWORD='vigil-lab'
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_IDENTITY_API_VERSION=3
export VIGIL_LAB_COMPUTES=compute1,compute2,compute3
export VIGIL_LAB_VIGIL_URL=http://127.0.0.1:15868
export VIGIL_LAB_MASAKARI_URL=http://127.0.0.1:15869/v1
export VIGIL_LAB_IMAGE=c7527de6-6f16-400e-81c5-730c58efaed1
export VIGIL_LAB_FLAVOR=lab.tiny
"#;

    #[test]
    fn parses_the_lab_env_output() {
        let env = LabEnv::parse(OUTPUT).unwrap();
        assert_eq!(env.credentials.auth_url, "http://127.0.0.1:5000/v3");
        assert_eq!(env.credentials.password, "vigil-lab");
        assert_eq!(env.credentials.user_domain_name, "Default");
        assert_eq!(env.computes, ["compute1", "compute2", "compute3"]);
        assert_eq!(env.image, "c7527de6-6f16-400e-81c5-730c58efaed1");
        assert_eq!(env.flavor, "lab.tiny");
        assert_eq!(env.masakari_url, "http://127.0.0.1:15869/v1");
    }

    #[test]
    fn names_the_first_missing_variable() {
        let before_up = OUTPUT.replace("export VIGIL_LAB_IMAGE=", "# ");
        let err = LabEnv::parse(&before_up).unwrap_err();
        assert!(matches!(
            err,
            LabError::EnvMissing {
                variable: "VIGIL_LAB_IMAGE"
            }
        ));
    }
}

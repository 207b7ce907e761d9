//! The real clients operators use — python-openstackclient with python-masakariclient, and
//! openstacksdk — installed from PyPI into a cached virtualenv, pointed at one Vigil through a
//! `clouds.yaml` using `auth_type: none`.

use super::{succeeded, Vigil};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtualenv with the pinned clients, created on first use (tests/clients/venv.sh).
fn clients_venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/venv.sh");
    let out = succeeded(
        Command::new("bash").arg(script),
        "installing the Python clients (tests/clients/venv.sh)",
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A client environment pointed at one Vigil instance.
#[derive(Clone)]
pub struct Clients {
    venv: PathBuf,
    clouds: PathBuf,
}

impl Clients {
    pub fn new(vigil: &Vigil, dir: &Path) -> Clients {
        Self::for_url(&vigil.url(), dir)
    }

    /// Pointed at the Vigil at `url` (say, `https://…`).
    pub fn for_url(url: &str, dir: &Path) -> Clients {
        let clouds = dir.join("clouds.yaml");
        std::fs::write(
            &clouds,
            format!(
                // `auth.endpoint` is for python-openstackclient (its `none` auth plugin asks it),
                // the override for openstacksdk.
                "clouds:\n  vigil:\n    auth_type: none\n    auth:\n      endpoint: {url}/v1\n    \
                 instance_ha_endpoint_override: {url}/v1\n"
            ),
        )
        .unwrap();
        Clients {
            venv: clients_venv(),
            clouds,
        }
    }

    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.venv.join("bin").join(program));
        // Only our clouds.yaml: an operator's OS_* variables (say, the lab's credentials)
        // would be merged into the auth_type none cloud and break it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("OS_CLIENT_CONFIG_FILE", &self.clouds)
            .env("OS_CLOUD", "vigil");
        cmd
    }

    /// Runs `openstack <line> -f json`, the line split at spaces (none of its arguments has
    /// one), and parses its output.
    pub fn osc_line(&self, line: &str) -> Value {
        self.osc_json(&line.split(' ').collect::<Vec<_>>())
    }

    /// Runs `openstack <args…> -f json` and parses its output; panics with stderr on failure.
    pub fn osc_json(&self, args: &[&str]) -> Value {
        let out = self.osc(args, true);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed non-JSON ({e}): {out}"))
    }

    pub fn osc(&self, args: &[&str], json: bool) -> String {
        let mut cmd = self.command("openstack");
        cmd.args(args);
        if json {
            cmd.args(["-f", "json"]);
        }
        let out = succeeded(&mut cmd, &format!("openstack {args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a Python snippet with openstacksdk connected to the `vigil` cloud as `conn`.
    pub fn sdk(&self, body: &str) -> Value {
        let script =
            format!("import json, openstack\nconn = openstack.connect(cloud='vigil')\n{body}\n");
        let mut python = self.command("python");
        let out = succeeded(
            python.args(["-c", &script]),
            &format!("openstacksdk snippet\n{body}\n"),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("snippet printed non-JSON ({e}): {stdout}"))
    }
}

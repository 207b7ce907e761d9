//! A real corosync + Pacemaker cluster (`lab/cluster`) for the tests of Vigil's Pacemaker
//! agents, the failed-host queue in its attribute manager, and `vigil alerter` reading it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CLUSTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lab/cluster");
const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Runs `lab/cluster ARGS`; its standard output, trimmed.
pub fn cluster(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(CLUSTER).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "lab/cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether Pacemaker is installed; when it is not, says so loudly (and fails under
/// VIGIL_REQUIRE_PACEMAKER=1).
pub fn pacemaker_installed() -> anyhow::Result<bool> {
    if Path::new("/usr/sbin/pacemakerd").exists() {
        return Ok(true);
    }
    anyhow::ensure!(
        std::env::var("VIGIL_REQUIRE_PACEMAKER").as_deref() != Ok("1"),
        "pacemaker is not installed, and VIGIL_REQUIRE_PACEMAKER=1"
    );
    eprintln!(
        "\n*** SKIPPED {}: pacemaker is not installed (apt-get install pacemaker) ***\n",
        vigil_lab::test_name()
    );
    Ok(false)
}

/// A directory with `fence_vigil` (a link to the binary under test) and an `attrd_updater`
/// that runs the real one inside cluster node n1, which the agents find first on their PATH.
pub fn agent_dir(dir: &Path, node_pid: &str) -> anyhow::Result<PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    std::os::unix::fs::symlink(VIGIL, bin.join("fence_vigil"))?;
    let wrapper = bin.join("attrd_updater");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec nsenter -t {node_pid} -m -u -n -- /usr/sbin/attrd_updater \"$@\"\n"
        ),
    )?;
    Command::new("chmod").arg("+x").arg(&wrapper).status()?;
    Ok(bin)
}

/// `PATH` with `bin` first.
pub fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The host's value in the failed-host queue; empty when it has none.
pub fn queue_value(bin: &Path, host: &str) -> anyhow::Result<String> {
    let out = Command::new(bin.join("attrd_updater"))
        .args(["-Q", "-n", "evacuate", "-N", host])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split("value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap_or_default()
        .to_owned())
}

/// Sets the host's value in the failed-host queue, as fence_vigil's `off` does (`yes`).
pub fn queue_set(bin: &Path, host: &str, value: &str) -> anyhow::Result<()> {
    let status = Command::new(bin.join("attrd_updater"))
        .args(["-p", "-n", "evacuate", "-N", host, "-U", value])
        .status()?;
    anyhow::ensure!(status.success(), "attrd_updater -U {value} for {host}");
    Ok(())
}

/// `vigil alerter ARGS` reading node n1's queue; killed (SIGKILL, by its own PID) when
/// dropped.
pub struct Alerter(std::process::Child);

impl Alerter {
    pub fn start(bin: &Path, args: &[&str]) -> anyhow::Result<Alerter> {
        let child = Command::new(VIGIL)
            .arg("alerter")
            .args(["--interval", "1"])
            .args(args)
            .env("PATH", path_with(bin))
            .stdin(Stdio::null())
            .spawn()?;
        Ok(Alerter(child))
    }
}

impl Drop for Alerter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

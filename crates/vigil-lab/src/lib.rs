//! Test support for integration tests that run against the OpenStack lab (`lab/lab`).
//!
//! A test asks for the lab with [`Lab::up`]: the first call in a test process runs `lab/lab up`
//! (which installs on first use, starts what is not running, and serialises concurrent callers
//! with a file lock of its own), later calls reuse the result. [`Lab::connect`] gives a
//! [`Cloud`]: Vigil's own Nova client (`vigil_openstack::nova`) with an admin session, and waits
//! that end at a deadline.
//!
//! Lab tests run only when `VIGIL_LAB=1`; [`enabled_or_skip`] says so loudly otherwise:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! if !vigil_lab::enabled_or_skip("my_test") {
//!     return Ok(());
//! }
//! let lab = vigil_lab::Lab::up().await?;
//! let cloud = lab.connect().await?;
//! let services = cloud.compute_services().await?;
//! # Ok(()) }
//! ```
//!
//! The lab is shared by every test of a run: a test that fails a host (`kill_host`) must revive
//! it, and a test that changes the lab holds its [`Lab::turn`] while it runs, so that no other
//! test, in this process or another, sees the lab half changed.
//!
//! Beside the lab, servers a test may break without disturbing anyone: [`PrivatePostgres`] and
//! [`PrivateMariadb`] run a database of the test's own (crash it, start it again on the same
//! data), and [`TcpProxy`] puts a cuttable loopback hop in front of a shared service (the lab's
//! Keystone), so that it is down for the process under test alone.

mod cloud;
mod env;
mod mariadb;
pub mod pki;
mod postgres;
mod power;
mod private_db;
mod proxy;
mod turn;
mod wait;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

pub use cloud::{Cloud, CloudError, ServerId, ServiceState};
pub use env::LabEnv;
pub use mariadb::PrivateMariadb;
pub use postgres::PrivatePostgres;
pub use power::{GuestImage, IpmiEndpoint, PowerHost, PowerLab, RedfishEndpoint};
pub use private_db::PrivateDbError;
pub use proxy::TcpProxy;
pub use turn::LabTurn;
pub use vigil_openstack::nova::{Server, ServerCreate, Service};
pub use vigil_openstack::Credentials;
pub use wait::{retrying, Check};

/// A failure to run the lab script or to read what it printed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("could not run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}); the end of its output:\n{tail}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        tail: String,
    },
    #[error("reading {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` printed what is not the JSON expected")]
    Parse {
        command: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`lab/lab env` printed no {variable}")]
    EnvMissing { variable: &'static str },
    /// Every caller in the process sees the one attempt's failure.
    #[error("the lab is not up (one attempt per test process)")]
    NotUp {
        #[source]
        source: Arc<LabError>,
    },
    #[error("could not take a turn on the lab (lock file {})", path.display())]
    Turn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` did not finish")]
    Join {
        command: String,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// The running test's name, for the messages that say why it is skipped: the test harness
/// names each test's thread after it (and `#[tokio::test]` runs the body on that thread).
pub fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("this test");
    name.rsplit("::").next().unwrap_or(name).to_owned()
}

/// `true` when lab tests should run (`VIGIL_LAB=1`). Otherwise prints why TEST is skipped.
pub fn enabled_or_skip(test: &str) -> bool {
    if std::env::var("VIGIL_LAB").as_deref() == Ok("1") {
        return true;
    }
    say(&format!(
        "\n*** SKIPPED {test}: needs the OpenStack lab. Run with VIGIL_LAB=1 \
         (scripts/test does); the first run installs the lab (see lab/README.md). ***\n"
    ));
    false
}

/// `true` when Pacemaker's `crm_mon` runs here (Debian's pacemaker-cli-utils). Otherwise TEST
/// fails if `VIGIL_REQUIRE_PACEMAKER=1` (scripts/test sets it), else it is skipped, loudly.
pub fn crm_mon_or_skip(test: &str) -> bool {
    let found = std::process::Command::new("crm_mon")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("VIGIL_REQUIRE_PACEMAKER").as_deref() != Ok("1"),
            "{test}: crm_mon is missing and VIGIL_REQUIRE_PACEMAKER=1 (apt-get install \
             pacemaker-cli-utils)"
        );
        say(&format!(
            "\n*** SKIPPED {test}: crm_mon is missing (apt-get install pacemaker-cli-utils). ***\n"
        ));
    }
    found
}

/// Straight to the process's stderr: the test harness captures `eprintln!` of passing tests,
/// and a skip or a minutes-long install must be seen.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The running lab, as `lab/lab env` describes it.
#[derive(Debug)]
pub struct Lab {
    script: PathBuf,
    env: LabEnv,
}

static LAB: OnceLock<Result<Lab, Arc<LabError>>> = OnceLock::new();

impl Lab {
    /// Brings the lab up once per test process (`lab/lab up`) and reads its credentials.
    pub async fn up() -> Result<&'static Lab, LabError> {
        if let Some(lab) = LAB.get() {
            return Self::shared(lab);
        }
        let command = "lab/lab up".to_owned();
        tokio::task::spawn_blocking(Self::up_blocking)
            .await
            .map_err(|source| LabError::Join { command, source })?
    }

    /// [`Lab::up`] for code outside an async runtime. Blocks for as long as `lab/lab up` runs.
    pub fn up_blocking() -> Result<&'static Lab, LabError> {
        Self::shared(LAB.get_or_init(|| Self::start().map_err(Arc::new)))
    }

    fn shared(lab: &'static Result<Lab, Arc<LabError>>) -> Result<&'static Lab, LabError> {
        lab.as_ref().map_err(|e| LabError::NotUp {
            source: Arc::clone(e),
        })
    }

    fn start() -> Result<Lab, LabError> {
        let script = script_path();
        say("vigil-lab: `lab/lab up` (installs the lab on first use; minutes when cold)");
        let up = run(&script, &["up"])?;
        if let Some(last) = String::from_utf8_lossy(&up.stderr).lines().last() {
            say(&format!("vigil-lab: {last}"));
        }
        let env = run(&script, &["env"])?;
        let env = LabEnv::parse(&String::from_utf8_lossy(&env.stdout))?;
        Ok(Lab { script, env })
    }

    /// Waits until no other test uses the lab, here or in another process; the turn lasts
    /// until the returned guard is dropped. Tests that change the lab (fail hosts, stop
    /// services, disable computes) hold one for as long as they run.
    pub async fn turn() -> Result<LabTurn, LabError> {
        let command = "taking a turn on the lab".to_owned();
        tokio::task::spawn_blocking(turn::take)
            .await
            .map_err(|source| LabError::Join { command, source })?
    }

    /// What `lab/lab env` printed.
    pub fn env(&self) -> &LabEnv {
        &self.env
    }

    /// The fake compute hosts.
    pub fn computes(&self) -> &[String] {
        &self.env.computes
    }

    /// A Nova client with a fresh admin token.
    pub async fn connect(&self) -> Result<Cloud, CloudError> {
        Cloud::connect(&self.env).await
    }

    /// Fails HOST: `kill -9` of its nova-compute. Nova sees it `down` after `service_down_time`.
    pub async fn kill_host(&self, host: &str) -> Result<(), LabError> {
        self.run_async(vec!["kill-host".into(), host.into()]).await
    }

    /// Starts HOST's nova-compute again, clears `forced_down` and re-enables its service (as a
    /// recovery leaves them), and waits until Nova reports it `up`.
    pub async fn revive_host(&self, host: &str) -> Result<(), LabError> {
        self.run_async(vec!["revive-host".into(), host.into()])
            .await
    }

    /// Stops one of the cloud's services (`lab/lab stop-service`), e.g. `nova-api`.
    pub async fn stop_service(&self, name: &str) -> Result<(), LabError> {
        self.run_async(vec!["stop-service".into(), name.into()])
            .await
    }

    /// Starts it again and waits until it answers (`lab/lab start-service`).
    pub async fn start_service(&self, name: &str) -> Result<(), LabError> {
        self.run_async(vec!["start-service".into(), name.into()])
            .await
    }

    /// Starts the real Masakari 22 beside the cloud (`lab/lab masakari up`, with `--fast` its
    /// wait periods lowered), or stops it (`down`).
    pub async fn masakari(&self, args: &[&str]) -> Result<(), LabError> {
        let mut all = vec!["masakari".to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        self.run_async(all).await
    }

    /// Registers `n` compute hosts in Nova that are down (`lab/lab ghosts`): failed hosts for
    /// tests that need many at once. Returns their names.
    pub async fn ghosts(&self, n: usize) -> Result<Vec<String>, LabError> {
        self.run_async(vec!["ghosts".into(), n.to_string()]).await?;
        Ok((1..=n).map(|i| format!("ghost{i}")).collect())
    }

    /// Starts the host's nova-compute again but leaves it forced down and disabled in Nova,
    /// as a repaired host comes back before anything takes it into service.
    pub async fn restart_host_fenced(&self, host: &str) -> Result<(), LabError> {
        self.run_async(vec!["revive-host".into(), host.into(), "--fenced".into()])
            .await
    }

    /// [`Lab::revive_host`] for `Drop` implementations and other synchronous code.
    pub fn revive_host_blocking(&self, host: &str) -> Result<(), LabError> {
        run(&self.script, &["revive-host", host]).map(drop)
    }

    async fn run_async(&self, args: Vec<String>) -> Result<(), LabError> {
        let script = self.script.clone();
        let command = format!("lab/lab {}", args.join(" "));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(&script, &args).map(drop)
        })
        .await
        .map_err(|source| LabError::Join { command, source })?
    }
}

/// `lab/lab` of the workspace under test; `VIGIL_LAB_SCRIPT` overrides it.
///
/// Looked up at run time from the test's package directory (cargo sets `CARGO_MANIFEST_DIR` for
/// tests) or the working directory: a path compiled in would name whichever checkout built
/// the crate, and CI shares one target directory between clones.
fn script_path() -> PathBuf {
    if let Some(script) = std::env::var_os("VIGIL_LAB_SCRIPT") {
        return script.into();
    }
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    starts
        .iter()
        .flatten()
        .flat_map(|start| start.ancestors())
        .map(|dir| dir.join("lab/lab"))
        .find(|script| script.is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/lab"))
}

/// Runs the lab script; a failure carries the end of what it printed.
fn run(script: &PathBuf, args: &[&str]) -> Result<Output, LabError> {
    let command = format!("lab/lab {}", args.join(" "));
    tracing::debug!(%command, "running the lab script");
    let output = Command::new(script)
        .args(args)
        .output()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(output);
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    Err(LabError::Failed {
        command,
        status: output.status,
        tail,
    })
}

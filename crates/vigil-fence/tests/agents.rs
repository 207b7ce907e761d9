//! The fence-agents driver and the topology against real agent processes: small shell scripts
//! that speak the agents' protocol (options on stdin, the answer in the exit code), including
//! ones that hang, fail and talk nonsense.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_domain::{Classify, ErrorClass};
use vigil_fence::drivers::agent::Agent;
use vigil_fence::drivers::Named;
use vigil_fence::topology::{Level, Topology};
use vigil_fence::{FenceError, Fencer, PowerState, Secret, TopologyError};

/// Reads the options as a real agent does; keeps the plug's power in `state_dir/<plug>`.
const GOOD: &str = r#"#!/bin/sh
while IFS='=' read -r key value; do
  case "$key" in
    action) action=$value ;;
    plug) plug=$value ;;
    state_dir) dir=$value ;;
    password) password=$value ;;
  esac
done
if [ "$password" != "s3cret" ]; then echo "Failed: Unable to login" >&2; exit 1; fi
[ -f "$dir/$plug" ] || echo on > "$dir/$plug"
case "$action" in
  off) echo off > "$dir/$plug" ;;
  on) echo on > "$dir/$plug" ;;
  status) [ "$(cat "$dir/$plug")" = on ] && exit 0 || exit 2 ;;
  *) echo "Failed: unsupported action $action" >&2; exit 1 ;;
esac
"#;

/// Starts a helper in its own group, records the group id, then never answers.
const HANGS: &str = r#"#!/bin/sh
while IFS='=' read -r key value; do
  case "$key" in state_dir) dir=$value ;; esac
done
sleep 300 &
echo $$ > "$dir/pgid"
sleep 300
"#;

const FAILS: &str =
    "#!/bin/sh\ncat >/dev/null\necho 'Failed: connection to the BMC dropped' >&2\nexit 1\n";

const GARBAGE: &str =
    "#!/bin/sh\ncat >/dev/null\necho 'Traceback (most recent call last): ???'\nexit 3\n";

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(lab.dir.path().join("password"), "s3cret\n").unwrap();
        lab
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn agent(&self, name: &str, body: &str) -> Named<Agent> {
        let program = self.script(name, body);
        let options = vec![(
            "state_dir".to_owned(),
            self.dir.path().to_string_lossy().into_owned(),
        )];
        let password = Secret::from_file(self.dir.path().join("password"));
        let agent = Agent::new(program.to_string_lossy(), options, Some(password));
        Named::new(name, agent)
    }
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_well_behaved_agent_powers_off_and_on_and_reads_status() {
    let lab = Lab::new();
    let agent = lab.agent("fence_good", GOOD);
    assert_eq!(agent.status("c1", T).await.unwrap(), PowerState::On);
    assert_eq!(agent.off("c1", None, T).await.unwrap(), PowerState::Off);
    assert_eq!(agent.status("c1", T).await.unwrap(), PowerState::Off);
    // The plug is the host: another host's power is untouched.
    assert_eq!(agent.status("c2", T).await.unwrap(), PowerState::On);
    assert_eq!(agent.on("c1", T).await.unwrap(), PowerState::On);
    assert_eq!(agent.status("c1", T).await.unwrap(), PowerState::On);
}

#[tokio::test]
async fn a_wrong_password_is_the_agents_failure_with_its_stderr() {
    let lab = Lab::new();
    std::fs::write(lab.dir.path().join("password"), "wrong\n").unwrap();
    let err = lab
        .agent("fence_good", GOOD)
        .off("c1", None, T)
        .await
        .unwrap_err();
    common::assert_agent_failed(&err, "Unable to login");
}

#[tokio::test]
async fn a_hung_agent_is_killed_with_its_whole_process_group() {
    let lab = Lab::new();
    let agent = lab.agent("fence_hangs", HANGS);
    common::off_times_out(&agent, Duration::from_secs(1), Duration::from_secs(8)).await;
    let pgid: i32 = std::fs::read_to_string(lab.dir.path().join("pgid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The orphaned `sleep` is reaped by init asynchronously: wait for it with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = live_members(pgid);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "group {pgid} still has {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The processes of group `pgid` that are not zombies, from /proc: a zombie waiting for a
/// parent that does not reap (some container inits) runs nothing and holds nothing.
fn live_members(pgid: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) =
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        else {
            continue;
        };
        // Fields after the command's closing parenthesis: state, ppid, pgrp, …
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&pgid.to_string().as_str()) && fields.first() != Some(&"Z") {
            found.push(pid);
        }
    }
    found
}

#[tokio::test]
async fn an_agent_that_exits_1_fails_with_its_stderr() {
    let lab = Lab::new();
    let err = lab
        .agent("fence_fails", FAILS)
        .off("c1", None, T)
        .await
        .unwrap_err();
    assert!(matches!(err, FenceError::AgentFailed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("connection to the BMC dropped"),
        "{err}"
    );
}

#[tokio::test]
async fn an_agent_that_prints_garbage_for_status_is_a_bad_answer() {
    let lab = Lab::new();
    let err = lab
        .agent("fence_garbage", GARBAGE)
        .status("c1", T)
        .await
        .unwrap_err();
    assert!(matches!(err, FenceError::BadAnswer { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_agent_is_unreachable() {
    let lab = Lab::new();
    let program = lab.dir.path().join("fence_absent");
    let agent = Named::new("none", Agent::new(program.to_string_lossy(), vec![], None));
    let err = agent.status("c1", T).await.unwrap_err();
    assert!(matches!(err, FenceError::Unreachable { .. }), "{err:?}");
}

/// A topology of one agent a level, in order: `(name, script)`.
fn topology(lab: &Lab, agents: &[(&str, &str)]) -> Topology {
    let level = |(name, body): &(&str, &str)| Level {
        device: Arc::new(lab.agent(name, body)),
        timeout: T,
    };
    Topology::new(agents.iter().map(level).collect())
}

#[tokio::test]
async fn the_topology_falls_through_to_the_first_level_that_confirms_off() {
    let lab = Lab::new();
    let topology = topology(&lab, &[("fence_fails", FAILS), ("fence_good", GOOD)]);
    let fenced = topology.fence("c1", None).await.unwrap();
    assert_eq!((fenced.device.as_str(), fenced.level), ("fence_good", 1));
    assert_eq!(fenced.tried.len(), 1, "{fenced}");
    assert!(
        fenced.tried[0].starts_with("level 1 fence_fails:"),
        "{fenced}"
    );
    assert_eq!(
        lab.agent("fence_good", GOOD).status("c1", T).await.unwrap(),
        PowerState::Off
    );
}

#[tokio::test]
async fn when_every_level_fails_each_reason_is_kept_in_order() {
    let lab = Lab::new();
    let topology = topology(&lab, &[("fence_fails", FAILS), ("fence_garbage", GARBAGE)]);
    let err = topology.fence("c1", None).await.unwrap_err();
    // For `off` any non-zero exit is the agent's failure, which may pass on the next try.
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    match err {
        TopologyError::AllLevelsFailed { reasons, last, .. } => {
            assert_eq!(reasons.len(), 2, "{reasons:?}");
            assert!(
                reasons[0].starts_with("level 1 fence_fails:"),
                "{reasons:?}"
            );
            assert!(
                reasons[1].starts_with("level 2 fence_garbage:"),
                "{reasons:?}"
            );
            assert!(last.is_some());
        }
        other => panic!("wanted AllLevelsFailed, got {other:?}"),
    }
    let empty = Topology::new(vec![]).fence("c1", None).await.unwrap_err();
    assert!(matches!(empty, TopologyError::NoDevice { .. }), "{empty:?}");
}

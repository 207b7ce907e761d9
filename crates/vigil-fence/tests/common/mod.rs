//! What several of the fencing tests check the same way.

// Each test binary uses what it needs of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};
use vigil_fence::{FenceError, Fencer};

/// `off` of `host` through `device` with `timeout` gives up with `TimedOut`, and does so
/// within `within` (the process it ran was stopped, not waited for).
pub async fn off_times_out(device: &dyn Fencer, timeout: Duration, within: Duration) {
    let started = Instant::now();
    let err = device.off("c1", None, timeout).await.unwrap_err();
    assert!(matches!(err, FenceError::TimedOut { .. }), "{err:?}");
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
}

/// A password kept in a file, as the configuration names one; the file goes with the
/// directory returned.
pub fn password_file(password: &str) -> (tempfile::TempDir, vigil_fence::Secret) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pw");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    (dir, vigil_fence::Secret::from_file(path))
}

/// `err` is the agent's failure, and the tail of its stderr says `wanted`.
pub fn assert_agent_failed(err: &FenceError, wanted: &str) {
    match err {
        FenceError::AgentFailed { stderr_tail, .. } => {
            assert!(stderr_tail.contains(wanted), "{err}")
        }
        other => panic!("wanted AgentFailed, got {other:?}"),
    }
}

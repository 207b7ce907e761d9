//! The lab's power devices (`lab/lab power up`): where tests find them, and the switch that says
//! whether they run (`VIGIL_POWER_LAB=1`, set by scripts/test).

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab/lab")
}

/// `lab/lab power status --format json`, or `None` (said loudly) without the power lab.
pub fn power_lab(test: &str) -> Option<Value> {
    if std::env::var("VIGIL_POWER_LAB").as_deref() != Ok("1") {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPED {test}: VIGIL_POWER_LAB is not 1 (run `lab/lab power up`, then set it) !!!\n"
        );
        return None;
    }
    let out = Command::new(lab_script())
        .args(["power", "status", "--format", "json"])
        .output()
        .expect("running lab/lab power status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("power status JSON"))
}

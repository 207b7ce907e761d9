//! A domain of the power lab's real libvirtd (`lab/lab power up`) for the libvirt monitors'
//! tests, with the lab's turn that keeps other tests off it.

use super::wait_for;
use std::time::Duration;
use vigil_lab::{Lab, LabTurn, PowerLab};

/// How long a domain may take to reach a state.
const DEADLINE: Duration = Duration::from_secs(20);

/// The lab domain a test works on; turned back on when dropped.
pub struct Domain {
    pub name: String,
    pub uuid: String,
    pub uri: String,
}

impl Domain {
    pub fn of(lab: &PowerLab) -> Domain {
        let host = lab.hosts.last().expect("a lab host");
        let domain = Domain {
            name: host.name.clone(),
            uuid: host.uuid.clone(),
            uri: lab.libvirt_uri.clone(),
        };
        domain.on();
        domain
    }

    pub fn on(&self) {
        PowerLab::power_on(&self.name).expect("lab/lab power on");
        assert_eq!(self.domstate(), "running");
    }

    pub fn virsh(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("virsh")
            .arg("-c")
            .arg(&self.uri)
            .args(args)
            .arg(&self.name)
            .output()
            .expect("virsh runs");
        assert!(
            out.status.success(),
            "virsh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn domstate(&self) -> String {
        self.virsh(&["domstate"])
    }

    /// kill -9 of the domain's qemu.
    pub fn kill_qemu(&self) {
        kill_qemu(&self.name);
    }

    /// Waits until libvirt says `state`.
    pub async fn wait_state(&self, state: &str) {
        let never = || format!("{} never {state}", self.name);
        wait_for(DEADLINE, || self.domstate() == state, never).await;
    }
}

/// kill -9 of domain `name`'s qemu, found by its `-name guest=NAME,` argument.
pub fn kill_qemu(name: &str) {
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let mut args = c.split(|b| *b == 0).map(String::from_utf8_lossy);
                args.next().is_some_and(|a| a.contains("qemu-system"))
                    && args.any(|a| a.starts_with(&format!("guest={name},")))
            })
        })
        .expect("the domain's qemu");
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A test's turn on the lab, its domain (turned on), and a directory of its own.
pub struct Case {
    pub lab: PowerLab,
    pub domain: Domain,
    pub dir: tempfile::TempDir,
    /// Last: the domain is turned back on within the turn.
    _turn: LabTurn,
}

impl Case {
    /// `None` (said loudly) without the power lab.
    pub async fn take() -> Option<Case> {
        let lab = PowerLab::for_test()?;
        let turn = Lab::turn().await.unwrap();
        Some(Case {
            domain: Domain::of(&lab),
            lab,
            dir: tempfile::tempdir().unwrap(),
            _turn: turn,
        })
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        if let Err(e) = PowerLab::power_on(&self.name) {
            eprintln!("turning {} back on: {e}", self.name);
        }
    }
}

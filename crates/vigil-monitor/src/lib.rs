//! Vigil's compute-node monitors, and the sender that delivers what they report.
//!
//! Every monitor is a reconciler ([`runner::Reconciler`]): on each tick, or when woken, it
//! observes, compares with the last state it persisted (`vigil_outbox::StateFile`), acts
//! locally, and appends what must be reported to the outbox. A monitor never sends: `sender`'s
//! [`sender::ApiSink`] is what a `vigil_outbox::Dispatcher` delivers through, in a process of
//! its own (`vigil monitor send`). Each monitor writes a small JSON status file ([`status`])
//! that `vigil monitor status` reads from another process.
//!
//! - `instance`: libvirt domain events (lifecycle, reboot, watchdog, I/O errors, control
//!   errors) reported `VM` as masakari-monitors' instancemonitor does, with the stops that
//!   happened while it was not listening found by listing the domains after each connect.
//! - `guest`: `guest-ping` to the QEMU guest agent of the domains that opted in, reported
//!   `VM` / `QEMU_GUEST_AGENT_ERROR` once per failure episode, as masakari-monitors'
//!   introspective instance monitor does.
//! - `host`: compute hosts that go down and come back (`COMPUTE_HOST`), from a driver's
//!   membership view: `host::pacemaker` reads `crm_mon`; reported only with quorum, `NORMAL`
//!   only once the fencing is seen.
//! - `process`: processes listed in Masakari's `process_list.yaml`, restarted locally, reported
//!   `PROCESS`/`STOPPED` past the retries and `STARTED` when back.
//! - `gossip`: the host monitor's driver without Pacemaker: SWIM membership among the
//!   monitors, a host declared down reported `COMPUTE_HOST` by the majority that saw it.
//!
//! Nothing here depends on the store, the engine or the API: compute nodes run only this.
//! With the `cli` feature, [`cli`] holds the commands, and the `vigil-monitor` binary runs them
//! without the rest of Vigil.

#[cfg(feature = "cli")]
pub mod cli;
pub mod gossip;
#[cfg(feature = "libvirt")]
pub mod guest;
pub mod host;
#[cfg(feature = "libvirt")]
pub mod instance;
pub mod journal;
pub mod process;
pub mod runner;
pub mod sender;
pub mod status;

/// This machine's host name, as masakari-monitors reports it (Python's `socket.gethostname()`).
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Whether this process runs as root: its effective uid, from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let uids = s.lines().find_map(|l| l.strip_prefix("Uid:"))?.to_owned();
            uids.split_whitespace().nth(1).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

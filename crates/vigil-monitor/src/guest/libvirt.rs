//! The guest-agent monitor's libvirt calls, over the instance monitor's [`Session`]: the
//! active domains with an agent channel, and `guest-ping` through libvirt's
//! `virDomainQemuAgentCommand` (libvirt speaks the agent protocol on the channel's socket).
//! Every call blocks: the monitor makes them off the runtime's threads.

use super::decide::agent_channel_path;
use crate::instance::libvirt::Session;
use regex::Regex;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::sys;

/// A failed libvirt call; libvirt's message is the source.
#[derive(Debug, thiserror::Error)]
pub enum GuestLibvirtError {
    #[error("listing the active domains")]
    List(#[source] virt::error::Error),
}

/// An active domain whose agent is watched.
pub struct Watched {
    pub uuid: String,
    pub name: String,
    /// libvirt's id for this run of the domain: a new one means it started again.
    pub id: u32,
    /// Running: pinged. Paused or otherwise held, it is not, and keeps what was known of it
    /// (as masakari-monitors pings running domains only).
    pub running: bool,
    pub domain: Domain,
}

/// The active domains with a bound guest-agent channel whose socket path `pattern` matches
/// from its start (masakari-monitors' `qemu_guest_agent_sock_path`, `re.match`). A domain that
/// stops or goes while it is read is left out.
pub fn watched_domains(
    session: &Session,
    pattern: &Regex,
) -> Result<Vec<Watched>, GuestLibvirtError> {
    let flags = sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE;
    let domains = session
        .connection()
        .list_all_domains(flags)
        .map_err(GuestLibvirtError::List)?;
    let mut watched = Vec::new();
    for domain in domains {
        let (Ok(xml), Some(id), Ok(uuid), Ok(name)) = (
            domain.xml_desc(0),
            domain.id(),
            domain.uuid_string(),
            domain.name(),
        ) else {
            continue;
        };
        let opted_in = agent_channel_path(&xml)
            .is_some_and(|path| pattern.find(&path).is_some_and(|m| m.start() == 0));
        if opted_in {
            let running = matches!(domain.state(), Ok((Enum::Known(DomainState::Running), _)));
            watched.push(Watched {
                uuid,
                name,
                id,
                running,
                domain,
            });
        }
    }
    Ok(watched)
}

/// `guest-ping` to the domain's agent, waiting at most `timeout_secs` for its answer.
pub fn ping(domain: &Domain, timeout_secs: i32) -> Result<(), virt::error::Error> {
    domain
        .qemu_agent_command(r#"{"execute":"guest-ping"}"#, timeout_secs, 0)
        .map(drop)
}

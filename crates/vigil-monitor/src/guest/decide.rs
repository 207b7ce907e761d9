//! The guest-agent monitor's decisions, without I/O: what one observation of a domain's agent
//! (a ping answered or not, the domain started) does to what the monitor knows of it, and
//! whether that is the moment to report, and which domains are watched at all.
//!
//! As masakari-monitors' introspective monitor: an agent is judged only once it has answered
//! (a guest still booting, or one without an agent, is never reported); then consecutive
//! failures are counted and one report is made per failure episode. Two differences, both
//! on purpose: the report comes when the failures reach the threshold (masakari-monitors
//! compares before it counts, so it reports at the threshold's second failure past it), and
//! an agent that answers again ends the episode (masakari-monitors stays silent about the
//! domain until its next lifecycle start).

use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

/// The virtio-serial port name QEMU's guest agent listens on, and libvirt talks to.
pub const AGENT_CHANNEL: &str = "org.qemu.guest_agent.0";

/// Where a domain's agent stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Not answered since the domain started: not judged yet.
    #[default]
    Discovery,
    /// Answered at the last ping.
    Healthy,
    /// Failed `failures` pings in a row, fewer than the threshold.
    Failing,
    /// Reported; nothing more until it answers or the domain starts again.
    Reported,
}

/// What the monitor knows of one domain's agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub phase: Phase,
    /// Consecutive failed pings since it last answered.
    pub failures: u32,
}

/// One thing seen of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The agent answered `guest-ping`.
    Answered,
    /// It did not (an error or the timeout).
    Failed,
    /// The domain started (a lifecycle `STARTED` event, or a new libvirt domain id).
    Started,
}

/// The agent after `seen`, and whether to report it now (`failure_threshold` ≥ 1).
pub fn step(agent: Agent, seen: Observation, failure_threshold: u32) -> (Agent, bool) {
    use Phase::*;
    match (agent.phase, seen) {
        (_, Observation::Started) => (Agent::default(), false),
        (_, Observation::Answered) => (
            Agent {
                phase: Healthy,
                failures: 0,
            },
            false,
        ),
        (Discovery, Observation::Failed) => (agent, false),
        (Reported, Observation::Failed) => (
            Agent {
                phase: Reported,
                failures: agent.failures.saturating_add(1),
            },
            false,
        ),
        (Healthy | Failing, Observation::Failed) => {
            let failures = agent.failures.saturating_add(1);
            let report = failures >= failure_threshold.max(1);
            let phase = if report { Reported } else { Failing };
            (Agent { phase, failures }, report)
        }
    }
}

/// The source path of the domain's guest-agent channel, from its XML: a `<channel>` whose
/// `<target>` is named [`AGENT_CHANNEL`] and whose `<source>` libvirt binds (`mode='bind'`,
/// as masakari-monitors requires). `None` when it has none, or the XML does not parse.
pub fn agent_channel_path(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    // Inside a <channel>: its target's name and its bound source path so far.
    let mut channel: Option<(Option<String>, Option<String>)> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.name().as_ref() == b"channel" => channel = Some((None, None)),
            Event::Start(e) | Event::Empty(e) => {
                if let Some((name, path)) = channel.as_mut() {
                    match e.name().as_ref() {
                        b"target" => *name = attr(&e, b"name"),
                        b"source" if attr(&e, b"mode").as_deref() == Some("bind") => {
                            *path = attr(&e, b"path")
                        }
                        _ => {}
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"channel" => {
                if let Some((Some(name), Some(path))) = channel.take() {
                    if name == AGENT_CHANNEL {
                        return Some(path);
                    }
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn attr(e: &BytesStart, key: &[u8]) -> Option<String> {
    let a = e.try_get_attribute(key).ok()??;
    Some(a.unescape_value().ok()?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::Observation::*;
    use super::Phase::*;
    use super::*;

    const fn at(phase: Phase, failures: u32) -> Agent {
        Agent { phase, failures }
    }

    #[test]
    fn each_observation_moves_the_agent_and_reports_once_per_episode() {
        // (before, observation, threshold, after, report)
        let table = [
            // Not judged before it has answered once: booting, or no agent inside.
            (at(Discovery, 0), Failed, 3, at(Discovery, 0), false),
            (at(Discovery, 0), Answered, 3, at(Healthy, 0), false),
            (at(Healthy, 0), Answered, 3, at(Healthy, 0), false),
            // Consecutive failures, reported when they reach the threshold.
            (at(Healthy, 0), Failed, 3, at(Failing, 1), false),
            (at(Failing, 1), Failed, 3, at(Failing, 2), false),
            (at(Failing, 2), Failed, 3, at(Reported, 3), true),
            (at(Healthy, 0), Failed, 1, at(Reported, 1), true),
            // A threshold of 0 is taken as 1: a report needs a failure.
            (at(Healthy, 0), Failed, 0, at(Reported, 1), true),
            // An answer between failures starts the count again.
            (at(Failing, 2), Answered, 3, at(Healthy, 0), false),
            // Once reported, silence until the episode ends…
            (at(Reported, 3), Failed, 3, at(Reported, 4), false),
            (
                at(Reported, u32::MAX),
                Failed,
                3,
                at(Reported, u32::MAX),
                false,
            ),
            // …by an answer (a later failure run is a new episode) or a start.
            (at(Reported, 7), Answered, 3, at(Healthy, 0), false),
            (at(Reported, 7), Started, 3, at(Discovery, 0), false),
            (at(Failing, 2), Started, 3, at(Discovery, 0), false),
            (at(Healthy, 0), Started, 3, at(Discovery, 0), false),
        ];
        for (before, seen, threshold, after, report) in table {
            assert_eq!(
                step(before, seen, threshold),
                (after, report),
                "{before:?} + {seen:?} (threshold {threshold})"
            );
        }
    }

    #[test]
    fn an_episode_is_reported_once_and_a_start_opens_a_new_one() {
        let mut agent = Agent::default();
        let mut reports = 0;
        let seen = [
            Answered, Failed, Failed, Failed, Failed, Failed, Started, Failed,
        ]
        .into_iter()
        .chain([Answered, Failed, Failed, Failed]);
        for s in seen {
            let (next, report) = step(agent, s, 3);
            agent = next;
            reports += u32::from(report);
        }
        assert_eq!((reports, agent), (2, at(Reported, 3)));
    }

    #[test]
    fn the_agent_channel_is_the_bound_virtio_port_of_its_name() {
        let nova = r#"<domain><devices>
            <channel type='pty'><target type='serial' port='0'/></channel>
            <channel type='unix'>
              <source mode='bind' path='/var/lib/libvirt/qemu/org.qemu.guest_agent.0.instance-00000004.sock'/>
              <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
              <alias name='channel0'/>
            </channel></devices></domain>"#;
        let other = r#"<domain><devices><channel type='unix'>
              <source mode='bind' path='/run/x.sock'/>
              <target type='virtio' name='org.example.other'/></channel>
            <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
            </devices></domain>"#;
        let connect_mode = r#"<domain><devices><channel type='unix'>
              <source mode='connect' path='/run/ga.sock'/>
              <target type='virtio' name='org.qemu.guest_agent.0'/></channel></devices></domain>"#;
        let table = [
            (
                nova,
                Some("/var/lib/libvirt/qemu/org.qemu.guest_agent.0.instance-00000004.sock"),
            ),
            (other, None),
            (connect_mode, None),
            ("<domain><devices/></domain>", None),
            ("<domain><devices><channel", None),
        ];
        for (xml, path) in table {
            assert_eq!(agent_channel_path(xml).as_deref(), path, "{xml}");
        }
    }
}

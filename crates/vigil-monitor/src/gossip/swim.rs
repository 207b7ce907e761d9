//! One SWIM member: foca's protocol state driven by a UDP socket and a timer queue.
//!
//! foca does no I/O: it is handed datagrams and due timers and answers with datagrams to send,
//! timers to schedule and membership notifications ([`AccumulatingRuntime`]). [`Swim::step`]
//! waits for one input, feeds it to foca and carries out what foca asked. Until it knows any
//! member, it announces itself to the seeds every probe period; afterwards foca's own
//! periodic announces, gossip and announces to down members keep the membership whole.
//!
//! foca 2.0, when a suspicion's timer ends, checks that the suspect did not refute it before
//! declaring it down, but sends it "you are down" (`TurnUndead`) whether or not the check
//! passed. A member that refuted in time thus takes itself for down and rejoins under a
//! renewed identity, declaring its old one down; under loss, with suspicions refuted every
//! few seconds, members rejoined as often, and a member that heard of an old identity's
//! `Down` before of the new one saw the host stop. [`Swim::fire`] hands foca a suspicion's
//! timer only while the suspicion stands, as SWIM means.

use super::view::Liveness;
use foca::{
    AccumulatingRuntime, Foca, Identity, NoCustomBroadcast, OwnedNotification, PostcardCodec,
    State, Timer,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU8, NonZeroUsize};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// A member's identity on the wire: its host name, its address, and a number that grows each
/// time it (re)joins, so that a restarted or wrongly declared down member comes back under an
/// identity that wins over its old one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
    pub bump: u64,
}

impl Identity for Peer {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Peer {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// The failure detector's timing. Detection takes about a probe period until some member
/// probes the dead one, a probe period for the probe to fail, the suspicion timeout, then the
/// confirmation delay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// How often each member probes another, chosen round-robin (0.25 s).
    pub probe_period: Duration,
    /// How long a direct probe waits for its ack before asking others to probe (0.1 s).
    pub probe_rtt: Duration,
    /// Members asked to probe indirectly when the direct probe got no ack (3).
    pub indirect_probes: usize,
    /// Lifeguard's (and memberlist's) suspicion multiplier: a suspect is declared down after
    /// `multiplier × max(1, log10(members)) × probe_period` unless it refutes (7, with the
    /// short period: 1.75 s for up to 10 members; memberlist's LAN profile has 4 × 1 s).
    pub suspicion_multiplier: u32,
    /// How often a member with news sends it to 3 others besides the probes (0.1 s).
    pub gossip_interval: Duration,
    /// The number of members expected, for the suspicion timeout and how many times each
    /// update is passed on.
    pub expected_members: u32,
    /// How long a host must stay down before it is reported, time for a member wrongly
    /// declared down to come back first (see `view`) (0.4 s).
    pub confirm: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_period: Duration::from_millis(250),
            probe_rtt: Duration::from_millis(100),
            indirect_probes: 3,
            suspicion_multiplier: 7,
            gossip_interval: Duration::from_millis(100),
            expected_members: 8,
            confirm: Duration::from_millis(400),
        }
    }
}

impl Timing {
    /// How long a suspect has to refute before it is declared down.
    pub fn suspicion(&self) -> Duration {
        let scale = f64::from(self.expected_members.max(1)).log10().max(1.0);
        self.probe_period
            .mul_f64(scale * f64::from(self.suspicion_multiplier))
    }

    /// A member that heard from nobody this long counts itself isolated. A live member hears
    /// an ack or a probe nearly every probe period; three periods stay below the earliest a
    /// suspicion can end (one period plus the timeout, at least three periods), so a member
    /// whose own link failed knows it before it declares anyone down.
    pub fn quiet_limit(&self) -> Duration {
        self.probe_period * 3
    }

    /// How long a host must have sent this member nothing before it reports it stopped: the
    /// suspicion timeout and the confirmation delay, which a dead host has been silent for by
    /// the time it can be reported anyway (see `view`).
    pub fn silence(&self) -> Duration {
        self.suspicion() + self.confirm
    }

    /// What is wrong with these settings, if anything.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.probe_rtt.is_zero() || self.probe_rtt >= self.probe_period {
            return Err("the probe timeout must be above zero and below the probe period");
        }
        if self.suspicion_multiplier < 3 {
            return Err("the suspicion multiplier must be at least 3 (see Timing::quiet_limit)");
        }
        if self.indirect_probes == 0 || self.gossip_interval.is_zero() {
            return Err("indirect probes and the gossip interval must be above zero");
        }
        Ok(())
    }

    /// foca's settings: its LAN profile (memberlist's), with these timings. Each update is
    /// passed on at least 6 times, more than the LAN profile gives a small cluster, so that a
    /// refutation gets through a lossy network before the suspicion ends.
    fn foca_config(&self) -> foca::Config {
        let members = NonZeroU32::new(self.expected_members.max(1)).unwrap_or(NonZeroU32::MIN);
        let mut config = foca::Config::new_lan(members);
        config.probe_period = self.probe_period;
        config.probe_rtt = self.probe_rtt;
        config.num_indirect_probes =
            NonZeroUsize::new(self.indirect_probes).unwrap_or(NonZeroUsize::MIN);
        config.suspect_to_down_after = self.suspicion();
        config.max_transmissions = config
            .max_transmissions
            .max(NonZeroU8::new(6).unwrap_or(NonZeroU8::MIN));
        if let Some(gossip) = config.periodic_gossip.as_mut() {
            gossip.frequency = self.gossip_interval;
        }
        config
    }
}

/// foca's generator, for choosing members to probe and gossip to: nothing secret rides on
/// it, so a small one seeded from the clock does.
fn rng() -> SmallRng {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    SmallRng::seed_from_u64(nanos ^ u64::from(std::process::id()))
}

/// The SWIM member.
pub struct Swim {
    foca: Foca<Peer, PostcardCodec, SmallRng, NoCustomBroadcast>,
    runtime: AccumulatingRuntime<Peer>,
    socket: UdpSocket,
    timing: Timing,
    seeds: Vec<SocketAddr>,
    next_announce: Instant,
    /// foca's timers by due time then order of submission, which foca relies on.
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, Timer<Peer>>,
    submitted: u64,
    last_heard: Option<Instant>,
    /// When a datagram last came from each address.
    heard_from: HashMap<SocketAddr, Instant>,
    buf: Vec<u8>,
}

impl Swim {
    /// A member named `name` on `socket` (its local address is the member's address), joining
    /// through `seeds`.
    pub fn new(
        name: String,
        socket: UdpSocket,
        seeds: Vec<SocketAddr>,
        timing: Timing,
    ) -> std::io::Result<Self> {
        let addr = socket.local_addr()?;
        // A restarted member's identity must win over the one it had: the clock grows.
        let bump = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(1);
        let config = timing.foca_config();
        let buf = vec![0; config.max_packet_size.get()];
        let me = Peer { name, addr, bump };
        let foca = Foca::new(me, config, rng(), PostcardCodec);
        Ok(Swim {
            foca,
            runtime: AccumulatingRuntime::new(),
            socket,
            timing,
            seeds: seeds.into_iter().filter(|s| *s != addr).collect(),
            next_announce: Instant::now(),
            timers: BinaryHeap::new(),
            pending: HashMap::new(),
            submitted: 0,
            last_heard: None,
            heard_from: HashMap::new(),
            buf,
        })
    }

    /// This member's identity.
    pub fn identity(&self) -> &Peer {
        self.foca.identity()
    }

    /// Waits for a datagram, a due timer or the next announce, but not past `until`; returns
    /// whether foca said a member came up, went down or was renamed.
    pub async fn step(&mut self, until: Instant) -> std::io::Result<bool> {
        let due = self
            .timers
            .peek()
            .map(|Reverse((at, _))| *at)
            .into_iter()
            .chain([self.next_announce, until])
            .min()
            .unwrap_or(until);
        let mut rejoined = false;
        tokio::select! {
            received = self.socket.recv_from(&mut self.buf) => {
                let (len, from) = received?;
                let quiet = self.timing.quiet_limit();
                if self.last_heard.is_some_and(|at| at.elapsed() > quiet) {
                    self.rejoin();
                    rejoined = true;
                }
                self.last_heard = Some(Instant::now());
                self.heard_from.insert(from, Instant::now());
                let result = self.foca.handle_data(&self.buf[..len], &mut self.runtime);
                if let Err(e) = result {
                    tracing::debug!(error = %e, "a datagram foca refused");
                }
            }
            () = tokio::time::sleep_until(due) => self.fire(Instant::now()),
        }
        Ok(self.flush().await || rejoined)
    }

    /// Starts afresh under a renewed identity, forgetting what it saw while it heard nobody:
    /// suspicions it could not spread (the suspects never learnt of them, so never refuted)
    /// would otherwise end in verdicts against live members once its link is back. It
    /// announces to the seeds and takes the membership from their answer.
    fn rejoin(&mut self) {
        let me = self.foca.identity();
        let me = me.renew().unwrap_or_else(|| me.clone());
        tracing::warn!(
            bump = me.bump,
            "heard again after hearing nobody: rejoining afresh"
        );
        let config = self.timing.foca_config();
        self.foca = Foca::new(me, config, rng(), PostcardCodec);
        self.runtime = AccumulatingRuntime::new();
        self.timers.clear();
        self.pending.clear();
        self.next_announce = Instant::now();
    }

    /// Hands foca its due timers, and announces to the seeds if it knows no member.
    fn fire(&mut self, now: Instant) {
        while let Some(Reverse((at, n))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(timer) = self.pending.remove(&n) else {
                continue;
            };
            if let Timer::ChangeSuspectToDown {
                member_id,
                incarnation,
                ..
            } = &timer
            {
                if !self.still_suspect(member_id, *incarnation) {
                    // Refuted (or renamed) in time: foca would declare nothing, but it would
                    // still send the member "you are down", which makes a live member rejoin
                    // under a new identity and its old one be gossiped down (see `Swim`).
                    continue;
                }
            }
            if matches!(timer, Timer::ChangeSuspectToDown { .. }) && !self.hearing() {
                // Hearing nobody, this member is the likelier one cut off: its suspicions
                // wait, each a full timeout again, so that it does not declare the others
                // down and, its link back, spread those verdicts to the members it wronged.
                // (Lifeguard's local health awareness slows a member's verdicts likewise.)
                self.schedule(now + self.timing.suspicion(), timer);
                continue;
            }
            if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                tracing::debug!(error = %e, "a foca timer failed");
            }
        }
        if now >= self.next_announce {
            self.next_announce = now + self.timing.probe_period;
            if self.foca.num_members() == 0 {
                for seed in &self.seeds {
                    let seed = Peer {
                        name: String::new(),
                        addr: *seed,
                        bump: 0,
                    };
                    if let Err(e) = self.foca.announce(seed, &mut self.runtime) {
                        tracing::debug!(error = %e, "announcing to a seed failed");
                    }
                }
            }
        }
    }

    /// Whether the suspicion of `id` at `incarnation` still stands: foca knows `id` (not a
    /// renewed identity of its host) at that incarnation, so the member did not refute it.
    /// foca's own check before declaring it down, which foca makes but then sends the
    /// member "you are down" even when the check failed.
    fn still_suspect(&self, id: &Peer, incarnation: foca::Incarnation) -> bool {
        self.foca
            .iter_membership_state()
            .any(|m| m.id() == id && m.incarnation() == incarnation)
    }

    /// Sends what foca asked, queues its timers; whether the membership changed.
    async fn flush(&mut self) -> bool {
        while let Some((to, data)) = self.runtime.to_send() {
            // A link down fails a send; SWIM treats it as the loss it is.
            if let Err(e) = self.socket.send_to(&data, to.addr).await {
                tracing::debug!(to = %to.addr, error = %e, "a datagram was not sent");
            }
        }
        let now = Instant::now();
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.schedule(now + after, timer);
        }
        let mut changed = false;
        while let Some(notification) = self.runtime.to_notify() {
            match notification {
                OwnedNotification::MemberUp(p) => {
                    tracing::info!(member = %p.name, addr = %p.addr, "member up")
                }
                OwnedNotification::MemberDown(p) => {
                    tracing::warn!(member = %p.name, addr = %p.addr, "member down")
                }
                OwnedNotification::Rejoin(p) => {
                    tracing::warn!(bump = p.bump, "declared down by the others: rejoined")
                }
                OwnedNotification::Idle => tracing::warn!("no member up"),
                _ => {}
            }
            changed = true;
        }
        changed
    }

    fn schedule(&mut self, at: Instant, timer: Timer<Peer>) {
        self.submitted += 1;
        self.timers.push(Reverse((at, self.submitted)));
        self.pending.insert(self.submitted, timer);
    }

    /// Every member foca knows but this one, and how it sees it.
    pub fn members(&self) -> impl Iterator<Item = (&Peer, Liveness)> {
        self.foca.iter_membership_state().map(|m| {
            let liveness = match m.state() {
                State::Alive => Liveness::Up,
                State::Suspect => Liveness::Suspect,
                State::Down => Liveness::Down,
            };
            (m.id(), liveness)
        })
    }

    /// Whether a datagram from `addr` arrived within the silence limit.
    pub fn heard_from(&self, addr: SocketAddr) -> bool {
        self.heard_from
            .get(&addr)
            .is_some_and(|at| at.elapsed() < self.timing.silence())
    }

    /// Whether a datagram arrived within the quiet limit.
    pub fn hearing(&self) -> bool {
        self.last_heard
            .is_some_and(|at| at.elapsed() <= self.timing.quiet_limit())
    }
}

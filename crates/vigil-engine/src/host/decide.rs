//! The decisions of one server's evacuation, as a state machine without I/O: given Nova's
//! migration records and the answers to the engine's requests, when to issue an evacuation,
//! when to wait, when to reset a stuck server, when to give up; and once Nova says the
//! evacuation is done, when the server has settled and what must be restored. The driver in
//! `evacuate.rs` does the I/O these decisions ask for.

use crate::nova::{Migration, Server};
use vigil_domain::Timestamp;

/// One server's evacuation under one strategy (its attempt budget is its own: under
/// `auto_priority`/`rh_priority` the fallback strategy gets a fresh budget).
#[derive(Clone, Debug)]
pub struct Evacuation {
    budget: u32,
    /// Evacuations older than this belong to an earlier failure and prove nothing.
    since: Timestamp,
    /// Failed evacuations since this count against this budget.
    began: Timestamp,
    issued: u32,
    failed_before: u32,
    reset: bool,
    last_status: Option<String>,
}

/// What to do after looking at the server's migration records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The newest evacuation succeeded: wait for the server to settle on its new host.
    Confirm,
    /// An evacuation is under way: look again at the next snapshot.
    Wait,
    /// No live evacuation: issue one.
    Issue,
    GiveUp(String),
}

/// Nova's answer to an evacuate request, as the decisions need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    /// The server no longer exists.
    Gone,
    /// Worth asking again at the next snapshot.
    Transient,
    /// 409; `rebuilding` when the server's task state shows an evacuation Nova has already
    /// accepted but the migration list does not show yet.
    Conflict {
        rebuilding: bool,
        message: String,
    },
    Refused(String),
}

/// What to do after Nova answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterIssue {
    /// Watch the next snapshot taken after this moment.
    Watch,
    Gone,
    /// The server is stuck in a state evacuation does not accept; `error` is one it always
    /// accepts. Done at most once per server.
    ResetToError,
    GiveUp(String),
}

impl Evacuation {
    /// `reported`: when the failure report arrived; `now`: when this strategy starts.
    pub fn new(budget: u32, reported: Timestamp, now: Timestamp) -> Self {
        Evacuation {
            budget,
            since: reported.saturating_sub_secs(1),
            began: now.saturating_sub_secs(1),
            issued: 0,
            failed_before: 0,
            reset: false,
            last_status: None,
        }
    }

    /// Decides from the server's migration records (newest first).
    pub fn observe(&mut self, migrations: &[&Migration]) -> Next {
        let recent: Vec<&Migration> = migrations
            .iter()
            .copied()
            .filter(|m| m.created_at.is_none_or(|t| t >= self.since))
            .collect();
        if let Some(m) = recent.first() {
            self.last_status = Some(m.status.clone());
            if m.succeeded() {
                return Next::Confirm;
            }
            if !m.failed() {
                self.issued = self.issued.max(1);
                return Next::Wait;
            }
        }
        self.failed_before = recent
            .iter()
            .filter(|m| m.failed() && m.created_at.is_none_or(|t| t >= self.began))
            .count() as u32;
        let attempts = self.issued.max(self.failed_before);
        if attempts >= self.budget {
            return Next::GiveUp(format!(
                "{attempts} evacuation attempts failed (last migration status {})",
                self.last_status()
            ));
        }
        Next::Issue
    }

    /// Where the server is being rebuilt: the destination the scheduler gave the newest
    /// evacuation of this failure that is still under way, once it has one.
    pub fn destination<'a>(&self, migrations: &[&'a Migration]) -> Option<&'a str> {
        let newest = migrations
            .iter()
            .find(|m| m.created_at.is_none_or(|t| t >= self.since))?;
        if newest.failed() || newest.succeeded() {
            return None;
        }
        newest.dest_compute.as_deref()
    }

    /// Decides from Nova's answer to the evacuation just requested.
    pub fn answer(&mut self, answer: Answer) -> AfterIssue {
        match answer {
            Answer::Accepted => {
                self.issued = self.issued.max(self.failed_before) + 1;
                AfterIssue::Watch
            }
            Answer::Gone => AfterIssue::Gone,
            Answer::Transient => AfterIssue::Watch,
            Answer::Conflict {
                rebuilding: true, ..
            } => {
                self.issued = self.issued.max(1);
                AfterIssue::Watch
            }
            Answer::Conflict { .. } if !self.reset => {
                self.reset = true;
                AfterIssue::ResetToError
            }
            Answer::Conflict { message, .. } | Answer::Refused(message) => {
                AfterIssue::GiveUp(message)
            }
        }
    }

    /// Why the evacuation is given up at its deadline.
    pub fn timed_out(&self, secs: u64) -> String {
        format!(
            "timeout after {secs} s (migration status {})",
            self.last_status()
        )
    }

    fn last_status(&self) -> &str {
        self.last_status.as_deref().unwrap_or("none")
    }
}

/// A server Nova has rebuilt elsewhere, as it must be left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settle {
    /// Not on another host yet, or still in a task: look again.
    Wait,
    /// Settled on its new host; `restore` puts it back in the state it had before.
    Done { restore: Option<Restore> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restore {
    /// It was in error before the failure (Masakari keeps it so).
    ResetToError,
    /// It was stopped before the failure and Nova started it.
    Stop,
}

/// Whether `current` has settled away from `failed_host`, and what to restore of
/// `original_vm_state`. With tiered start an active server arrives stopped and is started in
/// its tier's turn, so it is left stopped here.
pub fn settle(
    failed_host: &str,
    original_vm_state: &str,
    current: &Server,
    tiered: bool,
) -> Settle {
    let moved = current.host.as_deref().is_some_and(|h| h != failed_host);
    let settled = current.task_state.is_none()
        && matches!(current.vm_state.as_str(), "active" | "stopped" | "error");
    if !(moved && settled) {
        return Settle::Wait;
    }
    let restore = match (original_vm_state, current.vm_state.as_str()) {
        ("active", "stopped") if tiered => None,
        ("error", "active" | "stopped") => Some(Restore::ResetToError),
        ("stopped", "active") => Some(Restore::Stop),
        _ => None,
    };
    Settle::Done { restore }
}

#[cfg(test)]
mod tests;

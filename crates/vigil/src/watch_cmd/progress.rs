//! What one look at a recovery shows, and what changed since the last: pure, so the lines
//! `vigil watch` prints and its exit code are decided without I/O (tested by tables).

use vigil_domain::{NotificationStatus, NotificationType, VMoveStatus};
use vigil_wire::{NotificationBody, VMoveBody, WorkflowStepBody};

/// A notification's progress at one look.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub status: NotificationStatus,
    /// Servers (host failures) or steps (other notifications) done, and how many there are.
    pub done: u64,
    pub total: u64,
    pub unit: &'static str,
    /// The step running now (or the last one), its state and newest progress message.
    pub step: Option<String>,
    /// Each server: name, status, destination, message.
    pub servers: Vec<Server>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Server {
    pub name: String,
    pub status: VMoveStatus,
    pub dest: Option<String>,
    pub message: Option<String>,
}

impl Snapshot {
    pub fn new(n: &NotificationBody, vmoves: &[VMoveBody]) -> Snapshot {
        let steps = n.recovery_workflow_details.as_deref().unwrap_or_default();
        let (done, total, unit) = if n.notification_type == NotificationType::ComputeHost {
            let done = vmoves.iter().filter(|v| is_done(v.status)).count();
            (done, vmoves.len(), "servers")
        } else {
            let done = steps.iter().filter(|s| s.state == "SUCCESS").count();
            (done, steps.len(), "steps")
        };
        Snapshot {
            status: n.status,
            done: done as u64,
            total: total as u64,
            unit,
            step: current_step(steps),
            servers: vmoves
                .iter()
                .map(|v| Server {
                    name: v.instance_name.clone(),
                    status: v.status,
                    dest: v.dest_host.clone(),
                    message: v.message.clone(),
                })
                .collect(),
            message: n.message.clone(),
        }
    }

    /// The lines that tell what changed since `before` (everything, the first time).
    pub fn changes(&self, before: Option<&Snapshot>) -> Vec<String> {
        let mut lines = Vec::new();
        for s in &self.servers {
            let old = before.and_then(|b| b.servers.iter().find(|o| o.name == s.name));
            if old.is_some_and(|o| o.status == s.status && o.dest == s.dest) {
                continue;
            }
            let mut line = format!("{} {}", s.name, s.status);
            if let Some(dest) = &s.dest {
                line.push_str(&format!(" -> {dest}"));
            }
            if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
                line.push_str(&format!(" ({m})"));
            }
            lines.push(line);
        }
        if self.step.is_some() && before.map(|b| &b.step) != Some(&self.step) {
            lines.extend(self.step.clone());
        }
        if before.is_none_or(|b| (b.done, b.total) != (self.done, self.total)) {
            lines.push(self.count());
        }
        // The end has a line of its own (with the time and outcome), said by the caller.
        if before.is_some_and(|b| b.status != self.status) && exit_code(self.status).is_none() {
            lines.push(format!("notification {}", self.status));
        }
        lines
    }

    /// `3/6 servers done`.
    pub fn count(&self) -> String {
        format!("{}/{} {} done", self.done, self.total, self.unit)
    }
}

/// The exit code for a notification in `status`, once nothing more will happen to it. An
/// `error` is not an end: the engine retries it from its last completed step, until it is
/// `finished` or, out of attempts, `failed`.
pub fn exit_code(status: NotificationStatus) -> Option<u8> {
    match status {
        NotificationStatus::New | NotificationStatus::Running | NotificationStatus::Error => None,
        NotificationStatus::Finished => Some(0),
        NotificationStatus::Failed | NotificationStatus::Ignored => Some(1),
    }
}

fn is_done(status: VMoveStatus) -> bool {
    matches!(
        status,
        VMoveStatus::Succeeded | VMoveStatus::Failed | VMoveStatus::Ignored
    )
}

/// The first step not yet successful, or the last one: `EvacuateInstancesTask RUNNING: …`.
fn current_step(steps: &[WorkflowStepBody]) -> Option<String> {
    let step = steps
        .iter()
        .find(|s| s.state != "SUCCESS")
        .or(steps.last())?;
    let mut text = format!("{} {}", step.name, step.state);
    if let Some(d) = step.progress_details.last() {
        text.push_str(": ");
        text.push_str(&d.message);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotificationStatus as N;

    #[test]
    fn exit_codes() {
        let table = [
            (N::New, None),
            (N::Running, None),
            (N::Finished, Some(0)),
            (N::Error, None),
            (N::Failed, Some(1)),
            (N::Ignored, Some(1)),
        ];
        for (status, want) in table {
            assert_eq!(exit_code(status), want, "{status}");
        }
    }

    fn server(name: &str, status: VMoveStatus, dest: Option<&str>) -> Server {
        Server {
            name: name.to_owned(),
            status,
            dest: dest.map(str::to_owned),
            message: None,
        }
    }

    fn snapshot(status: N, step: Option<&str>, servers: Vec<Server>) -> Snapshot {
        let done = servers.iter().filter(|s| is_done(s.status)).count() as u64;
        Snapshot {
            status,
            done,
            total: servers.len() as u64,
            unit: "servers",
            step: step.map(str::to_owned),
            servers,
            message: None,
        }
    }

    #[test]
    fn changes_table() {
        use VMoveStatus as V;
        let start = snapshot(N::Running, Some("FenceHostTask RUNNING"), vec![]);
        let pending = snapshot(
            N::Running,
            Some("EvacuateInstancesTask RUNNING"),
            vec![server("a", V::Pending, None), server("b", V::Pending, None)],
        );
        let one_moved = snapshot(
            N::Running,
            Some("EvacuateInstancesTask RUNNING"),
            vec![
                server("a", V::Succeeded, Some("c2")),
                server("b", V::Ongoing, None),
            ],
        );
        let ended = snapshot(
            N::Finished,
            Some("EvacuateInstancesTask SUCCESS"),
            vec![
                server("a", V::Succeeded, Some("c2")),
                server("b", V::Succeeded, Some("c3")),
            ],
        );
        let table: [(Option<&Snapshot>, &Snapshot, &[&str]); 6] = [
            (None, &start, &["FenceHostTask RUNNING", "0/0 servers done"]),
            (
                Some(&start),
                &pending,
                &[
                    "a pending",
                    "b pending",
                    "EvacuateInstancesTask RUNNING",
                    "0/2 servers done",
                ],
            ),
            (Some(&pending), &pending, &[]),
            (
                Some(&pending),
                &one_moved,
                &["a succeeded -> c2", "b ongoing", "1/2 servers done"],
            ),
            (
                Some(&one_moved),
                &ended,
                &[
                    "b succeeded -> c3",
                    "EvacuateInstancesTask SUCCESS",
                    "2/2 servers done",
                ],
            ),
            (
                Some(&snapshot(N::New, None, vec![])),
                &snapshot(N::Running, None, vec![]),
                &["notification running"],
            ),
        ];
        for (before, now, want) in table {
            assert_eq!(now.changes(before), want, "{before:?} -> {now:?}");
        }
    }
}

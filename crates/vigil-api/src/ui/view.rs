//! The status page's pure decisions: what state a host is in and what phase a server of a
//! recovery is at, from the store's records. Tested by tables.

use serde::Serialize;
use vigil_domain::{NotificationStatus, VMoveStatus};

/// A host as the page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    Up,
    /// Its newest host-failure report is not handled to the end (new, running, error, failed).
    Down,
    /// Down, and the recovery's FenceHostTask step succeeded.
    Fenced,
    Maintenance,
    Reserved,
}

/// The newest `COMPUTE_HOST` report of a host, as far as its state depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastFailure {
    /// The report says the host stopped (not that it came back).
    pub stopped: bool,
    pub status: NotificationStatus,
    /// The recovery's FenceHostTask step ended in SUCCESS.
    pub fenced: bool,
}

/// A failure not recovered outranks the host's flags: the host is down whatever an operator
/// set, and a recovery puts a host on maintenance, which is what it shows once finished.
pub fn host_state(on_maintenance: bool, reserved: bool, last: Option<LastFailure>) -> HostState {
    let unrecovered = last.filter(|f| {
        f.stopped
            && matches!(
                f.status,
                NotificationStatus::New
                    | NotificationStatus::Running
                    | NotificationStatus::Error
                    | NotificationStatus::Failed
            )
    });
    match unrecovered {
        Some(f) if f.fenced => HostState::Fenced,
        Some(_) => HostState::Down,
        None if on_maintenance => HostState::Maintenance,
        None if reserved => HostState::Reserved,
        None => HostState::Up,
    }
}

/// What the page knows of one server's move beyond its vmove's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveFacts {
    pub status: VMoveStatus,
    /// The recovery's FenceHostTask step ended in SUCCESS.
    pub fenced: bool,
    /// The vmove names a destination (Nova's scheduler chose one, or the move ended there).
    pub has_dest: bool,
}

/// Where one server of a host recovery is: waiting on the fence, waiting its turn, evacuation
/// asked of Nova, being rebuilt on a chosen host, or ended.
pub fn server_phase(m: MoveFacts) -> &'static str {
    match m.status {
        VMoveStatus::Pending if !m.fenced => "fencing",
        VMoveStatus::Pending => "waiting",
        VMoveStatus::Ongoing if m.has_dest => "rebuilding",
        VMoveStatus::Ongoing => "evacuating",
        VMoveStatus::Succeeded => "ACTIVE",
        VMoveStatus::Failed => "failed",
        VMoveStatus::Ignored => "ignored",
    }
}

/// A server is done once its move has an outcome.
pub fn server_done(status: VMoveStatus) -> bool {
    matches!(
        status,
        VMoveStatus::Succeeded | VMoveStatus::Failed | VMoveStatus::Ignored
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use HostState::*;
    use NotificationStatus as N;

    fn failure(stopped: bool, status: N, fenced: bool) -> Option<LastFailure> {
        Some(LastFailure {
            stopped,
            status,
            fenced,
        })
    }

    #[test]
    fn host_state_table() {
        #[rustfmt::skip]
        let table = [
            // maintenance, reserved, newest report, expected
            (false, false, None, Up),
            (true, false, None, Maintenance),
            (false, true, None, Reserved),
            (true, true, None, Maintenance),
            (false, false, failure(true, N::New, false), Down),
            (false, false, failure(true, N::Running, false), Down),
            (false, false, failure(true, N::Running, true), Fenced),
            (true, false, failure(true, N::Error, true), Fenced),
            (true, false, failure(true, N::Failed, false), Down),
            (true, false, failure(true, N::Finished, true), Maintenance),
            (false, false, failure(true, N::Finished, true), Up),
            (false, true, failure(true, N::Ignored, false), Reserved),
            // A host coming back (STARTED) is not down, whatever happens to that report.
            (false, false, failure(false, N::Running, false), Up),
            (true, false, failure(false, N::Failed, false), Maintenance),
        ];
        for (maintenance, reserved, last, want) in table {
            assert_eq!(
                host_state(maintenance, reserved, last),
                want,
                "{maintenance} {reserved} {last:?}"
            );
        }
    }

    #[test]
    fn server_phase_table() {
        use VMoveStatus as V;
        #[rustfmt::skip]
        let table = [
            // status, fenced, has a destination, phase, done
            (V::Pending, false, false, "fencing", false),
            (V::Pending, true, false, "waiting", false),
            (V::Ongoing, true, false, "evacuating", false),
            (V::Ongoing, true, true, "rebuilding", false),
            (V::Succeeded, true, true, "ACTIVE", true),
            (V::Failed, true, false, "failed", true),
            (V::Ignored, false, false, "ignored", true),
            (V::Ignored, true, false, "ignored", true),
        ];
        for (status, fenced, has_dest, phase, done) in table {
            let facts = MoveFacts {
                status,
                fenced,
                has_dest,
            };
            assert_eq!(server_phase(facts), phase, "{facts:?}");
            assert_eq!(server_done(status), done, "{status}");
        }
    }
}

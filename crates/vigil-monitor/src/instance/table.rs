//! The pure part of the instance monitor: which libvirt domain events become which report
//! (masakari-monitors' event filter table), the operator's filter over them, and what a
//! domain's state says happened while nobody was listening.

use serde::{Deserialize, Serialize};
use virt::sys;

/// A domain event as libvirt delivers it, with libvirt's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainEvent {
    /// `VIR_DOMAIN_EVENT_ID_LIFECYCLE`: an event (`VIR_DOMAIN_EVENT_STOPPED`, …) and its detail.
    Lifecycle {
        event: i32,
        detail: i32,
    },
    Reboot,
    /// `VIR_DOMAIN_EVENT_ID_WATCHDOG` with its action.
    Watchdog {
        action: i32,
    },
    /// `VIR_DOMAIN_EVENT_ID_IO_ERROR` with its action.
    IoError {
        action: i32,
    },
    /// `VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON`: libvirt sends it beside every `IoError`.
    IoErrorReason,
    ControlError,
}

/// A report's `event` and `vir_domain_event`.
pub type Names = (&'static str, &'static str);

/// masakari-monitors' table (`eventfilter_table.py`): the event's report names, or `None` for
/// an event it does not report (a start, a resume, a stop for migration, …).
pub fn masakari_names(event: DomainEvent) -> Option<Names> {
    use DomainEvent::*;
    let pair = match event {
        Lifecycle { event, detail } => ("LIFECYCLE", lifecycle_detail(event, detail)?),
        Reboot => ("REBOOT", "UNKNOWN"),
        Watchdog { action } => ("WATCHDOG", watchdog_action(action)?),
        IoError { action } => ("IO_ERROR", io_error_action(action)?),
        IoErrorReason => ("IO_ERROR_REASON", "UNKNOWN"),
        ControlError => ("CONTROL_ERROR", "UNKNOWN"),
    };
    Some(pair)
}

fn lifecycle_detail(event: i32, detail: i32) -> Option<&'static str> {
    let (event, detail) = (u32::try_from(event).ok()?, u32::try_from(detail).ok()?);
    Some(match (event, detail) {
        (sys::VIR_DOMAIN_EVENT_SUSPENDED, sys::VIR_DOMAIN_EVENT_SUSPENDED_IOERROR) => {
            "SUSPENDED_IOERROR"
        }
        (sys::VIR_DOMAIN_EVENT_SUSPENDED, sys::VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG) => {
            "SUSPENDED_WATCHDOG"
        }
        (sys::VIR_DOMAIN_EVENT_SUSPENDED, sys::VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR) => {
            "SUSPENDED_API_ERROR"
        }
        (sys::VIR_DOMAIN_EVENT_STOPPED, sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) => {
            "STOPPED_SHUTDOWN"
        }
        (sys::VIR_DOMAIN_EVENT_STOPPED, sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED) => {
            "STOPPED_DESTROYED"
        }
        (sys::VIR_DOMAIN_EVENT_STOPPED, sys::VIR_DOMAIN_EVENT_STOPPED_FAILED) => "STOPPED_FAILED",
        (sys::VIR_DOMAIN_EVENT_SHUTDOWN, sys::VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED) => {
            "SHUTDOWN_FINISHED"
        }
        _ => return None,
    })
}

fn watchdog_action(action: i32) -> Option<&'static str> {
    Some(match u32::try_from(action).ok()? {
        sys::VIR_DOMAIN_EVENT_WATCHDOG_NONE => "WATCHDOG_NONE",
        sys::VIR_DOMAIN_EVENT_WATCHDOG_PAUSE => "WATCHDOG_PAUSE",
        sys::VIR_DOMAIN_EVENT_WATCHDOG_RESET => "WATCHDOG_RESET",
        sys::VIR_DOMAIN_EVENT_WATCHDOG_POWEROFF => "WATCHDOG_POWEROFF",
        sys::VIR_DOMAIN_EVENT_WATCHDOG_SHUTDOWN => "WATCHDOG_SHUTDOWN",
        sys::VIR_DOMAIN_EVENT_WATCHDOG_DEBUG => "WATCHDOG_DEBUG",
        _ => return None, // INJECTNMI is newer than masakari-monitors' table
    })
}

fn io_error_action(action: i32) -> Option<&'static str> {
    Some(match u32::try_from(action).ok()? {
        sys::VIR_DOMAIN_EVENT_IO_ERROR_NONE => "IO_ERROR_NONE",
        sys::VIR_DOMAIN_EVENT_IO_ERROR_PAUSE => "IO_ERROR_PAUSE",
        sys::VIR_DOMAIN_EVENT_IO_ERROR_REPORT => "IO_ERROR_REPORT",
        _ => return None,
    })
}

/// Every pair masakari-monitors' table can report, for checking a filter.
const ALL: &[Names] = &[
    ("LIFECYCLE", "SUSPENDED_IOERROR"),
    ("LIFECYCLE", "SUSPENDED_WATCHDOG"),
    ("LIFECYCLE", "SUSPENDED_API_ERROR"),
    ("LIFECYCLE", "STOPPED_SHUTDOWN"),
    ("LIFECYCLE", "STOPPED_DESTROYED"),
    ("LIFECYCLE", "STOPPED_FAILED"),
    ("LIFECYCLE", "SHUTDOWN_FINISHED"),
    ("REBOOT", "UNKNOWN"),
    ("WATCHDOG", "WATCHDOG_NONE"),
    ("WATCHDOG", "WATCHDOG_PAUSE"),
    ("WATCHDOG", "WATCHDOG_RESET"),
    ("WATCHDOG", "WATCHDOG_POWEROFF"),
    ("WATCHDOG", "WATCHDOG_SHUTDOWN"),
    ("WATCHDOG", "WATCHDOG_DEBUG"),
    ("IO_ERROR", "IO_ERROR_NONE"),
    ("IO_ERROR", "IO_ERROR_PAUSE"),
    ("IO_ERROR", "IO_ERROR_REPORT"),
    ("IO_ERROR_REASON", "UNKNOWN"),
    ("CONTROL_ERROR", "UNKNOWN"),
];

/// Which of the table's reports are sent: all of them (masakari-monitors' behaviour), or those
/// matching one of the patterns `EVENT` or `EVENT/VIR_DOMAIN_EVENT`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Option<Vec<(String, Option<String>)>>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' names no report of the instance monitor (EVENT or EVENT/VIR_DOMAIN_EVENT, e.g. LIFECYCLE/STOPPED_FAILED)")]
pub struct FilterError(pub String);

impl EventFilter {
    /// Only the reports matching `patterns`; each must match a pair of the table, so a typo
    /// is refused rather than silently filtering everything out.
    pub fn only<S: AsRef<str>>(patterns: &[S]) -> Result<EventFilter, FilterError> {
        let mut parsed = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            let (event, detail) = match p.split_once('/') {
                Some((e, d)) => (e.to_owned(), Some(d.to_owned())),
                None => (p.to_owned(), None),
            };
            let known = ALL
                .iter()
                .any(|(e, d)| *e == event && detail.as_deref().is_none_or(|x| x == *d));
            if !known {
                return Err(FilterError(p.to_owned()));
            }
            parsed.push((event, detail));
        }
        Ok(EventFilter {
            patterns: Some(parsed),
        })
    }

    pub fn allows(&self, (event, detail): Names) -> bool {
        match &self.patterns {
            None => true,
            Some(patterns) => patterns
                .iter()
                .any(|(e, d)| e == event && d.as_deref().is_none_or(|d| d == detail)),
        }
    }
}

/// A domain's power as the monitor remembers it (persisted across restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Power {
    Running,
    Paused,
    ShutOff,
    /// Anything else (crashed but not yet stopped, PM-suspended, no state).
    Other,
}

/// A domain's power from `virDomainGetState`'s state.
pub fn power_of(state: i32) -> Power {
    match u32::try_from(state).unwrap_or(u32::MAX) {
        sys::VIR_DOMAIN_RUNNING | sys::VIR_DOMAIN_BLOCKED | sys::VIR_DOMAIN_SHUTDOWN => {
            Power::Running
        }
        sys::VIR_DOMAIN_PAUSED => Power::Paused,
        sys::VIR_DOMAIN_SHUTOFF => Power::ShutOff,
        _ => Power::Other,
    }
}

/// The power a lifecycle event leaves a domain in; `None` if the event does not say.
pub fn power_after(event: DomainEvent) -> Option<Power> {
    let DomainEvent::Lifecycle { event, .. } = event else {
        return None;
    };
    match u32::try_from(event).ok()? {
        sys::VIR_DOMAIN_EVENT_STARTED | sys::VIR_DOMAIN_EVENT_RESUMED => Some(Power::Running),
        sys::VIR_DOMAIN_EVENT_SUSPENDED => Some(Power::Paused),
        sys::VIR_DOMAIN_EVENT_STOPPED => Some(Power::ShutOff),
        _ => None,
    }
}

/// Whether an event is news, given the domain's remembered power. A stop of a domain already
/// remembered stopped is not: a listing after a reconnect saw (and reported) the stop before
/// its event, which libvirt delivered late. A new stop always follows a start, which the
/// monitor sees first.
pub fn is_news(before: Option<Power>, event: DomainEvent) -> bool {
    !(before == Some(Power::ShutOff) && power_after(event) == Some(Power::ShutOff))
}

/// What a domain's state shows happened since the monitor last saw it, as the lifecycle
/// event masakari-monitors would have received had it been listening: a running or paused
/// domain now shut off stopped (a crash — libvirt's state reason `crashed`, after a `kill -9`
/// or a qemu that died while libvirtd was down — as the `FAILED` stop its event reports); a
/// running one now paused by an I/O error, a watchdog or an API error was suspended.
/// Stops for a migration, a save or a snapshot give an event the table does not report.
pub fn missed_event(before: Power, state: i32, reason: i32) -> Option<DomainEvent> {
    let now = power_of(state);
    let reason = u32::try_from(reason).unwrap_or(u32::MAX);
    let lifecycle = |event: u32, detail: u32| DomainEvent::Lifecycle {
        event: event as i32,
        detail: detail as i32,
    };
    match (before, now) {
        (Power::Running | Power::Paused | Power::Other, Power::ShutOff) => {
            let detail = match reason {
                sys::VIR_DOMAIN_SHUTOFF_SHUTDOWN => sys::VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN,
                sys::VIR_DOMAIN_SHUTOFF_DESTROYED => sys::VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
                sys::VIR_DOMAIN_SHUTOFF_MIGRATED => sys::VIR_DOMAIN_EVENT_STOPPED_MIGRATED,
                sys::VIR_DOMAIN_SHUTOFF_SAVED => sys::VIR_DOMAIN_EVENT_STOPPED_SAVED,
                sys::VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT => {
                    sys::VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT
                }
                // crashed, failed, killed by the daemon, unknown: the domain died.
                _ => sys::VIR_DOMAIN_EVENT_STOPPED_FAILED,
            };
            Some(lifecycle(sys::VIR_DOMAIN_EVENT_STOPPED, detail))
        }
        (Power::Running, Power::Paused) => {
            let detail = match reason {
                sys::VIR_DOMAIN_PAUSED_IOERROR => sys::VIR_DOMAIN_EVENT_SUSPENDED_IOERROR,
                sys::VIR_DOMAIN_PAUSED_WATCHDOG => sys::VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG,
                sys::VIR_DOMAIN_PAUSED_API_ERROR => sys::VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR,
                _ => sys::VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
            };
            Some(lifecycle(sys::VIR_DOMAIN_EVENT_SUSPENDED, detail))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DomainEvent::*;

    fn lc(event: u32, detail: u32) -> DomainEvent {
        Lifecycle {
            event: event as i32,
            detail: detail as i32,
        }
    }

    #[test]
    fn masakari_table() {
        use sys::*;
        let table: &[(DomainEvent, Option<Names>)] = &[
            // What a `virsh destroy` sends (libvirt 9.0): "shutdown after host request",
            // which the table leaves out, then "stopped destroyed".
            (
                lc(VIR_DOMAIN_EVENT_SHUTDOWN, VIR_DOMAIN_EVENT_SHUTDOWN_HOST),
                None,
            ),
            (
                lc(
                    VIR_DOMAIN_EVENT_SHUTDOWN,
                    VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED,
                ),
                Some(("LIFECYCLE", "SHUTDOWN_FINISHED")),
            ),
            (
                lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
                Some(("LIFECYCLE", "STOPPED_DESTROYED")),
            ),
            // kill -9 of qemu.
            (
                lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED),
                Some(("LIFECYCLE", "STOPPED_FAILED")),
            ),
            (
                lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
                Some(("LIFECYCLE", "STOPPED_SHUTDOWN")),
            ),
            (
                lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_CRASHED),
                None,
            ),
            (
                lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_MIGRATED),
                None,
            ),
            (
                lc(
                    VIR_DOMAIN_EVENT_SUSPENDED,
                    VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
                ),
                None,
            ),
            (
                lc(
                    VIR_DOMAIN_EVENT_SUSPENDED,
                    VIR_DOMAIN_EVENT_SUSPENDED_IOERROR,
                ),
                Some(("LIFECYCLE", "SUSPENDED_IOERROR")),
            ),
            (
                lc(
                    VIR_DOMAIN_EVENT_SUSPENDED,
                    VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR,
                ),
                Some(("LIFECYCLE", "SUSPENDED_API_ERROR")),
            ),
            (
                lc(VIR_DOMAIN_EVENT_RESUMED, VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
                None,
            ),
            (
                lc(VIR_DOMAIN_EVENT_STARTED, VIR_DOMAIN_EVENT_STARTED_BOOTED),
                None,
            ),
            (Reboot, Some(("REBOOT", "UNKNOWN"))),
            (
                Watchdog {
                    action: VIR_DOMAIN_EVENT_WATCHDOG_RESET as i32,
                },
                Some(("WATCHDOG", "WATCHDOG_RESET")),
            ),
            (
                Watchdog {
                    action: VIR_DOMAIN_EVENT_WATCHDOG_INJECTNMI as i32,
                },
                None,
            ),
            (
                IoError {
                    action: VIR_DOMAIN_EVENT_IO_ERROR_REPORT as i32,
                },
                Some(("IO_ERROR", "IO_ERROR_REPORT")),
            ),
            (IoErrorReason, Some(("IO_ERROR_REASON", "UNKNOWN"))),
            (ControlError, Some(("CONTROL_ERROR", "UNKNOWN"))),
            (
                Lifecycle {
                    event: -1,
                    detail: 5,
                },
                None,
            ),
        ];
        for (event, names) in table {
            assert_eq!(masakari_names(*event), *names, "{event:?}");
            if let Some(n) = names {
                assert!(ALL.contains(n), "{n:?} is missing from ALL");
            }
        }
    }

    #[test]
    fn filters_match_events_or_pairs_and_refuse_unknown_names() {
        let all = EventFilter::default();
        assert!(all.allows(("REBOOT", "UNKNOWN")));
        let some = EventFilter::only(&["LIFECYCLE/STOPPED_FAILED", "IO_ERROR"]).unwrap();
        assert!(some.allows(("LIFECYCLE", "STOPPED_FAILED")));
        assert!(!some.allows(("LIFECYCLE", "STOPPED_DESTROYED")));
        assert!(some.allows(("IO_ERROR", "IO_ERROR_PAUSE")));
        assert!(!some.allows(("REBOOT", "UNKNOWN")));
        for bad in ["LIFECYCLE/STOPPED_CRASHED", "lifecycle", "RTC_CHANGE", ""] {
            assert_eq!(
                EventFilter::only(&[bad]),
                Err(FilterError(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn what_a_state_shows_was_missed() {
        use sys::*;
        use Power::*;
        let stopped = |d| Some(lc(VIR_DOMAIN_EVENT_STOPPED, d));
        let (off, paused, running) = (
            VIR_DOMAIN_SHUTOFF as i32,
            VIR_DOMAIN_PAUSED as i32,
            VIR_DOMAIN_RUNNING as i32,
        );
        let table: &[(Power, i32, u32, Option<DomainEvent>)] = &[
            // After libvirtd restarts, a qemu that died meanwhile is "shut off (crashed)".
            (
                Running,
                off,
                VIR_DOMAIN_SHUTOFF_CRASHED,
                stopped(VIR_DOMAIN_EVENT_STOPPED_FAILED),
            ),
            (
                Running,
                off,
                VIR_DOMAIN_SHUTOFF_DAEMON,
                stopped(VIR_DOMAIN_EVENT_STOPPED_FAILED),
            ),
            (
                Running,
                off,
                VIR_DOMAIN_SHUTOFF_UNKNOWN,
                stopped(VIR_DOMAIN_EVENT_STOPPED_FAILED),
            ),
            (
                Paused,
                off,
                VIR_DOMAIN_SHUTOFF_DESTROYED,
                stopped(VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
            ),
            (
                Running,
                off,
                VIR_DOMAIN_SHUTOFF_SHUTDOWN,
                stopped(VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
            ),
            (
                Running,
                off,
                VIR_DOMAIN_SHUTOFF_MIGRATED,
                stopped(VIR_DOMAIN_EVENT_STOPPED_MIGRATED),
            ),
            (ShutOff, off, VIR_DOMAIN_SHUTOFF_CRASHED, None),
            (ShutOff, running, 1, None),
            (Running, running, 1, None),
            (
                Running,
                paused,
                VIR_DOMAIN_PAUSED_IOERROR,
                Some(lc(
                    VIR_DOMAIN_EVENT_SUSPENDED,
                    VIR_DOMAIN_EVENT_SUSPENDED_IOERROR,
                )),
            ),
            (
                Running,
                paused,
                VIR_DOMAIN_PAUSED_USER,
                Some(lc(
                    VIR_DOMAIN_EVENT_SUSPENDED,
                    VIR_DOMAIN_EVENT_SUSPENDED_PAUSED,
                )),
            ),
            (Paused, paused, VIR_DOMAIN_PAUSED_IOERROR, None),
        ];
        for (before, state, reason, missed) in table {
            assert_eq!(
                missed_event(*before, *state, *reason as i32),
                *missed,
                "{before:?} {state} {reason}"
            );
        }
        // The stop a missed event stands for is reported the way the event would be.
        let crash = missed_event(Running, off, VIR_DOMAIN_SHUTOFF_CRASHED as i32).unwrap();
        assert_eq!(masakari_names(crash), Some(("LIFECYCLE", "STOPPED_FAILED")));
    }

    #[test]
    fn a_late_stop_event_after_a_listing_saw_the_stop_is_not_news() {
        use sys::*;
        let stop = lc(VIR_DOMAIN_EVENT_STOPPED, VIR_DOMAIN_EVENT_STOPPED_FAILED);
        assert!(!is_news(Some(Power::ShutOff), stop));
        assert!(is_news(Some(Power::Running), stop));
        assert!(is_news(None, stop));
        assert!(is_news(Some(Power::ShutOff), DomainEvent::ControlError));
        let shutdown = lc(
            VIR_DOMAIN_EVENT_SHUTDOWN,
            VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED,
        );
        assert!(is_news(Some(Power::Running), shutdown));
    }
}

//! The Pacemaker driver: asks the cluster's own fencer (`stonith_admin --fence`) and confirms
//! from its history, so Vigil and Pacemaker never fence the same host twice for one failure.

use super::{Answer, Driver, Target};
use crate::{Action, FenceError, PowerState};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use std::sync::LazyLock;
use std::time::Duration;

/// Pacemaker's fencer, reached through `stonith_admin` on this machine.
pub struct Pacemaker {
    pub program: String,
}

/// One line of `stonith_admin --history NODE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub action: String,
    pub target: String,
    pub succeeded: bool,
    pub completed: Option<DateTime<Utc>>,
}

// Pacemaker 2.1 prints e.g.
// `  * turning off of c1 successful: delegate=n1, client=stonith_admin.9, origin=n1, completed='2026-11-30 06:00:01.123456 +00:00'`
// and `reboot of c1 failed: …, last-failed='…'`; older releases omit "turning".
static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*\*?\s*(?:turning )?(?P<action>off|on|reboot)(?:ing)? of (?P<target>\S+) (?P<result>successful|failed|pending)\b(?:.*?(?:completed|last-failed)='(?P<when>[^']+)')?",
    )
    .expect("the history pattern compiles")
});

/// Parses `stonith_admin --history` output; lines that are not history entries are skipped.
pub fn parse_history(out: &str) -> Vec<HistoryEntry> {
    out.lines()
        .filter_map(|line| {
            let caps = LINE.captures(line)?;
            Some(HistoryEntry {
                action: caps["action"].to_owned(),
                target: caps["target"].to_owned(),
                succeeded: &caps["result"] == "successful",
                completed: caps.name("when").and_then(|m| parse_when(m.as_str())),
            })
        })
        .collect()
}

fn parse_when(text: &str) -> Option<DateTime<Utc>> {
    for format in ["%Y-%m-%d %H:%M:%S%.f %:z", "%Y-%m-%d %H:%M:%S%.f %z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// Whether the history shows `host` powered off (off or reboot) successfully after `since`.
pub fn fenced_since(history: &[HistoryEntry], host: &str, since: DateTime<Utc>) -> bool {
    history.iter().any(|e| {
        e.target == host
            && e.succeeded
            && (e.action == "off" || e.action == "reboot")
            && e.completed.is_some_and(|t| t >= since)
    })
}

impl Pacemaker {
    async fn history(
        &self,
        target: &Target<'_>,
        timeout: Duration,
    ) -> Result<Vec<HistoryEntry>, FenceError> {
        let args = vec!["--history".to_owned(), target.host.to_owned()];
        let done = target.run_ok(&self.program, &args, timeout).await?;
        Ok(parse_history(&done.stdout))
    }
}

impl Pacemaker {
    async fn fence(
        &self,
        target: &Target<'_>,
        since: Option<DateTime<Utc>>,
        timeout: Duration,
    ) -> Answer {
        let host = target.host;
        let started = tokio::time::Instant::now();
        // Pacemaker may have fenced the host already for this failure: a second power-off
        // would only delay its return.
        if let Some(since) = since {
            if fenced_since(&self.history(target, timeout).await?, host, since) {
                return Ok(PowerState::Off);
            }
        }
        // Without a failure time, any power-off recorded around now counts: stonith_admin's
        // exit 0 already says it fenced, and the cluster's clock may be a little off ours.
        let since = since.unwrap_or_else(|| Utc::now() - chrono::Duration::seconds(30));
        let left = timeout.saturating_sub(started.elapsed());
        let args = vec![
            "--fence".to_owned(),
            host.to_owned(),
            "--timeout".to_owned(),
            left.as_secs().max(1).to_string(),
        ];
        target.run_ok(&self.program, &args, left).await?;
        // stonith_admin's exit code is the fencer's word; the history is the record we keep.
        let left = timeout.saturating_sub(started.elapsed());
        let history = self
            .history(target, left.max(Duration::from_secs(1)))
            .await?;
        if fenced_since(&history, host, since) {
            Ok(PowerState::Off)
        } else {
            Ok(PowerState::Unknown)
        }
    }

    async fn unfence(&self, target: &Target<'_>, timeout: Duration) -> Answer {
        let args = vec![
            "--unfence".to_owned(),
            target.host.to_owned(),
            "--timeout".to_owned(),
            timeout.as_secs().max(1).to_string(),
        ];
        target.run_ok(&self.program, &args, timeout).await?;
        // Unfencing does not report a power state; nothing more is known.
        Ok(PowerState::Unknown)
    }

    /// Pacemaker keeps no live power reading, only its history: a host last fenced and not
    /// since unfenced is off as far as it knows, anything else is unknown.
    async fn last_known(&self, target: &Target<'_>, timeout: Duration) -> Answer {
        let history = self.history(target, timeout).await?;
        let last = history
            .iter()
            .filter(|e| e.target == target.host && e.succeeded)
            .max_by_key(|e| e.completed);
        Ok(match last {
            Some(e) if e.action == "off" => PowerState::Off,
            _ => PowerState::Unknown,
        })
    }
}

#[async_trait]
impl Driver for Pacemaker {
    async fn run(&self, target: &Target<'_>, action: Action, timeout: Duration) -> Answer {
        match action {
            Action::Off { since } => self.fence(target, since, timeout).await,
            Action::On => self.unfence(target, timeout).await,
            Action::Status => self.last_known(target, timeout).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn parses_history_lines() {
        let out = "\
  * turning off of c1 successful: delegate=n1, client=stonith_admin.9, origin=n1, completed='2026-11-30 06:00:01.123456 +00:00'
  * reboot of c1 failed: delegate=n2, client=pacemaker-controld.1, origin=n2, last-failed='2026-11-30 05:00:00 +01:00'
  * on of c2 pending: client=stonith_admin.3, origin=n1
2 events found
";
        let got = parse_history(out);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got[0],
            HistoryEntry {
                action: "off".into(),
                target: "c1".into(),
                succeeded: true,
                completed: Some(at("2026-11-30T06:00:01.123456Z")),
            }
        );
        assert!(!got[1].succeeded);
        assert_eq!(got[1].completed, Some(at("2026-11-30T04:00:00Z")));
        assert_eq!((got[2].action.as_str(), got[2].completed), ("on", None));
    }

    #[test]
    fn accepts_only_a_successful_power_off_after_the_failure() {
        let entry = |action: &str, target: &str, ok: bool, when: &str| HistoryEntry {
            action: action.into(),
            target: target.into(),
            succeeded: ok,
            completed: Some(at(when)),
        };
        let since = at("2026-11-30T06:00:00Z");
        let table = [
            (entry("off", "c1", true, "2026-11-30T06:00:05Z"), true),
            (entry("reboot", "c1", true, "2026-11-30T06:00:05Z"), true),
            (entry("off", "c1", true, "2026-11-30T05:59:59Z"), false),
            (entry("off", "c1", false, "2026-11-30T06:00:05Z"), false),
            (entry("on", "c1", true, "2026-11-30T06:00:05Z"), false),
            (entry("off", "c2", true, "2026-11-30T06:00:05Z"), false),
        ];
        for (e, want) in table {
            assert_eq!(
                fenced_since(std::slice::from_ref(&e), "c1", since),
                want,
                "{e:?}"
            );
        }
    }
}

//! A host's fencing topology: ordered levels of power devices, tried in turn until one confirms
//! the host off, as Pacemaker's fencing topology does. The decision of what to do after each
//! level's answer is a pure function, [`next`], tested by table.

use crate::{FenceError, Fencer, PowerState};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// One level: a device and how long it may take.
#[derive(Clone)]
pub struct Level {
    pub device: Arc<dyn Fencer>,
    pub timeout: Duration,
}

/// The levels for one host, first to last.
#[derive(Clone, Default)]
pub struct Topology {
    pub levels: Vec<Level>,
}

/// What one level answered to `off`.
#[derive(Debug)]
pub enum Answer {
    /// The device ran and reads this state afterwards.
    Reads(PowerState),
    Failed(FenceError),
}

/// What to do after a level has answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The host is proven off by this level (its index).
    Fenced(usize),
    /// Try the level at this index.
    Try(usize),
    /// Every level has been tried and none proved the host off.
    GiveUp,
}

/// The pure core: after the answers so far (one per level, in order), what comes next. Only a
/// device that reads `Off` proves anything: `On` and `Unknown` are failures of that level.
pub fn next(answers: &[Answer], levels: usize) -> Next {
    if let Some(Answer::Reads(PowerState::Off)) = answers.last() {
        return Next::Fenced(answers.len() - 1);
    }
    if answers.len() < levels {
        Next::Try(answers.len())
    } else {
        Next::GiveUp
    }
}

/// Proof that a host is off: which level did it and what each earlier level answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    pub device: String,
    pub level: usize,
    pub tried: Vec<String>,
}

impl std::fmt::Display for Fenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "off, confirmed by {} (level {})",
            self.device,
            self.level + 1
        )?;
        for line in &self.tried {
            write!(f, "; {line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("no fencing device is configured for {host}")]
    NoDevice { host: String },
    /// Every level failed; each level's reason, in order, is in `reasons`.
    #[error("no level could confirm {host} off: {}", .reasons.join("; "))]
    AllLevelsFailed {
        host: String,
        reasons: Vec<String>,
        /// The last level's error, kept for its retry class.
        #[source]
        last: Option<FenceError>,
    },
}

impl vigil_domain::Classify for TopologyError {
    /// A host without devices stays without them; otherwise the last level decides, and a
    /// level that ran but did not read `Off` is worth another try on the engine's backoff.
    fn class(&self) -> vigil_domain::ErrorClass {
        match self {
            TopologyError::NoDevice { .. } => vigil_domain::ErrorClass::Fatal,
            TopologyError::AllLevelsFailed { last: Some(e), .. } => e.class(),
            TopologyError::AllLevelsFailed { last: None, .. } => {
                vigil_domain::ErrorClass::Transient
            }
        }
    }
}

/// One level's answer as a line for `recovery_workflow_details`.
fn describe(level: usize, device: &str, answer: &Answer) -> String {
    match answer {
        Answer::Reads(state) => format!("level {} {device}: reads {state}", level + 1),
        Answer::Failed(e) => format!(
            "level {} {device}: {}",
            level + 1,
            vigil_domain::ErrorChain(e)
        ),
    }
}

impl Topology {
    pub fn new(levels: Vec<Level>) -> Topology {
        Topology { levels }
    }

    /// Fences `host`, failed at `since`: level by level until one reads it off.
    pub async fn fence(
        &self,
        host: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Fenced, TopologyError> {
        if self.levels.is_empty() {
            return Err(TopologyError::NoDevice {
                host: host.to_owned(),
            });
        }
        let mut answers = Vec::new();
        let mut reasons = Vec::new();
        loop {
            match next(&answers, self.levels.len()) {
                Next::Fenced(i) => {
                    return Ok(Fenced {
                        device: self.levels[i].device.name().to_owned(),
                        level: i,
                        tried: reasons,
                    })
                }
                Next::Try(i) => {
                    let level = &self.levels[i];
                    let answer = match level.device.off(host, since, level.timeout).await {
                        Ok(state) => Answer::Reads(state),
                        Err(e) => Answer::Failed(e),
                    };
                    if !matches!(answer, Answer::Reads(PowerState::Off)) {
                        tracing::warn!(
                            host,
                            device = level.device.name(),
                            ?answer,
                            "fencing level failed"
                        );
                        reasons.push(describe(i, level.device.name(), &answer));
                    }
                    answers.push(answer);
                }
                Next::GiveUp => {
                    let last = match answers.pop() {
                        Some(Answer::Failed(e)) => Some(e),
                        _ => None,
                    };
                    return Err(TopologyError::AllLevelsFailed {
                        host: host.to_owned(),
                        reasons,
                        last,
                    });
                }
            }
        }
    }

    /// Asks every level for the host's state without changing anything: `vigil fence status`.
    pub async fn status(&self, host: &str) -> Vec<(String, Result<PowerState, FenceError>)> {
        let mut out = Vec::new();
        for level in &self.levels {
            let answer = level.device.status(host, level.timeout).await;
            out.push((level.device.name().to_owned(), answer));
        }
        out
    }

    /// Powers the host on through the first level that manages it (rejoin).
    pub async fn on(&self, host: &str) -> Result<String, TopologyError> {
        let mut reasons = Vec::new();
        let mut last = None;
        for (i, level) in self.levels.iter().enumerate() {
            match level.device.on(host, level.timeout).await {
                Ok(PowerState::On) => return Ok(level.device.name().to_owned()),
                Ok(state) => reasons.push(describe(i, level.device.name(), &Answer::Reads(state))),
                Err(e) => {
                    let answer = Answer::Failed(e);
                    reasons.push(describe(i, level.device.name(), &answer));
                    if let Answer::Failed(e) = answer {
                        last = Some(e);
                    }
                }
            }
        }
        Err(TopologyError::AllLevelsFailed {
            host: host.to_owned(),
            reasons,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Answer {
        Answer::Failed(FenceError::Credentials {
            device: "d".into(),
            host: "h".into(),
        })
    }

    #[test]
    fn tries_levels_in_order_and_only_off_wins() {
        use Answer::Reads;
        use PowerState::*;
        let table: Vec<(Vec<Answer>, usize, Next)> = vec![
            (vec![], 2, Next::Try(0)),
            (vec![Reads(Off)], 2, Next::Fenced(0)),
            (vec![failed()], 2, Next::Try(1)),
            (vec![failed(), Reads(Off)], 2, Next::Fenced(1)),
            (vec![Reads(Unknown)], 2, Next::Try(1)),
            (vec![Reads(On)], 2, Next::Try(1)),
            (vec![failed(), Reads(Unknown)], 2, Next::GiveUp),
            (vec![failed(), failed()], 2, Next::GiveUp),
            (vec![Reads(Unknown)], 1, Next::GiveUp),
            (vec![], 0, Next::GiveUp),
        ];
        for (answers, levels, want) in table {
            assert_eq!(next(&answers, levels), want, "{answers:?} of {levels}");
        }
    }
}

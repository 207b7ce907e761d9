//! Tiered start: the evacuated servers that were ACTIVE are started one priority tier at a
//! time (the planner's tiers), each tier once every server of the tier before it is ACTIVE or
//! that tier's timeout passed.

use super::evacuate::{CHOSEN, EVACUATED};
use super::HostFailure;
use crate::error::StepError;
use crate::planner::{tiers, Planned};
use crate::saga::{BuiltinStep, Outcome, Output, Outputs, StepKey};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Classify, ErrorClass};

const STARTED: Output<Started> =
    Output::of("StartInstancesInTiersTask").after(&[CHOSEN.step(), EVACUATED.step()]);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Started {
    tiers: Vec<TierReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TierReport {
    priority: i64,
    servers: usize,
    not_active: Vec<String>,
    seconds: f64,
}

/// Safe to run twice: an ACTIVE server is not started again, a starting one is waited for.
pub(super) struct StartInstancesInTiers;

impl BuiltinStep<HostFailure> for StartInstancesInTiers {
    const KEY: StepKey = STARTED.key();
    async fn run(&self, ctx: &HostFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let chosen = CHOSEN.get(done)?.servers;
        let evacuated = EVACUATED.get(done)?.moved;
        let gone = |id: &str| evacuated.iter().any(|m| m.gone && m.id == id);
        // Only servers that ran before the failure run again; `chosen` is in priority order.
        let running: Vec<Planned> = chosen
            .into_iter()
            .filter(|c| c.was_running() && !gone(&c.id))
            .collect();
        let mut report = Vec::new();
        let mut late: Vec<String> = Vec::new();
        for tier in tiers(&running) {
            let (tier_report, not_active) = start_tier(ctx, &tier).await?;
            report.push(tier_report);
            late.extend(not_active.iter().map(|c| format!("{} ({})", c.name, c.id)));
        }
        if late.is_empty() {
            STARTED.put(&Started { tiers: report })
        } else {
            Err(StepError::refused(format!(
                "{} servers not ACTIVE within their tier's {} s: {}",
                late.len(),
                ctx.config.tier_timeout_secs,
                late.join(", ")
            )))
        }
    }
}

/// Starts one tier and waits until it is ACTIVE or its timeout passed; returns its report and
/// the servers that did not make it.
async fn start_tier<'a>(
    ctx: &HostFailure,
    tier: &'a [Planned],
) -> Result<(TierReport, Vec<&'a Planned>), StepError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(ctx.config.tier_timeout_secs);
    let mut waiting: Vec<&Planned> = tier.iter().collect();
    let mut asked: Vec<&str> = Vec::new();
    let mut broken: Vec<&Planned> = Vec::new();
    while !waiting.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for c in waiting {
            match member_state(ctx, c).await? {
                Member::Active | Member::Gone => {}
                Member::Error => broken.push(c),
                Member::Stopped if !asked.contains(&c.id.as_str()) => {
                    match ctx.claim.nova.start_server(&c.id).await {
                        Ok(()) => asked.push(&c.id),
                        Err(e) => match e.class() {
                            // 409: already starting (a previous run asked), or busy.
                            ErrorClass::Conflict => asked.push(&c.id),
                            ErrorClass::Gone => continue,
                            ErrorClass::Transient => {}
                            ErrorClass::Fatal => {
                                return Err(StepError::nova(format!("starting {}", c.name), e))
                            }
                        },
                    }
                    still.push(c);
                }
                Member::Stopped | Member::Busy => still.push(c),
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            tokio::time::sleep(ctx.poll()).await;
        }
    }
    waiting.extend(broken);
    let report = TierReport {
        priority: tier.first().map_or(0, |c| c.priority),
        servers: tier.len(),
        not_active: waiting.iter().map(|c| c.id.clone()).collect(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, waiting))
}

enum Member {
    Active,
    Stopped,
    /// Starting, or in some other transition: wait.
    Busy,
    Gone,
    /// Nova gave up on it; waiting would only delay the next tier.
    Error,
}

async fn member_state(ctx: &HostFailure, c: &Planned) -> Result<Member, StepError> {
    let server = ctx
        .claim
        .nova("reading a server's state", |nova| nova.server(&c.id))
        .await?;
    Ok(match server {
        None => Member::Gone,
        Some(s) if s.task_state.is_some() => Member::Busy,
        Some(s) if s.vm_state == "active" => Member::Active,
        Some(s) if s.vm_state == "stopped" => Member::Stopped,
        Some(s) if s.vm_state == "error" => Member::Error,
        Some(_) => Member::Busy,
    })
}

//! Choosing a failed host's servers and evacuating them: to the scheduler's choice or the
//! segment's reserved hosts, in priority order, at most `evacuation_parallelism` at once, each
//! driven by the decisions of `decide` and confirmed through Nova's migration record.

use super::decide::{AfterIssue, Answer, Evacuation, Next, Restore, Settle};
use super::feed::MigrationFeed;
use super::gate::DISABLED;
use super::progress::{announce, pending, record_left_out, Tally};
use super::HostFailure;
use crate::error::StepError;
use crate::nova::Migration;
use crate::planner::{facts_of, plan, Planned, ServerFacts};
use crate::saga::{BuiltinStep, Ending, Outcome, Output, Outputs, StepKey};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::time::Instant;
use vigil_capacity::{strategies, usable, HostFacts, ServiceState, Strategy};
use vigil_domain::plan::{Chosen, CHOSEN_STEP};
use vigil_domain::{Classify, ErrorClass, InstanceMove, Timestamp, VMoveStatus};
use vigil_metrics::EvacuationOutcome;
use vigil_store::{HostFilter, Page};

pub(super) const CHOSEN: Output<Chosen> = Output::of(CHOSEN_STEP);
/// Evacuating from a host Nova does not have forced down would let the host's
/// nova-compute, if alive, run the servers too.
pub(super) const EVACUATED: Output<Evacuated> =
    Output::of("EvacuateInstancesTask").after(&[DISABLED.step(), CHOSEN.step()]);

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Evacuated {
    pub(super) moved: Vec<MovedServer>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct MovedServer {
    pub(super) id: String,
    /// The host it runs on now; `None` when it was deleted meanwhile.
    pub(super) to: Option<String>,
    pub(super) gone: bool,
}

pub(super) struct PrepareInstances;

impl BuiltinStep<HostFailure> for PrepareInstances {
    const KEY: StepKey = CHOSEN.key();
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let servers = ctx
            .claim
            .nova("listing the host's servers", |nova| {
                nova.servers_on_host(&ctx.host.name)
            })
            .await?;
        let facts: Vec<ServerFacts> = servers.iter().map(facts_of).collect();
        let chosen = plan(&facts, &ctx.selection);
        record_left_out(ctx, &facts).await?;
        if chosen.is_empty() {
            return Ok(Outcome::Stop(
                Ending::Finished,
                format!(
                    "{} servers on {}, none to evacuate",
                    servers.len(),
                    ctx.host.name
                ),
            ));
        }
        CHOSEN.put(&Chosen {
            servers: chosen,
            start_in_tiers: ctx.config.start_in_tiers,
        })
    }
}

pub(super) struct EvacuateInstances;

impl BuiltinStep<HostFailure> for EvacuateInstances {
    const KEY: StepKey = EVACUATED.key();
    async fn run(&self, ctx: &HostFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let mut pending = CHOSEN.get(done)?.servers;
        announce(ctx, &pending).await?;
        let tally = &Tally::new(pending.len());
        let mut moved: Vec<MovedServer> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let feed = MigrationFeed::start(ctx);
        let feed = &feed;
        for strategy in strategies(ctx.host.segment.recovery_method) {
            if pending.is_empty() {
                break;
            }
            let targets: Vec<Option<String>> = match strategy {
                Strategy::Auto => vec![None],
                Strategy::Reserved => reserved_targets(ctx).await?.into_iter().map(Some).collect(),
            };
            if targets.is_empty() {
                reasons.push(format!(
                    "segment {} has no usable reserved host",
                    ctx.host.segment.name
                ));
            }
            for target in targets {
                if pending.is_empty() {
                    break;
                }
                let results: Vec<(Planned, Result<MovedServer, String>)> = stream::iter(pending)
                    .map(|server| {
                        let target = target.clone();
                        async move {
                            let started = Instant::now();
                            let r = recorded(ctx, feed, tally, &server, target.as_deref()).await;
                            tally.ended(ctx, &server, &r, started.elapsed()).await;
                            (server, r)
                        }
                    })
                    .buffer_unordered(ctx.config.evacuation_parallelism.max(1))
                    .collect()
                    .await;
                pending = Vec::new();
                for (server, result) in results {
                    match result {
                        Ok(m) => moved.push(m),
                        Err(why) => {
                            reasons.push(format!("{} ({}): {why}", server.name, server.id));
                            pending.push(server);
                        }
                    }
                }
                // Keep priority order for the next attempt.
                pending.sort_by_key(|s| std::cmp::Reverse(s.priority));
            }
        }
        if pending.is_empty() {
            EVACUATED.put(&Evacuated { moved })
        } else {
            Err(StepError::refused(format!(
                "{} of {} instances not evacuated: {}",
                pending.len(),
                pending.len() + moved.len(),
                reasons.join("; ")
            )))
        }
    }
}

/// The segment's reserved hosts not in maintenance, each made usable: its Nova service
/// enabled and its `reserved` flag cleared (it now carries recovered instances).
async fn reserved_targets(ctx: &HostFailure) -> Result<Vec<String>, StepError> {
    let filter = HostFilter {
        reserved: Some(true),
        on_maintenance: Some(false),
        ..Default::default()
    };
    let hosts = ctx
        .claim
        .store
        .host_list(ctx.host.segment.uuid, &filter, &Page::default())
        .await
        .map_err(|e| StepError::store("listing reserved hosts", e))?;
    let mut out = Vec::new();
    for h in hosts {
        let Some(service) = ctx
            .claim
            .nova("finding a reserved host's service", |nova| {
                nova.compute_service(&h.name)
            })
            .await?
        else {
            continue;
        };
        let facts = HostFacts {
            name: h.name.clone(),
            reserved: h.reserved,
            on_maintenance: h.on_maintenance,
            service: Some(ServiceState {
                up: service.state == "up",
                enabled: service.status == "enabled",
            }),
            provider: None,
        };
        if !usable(&facts, &ctx.host.name, Strategy::Reserved) {
            continue;
        }
        if ctx.config.add_reserved_host_to_aggregate {
            let aggregates = ctx
                .claim
                .nova("listing the failed host's aggregates", |nova| {
                    nova.aggregates_of(&ctx.host.name)
                })
                .await?;
            for aggregate in aggregates {
                ctx.claim
                    .nova("adding a reserved host to an aggregate", |nova| {
                        nova.aggregate_add_host(aggregate, &h.name)
                    })
                    .await?;
            }
        }
        ctx.claim
            .enable_service(&service, "enabling a reserved host")
            .await?;
        crate::flags::clear_reserved(&ctx.claim.store, &ctx.claim.lease, &h).await?;
        out.push(h.name);
    }
    Ok(out)
}

/// Evacuates one server, keeping its vmove current: ongoing from the start, its destination
/// once Nova has one, then how it ended.
async fn recorded(
    ctx: &HostFailure,
    feed: &MigrationFeed,
    tally: &Tally,
    server: &Planned,
    target: Option<&str>,
) -> Result<MovedServer, String> {
    let mut record = MoveRecord::start(ctx, server).await?;
    let result = drive(ctx, feed, tally, server, target, &mut record).await;
    record.end(&result).await?;
    result
}

/// One server's vmove while it is evacuated.
struct MoveRecord<'a> {
    ctx: &'a HostFailure,
    record: InstanceMove,
}

impl<'a> MoveRecord<'a> {
    async fn start(ctx: &'a HostFailure, server: &Planned) -> Result<Self, String> {
        let record = InstanceMove {
            start_time: Some(Timestamp::now()),
            status: VMoveStatus::Ongoing,
            ..pending(ctx, &server.id, &server.name)
        };
        let this = MoveRecord { ctx, record };
        this.put().await?;
        Ok(this)
    }

    async fn put(&self) -> Result<(), String> {
        self.ctx
            .claim
            .store
            .vmove_put(&self.ctx.claim.lease, &self.record)
            .await
            .map(drop)
            .map_err(|e| crate::error::chain(&StepError::store("recording the vmove", e)))
    }

    /// Nova's scheduler chose `dest`: the server is being rebuilt there. Best effort: the
    /// move's end is recorded whatever happens here.
    async fn rebuilding(&mut self, dest: &str) {
        if self.record.dest_host.as_deref() == Some(dest) {
            return;
        }
        self.record.dest_host = Some(dest.to_owned());
        self.record.message = Some(format!("Rebuilding on '{dest}'"));
        if let Err(e) = self.put().await {
            tracing::warn!(server = %self.record.instance_uuid, error = %e, "recording a vmove's destination");
        }
    }

    async fn end(mut self, result: &Result<MovedServer, String>) -> Result<(), String> {
        let record = &mut self.record;
        record.end_time = Some(Timestamp::now());
        let outcome = match result {
            Ok(m) if m.gone => {
                record.status = VMoveStatus::Ignored;
                record.message = Some("the server was deleted".into());
                EvacuationOutcome::Gone
            }
            Ok(m) => {
                record.status = VMoveStatus::Succeeded;
                record.dest_host = m.to.clone();
                record.message = None;
                self.ctx.claim.metrics.server_recovered();
                EvacuationOutcome::Succeeded
            }
            Err(why) => {
                record.status = VMoveStatus::Failed;
                record.message = Some(format!("Failed reason: {why}"));
                EvacuationOutcome::Failed
            }
        };
        self.ctx.claim.metrics.metrics().evacuation_outcome(outcome);
        self.put().await
    }
}

/// Evacuates one server and waits until it runs elsewhere, carrying out the decisions of its
/// [`Evacuation`].
async fn drive(
    ctx: &HostFailure,
    feed: &MigrationFeed,
    tally: &Tally,
    server: &Planned,
    target: Option<&str>,
    record: &mut MoveRecord<'_>,
) -> Result<MovedServer, String> {
    let timeout = ctx.config.evacuation_timeout_secs;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut evacuation = Evacuation::new(
        ctx.config.evacuation_attempts,
        ctx.claim.notification.lifecycle.created_at,
        Timestamp::now(),
    );
    // Decisions need a snapshot asked for after the last action, or an evacuation just
    // accepted could look absent and be issued twice. A server not yet acted on can go by the
    // feed's latest snapshot instead of waiting a poll interval for the next.
    let mut fresh_after = feed.fresh_for(&server.id);
    loop {
        let Some(snapshot) = feed.after(fresh_after, deadline).await else {
            return Err(evacuation.timed_out(timeout));
        };
        fresh_after = Instant::now();
        let of_server: Vec<&Migration> = snapshot
            .migrations
            .iter()
            .filter(|m| m.instance_uuid == server.id)
            .collect();
        match evacuation.observe(&of_server) {
            Next::Confirm => return confirm(ctx, server, deadline).await,
            Next::Wait => {
                if let Some(dest) = evacuation.destination(&of_server) {
                    record.rebuilding(dest).await;
                }
                continue;
            }
            Next::GiveUp(why) => return Err(why),
            Next::Issue => {}
        }
        let answer = match ctx
            .claim
            .nova
            .evacuate(&server.id, target, ctx.config.start_in_tiers)
            .await
        {
            Ok(()) => Answer::Accepted,
            Err(e) => match e.class() {
                ErrorClass::Gone => Answer::Gone,
                ErrorClass::Transient => Answer::Transient,
                ErrorClass::Conflict => Answer::Conflict {
                    rebuilding: rebuilding(ctx, &server.id).await,
                    message: e.to_string(),
                },
                ErrorClass::Fatal => Answer::Refused(e.to_string()),
            },
        };
        let accepted = answer == Answer::Accepted;
        match evacuation.answer(answer) {
            AfterIssue::Watch if accepted => tally.accepted(ctx, server, target).await,
            AfterIssue::Watch => {}
            AfterIssue::Gone => {
                return Ok(MovedServer {
                    id: server.id.clone(),
                    to: None,
                    gone: true,
                })
            }
            AfterIssue::ResetToError => {
                tracing::info!(server = %server.id, "resetting server state to error");
                ctx.claim
                    .nova
                    .reset_state(&server.id, "error")
                    .await
                    .map_err(|e| e.to_string())?;
            }
            AfterIssue::GiveUp(why) => return Err(why),
        }
        fresh_after = feed.acted(&server.id);
    }
}

/// Whether Nova shows the server being rebuilt (evacuated): its task state is set before the
/// evacuation is accepted. An unreadable server counts as not rebuilding.
async fn rebuilding(ctx: &HostFailure, server: &str) -> bool {
    match ctx.claim.nova.server(server).await {
        Ok(Some(s)) => s.task_state.is_some_and(|t| t.starts_with("rebuild")),
        _ => false,
    }
}

/// After Nova's migration is `done`: wait for the server to settle on its new host, then put
/// it back in the state it had (stopped stays stopped; error stays error, as in Masakari).
async fn confirm(
    ctx: &HostFailure,
    server: &Planned,
    deadline: Instant,
) -> Result<MovedServer, String> {
    let gone = || MovedServer {
        id: server.id.clone(),
        to: None,
        gone: true,
    };
    loop {
        let current = match ctx.claim.nova.server(&server.id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(gone()),
            Err(e) => match e.class() {
                ErrorClass::Gone => return Ok(gone()),
                ErrorClass::Transient => {
                    tokio::time::sleep(ctx.poll()).await;
                    continue;
                }
                _ => return Err(e.to_string()),
            },
        };
        let tiered = ctx.config.start_in_tiers;
        match super::decide::settle(&ctx.host.name, &server.original_vm_state, &current, tiered) {
            Settle::Done { restore } => {
                match restore {
                    Some(Restore::ResetToError) => ctx
                        .claim
                        .nova
                        .reset_state(&server.id, "error")
                        .await
                        .map_err(|e| format!("resetting it to error: {e}"))?,
                    Some(Restore::Stop) => ctx
                        .claim
                        .nova
                        .stop_server(&server.id)
                        .await
                        .map_err(|e| format!("stopping it again: {e}"))?,
                    None => {}
                }
                return Ok(MovedServer {
                    id: server.id.clone(),
                    to: current.host,
                    gone: false,
                });
            }
            Settle::Wait if Instant::now() > deadline => {
                return Err(format!(
                    "timeout waiting for the server to settle (host {:?}, vm_state {}, \
                     task_state {:?})",
                    current.host, current.vm_state, current.task_state
                ));
            }
            Settle::Wait => tokio::time::sleep(ctx.poll()).await,
        }
    }
}

//! What a host recovery tells operators while it runs: every server of the failed host recorded
//! as a `pending` vmove while the host is fenced, the servers the policy leaves behind marked
//! `ignored` with the reason, and a progress message as each evacuation is accepted by Nova
//! and as each ends, so `openstack notification progress details` and `openstack vmove list`
//! follow the recovery server by server.

use super::evacuate::{MovedServer, EVACUATED};
use super::gate::FENCED;
use super::HostFailure;
use crate::error::StepError;
use crate::planner::{left_out, Planned, ServerFacts};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use vigil_domain::{InstanceMove, Timestamp, VMoveStatus, VMoveType};
use vigil_store::{Page, VMoveFilter};

/// How long listing the host's servers may run beside fencing; it only informs operators.
const LIST_DURING_FENCING: Duration = Duration::from_secs(10);

/// A server of the failed host, recorded as not yet moved.
pub(super) fn pending(ctx: &HostFailure, id: &str, name: &str) -> InstanceMove {
    InstanceMove {
        instance_uuid: id.to_owned(),
        instance_name: name.to_owned(),
        source_host: Some(ctx.host.name.clone()),
        dest_host: None,
        start_time: None,
        end_time: None,
        vmove_type: VMoveType::Evacuation,
        status: VMoveStatus::Pending,
        message: None,
    }
}

/// Run beside fencing: records every server Nova has on the host as `pending`, so operators
/// see what waits on the fence. Best effort: a failure is logged, and the servers chosen are
/// recorded again before they move.
pub(super) async fn announce_while_fencing(ctx: &HostFailure) {
    let listed = tokio::time::timeout(
        LIST_DURING_FENCING,
        ctx.claim.nova.servers_on_host(&ctx.host.name),
    )
    .await;
    let servers = match listed {
        Ok(Ok(servers)) => servers,
        Ok(Err(e)) => {
            let error = &e as &dyn std::error::Error;
            tracing::warn!(host = %ctx.host.name, error, "listing the servers being fenced");
            return;
        }
        Err(_) => {
            tracing::warn!(host = %ctx.host.name, "listing the servers being fenced timed out");
            return;
        }
    };
    let moves: Vec<InstanceMove> = servers
        .iter()
        .map(|s| pending(ctx, &s.id, &s.name))
        .collect();
    if let Err(e) = ctx
        .claim
        .store
        .vmoves_announce(&ctx.claim.lease, &moves)
        .await
    {
        let error = &e as &dyn std::error::Error;
        tracing::warn!(host = %ctx.host.name, error, "recording the servers being fenced");
        return;
    }
    let message = format!(
        "Fencing host '{}' with {}: {} instances wait",
        ctx.host.name,
        ctx.fencer.name(),
        moves.len()
    );
    ctx.claim.progress(FENCED.step(), 0.0, &message).await;
}

/// Marks `ignored`, with the reason, each server the policy leaves on the failed host and each
/// recorded while fencing that is no longer there, so no vmove stays `pending` for a server
/// that will not move.
pub(super) async fn record_left_out(
    ctx: &HostFailure,
    servers: &[ServerFacts],
) -> Result<(), StepError> {
    let now = Timestamp::now();
    let ignored = |mut m: InstanceMove, why: String| {
        m.status = VMoveStatus::Ignored;
        m.end_time = Some(now);
        m.message = Some(why);
        m
    };
    let mut moves: Vec<InstanceMove> = servers
        .iter()
        .filter_map(|s| {
            let why = left_out(s, &ctx.selection)?;
            Some(ignored(
                pending(ctx, &s.id, &s.name),
                format!("Not evacuated: {why}"),
            ))
        })
        .collect();
    let on_host: BTreeSet<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    let filter = VMoveFilter {
        status: Some(VMoveStatus::Pending.as_str().to_owned()),
        ..Default::default()
    };
    let announced = ctx
        .claim
        .store
        .vmove_list(ctx.claim.notification.uuid, &filter, &Page::default())
        .await
        .map_err(|e| StepError::store("reading the pending vmoves", e))?;
    moves.extend(
        announced
            .into_iter()
            .filter(|v| !on_host.contains(v.movement.instance_uuid.as_str()))
            .map(|v| {
                let why = format!("Not evacuated: no longer on host '{}'", ctx.host.name);
                ignored(v.movement, why)
            }),
    );
    ctx.claim
        .store
        .vmoves_put(&ctx.claim.lease, &moves)
        .await
        .map_err(|e| StepError::store("recording the servers left out", e))
}

/// Records every server about to be evacuated as a `pending` vmove in one write (those recorded
/// while fencing stay as they are), so operators see the whole recovery before the first
/// server moves, and says so in the step's progress.
pub(super) async fn announce(ctx: &HostFailure, servers: &[Planned]) -> Result<(), StepError> {
    let moves: Vec<InstanceMove> = servers
        .iter()
        .map(|s| pending(ctx, &s.id, &s.name))
        .collect();
    ctx.claim
        .store
        .vmoves_announce(&ctx.claim.lease, &moves)
        .await
        .map_err(|e| StepError::store("recording the pending vmoves", e))?;
    let ids: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    let message = format!(
        "Evacuating {} instances from failed host '{}' ({}, {} at a time), instance uuids \
         are: '{}'",
        servers.len(),
        ctx.host.name,
        ctx.host.segment.recovery_method.as_str(),
        ctx.config.evacuation_parallelism.max(1),
        ids.join(",")
    );
    ctx.claim.progress(EVACUATED.step(), 0.0, &message).await;
    Ok(())
}

/// How many of a step's servers have ended, for its progress reports.
pub(super) struct Tally {
    total: usize,
    ended: AtomicUsize,
}

impl Tally {
    pub(super) fn new(total: usize) -> Self {
        Self {
            total,
            ended: AtomicUsize::new(0),
        }
    }

    fn fraction(&self, ended: usize) -> f64 {
        ended as f64 / self.total.max(1) as f64
    }

    /// Nova accepted a server's evacuation: it is being rebuilt on another host.
    pub(super) async fn accepted(&self, ctx: &HostFailure, server: &Planned, target: Option<&str>) {
        let ended = self.ended.load(Ordering::Relaxed);
        let to = target.map_or("the scheduler's choice".to_owned(), |t| format!("'{t}'"));
        let message = format!(
            "Instance '{}' ({}): evacuation to {to} accepted, rebuilding",
            server.name, server.id
        );
        ctx.claim
            .progress(EVACUATED.step(), self.fraction(ended), &message)
            .await;
    }

    /// One server's evacuation ended, for this attempt.
    pub(super) async fn ended(
        &self,
        ctx: &HostFailure,
        server: &Planned,
        result: &Result<MovedServer, String>,
        took: Duration,
    ) {
        let what = match result {
            Ok(m) if m.gone => "deleted meanwhile, nothing to evacuate".to_owned(),
            Ok(m) => format!(
                "evacuated to '{}' in {:.1} s",
                m.to.as_deref().unwrap_or("?"),
                took.as_secs_f64()
            ),
            // A failed server may still go to another target; it counts once, when it ends.
            Err(why) => format!("not evacuated: {why}"),
        };
        let ended = match result {
            Ok(_) => self.ended.fetch_add(1, Ordering::Relaxed) + 1,
            Err(_) => self.ended.load(Ordering::Relaxed),
        };
        let message = format!(
            "Instance '{}' ({}) {what} ({ended} of {} done)",
            server.name, server.id, self.total
        );
        ctx.claim
            .progress(EVACUATED.step(), self.fraction(ended), &message)
            .await;
    }
}

//! What a host recovery tells operators while it evacuates: every chosen server recorded as a
//! `pending` vmove before the first one moves, and a progress message as each is accepted by
//! Nova and as each ends, so `openstack notification progress details` and `openstack vmove
//! list` follow the recovery server by server.

use super::evacuate::{MovedServer, EVACUATED};
use super::HostFailure;
use crate::error::StepError;
use crate::planner::Planned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use vigil_domain::{InstanceMove, VMoveStatus, VMoveType};

/// Records every server about to be evacuated as a `pending` vmove in one write, so operators
/// see the whole recovery (`openstack vmove list`) before the first server moves, and says so
/// in the step's progress.
pub(super) async fn announce(ctx: &HostFailure, servers: &[Planned]) -> Result<(), StepError> {
    let moves: Vec<InstanceMove> = servers
        .iter()
        .map(|s| InstanceMove {
            instance_uuid: s.id.clone(),
            instance_name: s.name.clone(),
            source_host: Some(ctx.host.name.clone()),
            dest_host: None,
            start_time: None,
            end_time: None,
            vmove_type: VMoveType::Evacuation,
            status: VMoveStatus::Pending,
            message: None,
        })
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

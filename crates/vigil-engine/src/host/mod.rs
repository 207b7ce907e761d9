//! Host-failure recovery (`COMPUTE_HOST` / `STOPPED`): gate, fence, force down, choose, evacuate,
//! and with tiered start, start the servers tier by tier.
//!
//! Step names follow Masakari's task names where the step does the same job, so operators and
//! tools reading `recovery_workflow_details` see familiar entries. Every step may run twice (a
//! crash after its effect and before its record): each one checks Nova's state before acting,
//! and evacuations re-attach to the migration a previous run started instead of issuing another.
//!
//! `gate` holds the safety steps and the force-down; `evacuate` chooses and moves the servers,
//! following the pure decisions of `decide` and watching Nova through one shared `feed`, and
//! `progress` reports each server's evacuation while the step runs; `tiers` starts them in
//! priority order.

mod decide;
mod evacuate;
mod feed;
mod gate;
mod progress;
mod tiers;

use crate::claim::Claim;
use crate::fence::Fencer;
use crate::planner::SelectionPolicy;
use crate::saga::{builtin, Step};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use vigil_domain::Host;
use vigil_wire::payload::ComputeHostPayload;

pub use decide::{AfterIssue, Answer, Evacuation, Next, Restore, Settle};

/// Tunables of host recovery. Defaults favour speed where Masakari waits for nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostRecoveryConfig {
    /// Evacuations in flight at once per failed host (Masakari: 3).
    pub evacuation_parallelism: usize,
    /// Give up on one instance's evacuation after this long.
    pub evacuation_timeout_secs: u64,
    /// Evacuations issued per instance before giving up (Nova never reschedules one).
    pub evacuation_attempts: u32,
    /// How often Nova is polled for migration and server state.
    pub poll_interval_ms: u64,
    /// Refuse to recover when more than this share of a segment's hosts failed within
    /// `mass_failure_window_secs`: a network partition looks like a mass failure.
    pub mass_failure_share: f64,
    pub mass_failure_window_secs: u64,
    /// Before evacuating to a reserved host, add it to every host aggregate the failed host
    /// is in, so servers whose flavors need those aggregates fit there (Masakari's option).
    pub add_reserved_host_to_aggregate: bool,
    /// Refuse to recover when Nova reports no `nova-scheduler` up: evacuations could not be
    /// placed, and a Nova the engine sees without schedulers may be the far side of a partition.
    pub require_scheduler: bool,
    /// Evacuate into STOPPED (Nova µv 2.95) and start the servers tier by tier, highest
    /// priority first, each tier once the one before it is ACTIVE (or its timeout passed).
    pub start_in_tiers: bool,
    /// How long one tier may take to become ACTIVE before the next is started anyway.
    pub tier_timeout_secs: u64,
}

impl Default for HostRecoveryConfig {
    fn default() -> Self {
        Self {
            evacuation_parallelism: 16,
            evacuation_timeout_secs: 300,
            evacuation_attempts: 3,
            poll_interval_ms: 500,
            mass_failure_share: 0.5,
            mass_failure_window_secs: 300,
            add_reserved_host_to_aggregate: false,
            require_scheduler: true,
            start_in_tiers: false,
            tier_timeout_secs: 300,
        }
    }
}

impl HostRecoveryConfig {
    /// The mass-failure rule: more than `mass_failure_share` of a segment's `total` hosts
    /// failed within the window (`failed`, this one included) looks like a partition. The gate
    /// applies it and `vigil plan` predicts with it.
    pub fn looks_like_partition(&self, failed: i64, total: i64) -> bool {
        total > 1 && failed as f64 > self.mass_failure_share * total as f64
    }
}

/// Everything the steps of one host recovery share.
pub struct HostFailure {
    pub claim: Claim,
    pub fencer: Arc<dyn Fencer>,
    pub payload: ComputeHostPayload,
    pub host: Host,
    pub config: HostRecoveryConfig,
    pub selection: SelectionPolicy,
}

impl HostFailure {
    fn poll(&self) -> Duration {
        Duration::from_millis(self.config.poll_interval_ms)
    }
}

/// The steps every host recovery runs first, whatever the operator's flow says: nothing is
/// evacuated from a host not known down and fenced.
pub fn safety_steps() -> Vec<Box<dyn Step<HostFailure>>> {
    vec![builtin(gate::CheckHostStatus), builtin(gate::FenceHost)]
}

/// The rest of the flow; tiered start adds a last step.
pub fn builtin_steps(config: &HostRecoveryConfig) -> Vec<Box<dyn Step<HostFailure>>> {
    let mut steps: Vec<Box<dyn Step<HostFailure>>> = vec![
        builtin(gate::DisableComputeService),
        builtin(evacuate::PrepareInstances),
        builtin(evacuate::EvacuateInstances),
    ];
    if config.start_in_tiers {
        steps.push(builtin(tiers::StartInstancesInTiers));
    }
    steps
}

impl crate::custom::FlowContext for HostFailure {
    fn context(&self) -> Value {
        crate::custom::host_context("host_failure", &self.claim.notification, &self.host)
    }
}

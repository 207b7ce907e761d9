//! `[engine]`: the engine's settings, and the flows they assemble. A configuration whose flows
//! cannot run (an unknown task, a dropped step another needs) is refused when the engine
//! starts, with a one-line error.

use crate::custom::{self, FlowConfigError};
use crate::host::{self, HostFailure, HostRecoveryConfig};
use crate::instance::{self, InstanceFailure, InstanceRecoveryConfig};
use crate::planner::SelectionPolicy;
use crate::process::{self, ProcessFailure, ProcessRecoveryConfig};
use crate::rejoin::{self, HostRejoin, RejoinConfig};
use crate::retry::RetryPolicy;
use crate::saga::Step;
use serde::{Deserialize, Serialize};

/// Engine settings (`[engine]` in the configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Seconds a claim lasts without renewal; a crashed engine's work resumes after this.
    pub lease_secs: u64,
    /// How often the queue is polled when idle.
    pub poll_interval_ms: u64,
    /// Notifications processed at once by this engine.
    pub max_concurrent: usize,
    /// Attempts (claims) of a failing notification before it is `failed`.
    pub max_attempts: i64,
    /// Delay before retrying an `error` notification, multiplied by the attempt number.
    pub retry_backoff_secs: u64,
    /// Notifications still unhandled this long after they were generated become `failed`.
    pub expire_after_secs: u64,
    /// Hosts of one segment recovered at once, by all engines together (0: no cap).
    pub segment_recovery_cap: u32,
    /// How often the headroom check measures every segment's capacity in Placement (warns
    /// and sets `vigil_segments_without_headroom`); 0: never.
    pub headroom_check_secs: u64,
    /// How steps retry a transient failure of Nova or the database.
    pub retry: RetryPolicy,
    pub host: HostRecoveryConfig,
    pub selection: SelectionPolicy,
    pub instance: InstanceRecoveryConfig,
    pub process: ProcessRecoveryConfig,
    pub rejoin: RejoinConfig,
    /// Operator-defined steps per flow (`host_failure`, `instance_failure`,
    /// `process_failure`, `host_rejoin`).
    pub flows: custom::Flows,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            poll_interval_ms: 500,
            max_concurrent: 16,
            max_attempts: 5,
            retry_backoff_secs: 30,
            expire_after_secs: 24 * 3600,
            segment_recovery_cap: 4,
            headroom_check_secs: 60,
            retry: RetryPolicy::default(),
            host: HostRecoveryConfig::default(),
            selection: SelectionPolicy::default(),
            instance: InstanceRecoveryConfig::default(),
            process: ProcessRecoveryConfig::default(),
            rejoin: RejoinConfig::default(),
            flows: custom::Flows::new(),
        }
    }
}

const FLOWS: [&str; 4] = [
    "host_failure",
    "instance_failure",
    "process_failure",
    "host_rejoin",
];

/// Every flow, assembled once from the configuration.
pub(crate) struct Flows {
    pub(crate) host: Vec<Box<dyn Step<HostFailure>>>,
    pub(crate) instance: Vec<Box<dyn Step<InstanceFailure>>>,
    pub(crate) process: Vec<Box<dyn Step<ProcessFailure>>>,
    pub(crate) rejoin: Vec<Box<dyn Step<HostRejoin>>>,
}

impl EngineConfig {
    /// Checks the operator's flows (unknown flows, task names, malformed steps, a step left
    /// without a step it needs).
    pub fn check(&self) -> Result<(), FlowConfigError> {
        self.flows().map(drop)
    }

    pub(crate) fn flows(&self) -> Result<Flows, FlowConfigError> {
        if let Some(flow) = self.flows.keys().find(|f| !FLOWS.contains(&f.as_str())) {
            return Err(FlowConfigError::UnknownFlow(flow.clone()));
        }
        let get = |flow: &str| self.flows.get(flow);
        Ok(Flows {
            host: custom::assemble(
                "host_failure",
                get("host_failure"),
                host::safety_steps(),
                host::builtin_steps(&self.host),
            )?,
            instance: custom::assemble(
                "instance_failure",
                get("instance_failure"),
                Vec::new(),
                instance::builtin_steps(),
            )?,
            process: custom::assemble(
                "process_failure",
                get("process_failure"),
                Vec::new(),
                process::builtin_steps(),
            )?,
            rejoin: custom::assemble(
                "host_rejoin",
                get("host_rejoin"),
                rejoin::safety_steps(),
                rejoin::builtin_steps(),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue that asked for flow checks: evacuating without choosing the servers first was
    /// accepted and ended `finished` having evacuated nothing. Each refusal is one line.
    #[test]
    fn a_flow_that_drops_a_needed_step_is_refused_at_start() {
        let config = |text: &str| -> EngineConfig { toml::from_str(text).unwrap() };
        let cases: &[(&str, Result<(), &str>)] = &[
            ("", Ok(())),
            (
                "[flows.host_failure]\nmain = [\"disable_compute_service_task\", \
                 \"prepare_HA_enabled_instances_task\", \"evacuate_instances_task\"]",
                Ok(()),
            ),
            (
                "[flows.host_failure]\nmain = [\"evacuate_instances_task\"]",
                Err(
                    "[engine.flows.host_failure] main: EvacuateInstancesTask needs the output \
                     of DisableComputeServiceTask, which does not run before it",
                ),
            ),
            (
                "[flows.host_failure]\nmain = [\"disable_compute_service_task\", \
                 \"evacuate_instances_task\"]",
                Err(
                    "[engine.flows.host_failure] main: EvacuateInstancesTask needs the output \
                     of PrepareHAEnabledInstancesTask, which does not run before it",
                ),
            ),
            (
                "[host]\nstart_in_tiers = true\n[flows.host_failure]\nmain = [\
                 \"disable_compute_service_task\", \"prepare_HA_enabled_instances_task\", \
                 \"start_instances_in_tiers_task\"]",
                Err(
                    "[engine.flows.host_failure] main: StartInstancesInTiersTask needs the \
                     output of EvacuateInstancesTask, which does not run before it",
                ),
            ),
            (
                "[flows.instance_failure]\nmain = [\"relocate_instance_task\"]",
                Err(
                    "[engine.flows.instance_failure] main: RelocateInstanceTask needs the \
                     output of StopInstanceTask, which does not run before it",
                ),
            ),
            (
                "[flows.process_failure]\nmain = [\"confirm_compute_node_disabled_task\"]",
                Err(
                    "[engine.flows.process_failure] main: ConfirmComputeNodeDisabledTask \
                     needs the output of DisableComputeNodeTask, which does not run before it",
                ),
            ),
            (
                // The safety steps cannot be dropped: they are in every flow, named or not.
                "[flows.host_rejoin]\nmain = [\"unfence_host_task\"]",
                Ok(()),
            ),
            (
                "[flows.host_recovery]\npre = [\"no_op\"]",
                Err(
                    "[engine.flows.host_recovery]: no such flow (one of: host_failure, \
                     instance_failure, process_failure, host_rejoin)",
                ),
            ),
        ];
        for (text, want) in cases {
            let got = config(text).check().map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_owned), "{text}");
        }
    }

    #[test]
    fn the_safety_steps_run_first_in_every_host_flow() {
        let config: EngineConfig = toml::from_str(
            "[flows.host_failure]\npre = [\"no_op\"]\nmain = [\"DisableComputeServiceTask\"]",
        )
        .unwrap();
        let flows = config.flows().unwrap();
        let names: Vec<&str> = flows.host.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "CheckHostStatusTask",
                "FenceHostTask",
                "pre[0] no_op",
                "DisableComputeServiceTask"
            ]
        );
    }
}

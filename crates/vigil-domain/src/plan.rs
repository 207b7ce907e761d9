//! What a host recovery chose to move, as its `PrepareHAEnabledInstancesTask` step records it:
//! the engine's later steps, `vigil plan` and the status page all read this one type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The flow-log name of the step whose output is [`Chosen`].
pub const CHOSEN_STEP: &str = "PrepareHAEnabledInstancesTask";

/// A server chosen for recovery, with the facts later steps need (`vm_state` is its name in
/// the flow log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub ha_enabled: bool,
    pub priority: i64,
    /// The state to restore after the move (Masakari keeps stopped servers stopped and error
    /// servers in error).
    #[serde(rename = "vm_state")]
    pub original_vm_state: String,
}

impl Planned {
    /// Whether it ran before the failure: only such servers are started again, and only they
    /// get a start tier.
    pub fn was_running(&self) -> bool {
        self.original_vm_state == "active"
    }
}

/// The servers to recover in priority order, and whether they start tier by tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chosen {
    pub servers: Vec<Planned>,
    /// Absent in records written before tiers were recorded here.
    #[serde(default)]
    pub start_in_tiers: bool,
}

impl Chosen {
    /// Each running server's start tier, 1 first; empty without tiered start.
    pub fn tier_numbers(&self) -> BTreeMap<&str, usize> {
        let mut out = BTreeMap::new();
        if !self.start_in_tiers {
            return out;
        }
        let running: Vec<Planned> = self
            .servers
            .iter()
            .filter(|c| c.was_running())
            .cloned()
            .collect();
        for (n, tier) in tiers(&running).iter().enumerate() {
            for c in tier {
                if let Some(orig) = self.servers.iter().find(|o| o.id == c.id) {
                    out.insert(orig.id.as_str(), n + 1);
                }
            }
        }
        out
    }
}

/// Groups an ordered plan into start tiers of equal priority, highest first: with tiered start,
/// tier N+1 is started only once every server of tier N is ACTIVE.
pub fn tiers(plan: &[Planned]) -> Vec<Vec<Planned>> {
    let mut out: Vec<Vec<Planned>> = Vec::new();
    for p in plan {
        match out.last_mut() {
            Some(tier) if tier[0].priority == p.priority => tier.push(p.clone()),
            _ => out.push(vec![p.clone()]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(id: &str, priority: i64, vm_state: &str) -> Planned {
        Planned {
            id: id.to_owned(),
            name: id.to_owned(),
            ha_enabled: false,
            priority,
            original_vm_state: vm_state.to_owned(),
        }
    }

    #[test]
    fn tier_numbers_count_running_servers_only() {
        let servers = vec![
            planned("a", 10, "active"),
            planned("b", 10, "active"),
            planned("off", 5, "stopped"),
            planned("c", 5, "active"),
            planned("d", 0, "active"),
        ];
        let tiered = Chosen {
            servers: servers.clone(),
            start_in_tiers: true,
        };
        let want: BTreeMap<&str, usize> = [("a", 1), ("b", 1), ("c", 2), ("d", 3)].into();
        assert_eq!(tiered.tier_numbers(), want);
        let flat = Chosen {
            servers,
            start_in_tiers: false,
        };
        assert!(flat.tier_numbers().is_empty());
    }

    #[test]
    fn older_records_read_without_tiers() {
        let old = r#"{"servers":[{"id":"x","name":"x","priority":0,"vm_state":"active"}]}"#;
        let chosen: Chosen = serde_json::from_str(old).unwrap();
        assert!(!chosen.start_in_tiers);
        assert!(!chosen.servers[0].ha_enabled);
    }
}

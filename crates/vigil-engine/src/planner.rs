//! Pure decisions of a host recovery: which of a failed host's servers to recover, in what
//! order, and in which start tiers. No I/O: the caller gathers `ServerFacts` from Nova.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
pub use vigil_domain::plan::{tiers, Planned};

/// What the planner needs to know about one server on the failed host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFacts {
    pub id: String,
    pub name: String,
    /// Nova's `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, …
    pub vm_state: String,
    pub metadata: BTreeMap<String, String>,
    /// Flavor extra specs (Nova ≥ 2.61 embeds them in the server) and image properties, merged.
    pub tags: BTreeMap<String, String>,
}

/// A Nova server's facts: its flavor's extra specs are its tags (Nova ≥ 2.61 embeds them).
pub fn facts_of(s: &vigil_openstack::nova::Server) -> ServerFacts {
    ServerFacts {
        id: s.id.clone(),
        name: s.name.clone(),
        vm_state: s.vm_state.clone(),
        metadata: s.metadata.clone(),
        tags: s.extra_specs.clone(),
    }
}

/// Which servers a host recovery moves, and how it orders them. Masakari's options keep their
/// names and defaults; the rest are Vigil's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectionPolicy {
    /// Recover servers without the HA metadata key too (after the HA-enabled ones).
    pub evacuate_all_instances: bool,
    /// Server metadata key marking a server as HA-enabled (truthy value).
    pub ha_enabled_instance_metadata_key: String,
    /// Leave servers in `error` state where they are.
    pub ignore_instances_in_error_state: bool,
    /// Server metadata key holding an integer priority; higher goes first (default 0).
    pub priority_metadata_key: String,
    /// Flavor extra spec / image property: a falsy value excludes a server from recovery.
    pub evacuable_tag: String,
    /// Only recover servers whose flavor or image carries `evacuable_tag` with a truthy value.
    pub require_evacuable_tag: bool,
}

impl Default for SelectionPolicy {
    fn default() -> Self {
        Self {
            evacuate_all_instances: true,
            ha_enabled_instance_metadata_key: "HA_Enabled".to_owned(),
            ignore_instances_in_error_state: false,
            priority_metadata_key: "HA_Priority".to_owned(),
            evacuable_tag: "evacuable".to_owned(),
            require_evacuable_tag: false,
        }
    }
}

/// Masakari's `bool_from_string` truth table: `1 t true on y yes`, case-insensitive.
pub fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

fn falsy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "0" | "f" | "false" | "off" | "n" | "no"
    )
}

/// Why the policy leaves a server on the failed host, or `None` when it is recovered.
pub fn left_out(s: &ServerFacts, policy: &SelectionPolicy) -> Option<String> {
    if policy.ignore_instances_in_error_state && s.vm_state == "error" {
        return Some("in error state, and ignore_instances_in_error_state is set".to_owned());
    }
    let tag = &policy.evacuable_tag;
    match s.tags.get(tag) {
        Some(v) if falsy(v) => return Some(format!("its flavor or image sets {tag}={v}")),
        Some(v) if truthy(v) => {}
        _ if policy.require_evacuable_tag => {
            return Some(format!(
                "its flavor and image lack a true {tag}, and require_evacuable_tag is set"
            ))
        }
        _ => {}
    }
    if !ha_enabled(s, policy) && !policy.evacuate_all_instances {
        return Some(format!(
            "not HA-enabled (metadata {}), and evacuate_all_instances is off",
            policy.ha_enabled_instance_metadata_key
        ));
    }
    None
}

fn ha_enabled(s: &ServerFacts, policy: &SelectionPolicy) -> bool {
    s.metadata
        .get(&policy.ha_enabled_instance_metadata_key)
        .is_some_and(|v| truthy(v))
}

/// Chooses the servers to recover and orders them: priority descending, then HA-enabled before
/// the rest, then by name and id so the order is stable across engines and restarts.
pub fn plan(servers: &[ServerFacts], policy: &SelectionPolicy) -> Vec<Planned> {
    let mut chosen: Vec<Planned> = servers
        .iter()
        .filter(|s| left_out(s, policy).is_none())
        .map(|s| Planned {
            id: s.id.clone(),
            name: s.name.clone(),
            ha_enabled: ha_enabled(s, policy),
            priority: s
                .metadata
                .get(&policy.priority_metadata_key)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            original_vm_state: s.vm_state.clone(),
        })
        .collect();
    chosen.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(b.ha_enabled.cmp(&a.ha_enabled))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(
        id: &str,
        vm_state: &str,
        meta: &[(&str, &str)],
        tags: &[(&str, &str)],
    ) -> ServerFacts {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        ServerFacts {
            id: id.to_owned(),
            name: format!("vm-{id}"),
            vm_state: vm_state.to_owned(),
            metadata: map(meta),
            tags: map(tags),
        }
    }

    fn ids(plan: &[Planned]) -> Vec<&str> {
        plan.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn selection_table() {
        let servers = vec![
            server("a", "active", &[], &[]),
            server("b", "active", &[("HA_Enabled", "True")], &[]),
            server("c", "error", &[("HA_Enabled", "yes")], &[]),
            server("d", "stopped", &[("HA_Enabled", "false")], &[]),
            server("e", "active", &[], &[("evacuable", "false")]),
            server("f", "active", &[], &[("evacuable", "true")]),
        ];
        let default = SelectionPolicy::default();
        let only_ha = SelectionPolicy {
            evacuate_all_instances: false,
            ..default.clone()
        };
        let no_error = SelectionPolicy {
            ignore_instances_in_error_state: true,
            ..default.clone()
        };
        let tagged = SelectionPolicy {
            require_evacuable_tag: true,
            ..default.clone()
        };
        let cases: &[(&SelectionPolicy, &[&str])] = &[
            // HA-enabled first, then the rest, each by name; `e` is tagged not evacuable.
            (&default, &["b", "c", "a", "d", "f"]),
            (&only_ha, &["b", "c"]),
            (&no_error, &["b", "a", "d", "f"]),
            (&tagged, &["f"]),
        ];
        for (policy, want) in cases {
            assert_eq!(ids(&plan(&servers, policy)), *want, "{policy:?}");
        }
    }

    #[test]
    fn left_out_says_which_rule() {
        let only_ha = SelectionPolicy {
            evacuate_all_instances: false,
            ..SelectionPolicy::default()
        };
        let strict = SelectionPolicy {
            ignore_instances_in_error_state: true,
            require_evacuable_tag: true,
            ..SelectionPolicy::default()
        };
        #[rustfmt::skip]
        let cases: &[(ServerFacts, &SelectionPolicy, Option<&str>)] = &[
            (server("a", "active", &[], &[]), &only_ha, Some("not HA-enabled (metadata HA_Enabled)")),
            (server("b", "active", &[("HA_Enabled", "on")], &[]), &only_ha, None),
            (server("c", "error", &[], &[("evacuable", "yes")]), &strict, Some("in error state")),
            (server("d", "active", &[], &[]), &strict, Some("lack a true evacuable")),
            (server("e", "active", &[], &[("evacuable", "no")]), &only_ha, Some("sets evacuable=no")),
            (server("f", "stopped", &[], &[("evacuable", "1")]), &strict, None),
        ];
        for (facts, policy, want) in cases {
            let got = left_out(facts, policy);
            match want {
                None => assert_eq!(got, None, "{}", facts.id),
                Some(part) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(part)),
                    "{}: {got:?}",
                    facts.id
                ),
            }
        }
    }

    #[test]
    fn priority_orders_before_ha_flag_and_unparsable_priority_is_zero() {
        let servers = vec![
            server("low", "active", &[("HA_Enabled", "True")], &[]),
            server("high", "active", &[("HA_Priority", "10")], &[]),
            server("bad", "active", &[("HA_Priority", "soon")], &[]),
            server("neg", "active", &[("HA_Priority", "-1")], &[]),
        ];
        let p = plan(&servers, &SelectionPolicy::default());
        assert_eq!(ids(&p), ["high", "low", "bad", "neg"]);
        let t = tiers(&p);
        let tier_ids: Vec<Vec<&str>> = t.iter().map(|tier| ids(tier)).collect();
        assert_eq!(
            tier_ids,
            vec![vec!["high"], vec!["low", "bad"], vec!["neg"]]
        );
    }

    #[test]
    fn truth_table_matches_masakari() {
        for v in ["1", "t", "True", "ON", "y", "yes"] {
            assert!(truthy(v), "{v}");
        }
        for v in ["0", "false", "", "enabled", "2"] {
            assert!(!truthy(v), "{v}");
        }
    }
}

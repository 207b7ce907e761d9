//! Pure: where a failed host's servers could go. Which hosts a recovery may use is the
//! engine's own rule, written here once: `strategies` and `usable`, which `vigil-engine`'s
//! `host::evacuate` calls when it picks reserved hosts — the scheduler's choice among enabled
//! hosts, or the segment's reserved hosts in the store's order; each server then goes to the
//! first host with room for every resource class it uses, within `max_unit`.

use crate::facts::HostFacts;
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_domain::RecoveryMethod;
use vigil_openstack::placement::Resources;

/// Where a recovery sends servers: anywhere the scheduler likes among the usable hosts, or the
/// segment's reserved hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Auto,
    Reserved,
}

/// The strategies a recovery method tries, in order; the `*_priority` methods fall back to
/// the other one for the servers the first could not move. The engine's own order.
pub fn strategies(method: RecoveryMethod) -> &'static [Strategy] {
    match method {
        RecoveryMethod::Auto => &[Strategy::Auto],
        RecoveryMethod::ReservedHost => &[Strategy::Reserved],
        RecoveryMethod::AutoPriority => &[Strategy::Auto, Strategy::Reserved],
        RecoveryMethod::RhPriority => &[Strategy::Reserved, Strategy::Auto],
    }
}

/// The hosts `strategy` may move `failed`'s servers to, in the order given. `Auto`: the other
/// hosts not on maintenance whose compute service is up and enabled (the scheduler's
/// candidates within the segment). `Reserved`: the engine's rule for reserved hosts — reserved,
/// not on maintenance, compute service up (the recovery enables it).
pub fn targets<'a>(hosts: &'a [HostFacts], failed: &str, strategy: Strategy) -> Vec<&'a HostFacts> {
    hosts
        .iter()
        .filter(|h| usable(h, failed, strategy))
        .collect()
}

/// Whether `strategy` may move `failed`'s servers to `host` (see [`targets`]): the one rule,
/// used by the engine when it picks reserved hosts and by the predictions.
pub fn usable(host: &HostFacts, failed: &str, strategy: Strategy) -> bool {
    if host.name == failed || host.on_maintenance {
        return false;
    }
    match (strategy, host.service) {
        (_, None) => false,
        (Strategy::Auto, Some(s)) => s.up && s.enabled,
        (Strategy::Reserved, Some(s)) => host.reserved && s.up,
    }
}

/// One server's needs: its allocation on the failed host's provider.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    pub id: String,
    pub resources: Resources,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub server: String,
    pub host: String,
    pub strategy: Strategy,
}

/// Where each server would go, and the servers no host has room for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Packing {
    pub placed: Vec<Placed>,
    pub unplaced: Vec<String>,
}

/// What is left of one host while servers are placed on it.
struct Room {
    free: Resources,
    max_unit: Resources,
}

impl Room {
    fn of(h: &HostFacts) -> Room {
        let max_unit = h.provider.as_ref().map_or_else(BTreeMap::new, |p| {
            p.inventories
                .iter()
                .map(|(c, i)| (c.clone(), i.max_unit))
                .collect()
        });
        Room {
            free: h.free(),
            max_unit,
        }
    }

    /// Every class the server uses is in this host's inventory, within `max_unit`, and free.
    fn fits(&self, d: &Demand) -> bool {
        d.resources.iter().all(|(class, &amount)| {
            amount <= 0
                || (self.max_unit.get(class).is_some_and(|&m| amount <= m)
                    && self.free.get(class).is_some_and(|&f| amount <= f))
        })
    }

    fn take(&mut self, d: &Demand) {
        for (class, amount) in &d.resources {
            *self.free.entry(class.clone()).or_default() -= amount;
        }
    }
}

/// Places `servers`, in the order given, for the failure of `failed`: each strategy of
/// `method` in turn takes the servers the ones before left, each server going to the first of
/// the strategy's targets with room. Hosts two strategies share keep one account.
pub fn place(
    hosts: &[HostFacts],
    failed: &str,
    method: RecoveryMethod,
    servers: &[Demand],
) -> Packing {
    let mut rooms: BTreeMap<&str, Room> = BTreeMap::new();
    let mut pending: Vec<&Demand> = servers.iter().collect();
    let mut placed = Vec::new();
    for &strategy in strategies(method) {
        let order: Vec<&str> = targets(hosts, failed, strategy)
            .into_iter()
            .map(|h| {
                rooms.entry(h.name.as_str()).or_insert_with(|| Room::of(h));
                h.name.as_str()
            })
            .collect();
        pending.retain(|d| {
            let Some(host) = order.iter().find(|h| rooms[**h].fits(d)) else {
                return true;
            };
            rooms.get_mut(*host).expect("room made above").take(d);
            placed.push(Placed {
                server: d.id.clone(),
                host: (*host).to_owned(),
                strategy,
            });
            false
        });
    }
    Packing {
        placed,
        unplaced: pending.into_iter().map(|d| d.id.clone()).collect(),
    }
}

/// Orders servers largest first (first-fit decreasing), by each one's dominant share: its
/// largest amount relative to the largest capacity any of `hosts` has of that class. Ties by
/// id, so the order is stable.
pub fn largest_first(servers: &mut [Demand], hosts: &[HostFacts]) {
    let mut biggest: BTreeMap<&str, i64> = BTreeMap::new();
    for p in hosts.iter().filter_map(|h| h.provider.as_ref()) {
        for (class, inv) in &p.inventories {
            let b = biggest.entry(class.as_str()).or_default();
            *b = (*b).max(inv.capacity());
        }
    }
    let share = |d: &Demand| {
        d.resources
            .iter()
            .map(|(c, &a)| a as f64 / biggest.get(c.as_str()).copied().unwrap_or(1).max(1) as f64)
            .fold(0.0, f64::max)
    };
    servers.sort_by(|a, b| share(b).total_cmp(&share(a)).then_with(|| a.id.cmp(&b.id)));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::facts::{ProviderFacts, ServiceState};
    use vigil_openstack::placement::Inventory;

    /// A host with `(class, total, reserved, ratio, max_unit, used)` per class.
    pub(crate) fn host(name: &str, classes: &[(&str, i64, i64, f64, i64, i64)]) -> HostFacts {
        let mut p = ProviderFacts {
            uuid: format!("rp-{name}"),
            ..Default::default()
        };
        for &(class, total, reserved, allocation_ratio, max_unit, used) in classes {
            let inv = Inventory {
                total,
                reserved,
                min_unit: 1,
                max_unit,
                step_size: 1,
                allocation_ratio,
            };
            p.inventories.insert(class.into(), inv);
            p.usages.insert(class.into(), used);
        }
        HostFacts {
            name: name.into(),
            service: Some(ServiceState {
                up: true,
                enabled: true,
            }),
            provider: Some(p),
            ..Default::default()
        }
    }

    pub(crate) fn demand(id: &str, vcpu: i64, ram: i64) -> Demand {
        Demand {
            id: id.into(),
            resources: [("VCPU".into(), vcpu), ("MEMORY_MB".into(), ram)].into(),
        }
    }

    /// 4 cores at 2.0 (8 allocatable), 1,024 MB with 24 reserved (1,000), `used` of each.
    fn small(name: &str, vcpu_used: i64, ram_used: i64) -> HostFacts {
        host(
            name,
            &[
                ("VCPU", 4, 0, 2.0, 4, vcpu_used),
                ("MEMORY_MB", 1024, 24, 1.0, 1024, ram_used),
            ],
        )
    }

    fn placed(p: &Packing) -> Vec<(&str, &str)> {
        p.placed
            .iter()
            .map(|x| (x.server.as_str(), x.host.as_str()))
            .collect()
    }

    #[test]
    fn packing_table() {
        use RecoveryMethod::*;
        let down = |mut h: HostFacts| {
            h.service = Some(ServiceState {
                up: false,
                enabled: true,
            });
            h
        };
        let disabled = |mut h: HostFacts| {
            h.service = Some(ServiceState {
                up: true,
                enabled: false,
            });
            h
        };
        let reserved = |mut h: HostFacts| {
            h.reserved = true;
            h
        };
        let maintenance = |mut h: HostFacts| {
            h.on_maintenance = true;
            h
        };
        type Case = (
            &'static str,
            Vec<HostFacts>,
            RecoveryMethod,
            Vec<Demand>,
            Vec<(&'static str, &'static str)>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "first fit, in the order given",
                vec![small("f", 0, 0), small("a", 6, 0), small("b", 0, 0)],
                Auto,
                vec![demand("s1", 2, 100), demand("s2", 1, 100), demand("s3", 2, 100)],
                vec![("s1", "a"), ("s2", "b"), ("s3", "b")],
                vec![],
            ),
            (
                "free memory is (total - reserved) * ratio - used",
                vec![small("f", 0, 0), small("a", 0, 500)],
                Auto,
                vec![demand("s1", 1, 500), demand("s2", 1, 1)],
                vec![("s1", "a")],
                vec!["s2"],
            ),
            (
                "max_unit: a server larger than any one host does not fit though the sum would",
                vec![small("f", 0, 0), small("a", 0, 0), small("b", 0, 0)],
                Auto,
                vec![demand("big", 5, 10)],
                vec![],
                vec!["big"],
            ),
            (
                "a class the host has no inventory of never fits",
                vec![small("f", 0, 0), small("a", 0, 0)],
                Auto,
                vec![Demand {
                    id: "gpu".into(),
                    resources: [("VGPU".into(), 1)].into(),
                }],
                vec![],
                vec!["gpu"],
            ),
            (
                "auto: down, disabled, on maintenance and Nova-less hosts take nothing",
                vec![
                    small("f", 0, 0),
                    down(small("a", 0, 0)),
                    disabled(small("b", 0, 0)),
                    maintenance(small("c", 0, 0)),
                    HostFacts {
                        service: None,
                        ..small("d", 0, 0)
                    },
                    small("e", 0, 0),
                ],
                Auto,
                vec![demand("s1", 1, 1)],
                vec![("s1", "e")],
                vec![],
            ),
            (
                "reserved_host: only reserved hosts, disabled ones included (the engine enables them), in order",
                vec![small("f", 0, 0), small("a", 0, 0), reserved(disabled(small("r1", 0, 900))), reserved(disabled(small("r2", 0, 0)))],
                ReservedHost,
                vec![demand("s1", 1, 50), demand("s2", 1, 200)],
                vec![("s1", "r1"), ("s2", "r2")],
                vec![],
            ),
            (
                "reserved_host: a reserved host down or on maintenance is skipped",
                vec![small("f", 0, 0), reserved(down(small("r1", 0, 0))), reserved(maintenance(small("r2", 0, 0)))],
                ReservedHost,
                vec![demand("s1", 1, 1)],
                vec![],
                vec!["s1"],
            ),
            (
                "auto_priority: what auto cannot place goes to the reserved hosts",
                vec![small("f", 0, 0), small("a", 0, 900), reserved(disabled(small("r", 0, 0)))],
                AutoPriority,
                vec![demand("s1", 1, 50), demand("s2", 1, 200)],
                vec![("s1", "a"), ("s2", "r")],
                vec![],
            ),
            (
                "rh_priority: reserved first, then the scheduler; a shared host keeps one account",
                vec![small("f", 0, 0), reserved(small("r", 0, 700))],
                RhPriority,
                vec![demand("s1", 1, 200), demand("s2", 1, 200)],
                vec![("s1", "r")],
                vec!["s2"],
            ),
        ];
        for (what, hosts, method, servers, want_placed, want_unplaced) in cases {
            let got = place(&hosts, "f", method, &servers);
            assert_eq!(placed(&got), want_placed, "{what}");
            assert_eq!(got.unplaced, want_unplaced, "{what}");
        }
    }

    #[test]
    fn largest_first_orders_by_dominant_share_then_id() {
        let hosts = [small("a", 0, 0)];
        // Shares of 8 VCPU and 1,000 MB: 0.25, 0.5 (memory), 0.5 (cpu), 0.125.
        let mut servers = vec![
            demand("b", 2, 10),
            demand("c", 1, 500),
            demand("a", 4, 10),
            demand("d", 1, 125),
        ];
        largest_first(&mut servers, &hosts);
        let ids: Vec<&str> = servers.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b", "d"]);
    }
}

//! What the computation knows of a segment: its hosts as Vigil, Nova and Placement see them.

use serde::Serialize;
use std::collections::BTreeMap;
use vigil_domain::Segment;
use vigil_openstack::placement::{Inventory, Resources};

/// A segment and its hosts, in the store's listing order (the engine's order of reserved
/// hosts: the first usable one takes the servers).
#[derive(Clone, Debug)]
pub struct SegmentFacts {
    pub segment: Segment,
    pub hosts: Vec<HostFacts>,
}

#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    pub name: String,
    pub reserved: bool,
    pub on_maintenance: bool,
    /// Nova's `nova-compute` service on the host; `None` when Nova has none of that name.
    pub service: Option<ServiceState>,
    /// Placement's provider named after the host; `None` when it has none.
    pub provider: Option<ProviderFacts>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceState {
    pub up: bool,
    pub enabled: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ProviderFacts {
    pub uuid: String,
    pub inventories: BTreeMap<String, Inventory>,
    /// Placement's own sum of every consumer's allocation.
    pub usages: Resources,
    /// Each consumer's allocation on this provider: a server (or a migration holding a moving
    /// server's resources), by uuid.
    pub consumers: BTreeMap<String, Resources>,
}

impl HostFacts {
    /// Free amount per resource class: what Placement still lets consumers allocate,
    /// `(total - reserved) * allocation_ratio - used` (negative when over-committed).
    pub fn free(&self) -> Resources {
        let Some(p) = &self.provider else {
            return Resources::new();
        };
        p.inventories
            .iter()
            .map(|(class, inv)| {
                let used = p.usages.get(class).copied().unwrap_or(0);
                (class.clone(), inv.capacity() - used)
            })
            .collect()
    }
}

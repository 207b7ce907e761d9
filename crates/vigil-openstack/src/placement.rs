//! `Placement`: the Placement calls Vigil makes to measure capacity (`vigil capacity`, the
//! engine's headroom check, `vigil plan`): resource providers by name, their inventories,
//! usages and the allocations of each consumer (server) on them. Read-only.
//!
//! Errors are [`OsError`]s, classified as Nova's are (transient, gone, conflict, fatal).

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{OsError, Session};

/// The header value that carries a microversion.
const HEADER: &str = "OpenStack-API-Version";
/// Every call here exists in Placement's base version, and its answers (inventories with
/// allocation ratios and unit limits, usages, allocations per consumer) have had the same
/// shape since: asking for 1.0 pins that shape against any later change.
pub const VERSION: &str = "placement 1.0";

/// A resource provider: for a compute node, named after the hypervisor's host name (the fake
/// driver's node is named after its compute host).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ResourceProvider {
    pub uuid: String,
    pub name: String,
    pub generation: i64,
}

/// One resource class's inventory on a provider.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Inventory {
    pub total: i64,
    #[serde(default)]
    pub reserved: i64,
    #[serde(default = "one")]
    pub min_unit: i64,
    /// The most one consumer may take of it (a server larger than this never fits here).
    pub max_unit: i64,
    #[serde(default = "one")]
    pub step_size: i64,
    #[serde(default = "ratio_one")]
    pub allocation_ratio: f64,
}

fn one() -> i64 {
    1
}

fn ratio_one() -> f64 {
    1.0
}

impl Inventory {
    /// What Placement lets consumers allocate in all: `(total - reserved) * allocation_ratio`,
    /// rounded down as Placement does.
    pub fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio).floor() as i64
    }
}

/// Amounts per resource class (`VCPU`, `MEMORY_MB`, `DISK_GB`, …).
pub type Resources = BTreeMap<String, i64>;

/// Placement through a shared Keystone session. Cheap to clone.
#[derive(Clone)]
pub struct Placement {
    session: Arc<Session>,
}

#[derive(Deserialize)]
struct Providers {
    resource_providers: Vec<ResourceProvider>,
}

#[derive(Deserialize)]
struct Inventories {
    inventories: BTreeMap<String, Inventory>,
}

#[derive(Deserialize)]
struct Usages {
    usages: Resources,
}

#[derive(Deserialize)]
struct Allocations {
    allocations: BTreeMap<String, ConsumerAllocation>,
}

#[derive(Deserialize)]
struct ConsumerAllocation {
    resources: Resources,
}

impl Placement {
    pub fn new(session: Arc<Session>) -> Self {
        Self { session }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &'static str) -> Result<T, OsError> {
        let v: Value = self
            .session
            .request(
                "placement",
                Method::GET,
                path,
                Some((HEADER, VERSION)),
                None,
            )
            .await?;
        serde_json::from_value(v).map_err(|source| OsError::Unexpected {
            service: "placement",
            what,
            source,
        })
    }

    /// Every resource provider.
    pub async fn providers(&self) -> Result<Vec<ResourceProvider>, OsError> {
        let p: Providers = self.get("/resource_providers", "the providers").await?;
        Ok(p.resource_providers)
    }

    /// The provider named `name` (names are unique in Placement), if there is one.
    pub async fn provider_named(&self, name: &str) -> Result<Option<ResourceProvider>, OsError> {
        let query: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        let path = format!("/resource_providers?name={query}");
        let p: Providers = self.get(&path, "a provider by name").await?;
        Ok(p.resource_providers.into_iter().find(|r| r.name == name))
    }

    /// The provider's inventory per resource class.
    pub async fn inventories(
        &self,
        provider: &str,
    ) -> Result<BTreeMap<String, Inventory>, OsError> {
        let path = format!("/resource_providers/{provider}/inventories");
        let i: Inventories = self.get(&path, "a provider's inventories").await?;
        Ok(i.inventories)
    }

    /// What all consumers together use of the provider, per resource class.
    pub async fn usages(&self, provider: &str) -> Result<Resources, OsError> {
        let path = format!("/resource_providers/{provider}/usages");
        let u: Usages = self.get(&path, "a provider's usages").await?;
        Ok(u.usages)
    }

    /// Each consumer's allocation on the provider (a consumer is a server, or a migration
    /// holding a moving server's resources), by consumer uuid.
    pub async fn allocations(
        &self,
        provider: &str,
    ) -> Result<BTreeMap<String, Resources>, OsError> {
        let path = format!("/resource_providers/{provider}/allocations");
        let a: Allocations = self.get(&path, "a provider's allocations").await?;
        Ok(a.allocations
            .into_iter()
            .map(|(consumer, c)| (consumer, c.resources))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_as_placement_writes_them() {
        let i: Inventories = serde_json::from_value(json!({"resource_provider_generation": 2,
            "inventories": {"VCPU": {"total": 1000, "reserved": 0, "min_unit": 1,
            "max_unit": 1000, "step_size": 1, "allocation_ratio": 4.0},
            "MEMORY_MB": {"total": 800000, "reserved": 512, "min_unit": 1, "max_unit": 800000,
            "step_size": 1, "allocation_ratio": 1.0}}}))
        .unwrap();
        assert_eq!(i.inventories["VCPU"].capacity(), 4000);
        assert_eq!(i.inventories["MEMORY_MB"].capacity(), 799_488);
        // Placement rounds the product down.
        let odd = Inventory {
            total: 3,
            reserved: 0,
            min_unit: 1,
            max_unit: 3,
            step_size: 1,
            allocation_ratio: 1.5,
        };
        assert_eq!(odd.capacity(), 4);
        let a: Allocations = serde_json::from_value(json!({"resource_provider_generation": 5,
            "allocations": {"s1": {"resources": {"VCPU": 2, "MEMORY_MB": 512}}}}))
        .unwrap();
        assert_eq!(a.allocations["s1"].resources["MEMORY_MB"], 512);
    }
}

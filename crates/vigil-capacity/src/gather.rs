//! Gathering the facts: the segments and hosts from the store, the compute services from
//! Nova (one call), and per host its Placement provider's inventories, usages and allocations.
//! Read-only. Not retried: a caller runs it again (the engine at its next tick).

use crate::facts::{HostFacts, ProviderFacts, SegmentFacts, ServiceState};
use std::collections::BTreeMap;
use vigil_domain::{Segment, SegmentId};
use vigil_openstack::nova::Compute;
use vigil_openstack::placement::{Placement, ResourceProvider};
use vigil_openstack::OsError;
use vigil_store::{HostFilter, Page, SegmentFilter, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("reading the segments")]
    Segments(#[source] StoreError),
    #[error("reading the hosts of segment {segment}")]
    Hosts {
        segment: String,
        #[source]
        source: StoreError,
    },
    #[error("asking Nova for its compute services")]
    Services(#[source] OsError),
    #[error("asking Placement for its resource providers")]
    Providers(#[source] OsError),
    #[error("asking Placement for the {what} of {host}")]
    Provider {
        host: String,
        what: &'static str,
        #[source]
        source: OsError,
    },
}

/// Where the facts come from; each is cheap to clone.
#[derive(Clone)]
pub struct Sources {
    pub store: Store,
    pub nova: Compute,
    pub placement: Placement,
}

/// The live segment whose uuid or name is `key`, if there is one.
pub async fn find_segment(store: &Store, key: &str) -> Result<Option<Segment>, StoreError> {
    if let Ok(id) = key.parse::<SegmentId>() {
        match store.segment_get(id).await {
            Ok(s) => return Ok(Some(s)),
            Err(StoreError::SegmentNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let filter = SegmentFilter {
        name: Some(key.to_owned()),
        ..Default::default()
    };
    let found = store.segment_list(&filter, &Page::default()).await?;
    Ok(found.into_iter().next())
}

impl Sources {
    /// Every live segment.
    pub async fn segments(&self) -> Result<Vec<Segment>, CapacityError> {
        let page = Page {
            sort: vec![("name".to_owned(), vigil_store::SortDir::Asc)],
            ..Page::default()
        };
        self.store
            .segment_list(&SegmentFilter::default(), &page)
            .await
            .map_err(CapacityError::Segments)
    }

    /// The facts of `segments`, in their order; hosts in the store's default order, the one
    /// the engine takes reserved hosts in.
    pub async fn gather(&self, segments: &[Segment]) -> Result<Vec<SegmentFacts>, CapacityError> {
        let services: BTreeMap<String, ServiceState> = self
            .nova
            .compute_services()
            .await
            .map_err(CapacityError::Services)?
            .into_iter()
            .map(|s| {
                let state = ServiceState {
                    up: s.state == "up",
                    enabled: s.status == "enabled",
                };
                (s.host, state)
            })
            .collect();
        let providers: BTreeMap<String, ResourceProvider> = self
            .placement
            .providers()
            .await
            .map_err(CapacityError::Providers)?
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let mut out = Vec::new();
        for segment in segments {
            let listed = self
                .store
                .host_list(segment.uuid, &HostFilter::default(), &Page::default())
                .await
                .map_err(|source| CapacityError::Hosts {
                    segment: segment.name.clone(),
                    source,
                })?;
            let mut hosts = Vec::new();
            for h in listed {
                let provider = match providers.get(&h.name) {
                    Some(p) => Some(self.provider(&h.name, p).await?),
                    None => None,
                };
                hosts.push(HostFacts {
                    service: services.get(&h.name).copied(),
                    name: h.name,
                    reserved: h.reserved,
                    on_maintenance: h.on_maintenance,
                    provider,
                });
            }
            out.push(SegmentFacts {
                segment: segment.clone(),
                hosts,
            });
        }
        Ok(out)
    }

    async fn provider(
        &self,
        host: &str,
        p: &ResourceProvider,
    ) -> Result<ProviderFacts, CapacityError> {
        let failed = |what| {
            move |source| CapacityError::Provider {
                host: host.to_owned(),
                what,
                source,
            }
        };
        Ok(ProviderFacts {
            uuid: p.uuid.clone(),
            inventories: self
                .placement
                .inventories(&p.uuid)
                .await
                .map_err(failed("inventories"))?,
            usages: self
                .placement
                .usages(&p.uuid)
                .await
                .map_err(failed("usages"))?,
            consumers: self
                .placement
                .allocations(&p.uuid)
                .await
                .map_err(failed("allocations"))?,
        })
    }
}

//! What a failure of a host would do now, without changing anything (`vigil plan HOST`): the
//! servers the engine would choose and their order (`planner`), their start tiers, the
//! segment's recovery method, the reserved hosts the recovery would enable, where the servers
//! would go and which fit nowhere (`vigil_capacity`), and which safety gate would stop it.
//!
//! `gather` reads the store, Nova and Placement; `predict` is pure (tested by tables) and keeps
//! the prediction rules in one place: the reserved hosts are `vigil_capacity::targets`, the
//! same rule the engine's `host::evacuate` applies.

mod predict;

use crate::config::EngineConfig;
use vigil_capacity::{CapacityError, SegmentFacts, Sources};
use vigil_domain::{Host, NotificationId, Timestamp};
use vigil_fence::config::FencingConfig;
use vigil_openstack::nova::Server;
use vigil_openstack::OsError;
use vigil_store::StoreError;

pub use predict::{predict, GateCheck, Inputs, PlannedMove, Verdict, WhatIf};

#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    #[error("no host named {0} in any segment")]
    UnknownHost(String),
    #[error("reading host {host}")]
    Host {
        host: String,
        #[source]
        source: StoreError,
    },
    #[error("reading the recent failures of segment {segment}")]
    History {
        segment: String,
        #[source]
        source: StoreError,
    },
    #[error("asking Nova for the servers on {host}")]
    Servers {
        host: String,
        #[source]
        source: OsError,
    },
    #[error("asking Nova for its schedulers")]
    Schedulers(#[source] OsError),
    #[error("measuring the capacity of segment {segment}")]
    Capacity {
        segment: String,
        #[source]
        source: CapacityError,
    },
}

/// Reads what the prediction needs and predicts. Read-only.
pub async fn what_if(
    sources: &Sources,
    config: &EngineConfig,
    fencing: &FencingConfig,
    host: &str,
) -> Result<WhatIf, WhatIfError> {
    let h: Host = match sources.store.host_get_by_name(host).await {
        Ok(h) => h,
        Err(StoreError::HostNameNotFound(_)) => {
            return Err(WhatIfError::UnknownHost(host.to_owned()))
        }
        Err(source) => {
            return Err(WhatIfError::Host {
                host: host.to_owned(),
                source,
            })
        }
    };
    let segment = h.segment.clone();
    let facts: SegmentFacts = sources
        .gather(std::slice::from_ref(&segment))
        .await
        .map_err(|source| WhatIfError::Capacity {
            segment: segment.name.clone(),
            source,
        })?
        .pop()
        .expect("one segment asked, one gathered");
    let servers: Vec<Server> =
        sources
            .nova
            .servers_on_host(host)
            .await
            .map_err(|source| WhatIfError::Servers {
                host: host.to_owned(),
                source,
            })?;
    let schedulers_up = if config.host.require_scheduler {
        Some(
            sources
                .nova
                .schedulers_up()
                .await
                .map_err(WhatIfError::Schedulers)?,
        )
    } else {
        None
    };
    let history = |source| WhatIfError::History {
        segment: segment.name.clone(),
        source,
    };
    // The mass-failure gate counts the segment's hosts that failed within the window, this
    // one included once its report is stored.
    let since = Timestamp::now().saturating_sub_secs(config.host.mass_failure_window_secs);
    let (failed, total) = sources
        .store
        .segment_failure_count(segment.uuid, since)
        .await
        .map_err(history)?;
    // A fresh id excludes no stored report.
    let counted = sources
        .store
        .host_last_failure(h.uuid, NotificationId::new_random())
        .await
        .map_err(history)?
        .is_some_and(|n| {
            n.generated_time >= since && n.status != vigil_domain::NotificationStatus::Ignored
        });
    // The recovery cap counts the segment's other hosts whose recovery is running.
    let running = vigil_store::NotificationFilter {
        status: Some("running".to_owned()),
        ..Default::default()
    };
    let in_recovery = sources
        .store
        .notification_list(&running, &vigil_store::Page::default())
        .await
        .map_err(history)?
        .iter()
        .filter(|n| n.failover_segment_uuid == Some(segment.uuid) && n.source_host_uuid != h.uuid)
        .count();
    let inputs = Inputs {
        host: &h,
        facts: &facts,
        servers: &servers,
        config,
        fencing,
        schedulers_up,
        failed_hosts: if counted { failed } else { failed + 1 },
        segment_hosts: total,
        in_recovery,
    };
    Ok(predict(&inputs))
}

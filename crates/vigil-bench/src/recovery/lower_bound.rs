//! The lower bound: what any recovery through Nova has to do, driven by the benchmark itself.

use anyhow::{bail, Result};
use futures::stream::{self, StreamExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use vigil_lab::Cloud;

use super::{servers, EVACUATION_ATTEMPTS, POLL, RECOVERY_LIMIT};

/// Force-down, then the evacuations, `parallelism` at a time: each one issued (again while
/// Nova still calls the service in use, or after Nova failed it) until its server is ACTIVE on
/// another host. The least any recovery through Nova has to do, with no record keeping.
///
/// One poller lists the host's evacuation records for every waiting evacuation, as Vigil's
/// engine does: a GET per server and per poll would load the single nova-api worker with
/// hundreds of calls a minute and slow the bound down. Nova's record, not the server's state,
/// says how an evacuation ended: the server's fields change at several points on the way.
pub async fn run(cloud: &Cloud, victim: &str, parallelism: usize) -> Result<()> {
    let nova = cloud.nova();
    let service = cloud.compute_service(victim).await?;
    nova.service_force_down(&service.id, "bench/recovery lower bound")
        .await?;
    let ids: Vec<String> = servers(cloud).await?.into_iter().map(|s| s.id).collect();
    let (tx, rx) = watch::channel(None::<Arc<Snapshot>>);
    let poller = async {
        loop {
            let asked = Instant::now();
            match snapshot(cloud, victim, asked).await {
                Ok(snapshot) => {
                    tx.send_replace(Some(Arc::new(snapshot)));
                }
                Err(e) => eprintln!("lower bound: listing evacuations: {e:#}"),
            }
            tokio::time::sleep(POLL).await;
        }
    };
    let evacuations = stream::iter(ids)
        .map(|id| {
            let mut rx = rx.clone();
            async move {
                let deadline = Instant::now() + RECOVERY_LIMIT;
                // Failed evacuations of this server seen so far: the latest list shows every
                // one before the next attempt, since an attempt ends on seeing its failure.
                let mut failed = 0;
                for _attempt in 0..EVACUATION_ATTEMPTS {
                    loop {
                        match nova.server_evacuate(&id, None, false).await {
                            Ok(()) => break,
                            Err(e) if e.compute_service_in_use() => tokio::time::sleep(POLL).await,
                            Err(e) => return Err(anyhow::Error::from(e)),
                        }
                        if Instant::now() > deadline {
                            bail!("{id}: Nova called its host in use for {RECOVERY_LIMIT:?}");
                        }
                    }
                    // Only lists asked for after the evacuation was accepted tell its fate.
                    let issued = Instant::now();
                    loop {
                        rx.changed().await?;
                        let Some(snapshot) = rx.borrow_and_update().clone() else {
                            continue;
                        };
                        if snapshot.asked < issued {
                            continue;
                        }
                        let record = snapshot.evacuations.get(&id).copied();
                        if record.is_some_and(|r| r.done) {
                            return Ok(());
                        }
                        let now_failed = record.map_or(0, |r| r.failed);
                        if now_failed > failed {
                            failed = now_failed;
                            break;
                        }
                        if Instant::now() > deadline {
                            bail!("{id}: not recovered after {RECOVERY_LIMIT:?}");
                        }
                    }
                }
                bail!("{id}: {EVACUATION_ATTEMPTS} evacuations failed")
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<Result<()>>>();
    tokio::select! {
        results = evacuations => results.into_iter().collect(),
        _ = poller => unreachable!("the poller loops until dropped"),
    }
}

/// Nova's evacuation records away from the failed host, by server, from a request sent at
/// `asked`. Only this run's: the records of deleted servers are not listed.
struct Snapshot {
    asked: Instant,
    evacuations: HashMap<String, Evacuations>,
}

#[derive(Clone, Copy, Default)]
struct Evacuations {
    /// One of them is `done` (or `completed`): the server runs on its new host.
    done: bool,
    /// How many ended `error` or `failed`.
    failed: usize,
}

async fn snapshot(cloud: &Cloud, victim: &str, asked: Instant) -> Result<Snapshot> {
    let mut evacuations: HashMap<String, Evacuations> = HashMap::new();
    for m in cloud.nova().evacuations_from(victim).await? {
        let e = evacuations.entry(m.instance_uuid.clone()).or_default();
        e.done |= m.succeeded();
        e.failed += usize::from(m.failed());
    }
    Ok(Snapshot { asked, evacuations })
}

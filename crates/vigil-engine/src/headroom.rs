//! The periodic headroom check: every `headroom_check_secs`, each enabled segment's capacity
//! (`vigil_capacity`) is measured; a segment that could not take in the servers of some one
//! host's failure is logged as a warning, and the count of such segments is the gauge
//! `vigil_segments_without_headroom`.
//!
//! A reconciler, apart from the engine's loop: it never blocks a recovery, and when Nova,
//! Placement or the database cannot be read it says so once per tick and tries again at the
//! next (no retries). Replicas each run it, harmlessly: it only reads.

use std::time::Duration;
use tokio::sync::watch;
use vigil_capacity::{assess, CapacityError, SegmentReport, Sources};
use vigil_metrics::Metrics;

/// A running headroom check; stop it with [`HeadroomHandle::shutdown`].
pub struct HeadroomHandle {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl HeadroomHandle {
    /// Stops the check and reports a panic of its loop.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.shutdown.send(true);
        self.task.await
    }
}

/// Starts checking every `interval`, the first time at once.
pub fn start(sources: Sources, interval: Duration, metrics: Metrics) -> HeadroomHandle {
    let (shutdown, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return,
            }
            // A check outlived by a shutdown is simply dropped: it only reads.
            tokio::select! {
                _ = check(&sources, &metrics) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    HeadroomHandle { shutdown, task }
}

/// One check: logs and counts, never fails.
async fn check(sources: &Sources, metrics: &Metrics) {
    match reports(sources).await {
        Ok(reports) => {
            let mut short = 0;
            for r in reports.iter().filter(|r| r.enabled && !r.survives_any_host) {
                short += 1;
                warn_short(r);
            }
            metrics.headroom_checked(Some(short));
        }
        Err(e) => {
            tracing::warn!(
                error = %vigil_domain::ErrorChain(&e),
                "headroom check: capacity unknown until the next check; recoveries go on"
            );
            metrics.headroom_checked(None);
        }
    }
}

/// Every segment's headroom.
pub async fn reports(sources: &Sources) -> Result<Vec<SegmentReport>, CapacityError> {
    let segments = sources.segments().await?;
    let facts = sources.gather(&segments).await?;
    Ok(facts.iter().map(assess).collect())
}

fn warn_short(r: &SegmentReport) {
    let lost: Vec<String> = r
        .hosts
        .iter()
        .filter_map(|h| {
            let loss = h.loss.as_ref()?;
            (!loss.survives).then(|| {
                format!(
                    "{} ({} servers fit nowhere)",
                    h.name,
                    loss.not_fitting.len()
                )
            })
        })
        .collect();
    tracing::warn!(
        segment = %r.segment,
        recovery_method = %r.recovery_method,
        survives_largest_host = r.survives_largest_host,
        "segment has no headroom: losing one of these hosts would leave servers without room: {}",
        lost.join(", ")
    );
}

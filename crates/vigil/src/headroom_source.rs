//! The status page's headroom: `vigil-capacity`'s assessment of every segment (the engine's
//! own check, `vigil_engine::headroom::reports`), kept for a while so that pages polling
//! every 1.5 s do not ask Nova and Placement as often.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vigil_api::headroom::{HeadroomError, HeadroomSource, SegmentHeadroom};
use vigil_capacity::{SegmentReport, Sources};

/// How long one assessment is shown before the next is made.
const KEEP: Duration = Duration::from_secs(30);

/// An assessment, or why it could not be made (as text: it is shown to every page that asks
/// until the next one).
type Assessed = Result<Arc<Vec<SegmentHeadroom>>, String>;

pub struct CapacityHeadroom {
    sources: Sources,
    /// One assessment at a time: pages that ask meanwhile wait for it and share it.
    last: Mutex<Option<(Instant, Assessed)>>,
}

/// A failure seen by an earlier request, shown again until the next assessment.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Earlier(String);

impl CapacityHeadroom {
    pub fn new(sources: Sources) -> Self {
        Self {
            sources,
            last: Mutex::new(None),
        }
    }

    async fn assessed(&self) -> Assessed {
        let mut last = self.last.lock().await;
        if let Some((at, assessed)) = last.as_ref() {
            if at.elapsed() < KEEP {
                return assessed.clone();
            }
        }
        let assessed = match vigil_engine::headroom::reports(&self.sources).await {
            Ok(reports) => Ok(Arc::new(reports.iter().filter_map(headroom).collect())),
            Err(e) => Err(vigil_domain::ErrorChain(&e).to_string()),
        };
        *last = Some((Instant::now(), assessed.clone()));
        assessed
    }
}

impl HeadroomSource for CapacityHeadroom {
    fn headroom(&self) -> BoxFuture<'_, Result<Vec<SegmentHeadroom>, HeadroomError>> {
        Box::pin(async move {
            match self.assessed().await {
                Ok(list) => Ok(list.as_ref().clone()),
                Err(text) => Err(HeadroomError::Unavailable(Box::new(Earlier(text)))),
            }
        })
    }
}

/// One segment's report in a line: which hosts' loss would leave servers without room.
fn headroom(r: &SegmentReport) -> Option<SegmentHeadroom> {
    let short = r.hosts_without_room();
    let detail = if short.is_empty() {
        match &r.largest_host {
            Some(largest) => format!("any one host can be lost (largest: {largest})"),
            None => "no servers to recover".to_owned(),
        }
    } else {
        format!(
            "losing {} would leave servers without room",
            short.join(", ")
        )
    };
    Some(SegmentHeadroom {
        // The store's own uuid, read back: one that does not parse names no segment shown.
        segment: r.uuid.parse().ok()?,
        survives_host_loss: r.survives_any_host,
        detail,
    })
}

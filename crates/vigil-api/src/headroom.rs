//! Capacity headroom per segment, as the status page shows it. The computation (Placement's
//! inventories and usages) lives elsewhere and is handed to the API behind this trait, so the
//! API does not talk to Placement itself and the page works, saying "unknown", without it.

use futures::future::BoxFuture;
use vigil_domain::SegmentId;

/// Whether each segment could lose a host and still hold its instances.
pub trait HeadroomSource: Send + Sync {
    /// Every segment's headroom, now; a segment left out is shown as unknown.
    fn headroom(&self) -> BoxFuture<'_, Result<Vec<SegmentHeadroom>, HeadroomError>>;
}

/// One segment's headroom, in the words operators read on the page.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentHeadroom {
    pub segment: SegmentId,
    /// The other hosts (or the reserved ones) can hold the instances of its largest host.
    pub survives_host_loss: bool,
    /// One line, e.g. which resource runs short and by how much.
    pub detail: String,
}

/// Why headroom could not be computed (Placement unreachable, refused, answered oddly).
#[derive(Debug, thiserror::Error)]
pub enum HeadroomError {
    #[error("computing capacity headroom")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

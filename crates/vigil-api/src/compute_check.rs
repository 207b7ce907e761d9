//! Checks host names against Nova's compute services, so a host Vigil protects is one Nova knows.

use futures::future::BoxFuture;

/// Answers whether Nova has a `nova-compute` service on host `name` (case-sensitive).
pub trait ComputeHostCheck: Send + Sync {
    fn compute_service_exists<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>>;
}

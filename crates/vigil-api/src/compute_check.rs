//! Checks host names against Nova's compute services, so a host Vigil protects is one Nova knows.

use futures::future::BoxFuture;

/// Answers whether Nova has a `nova-compute` service on host `name` (case-sensitive).
pub trait ComputeHostCheck: Send + Sync {
    fn compute_service_exists<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>>;
}

/// The check against Nova's `os-services`, with the process's shared Nova client.
pub struct NovaComputeCheck {
    pub nova: vigil_openstack::nova::Compute,
}

impl ComputeHostCheck for NovaComputeCheck {
    fn compute_service_exists<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move { Ok(self.nova.compute_service(name).await?.is_some()) })
    }
}

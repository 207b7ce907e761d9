//! Checks host names against Nova's compute services, so a host Vigil protects is one Nova knows.

use futures::future::BoxFuture;

/// Answers whether Nova has a `nova-compute` service on host `name` (case-sensitive).
pub trait ComputeHostCheck: Send + Sync {
    fn compute_service_exists<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>>;
}

/// The check against Nova's `os-services`, through a shared Keystone session.
pub struct NovaComputeCheck {
    pub session: std::sync::Arc<vigil_openstack::Session>,
}

impl ComputeHostCheck for NovaComputeCheck {
    fn compute_service_exists<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, Box<dyn std::error::Error + Send + Sync>>> {
        Box::pin(async move {
            let host: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
            let v = self
                .session
                .request(
                    "compute",
                    reqwest::Method::GET,
                    &format!("/os-services?binary=nova-compute&host={host}"),
                    Some(("X-OpenStack-Nova-API-Version", "2.53")),
                    None,
                )
                .await?;
            // Nova's host filter is exact; compare anyway, case-sensitively, as Masakari does.
            Ok(v["services"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["host"] == name)))
        })
    }
}

//! The `Nova` trait over `vigil_openstack::nova::Compute`, the shared Nova client: each call
//! forwards, and the client's error is sorted into a `NovaError` by its retry class.

use crate::nova::{Migration, Nova, NovaError, Server, Service};
use async_trait::async_trait;
use std::sync::Arc;
use vigil_openstack::nova::Compute;
use vigil_openstack::Session;

pub struct NovaRest {
    nova: Compute,
}

impl NovaRest {
    pub fn new(session: Arc<Session>) -> Self {
        Self {
            nova: Compute::new(session),
        }
    }
}

#[async_trait]
impl Nova for NovaRest {
    async fn compute_service(&self, host: &str) -> Result<Option<Service>, NovaError> {
        Ok(self.nova.compute_service(host).await?)
    }

    async fn schedulers_up(&self) -> Result<usize, NovaError> {
        Ok(self.nova.schedulers_up().await?)
    }

    async fn force_down(&self, service_id: &str, reason: &str) -> Result<(), NovaError> {
        Ok(self.nova.service_force_down(service_id, reason).await?)
    }

    async fn enable_service(&self, service_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.service_enable(service_id).await?)
    }

    async fn disable_service(&self, service_id: &str, reason: &str) -> Result<(), NovaError> {
        Ok(self.nova.service_disable(service_id, reason).await?)
    }

    async fn unforce_down(&self, service_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.service_unforce_down(service_id).await?)
    }

    async fn evacuations_from(&self, source: &str) -> Result<Vec<Migration>, NovaError> {
        Ok(self.nova.evacuations_from(source).await?)
    }

    async fn migrate_server(&self, server_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.server_migrate(server_id).await?)
    }

    async fn confirm_resize(&self, server_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.server_confirm_resize(server_id).await?)
    }

    async fn servers_on_host(&self, host: &str) -> Result<Vec<Server>, NovaError> {
        Ok(self.nova.servers_on_host(host).await?)
    }

    async fn server(&self, id: &str) -> Result<Option<Server>, NovaError> {
        Ok(self.nova.server(id).await?)
    }

    async fn evacuate(
        &self,
        server_id: &str,
        target: Option<&str>,
        stopped: bool,
    ) -> Result<(), NovaError> {
        Ok(self
            .nova
            .server_evacuate(server_id, target, stopped)
            .await?)
    }

    async fn evacuations(
        &self,
        server_id: &str,
        source: &str,
    ) -> Result<Vec<Migration>, NovaError> {
        Ok(self.nova.evacuations(server_id, source).await?)
    }

    async fn aggregates_of(&self, host: &str) -> Result<Vec<i64>, NovaError> {
        Ok(self.nova.aggregates_of(host).await?)
    }

    async fn aggregate_add_host(&self, aggregate: i64, host: &str) -> Result<(), NovaError> {
        Ok(self.nova.aggregate_add_host(aggregate, host).await?)
    }

    async fn start_server(&self, server_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.server_start(server_id).await?)
    }

    async fn stop_server(&self, server_id: &str) -> Result<(), NovaError> {
        Ok(self.nova.server_stop(server_id).await?)
    }

    async fn reset_state(&self, server_id: &str, state: &str) -> Result<(), NovaError> {
        Ok(self.nova.server_reset_state(server_id, state).await?)
    }
}

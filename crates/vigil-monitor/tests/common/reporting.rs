//! Vigil's instance monitor reporting to a real API, as on a compute node: the monitor writes
//! its outbox, and a dispatcher delivers it as `vigil monitor send` does.

use super::vigil::Vigil;
use super::{wait_for, Running};
use std::path::Path;
use std::time::Duration;
use vigil_client::{Client, ClientConfig};
use vigil_monitor::instance::link::LibvirtConfig;
use vigil_monitor::instance::{InstanceConfig, InstanceMonitor};
use vigil_monitor::sender::ApiSink;
use vigil_outbox::{DeliveryConfig, Dispatcher, DispatcherHandle, Outbox};

/// The instance monitor of `host` on libvirt `uri`, reporting all, connected; and its
/// dispatcher to `vigil`, started. Its outbox and state are under `dir`.
pub async fn reporting_to(
    vigil: &Vigil,
    uri: &str,
    host: &str,
    dir: &Path,
) -> (Running, DispatcherHandle) {
    let mut libvirt = LibvirtConfig::new(uri.to_owned(), host.to_owned(), dir.join("state"));
    libvirt.keepalive = (1, 2);
    let config = InstanceConfig::new(libvirt);
    let outbox = Outbox::open(dir.join("outbox")).unwrap();
    let state_dir = config.libvirt.state_dir.clone();
    let monitor = InstanceMonitor::new(config, outbox.clone()).unwrap();
    let wake = monitor.wake();
    let running = Running::spawn(monitor, wake, outbox, state_dir);
    let connected = || running.status()["watching"]["connected"] == true;
    let never = || format!("never connected: {}", running.status());
    wait_for(Duration::from_secs(60), connected, never).await;
    let client = Client::from_config(&ClientConfig {
        url: vigil.base.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    // A second handle on the outbox, as the sender's own process would open it.
    let sender = Outbox::open(dir.join("outbox")).unwrap();
    let dispatcher = Dispatcher::new(DeliveryConfig::default(), sender, ApiSink(client)).unwrap();
    (running, dispatcher.start())
}

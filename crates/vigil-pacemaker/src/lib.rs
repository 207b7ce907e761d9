//! What Vigil runs inside a Pacemaker cluster: the fence-agent protocol ([`agent`]),
//! `fence_vigil` ([`fence_vigil`]), the notification-fencing level of a compute host's
//! topology, and the failed-host queue ([`queue`], kept by Pacemaker's attribute manager:
//! [`attrd`]) that the fence agent fills and the alerter ([`alerter`], its HTTPS driver in
//! [`https`]) empties; [`alert`], the alert agent for sites that report through Pacemaker's
//! alerts instead.
//!
//! Runs on cluster nodes: nothing here depends on the store, the engine or the API.

pub mod agent;
pub mod alert;
pub mod alerter;
pub mod attrd;
pub mod fence_vigil;
pub mod https;
pub mod queue;

use agent::{exit, Action};
use std::io::Read;

/// `fence_vigil`'s whole run, as the fencer or an operator calls it: `args` without the
/// program name (none: options on standard input). Returns the exit code; what the fencer
/// reads goes to standard output, messages to standard error.
pub async fn fence_vigil_main(args: Vec<String>) -> u8 {
    let stdin = if args.is_empty() {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("fence_vigil: reading the options from standard input: {e}");
            return exit::GENERIC_ERROR;
        }
        Some(s)
    } else {
        None
    };
    let (req, warnings) = match agent::parse(&args, stdin.as_deref()) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("fence_vigil: {e}");
            return exit::GENERIC_ERROR;
        }
    };
    for w in warnings {
        tracing::warn!("{w}");
    }
    match req.action {
        Action::Metadata => {
            print!("{}", agent::metadata());
            return exit::OK;
        }
        Action::ValidateAll => {
            return match fence_vigil::validate(&req).await {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("fence_vigil: {}", vigil_domain::ErrorChain(&e));
                    exit::GENERIC_ERROR
                }
            };
        }
        _ => {}
    }
    let delay: u64 = req.get("delay").and_then(|d| d.parse().ok()).unwrap_or(0);
    if delay > 0 && matches!(req.action, Action::Off | Action::Reboot) {
        tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
    }
    let result = match fence_vigil::FenceVigil::from_request(&req).await {
        Ok(agent) => agent.run(&req).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((code, out)) => {
            print!("{out}");
            code
        }
        Err(e) => {
            eprintln!("fence_vigil: {}", vigil_domain::ErrorChain(&e));
            exit::GENERIC_ERROR
        }
    }
}

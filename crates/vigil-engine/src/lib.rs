//! The recovery engine: turns stored notifications into recovered instances.
//!
//! `worker` claims notifications from the store's queue and runs their flows (`claim` is what
//! every flow acts with; `config`
//! assembles them from `[engine]`); `saga` runs a flow's steps durably through `log`; `host`,
//! `instance`, `process` and `rejoin` are the flows (host failure, instance failure, process
//! failure, a recovered host coming back); `planner` and `host::decide` hold the pure
//! decisions (which instances, in what order, in which tiers; when to issue, wait, reset or
//! give up an evacuation) and are tested by tables; `error` and `retry` are how steps fail and
//! retry, `flags` how they set a host's flags in the store; `nova` and `fence` are the engine's view of the outside world.
//! `headroom` is the periodic capacity check (a reconciler beside the loop); `what_if` predicts
//! what a host's failure would do now (`vigil plan`), from the same `planner` and gates.

pub mod claim;
pub mod config;
pub mod custom;
pub mod error;
pub mod fence;
pub mod flags;
pub mod headroom;
pub mod host;
pub mod instance;
mod lease;
mod log;
pub mod nova;
pub mod nova_rest;
pub mod planner;
pub mod process;
pub mod rejoin;
pub mod retry;
pub mod saga;
pub mod what_if;
pub mod worker;

pub use config::EngineConfig;
pub use worker::{Engine, EngineHandle, EngineParts};

//! The recovery engine: turns stored notifications into recovered instances.
//!
//! `worker` claims notifications from the store's queue and runs their flows; `saga` runs a
//! flow's steps durably; `host`, `instance`, `process` and `rejoin` are the flows (host
//! failure, instance failure, process failure, a recovered host coming back); `planner` holds
//! the pure decisions
//! (which instances, in what order, in which tiers) and is tested by tables; `nova` and `fence`
//! are the engine's view of the outside world.

pub mod custom;
pub mod fence;
pub mod host;
pub mod instance;
pub mod nova;
pub mod nova_rest;
pub mod planner;
pub mod process;
pub mod rejoin;
pub mod saga;
pub mod worker;

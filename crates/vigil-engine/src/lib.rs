//! The recovery engine: turns stored notifications into recovered instances.
//!
//! `planner` holds the pure decisions (which instances, in what order, in which tiers); it does
//! no I/O and is tested by tables.

pub mod planner;
pub mod saga;

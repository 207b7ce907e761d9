//! The Masakari-compatible HTTP API. Only this crate knows the Masakari wire format.

pub mod auth;
pub mod compute_check;
pub mod policy;

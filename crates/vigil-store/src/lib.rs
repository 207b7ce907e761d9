//! Vigil's durable store: one `Store` over SQLite (embedded default), PostgreSQL or MySQL/MariaDB.
//!
//! Method names are resource-first (`segment_create`, `notification_list`). Every method is one
//! database transaction, so an API replica or engine may crash at any point without leaving a
//! half-written record. What is durable and why is written in ARCHITECTURE.md
//! ("Durability").

mod batch;
mod claims;
mod error;
mod flow_log;
mod history;
mod hosts;
mod listing;
mod names;
mod notifications;
mod query;
mod segments;
mod sql;
mod stats;
mod store;
pub mod testing;
mod vmoves;

pub use claims::{Claimed, Lease};
pub use error::StoreError;
pub use flow_log::FlowStep;
pub use query::{
    HostFilter, NewHost, NewNotification, NewSegment, NotificationFilter, Page, SegmentFilter,
    SortDir, VMoveFilter,
};
pub use stats::NotificationCount;
pub use store::{Backend, Store, StoreOptions};

//! Vigil's durable store: one `Store` over SQLite (embedded default), PostgreSQL or MySQL/MariaDB.
//!
//! Method names are resource-first (`segment_create`, `notification_list`). Every method is one
//! database transaction, so an API replica or engine may crash at any point without leaving a
//! half-written record. What is durable and why is written in ARCHITECTURE.md.

mod batch;
mod error;
mod hosts;
mod listing;
mod notifications;
mod query;
mod queue;
mod segments;
mod sql;
mod store;
pub mod testing;

pub use error::StoreError;
pub use query::{
    HostFilter, HostUpdate, NewHost, NewNotification, NewSegment, NotificationFilter, Page,
    SegmentFilter, SegmentUpdate, SortDir, VMoveFilter,
};
pub use queue::{Claimed, FlowStep, VMoveRecord};
pub use store::{Backend, Store};

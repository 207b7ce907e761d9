//! The Masakari v1 wire format as Rust types: what monitors send, what the API answers, and the
//! notification payloads by notification type. The API serves it, the engine reads payloads
//! through it, and Vigil's own monitors and agents send through a client built on it.
//!
//! Every response type serializes to exactly the bytes Masakari renders (field order included:
//! serde_json keeps struct order) and deserializes back, so a client reads what the server
//! wrote with the same types. Resources come wrapped: [`Item`] is `{"segment": {…}}`, [`List`]
//! is `{"segments": […], "segments_links": […]}`. Request bodies are read only after the API
//! has validated them against Masakari's schemas, whose messages stay in `vigil-api`.

mod envelope;
mod extension;
mod fault;
mod field;
mod host;
mod lifecycle;
mod notification;
pub mod payload;
mod segment;
pub mod time;
mod version;
mod vmove;

pub use envelope::{Item, Keyed, Link, List, Listed};
pub use extension::{extensions, Extension};
pub use fault::{fault_name, Fault, FaultBody};
pub use field::{BoolLike, FALSE_STRINGS, TRUE_STRINGS};
pub use host::{CreateHost, HostBody, HostFlags, UpdateHost};
pub use lifecycle::Lifecycle;
pub use notification::{
    progress_detail, CreateNotification, NotificationBody, ProgressDetailBody, WorkflowStepBody,
};
pub use segment::{CreateSegment, SegmentBody, UpdateSegment};
pub use version::{choices, version_document, versions, Choice, MediaType, VersionEntry};
pub use vmove::VMoveBody;

/// What every body's test checks: it is sent as `json`, and read back as itself.
#[cfg(test)]
fn assert_round_trip<T>(body: &T, json: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(body).unwrap();
    assert_eq!(text, json);
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), body);
}

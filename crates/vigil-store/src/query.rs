//! Inputs of store operations: what to create or change, which rows to list and in what order.

use vigil_domain::{HostId, NotificationType, RecoveryMethod, Timestamp};
use vigil_wire::payload::{ComputeHostPayload, Event, Payload, PayloadError};

#[derive(Clone, Debug)]
pub struct NewSegment {
    pub name: String,
    pub service_type: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub recovery_method: RecoveryMethod,
}

#[derive(Clone, Debug)]
pub struct NewHost {
    pub name: String,
    pub host_type: Option<String>,
    pub control_attributes: Option<String>,
    pub reserved: bool,
    pub on_maintenance: bool,
}

/// A failure report to store. Its host is named, not identified: the store resolves the name,
/// checks maintenance and duplicates, and inserts, all in one serialised transaction.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub notification_type: NotificationType,
    pub hostname: String,
    pub generated_time: Timestamp,
    pub payload: serde_json::Map<String, serde_json::Value>,
}

impl NewNotification {
    /// The payload as its type's; an error for one that does not read as such (the API only
    /// passes payloads that do).
    pub fn typed_payload(&self) -> Result<Payload, PayloadError> {
        Payload::parse(self.notification_type, &self.payload)
    }

    /// A host reporting it is back (`COMPUTE_HOST`/`STARTED`) is accepted while the host is on
    /// maintenance: its failure put it there, and this report is how it rejoins. Masakari
    /// refuses it (409), leaving the host out until an operator steps in.
    pub fn accepted_on_maintenance(&self) -> bool {
        matches!(
            self.typed_payload(),
            Ok(Payload::ComputeHost(ComputeHostPayload {
                event: Event::Started,
                ..
            }))
        )
    }
}

#[derive(Clone, Debug, Default)]
pub struct SegmentFilter {
    pub recovery_method: Option<RecoveryMethod>,
    pub service_type: Option<String>,
    pub enabled: Option<bool>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct HostFilter {
    pub host_type: Option<String>,
    pub on_maintenance: Option<bool>,
    pub reserved: Option<bool>,
    pub name: Option<String>,
    pub control_attributes: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NotificationFilter {
    /// Kept as text: an unknown status matches nothing, as in Masakari.
    pub status: Option<String>,
    pub source_host_uuid: Option<HostId>,
    pub notification_type: Option<String>,
    pub generated_since: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct VMoveFilter {
    pub status: Option<String>,
    pub vmove_type: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// Which slice of a list to return.
///
/// `marker` is the integer `id` of the last row the client saw (Masakari's convention, which
/// openstacksdk follows); rows after it in the requested order are returned. Sort keys are
/// column names of the resource as the API shows them; the store always appends `created_at`
/// and `id` as tie-breakers so paging is stable.
#[derive(Clone, Debug)]
pub struct Page {
    pub limit: u32,
    pub marker: Option<i64>,
    pub sort: Vec<(String, SortDir)>,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 1000,
            marker: None,
            sort: vec![("created_at".to_owned(), SortDir::Desc)],
        }
    }
}

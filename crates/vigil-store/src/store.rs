//! The `Store` handle: a connection pool and the operations on each resource.

use crate::{
    HostFilter, HostUpdate, NewHost, NewNotification, NewSegment, NotificationFilter, Page,
    SegmentFilter, SegmentUpdate, StoreError, VMoveFilter,
};
use std::time::Duration;
use vigil_domain::{
    Host, HostId, Notification, NotificationId, Segment, SegmentId, VMove, VMoveId, WorkflowStep,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[allow(unused_variables)]
impl Store {
    /// Connects to `sqlite:PATH`, `postgres://…` or `mysql://…` (MariaDB too).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        todo!()
    }
    /// Applies the embedded migrations for this backend (`vigil db sync`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        todo!()
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn segment_create(&self, new: NewSegment) -> Result<Segment, StoreError> {
        todo!()
    }
    pub async fn segment_get(&self, id: SegmentId) -> Result<Segment, StoreError> {
        todo!()
    }
    pub async fn segment_list(
        &self,
        filter: &SegmentFilter,
        page: &Page,
    ) -> Result<Vec<Segment>, StoreError> {
        todo!()
    }
    /// Refused with `SegmentInUse` while a notification of one of its hosts is new/running/error.
    pub async fn segment_update(
        &self,
        id: SegmentId,
        update: SegmentUpdate,
    ) -> Result<Segment, StoreError> {
        todo!()
    }
    /// Soft-deletes the segment and all its hosts; refused with `SegmentInUse` as above.
    pub async fn segment_delete(&self, id: SegmentId) -> Result<(), StoreError> {
        todo!()
    }

    pub async fn host_create(&self, segment: SegmentId, new: NewHost) -> Result<Host, StoreError> {
        todo!()
    }
    pub async fn host_get(&self, segment: SegmentId, id: HostId) -> Result<Host, StoreError> {
        todo!()
    }
    pub async fn host_get_by_name(&self, name: &str) -> Result<Host, StoreError> {
        todo!()
    }
    pub async fn host_list(
        &self,
        segment: SegmentId,
        filter: &HostFilter,
        page: &Page,
    ) -> Result<Vec<Host>, StoreError> {
        todo!()
    }
    pub async fn host_update(
        &self,
        segment: SegmentId,
        id: HostId,
        update: HostUpdate,
    ) -> Result<Host, StoreError> {
        todo!()
    }
    pub async fn host_delete(&self, segment: SegmentId, id: HostId) -> Result<(), StoreError> {
        todo!()
    }

    /// Stores a failure report, race-free across API replicas: host lookup, maintenance check,
    /// duplicate check (same type, host and payload with `generated_time` within `dedup_window`
    /// before the new one, or any time after it) and insert run under a lock on the host row.
    pub async fn notification_create(
        &self,
        new: NewNotification,
        dedup_window: Duration,
    ) -> Result<Notification, StoreError> {
        todo!()
    }
    pub async fn notification_get(&self, id: NotificationId) -> Result<Notification, StoreError> {
        todo!()
    }
    pub async fn notification_list(
        &self,
        filter: &NotificationFilter,
        page: &Page,
    ) -> Result<Vec<Notification>, StoreError> {
        todo!()
    }

    pub async fn vmove_list(
        &self,
        notification: NotificationId,
        filter: &VMoveFilter,
        page: &Page,
    ) -> Result<Vec<VMove>, StoreError> {
        todo!()
    }
    pub async fn vmove_get(&self, id: VMoveId) -> Result<VMove, StoreError> {
        todo!()
    }

    /// The persisted step log of a notification's recovery, in execution order.
    pub async fn workflow_steps(
        &self,
        notification: NotificationId,
    ) -> Result<Vec<WorkflowStep>, StoreError> {
        todo!()
    }
}

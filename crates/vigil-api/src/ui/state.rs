//! What `/ui/state.json` answers: segments and their hosts with a state, host recoveries with
//! each server's progress, recent notifications and headroom, read from the store at each
//! request (the page polls it), so it shows whatever the engines have written so far.

use super::view::{host_state, server_done, server_phase, HostState, LastFailure, MoveFacts};
use crate::headroom::{HeadroomSource, SegmentHeadroom};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_domain::plan::{Chosen, CHOSEN_STEP};
use vigil_domain::{
    Host, HostId, Notification, NotificationStatus, NotificationType, SegmentId, Timestamp, VMove,
};
use vigil_store::{
    FlowStep, HostFilter, NotificationFilter, Page, SegmentFilter, Store, StoreError, VMoveFilter,
};

/// Ended host recoveries shown beside those in flight: the newest few of the last hour.
const RECENT_RECOVERIES: usize = 5;
const RECENT_SECS: u64 = 3600;
/// Rows of the notifications table.
const RECENT_NOTIFICATIONS: u32 = 20;
/// Host-failure reports read to find each host's newest one.
const HOST_REPORTS: u32 = 1000;
/// The step whose success makes a down host fenced.
const FENCE_STEP: &str = "FenceHostTask";

#[derive(Debug, Serialize)]
pub struct UiState {
    pub generated_at: String,
    pub segments: Vec<SegmentView>,
    pub recoveries: Vec<RecoveryView>,
    pub notifications: Vec<NotificationView>,
}

#[derive(Debug, Serialize)]
pub struct SegmentView {
    pub uuid: SegmentId,
    pub name: String,
    pub recovery_method: String,
    pub enabled: bool,
    pub headroom: HeadroomView,
    pub hosts: Vec<HostView>,
}

/// `state` is `ok`, `short` or `unknown`.
#[derive(Clone, Debug, Serialize)]
pub struct HeadroomView {
    pub state: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct HostView {
    pub uuid: HostId,
    pub name: String,
    pub state: HostState,
    pub reserved: bool,
    pub on_maintenance: bool,
}

#[derive(Debug, Serialize)]
pub struct RecoveryView {
    pub notification: String,
    pub host: String,
    pub event: String,
    pub status: NotificationStatus,
    pub message: Option<String>,
    pub generated_time: String,
    pub elapsed_secs: f64,
    pub done: usize,
    pub total: usize,
    pub steps: Vec<StepView>,
    pub servers: Vec<ServerView>,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub name: String,
    pub state: String,
    pub progress: f64,
    /// The newest progress detail's message.
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServerView {
    pub name: String,
    pub uuid: String,
    pub phase: &'static str,
    pub status: String,
    /// With tiered start, the tier (1 first) it is started in.
    pub tier: Option<usize>,
    pub source: Option<String>,
    pub dest: Option<String>,
    pub start_time: Option<String>,
    pub elapsed_secs: Option<f64>,
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub uuid: String,
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    pub host: String,
    pub status: NotificationStatus,
    pub generated_time: String,
    pub message: Option<String>,
}

/// Reads everything the page shows. A headroom source that fails is shown as its error.
pub async fn load(
    store: &Store,
    headroom: Option<&Arc<dyn HeadroomSource>>,
) -> Result<UiState, StoreError> {
    let now = Timestamp::now();
    let segments = store
        .segment_list(&SegmentFilter::default(), &by_name())
        .await?;
    let mut hosts: Vec<(SegmentId, Vec<Host>)> = Vec::new();
    let mut names: HashMap<HostId, String> = HashMap::new();
    for s in &segments {
        let list = store
            .host_list(s.uuid, &HostFilter::default(), &by_name())
            .await?;
        names.extend(list.iter().map(|h| (h.uuid, h.name.clone())));
        hosts.push((s.uuid, list));
    }
    let name_of = |id: HostId| names.get(&id).cloned().unwrap_or_else(|| id.to_string());

    let host_reports = store
        .notification_list(
            &NotificationFilter {
                notification_type: Some(NotificationType::ComputeHost.as_str().to_owned()),
                ..Default::default()
            },
            &newest(HOST_REPORTS),
        )
        .await?;
    // Newest first, so the first report of a host is its newest.
    let mut newest_report: HashMap<HostId, &Notification> = HashMap::new();
    for n in &host_reports {
        newest_report.entry(n.source_host_uuid).or_insert(n);
    }
    let shown: Vec<&Notification> = shown_recoveries(&host_reports, now);
    let mut logs: HashMap<String, Vec<FlowStep>> = HashMap::new();
    // The logs of the recoveries shown, and of each host's newest report that may leave it
    // down (whether it was fenced).
    let may_be_down =
        |n: &&Notification| !n.status.is_final() || n.status == NotificationStatus::Failed;
    let wanted = shown
        .iter()
        .copied()
        .chain(newest_report.values().copied().filter(may_be_down));
    for n in wanted {
        if let std::collections::hash_map::Entry::Vacant(slot) = logs.entry(n.uuid.to_string()) {
            slot.insert(store.flow_log_load(n.uuid).await?);
        }
    }

    let headroom = headroom_by_segment(headroom).await;
    let segments = segments
        .iter()
        .zip(hosts)
        .map(|(s, (_, list))| SegmentView {
            uuid: s.uuid,
            name: s.name.clone(),
            recovery_method: s.recovery_method.as_str().to_owned(),
            enabled: s.enabled,
            headroom: headroom(s.uuid),
            hosts: list
                .iter()
                .map(|h| {
                    let last = newest_report.get(&h.uuid).map(|n| LastFailure {
                        stopped: is_stop(n),
                        status: n.status,
                        fenced: logs.get(&n.uuid.to_string()).is_some_and(|log| fenced(log)),
                    });
                    HostView {
                        uuid: h.uuid,
                        name: h.name.clone(),
                        state: host_state(h.on_maintenance, h.reserved, last),
                        reserved: h.reserved,
                        on_maintenance: h.on_maintenance,
                    }
                })
                .collect(),
        })
        .collect();

    let mut recoveries = Vec::new();
    for n in shown {
        let moves = store
            .vmove_list(n.uuid, &VMoveFilter::default(), &oldest())
            .await?;
        let steps = logs.remove(&n.uuid.to_string()).unwrap_or_default();
        recoveries.push(recovery(n, name_of(n.source_host_uuid), steps, &moves, now));
    }

    let recent = store
        .notification_list(
            &NotificationFilter::default(),
            &newest(RECENT_NOTIFICATIONS),
        )
        .await?;
    let notifications = recent
        .iter()
        .map(|n| NotificationView {
            uuid: n.uuid.to_string(),
            notification_type: n.notification_type,
            host: name_of(n.source_host_uuid),
            status: n.status,
            generated_time: n.generated_time.to_string(),
            message: n.message.clone(),
        })
        .collect();
    Ok(UiState {
        generated_at: now.to_string(),
        segments,
        recoveries,
        notifications,
    })
}

/// Host recoveries in flight, and the newest few that ended within the last hour.
fn shown_recoveries(reports: &[Notification], now: Timestamp) -> Vec<&Notification> {
    let since = now.saturating_sub_secs(RECENT_SECS);
    let mut shown: Vec<&Notification> = reports.iter().filter(|n| !n.status.is_final()).collect();
    shown.extend(
        reports
            .iter()
            .filter(|n| n.status.is_final())
            .filter(|n| n.lifecycle.updated_at.unwrap_or(n.lifecycle.created_at) >= since)
            .take(RECENT_RECOVERIES),
    );
    shown
}

fn recovery(
    n: &Notification,
    host: String,
    steps: Vec<FlowStep>,
    moves: &[VMove],
    now: Timestamp,
) -> RecoveryView {
    let ended = n
        .status
        .is_final()
        .then_some(n.lifecycle.updated_at)
        .flatten();
    let was_fenced = fenced(&steps);
    let chosen = chosen(&steps);
    let tiers = chosen
        .as_ref()
        .map(Chosen::tier_numbers)
        .unwrap_or_default();
    let servers: Vec<ServerView> = moves
        .iter()
        .map(|v| {
            let m = &v.movement;
            ServerView {
                name: m.instance_name.clone(),
                uuid: m.instance_uuid.clone(),
                phase: server_phase(MoveFacts {
                    status: m.status,
                    fenced: was_fenced,
                    has_dest: m.dest_host.is_some(),
                }),
                status: m.status.as_str().to_owned(),
                tier: tiers.get(m.instance_uuid.as_str()).copied(),
                source: m.source_host.clone(),
                dest: m.dest_host.clone(),
                start_time: m.start_time.map(|t| t.to_string()),
                elapsed_secs: m
                    .start_time
                    .map(|t| secs_between(t, m.end_time.unwrap_or(now))),
                message: m.message.clone(),
            }
        })
        .collect();
    RecoveryView {
        notification: n.uuid.to_string(),
        host,
        event: n
            .payload
            .get("event")
            .and_then(|e| e.as_str())
            .unwrap_or("")
            .to_owned(),
        status: n.status,
        message: n.message.clone(),
        generated_time: n.generated_time.to_string(),
        elapsed_secs: secs_between(n.lifecycle.created_at, ended.unwrap_or(now)),
        done: moves
            .iter()
            .filter(|v| server_done(v.movement.status))
            .count(),
        total: moves.len(),
        steps: steps
            .into_iter()
            .map(|s| StepView {
                detail: s.step.progress_details.last().map(|d| d.message.clone()),
                name: s.step.name,
                state: s.step.state,
                progress: s.step.progress,
            })
            .collect(),
        servers,
    }
}

fn is_stop(n: &Notification) -> bool {
    n.payload.get("event").and_then(|e| e.as_str()) == Some("STOPPED")
}

fn fenced(log: &[FlowStep]) -> bool {
    log.iter()
        .any(|s| s.step.name == FENCE_STEP && s.step.state == "SUCCESS")
}

/// The servers the recovery chose, as its PrepareHAEnabledInstancesTask step recorded them.
/// A record this page cannot read only costs the tier column.
fn chosen(log: &[FlowStep]) -> Option<Chosen> {
    let output = log
        .iter()
        .find(|s| s.step.name == CHOSEN_STEP)?
        .output
        .as_deref()?;
    serde_json::from_str(output).ok()
}

fn secs_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.as_micros() - from.as_micros()).max(0) as f64 / 1e6
}

/// Each segment's headroom, `unknown` (with the reason) when there is no source or it failed.
async fn headroom_by_segment(
    source: Option<&Arc<dyn HeadroomSource>>,
) -> impl Fn(SegmentId) -> HeadroomView {
    let found: Result<HashMap<SegmentId, SegmentHeadroom>, String> = match source {
        None => Err("not computed by this server".to_owned()),
        Some(s) => s
            .headroom()
            .await
            .map(|list| list.into_iter().map(|h| (h.segment, h)).collect())
            .map_err(|e| error_chain(&e)),
    };
    move |segment| match &found {
        Err(reason) => HeadroomView {
            state: "unknown",
            detail: reason.clone(),
        },
        Ok(map) => match map.get(&segment) {
            None => HeadroomView {
                state: "unknown",
                detail: "no figures for this segment".to_owned(),
            },
            Some(h) => HeadroomView {
                state: if h.survives_host_loss { "ok" } else { "short" },
                detail: h.detail.clone(),
            },
        },
    }
}

/// The error and its causes on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    vigil_domain::ErrorChain(e).to_string()
}

fn by_name() -> Page {
    Page {
        sort: vec![("name".to_owned(), vigil_store::SortDir::Asc)],
        ..Page::default()
    }
}

fn newest(limit: u32) -> Page {
    Page {
        limit,
        ..Page::default()
    }
}

fn oldest() -> Page {
    Page {
        sort: vec![("created_at".to_owned(), vigil_store::SortDir::Asc)],
        ..Page::default()
    }
}

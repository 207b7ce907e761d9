//! `vigil pacemaker-alert`, an alert agent (Pacemaker runs it with `CRM_alert_*` variables on
//! each event) for sites that use alerts rather than the alerter: a node lost, fenced, or
//! back becomes a `COMPUTE_HOST` report, with the payloads the host monitor sends. Deciding is
//! pure; the command appends the report to an outbox, which `vigil monitor send` delivers.

use std::collections::HashMap;
use vigil_wire::payload::{ClusterStatus, ComputeHostPayload, Event, HostStatus};

/// What an alert says about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAlert {
    pub node: String,
    pub payload: ComputeHostPayload,
}

/// The report an alert's variables call for, if any. Reported: a node leaving the membership
/// (`STOPPED`, `UNKNOWN`: not known fenced), a node fenced successfully (`STOPPED`, `NORMAL`),
/// a node joining (`STARTED`). Resource and attribute alerts, failed fencing (the fencer tries
/// again, and its success is alerted) and this node itself are not.
pub fn decide(vars: &HashMap<String, String>, this_node: Option<&str>) -> Option<NodeAlert> {
    let get = |name: &str| vars.get(name).map(String::as_str).unwrap_or_default();
    let node = get("CRM_alert_node");
    if node.is_empty() || Some(node) == this_node {
        return None;
    }
    let stopped = |host_status| ComputeHostPayload {
        event: Event::Stopped,
        cluster_status: Some(ClusterStatus::Offline),
        host_status: Some(host_status),
    };
    let payload = match get("CRM_alert_kind") {
        "node" => match get("CRM_alert_desc") {
            "lost" => stopped(HostStatus::Unknown),
            "member" => ComputeHostPayload {
                event: Event::Started,
                cluster_status: Some(ClusterStatus::Online),
                host_status: Some(HostStatus::Normal),
            },
            _ => return None,
        },
        "fencing" => {
            let fenced = get("CRM_alert_rc") == "0"
                && matches!(get("CRM_alert_task"), "off" | "reboot" | "");
            if !fenced {
                return None;
            }
            stopped(HostStatus::Normal)
        }
        _ => return None,
    };
    Some(NodeAlert {
        node: node.to_owned(),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn alerts_become_the_host_monitors_reports() {
        use Event::{Started, Stopped};
        use HostStatus::{Normal, Unknown};
        type Vars<'a> = &'a [(&'a str, &'a str)];
        type Want<'a> = Option<(&'a str, Event, HostStatus)>;
        #[rustfmt::skip]
        let table: &[(Vars, Want)] = &[
            (&[("CRM_alert_kind", "node"), ("CRM_alert_node", "c1"), ("CRM_alert_desc", "lost")], Some(("c1", Stopped, Unknown))),
            (&[("CRM_alert_kind", "node"), ("CRM_alert_node", "c1"), ("CRM_alert_desc", "member")], Some(("c1", Started, Normal))),
            (&[("CRM_alert_kind", "fencing"), ("CRM_alert_node", "c2"), ("CRM_alert_rc", "0"), ("CRM_alert_task", "reboot")], Some(("c2", Stopped, Normal))),
            (&[("CRM_alert_kind", "fencing"), ("CRM_alert_node", "c2"), ("CRM_alert_rc", "0"), ("CRM_alert_task", "off")], Some(("c2", Stopped, Normal))),
            // A failed fencing, unfencing, other kinds, no node, this node: nothing.
            (&[("CRM_alert_kind", "fencing"), ("CRM_alert_node", "c2"), ("CRM_alert_rc", "1"), ("CRM_alert_task", "reboot")], None),
            (&[("CRM_alert_kind", "fencing"), ("CRM_alert_node", "c2"), ("CRM_alert_rc", "0"), ("CRM_alert_task", "on")], None),
            (&[("CRM_alert_kind", "node"), ("CRM_alert_node", "c1"), ("CRM_alert_desc", "unknown")], None),
            (&[("CRM_alert_kind", "resource"), ("CRM_alert_node", "c1"), ("CRM_alert_desc", "lost")], None),
            (&[("CRM_alert_kind", "attribute"), ("CRM_alert_node", "c1")], None),
            (&[("CRM_alert_kind", "node"), ("CRM_alert_desc", "lost")], None),
            (&[("CRM_alert_kind", "node"), ("CRM_alert_node", "self"), ("CRM_alert_desc", "lost")], None),
        ];
        for (pairs, want) in table {
            let got = decide(&vars(pairs), Some("self"));
            let got = got.map(|a| (a.node, a.payload.event, a.payload.host_status.unwrap()));
            let want = want.map(|(n, e, h)| (n.to_owned(), e, h));
            assert_eq!(got, want, "{pairs:?}");
        }
    }
}

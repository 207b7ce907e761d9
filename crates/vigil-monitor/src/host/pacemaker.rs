//! The `pacemaker` driver: the membership as `crm_mon --output-as=xml` shows it.
//!
//! What crm_mon says, and what it is taken to mean (Pacemaker 2.1.5, XML API 2.25):
//! - quorum: `summary/current_dc@with_quorum="true"`; no DC (`present="false"`), no quorum;
//! - each `nodes/node` (`type="member"` or `"remote"`): up only if `online="true"`,
//!   `unclean="false"` and `pending="false"`; `standby` and `maintenance` are shown, not
//!   failures;
//! - a remote node is up only while its connection resource (`ocf:pacemaker:remote`, the
//!   resource named like the node; a guest node has none) is `role="Started"`. Measured: after a remote node is
//!   fenced, Pacemaker retries the connection and crm_mon shows the node `online="true"` with
//!   the resource `Starting` for about 50 s, then fences it again; `online` alone would report
//!   it back;
//! - fencing: `fence_history/fence_event` with `status="success"` and a `completed` time; the
//!   newest per target is the node's last fencing. The fence history comes from the fencer
//!   daemon: crm_mon run on a CIB file (`CIB_file=`) has none.

use super::{Driver, Member, Membership};
use quick_xml::events::{BytesStart, Event};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use vigil_domain::Timestamp;

/// The driver's name in the status and on the command line.
pub const NAME: &str = "pacemaker";

/// How to run crm_mon.
#[derive(Clone, Debug)]
pub struct PacemakerConfig {
    /// The program (`crm_mon`, found on `PATH`).
    pub crm_mon: PathBuf,
    /// A run taking longer is killed and the pass fails.
    pub timeout: Duration,
    /// Read this CIB file instead of the live cluster (crm_mon's `CIB_file`): for tests and
    /// for looking at a saved CIB.
    pub cib_file: Option<PathBuf>,
}

impl Default for PacemakerConfig {
    fn default() -> Self {
        Self {
            crm_mon: PathBuf::from("crm_mon"),
            timeout: Duration::from_secs(10),
            cib_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PacemakerError {
    #[error("starting {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("crm_mon did not answer within {} s; killed", .0.as_secs_f64())]
    TimedOut(Duration),
    #[error("crm_mon failed (exit status {code:?}): {message}")]
    Failed { code: Option<i32>, message: String },
    #[error("crm_mon's output is not the XML expected")]
    Parse(#[source] ParseError),
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("at byte {position}")]
    Xml {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("no <pacemaker-result> element")]
    NotCrmMon,
    #[error("crm_mon reports: {}", .0.join("; "))]
    Reported(Vec<String>),
    #[error("no <summary><current_dc> element")]
    NoDc,
    #[error("no nodes in a cluster with quorum")]
    NoNodes,
}

/// The driver: runs crm_mon at each pass.
pub struct Pacemaker {
    config: PacemakerConfig,
}

impl Pacemaker {
    pub fn new(config: PacemakerConfig) -> Self {
        Self { config }
    }

    /// crm_mon's XML: the cluster's status and the fence history.
    pub async fn crm_mon(&self) -> Result<String, PacemakerError> {
        let program = &self.config.crm_mon;
        let mut cmd = tokio::process::Command::new(program);
        // Level 2: failed and pending fencings, and the last successful one of each node.
        cmd.args(["--output-as=xml", "--fence-history=2"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cib) = &self.config.cib_file {
            cmd.env("CIB_file", cib);
        }
        let child = cmd.spawn().map_err(|source| PacemakerError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let out = tokio::time::timeout(self.config.timeout, child.wait_with_output())
            .await
            .map_err(|_| PacemakerError::TimedOut(self.config.timeout))?
            .map_err(|source| PacemakerError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            // Its XML says why (`<status code="102" message="Not connected">`); else stderr.
            let message = match parse(&stdout) {
                Err(ParseError::Reported(errors)) => errors.join("; "),
                _ => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            };
            return Err(PacemakerError::Failed {
                code: out.status.code(),
                message,
            });
        }
        Ok(stdout)
    }
}

impl Driver for Pacemaker {
    type Error = PacemakerError;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn observe(&mut self) -> Result<Membership, PacemakerError> {
        let xml = self.crm_mon().await?;
        Ok(parse(&xml).map_err(PacemakerError::Parse)?.membership())
    }
}

/// What the driver reads of crm_mon's XML.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrmMon {
    /// `<status message=…>` when it is not `OK`.
    pub status: Option<String>,
    /// `<status><errors><error>` texts.
    pub errors: Vec<String>,
    pub dc: Option<String>,
    pub quorum: bool,
    pub nodes: Vec<Node>,
    /// Each remote connection resource's role, by resource id.
    pub connections: BTreeMap<String, String>,
    /// Successful fencings: target, completion time.
    pub fencings: Vec<(String, Timestamp)>,
}

/// One `nodes/node`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    pub name: String,
    pub id: String,
    pub remote: bool,
    pub online: bool,
    pub unclean: bool,
    pub pending: bool,
    pub standby: bool,
    pub maintenance: bool,
}

/// Reads crm_mon's XML.
pub fn parse(xml: &str) -> Result<CrmMon, ParseError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let (mut root, mut dc_seen) = (false, false);
    let mut out = CrmMon::default();
    loop {
        let event = reader.read_event().map_err(|source| ParseError::Xml {
            position: reader.error_position(),
            source,
        })?;
        let (element, empty) = match &event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(text) if path.last().is_some_and(|p| p == "error") => {
                if let Ok(text) = text.unescape() {
                    out.errors.push(text.trim().to_owned());
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = String::from_utf8_lossy(element.name().as_ref()).into_owned();
        let a = Attrs::of(element);
        let parent = path.last().map(String::as_str);
        match (parent, name.as_str()) {
            (None, "pacemaker-result") => root = true,
            (Some("pacemaker-result"), "status") => {
                let message = a.get("message");
                out.status = (message != "OK").then(|| message.to_owned());
            }
            (Some("summary"), "current_dc") => {
                dc_seen = true;
                if a.is("present") {
                    out.dc = Some(a.get("name").to_owned());
                    out.quorum = a.is("with_quorum");
                }
            }
            (Some("nodes"), "node") => out.nodes.push(Node {
                name: a.get("name").to_owned(),
                id: a.get("id").to_owned(),
                remote: a.get("type") == "remote",
                online: a.is("online"),
                unclean: a.is("unclean"),
                pending: a.is("pending"),
                standby: a.is("standby"),
                maintenance: a.is("maintenance"),
            }),
            (_, "resource")
                if path.iter().any(|p| p == "resources")
                    && a.get("resource_agent") == "ocf:pacemaker:remote" =>
            {
                out.connections
                    .insert(a.get("id").to_owned(), a.get("role").to_owned());
            }
            (Some("fence_history"), "fence_event") if a.get("status") == "success" => {
                if let Some(at) = completed(a.get("completed")) {
                    out.fencings.push((a.get("target").to_owned(), at));
                }
            }
            _ => {}
        }
        if !empty {
            path.push(name);
        }
    }
    if !root {
        return Err(ParseError::NotCrmMon);
    }
    if !dc_seen {
        // A failed crm_mon says why, sometimes with exit status 0 (a CIB file it cannot read).
        return Err(match (&out.status, out.errors.is_empty()) {
            (_, false) => ParseError::Reported(out.errors),
            (Some(message), true) => ParseError::Reported(vec![message.clone()]),
            (None, true) => ParseError::NoDc,
        });
    }
    if out.quorum && out.nodes.is_empty() {
        return Err(ParseError::NoNodes);
    }
    Ok(out)
}

impl CrmMon {
    /// The membership view: each node up or not, with its last fencing.
    pub fn membership(&self) -> Membership {
        let mut nodes = BTreeMap::new();
        for n in &self.nodes {
            // A guest node's connection is implicit (no `ocf:pacemaker:remote` resource):
            // then `online` and `unclean` say it all.
            let connection = n
                .remote
                .then(|| self.connections.get(&n.id).map(String::as_str))
                .flatten();
            let up = n.online
                && !n.unclean
                && !n.pending
                && connection.is_none_or(|role| role == "Started");
            let fenced_at = self
                .fencings
                .iter()
                .filter(|(target, _)| *target == n.name)
                .map(|(_, at)| *at)
                .max();
            let member = Member {
                up,
                fenced_at,
                detail: detail(n, connection),
            };
            nodes.insert(n.name.clone(), member);
        }
        Membership {
            quorum: self.quorum,
            nodes,
        }
    }
}

/// What the status shows of a node, e.g. `online`, `offline, unclean`, `online, connection
/// Starting`.
fn detail(n: &Node, connection: Option<&str>) -> String {
    let mut parts = vec![if n.online { "online" } else { "offline" }.to_owned()];
    for (flag, word) in [
        (n.unclean, "unclean"),
        (n.pending, "pending"),
        (n.standby, "standby"),
        (n.maintenance, "maintenance"),
    ] {
        if flag {
            parts.push(word.to_owned());
        }
    }
    if let Some(role) = connection.filter(|role| *role != "Started") {
        parts.push(format!("connection {role}"));
    }
    parts.join(", ")
}

/// A fence event's `completed`: `2026-11-30 11:27:23Z`, or with an offset (`… +01:00`).
fn completed(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (date, rest) = text.split_once(' ')?;
    let rest: String = rest.split_whitespace().collect();
    vigil_wire::time::parse_isotime(&format!("{date}T{rest}"))
}

/// An element's attributes, unescaped; a missing one reads as empty.
struct Attrs(Vec<(String, String)>);

impl Attrs {
    fn of(e: &BytesStart<'_>) -> Self {
        let pairs = e
            .attributes()
            .filter_map(Result::ok)
            .map(|a| {
                let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                let value = a
                    .unescape_value()
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(&a.value).into_owned());
                (key, value)
            })
            .collect();
        Attrs(pairs)
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn is(&self, key: &str) -> bool {
        self.get(key) == "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        vigil_wire::time::parse_isotime(text).unwrap()
    }

    #[test]
    fn completion_times_with_and_without_an_offset() {
        assert_eq!(
            completed("2026-11-30 11:27:23Z"),
            Some(t("2026-11-30T11:27:23"))
        );
        assert_eq!(
            completed("2026-11-30 12:27:23 +01:00"),
            Some(t("2026-11-30T11:27:23"))
        );
        assert_eq!(completed(""), None);
        assert_eq!(completed("yesterday"), None);
    }

    #[test]
    fn not_crm_mon_output_is_an_error() {
        assert!(matches!(parse("<cib/>"), Err(ParseError::NotCrmMon)));
        assert!(matches!(
            parse("<pacemaker-result"),
            Err(ParseError::Xml { .. })
        ));
        assert!(matches!(
            parse("<pacemaker-result><summary/></pacemaker-result>"),
            Err(ParseError::NoDc)
        ));
    }

    #[test]
    fn a_remote_node_is_up_while_its_connection_is_started_and_a_guest_by_its_flags() {
        let xml = r#"<pacemaker-result><summary>
  <current_dc present="true" name="ctl1" with_quorum="true"/></summary>
<nodes>
  <node name="vm1" id="vm1" online="true" unclean="false" pending="false" type="remote"/>
  <node name="c2" id="c2" online="true" unclean="false" pending="false" type="remote"/>
  <node name="c3" id="c3" online="true" unclean="false" pending="false" type="remote"/>
</nodes>
<resources>
  <resource id="c2" resource_agent="ocf:pacemaker:remote" role="Starting"/>
  <clone id="x"><resource id="c3" resource_agent="ocf:pacemaker:remote" role="Started"/></clone>
</resources></pacemaker-result>"#;
        let view = parse(xml).unwrap().membership();
        let up = |n: &str| (view.nodes[n].up, view.nodes[n].detail.as_str());
        assert_eq!(up("vm1"), (true, "online"));
        assert_eq!(up("c2"), (false, "online, connection Starting"));
        assert_eq!(up("c3"), (true, "online"));
    }

    #[test]
    fn crm_mon_s_own_errors_are_reported() {
        // What crm_mon 2.1.5 prints where no cluster runs (exit status 102).
        let xml = r#"<pacemaker-result api-version="2.25" request="crm_mon --output-as=xml">
  <status code="102" message="Not connected">
    <errors>
      <error>crm_mon: Connection to cluster failed: Connection refused</error>
    </errors>
  </status>
</pacemaker-result>"#;
        let err = parse(xml).unwrap_err();
        assert_eq!(
            err.to_string(),
            "crm_mon reports: crm_mon: Connection to cluster failed: Connection refused"
        );
    }
}

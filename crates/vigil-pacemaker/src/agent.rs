//! The fence-agents calling conventions, as Pacemaker's fencer and an operator at a shell use
//! them: options as `key=value` lines on standard input or as command-line flags, an `action`,
//! the exit codes, and the metadata XML the fencer reads to learn the agent's parameters.
//!
//! One table ([`PARAMETERS`]) is the agent's interface: parsing, validation and the metadata
//! are all derived from it.

use std::collections::BTreeMap;

/// What the fencer or the operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Off,
    On,
    /// Fabric fencing has no reboot: as for `fence_compute`, it means `off`, and unfencing
    /// (`on`) comes when the node rejoins.
    Reboot,
    Status,
    Monitor,
    List,
    ListStatus,
    Metadata,
    ValidateAll,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "off" => Action::Off,
            "on" | "enable" => Action::On,
            "reboot" => Action::Reboot,
            "status" => Action::Status,
            "monitor" => Action::Monitor,
            "list" => Action::List,
            "list-status" => Action::ListStatus,
            "metadata" => Action::Metadata,
            "validate-all" => Action::ValidateAll,
            _ => return None,
        })
    }

    /// Whether the action is about one host (needs `plug`).
    pub fn needs_plug(self) -> bool {
        matches!(
            self,
            Action::Off | Action::On | Action::Reboot | Action::Status
        )
    }
}

/// Exit codes of fence-agents (`fencing.py`'s `EC_*`), the ones this agent uses.
pub mod exit {
    pub const OK: u8 = 0;
    pub const GENERIC_ERROR: u8 = 1;
    /// `status` of a host that is off.
    pub const STATUS_OFF: u8 = 2;
    pub const TIMED_OUT: u8 = 5;
}

/// One parameter of the agent.
pub struct Parameter {
    /// The name on standard input and in the metadata.
    pub name: &'static str,
    /// Other names accepted on standard input (fence_compute's, or Pacemaker's).
    pub aliases: &'static [&'static str],
    /// Short and long command-line flags (`-o`, `--action`).
    pub flags: &'static [&'static str],
    /// A flag without a value (`--verbose`).
    pub boolean: bool,
    pub default: Option<&'static str>,
    pub shortdesc: &'static str,
}

const fn param(
    name: &'static str,
    aliases: &'static [&'static str],
    flags: &'static [&'static str],
    default: Option<&'static str>,
    shortdesc: &'static str,
) -> Parameter {
    Parameter {
        name,
        aliases,
        flags,
        boolean: false,
        default,
        shortdesc,
    }
}

const fn flag(
    name: &'static str,
    flags: &'static [&'static str],
    shortdesc: &'static str,
) -> Parameter {
    Parameter {
        name,
        aliases: &[],
        flags,
        boolean: true,
        default: None,
        shortdesc,
    }
}

/// fence_vigil's parameters. Names follow fence_compute's where it has the same one, so a
/// site's stonith resource moves over with its options unchanged.
pub const PARAMETERS: &[Parameter] = &[
    param("action", &[], &["-o", "--action"], Some("reboot"), "Fencing action"),
    param("plug", &["port", "nodename"], &["-n", "--plug"], None, "The compute host to fence, as the cluster names it"),
    param("cloud", &[], &["--cloud"], None, "A cloud of clouds.yaml to take the credentials from"),
    param("auth_url", &[], &["-k", "--auth-url"], None, "Keystone v3 URL"),
    param("login", &["username"], &["-l", "--username"], None, "Keystone user name"),
    param("passwd", &["password"], &["-p", "--password"], None, "Keystone password"),
    param("passwd_script", &[], &["-S", "--password-script"], None, "A command that prints the password"),
    param("tenant_name", &["project_name"], &["-t", "--tenant-name"], None, "Keystone project"),
    param("user-domain", &["user_domain"], &["-u", "--user-domain"], Some("Default"), "Keystone v3 user domain"),
    param("project-domain", &["project_domain"], &["-P", "--project-domain"], Some("Default"), "Keystone v3 project domain"),
    param("region_name", &[], &["--region-name"], None, "Region"),
    param("endpoint_type", &[], &["-e", "--endpoint-type"], Some("internalURL"), "Nova endpoint type (publicURL, internalURL, adminURL)"),
    param("domain", &["compute-domain"], &["-d", "--domain"], None, "DNS domain of the compute hosts, when the cluster uses short names and Nova FQDNs"),
    param("queue", &[], &["--queue"], Some("attrd"), "Where failed hosts are recorded: attrd (Pacemaker's attribute manager) or none"),
    param("vigil_url", &[], &["--vigil-url"], None, "Vigil's v1 address, to wait for a host's recovery before unfencing it; empty: the catalog's instance-ha endpoint; none: the queue alone decides"),
    param("delay", &[], &["--delay"], Some("0"), "Seconds to wait before fencing"),
    flag("verbose", &["-v", "--verbose"], "Verbose mode"),
    flag("quiet", &["-q", "--quiet"], "No messages on standard error"),
];

/// A parsed invocation: the action and every option given, by canonical name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    pub options: BTreeMap<&'static str, String>,
}

impl Request {
    /// The option's value, or its default.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str).or_else(|| {
            PARAMETERS
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.default)
        })
    }

    /// The option's value unless empty.
    pub fn nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }
}

/// What is wrong with an invocation; fence-agents exit 1 with it on standard error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("unknown option {0}")]
    UnknownFlag(String),
    #[error("option {0} needs a value")]
    MissingValue(String),
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    #[error("action {0:?} needs a host (plug, port or -n)")]
    NoPlug(String),
}

fn by_flag(flag: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.flags.contains(&flag))
}

fn by_name(name: &str) -> Option<&'static Parameter> {
    PARAMETERS
        .iter()
        .find(|p| p.name == name || p.aliases.contains(&name))
}

/// Parses the command line (`args` without the program name) or, when there is none, the
/// `key=value` lines of `stdin`, as fence-agents do. Unknown keys on standard input are
/// skipped with a warning in the returned list (the fencer passes some of its own); an
/// unknown flag is an error.
pub fn parse(args: &[String], stdin: Option<&str>) -> Result<(Request, Vec<String>), UsageError> {
    let mut options = BTreeMap::new();
    let mut warnings = Vec::new();
    if args.is_empty() {
        for line in stdin.unwrap_or_default().lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            match by_name(key.trim()) {
                // Keep the first of `plug`/`port`/`nodename`: Pacemaker sends both the
                // argument it was told to and `nodename`.
                Some(p) => {
                    options
                        .entry(p.name)
                        .or_insert_with(|| value.trim().to_owned());
                }
                None => warnings.push(format!("ignoring unknown option {:?}", key.trim())),
            }
        }
    } else {
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            let p = by_flag(flag).ok_or_else(|| UsageError::UnknownFlag(flag.to_owned()))?;
            let value = if p.boolean {
                "1".to_owned()
            } else {
                match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| UsageError::MissingValue(flag.to_owned()))?,
                }
            };
            options.insert(p.name, value);
        }
    }
    let name = options
        .get("action")
        .map(String::as_str)
        .unwrap_or("reboot");
    let action = Action::parse(name).ok_or_else(|| UsageError::UnknownAction(name.to_owned()))?;
    if action.needs_plug() && options.get("plug").is_none_or(|p| p.is_empty()) {
        return Err(UsageError::NoPlug(name.to_owned()));
    }
    Ok((Request { action, options }, warnings))
}

/// The metadata XML (`-o metadata`), in the layout fence-agents print and Pacemaker's
/// fencer parses. `on` is automatic unfencing, as fence_compute declares it: the fencer runs
/// it when the host rejoins, and it returns only once the host may run instances again.
pub fn metadata() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" ?>\n\
         <resource-agent name=\"fence_vigil\" shortdesc=\"Fence agent that hands a failed OpenStack compute host to Vigil\">\n\
         <longdesc>fence_vigil is the second level of a compute host's fencing topology, after its power device: \
         off marks the host's nova-compute forced down and disabled in Nova and records the host in the failed-host \
         queue that Vigil's alerter delivers from; on (unfencing) waits until the host's recovery has ended, then \
         lets Nova use the host again.</longdesc>\n\
         <vendor-url>https://docs.openstack.org/masakari/</vendor-url>\n\
         <parameters>\n",
    );
    for p in PARAMETERS {
        let mixed = match (p.flags, p.boolean) {
            ([short, long], false) => format!("{short}, {long}=[value]"),
            ([long], false) => format!("{long}=[value]"),
            (flags, _) => flags.join(", "),
        };
        let content = match (p.boolean, p.default) {
            (true, _) => "<content type=\"boolean\" />".to_owned(),
            (false, Some(d)) => format!("<content type=\"string\" default=\"{}\" />", escape(d)),
            (false, None) => "<content type=\"string\" />".to_owned(),
        };
        xml.push_str(&format!(
            "\t<parameter name=\"{}\" unique=\"0\" required=\"0\">\n\
             \t\t<getopt mixed=\"{}\" />\n\
             \t\t{content}\n\
             \t\t<shortdesc lang=\"en\">{}</shortdesc>\n\
             \t</parameter>\n",
            p.name,
            escape(&mixed),
            escape(p.shortdesc),
        ));
        for alias in p.aliases {
            xml.push_str(&format!(
                "\t<parameter name=\"{alias}\" unique=\"0\" required=\"0\" deprecated=\"1\">\n\
                 \t\t<content type=\"string\" />\n\
                 \t\t<shortdesc lang=\"en\">Same as {}</shortdesc>\n\
                 \t</parameter>\n",
                p.name
            ));
        }
    }
    xml.push_str(
        "</parameters>\n<actions>\n\
         \t<action name=\"on\" automatic=\"1\"/>\n\
         \t<action name=\"off\" />\n\
         \t<action name=\"status\" />\n\
         \t<action name=\"list\" />\n\
         \t<action name=\"list-status\" />\n\
         \t<action name=\"monitor\" />\n\
         \t<action name=\"metadata\" />\n\
         \t<action name=\"validate-all\" />\n\
         </actions>\n</resource-agent>\n",
    );
    xml
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn invocations_parse_as_fence_agents_do() {
        type Expect = Result<(Action, &'static [(&'static str, &'static str)]), UsageError>;
        let table: &[(&str, Option<&str>, Expect)] = &[
            // Pacemaker's fencer: stdin, `port` and `nodename` both, the first kept.
            (
                "",
                Some("action=off\nport=compute1\nnodename=compute1.example\nlogin=admin\n"),
                Ok((Action::Off, &[("action", "off"), ("login", "admin"), ("plug", "compute1")])),
            ),
            // fence_compute's names.
            (
                "",
                Some("action=status\nplug=c1\ntenant_name=admin\nuser-domain=D\ncompute-domain=ex.org\n"),
                Ok((
                    Action::Status,
                    &[("action", "status"), ("domain", "ex.org"), ("plug", "c1"), ("tenant_name", "admin"), ("user-domain", "D")],
                )),
            ),
            // Comments, blank lines and the fencer's own keys are skipped.
            (
                "",
                Some("# from stonithd\n\naction=list\npcmk_host_list=a b\n"),
                Ok((Action::List, &[("action", "list")])),
            ),
            // No action: reboot, which needs a host.
            ("", Some("plug=c1\n"), Ok((Action::Reboot, &[("plug", "c1")]))),
            ("", Some(""), Err(UsageError::NoPlug("reboot".into()))),
            // The command line, short and long flags, inline values and booleans.
            (
                "-o on -n c1 --cloud=lab -v",
                None,
                Ok((Action::On, &[("action", "on"), ("cloud", "lab"), ("plug", "c1"), ("verbose", "1")])),
            ),
            ("--action metadata", None, Ok((Action::Metadata, &[("action", "metadata")]))),
            ("-o validate-all", Some("ignored=1"), Ok((Action::ValidateAll, &[("action", "validate-all")]))),
            ("-o off --bogus", None, Err(UsageError::UnknownFlag("--bogus".into()))),
            ("-o", None, Err(UsageError::MissingValue("-o".into()))),
            ("-o dance", None, Err(UsageError::UnknownAction("dance".into()))),
            ("-o status", None, Err(UsageError::NoPlug("status".into()))),
        ];
        for (cli, stdin, expect) in table {
            let got = parse(&args(cli), *stdin).map(|(r, _)| r);
            let want = expect.clone().map(|(action, opts)| Request {
                action,
                options: opts.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            });
            assert_eq!(got, want, "{cli:?} / {stdin:?}");
        }
    }

    #[test]
    fn unknown_stdin_keys_are_reported_and_defaults_apply() {
        let (r, warnings) = parse(&[], Some("action=list\npcmk_delay_max=5\n")).unwrap();
        assert_eq!(warnings, ["ignoring unknown option \"pcmk_delay_max\""]);
        assert_eq!(r.get("queue"), Some("attrd"));
        assert_eq!(r.get("endpoint_type"), Some("internalURL"));
        assert_eq!(r.nonempty("vigil_url"), None);
    }

    #[test]
    fn the_metadata_lists_every_parameter_and_unfencing() {
        let xml = metadata();
        for p in PARAMETERS {
            assert!(
                xml.contains(&format!("<parameter name=\"{}\"", p.name)),
                "{}",
                p.name
            );
        }
        assert!(xml.contains("<action name=\"on\" automatic=\"1\"/>"));
        assert!(
            !xml.contains("name=\"reboot\""),
            "fabric fencing advertises no reboot"
        );
    }
}

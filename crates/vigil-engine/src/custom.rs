//! Operator-defined flows: `[engine.flows.<flow>]` lists the steps before (`pre`) and after
//! (`post`) a flow's built-in steps, and may name which built-in steps run (`main`) with
//! Masakari's task names. Operator steps are `no_op`, `exec` (a command that gets the flow's
//! context as JSON on stdin) and `webhook` (the context POSTed as JSON).
//!
//! Vigil's safety steps (the host check and fencing) are not the operator's to remove: they
//! run first in every host-failure flow, whatever `main` says.

use crate::saga::{check_flow, FlowDefError, Outcome, Outputs, Step, StepError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// One flow's customisation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    pub pre: Vec<StepSpec>,
    /// Built-in steps by Masakari task name, in their fixed order; empty: all of them.
    pub main: Vec<String>,
    pub post: Vec<StepSpec>,
}

/// `[engine.flows]`: keyed by `host_failure`, `instance_failure`, `process_failure`,
/// `host_rejoin`.
pub type Flows = BTreeMap<String, FlowConfig>;

/// An operator step: `"no_op"`, `{exec = ["cmd", "arg"]}` or `{webhook = "http://…"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepSpec {
    Named(String),
    Exec { exec: Vec<String> },
    Webhook { webhook: String },
}

/// What every flow context shows operator steps.
pub trait FlowContext: Sync {
    fn context(&self) -> Value;
}

/// Why `[engine.flows]` cannot be used; each message is one line naming the flow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowConfigError {
    #[error("[engine.flows.{0}]: no such flow (one of: host_failure, instance_failure, process_failure, host_rejoin)")]
    UnknownFlow(String),
    #[error(
        "[engine.flows.{flow}] main names {name:?}, not a task of this flow (one of: {known})"
    )]
    UnknownTask {
        flow: String,
        name: String,
        known: String,
    },
    #[error("[engine.flows.{flow}] {stage}: {detail}")]
    OperatorStep {
        flow: String,
        stage: &'static str,
        detail: String,
    },
    #[error("[engine.flows.{flow}] main: {source}")]
    Incomplete {
        flow: String,
        #[source]
        source: FlowDefError,
    },
}

/// Whether a name in `main` names `step`: case and underscores aside, so Masakari's task names
/// (`prepare_HA_enabled_instances_task`) name Vigil's steps (`PrepareHAEnabledInstancesTask`).
fn names(name: &str, step: &str) -> bool {
    let fold = |s: &str| {
        s.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    fold(name) == fold(step)
}

/// Builds the step list: the `safety` steps (always, first: not the operator's to remove),
/// `pre`, the built-ins `main` keeps (every one when empty), `post`; then checks that every
/// step's needs run before it, so a `main` that drops a needed step is refused here.
pub fn assemble<C: FlowContext + 'static>(
    flow: &str,
    config: Option<&FlowConfig>,
    safety: Vec<Box<dyn Step<C>>>,
    builtin: Vec<Box<dyn Step<C>>>,
) -> Result<Vec<Box<dyn Step<C>>>, FlowConfigError> {
    let default = FlowConfig::default();
    let config = config.unwrap_or(&default);
    for name in &config.main {
        let known = || safety.iter().chain(&builtin).map(|s| s.name());
        if !known().any(|n| names(name, n)) {
            return Err(FlowConfigError::UnknownTask {
                flow: flow.to_owned(),
                name: name.clone(),
                known: known().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let mut steps = safety;
    for (i, spec) in config.pre.iter().enumerate() {
        steps.push(operator_step(flow, "pre", i, spec)?);
    }
    steps.extend(
        builtin
            .into_iter()
            .filter(|s| config.main.is_empty() || config.main.iter().any(|m| names(m, s.name()))),
    );
    for (i, spec) in config.post.iter().enumerate() {
        steps.push(operator_step(flow, "post", i, spec)?);
    }
    check_flow(&steps).map_err(|source| FlowConfigError::Incomplete {
        flow: flow.to_owned(),
        source,
    })?;
    Ok(steps)
}

fn operator_step<C: FlowContext + 'static>(
    flow: &str,
    stage: &'static str,
    index: usize,
    spec: &StepSpec,
) -> Result<Box<dyn Step<C>>, FlowConfigError> {
    // Names are unique within the flow: the step log is keyed by them.
    let name = |what: &str| format!("{stage}[{index}] {what}");
    let refused = |detail: String| FlowConfigError::OperatorStep {
        flow: flow.to_owned(),
        stage,
        detail,
    };
    Ok(match spec {
        StepSpec::Named(n) if n == "no_op" => Box::new(Operator {
            name: name("no_op"),
            action: Action::NoOp,
        }),
        StepSpec::Named(n) => {
            return Err(refused(format!(
                "{n:?}: only no_op, exec and webhook steps may be added"
            )))
        }
        StepSpec::Exec { exec } if exec.is_empty() => {
            return Err(refused("exec needs a command".into()))
        }
        StepSpec::Exec { exec } => Box::new(Operator {
            name: name(&format!("exec {}", exec[0])),
            action: Action::Exec(exec.clone()),
        }),
        StepSpec::Webhook { webhook } => Box::new(Operator {
            name: name(&format!("webhook {webhook}")),
            action: Action::Webhook(webhook.clone()),
        }),
    })
}

enum Action {
    NoOp,
    Exec(Vec<String>),
    Webhook(String),
}

struct Operator {
    name: String,
    action: Action,
}

/// An operator step may not hang a recovery.
const TIMEOUT: Duration = Duration::from_secs(60);

#[async_trait]
impl<C: FlowContext> Step<C> for Operator {
    fn name(&self) -> &str {
        &self.name
    }

    /// Safe to run twice only as far as the operator's command or endpoint is: the context
    /// carries the notification uuid and step name to let it tell.
    async fn run(&self, ctx: &C, done: &Outputs) -> Result<Outcome, StepError> {
        let mut context = ctx.context();
        context["step"] = json!(self.name);
        context["completed_steps"] = done.to_json();
        match &self.action {
            Action::NoOp => Ok(Outcome::Continue(Value::Null)),
            Action::Exec(argv) => exec(argv, &context).await,
            Action::Webhook(url) => webhook(url, &context).await,
        }
    }
}

async fn exec(argv: &[String], context: &Value) -> Result<Outcome, StepError> {
    let fail = |m: String| StepError::refused(format!("{}: {m}", argv[0]));
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| StepError::Exec {
            command: argv[0].clone(),
            source,
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = context.to_string();
    // A command that does not read its stdin still runs; a closed pipe is not its failure.
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("still running after {} s", TIMEOUT.as_secs())))?
        .map_err(|source| StepError::Exec {
            command: argv[0].clone(),
            source,
        })?;
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        let s = s.trim();
        s.chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
    };
    if !out.status.success() {
        return Err(fail(format!("{}: {}", out.status, tail(&out.stderr))));
    }
    Ok(Outcome::Continue(json!({ "stdout": tail(&out.stdout) })))
}

async fn webhook(url: &str, context: &Value) -> Result<Outcome, StepError> {
    let unreachable = |source| StepError::Webhook {
        url: url.to_owned(),
        source,
    };
    let resp = reqwest::Client::new()
        .post(url)
        .timeout(TIMEOUT)
        .json(context)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(StepError::refused(format!(
            "webhook {url}: {status}: {}",
            body.chars().take(500).collect::<String>()
        )));
    }
    Ok(Outcome::Continue(json!({ "status": status.as_u16() })))
}

/// The host as operator steps see it.
pub fn host_json(h: &vigil_domain::Host) -> Value {
    json!({"name": h.name, "uuid": h.uuid.to_string(), "segment": h.segment.name})
}

/// The context of a flow about a host: the flow's name, its notification and the host.
pub fn host_context(flow: &str, n: &vigil_domain::Notification, h: &vigil_domain::Host) -> Value {
    json!({"flow": flow, "notification": notification_json(n), "host": host_json(h)})
}

/// The notification as operator steps see it: as the API shows it.
pub fn notification_json(n: &vigil_domain::Notification) -> Value {
    serde_json::to_value(vigil_wire::NotificationBody::new(n, None)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx;
    impl FlowContext for Ctx {
        fn context(&self) -> Value {
            json!({})
        }
    }

    struct Named(&'static str, &'static [&'static str]);
    #[async_trait]
    impl Step<Ctx> for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn needs(&self) -> &'static [&'static str] {
            self.1
        }
        async fn run(&self, _: &Ctx, _: &Outputs) -> Result<Outcome, StepError> {
            Ok(Outcome::Continue(Value::Null))
        }
    }

    fn safety() -> Vec<Box<dyn Step<Ctx>>> {
        vec![Box::new(Named("GateTask", &[]))]
    }

    /// `PrepareHATask` needs the gate; `MoveTask` needs `PrepareHATask`; `LastTask` needs nothing.
    fn builtin() -> Vec<Box<dyn Step<Ctx>>> {
        vec![
            Box::new(Named("PrepareHATask", &["GateTask"])),
            Box::new(Named("MoveTask", &["PrepareHATask"])),
            Box::new(Named("LastTask", &[])),
        ]
    }

    fn step_names(steps: &[Box<dyn Step<Ctx>>]) -> Vec<String> {
        steps.iter().map(|s| s.name().to_owned()).collect()
    }

    fn flow(toml_text: &str) -> Result<Vec<String>, FlowConfigError> {
        let config: FlowConfig = toml::from_str(toml_text).unwrap();
        assemble("f", Some(&config), safety(), builtin()).map(|s| step_names(&s))
    }

    #[test]
    fn flows_are_safety_pre_main_post() {
        assert_eq!(
            step_names(&assemble("f", None, safety(), builtin()).unwrap()),
            ["GateTask", "PrepareHATask", "MoveTask", "LastTask"]
        );
        assert_eq!(
            flow(
                r#"
                pre = ["no_op", {exec = ["true"]}]
                main = ["prepare_HA_task", "MoveTask"]
                post = [{webhook = "http://127.0.0.1:1/x"}]
                "#
            )
            .unwrap(),
            [
                "GateTask",
                "pre[0] no_op",
                "pre[1] exec true",
                "PrepareHATask",
                "MoveTask",
                "post[0] webhook http://127.0.0.1:1/x"
            ]
        );
    }

    /// What `[engine.flows.f]` may say, by table: each refusal is one line naming the problem.
    #[test]
    fn flow_configuration_table() {
        let cases: &[(&str, Result<&[&str], &str>)] = &[
            // Masakari's spelling names Vigil's step; the safety step may be named, never dropped.
            (r#"main = ["last_task"]"#, Ok(&["GateTask", "LastTask"])),
            (
                r#"main = ["gate_task", "prepare_ha_task"]"#,
                Ok(&["GateTask", "PrepareHATask"]),
            ),
            (
                r#"main = ["move_task"]"#,
                Err("[engine.flows.f] main: MoveTask needs the output of PrepareHATask, which does not run before it"),
            ),
            (
                r#"main = ["evacuate_everything"]"#,
                Err("[engine.flows.f] main names \"evacuate_everything\", not a task of this flow (one of: GateTask, PrepareHATask, MoveTask, LastTask)"),
            ),
            (
                r#"pre = ["MoveTask"]"#,
                Err("[engine.flows.f] pre: \"MoveTask\": only no_op, exec and webhook steps may be added"),
            ),
            (
                r#"post = [{exec = []}]"#,
                Err("[engine.flows.f] post: exec needs a command"),
            ),
        ];
        for (config, want) in cases {
            let got = flow(config).map_err(|e| e.to_string());
            match want {
                Ok(steps) => assert_eq!(got.unwrap(), *steps, "{config}"),
                Err(message) => assert_eq!(got.unwrap_err(), *message, "{config}"),
            }
        }
    }

    #[tokio::test]
    async fn a_failing_command_fails_the_step_with_its_stderr() {
        let err = exec(
            &["sh".into(), "-c".into(), "echo boom >&2; exit 3".into()],
            &json!({}),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let ok = exec(&["cat".into()], &json!({"k": 1})).await.unwrap();
        assert_eq!(ok, Outcome::Continue(json!({"stdout": "{\"k\":1}"})));
    }
}

//! Operator-defined flows: `[engine.flows.<flow>]` lists the steps before (`pre`) and after
//! (`post`) a flow's built-in steps, and may name which built-in steps run (`main`) with
//! Masakari's task names. Operator steps are `no_op`, `exec` (a command that gets the flow's
//! context as JSON on stdin) and `webhook` (the context POSTed as JSON).
//!
//! Vigil's safety steps (the host check and fencing) are not the operator's to remove: they
//! run first in every host-failure flow, whatever `main` says.

use crate::saga::{Outcome, Outputs, Step, StepError};
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

/// Builds the step list: `pre`, the built-ins `main` keeps (every one when empty; `always`
/// ones regardless), `post`. `builtin` pairs each step with its Masakari task name.
pub fn assemble<C: FlowContext + 'static>(
    flow: &str,
    config: Option<&FlowConfig>,
    always: Vec<Box<dyn Step<C>>>,
    builtin: Vec<(&'static str, Box<dyn Step<C>>)>,
) -> Result<Vec<Box<dyn Step<C>>>, String> {
    let Some(config) = config else {
        return Ok(always
            .into_iter()
            .chain(builtin.into_iter().map(|(_, s)| s))
            .collect());
    };
    for name in &config.main {
        if !builtin.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "[engine.flows.{flow}] main names {name:?}, not a task of this flow (one of: {})",
                builtin
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut steps = always;
    for (i, spec) in config.pre.iter().enumerate() {
        steps.push(operator_step(flow, "pre", i, spec)?);
    }
    steps.extend(
        builtin
            .into_iter()
            .filter(|(n, _)| config.main.is_empty() || config.main.iter().any(|m| m == n))
            .map(|(_, s)| s),
    );
    for (i, spec) in config.post.iter().enumerate() {
        steps.push(operator_step(flow, "post", i, spec)?);
    }
    Ok(steps)
}

fn operator_step<C: FlowContext + 'static>(
    flow: &str,
    stage: &str,
    index: usize,
    spec: &StepSpec,
) -> Result<Box<dyn Step<C>>, String> {
    // Names are unique within the flow: the step log is keyed by them.
    let name = |what: &str| format!("{stage}[{index}] {what}");
    Ok(match spec {
        StepSpec::Named(n) if n == "no_op" => Box::new(Operator {
            name: name("no_op"),
            action: Action::NoOp,
        }),
        StepSpec::Named(n) => {
            return Err(format!(
                "[engine.flows.{flow}] {stage} names {n:?}: only no_op, exec and webhook steps \
                 may be added"
            ))
        }
        StepSpec::Exec { exec } if exec.is_empty() => {
            return Err(format!(
                "[engine.flows.{flow}] {stage}: exec needs a command"
            ))
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
        context["completed_steps"] = json!(done);
        match &self.action {
            Action::NoOp => Ok(Outcome::Continue(Value::Null)),
            Action::Exec(argv) => exec(argv, &context).await,
            Action::Webhook(url) => webhook(url, &context).await,
        }
    }
}

async fn exec(argv: &[String], context: &Value) -> Result<Outcome, StepError> {
    let fail = |m: String| StepError::new(format!("{}: {m}", argv[0]));
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("could not start: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = context.to_string();
    // A command that does not read its stdin still runs; a closed pipe is not its failure.
    let _ = stdin.write_all(input.as_bytes()).await;
    drop(stdin);
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("still running after {} s", TIMEOUT.as_secs())))?
        .map_err(|e| fail(e.to_string()))?;
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
    let fail = |m: String| StepError::new(format!("webhook {url}: {m}"));
    let resp = reqwest::Client::new()
        .post(url)
        .timeout(TIMEOUT)
        .json(context)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(fail(format!(
            "{status}: {}",
            body.chars().take(500).collect::<String>()
        )));
    }
    Ok(Outcome::Continue(json!({ "status": status.as_u16() })))
}

/// The host as operator steps see it.
pub fn host_json(h: &vigil_domain::Host) -> Value {
    json!({"name": h.name, "uuid": h.uuid.to_string(), "segment": h.segment.name})
}

/// The notification as operator steps see it.
pub fn notification_json(n: &vigil_domain::Notification) -> Value {
    json!({
        "notification_uuid": n.uuid.to_string(),
        "type": n.notification_type.as_str(),
        "generated_time": n.generated_time.naive().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "payload": n.payload,
    })
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

    struct Named(&'static str);
    #[async_trait]
    impl Step<Ctx> for Named {
        fn name(&self) -> &str {
            self.0
        }
        async fn run(&self, _: &Ctx, _: &Outputs) -> Result<Outcome, StepError> {
            Ok(Outcome::Continue(Value::Null))
        }
    }

    fn builtin() -> Vec<(&'static str, Box<dyn Step<Ctx>>)> {
        vec![
            ("a_task", Box::new(Named("A")) as Box<dyn Step<Ctx>>),
            ("b_task", Box::new(Named("B"))),
        ]
    }

    fn names(steps: &[Box<dyn Step<Ctx>>]) -> Vec<String> {
        steps.iter().map(|s| s.name().to_owned()).collect()
    }

    #[test]
    fn flows_are_pre_main_post_with_safety_steps_first() {
        let always = || vec![Box::new(Named("Gate")) as Box<dyn Step<Ctx>>];
        assert_eq!(
            names(&assemble("f", None, always(), builtin()).unwrap()),
            ["Gate", "A", "B"]
        );
        let config: FlowConfig = toml::from_str(
            r#"
            pre = ["no_op", {exec = ["true"]}]
            main = ["b_task"]
            post = [{webhook = "http://127.0.0.1:1/x"}]
            "#,
        )
        .unwrap();
        assert_eq!(
            names(&assemble("f", Some(&config), always(), builtin()).unwrap()),
            [
                "Gate",
                "pre[0] no_op",
                "pre[1] exec true",
                "B",
                "post[0] webhook http://127.0.0.1:1/x"
            ]
        );
    }

    #[test]
    fn unknown_task_names_and_steps_are_refused() {
        let bad_main = FlowConfig {
            main: vec!["evacuate_everything".into()],
            ..Default::default()
        };
        let Err(err) = assemble("f", Some(&bad_main), Vec::new(), builtin()) else {
            panic!("an unknown task name was accepted");
        };
        assert!(
            err.contains("evacuate_everything") && err.contains("a_task"),
            "{err}"
        );
        let bad_pre = FlowConfig {
            pre: vec![StepSpec::Named("a_task".into())],
            ..Default::default()
        };
        assert!(assemble("f", Some(&bad_pre), Vec::new(), builtin()).is_err());
        let empty_exec = FlowConfig {
            post: vec![StepSpec::Exec { exec: vec![] }],
            ..Default::default()
        };
        assert!(assemble("f", Some(&empty_exec), Vec::new(), builtin()).is_err());
    }

    #[tokio::test]
    async fn a_failing_command_fails_the_step_with_its_stderr() {
        let err = exec(
            &["sh".into(), "-c".into(), "echo boom >&2; exit 3".into()],
            &json!({}),
        )
        .await
        .unwrap_err();
        assert!(err.message.contains("boom"), "{}", err.message);
        let ok = exec(&["cat".into()], &json!({"k": 1})).await.unwrap();
        assert_eq!(ok, Outcome::Continue(json!({"stdout": "{\"k\":1}"})));
    }
}

//! Authorisation: Masakari's policy rules (`os_masakari_api:segments:index`, …), admin-only by
//! default, overridable from a YAML file in oslo.policy's rule language.
//!
//! Supported: `role:R`, `rule:NAME`, `is_admin:True`, `<attribute>:%(<target key>)s` and
//! `<attribute>:<literal>` (attributes `project_id`, `user_id`), `and`, `or`, `not`, parentheses,
//! `@` (always) and `!` (never); an empty rule always passes.

use crate::auth::RequestContext;
use std::collections::HashMap;
use std::path::Path;

/// Attributes of the target a rule may refer to (`project_id:%(project_id)s`).
#[derive(Clone, Debug, Default)]
pub struct PolicyTarget {
    pub project_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Always,
    Never,
    Role(String),
    Rule(String),
    /// `kind:match`, e.g. `is_admin:True`, `project_id:%(project_id)s`.
    Generic(String, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// The rule set in force.
#[derive(Clone, Debug)]
pub struct Policy {
    rules: HashMap<String, Expr>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a YAML map of rule names to rule strings: {message}")]
    Yaml { path: String, message: String },
    #[error("rule {rule}: {message}")]
    Syntax { rule: String, message: String },
}

/// The actions of a resource with the full set (segments and hosts).
const CRUD: &[&str] = &[
    "index",
    "detail",
    "create",
    "update",
    "delete",
    "discoverable",
];

const RESOURCES: &[(&str, &[&str])] = &[
    ("segments", CRUD),
    ("os-hosts", CRUD),
    (
        "notifications",
        &["index", "detail", "create", "discoverable"],
    ),
    ("vmoves", &["index", "detail", "discoverable"]),
    ("extensions", &["index", "detail", "discoverable"]),
];

impl Default for Policy {
    fn default() -> Self {
        Self::defaults()
    }
}

impl Policy {
    /// Masakari's defaults: every API rule is `rule:admin_api` (= `is_admin:True`).
    pub fn defaults() -> Policy {
        let mut rules = HashMap::new();
        let p = |s: &str| parse(s).expect("default rules parse");
        rules.insert("context_is_admin".into(), p("role:admin"));
        rules.insert(
            "admin_or_owner".into(),
            p("is_admin:True or project_id:%(project_id)s"),
        );
        rules.insert("admin_api".into(), p("is_admin:True"));
        for (resource, actions) in RESOURCES {
            for action in *actions {
                rules.insert(
                    format!("os_masakari_api:{resource}:{action}"),
                    p("rule:admin_api"),
                );
            }
        }
        rules.insert("os_masakari_api:versions:index".into(), Expr::Always);
        rules.insert("os_masakari_api:versions:discoverable".into(), Expr::Always);
        Policy { rules }
    }

    /// The defaults with the rules of a YAML file (`name: "rule string"`) laid over them.
    pub fn from_yaml_file(path: &Path) -> Result<Policy, PolicyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|e| match e {
            PolicyError::Yaml { message, .. } => PolicyError::Yaml {
                path: shown,
                message,
            },
            other => other,
        })
    }

    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let map: HashMap<String, Option<String>> =
            serde_yaml::from_str(text).map_err(|e| PolicyError::Yaml {
                path: String::new(),
                message: e.to_string(),
            })?;
        let mut policy = Policy::defaults();
        for (name, rule) in map {
            let expr =
                parse(rule.as_deref().unwrap_or("")).map_err(|message| PolicyError::Syntax {
                    rule: name.clone(),
                    message,
                })?;
            policy.rules.insert(name, expr);
        }
        Ok(policy)
    }

    /// Whether `ctx` may perform `rule` on `target`. An unknown rule is refused.
    pub fn enforce(&self, rule: &str, ctx: &RequestContext, target: &PolicyTarget) -> bool {
        match self.rules.get(rule) {
            Some(expr) => self.eval(expr, ctx, target, 0),
            None => false,
        }
    }

    fn eval(&self, e: &Expr, ctx: &RequestContext, target: &PolicyTarget, depth: u32) -> bool {
        // A rule that refers to itself would loop: deny past any sane nesting.
        if depth > 32 {
            return false;
        }
        match e {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Role(r) => ctx.roles.iter().any(|x| x.eq_ignore_ascii_case(r)),
            Expr::Rule(name) => self
                .rules
                .get(name)
                .is_some_and(|r| self.eval(r, ctx, target, depth + 1)),
            Expr::Generic(kind, matcher) => {
                let wanted = if let Some(key) = matcher
                    .strip_prefix("%(")
                    .and_then(|m| m.strip_suffix(")s"))
                {
                    match key {
                        "project_id" => target.project_id.clone(),
                        _ => None,
                    }
                } else {
                    Some(matcher.clone())
                };
                let Some(wanted) = wanted else {
                    return false;
                };
                match kind.as_str() {
                    "is_admin" => ctx.is_admin == wanted.eq_ignore_ascii_case("true"),
                    "project_id" => ctx.project_id.as_deref() == Some(wanted.as_str()),
                    "user_id" => ctx.user_id.as_deref() == Some(wanted.as_str()),
                    _ => false,
                }
            }
            Expr::Not(inner) => !self.eval(inner, ctx, target, depth + 1),
            Expr::And(all) => all.iter().all(|x| self.eval(x, ctx, target, depth + 1)),
            Expr::Or(any) => any.iter().any(|x| self.eval(x, ctx, target, depth + 1)),
        }
    }
}

/// Splits a rule into words and parentheses, keeping `%(key)s` inside its word.
fn tokens(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = rule.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' if word.ends_with('%') => {
                word.push(c);
                for d in chars.by_ref() {
                    word.push(d);
                    if d == ')' {
                        break;
                    }
                }
                if chars.peek() == Some(&'s') {
                    word.push('s');
                    chars.next();
                }
            }
            '(' | ')' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn parse(rule: &str) -> Result<Expr, String> {
    let toks = tokens(rule);
    if toks.is_empty() {
        return Ok(Expr::Always);
    }
    let mut pos = 0;
    let e = parse_or(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(format!("unexpected '{}'", toks[pos]));
    }
    Ok(e)
}

fn parse_or(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    parse_joined(t, pos, "or", parse_and, Expr::Or)
}

fn parse_and(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    parse_joined(t, pos, "and", parse_not, Expr::And)
}

/// `operand (word operand)*`: the operand alone, or all of them joined by `join`.
fn parse_joined(
    t: &[String],
    pos: &mut usize,
    word: &str,
    operand: fn(&[String], &mut usize) -> Result<Expr, String>,
    join: fn(Vec<Expr>) -> Expr,
) -> Result<Expr, String> {
    let mut parts = vec![operand(t, pos)?];
    while t.get(*pos).is_some_and(|x| x == word) {
        *pos += 1;
        parts.push(operand(t, pos)?);
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one")
    } else {
        join(parts)
    })
}

fn parse_not(t: &[String], pos: &mut usize) -> Result<Expr, String> {
    if t.get(*pos).is_some_and(|x| x == "not") {
        *pos += 1;
        return Ok(Expr::Not(Box::new(parse_not(t, pos)?)));
    }
    let tok = t.get(*pos).ok_or("the rule ends too early")?.clone();
    *pos += 1;
    match tok.as_str() {
        "(" => {
            let e = parse_or(t, pos)?;
            if t.get(*pos).map(String::as_str) != Some(")") {
                return Err("a '(' is not closed".into());
            }
            *pos += 1;
            Ok(e)
        }
        "@" => Ok(Expr::Always),
        "!" => Ok(Expr::Never),
        check => {
            let (kind, matcher) = check
                .split_once(':')
                .ok_or_else(|| format!("'{check}' is not kind:match"))?;
            Ok(match kind {
                "role" => Expr::Role(matcher.to_owned()),
                "rule" => Expr::Rule(matcher.to_owned()),
                _ => Expr::Generic(kind.to_owned(), matcher.to_owned()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str], project: &str) -> RequestContext {
        RequestContext {
            user_id: Some("u1".into()),
            project_id: Some(project.into()),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            is_admin: roles.contains(&"admin"),
        }
    }

    #[test]
    fn defaults_are_admin_only() {
        let p = Policy::defaults();
        let t = PolicyTarget::default();
        assert!(p.enforce("os_masakari_api:segments:index", &ctx(&["admin"], "p"), &t));
        assert!(!p.enforce("os_masakari_api:segments:index", &ctx(&["member"], "p"), &t));
        assert!(p.enforce("os_masakari_api:versions:index", &ctx(&[], "p"), &t));
        assert!(!p.enforce("no:such:rule", &ctx(&["admin"], "p"), &t));
    }

    #[test]
    fn overrides_use_the_oslo_language() {
        let p = Policy::from_yaml(
            "os_masakari_api:segments:index: \"role:reader or (role:member and project_id:%(project_id)s)\"\n\
             os_masakari_api:notifications:create: \"rule:admin_api or role:monitor\"\n\
             os_masakari_api:segments:delete: \"!\"\n\
             os_masakari_api:os-hosts:index: \"\"\n\
             os_masakari_api:vmoves:index: \"not role:guest\"\n",
        )
        .unwrap();
        let own = PolicyTarget {
            project_id: Some("p".into()),
        };
        let other = PolicyTarget {
            project_id: Some("q".into()),
        };
        // (rule, roles, project, target, allowed); rules not in the file keep their defaults.
        let cases: &[(&str, &[&str], &str, &PolicyTarget, bool)] = &[
            (
                "os_masakari_api:segments:index",
                &["member"],
                "p",
                &own,
                true,
            ),
            (
                "os_masakari_api:segments:index",
                &["member"],
                "p",
                &other,
                false,
            ),
            (
                "os_masakari_api:segments:index",
                &["READER"],
                "x",
                &other,
                true,
            ),
            (
                "os_masakari_api:notifications:create",
                &["monitor"],
                "x",
                &own,
                true,
            ),
            (
                "os_masakari_api:segments:delete",
                &["admin"],
                "p",
                &own,
                false,
            ),
            ("os_masakari_api:os-hosts:index", &[], "p", &own, true),
            ("os_masakari_api:vmoves:index", &["guest"], "p", &own, false),
            (
                "os_masakari_api:segments:create",
                &["member"],
                "p",
                &own,
                false,
            ),
        ];
        for (rule, roles, project, target, allowed) in cases {
            assert_eq!(
                p.enforce(rule, &ctx(roles, project), target),
                *allowed,
                "{rule} {roles:?} {project}"
            );
        }
    }

    #[test]
    fn errors_name_the_rule() {
        let err = Policy::from_yaml("a: \"role:x and (rule:y\"\n").unwrap_err();
        assert_eq!(err.to_string(), "rule a: a '(' is not closed");
        let err = Policy::from_yaml("b: \"role:x or\"\n").unwrap_err();
        assert!(err.to_string().starts_with("rule b:"), "{err}");
        let err = Policy::from_yaml("b: \"admin\"\n").unwrap_err();
        assert_eq!(err.to_string(), "rule b: 'admin' is not kind:match");
    }

    #[test]
    fn self_reference_is_denied_not_looped() {
        let p = Policy::from_yaml("loop: \"rule:loop\"\n").unwrap();
        assert!(!p.enforce("loop", &ctx(&["admin"], "p"), &PolicyTarget::default()));
    }
}

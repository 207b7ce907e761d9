//! Request-body validation with the messages Masakari's JSON-schema validator produces.
//!
//! Clients and operators match on these texts (for example `Invalid input for field/attribute
//! name. Value: 1. 1 is not of type 'string'`), so the subset of JSON Schema Masakari uses is
//! implemented here with the same keyword order and the same Python-repr rendering of values.

use regex::Regex;
use serde_json::{Map, Value};
use std::sync::{Arc, LazyLock};
use vigil_wire::{FALSE_STRINGS, TRUE_STRINGS};

/// The subset of JSON Schema the Masakari request schemas use.
pub enum Schema {
    Object {
        properties: Vec<(&'static str, Schema)>,
        required: &'static [&'static str],
        /// `patternProperties` with its one pattern and value schema.
        pattern_properties: Option<(&'static str, Box<Schema>)>,
        additional: bool,
        /// At least one of the properties must be present (`anyOf` of `required`).
        any_of_required: bool,
    },
    Str {
        nullable: bool,
        min: usize,
        max: Option<usize>,
        pattern: Option<&'static str>,
        format: Option<Format>,
        one_of: Option<&'static [&'static str]>,
    },
    /// Masakari's `boolean`: a JSON boolean or one of the usual strings.
    BoolLike,
}

#[derive(Clone, Copy)]
pub enum Format {
    /// Printable, no leading or trailing whitespace (Masakari's `name` format).
    Name,
    /// Printable plus newlines (descriptions).
    Description,
    DateTime,
    Uuid,
}

/// One validation failure, rendered as Masakari renders it.
pub struct Invalid(pub String);

/// Validates `value` against `schema`; the error text is the first failure in schema order.
pub fn validate(schema: &Schema, value: &Value) -> Result<(), Invalid> {
    check(schema, value, None)
}

fn fail(path: Option<&str>, value: &Value, message: String) -> Invalid {
    match path {
        Some(p) => Invalid(format!(
            "Invalid input for field/attribute {p}. Value: {}. {message}",
            py_repr(value)
        )),
        None => Invalid(message),
    }
}

fn check(schema: &Schema, value: &Value, path: Option<&str>) -> Result<(), Invalid> {
    match schema {
        Schema::Object {
            properties,
            required,
            pattern_properties,
            additional,
            any_of_required,
        } => {
            let Value::Object(map) = value else {
                return Err(fail(
                    path,
                    value,
                    format!("{} is not of type 'object'", py_repr(value)),
                ));
            };
            for (name, sub) in properties {
                if let Some(v) = map.get(*name) {
                    check(sub, v, Some(name))?;
                }
            }
            if let Some((pattern, sub)) = pattern_properties {
                let re = regex(pattern);
                for (k, v) in map {
                    if re.is_match(k) {
                        check(sub, v, Some(k))?;
                    }
                }
            }
            for name in *required {
                if !map.contains_key(*name) {
                    return Err(fail(
                        path,
                        value,
                        format!("{} is a required property", py_str(name)),
                    ));
                }
            }
            if !additional {
                let extra: Vec<&String> = map
                    .keys()
                    .filter(|k| !properties.iter().any(|(p, _)| p == k))
                    .filter(|k| {
                        !pattern_properties
                            .as_ref()
                            .is_some_and(|(p, _)| regex(p).is_match(k))
                    })
                    .collect();
                if !extra.is_empty() {
                    let listed: Vec<String> = extra.iter().map(|k| py_str(k)).collect();
                    let message = match pattern_properties {
                        Some((p, _)) => format!(
                            "{} {} not match any of the regexes: {}",
                            listed.join(", "),
                            if extra.len() == 1 { "does" } else { "do" },
                            py_str(p)
                        ),
                        None => format!(
                            "Additional properties are not allowed ({} {} unexpected)",
                            listed.join(", "),
                            if extra.len() == 1 { "was" } else { "were" }
                        ),
                    };
                    return Err(fail(path, value, message));
                }
            }
            if *any_of_required && !properties.iter().any(|(p, _)| map.contains_key(*p)) {
                return Err(fail(
                    path,
                    value,
                    format!(
                        "{} is not valid under any of the given schemas",
                        py_repr(value)
                    ),
                ));
            }
            Ok(())
        }
        Schema::Str {
            nullable,
            min,
            max,
            pattern,
            format,
            one_of,
        } => {
            let s = match value {
                Value::String(s) => s,
                Value::Null if *nullable => return Ok(()),
                _ => {
                    let ty = if *nullable {
                        "'string', 'null'"
                    } else {
                        "'string'"
                    };
                    return Err(fail(
                        path,
                        value,
                        format!("{} is not of type {ty}", py_repr(value)),
                    ));
                }
            };
            if let Some(allowed) = one_of {
                if !allowed.contains(&s.as_str()) {
                    let list: Vec<String> = allowed.iter().map(|a| py_str(a)).collect();
                    return Err(fail(
                        path,
                        value,
                        format!("{} is not one of [{}]", py_str(s), list.join(", ")),
                    ));
                }
            }
            let len = s.chars().count();
            if len < *min {
                return Err(fail(path, value, format!("{} is too short", py_str(s))));
            }
            if max.is_some_and(|m| len > m) {
                return Err(fail(path, value, format!("{} is too long", py_str(s))));
            }
            if let Some(p) = pattern {
                if !regex(p).is_match(s) {
                    return Err(fail(
                        path,
                        value,
                        format!("{} does not match {}", py_str(s), py_str(p)),
                    ));
                }
            }
            match format {
                Some(Format::Name) if !valid_name(s) => Err(Invalid(
                    "An invalid 'name' value was provided. The name must be: printable \
                     characters. Can not start or end with whitespace."
                        .into(),
                )),
                Some(Format::Description) if !s.chars().all(|c| c == '\n' || printable(c)) => {
                    Err(Invalid(
                        "An invalid 'description' value was provided. The description must be: \
                         printable characters with newlines."
                            .into(),
                    ))
                }
                Some(Format::DateTime) if vigil_wire::time::parse_isotime(s).is_none() => Err(
                    fail(path, value, format!("{} is not a 'date-time'", py_str(s))),
                ),
                Some(Format::Uuid) if uuid::Uuid::parse_str(s).is_err() => {
                    Err(fail(path, value, format!("{} is not a 'uuid'", py_str(s))))
                }
                _ => Ok(()),
            }
        }
        Schema::BoolLike => match value {
            Value::Bool(_) => Ok(()),
            Value::String(s) if TRUE_STRINGS.contains(&s.as_str()) => Ok(()),
            Value::String(s) if FALSE_STRINGS.contains(&s.as_str()) => Ok(()),
            Value::String(_) => {
                // Masakari's enum lists Python's True before the true strings, False before
                // the false ones.
                let mut list = vec!["True".to_owned()];
                list.extend(TRUE_STRINGS.iter().map(|s| py_str(s)));
                list.push("False".to_owned());
                list.extend(FALSE_STRINGS.iter().map(|s| py_str(s)));
                Err(fail(
                    path,
                    value,
                    format!("{} is not one of [{}]", py_repr(value), list.join(", ")),
                ))
            }
            _ => Err(fail(
                path,
                value,
                format!("{} is not of type 'boolean', 'string'", py_repr(value)),
            )),
        },
    }
}

/// The compiled `pattern`, shared: cloning a `Regex` itself would give each request a fresh
/// match cache to build, which cost more than the match.
fn regex(pattern: &'static str) -> Arc<Regex> {
    type Cache = std::sync::Mutex<std::collections::HashMap<&'static str, Arc<Regex>>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().expect("not poisoned");
    cache
        .entry(pattern)
        .or_insert_with(|| Arc::new(Regex::new(pattern).expect("schema patterns are valid")))
        .clone()
}

fn printable(c: char) -> bool {
    !c.is_control()
}

// The `name` and `description` formats as JSON Schema patterns, for the OpenAPI document: a
// client that does not know Masakari's formats (schemathesis) can then generate values on
// either side of them. Written out by code point so that ECMA, Python and Rust regexes read
// them alike: Cc (`char::is_control`) and White_Space (`char::is_whitespace`).
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
const SPACE: &str =
    "\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// [`Format::Name`] as a pattern: printable, neither first nor last character whitespace.
pub fn name_pattern() -> String {
    format!("^[^{CONTROL}{SPACE}](?:[^{CONTROL}]*[^{CONTROL}{SPACE}])?$")
}

/// [`Format::Description`] as a pattern: printable or a newline.
pub fn description_pattern() -> String {
    "^[^\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f]*$".to_owned()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(printable)
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
}

/// Python's `repr` of the value as `json.loads` would have produced it.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    f.to_string()
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => py_str(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => py_dict(map),
    }
}

fn py_dict(map: &Map<String, Value>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}: {}", py_str(k), py_repr(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Python's `repr` of a string: single quotes unless the text has one and no double quote.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_repr_matches() {
        assert_eq!(py_repr(&json!(null)), "None");
        assert_eq!(py_repr(&json!([1, 2])), "[1, 2]");
        assert_eq!(
            py_repr(&json!({"a": true, "b": "x'y"})),
            "{'a': True, 'b': \"x'y\"}"
        );
        assert_eq!(py_repr(&json!(1.0)), "1.0");
        assert_eq!(py_repr(&json!("a\nb")), "'a\\nb'");
    }

    fn name_schema() -> Schema {
        Schema::Object {
            properties: vec![(
                "name",
                Schema::Str {
                    nullable: false,
                    min: 1,
                    max: Some(255),
                    pattern: None,
                    format: Some(Format::Name),
                    one_of: None,
                },
            )],
            required: &["name"],
            pattern_properties: None,
            additional: false,
            any_of_required: false,
        }
    }

    #[test]
    fn messages_follow_jsonschema() {
        let s = name_schema();
        let msg = |v: Value| validate(&s, &v).err().map(|e| e.0);
        assert_eq!(msg(json!({"name": "ok"})), None);
        assert_eq!(
            msg(json!({"name": 1})).unwrap(),
            "Invalid input for field/attribute name. Value: 1. 1 is not of type 'string'"
        );
        assert_eq!(msg(json!({})).unwrap(), "'name' is a required property");
        assert_eq!(
            msg(json!({"name": "a", "x": 1})).unwrap(),
            "Additional properties are not allowed ('x' was unexpected)"
        );
        assert!(msg(json!({"name": " a"}))
            .unwrap()
            .starts_with("An invalid 'name'"));
        assert_eq!(
            msg(json!([1, 2])).unwrap(),
            "[1, 2] is not of type 'object'"
        );
    }

    /// The patterns the OpenAPI document publishes accept what the formats accept, and
    /// nothing else, around every code point of the first planes' interesting ranges.
    #[test]
    fn format_patterns_agree_with_the_formats() {
        let name = Regex::new(&name_pattern()).unwrap();
        let description = Regex::new(&description_pattern()).unwrap();
        let described = |s: &str| s.chars().all(|c| c == '\n' || printable(c));
        let chars = (0u32..0x3100)
            .chain(0xfff0..0x10000)
            .chain([0x1_f600, 0x10_ffff]);
        for c in chars.filter_map(char::from_u32) {
            for s in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}b"),
                format!("{c}{c}"),
            ] {
                assert_eq!(name.is_match(&s), valid_name(&s), "name {s:?}");
                assert_eq!(description.is_match(&s), described(&s), "description {s:?}");
            }
        }
        assert!(!name.is_match(""));
        assert!(description.is_match(""));
    }
}

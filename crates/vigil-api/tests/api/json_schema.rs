//! A JSON Schema checker for exactly the keywords the OpenAPI document uses. A keyword it does
//! not know fails the check, so the document cannot grow a constraint these tests ignore.
//! (The general validators on crates.io pull in a few dozen crates for what this needs.)

use regex::Regex;
use serde_json::Value;

/// Every way `value` fails `schema`, each with its JSON path.
pub fn errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "$", &mut out);
    out
}

fn push(out: &mut Vec<String>, at: &str, why: String) {
    out.push(format!("{at}: {why}"));
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn check(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        panic!("a schema must be an object: {schema}");
    };
    for (keyword, arg) in s {
        match keyword.as_str() {
            "type" => {
                let ok = match arg {
                    Value::String(t) => type_matches(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
                    _ => panic!("bad type {arg}"),
                };
                if !ok {
                    push(out, at, format!("{v} is not of type {arg}"));
                }
            }
            "enum" => {
                if !arg.as_array().unwrap().contains(v) {
                    push(out, at, format!("{v} not in {arg}"));
                }
            }
            "const" => {
                if arg != v {
                    push(out, at, format!("{v} is not {arg}"));
                }
            }
            "pattern" => {
                if let Some(text) = v.as_str() {
                    if !Regex::new(arg.as_str().unwrap()).unwrap().is_match(text) {
                        push(out, at, format!("{text:?} does not match {arg}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(text) = v.as_str() {
                    let (n, bound) = (text.chars().count() as u64, arg.as_u64().unwrap());
                    let bad = if keyword == "minLength" {
                        n < bound
                    } else {
                        n > bound
                    };
                    if bad {
                        push(out, at, format!("length {n} breaks {keyword} {bound}"));
                    }
                }
            }
            "minProperties" | "maxProperties" => {
                if let Some(map) = v.as_object() {
                    let (n, bound) = (map.len() as u64, arg.as_u64().unwrap());
                    let bad = if keyword == "minProperties" {
                        n < bound
                    } else {
                        n > bound
                    };
                    if bad {
                        push(out, at, format!("{n} properties break {keyword} {bound}"));
                    }
                }
            }
            "required" => {
                if let Some(map) = v.as_object() {
                    for name in arg.as_array().unwrap() {
                        if !map.contains_key(name.as_str().unwrap()) {
                            push(out, at, format!("{name} is missing"));
                        }
                    }
                }
            }
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    check(arg, item, &format!("{at}[{i}]"), out);
                }
            }
            "anyOf" | "oneOf" => {
                let passing = arg
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| errors(sub, v).is_empty())
                    .count();
                let ok = if keyword == "anyOf" {
                    passing >= 1
                } else {
                    passing == 1
                };
                if !ok {
                    push(out, at, format!("{passing} of the {keyword} schemas pass"));
                }
            }
            "properties" | "patternProperties" | "additionalProperties" => {}
            // Annotations only, as JSON Schema 2020-12 has them.
            "format" | "description" | "examples" => {}
            other => panic!("the checker does not know the keyword {other}"),
        }
    }
    if let Some(map) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        let patterns: Vec<(Regex, &Value)> = s
            .get("patternProperties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(p, sub)| (Regex::new(p).unwrap(), sub))
            .collect();
        for (k, item) in map {
            let path = format!("{at}.{k}");
            let mut known = false;
            if let Some(sub) = props.and_then(|p| p.get(k)) {
                check(sub, item, &path, out);
                known = true;
            }
            for (re, sub) in &patterns {
                if re.is_match(k) {
                    check(sub, item, &path, out);
                    known = true;
                }
            }
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) if !known => out.push(format!("{path}: not allowed")),
                Some(extra @ Value::Object(_)) if !known => check(extra, item, &path, out),
                _ => {}
            }
        }
    }
}

#[test]
fn the_checker_refuses_what_it_should() {
    let schema = serde_json::json!({"type": "object", "required": ["a"],
        "properties": {"a": {"type": ["string", "null"], "maxLength": 2}},
        "additionalProperties": false});
    assert!(errors(&schema, &serde_json::json!({"a": null})).is_empty());
    assert_eq!(errors(&schema, &serde_json::json!({"a": "abc"})).len(), 1);
    assert_eq!(errors(&schema, &serde_json::json!({"b": 1})).len(), 2);
    assert_eq!(errors(&schema, &serde_json::json!([])).len(), 1);
}

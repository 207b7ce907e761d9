//! Property tests of the parsers at the API's edge: the microversion header, query strings,
//! request-body validation, and path templates. No input makes them panic, every refusal is
//! a 4xx, and bodies generated from Masakari's schemas are accepted and read. The router as a
//! whole is tested the same way in `tests/api/hostile.rs`; `fuzz/` runs the same entry points
//! (`crate::fuzzing`) for longer.

use crate::fuzzing;
use crate::microversion::{MAX, MIN};
use crate::resources::schemas;
use crate::schema::{validate, Format, Schema};
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use vigil_wire::{FALSE_STRINGS, TRUE_STRINGS};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with keys that are sometimes the schemas' own.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("segment".to_owned()),
        Just("host".to_owned()),
        Just("notification".to_owned()),
        Just("name".to_owned()),
        Just("type".to_owned()),
        Just("payload".to_owned()),
        Just("enabled".to_owned()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Text that passes `format` and the length bounds.
fn text(
    min: usize,
    max: Option<usize>,
    pattern: Option<&str>,
    format: Option<Format>,
) -> BoxedStrategy<String> {
    let max = max.unwrap_or(40).min(40).max(min);
    match (pattern, format) {
        (Some(p), _) => {
            // The schemas' patterns are one character class repeated: generate from it.
            let class = p.trim_start_matches('^').trim_end_matches('$');
            let class = class
                .split_once(']')
                .map(|(c, _)| format!("{c}]"))
                .unwrap_or_default();
            proptest::string::string_regex(&format!("{class}{{{min},{max}}}"))
                .expect("a valid class")
                .boxed()
        }
        (None, Some(Format::Name)) => "[A-Za-z0-9][A-Za-z0-9 _.-]{0,20}[A-Za-z0-9]"
            .prop_filter("length", move |s| s.chars().count() <= max)
            .boxed(),
        (None, Some(Format::Description)) => "[ -~\n]{0,40}".boxed(),
        (None, Some(Format::DateTime)) => (2000u32..2100, 1u32..13, 1u32..29, 0u32..24, 0u32..60)
            .prop_map(|(y, mo, d, h, mi)| format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:00.000000"))
            .boxed(),
        (None, Some(Format::Uuid)) => any::<u128>()
            .prop_map(|n| uuid::Uuid::from_u128(n).to_string())
            .boxed(),
        (None, None) => proptest::string::string_regex(&format!("[a-zA-Z0-9 ]{{{min},{max}}}"))
            .expect("valid")
            .boxed(),
    }
}

/// Values `schema` accepts.
fn valid(schema: &'static Schema) -> BoxedStrategy<Value> {
    match schema {
        Schema::Object {
            properties,
            required,
            any_of_required,
            ..
        } => {
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
                .iter()
                .map(|(name, sub)| {
                    let value = valid(sub).prop_map(move |v| ((*name).to_owned(), v));
                    if required.contains(name) {
                        value.prop_map(Some).boxed()
                    } else {
                        proptest::option::of(value).boxed()
                    }
                })
                .collect();
            // An update needs one field at least: the few empty ones are filtered out.
            let _ = any_of_required;
            fields
                .prop_map(|kv| Value::Object(kv.into_iter().flatten().collect()))
                .prop_filter("valid", move |v| validate(schema, v).is_ok())
                .boxed()
        }
        Schema::Str {
            nullable,
            min,
            max,
            pattern,
            format,
            one_of,
        } => {
            let s = match one_of {
                Some(values) => proptest::sample::select(values.to_vec())
                    .prop_map(str::to_owned)
                    .boxed(),
                None => text(*min, *max, *pattern, *format),
            };
            let s = s.prop_map(Value::String);
            if *nullable {
                prop_oneof![Just(Value::Null), s].boxed()
            } else {
                s.boxed()
            }
        }
        Schema::BoolLike => {
            let strings: Vec<&str> = TRUE_STRINGS.iter().chain(&FALSE_STRINGS).copied().collect();
            prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                proptest::sample::select(strings).prop_map(|s| json!(s)),
            ]
            .boxed()
        }
    }
}

/// Every request schema (and the payloads of each notification type).
static SCHEMAS: std::sync::LazyLock<Vec<Schema>> = std::sync::LazyLock::new(request_schemas);

fn request_schemas() -> Vec<Schema> {
    use vigil_domain::NotificationType as T;
    let mut all = vec![
        schemas::host(true),
        schemas::host(false),
        schemas::notification(),
    ];
    all.extend([T::ComputeHost, T::Vm, T::Process].map(schemas::payload));
    for minor in 0..=3 {
        let v = crate::microversion::Version(1, minor);
        all.push(schemas::segment(true, v));
        all.push(schemas::segment(false, v));
    }
    all
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn microversions_in_range_are_accepted_the_rest_406(major in 0u32..4, minor in 0u32..12) {
        let value = format!("instance-ha {major}.{minor}");
        let got = fuzzing::microversion(&[value.as_bytes()]);
        let v = crate::microversion::Version(major, minor);
        if major == 0 {
            // Masakari's format needs a major version of 1 or more: malformed.
            prop_assert_eq!(got.unwrap_err().0, 400);
        } else if (MIN..=MAX).contains(&v) {
            prop_assert_eq!(got.unwrap(), (major, minor));
        } else {
            prop_assert_eq!(got.unwrap_err().0, 406);
        }
    }

    #[test]
    fn any_microversion_header_is_a_version_or_a_400_or_406(
        values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 0..3),
        prefix in prop_oneof![Just("instance-ha ".to_owned()), Just("".to_owned())],
    ) {
        let with_prefix: Vec<Vec<u8>> = values
            .iter()
            .map(|v| [prefix.as_bytes(), v].concat())
            .collect();
        let refs: Vec<&[u8]> = with_prefix.iter().map(Vec::as_slice).collect();
        match fuzzing::microversion(&refs) {
            Ok((1, minor)) => prop_assert!(minor <= 3),
            Ok(other) => prop_assert!(false, "accepted {other:?}"),
            Err((status, message)) => {
                prop_assert!(status == 400 || status == 406, "{status}");
                prop_assert!(!message.is_empty());
            }
        }
    }

    #[test]
    fn query_strings_never_panic_and_refuse_with_400(
        pairs in prop::collection::vec(
            (prop_oneof![Just("limit"), Just("marker"), Just("sort_key"), Just("sort_dir"),
                Just("enabled"), Just("reserved"), Just("x")], ".{0,10}"),
            0..6),
        raw in ".{0,40}",
    ) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        for query in [q.finish(), raw] {
            if let Err((status, message)) = fuzzing::query(&query) {
                prop_assert_eq!(status, 400, "{}", message);
            }
        }
    }

    #[test]
    fn any_body_validates_without_panicking(value in any_json()) {
        // A value the schema accepts but its type cannot read would be a 500.
        let bytes = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(fuzzing::body(&bytes), Ok(()));
    }

    #[test]
    fn bodies_generated_from_the_schemas_are_accepted_and_read(
        (i, value) in (0..SCHEMAS.len()).prop_flat_map(|i| (Just(i), valid(&SCHEMAS[i])))
    ) {
        let schema = &SCHEMAS[i];
        prop_assert!(validate(schema, &value).is_ok(), "{value}");
        let bytes = serde_json::to_vec(&value).unwrap();
        prop_assert_eq!(fuzzing::body(&bytes), Ok(()));
    }

    #[test]
    fn templates_never_panic_and_are_bounded(path in "(/[a-z0-9.%-]{0,12}){0,6}/?") {
        let t = fuzzing::template(&path);
        prop_assert!(t == "other" || t.starts_with('/'), "{t}");
    }
}

/// Request bodies read back into JSON and validated again are still accepted (the round trip
/// of a valid body through its wire type).
#[test]
fn valid_bodies_round_trip_through_their_types() {
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::new(config());
    let schema: &'static Schema = Box::leak(Box::new(schemas::host(true)));
    runner
        .run(&valid(schema), |value| {
            let Ok(vigil_wire::Item(h)) =
                serde_json::from_value::<vigil_wire::Item<vigil_wire::CreateHost>>(value.clone())
            else {
                return Err(TestCaseError::fail(format!("unreadable {value}")));
            };
            let again = serde_json::to_value(vigil_wire::Item(h)).unwrap();
            prop_assert!(validate(schema, &again).is_ok(), "{again}");
            Ok(())
        })
        .unwrap();
}

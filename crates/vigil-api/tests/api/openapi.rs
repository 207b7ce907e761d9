//! The OpenAPI document at `/v1/openapi.json` is true: it describes every route the dispatcher
//! serves and no other, and the answers of a walk through every resource have a described
//! status and match its schema.

use crate::support::{host_down, uuid, Api, Reply};
use serde_json::{json, Value};
use vigil_store::testing;

async fn document(api: &Api) -> Value {
    let r = api.get("/v1/openapi.json").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/json");
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

/// The described template a concrete path (below the server) matches, if any.
fn template_of<'d>(doc: &'d Value, path: &str) -> Option<&'d str> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object().unwrap().keys().find_map(|t| {
        let tp: Vec<&str> = t.split('/').collect();
        let same = tp.len() == parts.len()
            && tp
                .iter()
                .zip(&parts)
                .all(|(a, b)| a.starts_with('{') || a == b);
        same.then_some(t.as_str())
    })
}

fn is_plain_404(r: &Reply) -> bool {
    r.status == 404 && r.text.starts_with("404 Not Found")
}

#[tokio::test]
async fn every_served_route_is_described_and_only_those() {
    let t = testing::sqlite().await;
    let api = Api::new(&t);
    let doc = document(&api).await;
    // Every path of up to four segments over the routes' vocabulary, with an id that names
    // nothing, so no request changes anything.
    let id = "5f4e0a3c-9d1b-4c5e-8f2a-1b2c3d4e5f60";
    let words = [
        "segments",
        "hosts",
        "notifications",
        "vmoves",
        "extensions",
        "action",
        "openapi.json",
        id,
    ];
    let mut paths: Vec<Vec<&str>> = vec![vec![]];
    for depth in 1..=4 {
        let longer: Vec<Vec<&str>> = paths
            .iter()
            .filter(|p: &&Vec<&str>| p.len() == depth - 1)
            .flat_map(|p| words.iter().map(move |w| [p.clone(), vec![*w]].concat()))
            .collect();
        paths.extend(longer);
    }
    let mut served = 0;
    for words in &paths {
        let path = format!("/v1/{}", words.join("/"));
        let path = path.trim_end_matches('/');
        // The id is also a project id: the paths under it are the same routes.
        let unprefixed = match words.as_slice() {
            [first, rest @ ..] if *first == id && !rest.is_empty() && rest[0] != "openapi.json" => {
                format!("/v1/{}", rest.join("/"))
            }
            _ => path.to_owned(),
        };
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            // The version document answers every method; only GET is described.
            if words.is_empty() && method != "GET" {
                continue;
            }
            let r = api.call(method, path, None, &[]).await;
            let described = template_of(&doc, &unprefixed)
                .and_then(|t| doc["paths"][t].get(method.to_ascii_lowercase()));
            match described {
                Some(op) => {
                    assert!(
                        !is_plain_404(&r),
                        "{method} {path} is described, not served"
                    );
                    let status = r.status.as_u16().to_string();
                    assert!(
                        op["responses"].get(&status).is_some(),
                        "{method} {path}: {status} is not described: {}",
                        r.text
                    );
                    served += 1;
                }
                None => assert!(is_plain_404(&r), "{method} {path} is served, not described"),
            }
        }
    }
    assert!(served > 20, "only {served} routes served");
}

/// Checks an answer against the document: its status is described for the operation, and its
/// body matches the schema given for that status.
fn conforms(doc: &Value, method: &str, path: &str, r: &Reply) {
    let t = template_of(doc, path).unwrap_or_else(|| panic!("{path} is not described"));
    let op = &doc["paths"][t][method.to_ascii_lowercase()];
    let status = r.status.as_u16().to_string();
    let described = op["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{method} {path}: {status} is not described: {}", r.text));
    match described["content"]["application/json"].get("schema") {
        None => assert!(r.text.is_empty(), "{method} {path}: {}", r.text),
        Some(schema) => {
            let errors = crate::json_schema::errors(schema, &r.json());
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: {errors:?}\n{}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn answers_match_their_descriptions() {
    let t = testing::sqlite().await;
    let api = Api::new(&t);
    let doc = document(&api).await;
    let v13 = [("OpenStack-API-Version", "instance-ha 1.3")];
    let check = |method: &'static str,
                 path: String,
                 body: Option<Value>,
                 headers: Vec<(&'static str, &'static str)>| {
        let api = &api;
        let doc = &doc;
        async move {
            let text = body.map(|b| b.to_string());
            let r = api.call(method, &path, text.as_deref(), &headers).await;
            conforms(doc, method, &path, &r);
            r
        }
    };
    check("GET", "/".into(), None, vec![]).await;
    check("GET", "/v1".into(), None, vec![]).await;
    let seg = json!({"segment": {"name": "s1", "recovery_method": "auto", "service_type": "COMPUTE",
        "description": "rack A", "enabled": true}});
    let r = check(
        "POST",
        "/v1/segments".into(),
        Some(seg.clone()),
        v13.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201);
    let sid = uuid(&r.json()["segment"]);
    assert_eq!(
        check("POST", "/v1/segments".into(), Some(seg), v13.to_vec())
            .await
            .status,
        409
    );
    let bad = json!({"segment": {"name": 1}});
    assert_eq!(
        check("POST", "/v1/segments".into(), Some(bad), vec![])
            .await
            .status,
        400
    );
    check(
        "GET",
        "/v1/segments?limit=1&sort_key=name&sort_dir=asc".into(),
        None,
        vec![],
    )
    .await;
    check("GET", "/v1/segments?limit=x".into(), None, vec![]).await;
    check("GET", format!("/v1/segments/{sid}"), None, vec![]).await;
    check("GET", "/v1/segments/nope".into(), None, vec![]).await;
    let upd = json!({"segment": {"description": null}});
    check("PUT", format!("/v1/segments/{sid}"), Some(upd), vec![]).await;
    check("POST", format!("/v1/segments/{sid}/action"), None, vec![]).await;
    let host = json!({"host": {"name": "c1", "type": "COMPUTE", "control_attributes": "SSH"}});
    let r = check(
        "POST",
        format!("/v1/segments/{sid}/hosts"),
        Some(host),
        vec![],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hid = uuid(&r.json()["host"]);
    check(
        "GET",
        format!("/v1/segments/{sid}/hosts?limit=1"),
        None,
        vec![],
    )
    .await;
    check(
        "GET",
        format!("/v1/segments/{sid}/hosts/{hid}"),
        None,
        vec![],
    )
    .await;
    let upd = json!({"host": {"reserved": "yes", "type": null}});
    check(
        "PUT",
        format!("/v1/segments/{sid}/hosts/{hid}"),
        Some(upd),
        vec![],
    )
    .await;
    let r = check(
        "POST",
        "/v1/notifications".into(),
        Some(host_down("c1")),
        vec![],
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let nid = r.json()["notification"]["notification_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        check(
            "POST",
            "/v1/notifications".into(),
            Some(host_down("c1")),
            vec![]
        )
        .await
        .status,
        409
    );
    check(
        "GET",
        "/v1/notifications?generated-since=2000-01-01T00:00:00".into(),
        None,
        vec![],
    )
    .await;
    check("GET", format!("/v1/notifications/{nid}"), None, vec![]).await;
    check(
        "GET",
        format!("/v1/notifications/{nid}"),
        None,
        v13.to_vec(),
    )
    .await;
    check("PUT", format!("/v1/notifications/{nid}"), None, vec![]).await;
    check("DELETE", format!("/v1/notifications/{nid}"), None, vec![]).await;
    check(
        "GET",
        format!("/v1/notifications/{nid}/vmoves"),
        None,
        v13.to_vec(),
    )
    .await;
    check(
        "GET",
        format!("/v1/notifications/{nid}/vmoves/{hid}"),
        None,
        v13.to_vec(),
    )
    .await;
    check(
        "DELETE",
        format!("/v1/notifications/{nid}/vmoves/{hid}"),
        None,
        vec![],
    )
    .await;
    // The host's notification is being handled: its segment and host are in use.
    assert_eq!(
        check(
            "DELETE",
            format!("/v1/segments/{sid}/hosts/{hid}"),
            None,
            vec![]
        )
        .await
        .status,
        409
    );
    assert_eq!(
        check("DELETE", format!("/v1/segments/{sid}"), None, vec![])
            .await
            .status,
        409
    );
    check("GET", "/v1/extensions".into(), None, vec![]).await;
    check("GET", "/v1/extensions/vmoves".into(), None, vec![]).await;
    check("GET", "/v1/extensions/nope".into(), None, vec![]).await;
    check(
        "GET",
        "/v1/segments".into(),
        None,
        vec![("OpenStack-API-Version", "instance-ha 2.0")],
    )
    .await;
    check(
        "GET",
        "/v1/segments".into(),
        None,
        vec![("OpenStack-API-Version", "instance-ha x")],
    )
    .await;
    let xml = vec![("content-type", "application/xml")];
    let r = check("POST", "/v1/segments".into(), None, xml).await;
    assert_eq!(r.status, 415);
    let s2 = json!({"segment": {"name": "s2", "recovery_method": "auto", "service_type": "C"}});
    let r = check("POST", "/v1/segments".into(), Some(s2), vec![]).await;
    let s2 = uuid(&r.json()["segment"]);
    assert_eq!(
        check("DELETE", format!("/v1/segments/{s2}"), None, vec![])
            .await
            .status,
        204
    );
}

/// The names in a path template's braces, in order.
fn template_names(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Every operation describes the parameters of its path, so a client can fill the path in.
/// The operations Masakari routes only to answer 405 described none, and schemathesis could
/// not call them.
#[tokio::test]
async fn every_operation_describes_its_path_parameters() {
    let t = testing::sqlite().await;
    let doc = document(&Api::new(&t)).await;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let described: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                described,
                template_names(template),
                "{method} {template}: path parameters"
            );
        }
    }
}

/// The version header's schema takes any string: the server serves a header that names only
/// other services at 1.0, and answers a malformed or unknown instance-ha version itself (400,
/// 406). The document listed five values, and schemathesis rightly called the 200 for a
/// header `AAA` a schema-violating request accepted.
#[tokio::test]
async fn the_version_header_takes_any_string() {
    let t = testing::sqlite().await;
    let api = Api::new(&t);
    let doc = document(&api).await;
    let schema = &doc["components"]["parameters"]["microversion"]["schema"];
    for (value, status) in [
        ("compute 2.1", 200),
        ("instance-ha 1.3", 200),
        ("", 200),
        ("instance-ha 1.01", 400),
        ("instance-ha 7.0", 406),
    ] {
        let errors = crate::json_schema::errors(schema, &json!(value));
        assert!(errors.is_empty(), "{value:?}: {errors:?}");
        let r = api
            .call(
                "GET",
                "/v1/segments",
                None,
                &[("OpenStack-API-Version", value)],
            )
            .await;
        assert_eq!(r.status, status, "{value:?}: {}", r.text);
    }
}

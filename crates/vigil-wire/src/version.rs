//! Version discovery: the versions list at `/`, the v1 document at `/v1/`, and the 300
//! "choices" body for any other version's path.

use crate::envelope::{keys, Item, Link, List, Listed};
use serde::{Deserialize, Serialize};

/// Masakari's `updated` stamp of v1.
const UPDATED: &str = "2016-07-01T11:33:21Z";

/// One API version. In the versions list it has no `media-types`; the version document has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    pub id: String,
    pub status: String,
    /// The highest microversion served.
    pub version: String,
    pub min_version: String,
    pub updated: String,
    pub links: Vec<Link>,
    #[serde(
        rename = "media-types",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub media_types: Option<Vec<MediaType>>,
}

keys!(VersionEntry, "version", "versions");

/// A media type the version is served in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaType {
    pub base: String,
    #[serde(rename = "type")]
    pub media_type: String,
}

/// A version offered when the path asked for none Vigil serves (HTTP 300).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub status: String,
    pub links: Vec<Link>,
    #[serde(rename = "media-types")]
    pub media_types: Vec<MediaType>,
}

impl Listed for Choice {
    const KEY: &'static str = "choices";
    const LINKS_KEY: &'static str = "choices_links";
}

fn v1(base: &str, min_version: String, max_version: String) -> VersionEntry {
    VersionEntry {
        id: "v1.0".into(),
        status: "CURRENT".into(),
        version: max_version,
        min_version,
        updated: UPDATED.into(),
        links: vec![Link::new("self", format!("{base}/v1/"))],
        media_types: None,
    }
}

fn media_types() -> Vec<MediaType> {
    vec![MediaType {
        base: "application/json".into(),
        media_type: "application/vnd.openstack.masakari+json;version=1".into(),
    }]
}

/// The body of `GET /`: links start at `base` (scheme and host, no trailing slash).
pub fn versions(base: &str, min_version: String, max_version: String) -> List<VersionEntry> {
    List {
        items: vec![v1(base, min_version, max_version)],
        links: None,
    }
}

/// The body of `GET /v1/`.
pub fn version_document(
    base: &str,
    min_version: String,
    max_version: String,
) -> Item<VersionEntry> {
    let mut v = v1(base, min_version, max_version);
    v.links.push(Link {
        rel: "describedby".into(),
        media_type: Some("text/html".into()),
        href: "https://docs.openstack.org/".into(),
    });
    v.media_types = Some(media_types());
    Item(v)
}

/// The 300 body for `path`, a path outside `/v1`.
pub fn choices(base: &str, path: &str) -> List<Choice> {
    List {
        items: vec![Choice {
            id: "v1.0".into(),
            status: "CURRENT".into(),
            links: vec![Link::new("self", format!("{base}/v1{path}"))],
            media_types: media_types(),
        }],
        links: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(body: &T, expected: &str)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let text = serde_json::to_string(body).unwrap();
        assert_eq!(text, expected);
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), body);
    }

    #[test]
    fn discovery_documents_are_masakaris() {
        let (min, max) = ("1.0".to_owned(), "1.3".to_owned());
        round_trip(
            &versions("http://h", min.clone(), max.clone()),
            r#"{"versions":[{"id":"v1.0","status":"CURRENT","version":"1.3","min_version":"1.0","updated":"2016-07-01T11:33:21Z","links":[{"rel":"self","href":"http://h/v1/"}]}]}"#,
        );
        round_trip(
            &version_document("http://h", min, max),
            r#"{"version":{"id":"v1.0","status":"CURRENT","version":"1.3","min_version":"1.0","updated":"2016-07-01T11:33:21Z","links":[{"rel":"self","href":"http://h/v1/"},{"rel":"describedby","type":"text/html","href":"https://docs.openstack.org/"}],"media-types":[{"base":"application/json","type":"application/vnd.openstack.masakari+json;version=1"}]}}"#,
        );
        round_trip(
            &choices("http://h", "/segments"),
            r#"{"choices":[{"id":"v1.0","status":"CURRENT","links":[{"rel":"self","href":"http://h/v1/segments"}],"media-types":[{"base":"application/json","type":"application/vnd.openstack.masakari+json;version=1"}]}]}"#,
        );
    }
}

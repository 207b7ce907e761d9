//! The wrappers around every resource: `{"segment": {…}}` for one, `{"segments": […]}` (with
//! `segments_links` when there is a next page) for a list, and the links inside them.

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A body shown alone under a key of its own (`"segment"`, `"host"`, …).
pub trait Keyed {
    const KEY: &'static str;
}

/// A body shown in lists under a plural key, with its paging links under another.
pub trait Listed {
    const KEY: &'static str;
    const LINKS_KEY: &'static str;
}

/// One resource in its wrapper: `{"segment": {…}}`. Requests come in the same shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Item<T>(pub T);

/// A list in its wrapper: `{"segments": […]}`, plus `"segments_links"` when `links` is set.
#[derive(Clone, Debug, PartialEq)]
pub struct List<T> {
    pub items: Vec<T>,
    pub links: Option<Vec<Link>>,
}

impl<T> Default for List<T> {
    /// An empty list without links.
    fn default() -> Self {
        Self {
            items: Vec::new(),
            links: None,
        }
    }
}

/// A link: `{"rel": "next", "href": "…"}`; the version document adds a `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub rel: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub href: String,
}

impl Link {
    pub fn new(rel: &str, href: String) -> Self {
        Self {
            rel: rel.to_owned(),
            media_type: None,
            href,
        }
    }
}

impl<T: Keyed + Serialize> Serialize for Item<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(T::KEY, &self.0)?;
        map.end()
    }
}

impl<T: Listed + Serialize> Serialize for List<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1 + usize::from(self.links.is_some())))?;
        map.serialize_entry(T::KEY, &self.items)?;
        if let Some(links) = &self.links {
            map.serialize_entry(T::LINKS_KEY, links)?;
        }
        map.end()
    }
}

impl<'de, T: Keyed + DeserializeOwned> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Wrapped::<T, Item<T>>(PhantomData))
    }
}

impl<'de, T: Listed + DeserializeOwned> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Wrapped::<T, List<T>>(PhantomData))
    }
}

/// Reads a wrapper: its own keys, other keys skipped (a client stays readable when a newer
/// server adds some).
struct Wrapped<T, W>(PhantomData<(T, W)>);

impl<'de, T: Keyed + DeserializeOwned> Visitor<'de> for Wrapped<T, Item<T>> {
    type Value = Item<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the key '{}'", T::KEY)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == T::KEY {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        found
            .map(Item)
            .ok_or_else(|| de::Error::missing_field(T::KEY))
    }
}

impl<'de, T: Listed + DeserializeOwned> Visitor<'de> for Wrapped<T, List<T>> {
    type Value = List<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with the key '{}'", T::KEY)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<List<T>, A::Error> {
        let (mut items, mut links) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            if key == T::KEY {
                items = Some(map.next_value()?);
            } else if key == T::LINKS_KEY {
                links = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        let items = items.ok_or_else(|| de::Error::missing_field(T::KEY))?;
        Ok(List { items, links })
    }
}

/// `impl Keyed` (and, with the plural, `impl Listed`) for a body.
macro_rules! keys {
    ($body:ty, $one:literal) => {
        impl $crate::Keyed for $body {
            const KEY: &'static str = $one;
        }
    };
    ($body:ty, $one:literal, $many:literal) => {
        impl $crate::Keyed for $body {
            const KEY: &'static str = $one;
        }
        impl $crate::Listed for $body {
            const KEY: &'static str = $many;
            const LINKS_KEY: &'static str = concat!($many, "_links");
        }
    };
}
pub(crate) use keys;

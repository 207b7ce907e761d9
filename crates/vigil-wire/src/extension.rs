//! The extensions list: Masakari's six API extensions, shown for clients that still ask.

use crate::envelope::keys;
use serde::{Deserialize, Serialize};

/// One extension as `GET /v1/extensions/{alias}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub alias: String,
    pub description: String,
    pub namespace: String,
    pub updated: String,
    pub links: Vec<crate::Link>,
}

keys!(Extension, "extension", "extensions");

/// (alias, name, description) of every extension Masakari lists, in its order.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("extensions", "Extensions", "Extension information."),
    ("notifications", "Notifications", "Notification support."),
    ("os-hosts", "Hosts", "Host management support."),
    ("segments", "Segments", "Segments support."),
    ("versions", "Versions", "API Version information."),
    ("vmoves", "VMoves", "VM moves support."),
];

/// Every extension Masakari lists, in its order.
pub fn extensions() -> Vec<Extension> {
    EXTENSIONS
        .iter()
        .map(|(alias, name, description)| Extension {
            name: (*name).into(),
            alias: (*alias).into(),
            description: (*description).into(),
            namespace: String::new(),
            updated: String::new(),
            links: vec![],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Item, List};

    #[test]
    fn extensions_show_like_masakaris() {
        let all = List {
            items: extensions(),
            links: None,
        };
        let text = serde_json::to_string(&all).unwrap();
        assert!(text.starts_with(r#"{"extensions":[{"name":"Extensions","alias":"extensions","description":"Extension information.","namespace":"","updated":"","links":[]},"#), "{text}");
        assert_eq!(serde_json::from_str::<List<Extension>>(&text).unwrap(), all);
        let one = Item(all.items[5].clone());
        assert_eq!(
            serde_json::to_string(&one).unwrap(),
            r#"{"extension":{"name":"VMoves","alias":"vmoves","description":"VM moves support.","namespace":"","updated":"","links":[]}}"#
        );
    }
}

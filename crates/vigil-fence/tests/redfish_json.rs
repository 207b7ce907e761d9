//! Reading Redfish answers: the Systems collection, a ComputerSystem's `PowerState` (only `Off`
//! is off), which system is a host's, and where its reset action lives.

use serde_json::json;
use vigil_fence::drivers::redfish::{parse_members, parse_power, reset_target, system_matches};
use vigil_fence::drivers::settled;
use vigil_fence::PowerState;

#[test]
fn power_states() {
    let table = [
        (json!({"PowerState": "On"}), Some(PowerState::On)),
        (json!({"PowerState": "Off"}), Some(PowerState::Off)),
        // Transitional states are not off: the poll goes on until `Off` or the deadline.
        (
            json!({"PowerState": "PoweringOff"}),
            Some(PowerState::Unknown),
        ),
        (
            json!({"PowerState": "PoweringOn"}),
            Some(PowerState::Unknown),
        ),
        (json!({"PowerState": "Paused"}), Some(PowerState::Unknown)),
        (json!({"PowerState": "off"}), Some(PowerState::Unknown)),
        (json!({"PowerState": null}), None),
        (json!({"PowerState": 0}), None),
        (json!({"Name": "compute1"}), None),
    ];
    for (system, want) in table {
        assert_eq!(parse_power(&system), want, "{system}");
    }
}

#[test]
fn systems_collection() {
    // As sushy-tools' libvirt driver lists domains: one member per domain, by UUID.
    let collection = json!({
        "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
        "Name": "Computer System Collection",
        "Members@odata.count": 2,
        "Members": [
            {"@odata.id": "/redfish/v1/Systems/8c6a4ea1-4b0c-4f4a-9d3e-111111111111"},
            {"@odata.id": "/redfish/v1/Systems/2f1e0d6b-77aa-4c1e-8f0b-222222222222"}
        ],
        "@odata.id": "/redfish/v1/Systems"
    });
    assert_eq!(
        parse_members(&collection).unwrap(),
        [
            "/redfish/v1/Systems/8c6a4ea1-4b0c-4f4a-9d3e-111111111111",
            "/redfish/v1/Systems/2f1e0d6b-77aa-4c1e-8f0b-222222222222"
        ]
    );
    assert_eq!(
        parse_members(&json!({"Members": []})).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(parse_members(&json!({"Name": "x"})), None);
    assert_eq!(parse_members(&json!({"Members": [{"href": "/x"}]})), None);
}

#[test]
fn matching_a_system_to_a_host() {
    let system = json!({"Id": "8c6a", "Name": "compute1", "HostName": null});
    let table = [
        ("compute1", true),
        ("8c6a", true),
        ("compute2", false),
        ("Compute1", false),
    ];
    for (host, want) in table {
        assert_eq!(system_matches(&system, host), want, "{host}");
    }
    assert!(system_matches(&json!({"HostName": "c3"}), "c3"));
}

#[test]
fn the_reset_action_is_taken_from_the_system() {
    let path = "/redfish/v1/Systems/abc";
    let advertised = json!({"Actions": {"#ComputerSystem.Reset": {
        "target": "/redfish/v1/Systems/abc/Actions/ComputerSystem.Reset",
        "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]
    }}});
    assert_eq!(
        reset_target(path, &advertised),
        "/redfish/v1/Systems/abc/Actions/ComputerSystem.Reset"
    );
    let elsewhere = json!({"Actions": {"#ComputerSystem.Reset": {"target": "/oem/reset/abc"}}});
    assert_eq!(reset_target(path, &elsewhere), "/oem/reset/abc");
    assert_eq!(
        reset_target(path, &json!({})),
        "/redfish/v1/Systems/abc/Actions/ComputerSystem.Reset"
    );
}

/// A device that reads `Off` only after several polls is fenced at that poll, not before;
/// one that never does is not, whatever it read meanwhile.
#[test]
fn a_device_is_off_only_once_it_reads_off() {
    use vigil_fence::PowerState::{Off, On, Unknown};
    let table: Vec<(Vec<PowerState>, PowerState, Option<PowerState>)> = vec![
        (vec![], Off, None),
        (vec![On], Off, None),
        (vec![On, Unknown], Off, None),
        (vec![On, Unknown, Unknown, Off], Off, Some(Off)),
        (vec![Unknown], Off, None),
        (vec![Off, On], Off, None),
        (vec![Off, Unknown, On], On, Some(On)),
        (vec![Unknown], On, None),
    ];
    for (readings, want, expected) in table {
        assert_eq!(
            settled(&readings, want),
            expected,
            "{readings:?} for {want}"
        );
    }
}

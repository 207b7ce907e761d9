//! Drives Vigil through the real clients operators use: python-openstackclient with
//! python-masakariclient (`openstack segment …`, `openstack notification …`) and openstacksdk's
//! `instance_ha` proxy, installed from PyPI, with a `clouds.yaml` using `auth_type: none`.

mod support;

use serde_json::Value;
use support::clients::Clients;
use support::Vigil;

fn field<'a>(v: &'a Value, names: &[&str]) -> &'a Value {
    names
        .iter()
        .find_map(|n| v.get(*n))
        .unwrap_or_else(|| panic!("none of {names:?} in {v}"))
}

#[test]
fn openstack_cli_segments_hosts_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start("api", &dir.path().join("data"), &[]);
    let c = Clients::new(&vigil, dir.path());

    let seg = c.osc_json(&[
        "segment",
        "create",
        "--description",
        "rack A",
        "seg-a",
        "auto",
        "COMPUTE",
    ]);
    assert_eq!(seg["name"], "seg-a");
    assert_eq!(seg["recovery_method"], "auto");
    assert_eq!(seg["service_type"], "COMPUTE");
    assert_eq!(seg["description"], "rack A");
    let seg_uuid = seg["uuid"].as_str().unwrap().to_owned();

    let list = c.osc_json(&["segment", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| field(s, &["name", "Name"]).as_str().unwrap())
        .collect();
    assert_eq!(names, ["seg-a"]);

    let shown = c.osc_json(&["segment", "show", &seg_uuid]);
    assert_eq!(shown["uuid"], seg_uuid.as_str());

    let updated = c.osc_line(&format!(
        "segment update --name seg-b --recovery_method reserved_host {seg_uuid}"
    ));
    assert_eq!(updated["name"], "seg-b");
    assert_eq!(updated["recovery_method"], "reserved_host");

    // Hosts: no compute endpoint is configured, so names are not checked against Nova here.
    let host = c.osc_line(&format!(
        "segment host create compute1 COMPUTE SSH {seg_uuid}"
    ));
    assert_eq!(host["name"], "compute1");
    assert_eq!(host["type"], "COMPUTE");
    assert_eq!(host["control_attributes"], "SSH");
    assert_eq!(host["failover_segment_id"], seg_uuid.as_str());
    let host_uuid = host["uuid"].as_str().unwrap().to_owned();
    let spare = c.osc_line(&format!(
        "segment host create --reserved True compute2 COMPUTE SSH {seg_uuid}"
    ));
    assert_eq!(spare["reserved"], true);

    let hosts = c.osc_json(&["segment", "host", "list", &seg_uuid]);
    assert_eq!(hosts.as_array().unwrap().len(), 2);

    for (flag, on) in [("True", true), ("False", false)] {
        let updated = c.osc_line(&format!(
            "segment host update --on_maintenance {flag} {seg_uuid} {host_uuid}"
        ));
        assert_eq!(updated["on_maintenance"], on);
    }

    // A host failure report, as masakari-monitors send it.
    let payload = r#"{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}"#;
    let n = c.osc_json(&[
        "notification",
        "create",
        "COMPUTE_HOST",
        "compute1",
        "2026-11-24T10:00:00.123456",
        payload,
    ]);
    assert_eq!(n["type"], "COMPUTE_HOST");
    assert_eq!(n["status"], "new");
    assert_eq!(n["source_host_uuid"], host_uuid.as_str());
    assert_eq!(n["generated_time"], "2026-11-24T10:00:00.123456");
    let n_uuid = n["notification_uuid"].as_str().unwrap().to_owned();

    let notifications = c.osc_json(&["notification", "list"]);
    assert_eq!(notifications.as_array().unwrap().len(), 1);

    // The workflow details come with microversion 1.1.
    for (version, details) in [("1.0", false), ("1.3", true)] {
        let shown = c.osc_line(&format!(
            "--os-ha-api-version {version} notification show {n_uuid}"
        ));
        assert_eq!(shown["notification_uuid"], n_uuid.as_str());
        let has = shown.get("recovery_workflow_details").is_some();
        assert_eq!(has, details, "{shown}");
    }

    let vmoves = c.osc_json(&["notification", "vmove", "list", &n_uuid]);
    assert_eq!(vmoves, Value::Array(vec![]));

    // The notification is `new`, so the segment is in use: Masakari's 409 reaches the user.
    let mut cmd = c.command("openstack");
    let refused = cmd.args(["segment", "delete", &seg_uuid]).output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr).into_owned()
        + &String::from_utf8_lossy(&refused.stdout);
    assert!(
        said.contains("in-use"),
        "expected the in-use refusal, got: {said}"
    );
}

#[test]
fn openstack_cli_deletes_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start("api", &dir.path().join("data"), &[]);
    let c = Clients::new(&vigil, dir.path());
    let seg = c.osc_json(&["segment", "create", "seg-del", "auto", "COMPUTE"]);
    let seg_uuid = seg["uuid"].as_str().unwrap().to_owned();
    let host = c.osc_line(&format!("segment host create node9 COMPUTE x {seg_uuid}"));
    let host_uuid = host["uuid"].as_str().unwrap().to_owned();
    c.osc(&["segment", "host", "delete", &seg_uuid, &host_uuid], false);
    assert_eq!(
        c.osc_json(&["segment", "host", "list", &seg_uuid]),
        Value::Array(vec![])
    );
    c.osc(&["segment", "delete", &seg_uuid], false);
    assert_eq!(c.osc_json(&["segment", "list"]), Value::Array(vec![]));
}

#[test]
fn openstacksdk_instance_ha_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let vigil = Vigil::start("api", &dir.path().join("data"), &[]);
    let c = Clients::new(&vigil, dir.path());
    // openstacksdk pages with the integer `id` as marker; 7 segments in pages of 3 must all come back.
    let got = c.sdk(
        "for i in range(7):\n    conn.instance_ha.create_segment(name=f's{i}', recovery_method='auto', service_type='COMPUTE')\n\
         seen = [s.name for s in conn.instance_ha.segments(limit=3, paginated=True)]\n\
         s0 = [x for x in conn.instance_ha.segments() if x.name == 's0'][0]\n\
         s = conn.instance_ha.update_segment(s0.uuid, is_enabled=False)\n\
         enabled = sorted(x.name for x in conn.instance_ha.segments(is_enabled=True))\n\
         disabled = sorted(x.name for x in conn.instance_ha.segments(is_enabled=False))\n\
         print(json.dumps({'seen': sorted(seen), 'disabled': disabled, 'enabled': enabled, 's0': s.is_enabled}))",
    );
    assert_eq!(
        got["seen"],
        serde_json::json!(["s0", "s1", "s2", "s3", "s4", "s5", "s6"])
    );
    assert_eq!(got["s0"], false);
    assert_eq!(got["disabled"], serde_json::json!(["s0"]));
    assert_eq!(
        got["enabled"],
        serde_json::json!(["s1", "s2", "s3", "s4", "s5", "s6"])
    );
}

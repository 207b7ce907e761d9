//! What the exposition says after recording: names, labels, bounded values.

use super::*;

fn line<'a>(text: &'a str, start: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(start))
}

#[test]
fn every_family_has_help_and_type() {
    // A family without series is left out of the text, as Prometheus' clients do.
    let m = Metrics::new();
    m.set_notifications([], 0);
    let host = m.flow("host");
    host.step("a", StepOutcome::Success, Duration::ZERO);
    host.ended(FlowOutcome::Finished, Duration::ZERO);
    host.server_recovered();
    m.fence_outcome(FenceOutcome::Failed);
    m.evacuation_outcome(EvacuationOutcome::Gone);
    m.api_request("GET", "/", 200, Duration::ZERO);
    m.headroom_checked(Some(0));
    let text = m.encode();
    for (name, kind) in [
        ("vigil_segments_without_headroom", "gauge"),
        ("vigil_headroom_checks_total", "counter"),
        ("vigil_notifications", "gauge"),
        ("vigil_queue_depth", "gauge"),
        ("vigil_flow_duration_seconds", "histogram"),
        ("vigil_step_duration_seconds", "histogram"),
        ("vigil_fence_outcomes_total", "counter"),
        ("vigil_evacuation_outcomes_total", "counter"),
        ("vigil_servers_recovered_total", "counter"),
        ("vigil_engine_leases_held", "gauge"),
        ("vigil_api_request_duration_seconds", "histogram"),
    ] {
        assert!(
            line(&text, &format!("# HELP {name} ")).is_some(),
            "{name}\n{text}"
        );
        assert!(
            line(&text, &format!("# TYPE {name} {kind}")).is_some(),
            "{name}\n{text}"
        );
    }
}

#[test]
fn notification_counts_cover_every_type_and_status() {
    let m = Metrics::new();
    m.set_notifications([(NotificationType::Vm, NotificationStatus::New, 3)], 3);
    let text = m.encode();
    assert!(
        text.contains("vigil_notifications{type=\"VM\",status=\"new\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("vigil_notifications{type=\"COMPUTE_HOST\",status=\"failed\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("vigil_queue_depth 3\n"), "{text}");
    // A later scrape with fewer rows sets what disappeared back to zero.
    m.set_notifications([], 0);
    assert!(
        m.encode()
            .contains("vigil_notifications{type=\"VM\",status=\"new\"} 0\n"),
        "{text}"
    );
}

#[test]
fn a_lease_counts_while_its_guard_lives() {
    let m = Metrics::new();
    let a = m.lease_held();
    let b = m.lease_held();
    assert!(m.encode().contains("vigil_engine_leases_held 2\n"));
    drop(a);
    drop(b);
    assert!(m.encode().contains("vigil_engine_leases_held 0\n"));
}

#[test]
fn api_labels_are_bounded() {
    let m = Metrics::new();
    m.api_request("BREW", "other", 404, Duration::from_millis(2));
    m.api_request("GET", "/v1/segments", 200, Duration::from_millis(2));
    let text = m.encode();
    assert!(
        text.contains(
            "vigil_api_request_duration_seconds_count{method=\"other\",route=\"other\",status=\"4xx\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"/v1/segments\",status=\"2xx\"} 1\n"),
        "{text}"
    );
}

#[test]
fn answers_are_counted_back_from_the_text() {
    let m = Metrics::new();
    assert_eq!(AnswerCounts::scrape(&m.encode()), AnswerCounts::default());
    m.api_request("GET", "/v1/segments", 200, Duration::from_millis(2));
    m.api_request("GET", "/v1/segments", 200, Duration::from_millis(2));
    m.api_request("POST", "/v1/segments", 400, Duration::from_millis(2));
    m.api_request("GET", "/v1/segments", 503, Duration::from_millis(2));
    let counts = AnswerCounts::scrape(&m.encode());
    assert_eq!(
        counts,
        AnswerCounts {
            all: 4,
            client_errors: 1,
            server_errors: 1
        }
    );
}

#[test]
fn flows_record_steps_outcomes_and_servers() {
    let m = Metrics::new();
    let host = m.flow("host");
    host.step(
        "FenceHostTask",
        StepOutcome::Success,
        Duration::from_secs(2),
    );
    host.ended(FlowOutcome::Finished, Duration::from_secs(30));
    host.server_recovered();
    m.fence_outcome(FenceOutcome::Off);
    m.evacuation_outcome(EvacuationOutcome::Succeeded);
    let step = "{flow=\"host\",step=\"FenceHostTask\",outcome=\"success\"}";
    assert_eq!(
        m.sample(&format!("vigil_step_duration_seconds_count{step}")),
        Some(1.0)
    );
    assert_eq!(
        m.sample(&format!("vigil_step_duration_seconds_sum{step}")),
        Some(2.0)
    );
    let text = m.encode();
    for expected in [
        "vigil_flow_duration_seconds_count{flow=\"host\",outcome=\"finished\"} 1\n",
        "vigil_step_duration_seconds_bucket{flow=\"host\",step=\"FenceHostTask\",outcome=\"success\",le=\"2.56\"} 1\n",
        "vigil_servers_recovered_total{flow=\"host\"} 1\n",
        "vigil_fence_outcomes_total{outcome=\"off\"} 1\n",
        "vigil_evacuation_outcomes_total{outcome=\"succeeded\"} 1\n",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}

#[test]
fn a_failed_headroom_check_keeps_the_last_count() {
    let m = Metrics::new();
    m.headroom_checked(Some(2));
    m.headroom_checked(None);
    assert_eq!(m.sample("vigil_segments_without_headroom"), Some(2.0));
    assert_eq!(
        m.sample("vigil_headroom_checks_total{outcome=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        m.sample("vigil_headroom_checks_total{outcome=\"failed\"}"),
        Some(1.0)
    );
}

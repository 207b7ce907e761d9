//! Vigil's metrics: the families the API and the engine record into, in one registry, and
//! their exposition in Prometheus' text format (the binary serves it on `/metrics`).
//!
//! A process makes one [`Metrics`] and hands clones to its API and its engine; recording is a
//! few atomic operations, so it is always on, and only serving the text is configured. The
//! notification gauges are not recorded by anyone: every replica shares one database, so they
//! are read from it when scraped ([`Metrics::set_notifications`]).

mod labels;

use labels::{ApiLabels, FlowLabels, NotificationLabels, OutcomeLabels, ServerLabels, StepLabels};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::time::Duration;
use vigil_domain::{NotificationStatus, NotificationType};

pub use labels::{EvacuationOutcome, FenceOutcome, FlowOutcome, StepOutcome};

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How many requests an API answered, by status class, as read back from its `/metrics`
/// text: what a client that only scrapes (a fuzz run, a test) can know of the server's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerCounts {
    pub all: u64,
    pub client_errors: u64,
    pub server_errors: u64,
}

impl AnswerCounts {
    /// Sums `vigil_api_request_duration_seconds_count` over its labels in `exposition`.
    pub fn scrape(exposition: &str) -> AnswerCounts {
        let mut a = AnswerCounts::default();
        for line in exposition.lines() {
            let Some(rest) = line.strip_prefix("vigil_api_request_duration_seconds_count{") else {
                continue;
            };
            let Some((labels, n)) = rest.split_once("} ") else {
                continue;
            };
            let n = n.trim().parse::<f64>().unwrap_or(0.0) as u64;
            a.all += n;
            if labels.contains("status=\"4xx\"") {
                a.client_errors += n;
            } else if labels.contains("status=\"5xx\"") {
                a.server_errors += n;
            }
        }
        a
    }
}

/// Every metric of one process; cheap to clone (clones record into the same families).
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Families {
    registry: Registry,
    notifications: Family<NotificationLabels, Gauge>,
    queue_depth: Gauge,
    flow_duration: HistogramFamily<FlowLabels>,
    step_duration: HistogramFamily<StepLabels>,
    fence_outcomes: Family<OutcomeLabels, Counter>,
    evacuation_outcomes: Family<OutcomeLabels, Counter>,
    servers_recovered: Family<ServerLabels, Counter>,
    leases_held: Gauge,
    api_requests: HistogramFamily<ApiLabels>,
    /// A count, not a series per segment: segment names are the operator's, unbounded.
    segments_without_headroom: Gauge,
    headroom_checks: Family<OutcomeLabels, Counter>,
}

/// Flows take seconds to an hour: 0.5 s to about 68 min.
fn flow_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

/// Steps take from milliseconds (a database write) to many minutes (evacuating a host).
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

/// API requests: 1 ms to about 16 s.
fn api_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family, all empty.
    pub fn new() -> Metrics {
        let mut f = Families {
            registry: Registry::with_prefix("vigil"),
            notifications: Family::default(),
            queue_depth: Gauge::default(),
            flow_duration: Family::new_with_constructor(flow_histogram),
            step_duration: Family::new_with_constructor(step_histogram),
            fence_outcomes: Family::default(),
            evacuation_outcomes: Family::default(),
            servers_recovered: Family::default(),
            leases_held: Gauge::default(),
            api_requests: Family::new_with_constructor(api_histogram),
            segments_without_headroom: Gauge::default(),
            headroom_checks: Family::default(),
        };
        f.registry.register(
            "notifications",
            "Notifications in the database by type and status, read at scrape time (the same \
             in every replica)",
            f.notifications.clone(),
        );
        f.registry.register(
            "queue_depth",
            "Notifications waiting for an engine: new, error (awaiting a retry) or running \
             under an expired lease, read at scrape time",
            f.queue_depth.clone(),
        );
        f.registry.register_with_unit(
            "flow_duration",
            "Time this engine ran a recovery flow, by flow and outcome (a resumed flow counts \
             from its resumption)",
            Unit::Seconds,
            f.flow_duration.clone(),
        );
        f.registry.register_with_unit(
            "step_duration",
            "Time one step of a recovery flow ran, by flow, step and outcome",
            Unit::Seconds,
            f.step_duration.clone(),
        );
        f.registry.register(
            "fence_outcomes",
            "Fencing of failed hosts by outcome: off (a device confirmed it), trusted_monitor \
             (no device bound, the segment trusts the monitor) or failed",
            f.fence_outcomes.clone(),
        );
        f.registry.register(
            "evacuation_outcomes",
            "Evacuations of one server by outcome: succeeded, gone (deleted meanwhile) or \
             failed (a server tried on the next reserved host counts again)",
            f.evacuation_outcomes.clone(),
        );
        f.registry.register(
            "servers_recovered",
            "Servers running again after a recovery, by flow: host (evacuated) or instance \
             (restarted or migrated)",
            f.servers_recovered.clone(),
        );
        f.registry.register(
            "engine_leases_held",
            "Notifications this engine holds a lease on (recoveries in flight)",
            f.leases_held.clone(),
        );
        f.registry.register_with_unit(
            "api_request_duration",
            "Time the API took to answer a request, by method, route template and status class",
            Unit::Seconds,
            f.api_requests.clone(),
        );
        f.registry.register(
            "segments_without_headroom",
            "Enabled segments that could not take in the servers of some one host's failure, \
             at the engine's last headroom check (kept while Placement cannot be read)",
            f.segments_without_headroom.clone(),
        );
        f.registry.register(
            "headroom_checks",
            "The engine's headroom checks by outcome: ok, or failed (Nova, Placement or the \
             database could not be read)",
            f.headroom_checks.clone(),
        );
        Metrics(Arc::new(f))
    }

    /// The outcome of one headroom check: how many segments lack headroom, or `None` when
    /// the check could not read what it needs (the last count stays).
    pub fn headroom_checked(&self, without_headroom: Option<i64>) {
        let outcome = match without_headroom {
            Some(n) => {
                self.0.segments_without_headroom.set(n);
                "ok"
            }
            None => "failed",
        };
        self.0
            .headroom_checks
            .get_or_create(&OutcomeLabels::new(outcome))
            .inc();
    }

    /// The whole registry in Prometheus' text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an error here would be the encoder's own bug.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.0.registry)
        {
            text.push_str(&format!("# encoding failed: {e}\n"));
        }
        text
    }

    /// The database's counts: every type and status appears, zero when it has none, so an
    /// alert on a status is never on an absent series.
    pub fn set_notifications(
        &self,
        counts: impl IntoIterator<Item = (NotificationType, NotificationStatus, i64)>,
        queue_depth: i64,
    ) {
        let family = &self.0.notifications;
        for t in NotificationType::ALL {
            for s in NotificationStatus::ALL {
                family
                    .get_or_create(&NotificationLabels::new(*t, *s))
                    .set(0);
            }
        }
        for (t, s, n) in counts {
            family.get_or_create(&NotificationLabels::new(t, s)).set(n);
        }
        self.0.queue_depth.set(queue_depth);
    }

    /// The value of one series in [`Metrics::encode`]'s text, e.g.
    /// `vigil_queue_depth` or `vigil_servers_recovered_total{flow="host"}` (for tests).
    pub fn sample(&self, series: &str) -> Option<f64> {
        self.encode().lines().find_map(|l| {
            let value = l.strip_prefix(series)?.strip_prefix(' ')?;
            value.parse().ok()
        })
    }

    /// What a flow named `flow` ("host", "instance", …) records.
    pub fn flow(&self, flow: &'static str) -> FlowMetrics {
        FlowMetrics {
            metrics: self.clone(),
            flow,
        }
    }

    pub fn fence_outcome(&self, outcome: FenceOutcome) {
        self.0
            .fence_outcomes
            .get_or_create(&OutcomeLabels::new(outcome.as_str()))
            .inc();
    }

    pub fn evacuation_outcome(&self, outcome: EvacuationOutcome) {
        self.0
            .evacuation_outcomes
            .get_or_create(&OutcomeLabels::new(outcome.as_str()))
            .inc();
    }

    /// Counts a lease as held until the guard is dropped (however the flow's task ends).
    pub fn lease_held(&self) -> LeaseGuard {
        self.0.leases_held.inc();
        LeaseGuard(self.clone())
    }

    /// One answered API request. `route` is the route's template (no identifiers in it), so
    /// the number of series stays bounded.
    pub fn api_request(&self, method: &str, route: &'static str, status: u16, took: Duration) {
        self.0
            .api_requests
            .get_or_create(&ApiLabels::new(method, route, status))
            .observe(took.as_secs_f64());
    }
}

/// Records into the families of one flow.
#[derive(Clone)]
pub struct FlowMetrics {
    metrics: Metrics,
    flow: &'static str,
}

impl FlowMetrics {
    /// The process's metrics, for what a flow records outside its own families.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn step(&self, step: &str, outcome: StepOutcome, took: Duration) {
        let labels = StepLabels {
            flow: self.flow,
            step: step.to_owned(),
            outcome: outcome.as_str(),
        };
        self.metrics
            .0
            .step_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn ended(&self, outcome: FlowOutcome, took: Duration) {
        let labels = FlowLabels {
            flow: self.flow,
            outcome: outcome.as_str(),
        };
        self.metrics
            .0
            .flow_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One server of this flow running again.
    pub fn server_recovered(&self) {
        self.metrics
            .0
            .servers_recovered
            .get_or_create(&ServerLabels { flow: self.flow })
            .inc();
    }
}

/// A lease counted in `vigil_engine_leases_held`; dropping it gives the count back.
pub struct LeaseGuard(Metrics);

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.0 .0.leases_held.dec();
    }
}

#[cfg(test)]
mod tests;

//! The `/metrics` listener of `[metrics] listen`: the process's metrics in Prometheus' text
//! format, with the database's notification counts read at each scrape.
//!
//! It has an address of its own, apart from the API's, so the API keeps its authentication and
//! policy unchanged and an operator can bind metrics where only Prometheus reaches them.

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use vigil_metrics::Metrics;
use vigil_store::Store;

/// A bound metrics listener, not yet serving.
pub struct MetricsListener {
    listener: TcpListener,
    scrape: Scrape,
}

#[derive(Clone)]
struct Scrape {
    metrics: Metrics,
    store: Store,
}

/// Binds `listen` when it is set, so a taken address fails the start as the API's does.
pub async fn bind(
    listen: Option<SocketAddr>,
    metrics: &Metrics,
    store: &Store,
) -> anyhow::Result<Option<MetricsListener>> {
    let Some(listen) = listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the metrics address {listen}"))?;
    // Not "listening": the tests and the bench read the API's address from that word.
    tracing::info!(address = %listener.local_addr()?, "serving metrics on /metrics");
    Ok(Some(MetricsListener {
        listener,
        scrape: Scrape {
            metrics: metrics.clone(),
            store: store.clone(),
        },
    }))
}

/// Serves `listener`, if any, until `shutdown` completes.
pub async fn serve(
    listener: Option<MetricsListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Some(MetricsListener { listener, scrape }) = listener else {
        return Ok(());
    };
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .with_state(scrape);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving metrics")
}

/// The registry, after reading the counts only the shared database knows. A database that
/// does not answer fails the scrape (503), so Prometheus' `up` shows it, rather than stale
/// counts passing for current ones.
async fn metrics(State(s): State<Scrape>) -> Response {
    let counts = s.store.notification_counts().await;
    let depth = s.store.notification_queue_depth().await;
    match (counts, depth) {
        (Ok(counts), Ok(depth)) => {
            let counts = counts
                .into_iter()
                .map(|c| (c.notification_type, c.status, c.count));
            s.metrics.set_notifications(counts, depth);
            (
                [(header::CONTENT_TYPE, vigil_metrics::CONTENT_TYPE)],
                s.metrics.encode(),
            )
                .into_response()
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "reading notification counts for /metrics"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database did not answer\n",
            )
                .into_response()
        }
    }
}

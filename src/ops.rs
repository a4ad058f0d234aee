//! What operators watch: `/healthz` (is the bot alive, are its feeds readable, is anything
//! stuck) and `/metrics` in Prometheus' text format, served on `[ops] listen` with axum.
//! The endpoint only reads: it is handed the store and the metrics, nothing that steers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::store::Store;

/// Requests served at once; more get 503 at once instead of piling up.
const MAX_CONCURRENT: usize = 32;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the endpoint reads.
#[derive(Clone)]
pub struct View {
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, view: View, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let app = Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(view)
        .layer(middleware::from_fn(move |request, next| {
            bounded(limit.clone(), request, next)
        }));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the operators' endpoint stopped");
    }
}

/// At most `MAX_CONCURRENT` requests at once, each within `REQUEST_TIMEOUT`.
async fn bounded(limit: Arc<Semaphore>, request: Request, next: Next) -> Response {
    let Ok(_permit) = limit.try_acquire() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy, try again\n").into_response();
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::GATEWAY_TIMEOUT, "timed out\n").into_response(),
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /healthz or /metrics\n",
    )
}

/// 200 when every feed's last poll worked, 503 naming the failing feeds otherwise.
async fn health(State(view): State<View>) -> Response {
    let failing = view.metrics.failing();
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ok" } else { "degraded" },
        "failing_feeds": failing,
        "queued_posts": view.store.outbox_len(),
        "undeliverable_posts": view.store.dead_count(),
        "articles": view.store.article_count(),
    });
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

async fn metrics(State(view): State<View>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        exposition(&view),
    )
        .into_response()
}

/// The metrics in Prometheus' text exposition format.
fn exposition(view: &View) -> String {
    let mut out = String::new();
    let m = &view.metrics;
    out.push_str("# HELP herald_posts_total Posts attempted, by platform and outcome.\n# TYPE herald_posts_total counter\n");
    for ((platform, outcome), n) in m.sends() {
        out.push_str(&format!(
            "herald_posts_total{{platform=\"{platform}\",outcome=\"{outcome}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP herald_feed_polls_total Feed polls, by feed and result.\n# TYPE herald_feed_polls_total counter\n");
    for ((feed, result), n) in m.polls() {
        out.push_str(&format!(
            "herald_feed_polls_total{{feed=\"{}\",result=\"{result}\"}} {n}\n",
            label(&feed)
        ));
    }
    out.push_str("# HELP herald_feed_items_skipped_total Feed items skipped for having neither a title, a text nor a link.\n# TYPE herald_feed_items_skipped_total counter\n");
    for (feed, n) in m.skipped() {
        out.push_str(&format!(
            "herald_feed_items_skipped_total{{feed=\"{}\"}} {n}\n",
            label(&feed)
        ));
    }
    let gauges = [
        (
            "herald_commands_total",
            "Chat commands answered.",
            "counter",
            m.commands() as usize,
        ),
        (
            "herald_articles",
            "Articles stored.",
            "gauge",
            view.store.article_count(),
        ),
        (
            "herald_queued_posts",
            "Posts waiting in the outbox.",
            "gauge",
            view.store.outbox_len(),
        ),
        (
            "herald_undeliverable_posts",
            "Posts set aside after a permanent rejection.",
            "gauge",
            view.store.dead_count(),
        ),
        (
            "herald_failing_feeds",
            "Feeds whose last poll failed.",
            "gauge",
            m.failing().len(),
        ),
    ];
    for (name, help, kind, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    out
}

/// A Prometheus label value, escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

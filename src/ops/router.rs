//! The operators' routes — `/` (the status page), `/healthz` and `/metrics` — and their
//! limits: with `[ops] token`, every request must carry it (a bearer token, or `?token=`);
//! at most `MAX_CONCURRENT` requests at once, each within `REQUEST_TIMEOUT`. The handlers
//! only read: they are handed a `Watch` (the store, the metrics, the config, the
//! platforms), nothing that steers.

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

use crate::config::Secret;
use crate::ops::status::Watch;

/// Requests served at once; more get 503 at once instead of piling up.
const MAX_CONCURRENT: usize = 32;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/`, `/healthz` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, watch: Watch, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let token = watch.config.ops.token.clone().map(Arc::new);
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(watch)
        .layer(middleware::from_fn(move |request, next| {
            authorized(token.clone(), request, next)
        }))
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

/// With a token configured, only requests that carry it: `Authorization: Bearer TOKEN` (the
/// scheme in any case) or `?token=TOKEN`. Compared by digest, so the time taken says nothing about the token.
async fn authorized(token: Option<Arc<Secret>>, request: Request, next: Next) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned);
    let from_query = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    use sha2::{Digest, Sha256};
    let expected = Sha256::digest(token.expose().as_bytes());
    let given = [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|t| Sha256::digest(t.as_bytes()) == expected);
    if given {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a token is needed: `Authorization: Bearer TOKEN` or `?token=TOKEN`\n",
        )
            .into_response()
    }
}

/// The token of an `Authorization` header's value `Bearer TOKEN`. The scheme is read in any
/// case and may be followed by several spaces (RFC 9110, section 11.1: `bearer` and
/// `BEARER` are `Bearer`).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The status page, in the browser's language where the bot speaks it.
async fn page(State(watch): State<Watch>, request: Request) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = crate::ops::page::page_lang(accept);
    // Reading the store walks a few trees: off the async runtime.
    match tokio::task::spawn_blocking(move || watch.snapshot()).await {
        Ok(Ok(snapshot)) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_LANGUAGE, lang.as_str()),
                (header::CACHE_CONTROL, "no-store"),
                (header::REFERRER_POLICY, "no-referrer"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'",
                ),
            ],
            crate::ops::page::render(&snapshot, &lang),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the status page could not read the store");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store could not be read\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the status failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the status failed\n",
            )
                .into_response()
        }
    }
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /, /healthz or /metrics\n",
    )
}

/// 200 while polling and delivery are alive; 503 naming each stalled thing, one a line (see
/// `Health::judge`). Plain text for people and probes; `?format=json` (or `Accept:
/// application/json`) gives the details as JSON for tools, with the same status.
async fn health(State(watch): State<Watch>, request: Request) -> Response {
    let json = request.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "format" && v == "json")
    }) || request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    // The store's counts walk a few trees at most: cheap, but off the async runtime.
    let report = match tokio::task::spawn_blocking(move || watch.health()).await {
        Ok(report) => report,
        Err(e) => {
            tracing::error!(error = %e, "judging the health failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "judging the health failed\n",
            )
                .into_response();
        }
    };
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let (kind, body) = if json {
        ("application/json", report.json_text())
    } else {
        ("text/plain; charset=utf-8", report.text())
    };
    (
        status,
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn metrics(State(watch): State<Watch>) -> Response {
    let text = watch.metrics.exposition(
        watch.store.article_count(),
        watch.store.outbox_len(),
        watch.store.set_aside_count(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k"] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value:?}");
        }
        for value in ["Basic dTpw", "Bearer", "Bearer ", "Bearert0k", "t0k", ""] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}

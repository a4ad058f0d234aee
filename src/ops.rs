//! What operators watch: `/` (a status page for a browser), `/healthz` (is the bot alive,
//! are its feeds readable, is anything stuck) and `/metrics` in Prometheus' text format,
//! served on `[ops] listen` with axum. With `[ops] token`, every request must carry it (a
//! bearer token, or `?token=`). The endpoint only reads: it is handed the store, the metrics
//! and the config, nothing that steers.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::sink::{Sink, WaitState};
use crate::status::Watch;
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
    /// The platforms, once started: asked which chats they cannot post to yet.
    pub platforms: Arc<OnceLock<Vec<Arc<dyn Sink>>>>,
    pub config: Arc<Config>,
    /// When the bot started (for the uptime).
    pub started: SystemTime,
}

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, view: View, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    let token = view.config.ops.token.clone().map(Arc::new);
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(view)
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

/// With a token configured, only requests that carry it: `Authorization: Bearer TOKEN` or
/// `?token=TOKEN`. Compared by digest, so the time taken says nothing about the token.
async fn authorized(token: Option<Arc<Secret>>, request: Request, next: Next) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
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

/// The status page, in the browser's language where the bot speaks it.
async fn page(State(view): State<View>, request: Request) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = crate::status_page::page_lang(accept);
    let watch = Watch {
        config: view.config.clone(),
        store: view.store.clone(),
        platforms: view.platforms.clone(),
        started: view.started,
    };
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
            crate::status_page::render(&snapshot, &lang),
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

/// 200 when every feed's last poll worked and no configured channel was refused, 503
/// naming what fails otherwise.
async fn health(State(view): State<View>) -> Response {
    let (status, body) = health_report(&view);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

/// The health status and its JSON body. Chats the platforms cannot post to yet (a Matrix
/// room still being joined, or whose join was refused) are listed; a configured channel is
/// named by its target as the operator wrote it, a room the bot was invited to only counted,
/// since its id is private.
fn health_report(view: &View) -> (StatusCode, serde_json::Value) {
    let failing = view.metrics.failing();
    let waiting: Vec<_> = view
        .platforms
        .get()
        .into_iter()
        .flatten()
        .flat_map(|sink| sink.waiting_chats())
        .collect();
    let refused = waiting
        .iter()
        .any(|w| w.configured && w.state == WaitState::Refused);
    let channels: Vec<serde_json::Value> = waiting
        .iter()
        .filter(|w| w.configured)
        .map(|w| {
            serde_json::json!({
                "channel": w.target.to_string(),
                "state": match w.state {
                    WaitState::Joining => "joining",
                    WaitState::Retrying => "retrying",
                    WaitState::Refused => "refused",
                },
                "reason": w.reason,
            })
        })
        .collect();
    let healthy = failing.is_empty() && !refused;
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "degraded" },
        "failing_feeds": failing,
        "channels_not_joined": channels,
        "other_chats_not_joined": waiting.iter().filter(|w| !w.configured).count(),
        "queued_posts": view.store.outbox_len(),
        "undeliverable_posts": view.store.dead_count(),
        "articles": view.store.article_count(),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

async fn metrics(State(view): State<View>) -> Response {
    let text = view.metrics.exposition(
        view.store.article_count(),
        view.store.outbox_len(),
        view.store.dead_count(),
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
    use super::*;
    use crate::article::{Platform, Target};
    use crate::sink::{BoxFuture, ChatWaiting, Post, SendError};

    /// A platform that reports the given chats as not joined.
    struct Waiting(Vec<ChatWaiting>);

    impl Sink for Waiting {
        fn platform(&self) -> Platform {
            Platform::Matrix
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::from_secs(1)
        }
        fn global_rate(&self) -> u32 {
            1
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async { Err(SendError::Temporary("test".into())) })
        }
        fn waiting_chats(&self) -> Vec<ChatWaiting> {
            self.0.clone()
        }
    }

    fn waiting(chat: &str, configured: bool, state: WaitState) -> ChatWaiting {
        ChatWaiting {
            target: Target::new(Platform::Matrix, chat),
            configured,
            state,
            reason: Some("M_LIMIT_EXCEEDED".into()),
            retry_at: None,
        }
    }

    fn view(dir: &std::path::Path, chats: Vec<ChatWaiting>) -> View {
        let platforms = Arc::new(OnceLock::new());
        let sink: Arc<dyn Sink> = Arc::new(Waiting(chats));
        let _ = platforms.set(vec![sink]);
        let config = Config::parse("", &dir.join("herald.toml"), |_| None).unwrap();
        View {
            store: Store::open(dir).unwrap(),
            metrics: Arc::default(),
            platforms,
            config: Arc::new(config),
            started: SystemTime::now(),
        }
    }

    #[tokio::test]
    async fn rooms_being_joined_are_shown_and_a_refused_channel_is_unhealthy() {
        let dir = tempfile::tempdir().unwrap();
        let v = view(
            dir.path(),
            vec![
                waiting("#news:example.org", true, WaitState::Retrying),
                waiting("!private:example.org", false, WaitState::Joining),
            ],
        );
        let (status, body) = health_report(&v);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["channels_not_joined"][0]["channel"],
            "matrix:#news:example.org"
        );
        assert_eq!(body["channels_not_joined"][0]["state"], "retrying");
        assert_eq!(body["channels_not_joined"][0]["reason"], "M_LIMIT_EXCEEDED");
        assert_eq!(body["other_chats_not_joined"], 1);
        assert!(!body.to_string().contains("!private"), "{body}");
        drop(v);

        let dir = tempfile::tempdir().unwrap();
        let v = view(
            dir.path(),
            vec![waiting("#news:example.org", true, WaitState::Refused)],
        );
        let (status, body) = health_report(&v);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["channels_not_joined"][0]["state"], "refused");
    }
}

//! What operators watch: `/` (a status page for a browser), `/healthz` (200 while polling
//! and delivery are alive, 503 naming what is stalled) and `/metrics` in Prometheus' text format,
//! served on `[ops] listen` with axum. With `[ops] token`, every request must carry it (a
//! bearer token, or `?token=`). The endpoint only reads: it is handed the store, the metrics
//! and the config, nothing that steers.

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
use crate::status::Watch;

/// Requests served at once; more get 503 at once instead of piling up.
const MAX_CONCURRENT: usize = 32;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, view: Watch, shutdown: CancellationToken) {
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
async fn page(State(watch): State<Watch>, request: Request) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let lang = crate::status_page::page_lang(accept);
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

/// 200 while polling and delivery are alive; 503 naming each stalled thing, one a line (see
/// `Watch::health`). Plain text for people and probes; `?format=json` (or `Accept:
/// application/json`) gives the details as JSON for tools, with the same status.
async fn health(State(view): State<Watch>, request: Request) -> Response {
    let json = request.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "format" && v == "json")
    }) || request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    // The store's counts walk a few trees at most: cheap, but off the async runtime.
    let report = match tokio::task::spawn_blocking(move || view.health()).await {
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
    let status = if report.stalled.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let headers = |kind| {
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ]
    };
    if json {
        (
            status,
            headers("application/json"),
            format!("{}\n", report.json),
        )
            .into_response()
    } else if report.stalled.is_empty() {
        (
            status,
            headers("text/plain; charset=utf-8"),
            "ok\n".to_string(),
        )
            .into_response()
    } else {
        let mut body = report.stalled.join("\n");
        body.push('\n');
        (status, headers("text/plain; charset=utf-8"), body).into_response()
    }
}

async fn metrics(State(view): State<Watch>) -> Response {
    let text = view.metrics.exposition(
        view.store.article_count(),
        view.store.outbox_len(),
        view.store.set_aside_count(),
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
    use crate::config::Config;
    use crate::sink::{BoxFuture, ChatWaiting, Post, SendError, Sink, WaitState};
    use crate::store::Store;
    use std::sync::OnceLock;
    use std::time::SystemTime;
    use tokio_util::sync::CancellationToken;

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

    fn view(dir: &std::path::Path, chats: Vec<ChatWaiting>) -> Watch {
        let sink: Arc<dyn Sink> = Arc::new(Waiting(chats));
        view_with(dir, "", vec![sink])
    }

    fn view_with(dir: &std::path::Path, config: &str, sinks: Vec<Arc<dyn Sink>>) -> Watch {
        let platforms = Arc::new(OnceLock::new());
        let _ = platforms.set(sinks);
        let config = Config::parse(config, &dir.join("herald.toml"), |_| None).unwrap();
        Watch {
            store: Store::open(&dir.join("data")).unwrap(),
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
        let report = v.health();
        let body = &report.json;
        assert!(report.stalled.is_empty(), "{body}");
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
        let report = v.health();
        assert_eq!(
            report.stalled,
            ["channel matrix:#news:example.org: refused: M_LIMIT_EXCEEDED"]
        );
        assert_eq!(report.json["status"], "stalled");
        assert_eq!(report.json["channels_not_joined"][0]["state"], "refused");
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_is_stalled_once_it_fails_for_longer_than_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let url = "https://example.org/de/feed/";
        let config = format!(
            "[ops]\nstall_after = \"1h\"\n[[feeds]]\nurl = \"{url}\"\nlang = \"de\"\nname = \"wp-de\"\n"
        );
        let v = view_with(dir.path(), &config, vec![]);
        v.metrics.count_poll(url, "error", Some("HTTP 500".into()));
        tokio::time::advance(Duration::from_secs(59 * 60)).await;
        // Failing, but not for long: a site down for a while is ordinary.
        v.metrics.count_poll(url, "error", Some("HTTP 502".into()));
        let report = v.health();
        assert!(report.stalled.is_empty(), "{:?}", report.stalled);
        assert_eq!(report.json["failing_feeds"][url]["error"], "HTTP 502");
        tokio::time::advance(Duration::from_secs(64 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["feed wp-de: failing for 2h 3m: HTTP 502"]
        );
        // One success ends it; a new failure starts the count again.
        v.metrics.count_poll(url, "updated", None);
        v.metrics.count_poll(url, "error", Some("HTTP 500".into()));
        tokio::time::advance(Duration::from_secs(30 * 60)).await;
        assert!(v.health().stalled.is_empty());
    }

    /// A Telegram-like platform whose sends hang, are rate limited, or fail as an outage
    /// does, until `works` is set.
    struct Flaky {
        answer: Answer,
        works: std::sync::atomic::AtomicBool,
    }

    #[derive(Clone, Copy)]
    enum Answer {
        Hang,
        RateLimited,
        Down,
    }

    impl Sink for Flaky {
        fn platform(&self) -> Platform {
            Platform::Telegram
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::from_secs(1)
        }
        fn global_rate(&self) -> u32 {
            30
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                if self.works.load(std::sync::atomic::Ordering::SeqCst) {
                    return Ok("1".into());
                }
                match self.answer {
                    Answer::Hang => std::future::pending().await,
                    Answer::RateLimited => Err(SendError::RetryAfter(Duration::from_secs(3600))),
                    Answer::Down => Err(SendError::Temporary("HTTP 502: Bad Gateway".into())),
                }
            })
        }
    }

    /// A running delivery loop to `answer`'s platform, with two posts queued for two chats,
    /// judged stalled after five minutes.
    async fn delivering(
        dir: &std::path::Path,
        answer: Answer,
    ) -> (Watch, Arc<Flaky>, CancellationToken) {
        delivering_paused(dir, answer, false).await
    }

    /// The same, with every chat paused by an operator first when `paused`.
    async fn delivering_paused(
        dir: &std::path::Path,
        answer: Answer,
        paused: bool,
    ) -> (Watch, Arc<Flaky>, CancellationToken) {
        let sink = Arc::new(Flaky {
            answer,
            works: Default::default(),
        });
        let v = view_with(
            dir,
            "[ops]\ndelivery_stall_after = \"5m\"\n",
            vec![sink.clone() as Arc<dyn Sink>],
        );
        let article = crate::article::Article::sample(1, "en");
        let deliveries: Vec<(Target, String)> = ["1", "2"]
            .into_iter()
            .map(|chat| (Target::new(Platform::Telegram, chat), article.id.clone()))
            .collect();
        v.store
            .commit_poll("en.xml", &Default::default(), &[article], &deliveries, None)
            .await
            .unwrap();
        if paused {
            let pause = crate::store::Pause {
                at: chrono::Utc::now(),
            };
            v.store.pause(None, &pause).unwrap();
        }
        let delivery = crate::delivery::Delivery::new(
            v.config.clone(),
            v.store.clone(),
            v.metrics.clone(),
            vec![sink.clone() as Arc<dyn Sink>],
        );
        let shutdown = CancellationToken::new();
        tokio::spawn(delivery.run(shutdown.clone()));
        (v, sink, shutdown)
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_loop_without_progress_is_stuck() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _, shutdown) = delivering(dir.path(), Answer::Hang).await;
        tokio::time::sleep(Duration::from_secs(4 * 60)).await;
        assert!(v.health().stalled.is_empty());
        tokio::time::sleep(Duration::from_secs(2 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["delivery: stuck for 6m (no progress with 2 posts queued)"]
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn posts_held_by_an_operators_pause_are_no_stall() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _, shutdown) = delivering_paused(dir.path(), Answer::Hang, true).await;
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        let report = v.health();
        assert!(report.stalled.is_empty(), "{:?}", report.stalled);
        assert_eq!(report.json["queued_posts"], 2);
        // Resumed, the posts are due again: their send hangs, and that is a stall.
        assert!(v.store.resume(None).unwrap());
        tokio::time::sleep(Duration::from_secs(6 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["delivery: stuck for 6m (no progress with 2 posts queued)"]
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn posts_waiting_for_a_rate_limit_are_no_stall() {
        let dir = tempfile::tempdir().unwrap();
        let (v, _, shutdown) = delivering(dir.path(), Answer::RateLimited).await;
        // Told to wait an hour, twice over: the loop waits as told, and a 429 is an answer.
        tokio::time::sleep(Duration::from_secs(150 * 60)).await;
        let report = v.health();
        assert!(report.stalled.is_empty(), "{:?}", report.stalled);
        assert_eq!(report.json["queued_posts"], 2);
        let text = v.metrics.exposition(0, 2, 0);
        assert!(
            text.contains("herald_posts_retried_total{platform=\"telegram\"} 6"),
            "{text}"
        );
        shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn a_platform_failing_every_send_is_down_until_a_send_works() {
        let dir = tempfile::tempdir().unwrap();
        let (v, sink, shutdown) = delivering(dir.path(), Answer::Down).await;
        tokio::time::sleep(Duration::from_secs(4 * 60)).await;
        assert!(v.health().stalled.is_empty());
        // Retried with backoff all along: the loop is not stuck, the platform is down.
        tokio::time::sleep(Duration::from_secs(7 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["telegram: down for 11m: HTTP 502: Bad Gateway"]
        );
        sink.works.store(true, std::sync::atomic::Ordering::SeqCst);
        // The next retry comes within the longest backoff (15 minutes).
        tokio::time::sleep(Duration::from_secs(16 * 60)).await;
        let report = v.health();
        assert!(report.stalled.is_empty(), "{:?}", report.stalled);
        assert_eq!(report.json["queued_posts"], 0);
        shutdown.cancel();
    }

    /// A platform whose listener cannot connect.
    struct Offline(crate::sink::Connection);

    impl Sink for Offline {
        fn platform(&self) -> Platform {
            Platform::Telegram
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::from_secs(1)
        }
        fn global_rate(&self) -> u32 {
            30
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async { Ok("1".into()) })
        }
        fn disconnected(&self) -> Option<crate::sink::Disconnected> {
            self.0.disconnected()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_platform_whose_listener_cannot_connect_is_down_after_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(Offline(Default::default()));
        let v = view_with(
            dir.path(),
            "[ops]\ndelivery_stall_after = \"10m\"\n",
            vec![sink.clone() as Arc<dyn Sink>],
        );
        sink.0.failed("getUpdates failed: a network error");
        tokio::time::advance(Duration::from_secs(9 * 60)).await;
        sink.0.failed("getUpdates failed: Conflict");
        assert!(v.health().stalled.is_empty());
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["telegram: down for 11m: cannot connect: getUpdates failed: Conflict"]
        );
        sink.0.connected();
        assert!(v.health().stalled.is_empty());
    }
}

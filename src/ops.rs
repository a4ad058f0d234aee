//! What operators watch: `/healthz` (is the bot alive, are its feeds readable, is anything
//! stuck) and `/metrics` in Prometheus' text format. Served on `[ops] listen` by a tiny
//! HTTP/1.1 responder — two read-only pages need no web framework.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::Core;

/// Counters kept while the bot runs.
#[derive(Default)]
pub struct Metrics {
    /// (platform, outcome) → count; outcome is `sent` or a failure kind.
    sends: Mutex<BTreeMap<(String, String), u64>>,
    /// (feed, result) → count; result is `updated`, `not_modified` or `error`.
    polls: Mutex<BTreeMap<(String, String), u64>>,
    /// Feeds whose last poll failed.
    failing: Mutex<BTreeMap<String, String>>,
    pub commands: AtomicU64,
}

impl Metrics {
    pub fn count_send(&self, platform: &str, outcome: &str) {
        *self
            .sends
            .lock()
            .expect("metrics")
            .entry((platform.into(), outcome.into()))
            .or_default() += 1;
    }

    pub fn count_poll(&self, feed: &str, result: &str, error: Option<String>) {
        *self
            .polls
            .lock()
            .expect("metrics")
            .entry((feed.into(), result.into()))
            .or_default() += 1;
        let mut failing = self.failing.lock().expect("metrics");
        match error {
            Some(e) => failing.insert(feed.into(), e),
            None => failing.remove(feed),
        };
    }

    pub fn count_command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }
}

/// Serves `/healthz` and `/metrics` on `addr` until `shutdown`.
pub async fn serve(listener: TcpListener, core: std::sync::Arc<Core>, shutdown: CancellationToken) {
    loop {
        let (mut stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "ops endpoint: accept failed");
                    continue;
                }
            },
        };
        let core = core.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            let read = async {
                while len < buf.len() {
                    let n = stream.read(&mut buf[len..]).await?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Ok::<_, std::io::Error>(())
            };
            if tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .is_err()
            {
                return;
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, kind, body) = match path {
                "/healthz" => health(&core),
                "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics(&core)),
                _ => (
                    "404 Not Found",
                    "text/plain",
                    "not found: try /healthz or /metrics\n".to_string(),
                ),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// 200 when every feed's last poll worked, 503 naming the failing feeds otherwise.
fn health(core: &Core) -> (&'static str, &'static str, String) {
    let failing = core.metrics.failing.lock().expect("metrics").clone();
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ok" } else { "degraded" },
        "failing_feeds": failing,
        "queued_posts": core.store.outbox_len(),
        "undeliverable_posts": core.store.dead_count(),
        "articles": core.store.article_count(),
    });
    let status = if failing.is_empty() {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    (status, "application/json", format!("{body}\n"))
}

fn metrics(core: &Core) -> String {
    let mut out = String::new();
    let m = &core.metrics;
    out.push_str("# HELP herald_posts_total Posts attempted, by platform and outcome.\n# TYPE herald_posts_total counter\n");
    for ((platform, outcome), n) in m.sends.lock().expect("metrics").iter() {
        out.push_str(&format!(
            "herald_posts_total{{platform=\"{platform}\",outcome=\"{outcome}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP herald_feed_polls_total Feed polls, by feed and result.\n# TYPE herald_feed_polls_total counter\n");
    for ((feed, result), n) in m.polls.lock().expect("metrics").iter() {
        out.push_str(&format!(
            "herald_feed_polls_total{{feed=\"{}\",result=\"{result}\"}} {n}\n",
            label(feed)
        ));
    }
    let gauges = [
        (
            "herald_commands_total",
            "Chat commands answered.",
            "counter",
            m.commands.load(Ordering::Relaxed) as usize,
        ),
        (
            "herald_articles",
            "Articles stored.",
            "gauge",
            core.store.article_count(),
        ),
        (
            "herald_queued_posts",
            "Posts waiting in the outbox.",
            "gauge",
            core.store.outbox_len(),
        ),
        (
            "herald_undeliverable_posts",
            "Posts set aside after a permanent rejection.",
            "gauge",
            core.store.dead_count(),
        ),
        (
            "herald_failing_feeds",
            "Feeds whose last poll failed.",
            "gauge",
            m.failing.lock().expect("metrics").len(),
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

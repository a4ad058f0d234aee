//! The one health verdict `/healthz` answers with, and the status page and `/status` show:
//! what is stalled, judged from the signs of life (`liveness`), the outbox, and each
//! platform's report of its listener and of the chats it cannot post to yet, against
//! `[ops] stall_after` and `[ops] delivery_stall_after`. A [`Health`] holds the stalled
//! things one a line (the plain-text answer) and the details as JSON (`?format=json`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::ops::liveness::{Failing, Liveness, Reading};
use crate::redact::without_chat_ids;
use crate::sink::{Sink, WaitState};
use crate::store::Store;

/// What `/healthz` says: the stalled things, one line each, and the details as JSON.
pub struct Health {
    pub stalled: Vec<String>,
    pub json: serde_json::Value,
}

/// One thing `/healthz` names as stalled.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stall {
    /// A feed (by its key) failing without a success for `for_`.
    Feed {
        feed: String,
        for_: Duration,
        error: String,
    },
    /// The delivery loop without progress for `for_` while `queued` posts wait.
    Delivery { for_: Duration, queued: usize },
    /// A platform whose every send failed, or whose listener could not connect, for `for_`.
    Platform {
        platform: &'static str,
        for_: Duration,
        error: String,
    },
}

impl Health {
    /// Stalled is: a feed failing without a success for longer than `[ops] stall_after`; the
    /// delivery loop without progress for longer than `[ops] delivery_stall_after` while posts
    /// are due (not while they only wait for a rate limit or a backoff); a platform whose every
    /// send failed for that long (an outage, not one chat's refusal), or whose listener could
    /// not connect for that long; a configured channel whose join was refused. Chats the
    /// platforms cannot post to yet (a Matrix room still being joined) are listed in the JSON;
    /// a configured channel is named by its target as the operator wrote it, a room the bot was
    /// invited to only counted, since its id is private.
    pub fn judge(
        config: &Config,
        store: &Store,
        liveness: &Liveness,
        sinks: &[Arc<dyn Sink>],
    ) -> Health {
        let queued = store.outbox_len();
        let disconnected: Vec<(&'static str, Failing)> = sinks
            .iter()
            .filter_map(|sink| {
                let d = sink.disconnected()?;
                let error = format!("cannot connect: {}", d.error);
                Some((
                    sink.platform().name(),
                    Failing {
                        since: d.since,
                        error,
                    },
                ))
            })
            .collect();
        let reading = liveness.read();
        let now = Instant::now();
        let stalls = stalls(
            &reading,
            now,
            config.feed_stall_after(),
            config.ops.delivery_stall_after,
            queued,
            &disconnected,
        );
        let feed_label = |key: &str| {
            config
                .feeds
                .iter()
                .find(|f| f.key() == key)
                .map_or(key, |f| f.label())
                .to_owned()
        };
        let mut stalled: Vec<String> = stalls
            .iter()
            .map(|stall| match stall {
                Stall::Feed { feed, for_, error } => {
                    format!(
                        "feed {}: failing for {}: {error}",
                        feed_label(feed),
                        human(*for_)
                    )
                }
                Stall::Delivery { for_, queued } => format!(
                    "delivery: stuck for {} (no progress with {queued} {} queued)",
                    human(*for_),
                    if *queued == 1 { "post" } else { "posts" }
                ),
                Stall::Platform {
                    platform,
                    for_,
                    error,
                } => format!(
                    "{platform}: down for {}: {}",
                    human(*for_),
                    without_chat_ids(error)
                ),
            })
            .collect();
        let unwritable = store.unwritable();
        if let Some(problem) = &unwritable {
            let for_ = problem.since.elapsed().unwrap_or_default();
            stalled.insert(
                0,
                format!(
                    "store: cannot write to the data folder {} for {}: {}; nothing is posted until it can be written again",
                    store.dir().display(),
                    human(for_),
                    problem.error
                ),
            );
        }
        let waiting: Vec<_> = sinks.iter().flat_map(|sink| sink.waiting_chats()).collect();
        for w in waiting
            .iter()
            .filter(|w| w.configured && w.state == WaitState::Refused)
        {
            stalled.push(format!(
                "channel {}: refused: {}",
                w.target,
                w.reason.as_deref().unwrap_or("no reason given")
            ));
        }
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
        let failing: serde_json::Map<String, serde_json::Value> = reading
            .feeds
            .into_iter()
            .map(|(feed, f)| {
                let value = serde_json::json!({
                    "error": f.error,
                    "failing_for_seconds": (now - f.since).as_secs(),
                });
                (feed, value)
            })
            .collect();
        let json = serde_json::json!({
            "status": if stalled.is_empty() { "ok" } else { "stalled" },
            "stalled": stalled,
            "failing_feeds": failing,
            "channels_not_joined": channels,
            "other_chats_not_joined": waiting.iter().filter(|w| !w.configured).count(),
            "store": {
                "writable": unwritable.is_none(),
                "data_dir": store.dir().display().to_string(),
                "error": unwritable.as_ref().map(|p| p.error.clone()),
            },
            "queued_posts": queued,
            "undeliverable_posts": store.set_aside_count(),
            "articles": store.article_count(),
        });
        Health { stalled, json }
    }

    /// Nothing is stalled: `/healthz` answers 200, else 503.
    pub fn is_ok(&self) -> bool {
        self.stalled.is_empty()
    }

    /// The plain-text answer: `ok`, or each stalled thing on a line of its own.
    pub fn text(&self) -> String {
        if self.is_ok() {
            "ok\n".to_string()
        } else {
            let mut body = self.stalled.join("\n");
            body.push('\n');
            body
        }
    }

    /// The JSON answer, on one line.
    pub fn json_text(&self) -> String {
        format!("{}\n", self.json)
    }
}

/// The stall rules, at `now`: feeds failing for longer than `feed_after`; the delivery loop
/// without progress for longer than `delivery_after` while `queued` posts wait and none
/// only waits for a rate limit or a backoff; platforms failing every send, or unable to
/// connect (`disconnected`: each platform's listener failing since), for longer than
/// `delivery_after`.
fn stalls(
    reading: &Reading,
    now: Instant,
    feed_after: Duration,
    delivery_after: Duration,
    queued: usize,
    disconnected: &[(&'static str, Failing)],
) -> Vec<Stall> {
    let mut stalls: Vec<Stall> = reading
        .feeds
        .iter()
        .filter(|(_, f)| now - f.since > feed_after)
        .map(|(feed, f)| Stall::Feed {
            feed: feed.clone(),
            for_: now - f.since,
            error: f.error.clone(),
        })
        .collect();
    let since = reading.delivery_quiet_since;
    if queued > 0 && now > since && now - since > delivery_after {
        stalls.push(Stall::Delivery {
            for_: now - since,
            queued,
        });
    }
    let listeners: BTreeMap<&'static str, &Failing> =
        disconnected.iter().map(|(p, f)| (*p, f)).collect();
    let platforms: BTreeSet<&'static str> = reading
        .sends
        .keys()
        .chain(listeners.keys())
        .copied()
        .collect();
    for platform in platforms {
        // The longer of the two failures speaks for the platform.
        let failing = [
            reading.sends.get(platform),
            listeners.get(platform).copied(),
        ]
        .into_iter()
        .flatten()
        .filter(|f| now - f.since > delivery_after)
        .min_by_key(|f| f.since);
        if let Some(f) = failing {
            stalls.push(Stall::Platform {
                platform,
                for_: now - f.since,
                error: f.error.clone(),
            });
        }
    }
    stalls
}

/// A duration as an operator reads it: its two largest units, `45s`, `5m 3s`, `2h 3m`,
/// `3d 4h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (big, small, big_unit, small_unit) = match s {
        0..60 => return format!("{s}s"),
        60..3600 => (s / 60, s % 60, "m", "s"),
        3600..86400 => (s / 3600, s % 3600 / 60, "h", "m"),
        _ => (s / 86400, s % 86400 / 3600, "d", "h"),
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::{Platform, Target};
    use crate::config::Config;
    use crate::ops::status::Watch;
    use crate::sink::testing::{Answers, FailingSends, FakeSink, Working};
    use crate::sink::{BoxFuture, ChatWaiting, SendError, Sink, WaitState};
    use crate::store::Store;
    use std::sync::OnceLock;
    use std::time::SystemTime;
    use tokio_util::sync::CancellationToken;

    fn waiting(chat: &str, configured: bool, state: WaitState) -> ChatWaiting {
        ChatWaiting {
            target: Target::new(Platform::Matrix, chat),
            configured,
            state,
            reason: Some("M_LIMIT_EXCEEDED".into()),
            retry_at: None,
        }
    }

    fn watch(dir: &std::path::Path, chats: Vec<ChatWaiting>) -> Watch {
        let sink: Arc<dyn Sink> = Arc::new(FakeSink::matrix(
            FailingSends,
            chats,
            Duration::from_secs(1),
        ));
        watch_with(dir, "", vec![sink])
    }

    fn watch_with(dir: &std::path::Path, config: &str, sinks: Vec<Arc<dyn Sink>>) -> Watch {
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
        let v = watch(
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
        let v = watch(
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
        let v = watch_with(dir.path(), &config, vec![]);
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

    impl Answers for Flaky {
        fn answer<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
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
    ) -> (Watch, Arc<FakeSink<Flaky>>, CancellationToken) {
        delivering_paused(dir, answer, false).await
    }

    /// The same, with every chat paused by an operator first when `paused`.
    async fn delivering_paused(
        dir: &std::path::Path,
        answer: Answer,
        paused: bool,
    ) -> (Watch, Arc<FakeSink<Flaky>>, CancellationToken) {
        let sink = Arc::new(FakeSink::telegram(Flaky {
            answer,
            works: Default::default(),
        }));
        let v = watch_with(
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

    #[tokio::test(start_paused = true)]
    async fn a_platform_whose_listener_cannot_connect_is_down_after_the_threshold() {
        let dir = tempfile::tempdir().unwrap();
        // A platform whose listener cannot connect.
        let sink = Arc::new(FakeSink::telegram(Working));
        let v = watch_with(
            dir.path(),
            "[ops]\ndelivery_stall_after = \"10m\"\n",
            vec![sink.clone() as Arc<dyn Sink>],
        );
        sink.connection.failed("getUpdates failed: a network error");
        tokio::time::advance(Duration::from_secs(9 * 60)).await;
        sink.connection.failed("getUpdates failed: Conflict");
        assert!(v.health().stalled.is_empty());
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(
            v.health().stalled,
            ["telegram: down for 11m: cannot connect: getUpdates failed: Conflict"]
        );
        sink.connection.connected();
        assert!(v.health().stalled.is_empty());
    }

    #[test]
    fn durations_read_in_their_two_largest_units() {
        let human = |s| human(Duration::from_secs(s));
        assert_eq!(human(45), "45s");
        assert_eq!(human(300), "5m");
        assert_eq!(human(303), "5m 3s");
        assert_eq!(human(2 * 3600 + 3 * 60 + 59), "2h 3m");
        assert_eq!(human(3 * 86400 + 4 * 3600), "3d 4h");
    }
}

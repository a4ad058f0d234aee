//! What the whole bot counts, kept in a Prometheus registry (`prometheus-client`): posts per
//! platform and outcome with their send latency, posts put back to be retried, polls per
//! feed and result with their duration, new articles per feed, items skipped, chat commands
//! answered, the feeds failing now, and the build. Beside the counters, [`Health`]: since
//! when each feed, the delivery loop and each platform have been failing, for `/healthz`.
//! Written by delivery, polling, the platforms and the command service; read by the
//! operators' endpoint (`ops`), which adds the store's sizes when it is scraped.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Counters kept while the bot runs.
pub struct Metrics {
    registry: Registry,
    /// platform, outcome (`sent`, `edited` or a failure kind).
    posts: Family<Labels, Counter>,
    /// platform: sends that failed and stay queued to be tried again (rate limited, a
    /// temporary failure, a configured channel unreachable for now).
    retried: Family<Labels, Counter>,
    /// platform: how long a send or edit took, the platform's answer included.
    send_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    /// feed, result (`updated`, `not_modified`, `error`).
    polls: Family<Labels, Counter>,
    /// feed: how long a poll took (fetch, parse, store).
    poll_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    /// feed: articles new to the feed, stored by a poll (posted or not).
    new_articles: Family<Labels, Counter>,
    /// feed: items with neither a title, a text nor a link.
    skipped: Family<Labels, Counter>,
    commands: Counter,
    failing_feeds: Gauge,
    articles: Gauge,
    queued: Gauge,
    undeliverable: Gauge,
    /// What `/healthz` judges by (the feeds failing now among it).
    health: Health,
}

impl Default for Metrics {
    fn default() -> Metrics {
        fn seconds() -> Histogram {
            // 5 ms to about 40 s.
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        }
        let mut registry = Registry::default();
        let metrics = Metrics {
            posts: Family::default(),
            retried: Family::default(),
            send_seconds: Family::new_with_constructor(seconds),
            polls: Family::default(),
            poll_seconds: Family::new_with_constructor(seconds),
            new_articles: Family::default(),
            skipped: Family::default(),
            commands: Counter::default(),
            failing_feeds: Gauge::default(),
            articles: Gauge::default(),
            queued: Gauge::default(),
            undeliverable: Gauge::default(),
            health: Health::default(),
            registry: Registry::default(),
        };
        registry.register(
            "herald_posts",
            "Posts and edits attempted, by platform and outcome",
            metrics.posts.clone(),
        );
        registry.register(
            "herald_posts_retried",
            "Sends that failed and stay queued to be tried again (rate limited, temporary failure, channel unreachable), by platform",
            metrics.retried.clone(),
        );
        registry.register(
            "herald_send_seconds",
            "How long a send or edit took, by platform",
            metrics.send_seconds.clone(),
        );
        registry.register(
            "herald_feed_polls",
            "Feed polls, by feed and result",
            metrics.polls.clone(),
        );
        registry.register(
            "herald_poll_seconds",
            "How long a feed's poll took (fetch, parse, store), by feed",
            metrics.poll_seconds.clone(),
        );
        registry.register(
            "herald_articles_new",
            "Articles new to a feed, stored by its polls (posted or not), by feed",
            metrics.new_articles.clone(),
        );
        registry.register(
            "herald_feed_items_skipped",
            "Feed items skipped for having neither a title, a text nor a link",
            metrics.skipped.clone(),
        );
        registry.register(
            "herald_commands",
            "Chat commands answered",
            metrics.commands.clone(),
        );
        registry.register(
            "herald_failing_feeds",
            "Feeds whose last poll failed",
            metrics.failing_feeds.clone(),
        );
        registry.register(
            "herald_articles",
            "Articles stored",
            metrics.articles.clone(),
        );
        registry.register(
            "herald_queued_posts",
            "Posts and edits waiting in the outbox",
            metrics.queued.clone(),
        );
        registry.register(
            "herald_undeliverable_posts",
            "Posts set aside after a permanent rejection",
            metrics.undeliverable.clone(),
        );
        registry.register(
            "herald_build",
            "The running version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    pub fn count_send(&self, platform: &str, outcome: &str) {
        self.posts
            .get_or_create(&vec![
                ("platform", platform.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// A send to `platform` failed and its post stays queued to be tried again.
    pub fn count_retry(&self, platform: &str) {
        self.retried
            .get_or_create(&vec![("platform", platform.to_owned())])
            .inc();
    }

    /// How long one send (or edit) to `platform` took.
    pub fn observe_send(&self, platform: &str, took: Duration) {
        self.send_seconds
            .get_or_create(&vec![("platform", platform.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn count_poll(&self, feed: &str, result: &str, error: Option<String>) {
        self.polls
            .get_or_create(&vec![
                ("feed", feed.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
        let failing = self.health.feed_polled(feed, error);
        self.failing_feeds.set(failing as i64);
    }

    /// A poll of `feed` stored `new` articles it had not carried before.
    pub fn count_new_articles(&self, feed: &str, new: usize) {
        // Created at 0 on the first poll, so a rate over it starts at the first article.
        let counter = self
            .new_articles
            .get_or_create(&vec![("feed", feed.to_owned())]);
        counter.inc_by(new as u64);
    }

    /// How long one poll of `feed` took.
    pub fn observe_poll(&self, feed: &str, took: Duration) {
        self.poll_seconds
            .get_or_create(&vec![("feed", feed.to_owned())])
            .observe(took.as_secs_f64());
    }

    pub fn count_skipped(&self, feed: &str, items: usize) {
        if items > 0 {
            self.skipped
                .get_or_create(&vec![("feed", feed.to_owned())])
                .inc_by(items as u64);
        }
    }

    pub fn count_command(&self) {
        self.commands.inc();
    }

    /// Feeds whose last poll failed, with the error.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.health
            .failing_feeds()
            .into_iter()
            .map(|(feed, failing)| (feed, failing.error))
            .collect()
    }

    /// What `/healthz` judges by.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Everything in the OpenMetrics text format, with the store's sizes as they are now.
    pub fn exposition(&self, articles: usize, queued: usize, undeliverable: usize) -> String {
        self.articles.set(articles as i64);
        self.queued.set(queued as i64);
        self.undeliverable.set(undeliverable as i64);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// What `/healthz` judges by, noted where it happens: since when each feed has failed
/// without a success, the delivery loop's heartbeat, and since when each platform has
/// failed every send or its listener has failed to connect. On tokio's clock, so tests can
/// pause it.
pub struct Health(Mutex<HealthState>);

struct HealthState {
    feeds: BTreeMap<String, Failing>,
    delivery: Heartbeat,
    /// Per platform: the temporary failures of every send since the last answer that was
    /// not one (a success, a rate limit, a chat's own refusal).
    sends: BTreeMap<&'static str, Failing>,
}

/// Something failing without a break: since when, and its latest error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    pub since: Instant,
    pub error: String,
}

/// The delivery loop's heartbeat.
struct Heartbeat {
    /// The last sign of progress: a delivery step done (a post sent, edited, set aside or
    /// put back after the platform's answer), or a pass that left nothing due.
    active: Instant,
    /// A pass ended with nothing due before this (rate limits, backoff): the loop sleeps
    /// until then, and that is no stall.
    idle_until: Option<Instant>,
    /// The pass under way hit an error of its own (the store): its end is no progress.
    troubled: bool,
    /// The previous pass ended in trouble, so the next one's start is no progress either.
    last_troubled: bool,
}

/// One thing `/healthz` names as stalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stall {
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

impl Default for Health {
    fn default() -> Health {
        Health(Mutex::new(HealthState {
            feeds: BTreeMap::new(),
            delivery: Heartbeat {
                active: Instant::now(),
                idle_until: None,
                troubled: false,
                last_troubled: false,
            },
            sends: BTreeMap::new(),
        }))
    }
}

/// Notes a failure of `key` (`Some(error)`: kept since its first time, with the latest
/// error) or its end (`None`).
fn note<K: Ord>(map: &mut BTreeMap<K, Failing>, key: K, error: Option<&str>) {
    match error {
        Some(error) => {
            let now = Instant::now();
            map.entry(key)
                .and_modify(|f| error.clone_into(&mut f.error))
                .or_insert_with(|| Failing {
                    since: now,
                    error: error.to_owned(),
                });
        }
        None => {
            map.remove(&key);
        }
    }
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.0.lock().expect("health")
    }

    /// A poll of `feed` failed with `error`, or worked (`None`). Returns how many feeds fail.
    pub fn feed_polled(&self, feed: &str, error: Option<String>) -> usize {
        let mut state = self.state();
        note(&mut state.feeds, feed.to_owned(), error.as_deref());
        state.feeds.len()
    }

    /// The feeds whose last poll failed: since when, and the latest error.
    pub fn failing_feeds(&self) -> BTreeMap<String, Failing> {
        self.state().feeds.clone()
    }

    /// The delivery loop starts a pass over the outbox.
    pub fn delivery_pass_started(&self) {
        let mut state = self.state();
        let now = Instant::now();
        let beat = &mut state.delivery;
        if !beat.last_troubled {
            beat.active = now;
        }
        beat.idle_until = None;
        beat.troubled = false;
    }

    /// The delivery loop did a step: a post sent, edited, set aside or put back after the
    /// platform's answer.
    pub fn delivery_step(&self) {
        self.state().delivery.active = Instant::now();
    }

    /// The delivery loop hit an error of its own (the store could not be read or written).
    pub fn delivery_trouble(&self) {
        self.state().delivery.troubled = true;
    }

    /// The delivery loop ended a pass; what still waits is due at `next_due`.
    pub fn delivery_pass_ended(&self, next_due: Option<Instant>) {
        let mut state = self.state();
        let now = Instant::now();
        let beat = &mut state.delivery;
        beat.last_troubled = beat.troubled;
        if !beat.troubled {
            beat.active = now;
            beat.idle_until = next_due;
        }
    }

    /// A send to `platform` was answered: with a temporary failure (`Some(reason)`: an
    /// outage, a timeout, a 5xx), or otherwise (`None`: the platform is up).
    pub fn platform_answered(&self, platform: &'static str, temporary: Option<&str>) {
        note(&mut self.state().sends, platform, temporary);
    }

    /// What is stalled now: feeds failing for longer than `feed_after`; the delivery loop
    /// without progress for longer than `delivery_after` while `queued` posts wait and none
    /// only waits for a rate limit or a backoff; platforms failing every send, or unable to
    /// connect (`disconnected`: each platform's listener failing since), for longer than
    /// `delivery_after`.
    pub fn stalled(
        &self,
        feed_after: Duration,
        delivery_after: Duration,
        queued: usize,
        disconnected: &[(&'static str, Failing)],
    ) -> Vec<Stall> {
        let state = self.state();
        let now = Instant::now();
        let mut stalls: Vec<Stall> = state
            .feeds
            .iter()
            .filter(|(_, f)| now - f.since > feed_after)
            .map(|(feed, f)| Stall::Feed {
                feed: feed.clone(),
                for_: now - f.since,
                error: f.error.clone(),
            })
            .collect();
        let beat = &state.delivery;
        let since = beat
            .idle_until
            .map_or(beat.active, |idle| idle.max(beat.active));
        if queued > 0 && now > since && now - since > delivery_after {
            stalls.push(Stall::Delivery {
                for_: now - since,
                queued,
            });
        }
        let listeners: BTreeMap<&'static str, &Failing> =
            disconnected.iter().map(|(p, f)| (*p, f)).collect();
        let platforms: std::collections::BTreeSet<&'static str> = state
            .sends
            .keys()
            .chain(listeners.keys())
            .copied()
            .collect();
        for platform in platforms {
            // The longer of the two failures speaks for the platform.
            let failing = [state.sends.get(platform), listeners.get(platform).copied()]
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

    #[test]
    fn the_exposition_has_each_family_with_its_labels_escaped() {
        let m = Metrics::default();
        m.count_send("telegram", "sent");
        m.count_send("telegram", "sent");
        m.observe_send("telegram", Duration::from_millis(30));
        m.count_poll(
            "https://example.org/\"feed\"",
            "error",
            Some("HTTP 500".into()),
        );
        m.observe_poll("en.xml", Duration::from_millis(12));
        m.count_new_articles("en.xml", 3);
        m.count_new_articles("en.xml", 0);
        m.count_retry("matrix");
        m.count_command();
        let text = m.exposition(7, 3, 1);
        for line in [
            "herald_posts_total{platform=\"telegram\",outcome=\"sent\"} 2",
            "herald_feed_polls_total{feed=\"https://example.org/\\\"feed\\\"\",result=\"error\"} 1",
            "herald_send_seconds_count{platform=\"telegram\"} 1",
            "herald_poll_seconds_count{feed=\"en.xml\"} 1",
            "herald_articles_new_total{feed=\"en.xml\"} 3",
            "herald_posts_retried_total{platform=\"matrix\"} 1",
            "herald_commands_total 1",
            "herald_failing_feeds 1",
            "herald_articles 7",
            "herald_queued_posts 3",
            "herald_undeliverable_posts 1",
            "herald_build_info{version=\"",
            "# EOF",
        ] {
            assert!(text.contains(line), "`{line}` missing:\n{text}");
        }
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

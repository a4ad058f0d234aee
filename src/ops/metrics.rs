//! What the whole bot counts, kept in a Prometheus registry (`prometheus-client`): posts per
//! platform and outcome with their send latency, posts put back to be retried, polls per
//! feed and result with their duration, new articles per feed, items skipped, chat commands
//! answered, the feeds failing now, and the build. Written by delivery, polling, the
//! platforms and the command service; read by `/metrics` (see `router`), which adds the
//! store's sizes when it is scraped. The metrics also carry the [`Liveness`] `/healthz`
//! judges by, so that whoever is handed them can note its signs of life; a poll counted
//! notes its feed's failure or success there.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::ops::liveness::Liveness;

type Labels = Vec<(&'static str, String)>;

/// Counters kept while the bot runs.
pub struct Metrics {
    registry: Registry,
    /// platform, outcome (`sent`, `edited` or a failure kind).
    posts: Family<Labels, Counter>,
    /// platform: sends that failed and stay queued to be tried again (rate limited, a
    /// temporary failure, a configured channel unreachable for now).
    retried: Family<Labels, Counter>,
    /// platform, reason: chats forgotten because the platform said they are gone for good.
    forgotten: Family<Labels, Counter>,
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
    liveness: Liveness,
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
            forgotten: Family::default(),
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
            liveness: Liveness::default(),
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
            "herald_chats_forgotten",
            "Chats forgotten (settings, subscription, queue and sent records) because the platform said they are gone for good, by platform and reason",
            metrics.forgotten.clone(),
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

    /// A chat of `platform` forgotten because it is gone for good (`reason`: blocked,
    /// kicked, not_found, deactivated, left, other).
    pub fn count_forgotten(&self, platform: &str, reason: &str) {
        self.forgotten
            .get_or_create(&vec![
                ("platform", platform.to_owned()),
                ("reason", reason.to_owned()),
            ])
            .inc();
    }

    /// How long one send (or edit) to `platform` took.
    pub fn observe_send(&self, platform: &str, took: Duration) {
        self.send_seconds
            .get_or_create(&vec![("platform", platform.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// A poll of `feed` ended with `result`; its `error`, or its success (`None`), is noted
    /// in the liveness too, and the failing feeds' gauge follows.
    pub fn count_poll(&self, feed: &str, result: &str, error: Option<String>) {
        self.polls
            .get_or_create(&vec![
                ("feed", feed.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
        let failing = self.liveness.feed_polled(feed, error);
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

    /// The signs of life `/healthz` judges by.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
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
}

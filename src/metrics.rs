//! Counters the whole bot shares: posts per platform and outcome, polls per feed and
//! result, the feeds failing now, and chat commands answered. Written by delivery, polling
//! and the command service; read by the operators' endpoint (`ops`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters kept while the bot runs.
#[derive(Default)]
pub struct Metrics {
    /// (platform, outcome) → count; outcome is `sent` or a failure kind.
    sends: Mutex<BTreeMap<(String, String), u64>>,
    /// (feed, result) → count; result is `updated`, `not_modified` or `error`.
    polls: Mutex<BTreeMap<(String, String), u64>>,
    /// Feeds whose last poll failed.
    failing: Mutex<BTreeMap<String, String>>,
    /// feed → items skipped for having neither a title, a text nor a link.
    skipped: Mutex<BTreeMap<String, u64>>,
    commands: AtomicU64,
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

    pub fn count_skipped(&self, feed: &str, items: usize) {
        if items > 0 {
            *self
                .skipped
                .lock()
                .expect("metrics")
                .entry(feed.into())
                .or_default() += items as u64;
        }
    }

    pub fn count_command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Posts by (platform, outcome).
    pub fn sends(&self) -> BTreeMap<(String, String), u64> {
        self.sends.lock().expect("metrics").clone()
    }

    /// Polls by (feed, result).
    pub fn polls(&self) -> BTreeMap<(String, String), u64> {
        self.polls.lock().expect("metrics").clone()
    }

    /// Feeds whose last poll failed, with the error.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.failing.lock().expect("metrics").clone()
    }

    /// Feed items skipped (nothing to show), by feed.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        self.skipped.lock().expect("metrics").clone()
    }

    /// Chat commands answered.
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }
}

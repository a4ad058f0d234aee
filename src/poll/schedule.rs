//! When each feed is polled: every feed has a task of its own that polls it every
//! `poll_interval` until shutdown (`every_interval`), so one slow or broken feed never
//! delays another; a feed that fails is skipped by its task, backing off exponentially
//! (capped), until its wait is over (`Backoffs`, `retry_delay`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::report::{self, By};
use super::{FeedOutcome, PollError, Poller};
use crate::config::{Config, FeedConfig};
use crate::delivery::Delivery;
use crate::ops::metrics::Metrics;
use crate::store::Store;

/// Starts one task per feed, each running `every_interval`.
pub fn spawn_feeds(
    poller: &Arc<Poller>,
    config: &Arc<Config>,
    store: &Store,
    metrics: &Arc<Metrics>,
    delivery: &Arc<Delivery>,
    shutdown: &CancellationToken,
) -> tokio::task::JoinSet<()> {
    let mut feed_tasks = tokio::task::JoinSet::new();
    for index in 0..config.feeds.len() {
        feed_tasks.spawn(every_interval(
            poller.clone(),
            config.clone(),
            index,
            store.clone(),
            metrics.clone(),
            delivery.clone(),
            shutdown.clone(),
        ));
    }
    feed_tasks
}

/// Polls `config.feeds[index]` every `poll_interval` (a feed backing off is skipped until
/// its wait is over), reports each poll and wakes the delivery when a poll queued posts or
/// edits; returns at `shutdown`, also in the middle of a poll.
pub async fn every_interval(
    poller: Arc<Poller>,
    config: Arc<Config>,
    index: usize,
    store: Store,
    metrics: Arc<Metrics>,
    delivery: Arc<Delivery>,
    shutdown: CancellationToken,
) {
    let feed = &config.feeds[index];
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            _ = shutdown.cancelled() => break,
            result = poller.poll_feed(&config, &store, feed, false) => result,
        };
        let took = started.elapsed();
        report::poll(
            &config,
            &metrics,
            feed.key(),
            &result,
            By::Schedule { took },
        );
        if matches!(&result, Ok(FeedOutcome::Updated { queued, edits, .. }) if queued + edits > 0) {
            delivery.wake();
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(config.bot.poll_interval) => {}
        }
    }
}

/// A feed's failures in a row and when it may be tried again.
struct Backoff {
    failures: u32,
    next: Instant,
}

/// The feeds that failed their last poll, and how long each waits.
#[derive(Default)]
pub(super) struct Backoffs(Mutex<HashMap<String, Backoff>>);

impl Backoffs {
    /// Whether the feed is still waiting after failures.
    pub(super) fn waiting(&self, key: &str) -> bool {
        self.0
            .lock()
            .expect("backoff lock")
            .get(key)
            .is_some_and(|b| b.next > Instant::now())
    }

    /// Counts a poll's result: a success ends the feed's failures, a failure adds one and
    /// sets the wait before the next try. Returns when the next poll comes, for the
    /// operators' status (the feed's loop looks every `poll_interval`; after a failure, at
    /// the first look past the wait).
    pub(super) fn note(
        &self,
        config: &Config,
        feed: &FeedConfig,
        result: &Result<FeedOutcome, PollError>,
    ) -> Duration {
        let key = feed.key();
        let mut backoff = self.0.lock().expect("backoff lock");
        let interval = config.bot.poll_interval;
        let mut next_in = interval;
        match result {
            Ok(_) => {
                if backoff.remove(key).is_some() {
                    tracing::info!(feed = feed.label(), "feed recovered");
                }
            }
            Err(e) => {
                let entry = backoff.entry(key.to_string()).or_insert(Backoff {
                    failures: 0,
                    next: Instant::now(),
                });
                entry.failures += 1;
                let wait = retry_delay(
                    entry.failures,
                    config.bot.poll_interval,
                    config.fetch.max_backoff,
                );
                entry.next = Instant::now() + wait;
                next_in =
                    interval.saturating_mul(wait.div_duration_f64(interval).ceil().max(1.0) as u32);
                tracing::warn!(feed = feed.label(), error = %e, failures = entry.failures, retry_in = ?wait, "feed failed");
            }
        }
        next_in
    }
}

/// The wait before retrying a feed after `failures` failures in a row: one minute doubling,
/// capped at `max`, and never shorter than the poll interval.
pub fn retry_delay(failures: u32, poll_interval: Duration, max: Duration) -> Duration {
    let exp = Duration::from_secs(60)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
    exp.min(max).max(poll_interval.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let poll = Duration::from_secs(30);
        let max = Duration::from_secs(3600);
        assert_eq!(retry_delay(1, poll, max), Duration::from_secs(60));
        assert_eq!(retry_delay(2, poll, max), Duration::from_secs(120));
        assert_eq!(retry_delay(30, poll, max), max);
        assert_eq!(
            retry_delay(1, Duration::from_secs(600), max),
            Duration::from_secs(600)
        );
    }
}

//! What a poll tells, in one place: each feed's poll is counted in the metrics and said in
//! the log by `poll`, the same whoever polled (`By`): the feed's own schedule, an
//! operator's `/poll` or `herald poll --once`. Also what the operator's chat is told of
//! each feed (`for_operator`) and how a one-shot run ends (`once_finished`).

use std::time::Duration;

use super::{FeedOutcome, PollError};
use crate::commands::FeedPolled;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::store::Store;

/// Who polled, which decides what the report adds beyond the counts.
#[derive(Clone, Copy, Debug)]
pub enum By {
    /// The feed's own loop: the poll's duration is observed too (unless the feed was
    /// skipped, backing off); only what changed is logged.
    Schedule { took: Duration },
    /// An operator's `/poll`: only what changed is logged.
    Operator,
    /// `herald poll --once`: every feed is logged, also when nothing changed.
    Once,
}

/// Counts and logs one feed's poll. A failure is not logged here: the poll said it once,
/// where it failed (with the feed's name and the retry).
pub fn poll(
    config: &Config,
    metrics: &Metrics,
    key: &str,
    result: &Result<FeedOutcome, PollError>,
    by: By,
) {
    if let By::Schedule { took } = by
        && !matches!(result, Ok(FeedOutcome::Waiting))
    {
        metrics.observe_poll(key, took);
    }
    count(metrics, key, result);
    if let Ok(outcome) = result {
        say(config, key, outcome, matches!(by, By::Once));
    }
}

/// `poll` for each of `results`, in their order.
pub fn all(
    config: &Config,
    metrics: &Metrics,
    results: &[(String, Result<FeedOutcome, PollError>)],
    by: By,
) {
    for (key, result) in results {
        poll(config, metrics, key, result, by);
    }
}

/// What `/poll` answers of one feed: its name, new articles and posts queued, or why it
/// could not be read.
pub fn for_operator(
    config: &Config,
    key: String,
    result: Result<FeedOutcome, PollError>,
) -> FeedPolled {
    let name = label(config, &key).to_string();
    let result = match result {
        Ok(FeedOutcome::Updated { new, queued, .. }) => Ok((new, queued)),
        Ok(FeedOutcome::NotModified | FeedOutcome::Waiting) => Ok((0, 0)),
        Err(e) => Err(e.to_string()),
    };
    FeedPolled { name, result }
}

/// The last words of `herald poll --once`, after its polls (`results`) and the delivery
/// of `sent` posts: whether posts stay queued (`empty`: none do), and, when no feed
/// brought anything new, where the articles they carry were seen before.
pub fn once_finished(
    config: &Config,
    store: &Store,
    results: &[(String, Result<FeedOutcome, PollError>)],
    sent: usize,
    empty: bool,
) {
    let nothing_new = results.iter().all(|(_, r)| {
        matches!(
            r,
            Ok(FeedOutcome::NotModified | FeedOutcome::Updated { new: 0, .. })
        )
    });
    if !empty {
        tracing::warn!(
            queued = store.outbox_len(),
            "some posts could not be delivered yet; they stay queued"
        );
    }
    if sent == 0 && empty && nothing_new && !results.is_empty() {
        tracing::info!(
            "nothing new to post: every article in these feeds was already seen from the data folder {} (and posted where due); to start afresh, for example to see the demo again, stop Herald and delete that folder",
            config.bot.data_dir.display()
        );
    }
    tracing::info!("poll finished: {}", plural(sent, "post sent", "posts sent"));
}

/// How logs name the feed with this key.
fn label<'a>(config: &'a Config, key: &'a str) -> &'a str {
    config
        .feeds
        .iter()
        .find(|f| f.key() == key)
        .map_or(key, |f| f.label())
}

/// Says in words what one feed's poll did. `always`: also when nothing changed (a one-shot
/// run reports every feed; the running bot only what is new).
fn say(config: &Config, key: &str, outcome: &FeedOutcome, always: bool) {
    let name = label(config, key);
    if let FeedOutcome::Updated { changed, edits, .. } = *outcome
        && changed > 0
    {
        tracing::info!(
            feed = name,
            "the text of {} changed in the feed; {} queued for the messages that carried {}",
            plural(changed, "known article", "known articles"),
            plural(edits, "edit", "edits"),
            if changed == 1 { "it" } else { "them" },
        );
    }
    match *outcome {
        FeedOutcome::Updated {
            new,
            queued: 0,
            first_time: true,
            ..
        } if new > 0 => tracing::info!(
            feed = name,
            "first poll of this feed: new articles — {} stored, none posted, because a feed's first poll only records what it already carries (`backfill = N` posts its newest N instead); `herald latest` lists them",
            new
        ),
        FeedOutcome::Updated {
            new,
            queued,
            first_time,
            held_back,
            ..
        } if new > 0 => tracing::info!(
            feed = name,
            "{}new articles — {} stored, {} queued{}",
            if first_time {
                "first poll of this feed: "
            } else {
                ""
            },
            new,
            plural(queued, "post", "posts"),
            if held_back > 0 {
                format!(" ({held_back} held back as a mass change)")
            } else {
                String::new()
            }
        ),
        FeedOutcome::Updated { .. } if always => {
            tracing::info!(feed = name, "read; nothing new since the last poll")
        }
        FeedOutcome::NotModified if always => tracing::info!(
            feed = name,
            "unchanged since the last poll (the server answered \"not modified\")"
        ),
        FeedOutcome::Waiting if always => tracing::info!(
            feed = name,
            "skipped: still waiting before retrying after failures"
        ),
        _ => tracing::debug!(feed = name, ?outcome, "polled"),
    }
}

/// "1 post", "3 posts".
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn count(metrics: &Metrics, feed: &str, result: &Result<FeedOutcome, PollError>) {
    match result {
        Ok(FeedOutcome::Waiting) => {}
        Ok(FeedOutcome::NotModified) => {
            metrics.count_poll(feed, "not_modified", None);
            metrics.count_new_articles(feed, 0);
        }
        Ok(FeedOutcome::Updated { skipped, new, .. }) => {
            metrics.count_poll(feed, "updated", None);
            metrics.count_new_articles(feed, *new);
            metrics.count_skipped(feed, *skipped);
        }
        Err(e) => metrics.count_poll(feed, "error", Some(e.to_string())),
    }
}

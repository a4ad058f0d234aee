//! Polling: every feed fetched concurrently (one slow or broken feed never delays another),
//! parsed, and what is new committed to the store together with the deliveries it causes.
//! Parsing and committing go one feed at a time, so each feed sees what the one before
//! stored (`Poller::choosing`). A failing feed is retried with exponential backoff, capped.
//!
//! What gets posted: on a feed's first successful fetch only its newest `backfill` items;
//! afterwards every new item, except one first seen more than `max_age` after its
//! publication (stored, but news that old is not news), and except a mass change: more
//! than `mass_change_limit` never-seen items older than the newest item already seen from
//! the feed (a site migration that re-keys its history) are stored without being posted.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::article::{Article, Lang, LangSet, Target};
use crate::config::{Config, FeedConfig, FeedSource};
use crate::feed::parse::{FeedInfo, KnownPosts, Parsed, parse_document};
use crate::feed::{FeedError, Fetched, Fetcher};
use crate::lang;
use crate::store::{FeedState, Store, StoreError};

/// What one feed's poll did.
#[derive(Debug)]
pub enum FeedOutcome {
    NotModified,
    Updated {
        new: usize,
        queued: usize,
        /// This was the feed's first successful poll: only `backfill` items are posted.
        first_time: bool,
        /// Items with nothing to show (no title, text or link).
        skipped: usize,
        /// Never-seen items stored but not posted because they came as a mass change.
        held_back: usize,
        /// Known articles whose text changed, and the edits queued for their messages.
        changed: usize,
        edits: usize,
    },
    /// Skipped: still backing off after failures.
    Waiting,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the store knows of the posts of the feed being read: the languages it stored
/// them in, and the articles other feeds brought, looked up on the parser's thread.
struct StoredPosts {
    feed: HashMap<String, Lang>,
    store: Store,
    /// Every language an article may be stored in here.
    langs: std::sync::Arc<[Lang]>,
}

impl KnownPosts for StoredPosts {
    fn in_feed(&self, post: &str) -> Option<Lang> {
        self.feed.get(post).cloned()
    }

    fn elsewhere(&self, post: &str) -> Option<Lang> {
        // A store that cannot be read here fails the poll's commit right after.
        let mut stored = self.langs.iter().filter(|lang| {
            self.store
                .has_article(&Article::make_id(lang, post))
                .unwrap_or(false)
        });
        let first = stored.next()?;
        stored.next().is_none().then(|| first.clone())
    }
}

/// A feed's failures in a row and when it may be tried again.
struct Backoff {
    failures: u32,
    next: Instant,
}

pub struct Poller {
    fetcher: Fetcher,
    /// Built once from the configuration's languages.
    detector: std::sync::Arc<lang::Detector>,
    backoff: Mutex<HashMap<String, Backoff>>,
    /// One poll of a feed at a time: an operator's `/poll` waits for the feed's scheduled
    /// poll under way (and the other way round), so the two never commit the same items.
    running: HashMap<String, tokio::sync::Mutex<()>>,
    /// One feed at a time chooses its items' languages and commits them (fetches still run
    /// side by side): a post two editions list at once, whose language the detector is
    /// unsure of, is then filed by the second as the first stored it, not twice.
    choosing: tokio::sync::Mutex<()>,
    /// The languages articles are filed under here: the detector's and the feeds'.
    stored_langs: std::sync::Arc<[Lang]>,
}

impl Poller {
    pub fn new(config: &Config) -> anyhow::Result<Poller> {
        let detector = lang::Detector::for_config(config);
        let mut langs: Vec<Lang> = detector.languages().cloned().collect();
        for feed in &config.feeds {
            if !langs.contains(&feed.lang) {
                langs.push(feed.lang.clone());
            }
        }
        Ok(Poller {
            fetcher: Fetcher::new(&config.fetch)?,
            detector: std::sync::Arc::new(detector),
            stored_langs: langs.into(),
            backoff: Mutex::new(HashMap::new()),
            choosing: tokio::sync::Mutex::new(()),
            running: config
                .feeds
                .iter()
                .map(|f| (f.key().to_string(), tokio::sync::Mutex::new(())))
                .collect(),
        })
    }

    /// Polls every feed concurrently; with `force`, feeds backing off are tried too.
    /// Returns each feed's key and outcome, in config order.
    pub async fn poll_all(
        &self,
        config: &Config,
        store: &Store,
        force: bool,
    ) -> Vec<(String, Result<FeedOutcome, PollError>)> {
        let polls = config.feeds.iter().map(|feed| async move {
            let outcome = self.poll_feed(config, store, feed, force).await;
            (feed.key().to_string(), outcome)
        });
        futures::future::join_all(polls).await
    }

    /// Polls one feed, unless it is backing off after failures (and `force` is off).
    pub async fn poll_feed(
        &self,
        config: &Config,
        store: &Store,
        feed: &FeedConfig,
        force: bool,
    ) -> Result<FeedOutcome, PollError> {
        let key = feed.key();
        if !force
            && self
                .backoff
                .lock()
                .expect("backoff lock")
                .get(key)
                .is_some_and(|b| b.next > Instant::now())
        {
            return Ok(FeedOutcome::Waiting);
        }
        let _one_at_a_time = match self.running.get(key) {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        // A panic anywhere in a poll is that feed's failure, never the end of its task.
        let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            self.poll_feed_now(config, store, feed),
        ))
        .await
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(FeedError::Crashed(message).into())
        });
        let mut backoff = self.backoff.lock().expect("backoff lock");
        let interval = config.bot.poll_interval;
        // For the operators' status: the outcome, and when the next poll comes (the feed's
        // loop looks every `poll_interval`; after a failure, at the first look past the wait).
        let mut next_in = interval;
        match &result {
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
        drop(backoff);
        let now = Utc::now();
        let error = result.as_ref().err().map(|e| e.to_string());
        let next = chrono::Duration::from_std(next_in).ok().map(|d| now + d);
        if let Err(e) = store.note_poll(key, now, error.as_deref(), next) {
            tracing::warn!(feed = feed.label(), error = %e, "cannot note the poll for the status");
        }
        result
    }

    /// Reads the feed once, as a poll would but without the store (no validators, nothing
    /// written): the number of items it carries, or why it cannot be read. For
    /// `herald check --online`.
    pub async fn check_feed(fetcher: &Fetcher, feed: &FeedConfig) -> Result<usize, FeedError> {
        let source = feed.source();
        let (bytes, charset) = match fetcher.fetch(source, &Default::default()).await? {
            Fetched::Body { bytes, charset, .. } => (bytes, charset),
            // Not asked conditionally, so not expected; the server says the feed is there.
            Fetched::NotModified => return Err(FeedError::Status(304)),
        };
        let base = match source {
            FeedSource::Http(url) => Some(url.to_string()),
            FeedSource::File(_) => None,
        };
        let (key, lang) = (feed.key().to_string(), feed.lang.clone());
        let parsed = crate::feed::isolated(move || {
            let info = FeedInfo {
                key: &key,
                lang: &lang,
                detector: None,
                base: base.as_deref(),
                known: None,
            };
            parse_document(&bytes, charset.as_deref(), &info, Utc::now())
        })
        .await?;
        Ok(parsed.articles.len() + parsed.skipped)
    }

    async fn poll_feed_now(
        &self,
        config: &Config,
        store: &Store,
        feed: &FeedConfig,
    ) -> Result<FeedOutcome, PollError> {
        let key = feed.key();
        let source = feed.source();
        let previous = store.feed_state(key)?;
        let validators = previous
            .as_ref()
            .map(|s| s.validators.clone())
            .unwrap_or_default();
        let (bytes, validators, charset) = match self.fetcher.fetch(source, &validators).await? {
            Fetched::NotModified => {
                tracing::debug!(feed = key, "not modified");
                return Ok(FeedOutcome::NotModified);
            }
            Fetched::Body {
                bytes,
                validators,
                charset,
            } => (bytes, validators, charset),
        };
        let now = Utc::now();
        let base = match source {
            FeedSource::Http(url) => Some(url.to_string()),
            FeedSource::File(_) => None,
        };
        // A post the feed listed before keeps the language it was stored in; one another
        // feed brought is asked for when the detector is unsure.
        let _choosing = self.choosing.lock().await;
        let known = StoredPosts {
            feed: store.feed_langs(key).await?,
            store: store.clone(),
            langs: self.stored_langs.clone(),
        };
        // Parsed on a blocking thread, where a panic becomes this feed's error.
        let (owned_key, lang) = (key.to_string(), feed.lang.clone());
        let detector = feed.detect_lang.then(|| self.detector.clone());
        let Parsed { articles, skipped } = crate::feed::isolated(move || {
            let info = FeedInfo {
                key: &owned_key,
                lang: &lang,
                detector: detector.as_deref(),
                base: base.as_deref(),
                known: Some(&known as &dyn KnownPosts),
            };
            parse_document(&bytes, charset.as_deref(), &info, now)
        })
        .await?;

        let mut ids: HashSet<String> = HashSet::new();
        let unique: Vec<Article> = articles
            .into_iter()
            .filter(|a| ids.insert(a.id.clone()))
            .collect();
        let first_time = previous.as_ref().is_none_or(|s| s.first_fetch.is_none());
        let backfill = feed.backfill.unwrap_or(config.bot.backfill);
        // Deliveries are decided per (feed, article): an article another feed stored first
        // is still new to this one, and reaches the chats that follow only this feed.
        let seen = store.seen_by_feed(key, unique.iter().map(|a| a.id.as_str()))?;
        let mut candidates: Vec<&Article> = Vec::new();
        let mut newest_seen = previous.as_ref().and_then(|s| s.newest);
        for (rank, article) in newest_first(&unique).into_iter().enumerate() {
            if seen.contains(article.id.as_str()) {
                newest_seen = newest_seen.max(article.published.or(article.updated));
                continue;
            }
            // On a first fetch only the feed's newest `backfill` items are posted.
            if !first_time || rank < backfill {
                candidates.push(article);
            }
        }
        let (candidates, held_back) = if first_time {
            (candidates, 0)
        } else {
            mass_change_guard(candidates, newest_seen, config.bot.mass_change_limit)
        };
        if held_back > 0 {
            tracing::warn!(
                feed = key,
                held_back,
                limit = config.bot.mass_change_limit,
                "a mass change: many never-seen items older than the newest known one (a site migration?); stored, not posted"
            );
        }
        let to_post = choose(candidates, first_time, config.bot.max_age, now);
        let deliveries = targets_for(config, store, feed, &to_post)?;
        let newest = unique
            .iter()
            .filter_map(|a| a.published.or(a.updated))
            .max();
        let state = FeedState {
            validators,
            first_fetch: previous.as_ref().and_then(|s| s.first_fetch).or(Some(now)),
            last_body: Some(now),
            newest: newest.max(previous.as_ref().and_then(|s| s.newest)),
        };
        let edit_window = config.bot.edits.then_some(config.bot.edit_window);
        let done = store
            .commit_poll(key, &state, &unique, &deliveries, edit_window)
            .await?;
        Ok(FeedOutcome::Updated {
            new: done.new_to_feed,
            queued: done.queued,
            first_time,
            skipped,
            held_back,
            changed: done.changed,
            edits: done.edits,
        })
    }
}

/// The wait before retrying a feed after `failures` failures in a row: one minute doubling,
/// capped at `max`, and never shorter than the poll interval.
pub fn retry_delay(failures: u32, poll_interval: Duration, max: Duration) -> Duration {
    let exp = Duration::from_secs(60)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)));
    exp.min(max).max(poll_interval.min(max))
}

fn newest_first(articles: &[Article]) -> Vec<&Article> {
    let mut sorted: Vec<&Article> = articles.iter().collect();
    sorted.sort_by_key(|a| std::cmp::Reverse(a.time()));
    sorted
}

/// Splits off a mass change: when more than `limit` of the never-seen `candidates` are
/// no newer than `newest_seen` (the newest item already known from the feed; a migrated
/// copy of it has its date), none of those older ones is posted. Returns the candidates left and how many were held back.
fn mass_change_guard(
    candidates: Vec<&Article>,
    newest_seen: Option<chrono::DateTime<Utc>>,
    limit: usize,
) -> (Vec<&Article>, usize) {
    let Some(newest_seen) = newest_seen else {
        return (candidates, 0);
    };
    let (older, newer): (Vec<&Article>, Vec<&Article>) = candidates
        .into_iter()
        .partition(|a| a.time() <= newest_seen);
    if older.len() > limit {
        (newer, older.len())
    } else {
        (newer.into_iter().chain(older).collect(), 0)
    }
}

/// Which new articles to post: on a first fetch all `candidates` (the backfill), else those
/// not older than `max_age`. Returned oldest first.
fn choose(
    candidates: Vec<&Article>,
    first_time: bool,
    max_age: Duration,
    now: chrono::DateTime<Utc>,
) -> Vec<&Article> {
    let mut chosen: Vec<&Article> = if first_time {
        candidates
    } else {
        let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        candidates
            .into_iter()
            .filter(|a| {
                let recent = a.published.or(a.updated).is_none_or(|t| now - t <= max_age);
                if !recent {
                    tracing::info!(article = %a.id, "older than max_age when first seen: stored, not posted");
                }
                recent
            })
            .collect()
    };
    chosen.sort_by_key(|a| a.time());
    chosen
}

/// Every (chat, article) delivery: channels (configured or added from chat) that take the feed and the article's
/// language, and subscribed chats whose languages include it.
fn targets_for(
    config: &Config,
    store: &Store,
    feed: &FeedConfig,
    articles: &[&Article],
) -> Result<Vec<(Target, String)>, StoreError> {
    let mut chats: Vec<(Target, LangSet)> = Vec::new();
    let mut listed: HashSet<Target> = HashSet::new();
    for channel in crate::channels::all(config, store)?
        .into_iter()
        .filter(|c| c.takes_feed(feed.key()))
    {
        // A chat's own settings (changed with /lang) win over the channel's.
        let target = channel.target;
        if !listed.insert(target.clone()) {
            continue;
        }
        let langs = store
            .chat(&target)?
            .map_or_else(|| channel.langs.clone(), |s| s.langs);
        chats.push((target, langs));
    }
    for (target, settings) in store.subscribers()? {
        if listed.insert(target.clone()) {
            chats.push((target, settings.langs));
        }
    }
    let mut out = Vec::new();
    for article in articles {
        for (target, langs) in &chats {
            if langs.contains(&article.lang) {
                out.push((target.clone(), article.id.clone()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, days_ago: i64) -> Article {
        let now = Utc::now();
        Article {
            id: id.into(),
            post: id.into(),
            lang: Lang::parse("en").unwrap(),
            title: id.into(),
            link: None,
            excerpt: String::new(),
            published: Some(now - chrono::Duration::days(days_ago)),
            updated: None,
            authors: vec![],
            categories: vec![],
            image: None,
            feed: "f".into(),
            seen: now,
        }
    }

    #[test]
    fn a_mass_change_of_old_items_is_held_back_but_new_items_still_post() {
        let newest_seen = Some(Utc::now() - chrono::Duration::days(3));
        let old: Vec<Article> = (0..4)
            .map(|i| article(&format!("old{i}"), 10 + i))
            .collect();
        let new = article("new", 1);
        let ids = |v: &[&Article]| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();

        // Four old never-seen items with a limit of three: none of them is posted.
        let mut all: Vec<&Article> = old.iter().collect();
        all.push(&new);
        let (left, held) = mass_change_guard(all.clone(), newest_seen, 3);
        assert_eq!((ids(&left), held), (vec!["new".to_string()], 4));

        // Up to the limit, old items are ordinary news (a late post, a fixed date).
        let (left, held) = mass_change_guard(all.clone(), newest_seen, 4);
        assert_eq!((left.len(), held), (5, 0));

        // Nothing seen yet from the feed: no reference, nothing held back.
        let (left, held) = mass_change_guard(all, None, 0);
        assert_eq!((left.len(), held), (5, 0));
    }

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

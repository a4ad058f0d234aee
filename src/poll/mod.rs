//! Polling: every feed fetched concurrently (one slow or broken feed never delays another),
//! parsed, and what is new committed to the store together with the deliveries it causes.
//! Parsing and committing go one feed at a time, so each feed sees what the one before
//! stored (`Poller::choosing`).
//!
//! - `mod.rs` (here): `Poller`, one feed's poll (`Poller::poll_feed`: fetch, parse, choose,
//!   commit) and `herald check --online`'s read of a feed.
//! - `select.rs`: what a poll posts (first fetch, `max_age`, mass changes) and to which chats.
//! - `schedule.rs`: each feed's loop every `poll_interval` until shutdown, and the backoff
//!   of a failing feed.
//! - `report.rs`: what a poll tells the log, the metrics and an operator's `/poll`, the same
//!   for the schedule, `/poll` and `herald poll --once`.

pub mod report;
pub mod schedule;
mod select;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::article::{Article, Lang};
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
    langs: Arc<[Lang]>,
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

pub struct Poller {
    fetcher: Fetcher,
    /// Built once from the configuration's languages.
    detector: Arc<lang::Detector>,
    backoff: schedule::Backoffs,
    /// One poll of a feed at a time: an operator's `/poll` waits for the feed's scheduled
    /// poll under way (and the other way round), so the two never commit the same items.
    running: HashMap<String, tokio::sync::Mutex<()>>,
    /// One feed at a time chooses its items' languages and commits them (fetches still run
    /// side by side): a post two editions list at once, whose language the detector is
    /// unsure of, is then filed by the second as the first stored it, not twice.
    choosing: tokio::sync::Mutex<()>,
    /// The languages articles are filed under here: the detector's and the feeds'.
    stored_langs: Arc<[Lang]>,
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
            detector: Arc::new(detector),
            stored_langs: langs.into(),
            backoff: Default::default(),
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
        if !force && self.backoff.waiting(key) {
            return Ok(FeedOutcome::Waiting);
        }
        // What a poll finds could not be stored: the feed keeps its place and is read once
        // the store takes writes again (the delivery reopens it).
        if store.unwritable().is_some() {
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
        // For the operators' status: the outcome, and when the next poll comes.
        let next_in = self.backoff.note(config, feed, &result);
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
        let parsed = parse(feed, bytes, charset, None, None, Utc::now()).await?;
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
        // A post the feed listed before keeps the language it was stored in; one another
        // feed brought is asked for when the detector is unsure.
        let _choosing = self.choosing.lock().await;
        let known = StoredPosts {
            feed: store.feed_langs(key).await?,
            store: store.clone(),
            langs: self.stored_langs.clone(),
        };
        let detector = feed.detect_lang.then(|| self.detector.clone());
        let Parsed { articles, skipped } =
            parse(feed, bytes, charset, detector, Some(known), now).await?;

        let mut ids: HashSet<String> = HashSet::new();
        let unique: Vec<Article> = articles
            .into_iter()
            .filter(|a| ids.insert(a.id.clone()))
            .collect();
        let first_time = previous.as_ref().is_none_or(|s| s.first_fetch.is_none());
        // Deliveries are decided per (feed, article): an article another feed stored first
        // is still new to this one, and reaches the chats that follow only this feed.
        let seen = store.seen_by_feed(key, unique.iter().map(|a| a.id.as_str()))?;
        let newest_known = previous.as_ref().and_then(|s| s.newest);
        // A first fetch posts only its backfill, copies or not.
        let copies = match first_time {
            true => HashSet::new(),
            false => select::copies(store, key, &unique, &seen)?,
        };
        let select::Choice { to_post, held_back } = select::to_post(
            config,
            feed,
            &unique,
            &seen,
            &copies,
            newest_known,
            first_time,
            now,
        );
        let deliveries = select::targets_for(config, store, feed, &to_post)?;
        let newest = unique
            .iter()
            .filter_map(|a| select::plausible(a.published.or(a.updated), now))
            .max();
        let state = FeedState {
            validators,
            first_fetch: previous.as_ref().and_then(|s| s.first_fetch).or(Some(now)),
            last_body: Some(now),
            newest: newest.max(select::plausible(
                previous.as_ref().and_then(|s| s.newest),
                now,
            )),
        };
        let edit_window = config.bot.edits.then_some(config.bot.edit_window);
        let done = store
            .commit_poll(key, &state, &unique, &deliveries, edit_window)
            .await?;
        if done.links_moved > 0 {
            tracing::warn!(
                feed = feed.label(),
                articles = done.links_moved,
                "a mass change (a site migration?): the links of most of the feed's articles changed and nothing else; the new links are stored, no message is edited"
            );
        }
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

/// Parses a fetched document on a blocking thread, where a panic becomes this feed's
/// error. Links in it are resolved against the feed's URL (a file has none).
async fn parse(
    feed: &FeedConfig,
    bytes: Vec<u8>,
    charset: Option<String>,
    detector: Option<Arc<lang::Detector>>,
    known: Option<StoredPosts>,
    now: DateTime<Utc>,
) -> Result<Parsed, FeedError> {
    let base = match feed.source() {
        FeedSource::Http(url) => Some(url.to_string()),
        FeedSource::File(_) => None,
    };
    let (key, lang) = (feed.key().to_string(), feed.lang.clone());
    crate::feed::isolated(move || {
        let info = FeedInfo {
            key: &key,
            lang: &lang,
            detector: detector.as_deref(),
            base: base.as_deref(),
            known: known.as_ref().map(|k| k as &dyn KnownPosts),
        };
        parse_document(&bytes, charset.as_deref(), &info, now)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RSS feed of `(guid, title, link, date)` items.
    fn feed_text(items: &[(String, String, String, chrono::DateTime<Utc>)]) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><link>https://example.org/</link><description>d</description>",
        );
        for (guid, title, link, date) in items {
            out.push_str(&format!(
                "<item><title>{title}</title><link>{link}</link><guid isPermaLink=\"false\">{guid}</guid><pubDate>{}</pubDate><description>The members gathered in the city and discussed the war and the peace.</description></item>",
                date.to_rfc2822()
            ));
        }
        out.push_str("</channel></rss>");
        out
    }

    fn item(
        n: u32,
        title: &str,
        minutes_ago: i64,
    ) -> (String, String, String, chrono::DateTime<Utc>) {
        (
            format!("https://example.org/?p={n}"),
            title.to_string(),
            format!("https://example.org/{n}/"),
            Utc::now() - chrono::Duration::minutes(minutes_ago),
        )
    }

    struct World {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        config: Config,
        store: Store,
        poller: Poller,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("en.xml");
            let text = "[[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\ndetect_lang = false\n\
                [[channels]]\ntarget = \"console\"\n";
            let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
            let store = Store::open(&dir.path().join("data")).unwrap();
            let poller = Poller::new(&config).unwrap();
            World {
                _dir: dir,
                path,
                config,
                store,
                poller,
            }
        }

        async fn poll(
            &self,
            items: &[(String, String, String, chrono::DateTime<Utc>)],
        ) -> FeedOutcome {
            std::fs::write(&self.path, feed_text(items)).unwrap();
            let feed = &self.config.feeds[0];
            self.poller
                .poll_feed(&self.config, &self.store, feed, true)
                .await
                .unwrap()
        }

        fn newest(&self) -> Option<chrono::DateTime<Utc>> {
            let key = self.config.feeds[0].key();
            self.store.feed_state(key).unwrap().and_then(|s| s.newest)
        }
    }

    #[tokio::test]
    async fn a_date_far_ahead_raises_no_newest_and_holds_back_no_later_burst() {
        let world = World::new();
        let mut items: Vec<_> = (1..=3)
            .map(|i| item(i, &format!("Old {i}"), 60 * 24 * i as i64))
            .collect();
        world.poll(&items).await;
        let before = world.newest();
        assert!(before.is_some());

        items.insert(0, item(50, "Congress next month", -60 * 24 * 30));
        world.poll(&items).await;
        assert_eq!(
            world.newest(),
            before,
            "a date a month ahead raises nothing"
        );
        // Seen now, it still raises nothing as a known item on the next poll.
        for i in 1..=25 {
            items.insert(0, item(100 + i, &format!("Burst {i}"), 60 - i as i64));
        }
        let FeedOutcome::Updated { new, held_back, .. } = world.poll(&items).await else {
            panic!("the feed changed");
        };
        assert_eq!((new, held_back), (25, 0), "the whole burst is posted");
        assert!(
            world.newest().unwrap() <= Utc::now(),
            "{:?}",
            world.newest()
        );

        // A date a few hours ahead (a time zone mistake) still counts.
        let soon = Utc::now() + chrono::Duration::hours(3);
        items.insert(
            0,
            (
                soon.to_rfc3339(),
                "Soon".into(),
                "https://example.org/soon/".into(),
                soon,
            ),
        );
        world.poll(&items).await;
        assert_eq!(
            world.newest().map(|t| t.timestamp()),
            Some(soon.timestamp())
        );
    }
}

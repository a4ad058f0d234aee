//! The only user of sled. Herald's memory: articles (with a time index for `/latest`), each
//! feed's state, chats and their settings, the outbox of deliveries still to make, the
//! record of what was sent (with the platform's message id, for later edits), chats that
//! moved, and deliveries given up on. For the operators' status: each feed's last poll
//! (success, error with its cause, next poll) and each chat's last failed send.
//!
//! Durability rules: a poll's new articles, the deliveries they cause and the feed's new
//! validators are written in one transaction and flushed, so a crash never leaves an ETag
//! that hides unsaved articles; a delivery is moved from the outbox to `sent` in one
//! transaction, flushed right after the send. The outbox is keyed by chat, then article
//! time, so each chat receives articles in publication order.
//!
//! Flushing is a group commit: one flush at a time runs on a blocking thread (never on the
//! async runtime), and every caller waiting is answered by the first flush that *started*
//! after its call, so many writers share one fsync. Writes that are not part of a poll or a
//! send (`put_chat`, `forget_chat`) are durable once the caller's next `flush` returns.
//!
//! Deliveries are decided per (feed, article): `feed_items` records which articles each
//! feed has listed, and an article new *to a feed* is queued for the chats given with it
//! unless the chat already has it queued, sent or set aside — whichever feed brought the
//! article into the store first. A store written before `feed_items` existed has feeds
//! with a state but no such record: on such a feed's first poll after the upgrade, the
//! articles already stored count as seen by it (exactly what the old rule did), and from
//! then on the feed's own record decides. So an upgrade reposts nothing.
//!
//! Forgetting (`Store::forget`, run by the bot every few hours): an article is kept while
//! any feed lists it, while it waits in an outbox, and for `[bot] retention` after that;
//! then it goes, with the record of where it was posted. A feed's record of an item goes
//! once the feed has not listed it for `retention`, and everything about a feed that left
//! the configuration goes once it has not been polled for `retention`. The order of the
//! removals makes a pass that a crash cut short safe to repeat. What may repeat: an item
//! *without a date* that comes back to its feed after it was forgotten is new again; one
//! with a date is then older than `max_age` (which `retention` may not be shorter than)
//! and is stored, not posted.
//!
//! The numbers shown on `/metrics` and `/healthz` (articles, queued, set aside) are kept
//! as counters: counted once when the store opens, then updated by each write, because
//! sled's `Tree::len()` walks the whole tree.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};

use crate::article::{Article, Lang, LangSet, Platform, Target};
use crate::feed::Validators;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database in {} is in use by another Herald process{}; stop it first (or ask it in chat with /latest)", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("an unreadable record in the database: {0}")]
    Record(#[from] serde_json::Error),
    #[error("an unreadable key in the database: {0}")]
    Key(#[from] std::str::Utf8Error),
    /// The group flush failed (sled's error is not `Clone`, so every waiter gets its text).
    #[error("flushing the database failed: {0}")]
    Flush(String),
    #[error("cannot create the data folder {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// A feed's polls as operators see them; kept apart from `FeedState`, whose presence
/// means "polled successfully before" (see the module doc on upgrades).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollRecord {
    /// The last poll that worked (a new body or "not modified").
    pub last_ok: Option<DateTime<Utc>>,
    /// The last poll that failed, and why.
    pub last_error: Option<Failure>,
    /// When the next poll is due.
    pub next_poll: Option<DateTime<Utc>>,
}

/// Something that failed, when, and why (the error with its causes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// What Herald remembers about a feed between polls.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FeedState {
    pub validators: Validators,
    pub first_fetch: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// The publication (or update) time of the newest dated item ever read from the feed.
    #[serde(default)]
    pub newest: Option<DateTime<Utc>>,
}

/// A chat's own settings, made by its users' commands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatSettings {
    pub langs: LangSet,
    /// Receives every new article in its languages.
    pub subscribed: bool,
    /// The language of the bot's own words in this chat, when known.
    pub ui_lang: Option<Lang>,
    pub since: DateTime<Utc>,
}

/// What a poll's commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// Articles the store did not have.
    pub stored: usize,
    /// Articles this feed had not listed before.
    pub new_to_feed: usize,
    /// Deliveries queued.
    pub queued: usize,
    /// Stored articles whose text changed (see [`Article::revision`]).
    pub changed: usize,
    /// Edits queued for messages that carried a changed article.
    pub edits: usize,
}

/// A channel an operator added from chat: it takes new articles like a channel of the
/// configuration file, and can be removed from chat again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddedChannel {
    pub langs: LangSet,
    /// Only these feeds (their keys); all when absent.
    pub feeds: Option<Vec<String>>,
    /// When an operator added it.
    pub at: DateTime<Utc>,
}

/// Posting stopped by an operator; polling goes on and posts wait in the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    /// When an operator paused it.
    pub at: DateTime<Utc>,
}

/// The key of the pause that holds every chat.
const PAUSE_ALL: &[u8] = b"*";

/// A delivery waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub article: String,
    pub enqueued: DateTime<Utc>,
    /// An edit of the message that already carried the article, to its current text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edit: bool,
}

/// The outbox entry at the head of a chat's queue.
#[derive(Clone, Debug)]
pub struct Pending {
    key: Vec<u8>,
    pub target: Target,
    pub delivery: Delivery,
}

/// Where an article stands for one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Sent,
    Queued,
    SetAside,
}

/// A message Herald posted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SentRecord {
    /// The platform's id of the message (Telegram message id, Matrix event id).
    pub message: String,
    pub at: DateTime<Utc>,
    /// The article's revision the message shows now (absent in records from before edits).
    #[serde(default)]
    pub revision: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    db: Arc<sled::Db>,
    articles: sled::Tree,
    by_time: sled::Tree,
    feeds: sled::Tree,
    chats: sled::Tree,
    outbox: sled::Tree,
    sent: sled::Tree,
    moved: sled::Tree,
    dead: sled::Tree,
    /// feed NUL article id → when the feed last listed it (milliseconds since the epoch,
    /// big-endian; empty in stores from before the stamps): the articles each feed has
    /// listed. `feed NUL` alone marks a feed whose items are recorded (see the module doc on
    /// upgrades), stamped with the feed's last poll that brought a body.
    feed_items: sled::Tree,
    /// chat (or platform name) → when Herald last posted there, in milliseconds since the
    /// epoch: a restarted process paces from the killed one's last sends.
    last_sent: sled::Tree,
    /// article id NUL chat → (): the chats each article was posted to, so a changed
    /// article's messages can be found and edited.
    posted: sled::Tree,
    /// feed → `PollRecord`.
    feed_polls: sled::Tree,
    /// chat → its last failed send (`Failure`), removed by a send that works.
    send_failures: sled::Tree,
    /// chat → `AddedChannel`: channels operators added from chat (`/addchannel`).
    added_channels: sled::Tree,
    /// chat, or `*` for every chat → `Pause`: posting stopped by an operator (`/pause`).
    paused: sled::Tree,
    /// Told when a pause ends, so the delivery looks at the chats it held at once.
    resumed: Arc<tokio::sync::Notify>,
    /// Held shared by the writes that list or queue articles (a poll's commit, a chat's
    /// move) and alone by `forget`, which must not remove what such a write needs.
    commits: Arc<tokio::sync::RwLock<()>>,
    flusher: Arc<Flusher>,
    counts: Arc<Counts>,
}

/// Sizes kept up to date by the writes, so reading them costs nothing.
#[derive(Default)]
struct Counts {
    articles: AtomicI64,
    outbox: AtomicI64,
    dead: AtomicI64,
}

impl Counts {
    fn add(counter: &AtomicI64, n: i64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn get(counter: &AtomicI64) -> usize {
        counter.load(Ordering::Relaxed).max(0) as usize
    }
}

/// The group commit behind `Store::flush`. One flush at a time: sled's flushes block its
/// small I/O thread pool while they wait for writes that need that same pool, so many
/// concurrent flushes deadlock it. The flushes run on a blocking thread, one after the
/// other while anyone waits for a newer one.
struct Flusher {
    state: std::sync::Mutex<FlushState>,
    /// The last finished flush: its number and its error, if it failed.
    done: tokio::sync::watch::Sender<(u64, Option<String>)>,
    /// Flushes made so far (for tests and curiosity).
    flushes: AtomicU64,
}

#[derive(Default)]
struct FlushState {
    /// The number of the last flush started.
    started: u64,
    /// The highest flush number someone waits for.
    wanted: u64,
    /// A blocking thread is flushing (or about to).
    running: bool,
}

impl Flusher {
    /// Flushes until no one waits for a newer flush; runs on a blocking thread. It holds
    /// the database only while flushing, so a store dropped by its last user is closed at
    /// once (and can be opened again).
    fn run(&self, db: &std::sync::Weak<sled::Db>) {
        loop {
            let number = {
                let mut state = self.state.lock().expect("flush state");
                if state.started >= state.wanted {
                    state.running = false;
                    return;
                }
                state.started += 1;
                state.started
            };
            // No database any more: every store was dropped, so no one is waiting.
            let error = db.upgrade().and_then(|db| {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| db.flush())) {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("the flush panicked".to_string()),
                }
            });
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.done.send_replace((number, error));
        }
    }
}

const PID_FILE: &str = "herald.pid";
/// Deliveries queued in one transaction: a transaction holds all its writes in memory.
const DELIVERY_CHUNK: usize = 1000;
/// The most sled keeps of the database in memory.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl Store {
    /// Opens (creating) the database in `dir`, a folder readable by its owner only. Fails
    /// with `Locked` naming the holder when another process has it open.
    pub fn open(dir: &Path) -> Result<Store> {
        create_private_dir(dir).map_err(|source| StoreError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        // sled keeps up to 1 GB of pages in memory by default; Herald's working set (feeds,
        // chats, the outbox) is far smaller, and memory should not grow with the store.
        let open = || {
            sled::Config::new()
                .path(dir.join("herald.sled"))
                .cache_capacity(CACHE_BYTES)
                .open()
        };
        let locked = |e: &sled::Error| {
            matches!(e, sled::Error::Io(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock"))
        };
        let holder = || -> Option<u32> {
            std::fs::read_to_string(dir.join(PID_FILE))
                .ok()
                .and_then(|s| s.trim().parse().ok())
        };
        let db = match open() {
            Ok(db) => db,
            // This process held it, and sled's threads are still closing it (a store just
            // dropped and opened again): wait for them, then open.
            Err(e) if locked(&e) && holder() == Some(std::process::id()) => {
                wait_until_closed(&dir.join(DB_DIR));
                match open() {
                    Ok(db) => db,
                    Err(e) if locked(&e) => {
                        return Err(StoreError::Locked {
                            dir: dir.to_path_buf(),
                            pid: holder(),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if locked(&e) => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: holder(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        // We hold the lock now: say who does, for the next process that finds it taken.
        let _ = std::fs::write(dir.join(PID_FILE), std::process::id().to_string());
        let store = Store {
            articles: db.open_tree("articles")?,
            by_time: db.open_tree("by_time")?,
            feeds: db.open_tree("feeds")?,
            chats: db.open_tree("chats")?,
            outbox: db.open_tree("outbox")?,
            sent: db.open_tree("sent")?,
            moved: db.open_tree("moved")?,
            dead: db.open_tree("dead")?,
            feed_items: db.open_tree("feed_items")?,
            last_sent: db.open_tree("last_sent")?,
            posted: db.open_tree("posted")?,
            feed_polls: db.open_tree("feed_polls")?,
            send_failures: db.open_tree("send_failures")?,
            added_channels: db.open_tree("added_channels")?,
            paused: db.open_tree("paused")?,
            resumed: Arc::default(),
            commits: Arc::default(),
            flusher: Arc::new(Flusher {
                state: Default::default(),
                done: tokio::sync::watch::Sender::new((0, None)),
                flushes: AtomicU64::new(0),
            }),
            counts: Arc::default(),
            db: Arc::new(db),
        };
        // The one full count, at start; the writes keep the counters from here on.
        let counts = &store.counts;
        Counts::add(&counts.articles, store.articles.len() as i64);
        Counts::add(&counts.outbox, store.outbox.len() as i64);
        Counts::add(&counts.dead, store.dead.len() as i64);
        Ok(store)
    }

    /// Makes every write made before the call durable. Callers share flushes (group
    /// commit); the flush itself runs on a blocking thread, never on the async runtime.
    pub async fn flush(&self) -> Result<()> {
        let flusher = &self.flusher;
        let mut done = flusher.done.subscribe();
        let target = {
            let mut state = flusher.state.lock().expect("flush state");
            // A flush running now may have started before our writes: wait for the next.
            let target = state.started + 1;
            state.wanted = state.wanted.max(target);
            if !state.running {
                state.running = true;
                let (flusher, db) = (flusher.clone(), Arc::downgrade(&self.db));
                tokio::task::spawn_blocking(move || flusher.run(&db));
            }
            target
        };
        loop {
            {
                let (number, error) = &*done.borrow_and_update();
                if *number >= target {
                    return match error {
                        None => Ok(()),
                        Some(e) => Err(StoreError::Flush(e.clone())),
                    };
                }
            }
            if done.changed().await.is_err() {
                return Err(StoreError::Flush("the flusher stopped".into()));
            }
        }
    }

    /// How many flushes reached the disk since the store was opened.
    pub fn flush_count(&self) -> u64 {
        self.flusher.flushes.load(Ordering::Relaxed)
    }

    // ---- feeds and articles ----

    pub fn feed_state(&self, feed: &str) -> Result<Option<FeedState>> {
        get_json(&self.feeds, feed.as_bytes())
    }

    pub fn article(&self, id: &str) -> Result<Option<Article>> {
        get_json(&self.articles, id.as_bytes())
    }

    pub fn has_article(&self, id: &str) -> Result<bool> {
        Ok(self.articles.contains_key(id.as_bytes())?)
    }

    /// Articles stored (a counter, not a scan).
    pub fn article_count(&self) -> usize {
        Counts::get(&self.counts.articles)
    }

    /// Which of `ids` the feed has listed before. A feed with a state but no record of its
    /// items (a store from before per-feed records) has seen every article stored.
    pub fn seen_by_feed<'a>(
        &self,
        feed: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<&'a str>> {
        let tracked = self.feed_items.contains_key(feed_item_key(feed, ""))?;
        let legacy = !tracked && self.feeds.contains_key(feed.as_bytes())?;
        let mut seen = HashSet::new();
        for id in ids {
            let known = if legacy {
                self.articles.contains_key(id.as_bytes())?
            } else {
                tracked && self.feed_items.contains_key(feed_item_key(feed, id))?
            };
            if known {
                seen.insert(id);
            }
        }
        Ok(seen)
    }

    /// The language of each post the feed has listed, by post key, read from the ids of
    /// its record (`<lang>:<post>`). A post it listed in more than one language (an item
    /// whose own `xml:lang` changed) is left out: there the item's language decides. It
    /// walks the feed's record, so it runs on a blocking thread.
    pub async fn feed_langs(&self, feed: &str) -> Result<HashMap<String, Lang>> {
        let (store, feed) = (self.clone(), feed.to_string());
        tokio::task::spawn_blocking(move || store.feed_langs_now(&feed))
            .await
            .map_err(|e| StoreError::Flush(format!("reading a feed's record stopped: {e}")))?
    }

    fn feed_langs_now(&self, feed: &str) -> Result<HashMap<String, Lang>> {
        let prefix = feed_item_key(feed, "");
        let mut langs: HashMap<String, Option<Lang>> = HashMap::new();
        for key in self.feed_items.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(id) = std::str::from_utf8(&key[prefix.len()..]) else {
                continue;
            };
            let Some((lang, post)) = id.split_once(':') else {
                continue; // the feed's own marker
            };
            let Some(lang) = Lang::parse(lang) else {
                continue;
            };
            langs
                .entry(post.to_string())
                .and_modify(|known| {
                    if known.as_ref() != Some(&lang) {
                        *known = None;
                    }
                })
                .or_insert(Some(lang));
        }
        Ok(langs
            .into_iter()
            .filter_map(|(post, lang)| Some((post, lang?)))
            .collect())
    }

    /// Records a poll in one transaction: `articles` are every item the feed lists now.
    /// Those not stored yet are stored; all are recorded as listed by `feed`. Each of
    /// `deliveries` whose article is new *to this feed* is queued, unless the chat already
    /// has that article queued, sent or set aside (another feed may have brought it). The
    /// feed's state is saved with them.
    ///
    /// A stored article whose text changed in the feed that first brought it (another
    /// edition's copy may differ slightly and must not flip it back and forth) is updated;
    /// with `edit_window`, an edit is queued for every message that carried it and is younger
    /// than the window, unless that message already shows this revision. Flushed before
    /// returning.
    ///
    /// More than `DELIVERY_CHUNK` deliveries (a fan-out to many chats) are queued in
    /// transactions of that many, so memory does not grow with the number of chats: the
    /// new articles are stored first, then the deliveries queued, then the poll recorded.
    /// A crash before the last step leaves the articles new to the feed, so the next poll
    /// queues what is missing, and nothing twice.
    pub async fn commit_poll(
        &self,
        feed: &str,
        state: &FeedState,
        articles: &[Article],
        deliveries: &[(Target, String)],
        edit_window: Option<std::time::Duration>,
    ) -> Result<Committed> {
        let _commit = self.commits.read().await;
        if deliveries.len() <= DELIVERY_CHUNK {
            return self
                .commit_poll_at_once(feed, state, articles, deliveries, edit_window)
                .await;
        }
        let unseen: HashSet<&str> = {
            let ids = articles.iter().map(|a| a.id.as_str());
            let seen = self.seen_by_feed(feed, ids.clone())?;
            ids.filter(|id| !seen.contains(id)).collect()
        };
        let stored = self.store_new_articles(articles)?;
        // Each new article's time as stored (another feed may have stored it first): the
        // outbox key of any copy queued already.
        let mut times: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for id in &unseen {
            if let Some(article) = self.article(id)? {
                times.insert(id, article.time());
            }
        }
        let mut queued = 0;
        for chunk in deliveries.chunks(DELIVERY_CHUNK) {
            queued += self.queue_deliveries(&times, chunk)?;
        }
        let mut done = self
            .commit_poll_at_once(feed, state, articles, &[], edit_window)
            .await?;
        done.stored += stored;
        done.new_to_feed = unseen.len();
        done.queued += queued;
        Ok(done)
    }

    /// Stores the articles the store does not have yet (nothing else); returns how many.
    fn store_new_articles(&self, articles: &[Article]) -> Result<usize> {
        let encoded: Vec<(Vec<u8>, &Article)> = articles
            .iter()
            .map(|a| to_json(a).map(|j| (j, a)))
            .collect::<Result<_>>()?;
        let stored = (&self.articles, &self.by_time).transaction(|(articles_t, by_time_t)| {
            let mut stored = 0;
            let mut listed: HashSet<&str> = HashSet::new();
            for (json, article) in &encoded {
                let id = article.id.as_str();
                if listed.insert(id) && articles_t.get(id.as_bytes())?.is_none() {
                    articles_t.insert(id.as_bytes(), json.as_slice())?;
                    by_time_t.insert(time_key(article.time(), id), &[][..])?;
                    stored += 1;
                }
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(stored)
        })?;
        Counts::add(&self.counts.articles, stored as i64);
        Ok(stored)
    }

    /// Queues each of `deliveries` whose article is in `times` (new to the feed, with its
    /// stored time), unless the chat has it queued, sent or set aside; one transaction.
    fn queue_deliveries(
        &self,
        times: &HashMap<&str, DateTime<Utc>>,
        deliveries: &[(Target, String)],
    ) -> Result<usize> {
        let now = Utc::now();
        let queued =
            (&self.outbox, &self.sent, &self.dead).transaction(|(outbox_t, sent_t, dead_t)| {
                queue_new(outbox_t, sent_t, dead_t, times, deliveries, now)
            })?;
        Counts::add(&self.counts.outbox, queued as i64);
        Ok(queued)
    }

    /// [`Store::commit_poll`] in one transaction.
    async fn commit_poll_at_once(
        &self,
        feed: &str,
        state: &FeedState,
        articles: &[Article],
        deliveries: &[(Target, String)],
        edit_window: Option<std::time::Duration>,
    ) -> Result<Committed> {
        // The chats each changed article went to, found outside the transaction (which
        // cannot scan); the transaction checks the change again.
        let mut posted_to: HashMap<&str, Vec<Target>> = HashMap::new();
        for article in articles {
            if let Some(stored) = self.article(&article.id)?
                && stored.feed == feed
                && stored.revision() != article.revision()
            {
                let mut chats = Vec::new();
                if edit_window.is_some() {
                    for key in self.posted.scan_prefix(posted_prefix(&article.id)).keys() {
                        let key = key?;
                        let chat = &key[article.id.len() + 1..];
                        if let Ok(target) = String::from_utf8_lossy(chat).parse() {
                            chats.push(target);
                        }
                    }
                }
                posted_to.insert(article.id.as_str(), chats);
            }
        }
        let edit_window =
            edit_window.map(|w| chrono::Duration::from_std(w).unwrap_or(chrono::Duration::MAX));
        let state_json = to_json(state)?;
        let encoded: Vec<(Vec<u8>, &Article)> = articles
            .iter()
            .map(|a| to_json(a).map(|j| (j, a)))
            .collect::<Result<_>>()?;
        let now = Utc::now();
        let marker = feed_item_key(feed, "");
        let trees = (
            &self.articles,
            &self.by_time,
            &self.feeds,
            &self.feed_items,
            &self.outbox,
            &self.sent,
            &self.dead,
        );
        let committed = trees.transaction(
            |(articles_t, by_time_t, feeds_t, items_t, outbox_t, sent_t, dead_t)| {
                let previous = items_t.get(&marker)?;
                let tracked = previous.is_some();
                let legacy = !tracked && feeds_t.get(feed.as_bytes())?.is_some();
                // Later than the previous poll's stamp, also within one millisecond or
                // after the clock went back: "older than the marker" means "not listed now".
                let previous = previous
                    .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                    .map_or(i64::MIN, i64::from_be_bytes);
                let stamp = now
                    .timestamp_millis()
                    .max(previous.saturating_add(1))
                    .to_be_bytes();
                let mut done = Committed::default();
                // The stored time of each article new to this feed: the outbox key of any
                // copy another feed queued already.
                let mut new_to_feed: HashMap<&str, DateTime<Utc>> = HashMap::new();
                let mut listed: HashSet<&str> = HashSet::new();
                for (json, article) in &encoded {
                    let id = article.id.as_str();
                    if !listed.insert(id) {
                        continue;
                    }
                    let stored = articles_t.get(id.as_bytes())?;
                    if stored.is_none() {
                        articles_t.insert(id.as_bytes(), json.as_slice())?;
                        by_time_t.insert(time_key(article.time(), id), &[][..])?;
                        done.stored += 1;
                    } else if let (Some(bytes), Some(chats)) = (&stored, posted_to.get(id)) {
                        let old: Article =
                            from_json(bytes).map_err(ConflictableTransactionError::Abort)?;
                        let revision = article.revision();
                        if old.revision() != revision {
                            // The new text, kept where and when it was first seen.
                            let updated = Article {
                                feed: old.feed.clone(),
                                seen: old.seen,
                                ..(*article).clone()
                            };
                            let updated_json =
                                to_json(&updated).map_err(ConflictableTransactionError::Abort)?;
                            articles_t.insert(id.as_bytes(), updated_json)?;
                            if old.time() != updated.time() {
                                by_time_t.remove(time_key(old.time(), id))?;
                                by_time_t.insert(time_key(updated.time(), id), &[][..])?;
                            }
                            done.changed += 1;
                            for target in chats {
                                let Some(window) = edit_window else { break };
                                let Some(record) = sent_t.get(sent_key(target, id))? else {
                                    continue;
                                };
                                let record: SentRecord = from_json(&record)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                if now - record.at > window
                                    || record.revision.as_deref() == Some(revision.as_str())
                                {
                                    continue;
                                }
                                let edit = Delivery {
                                    article: id.to_owned(),
                                    enqueued: now,
                                    edit: true,
                                };
                                let json =
                                    to_json(&edit).map_err(ConflictableTransactionError::Abort)?;
                                let key = outbox_key(target, updated.time(), id);
                                if outbox_t.insert(key, json)?.is_none() {
                                    done.edits += 1;
                                }
                            }
                        }
                    }
                    let item = feed_item_key(feed, id);
                    let seen = if legacy {
                        stored.is_some()
                    } else {
                        tracked && items_t.get(&item)?.is_some()
                    };
                    // Every item listed now is stamped with this poll's time, as is the
                    // feed's marker: an item whose stamp is older than the marker's is no
                    // longer listed (see `Store::forget`).
                    items_t.insert(item, &stamp[..])?;
                    if !seen {
                        let time = match &stored {
                            Some(bytes) => from_json::<Article>(bytes)
                                .map_err(ConflictableTransactionError::Abort)?
                                .time(),
                            None => article.time(),
                        };
                        new_to_feed.insert(id, time);
                    }
                }
                items_t.insert(marker.as_slice(), &stamp[..])?;
                done.new_to_feed = new_to_feed.len();
                done.queued = queue_new(outbox_t, sent_t, dead_t, &new_to_feed, deliveries, now)?;
                feeds_t.insert(feed.as_bytes(), state_json.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(done)
            },
        )?;
        Counts::add(&self.counts.articles, committed.stored as i64);
        Counts::add(
            &self.counts.outbox,
            (committed.queued + committed.edits) as i64,
        );
        self.flush().await?;
        Ok(committed)
    }

    /// The newest `n` articles whose language `langs` accepts, newest first.
    pub fn latest(&self, langs: &LangSet, n: usize) -> Result<Vec<Article>> {
        let mut out = Vec::new();
        for entry in self.by_time.iter().rev() {
            if out.len() >= n {
                break;
            }
            let (key, _) = entry?;
            let id = std::str::from_utf8(&key[8..])?;
            let lang = id.split(':').next().and_then(Lang::parse);
            if !lang.is_some_and(|l| langs.contains(&l)) {
                continue;
            }
            if let Some(article) = self.article(id)? {
                out.push(article);
            }
        }
        Ok(out)
    }

    // ---- what operators see ----

    /// Notes a poll of `feed`: `error` when it failed (the last success stays), and when
    /// the next poll is due. Durable with the next flush.
    pub fn note_poll(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
        next_poll: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut record = self.poll_record(feed)?;
        match error {
            Some(reason) => {
                record.last_error = Some(Failure {
                    at,
                    reason: reason.to_string(),
                })
            }
            None => record.last_ok = Some(at),
        }
        record.next_poll = next_poll;
        self.feed_polls.insert(feed.as_bytes(), to_json(&record)?)?;
        Ok(())
    }

    /// A feed's polls so far (empty before its first).
    pub fn poll_record(&self, feed: &str) -> Result<PollRecord> {
        Ok(get_json(&self.feed_polls, feed.as_bytes())?.unwrap_or_default())
    }

    /// How many articles `feed` has listed since Herald first read it.
    pub fn feed_article_count(&self, feed: &str) -> usize {
        // The prefix also holds the marker `feed NUL` itself.
        self.feed_items
            .scan_prefix(feed_item_key(feed, ""))
            .keys()
            .count()
            .saturating_sub(1)
    }

    /// Notes that a send to `target` failed, and why; a send that works removes it.
    /// Durable with the next flush.
    pub fn note_send_failure(&self, target: &Target, reason: &str) -> Result<()> {
        let failure = Failure {
            at: Utc::now(),
            reason: reason.to_string(),
        };
        self.send_failures
            .insert(target.to_string().as_bytes(), to_json(&failure)?)?;
        Ok(())
    }

    /// The last failed send to `target`, unless a send worked since.
    pub fn send_failure(&self, target: &Target) -> Result<Option<Failure>> {
        get_json(&self.send_failures, target.to_string().as_bytes())
    }

    // ---- chats ----

    pub fn chat(&self, target: &Target) -> Result<Option<ChatSettings>> {
        get_json(&self.chats, target.to_string().as_bytes())
    }

    /// Saves a chat's settings; durable once the caller's next `flush` returns.
    pub fn put_chat(&self, target: &Target, settings: &ChatSettings) -> Result<()> {
        self.chats
            .insert(target.to_string().as_bytes(), to_json(settings)?)?;
        Ok(())
    }

    /// Every chat that subscribed, with its settings.
    pub fn subscribers(&self) -> Result<Vec<(Target, ChatSettings)>> {
        let mut out = Vec::new();
        for entry in self.chats.iter() {
            let (key, value) = entry?;
            let settings: ChatSettings = from_json(&value)?;
            if settings.subscribed
                && let Ok(target) = String::from_utf8_lossy(&key).parse::<Target>()
            {
                out.push((target, settings));
            }
        }
        Ok(out)
    }

    /// Erases everything stored about a chat: settings, queued deliveries, sent records,
    /// deliveries set aside. Durable once the caller's next `flush` returns.
    pub fn forget_chat(&self, target: &Target) -> Result<()> {
        self.chats.remove(target.to_string().as_bytes())?;
        self.last_sent.remove(target.to_string().as_bytes())?;
        self.send_failures.remove(target.to_string().as_bytes())?;
        for (tree, counter) in [
            (&self.outbox, Some(&self.counts.outbox)),
            (&self.sent, None),
            (&self.dead, Some(&self.counts.dead)),
        ] {
            for key in tree.scan_prefix(chat_prefix(target)).keys() {
                if tree.remove(key?)?.is_some()
                    && let Some(counter) = counter
                {
                    Counts::add(counter, -1);
                }
            }
        }
        Ok(())
    }

    /// A chat changed its id (a Telegram group became a supergroup, a Matrix room was
    /// upgraded): remember the move and carry over its settings, queue and sent records.
    pub async fn move_chat(&self, from: &Target, to: &Target) -> Result<()> {
        let _commit = self.commits.read().await;
        self.moved
            .insert(from.to_string().as_bytes(), to.to_string().as_bytes())?;
        if let Some(settings) = self.chats.remove(from.to_string().as_bytes())? {
            self.chats.insert(to.to_string().as_bytes(), settings)?;
        }
        let old_prefix = chat_prefix(from);
        let new_prefix = chat_prefix(to);
        for (tree, counter) in [
            (&self.outbox, Some(&self.counts.outbox)),
            (&self.sent, None),
        ] {
            for entry in tree.scan_prefix(&old_prefix) {
                let (key, value) = entry?;
                let mut new_key = new_prefix.clone();
                new_key.extend_from_slice(&key[old_prefix.len()..]);
                let added = tree.insert(new_key, value)?.is_none();
                let removed = tree.remove(key)?.is_some();
                if let Some(counter) = counter {
                    Counts::add(counter, i64::from(added) - i64::from(removed));
                }
            }
        }
        self.flush().await
    }

    /// Where a chat lives now, following recorded moves.
    pub fn resolve(&self, target: &Target) -> Result<Target> {
        let mut current = target.clone();
        for _ in 0..8 {
            match self.moved.get(current.to_string().as_bytes())? {
                Some(next) => match String::from_utf8_lossy(&next).parse() {
                    Ok(next) => current = next,
                    Err(_) => break,
                },
                None => break,
            }
        }
        Ok(current)
    }

    // ---- channels added and pauses made from chat ----

    /// Adds (or replaces) a channel added from chat; durable once the caller's next
    /// `flush` returns.
    pub fn add_channel(&self, target: &Target, channel: &AddedChannel) -> Result<()> {
        self.added_channels
            .insert(target.to_string().as_bytes(), to_json(channel)?)?;
        Ok(())
    }

    /// Removes a channel added from chat, with its queued posts, settings and pause.
    /// Returns whether there was one. Durable once the caller's next `flush` returns.
    pub fn remove_channel(&self, target: &Target) -> Result<bool> {
        let removed = self
            .added_channels
            .remove(target.to_string().as_bytes())?
            .is_some();
        if removed {
            self.paused.remove(target.to_string().as_bytes())?;
            self.forget_chat(target)?;
        }
        Ok(removed)
    }

    pub fn added_channel(&self, target: &Target) -> Result<Option<AddedChannel>> {
        get_json(&self.added_channels, target.to_string().as_bytes())
    }

    /// Every channel added from chat, in the order of their targets.
    pub fn added_channels(&self) -> Result<Vec<(Target, AddedChannel)>> {
        let mut out = Vec::new();
        for entry in self.added_channels.iter() {
            let (key, value) = entry?;
            if let Ok(target) = String::from_utf8_lossy(&key).parse::<Target>() {
                out.push((target, from_json(&value)?));
            }
        }
        Ok(out)
    }

    /// Stops posting to `target`, or to every chat when `None`. Durable once the caller's
    /// next `flush` returns.
    pub fn pause(&self, target: Option<&Target>, pause: &Pause) -> Result<()> {
        self.paused.insert(pause_key(target), to_json(pause)?)?;
        Ok(())
    }

    /// Ends the pause of `target` (or the pause of every chat, when `None`; pauses of
    /// single chats stay). Returns whether there was one.
    pub fn resume(&self, target: Option<&Target>) -> Result<bool> {
        let ended = self.paused.remove(pause_key(target))?.is_some();
        if ended {
            self.resumed.notify_one();
        }
        Ok(ended)
    }

    /// Returns when a pause has ended (at once if one ended since the last call).
    pub async fn pause_ended(&self) {
        self.resumed.notified().await;
    }

    /// The pause that holds `target` now: its own, else the pause of every chat.
    pub fn paused(&self, target: &Target) -> Result<Option<Pause>> {
        match get_json(&self.paused, &pause_key(Some(target)))? {
            Some(pause) => Ok(Some(pause)),
            None => get_json(&self.paused, PAUSE_ALL),
        }
    }

    /// The pause of every chat, if there is one.
    pub fn paused_all(&self) -> Result<Option<Pause>> {
        get_json(&self.paused, PAUSE_ALL)
    }

    /// Every chat paused on its own.
    pub fn paused_chats(&self) -> Result<Vec<(Target, Pause)>> {
        let mut out = Vec::new();
        for entry in self.paused.iter() {
            let (key, value) = entry?;
            if let Ok(target) = String::from_utf8_lossy(&key).parse::<Target>() {
                out.push((target, from_json(&value)?));
            }
        }
        Ok(out)
    }

    // ---- outbox ----

    /// Chats with deliveries waiting.
    pub fn pending_targets(&self) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.pending_targets_after(after.as_ref(), 1024)?;
            let Some(last) = page.last().cloned() else {
                return Ok(out);
            };
            out.extend(page);
            after = Some(last);
        }
    }

    /// Up to `limit` chats with deliveries waiting, in the outbox's order, starting after
    /// `after` (from the first with `None`): a fan-out to many chats is read a page at a
    /// time.
    pub fn pending_targets_after(
        &self,
        after: Option<&Target>,
        limit: usize,
    ) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = match after {
            Some(target) => {
                let mut key = target.to_string().into_bytes();
                key.push(1);
                key
            }
            None => Vec::new(),
        };
        while out.len() < limit {
            let Some(entry) = self.outbox.range(from.clone()..).next() else {
                break;
            };
            let (key, _) = entry?;
            let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
            let name = String::from_utf8_lossy(&key[..end]).into_owned();
            if let Ok(target) = name.parse() {
                out.push(target);
            }
            from = key[..end].to_vec();
            from.push(1);
        }
        Ok(out)
    }

    /// Deliveries waiting (a counter, not a scan).
    pub fn outbox_len(&self) -> usize {
        Counts::get(&self.counts.outbox)
    }

    /// The oldest waiting delivery for a chat.
    pub fn next_for(&self, target: &Target) -> Result<Option<Pending>> {
        match self.outbox.scan_prefix(chat_prefix(target)).next() {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some(Pending {
                    key: key.to_vec(),
                    target: target.clone(),
                    delivery: from_json(&value)?,
                }))
            }
            None => Ok(None),
        }
    }

    pub fn was_sent(&self, target: &Target, article: &str) -> Result<Option<SentRecord>> {
        get_json(&self.sent, &sent_key(target, article))
    }

    /// When Herald last posted to `target`, by any process.
    pub fn last_sent_to(&self, target: &Target) -> Result<Option<DateTime<Utc>>> {
        self.last_sent_at(target.to_string().as_bytes())
    }

    /// When Herald last posted anything on `platform`, by any process.
    pub fn last_sent_on(&self, platform: Platform) -> Result<Option<DateTime<Utc>>> {
        self.last_sent_at(platform.name().as_bytes())
    }

    fn last_sent_at(&self, key: &[u8]) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .last_sent
            .get(key)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .and_then(|b| DateTime::from_timestamp_millis(i64::from_be_bytes(b))))
    }

    /// Moves a delivery from the outbox to `sent` with the message id and the article's
    /// `revision` it shows, durably, and notes the time of the send for the chat and its
    /// platform.
    pub async fn mark_sent(
        &self,
        pending: &Pending,
        message: &str,
        revision: Option<&str>,
    ) -> Result<()> {
        let now = Utc::now();
        let record = to_json(&SentRecord {
            message: message.to_string(),
            at: now,
            revision: revision.map(str::to_owned),
        })?;
        let key = sent_key(&pending.target, &pending.delivery.article);
        let mut posted = posted_prefix(&pending.delivery.article);
        posted.extend_from_slice(pending.target.to_string().as_bytes());
        let removed =
            (&self.outbox, &self.sent, &self.posted).transaction(|(outbox, sent, posted_t)| {
                let removed = outbox.remove(pending.key.as_slice())?.is_some();
                sent.insert(key.as_slice(), record.as_slice())?;
                posted_t.insert(posted.as_slice(), &[][..])?;
                Ok::<_, ConflictableTransactionError<StoreError>>(removed)
            })?;
        Counts::add(&self.counts.outbox, -i64::from(removed));
        // Outside the transaction: every send writes the platform's key, and concurrent
        // transactions on one key would only conflict and retry.
        let millis = now.timestamp_millis().to_be_bytes();
        self.last_sent
            .insert(pending.target.to_string().as_bytes(), &millis[..])?;
        self.last_sent
            .insert(pending.target.platform.name().as_bytes(), &millis[..])?;
        self.send_failures
            .remove(pending.target.to_string().as_bytes())?;
        self.flush().await
    }

    /// Ends a queued edit: the message shows `revision` now (`None`: the edit was not made,
    /// the message stays as it is). Durable on return.
    pub async fn finish_edit(&self, pending: &Pending, revision: Option<&str>) -> Result<()> {
        let key = sent_key(&pending.target, &pending.delivery.article);
        let removed = (&self.outbox, &self.sent).transaction(|(outbox, sent)| {
            let removed = outbox.remove(pending.key.as_slice())?.is_some();
            if let (Some(revision), Some(bytes)) = (revision, sent.get(&key)?) {
                let mut record: SentRecord =
                    from_json(&bytes).map_err(ConflictableTransactionError::Abort)?;
                record.revision = Some(revision.to_owned());
                let json = to_json(&record).map_err(ConflictableTransactionError::Abort)?;
                sent.insert(key.as_slice(), json)?;
            }
            Ok::<_, ConflictableTransactionError<StoreError>>(removed)
        })?;
        Counts::add(&self.counts.outbox, -i64::from(removed));
        self.flush().await
    }

    /// Gives up on a delivery that can never succeed, keeping it in `dead` with the reason.
    pub async fn give_up(&self, pending: &Pending, reason: &str) -> Result<()> {
        let record = serde_json::json!({
            "target": pending.target.to_string(),
            "article": pending.delivery.article,
            "reason": reason,
            "at": Utc::now(),
        });
        let record = serde_json::to_vec(&record)?;
        let (removed, added) = (&self.outbox, &self.dead).transaction(|(outbox, dead)| {
            let removed = outbox.remove(pending.key.as_slice())?.is_some();
            let added = dead
                .insert(pending.key.as_slice(), record.as_slice())?
                .is_none();
            Ok::<_, ConflictableTransactionError<StoreError>>((removed, added))
        })?;
        Counts::add(&self.counts.outbox, -i64::from(removed));
        Counts::add(&self.counts.dead, i64::from(added));
        self.flush().await
    }

    /// Where `article` stands for `target`: sent, queued (or an edit of it queued), set
    /// aside, or nothing (never meant for that chat).
    pub fn delivery_state(&self, target: &Target, article: &Article) -> Result<Option<Standing>> {
        let key = outbox_key(target, article.time(), &article.id);
        Ok(if self.outbox.contains_key(&key)? {
            Some(Standing::Queued)
        } else if self.sent.contains_key(sent_key(target, &article.id))? {
            Some(Standing::Sent)
        } else if self.dead.contains_key(&key)? {
            Some(Standing::SetAside)
        } else {
            None
        })
    }

    /// The chats an article was posted to (recorded since edits exist).
    pub fn posted_to(&self, article: &str) -> Result<Vec<Target>> {
        let prefix = posted_prefix(article);
        let mut out = Vec::new();
        for key in self.posted.scan_prefix(&prefix).keys() {
            let key = key?;
            if let Ok(target) = String::from_utf8_lossy(&key[prefix.len()..]).parse() {
                out.push(target);
            }
        }
        Ok(out)
    }

    /// Deliveries waiting for one chat.
    pub fn queued_for(&self, target: &Target) -> usize {
        self.outbox.scan_prefix(chat_prefix(target)).count()
    }

    /// Deliveries set aside (a counter, not a scan).
    pub fn dead_count(&self) -> usize {
        Counts::get(&self.counts.dead)
    }
}

/// What one pass of [`Store::forget`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Articles, with their records of where they were posted.
    pub articles: usize,
    /// Feeds' records of items they stopped listing.
    pub feed_items: usize,
    /// Feeds no longer configured, with their state and their records.
    pub feeds: usize,
}

impl Forgotten {
    pub fn is_empty(&self) -> bool {
        *self == Forgotten::default()
    }
}

impl Store {
    /// Forgets what is older than `keep` at `now` and no longer needed (see the module doc):
    /// feeds' records of items they stopped listing, feeds not among `configured` (keys)
    /// with their state, and articles that no feed lists, that wait in no outbox, and whose
    /// time is before `now - keep`, with their sent, posted and set-aside records.
    ///
    /// It runs on a blocking thread (it walks the feeds' records, the outbox and the oldest
    /// articles) while no poll commits, and is flushed before it returns; a pass cut short
    /// is repeated by the next one.
    pub async fn forget(
        &self,
        now: DateTime<Utc>,
        keep: std::time::Duration,
        configured: &[String],
    ) -> Result<Forgotten> {
        let _alone = self.commits.write().await;
        let (store, configured) = (self.clone(), configured.to_vec());
        let done = tokio::task::spawn_blocking(move || store.forget_now(now, keep, &configured))
            .await
            .map_err(|e| StoreError::Flush(format!("forgetting stopped: {e}")))??;
        self.flush().await?;
        Ok(done)
    }

    fn forget_now(
        &self,
        now: DateTime<Utc>,
        keep: std::time::Duration,
        configured: &[String],
    ) -> Result<Forgotten> {
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = now.checked_sub_signed(keep) else {
            return Ok(Forgotten::default());
        };
        let cutoff = cutoff.timestamp_millis();
        let now_stamp = now.timestamp_millis().to_be_bytes();
        let mut done = Forgotten::default();

        // Each feed's records: its marker's stamp and its items' stamps. A record without a
        // stamp (written before stamps) is stamped now, so it is kept `keep` from now on.
        struct FeedRecords {
            marker: Option<i64>,
            items: Vec<(Vec<u8>, i64)>,
        }
        let mut feeds: HashMap<String, FeedRecords> = HashMap::new();
        for entry in self.feed_items.iter() {
            let (key, value) = entry?;
            let Some(nul) = key.iter().position(|&b| b == 0) else {
                continue;
            };
            let feed = String::from_utf8_lossy(&key[..nul]).into_owned();
            let stamp = match <[u8; 8]>::try_from(value.as_ref()) {
                Ok(bytes) => i64::from_be_bytes(bytes),
                Err(_) => {
                    self.feed_items.insert(&key, &now_stamp[..])?;
                    now.timestamp_millis()
                }
            };
            let records = feeds.entry(feed).or_insert(FeedRecords {
                marker: None,
                items: Vec::new(),
            });
            if key.len() == nul + 1 {
                records.marker = Some(stamp);
            } else {
                records.items.push((key.to_vec(), stamp));
            }
        }

        // Articles some feed still lists (or listed less than `keep` ago).
        let mut listed: HashSet<Vec<u8>> = HashSet::new();
        for (feed, records) in &feeds {
            let marker = records.marker.unwrap_or(i64::MAX);
            let gone = !configured.iter().any(|c| c == feed) && marker < cutoff;
            if gone {
                for (key, _) in &records.items {
                    self.feed_items.remove(key)?;
                }
                self.feed_polls.remove(feed.as_bytes())?;
                self.feeds.remove(feed.as_bytes())?;
                // The marker last: until it goes, the next pass finds the feed again.
                self.feed_items.remove(feed_item_key(feed, ""))?;
                done.feeds += 1;
                continue;
            }
            for (key, stamp) in &records.items {
                // Not in the feed's last body, and not for `keep`.
                if *stamp < marker && *stamp < cutoff {
                    self.feed_items.remove(key)?;
                    done.feed_items += 1;
                } else {
                    listed.insert(key[feed.len() + 1..].to_vec());
                }
            }
        }
        // A feed polled before the per-feed records (and not since) lists, as far as Herald
        // knows, every stored article: forget no article until it has been polled again.
        for feed in self.feeds.iter().keys() {
            let feed = feed?;
            if !feeds.contains_key(String::from_utf8_lossy(&feed).as_ref()) {
                return Ok(done);
            }
        }

        // Articles waiting in an outbox (an edit of a sent one too).
        let mut queued: HashSet<Vec<u8>> = HashSet::new();
        for key in self.outbox.iter().keys() {
            let key = key?;
            if let Some(id) = outbox_key_article(&key) {
                queued.insert(id.to_vec());
            }
        }

        let mut forgotten: HashSet<Vec<u8>> = HashSet::new();
        for key in self.by_time.iter().keys() {
            let key = key?;
            if key.len() < 8 {
                continue;
            }
            let time =
                (u64::from_be_bytes(key[..8].try_into().expect("8 bytes")) ^ (1 << 63)) as i64;
            if time >= cutoff {
                break;
            }
            let id = &key[8..];
            if listed.contains(id) || queued.contains(id) {
                continue;
            }
            let id_text = std::str::from_utf8(id)?;
            // Where it was posted first, then the article, then its place in time: a pass
            // cut short finds the article again by its time.
            let prefix = posted_prefix(id_text);
            for posted in self.posted.scan_prefix(&prefix).keys() {
                let posted = posted?;
                if let Ok(target) = String::from_utf8_lossy(&posted[prefix.len()..]).parse() {
                    self.sent.remove(sent_key(&target, id_text))?;
                }
                self.posted.remove(posted)?;
            }
            if self.articles.remove(id)?.is_some() {
                Counts::add(&self.counts.articles, -1);
                done.articles += 1;
            }
            self.by_time.remove(&key)?;
            forgotten.insert(id.to_vec());
        }
        if !forgotten.is_empty() {
            for key in self.dead.iter().keys() {
                let key = key?;
                if outbox_key_article(&key).is_some_and(|id| forgotten.contains(id))
                    && self.dead.remove(&key)?.is_some()
                {
                    Counts::add(&self.counts.dead, -1);
                }
            }
        }
        Ok(done)
    }
}

// ---- whole-database copies, for `herald backup` and `herald restore` ----

/// The folder sled keeps the database in, under `data_dir`.
const DB_DIR: &str = "herald.sled";
/// Where `Store::build` writes a database before it moves it into place.
const DB_BUILDING: &str = "herald.sled.restoring";
/// Entries written to a database being built in one batch.
const BUILD_BATCH: usize = 1000;

impl Store {
    /// Whether `dir` holds a Herald database.
    pub fn exists_in(dir: &Path) -> bool {
        dir.join(DB_DIR).exists()
    }

    /// Waits until the database in `dir`, dropped by this process, is closed for good (see
    /// `wait_until_closed`), for a test that opens it again at once.
    #[cfg(test)]
    pub(crate) fn wait_closed(dir: &Path) {
        wait_until_closed(&dir.join(DB_DIR));
    }

    /// The name of every tree in the database (sled's default tree included), sorted: all
    /// of them, also trees a later Herald added, so a copy never leaves one out.
    pub fn tree_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        names.sort();
        names
    }

    /// Calls `each(tree, key, value)` for every entry of every tree in [`Store::tree_names`],
    /// tree by tree in key order, until `each` fails. Nothing else may write meanwhile for
    /// the copy to be consistent: the caller holds the database (no bot runs).
    pub fn for_each_entry<E: From<StoreError>>(
        &self,
        mut each: impl FnMut(&str, &[u8], &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        for name in self.tree_names() {
            let tree = self
                .db
                .open_tree(name.as_bytes())
                .map_err(StoreError::from)?;
            for entry in tree.iter() {
                let (key, value) = entry.map_err(StoreError::from)?;
                each(&name, &key, &value)?;
            }
        }
        Ok(())
    }

    /// Builds a new database in `dir`, which must not hold one, from the entries `fill`
    /// gives to its [`Builder`]. The database is written beside the final place, flushed
    /// and moved there only when `fill` succeeded, so a failed build leaves `dir` without a
    /// database (as it was), never with half of one.
    pub fn build<E: From<StoreError>>(
        dir: &Path,
        fill: impl FnOnce(&mut Builder) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        create_private_dir(dir)
            .map_err(|source| StoreError::DataDir {
                dir: dir.to_path_buf(),
                source,
            })
            .map_err(E::from)?;
        let building = dir.join(DB_BUILDING);
        // A build interrupted before (a crash) left only this folder: start it again.
        if building.exists() {
            std::fs::remove_dir_all(&building).map_err(|e| StoreError::from(sled::Error::Io(e)))?;
        }
        let result = (|| {
            let db = sled::Config::new()
                .path(&building)
                .cache_capacity(CACHE_BYTES)
                .open()
                .map_err(StoreError::from)?;
            let mut builder = Builder {
                db,
                trees: HashMap::new(),
                pending: HashMap::new(),
                queued: 0,
            };
            fill(&mut builder)?;
            builder.write_pending()?;
            builder.db.flush().map_err(StoreError::from)?;
            drop(builder);
            wait_until_closed(&building);
            std::fs::rename(&building, dir.join(DB_DIR))
                .map_err(|e| StoreError::from(sled::Error::Io(e)))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&building);
        }
        result
    }
}

/// Waits (a few seconds at most) until sled has let go of the database in `path`: a
/// dropped `sled::Db` releases its file lock only when its I/O threads are done with it,
/// so a database opened again at once may still be locked by its closing self.
fn wait_until_closed(path: &Path) {
    let Ok(file) = std::fs::File::open(path.join("db")) else {
        return;
    };
    for _ in 0..500 {
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                return;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(std::fs::TryLockError::Error(_)) => return,
        }
    }
}

/// A database under construction (see [`Store::build`]).
pub struct Builder {
    db: sled::Db,
    trees: HashMap<String, sled::Tree>,
    pending: HashMap<String, sled::Batch>,
    queued: usize,
}

impl Builder {
    /// Makes sure the tree exists, also when it stays empty.
    pub fn tree(&mut self, name: &str) -> Result<()> {
        if !self.trees.contains_key(name) {
            let tree = self.db.open_tree(name.as_bytes())?;
            self.trees.insert(name.to_string(), tree);
        }
        Ok(())
    }

    /// Sets `key` to `value` in the tree `name`.
    pub fn insert(&mut self, name: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(name)?;
        self.pending
            .entry(name.to_string())
            .or_default()
            .insert(key, value);
        self.queued += 1;
        if self.queued >= BUILD_BATCH {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        for (name, batch) in self.pending.drain() {
            self.trees[&name].apply_batch(batch)?;
        }
        self.queued = 0;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Milliseconds since the epoch, offset so that the big-endian bytes sort in time order.
fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_key(t: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut key = time_bytes(t).to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

fn chat_prefix(target: &Target) -> Vec<u8> {
    let mut key = target.to_string().into_bytes();
    key.push(0);
    key
}

/// Within a transaction: queues each of `deliveries` whose article is in `times` (new to
/// the feed, with its stored time), unless the chat has it queued, sent or set aside.
/// Returns how many were queued.
fn queue_new(
    outbox: &TransactionalTree,
    sent: &TransactionalTree,
    dead: &TransactionalTree,
    times: &HashMap<&str, DateTime<Utc>>,
    deliveries: &[(Target, String)],
    now: DateTime<Utc>,
) -> std::result::Result<usize, ConflictableTransactionError<StoreError>> {
    let mut queued = 0;
    for (target, id) in deliveries {
        let Some(time) = times.get(id.as_str()) else {
            continue;
        };
        let key = outbox_key(target, *time, id);
        if sent.get(sent_key(target, id))?.is_some()
            || outbox.get(&key)?.is_some()
            || dead.get(&key)?.is_some()
        {
            continue;
        }
        let delivery = Delivery {
            article: id.clone(),
            enqueued: now,
            edit: false,
        };
        let json = serde_json::to_vec(&delivery).expect("a delivery serializes");
        outbox.insert(key, json)?;
        queued += 1;
    }
    Ok(queued)
}

fn outbox_key(target: &Target, t: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(&time_bytes(t));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The article id in an outbox (or set-aside) key: after the chat, its NUL and the time.
fn outbox_key_article(key: &[u8]) -> Option<&[u8]> {
    let nul = key.iter().position(|&b| b == 0)?;
    key.get(nul + 1 + 8..)
}

fn posted_prefix(id: &str) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key
}

fn feed_item_key(feed: &str, id: &str) -> Vec<u8> {
    let mut key = feed.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
}

fn sent_key(target: &Target, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(id.as_bytes());
    key
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

fn pause_key(target: Option<&Target>) -> Vec<u8> {
    target.map_or_else(|| PAUSE_ALL.to_vec(), |t| t.to_string().into_bytes())
}

fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
    tree.get(key)?.map(|v| from_json(&v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn article(n: u32, lang: &str) -> Article {
        Article {
            link: Some(format!("https://example.org/{n}")),
            published: Some(Utc.with_ymd_and_hms(2025, 1, n, 12, 0, 0).unwrap()),
            feed: "feed".into(),
            ..Article::sample(n, lang)
        }
    }

    fn chat(name: &str) -> Target {
        name.parse().unwrap()
    }

    /// Every (chat, article id) waiting in the outbox, in key order.
    fn queued(store: &Store) -> Vec<(String, String)> {
        store
            .outbox
            .iter()
            .map(|e| {
                let (key, value) = e.unwrap();
                let end = key.iter().position(|&b| b == 0).unwrap();
                let chat = String::from_utf8_lossy(&key[..end]).into_owned();
                let delivery: Delivery = from_json(&value).unwrap();
                (chat, delivery.article)
            })
            .collect()
    }

    type Entries = Vec<(Vec<u8>, Vec<u8>)>;

    /// Every tree's entries, by tree name.
    fn contents(store: &Store) -> std::collections::BTreeMap<String, Entries> {
        let mut all = std::collections::BTreeMap::new();
        for name in store.tree_names() {
            let tree = store.db.open_tree(name.as_bytes()).unwrap();
            let entries = tree
                .iter()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.to_vec(), v.to_vec())
                })
                .collect();
            all.insert(name, entries);
        }
        all
    }

    #[tokio::test]
    async fn every_tree_is_copied_into_a_new_database_including_trees_added_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let articles = [article(1, "en"), article(2, "de")];
        let reader = chat("telegram:100");
        store
            .commit_poll(
                "en.xml",
                &FeedState::default(),
                &articles,
                &to(&[&reader], &[&articles[0], &articles[1]]),
                None,
            )
            .await
            .unwrap();
        // A tree a later Herald adds, and an entry in every tree (also the ones this test
        // has no API call for), so a tree left out of the copy fails the comparison.
        store.db.open_tree("added_later").unwrap();
        for name in store.tree_names() {
            let tree = store.db.open_tree(name.as_bytes()).unwrap();
            tree.insert(format!("key of {name}\0\u{1}"), &[0u8, 255, 10][..])
                .unwrap();
        }
        let before = contents(&store);
        for tree in [
            "articles",
            "by_time",
            "feeds",
            "chats",
            "outbox",
            "sent",
            "moved",
            "dead",
            "feed_items",
            "last_sent",
            "posted",
            "feed_polls",
            "send_failures",
            "added_channels",
            "paused",
            "added_later",
        ] {
            assert!(before.contains_key(tree), "{tree} is enumerated");
        }
        assert!(before.values().all(|entries| !entries.is_empty()));

        let mut copied = Vec::new();
        store
            .for_each_entry(|tree, key, value| -> Result<()> {
                copied.push((tree.to_string(), key.to_vec(), value.to_vec()));
                Ok(())
            })
            .unwrap();
        let target = tempfile::tempdir().unwrap();
        let names = store.tree_names();
        Store::build(target.path(), |db| -> Result<()> {
            for name in &names {
                db.tree(name)?;
            }
            for (tree, key, value) in &copied {
                db.insert(tree, key, value)?;
            }
            Ok(())
        })
        .unwrap();
        assert!(!target.path().join(DB_BUILDING).exists());

        let restored = Store::open(target.path()).unwrap();
        assert_eq!(contents(&restored), before);
        // The counters of the restored store are counted from what was copied.
        assert_eq!(restored.article_count(), store.articles.len());
        assert_eq!(restored.outbox_len(), store.outbox.len());
        assert_eq!(
            restored.latest(&LangSet::All, 5).unwrap(),
            store.latest(&LangSet::All, 5).unwrap()
        );
    }

    #[test]
    fn a_failed_build_leaves_no_database() {
        let target = tempfile::tempdir().unwrap();
        let failed = Store::build(target.path(), |db| -> Result<()> {
            db.insert("articles", b"a", b"b")?;
            Err(StoreError::Flush("the input broke off".into()))
        });
        assert!(failed.is_err());
        assert!(!Store::exists_in(target.path()));
        assert!(!target.path().join(DB_BUILDING).exists());
    }

    fn to(chats: &[&Target], articles: &[&Article]) -> Vec<(Target, String)> {
        articles
            .iter()
            .flat_map(|a| chats.iter().map(|c| ((*c).clone(), a.id.clone())))
            .collect()
    }

    #[tokio::test]
    async fn an_article_another_feed_stored_first_reaches_the_chats_of_this_feed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let (shared, en_only, de_only) = (article(1, "en"), article(2, "en"), article(3, "de"));
        let de_chat = chat("telegram:100"); // follows the German feed only
        let both = chat("telegram:200"); // follows both feeds

        let en = [shared.clone(), en_only.clone()];
        let done = store
            .commit_poll(
                "en.xml",
                &state,
                &en,
                &to(&[&both], &[&shared, &en_only]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Committed {
                stored: 2,
                new_to_feed: 2,
                queued: 2,
                ..Committed::default()
            }
        );

        // The German feed lists the English article too: stored already, but new to it.
        let de = [shared.clone(), de_only.clone()];
        let poll_de = to(&[&de_chat, &both], &[&shared, &de_only]);
        let done = store
            .commit_poll("de.xml", &state, &de, &poll_de, None)
            .await
            .unwrap();
        assert_eq!(
            done,
            Committed {
                stored: 1,
                new_to_feed: 2,
                queued: 3,
                ..Committed::default()
            },
            "the German-only chat gets both, the other chat only what it lacks"
        );
        let mut all = queued(&store);
        all.sort();
        let mut expected = vec![
            ("telegram:100".to_string(), shared.id.clone()),
            ("telegram:100".to_string(), de_only.id.clone()),
            ("telegram:200".to_string(), shared.id.clone()),
            ("telegram:200".to_string(), en_only.id.clone()),
            ("telegram:200".to_string(), de_only.id.clone()),
        ];
        expected.sort();
        assert_eq!(all, expected);
        assert_eq!(store.outbox_len(), 5);
        assert_eq!(store.article_count(), 3);

        // Sent, then listed again by either feed: never queued a second time.
        let pending = store.next_for(&both).unwrap().unwrap();
        store.mark_sent(&pending, "m1", None).await.unwrap();
        for (feed, items) in [("en.xml", &en[..]), ("de.xml", &de[..])] {
            let done = store
                .commit_poll(feed, &state, items, &poll_de, None)
                .await
                .unwrap();
            assert_eq!(done, Committed::default(), "{feed}");
        }
        assert_eq!(store.outbox_len(), 4);
    }

    #[tokio::test]
    async fn a_fan_out_to_more_chats_than_one_transaction_holds_queues_each_chat_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let (a, b) = (article(1, "en"), article(2, "en"));
        let chats: Vec<Target> = (0..DELIVERY_CHUNK as i64 * 2 + 500)
            .map(|n| chat(&format!("telegram:{}", 10_000 + n)))
            .collect();
        let refs: Vec<&Target> = chats.iter().collect();
        // Another feed brought `a` to the last chat, which has it queued already.
        store
            .commit_poll(
                "de.xml",
                &state,
                std::slice::from_ref(&a),
                &to(&refs[refs.len() - 1..], &[&a]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.outbox_len(), 1);

        // A poll killed after storing the articles and queueing the first chunk.
        let fan_out = to(&refs, &[&a, &b]);
        assert!(fan_out.len() > 4 * DELIVERY_CHUNK);
        store.store_new_articles(&[a.clone(), b.clone()]).unwrap();
        let times = HashMap::from([(a.id.as_str(), a.time()), (b.id.as_str(), b.time())]);
        store
            .queue_deliveries(&times, &fan_out[..DELIVERY_CHUNK])
            .unwrap();
        drop(store);

        // The next process polls again: the rest is queued, nothing twice.
        let store = Store::open(dir.path()).unwrap();
        let done = store
            .commit_poll("en.xml", &state, &[a.clone(), b.clone()], &fan_out, None)
            .await
            .unwrap();
        assert_eq!(
            (done.stored, done.new_to_feed, done.queued),
            (0, 2, fan_out.len() - DELIVERY_CHUNK - 1)
        );
        assert_eq!(store.outbox_len(), fan_out.len());
        let all = queued(&store);
        let unique: HashSet<&(String, String)> = all.iter().collect();
        assert_eq!((all.len(), unique.len()), (fan_out.len(), fan_out.len()));

        // Listed again: nothing new to the feed, nothing queued.
        let done = store
            .commit_poll("en.xml", &state, &[a.clone(), b.clone()], &fan_out, None)
            .await
            .unwrap();
        assert_eq!(done, Committed::default());
        assert_eq!(store.outbox_len(), fan_out.len());
    }

    #[tokio::test]
    async fn the_chats_waiting_are_read_a_page_at_a_time_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (article(1, "en"), article(2, "en"));
        // Names that are prefixes of others, and two deliveries for some chats.
        let names = [
            "telegram:1",
            "telegram:10",
            "telegram:100",
            "matrix:!r:x",
            "telegram:2",
        ];
        let chats: Vec<Target> = names.iter().map(|n| chat(n)).collect();
        let refs: Vec<&Target> = chats.iter().collect();
        store
            .commit_poll(
                "en.xml",
                &FeedState::default(),
                &[a.clone(), b.clone()],
                &to(&refs, &[&a, &b]),
                None,
            )
            .await
            .unwrap();
        let mut read = Vec::new();
        let mut after: Option<Target> = None;
        loop {
            let page = store.pending_targets_after(after.as_ref(), 2).unwrap();
            assert!(page.len() <= 2);
            let Some(last) = page.last().cloned() else {
                break;
            };
            read.extend(page);
            after = Some(last);
        }
        assert_eq!(read, store.pending_targets().unwrap());
        let mut read: Vec<String> = read.iter().map(Target::to_string).collect();
        read.sort();
        let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        expected.sort();
        assert_eq!(read, expected);
    }

    #[tokio::test]
    async fn a_chat_that_had_an_article_is_not_sent_it_again_by_a_later_feed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let a = article(1, "en");
        let reader = chat("telegram:7");
        store
            .commit_poll(
                "en.xml",
                &state,
                std::slice::from_ref(&a),
                &to(&[&reader], &[&a]),
                None,
            )
            .await
            .unwrap();
        let pending = store.next_for(&reader).unwrap().unwrap();
        store.mark_sent(&pending, "m1", None).await.unwrap();
        let done = store
            .commit_poll(
                "de.xml",
                &state,
                std::slice::from_ref(&a),
                &to(&[&reader], &[&a]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(done.new_to_feed, 1);
        assert_eq!(done.queued, 0, "sent already");
        assert!(store.next_for(&reader).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_feeds_record_tells_the_language_each_of_its_posts_was_stored_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        // Post 3 was listed in two languages (its item's own language changed).
        let listed = [
            article(1, "en"),
            article(2, "de"),
            article(3, "en"),
            article(3, "fr"),
        ];
        store
            .commit_poll("en.xml", &state, &listed, &[], None)
            .await
            .unwrap();
        store
            .commit_poll("uk.xml", &state, &[article(4, "uk")], &[], None)
            .await
            .unwrap();
        let langs = store.feed_langs("en.xml").await.unwrap();
        let mut got: Vec<(String, String)> = langs
            .iter()
            .map(|(post, lang)| (post.clone(), lang.to_string()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("https://example.org/?p=1".to_string(), "en".to_string()),
                ("https://example.org/?p=2".to_string(), "de".to_string()),
            ]
        );
        assert!(store.feed_langs("never.xml").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_store_from_before_per_feed_records_reposts_nothing_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let (old, fresh) = (article(1, "en"), article(2, "en"));
        let reader = chat("telegram:7");
        store
            .commit_poll("en.xml", &state, std::slice::from_ref(&old), &[], None)
            .await
            .unwrap();
        // What an older Herald left: the feed's state and its articles, no item records.
        store.feed_items.clear().unwrap();
        assert_eq!(
            store
                .seen_by_feed("en.xml", [old.id.as_str(), fresh.id.as_str()])
                .unwrap(),
            HashSet::from([old.id.as_str()]),
            "stored articles count as seen by a feed with a state"
        );
        assert!(
            store
                .seen_by_feed("new.xml", [old.id.as_str()])
                .unwrap()
                .is_empty(),
            "a feed never polled has seen nothing"
        );
        let items = [old.clone(), fresh.clone()];
        let done = store
            .commit_poll(
                "en.xml",
                &state,
                &items,
                &to(&[&reader], &[&old, &fresh]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(done.queued, 1, "only the article new to the store");
        assert_eq!(
            queued(&store),
            vec![("telegram:7".into(), fresh.id.clone())]
        );
        // From now on the feed's own record decides.
        assert_eq!(
            store
                .seen_by_feed("en.xml", [old.id.as_str(), fresh.id.as_str()])
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn a_changed_article_queues_one_edit_per_message_that_carried_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let window = Some(Duration::from_secs(7 * 24 * 3600));
        let original = Article {
            feed: "en.xml".into(),
            ..article(1, "en")
        };
        let (a, b) = (chat("telegram:1"), chat("telegram:2"));
        let poll = |articles: Vec<Article>, window: Option<Duration>| {
            let (store, state) = (store.clone(), state.clone());
            let deliveries = to(&[&a, &b], &[&original]);
            async move {
                store
                    .commit_poll("en.xml", &state, &articles, &deliveries, window)
                    .await
                    .unwrap()
            }
        };
        poll(vec![original.clone()], window).await;
        for target in [&a, &b] {
            let pending = store.next_for(target).unwrap().unwrap();
            let revision = original.revision();
            store
                .mark_sent(&pending, "m1", Some(&revision))
                .await
                .unwrap();
        }

        // Spacing and a tracking parameter are no change.
        let cosmetic = Article {
            title: format!("  {} ", original.title),
            link: Some(format!("{}?utm_source=rss", original.link.clone().unwrap())),
            ..original.clone()
        };
        let done = poll(vec![cosmetic], window).await;
        assert_eq!((done.changed, done.edits), (0, 0));

        // A fixed title: the stored article follows, one edit per chat.
        let fixed = Article {
            title: "Article 1, corrected".into(),
            ..original.clone()
        };
        let done = poll(vec![fixed.clone()], window).await;
        assert_eq!((done.changed, done.edits, done.queued), (1, 2, 0));
        assert_eq!(
            store.article(&fixed.id).unwrap().unwrap().title,
            fixed.title
        );
        assert_eq!(store.outbox_len(), 2);
        let edit = store.next_for(&a).unwrap().unwrap();
        assert!(edit.delivery.edit);
        store
            .finish_edit(&edit, Some(&fixed.revision()))
            .await
            .unwrap();
        assert_eq!(
            store.was_sent(&a, &fixed.id).unwrap().unwrap().revision,
            Some(fixed.revision())
        );

        // The same text again (another feed poll): nothing more, and the edit still queued
        // for the other chat is not doubled.
        let done = poll(vec![fixed.clone()], window).await;
        assert_eq!((done.changed, done.edits), (0, 0));
        assert_eq!(store.outbox_len(), 1);

        // Edits off: the article is updated, no edit is queued.
        let again = Article {
            excerpt: "A new first paragraph.".into(),
            ..fixed.clone()
        };
        let done = poll(vec![again.clone()], None).await;
        assert_eq!((done.changed, done.edits), (1, 0));
        assert_eq!(
            store.article(&again.id).unwrap().unwrap().excerpt,
            again.excerpt
        );

        // Older than the window: not edited.
        let late = Article {
            title: "Article 1, corrected once more".into(),
            ..again.clone()
        };
        let done = poll(vec![late], Some(Duration::ZERO)).await;
        assert_eq!((done.changed, done.edits), (1, 0));

        // Another edition's copy that differs does not change the article.
        let other = Article {
            title: "A translation's slip".into(),
            ..again
        };
        let done = store
            .commit_poll("de.xml", &state, &[other], &[], window)
            .await
            .unwrap();
        assert_eq!((done.changed, done.edits), (0, 0));
    }

    #[tokio::test]
    async fn forgetting_keeps_what_a_feed_lists_or_an_outbox_holds_and_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let (gone, waiting, listed) = (article(1, "en"), article(2, "en"), article(3, "en"));
        let reader = chat("telegram:7");
        let all = [gone.clone(), waiting.clone(), listed.clone()];
        store
            .commit_poll(
                "en.xml",
                &state,
                &all,
                &to(&[&reader], &[&gone, &waiting, &listed]),
                None,
            )
            .await
            .unwrap();
        // The oldest is sent, the newest too; the middle one still waits.
        let first = store.next_for(&reader).unwrap().unwrap();
        assert_eq!(first.delivery.article, gone.id);
        store.mark_sent(&first, "m1", None).await.unwrap();
        let key = outbox_key(&reader, listed.time(), &listed.id);
        let last = Pending {
            key,
            target: reader.clone(),
            delivery: Delivery {
                article: listed.id.clone(),
                enqueued: Utc::now(),
                edit: false,
            },
        };
        store.mark_sent(&last, "m3", None).await.unwrap();
        // A feed that left the configuration, with an article of its own.
        let orphan = article(4, "de");
        store
            .commit_poll("old.xml", &state, std::slice::from_ref(&orphan), &[], None)
            .await
            .unwrap();
        // The feed now lists only the newest article.
        store
            .commit_poll("en.xml", &state, std::slice::from_ref(&listed), &[], None)
            .await
            .unwrap();
        let configured = ["en.xml".to_string()];
        let keep = Duration::from_secs(30 * 24 * 3600);
        let day = chrono::Duration::days(1);

        let now = Utc::now();
        assert!(
            store
                .forget(now, keep, &configured)
                .await
                .unwrap()
                .is_empty(),
            "nothing has been unlisted for 30 days yet"
        );
        assert_eq!(store.article_count(), 4);

        let later = now + day * 31;
        let done = store.forget(later, keep, &configured).await.unwrap();
        assert_eq!(
            done,
            Forgotten {
                articles: 2,
                feed_items: 2,
                feeds: 1
            }
        );
        assert!(store.article(&gone.id).unwrap().is_none());
        assert!(store.was_sent(&reader, &gone.id).unwrap().is_none());
        assert!(store.posted_to(&gone.id).unwrap().is_empty());
        assert!(store.article(&orphan.id).unwrap().is_none());
        assert!(store.feed_state("old.xml").unwrap().is_none());
        assert_eq!(store.poll_record("old.xml").unwrap(), PollRecord::default());
        // Kept: the article in the outbox, and the one the feed still lists (with its
        // record of where it went, for edits).
        assert!(store.article(&waiting.id).unwrap().is_some());
        assert_eq!(
            queued(&store),
            vec![("telegram:7".into(), waiting.id.clone())]
        );
        assert!(store.article(&listed.id).unwrap().is_some());
        assert!(store.was_sent(&reader, &listed.id).unwrap().is_some());
        assert_eq!(store.posted_to(&listed.id).unwrap(), vec![reader.clone()]);
        assert_eq!(store.article_count(), 2);
        assert_eq!(
            store
                .seen_by_feed("en.xml", [listed.id.as_str(), gone.id.as_str()])
                .unwrap(),
            HashSet::from([listed.id.as_str()])
        );
        // A second pass finds nothing more; the counters match a fresh count.
        assert!(
            store
                .forget(later, keep, &configured)
                .await
                .unwrap()
                .is_empty()
        );
        let reopened_count = store.articles.len();
        assert_eq!(store.article_count(), reopened_count);

        // Once sent, the waiting article goes too (its feed stopped listing it long ago).
        let pending = store.next_for(&reader).unwrap().unwrap();
        store.mark_sent(&pending, "m2", None).await.unwrap();
        let done = store.forget(later, keep, &configured).await.unwrap();
        assert_eq!(done.articles, 1);
        assert_eq!(store.article_count(), 1);
    }

    #[tokio::test]
    async fn records_from_before_the_stamps_are_kept_for_the_whole_retention_from_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = FeedState::default();
        let (old, new) = (article(1, "en"), article(2, "en"));
        store
            .commit_poll("en.xml", &state, &[old.clone(), new.clone()], &[], None)
            .await
            .unwrap();
        store
            .commit_poll("en.xml", &state, std::slice::from_ref(&new), &[], None)
            .await
            .unwrap();
        // What a Herald without stamps left: empty values.
        for key in store.feed_items.iter().keys() {
            store.feed_items.insert(key.unwrap(), &[][..]).unwrap();
        }
        let configured = ["en.xml".to_string()];
        let keep = Duration::from_secs(30 * 24 * 3600);
        let upgrade = Utc::now() + chrono::Duration::days(100);
        assert!(
            store
                .forget(upgrade, keep, &configured)
                .await
                .unwrap()
                .is_empty()
        );
        // The next poll of the feed stamps what it lists; the unlisted record keeps the
        // upgrade's stamp, and goes `keep` after it.
        store
            .commit_poll("en.xml", &state, std::slice::from_ref(&new), &[], None)
            .await
            .unwrap();
        let soon = upgrade + chrono::Duration::days(29);
        assert!(
            store
                .forget(soon, keep, &configured)
                .await
                .unwrap()
                .is_empty()
        );
        let done = store
            .forget(upgrade + chrono::Duration::days(31), keep, &configured)
            .await
            .unwrap();
        assert_eq!((done.articles, done.feed_items), (1, 1));
        assert!(store.article(&new.id).unwrap().is_some());

        // A feed with a state but no records at all (polled only before per-feed records):
        // it may list any stored article, so no article is forgotten.
        store.feed_items.clear().unwrap();
        let done = store
            .forget(upgrade + chrono::Duration::days(400), keep, &configured)
            .await
            .unwrap();
        assert_eq!(done, Forgotten::default());
        assert!(store.article(&new.id).unwrap().is_some());
    }

    #[tokio::test]
    async fn counters_follow_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let check = |store: &Store| {
            assert_eq!(store.article_count(), store.articles.len(), "articles");
            assert_eq!(store.outbox_len(), store.outbox.len(), "outbox");
            assert_eq!(store.dead_count(), store.dead.len(), "dead");
        };
        let items: Vec<Article> = (1..=3).map(|n| article(n, "en")).collect();
        let refs: Vec<&Article> = items.iter().collect();
        let (a, b, c) = (chat("telegram:1"), chat("telegram:2"), chat("telegram:3"));
        store
            .commit_poll(
                "en.xml",
                &FeedState::default(),
                &items,
                &to(&[&a, &b, &c], &refs),
                None,
            )
            .await
            .unwrap();
        check(&store);
        assert_eq!((store.article_count(), store.outbox_len()), (3, 9));
        let pending = store.next_for(&a).unwrap().unwrap();
        store.mark_sent(&pending, "m", None).await.unwrap();
        check(&store);
        let pending = store.next_for(&a).unwrap().unwrap();
        store.give_up(&pending, "rejected").await.unwrap();
        check(&store);
        assert_eq!(store.dead_count(), 1);
        store.move_chat(&b, &chat("telegram:20")).await.unwrap();
        check(&store);
        store.forget_chat(&a).unwrap();
        store.forget_chat(&c).unwrap();
        store.flush().await.unwrap();
        check(&store);
        assert_eq!((store.outbox_len(), store.dead_count()), (3, 0));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        check(&store);
        assert_eq!(store.outbox_len(), 3, "counted again when opened");
    }

    #[tokio::test]
    async fn waiting_writers_share_one_flush_and_their_writes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // As if a flush were under way: every writer below must wait for the next one.
        store.flusher.state.lock().unwrap().running = true;
        let mut writers = tokio::task::JoinSet::new();
        for n in 0..50 {
            let store = store.clone();
            writers.spawn(async move {
                let target = chat(&format!("telegram:{n}"));
                let settings = ChatSettings {
                    langs: LangSet::All,
                    subscribed: true,
                    ui_lang: None,
                    since: Utc::now(),
                };
                store.put_chat(&target, &settings).unwrap();
                store.flush().await
            });
        }
        while store.flusher.done.receiver_count() < 50 {
            tokio::task::yield_now().await;
        }
        assert!(writers.try_join_next().is_none(), "all still waiting");
        let (flusher, db) = (store.flusher.clone(), Arc::downgrade(&store.db));
        tokio::task::spawn_blocking(move || flusher.run(&db))
            .await
            .unwrap();
        while let Some(result) = writers.join_next().await {
            result.unwrap().unwrap();
        }
        assert_eq!(store.flush_count(), 1, "one flush for fifty writers");
        assert!(!store.flusher.state.lock().unwrap().running);

        // A flush after that is a new one, started by its caller.
        store.flush().await.unwrap();
        assert_eq!(store.flush_count(), 2);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.subscribers().unwrap().len(), 50);
    }

    #[tokio::test]
    async fn pauses_hold_one_chat_or_all_survive_a_reopen_and_their_end_is_announced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b): (Target, Target) = (
            "telegram:-1001".parse().unwrap(),
            "console".parse().unwrap(),
        );
        let pause = Pause { at: Utc::now() };
        store.pause(Some(&a), &pause).unwrap();
        assert!(store.paused(&a).unwrap().is_some());
        assert!(store.paused(&b).unwrap().is_none());
        store.pause(None, &pause).unwrap();
        assert!(
            store.paused(&b).unwrap().is_some(),
            "the pause of every chat"
        );
        store.flush().await.unwrap();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        assert!(
            store.paused_all().unwrap().is_some(),
            "kept across a restart"
        );
        // Ending the pause of all leaves the chat paused on its own.
        assert!(store.resume(None).unwrap());
        tokio::time::timeout(std::time::Duration::from_secs(1), store.pause_ended())
            .await
            .expect("the end of a pause is announced");
        assert!(store.paused(&b).unwrap().is_none());
        assert!(store.paused(&a).unwrap().is_some());
        assert_eq!(
            store.paused_chats().unwrap(),
            vec![(a.clone(), pause.clone())]
        );
        assert!(!store.resume(None).unwrap(), "nothing left to resume");
        assert!(store.resume(Some(&a)).unwrap());
        assert!(store.paused(&a).unwrap().is_none());
    }
}

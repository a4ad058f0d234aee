//! A poll's commit: the articles a feed lists now are stored (or, changed, updated with
//! edits queued for their messages), recorded as listed by the feed, and the posts new to
//! the feed queued for its chats, with the feed's state, in one transaction (a fan-out to
//! very many chats in several). Also what a feed has listed before, by the upgrade rule for
//! stores from before per-feed records (see the module doc).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::keys::{
    feed_item_key, feed_marker, outbox_key, posted_prefix, read_posted_chat, read_stamp, sent_key,
    stamp, time_key,
};
use super::records::{from_json_in, to_json, to_json_in};
use super::{Counts, FeedState, QueuedPost, Result, SentRecord, Store, StoreError};
use crate::article::{Article, Lang, Target};

/// Deliveries queued in one transaction: a transaction holds all its writes in memory.
pub(super) const DELIVERY_CHUNK: usize = 1000;

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

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
    /// Changed articles whose link alone changed, in a poll where most did (a site
    /// migration): stored with the new link, no message edited.
    pub links_moved: usize,
}

/// Whether `changed` of a feed's `listed` items changing one way at once is a mass change
/// (a site migration) rather than an editor's work: more than half of them, and more than
/// two.
pub fn is_mass_change(changed: usize, listed: usize) -> bool {
    changed > (listed / 2).max(2)
}

/// How the store knows what a feed has listed: the upgrade rule, written once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Listings {
    /// The feed's own record (`feed_items`, with its marker) decides.
    Recorded,
    /// A feed with a state but no record (polled only before per-feed records): every
    /// article stored counts as listed by it.
    BeforeRecords,
    /// A feed never polled: it has listed nothing.
    Unknown,
}

impl Listings {
    /// By whether the feed has its marker in `feed_items`, and whether it has a state
    /// (which only matters without the marker).
    pub(super) fn of(marker: bool, state: bool) -> Listings {
        match (marker, state) {
            (true, _) => Listings::Recorded,
            (false, true) => Listings::BeforeRecords,
            (false, false) => Listings::Unknown,
        }
    }

    /// Whether the feed listed an article: `stored` tells whether the store has it,
    /// `recorded` whether the feed's record has it (each asked only when it decides).
    fn listed<E>(
        self,
        stored: impl FnOnce() -> std::result::Result<bool, E>,
        recorded: impl FnOnce() -> std::result::Result<bool, E>,
    ) -> std::result::Result<bool, E> {
        match self {
            Listings::Recorded => recorded(),
            Listings::BeforeRecords => stored(),
            Listings::Unknown => Ok(false),
        }
    }
}

impl Store {
    /// Which of `ids` the feed has listed before. A feed with a state but no record of its
    /// items (a store from before per-feed records) has seen every article stored.
    pub fn seen_by_feed<'a>(
        &self,
        feed: &str,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashSet<&'a str>> {
        let t = self.t()?;
        let marker = t.feed_items.contains_key(feed_marker(feed))?;
        let listings = Listings::of(marker, !marker && t.feeds.contains_key(feed.as_bytes())?);
        let mut seen = HashSet::new();
        for id in ids {
            let known = listings.listed(
                || t.articles.contains_key(id.as_bytes()),
                || t.feed_items.contains_key(feed_item_key(feed, id)),
            )?;
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
            .map_err(|e| StoreError::Task(format!("reading a feed's record stopped: {e}")))?
    }

    fn feed_langs_now(&self, feed: &str) -> Result<HashMap<String, Lang>> {
        let t = self.t()?;
        let prefix = feed_marker(feed);
        let mut langs: HashMap<String, Option<Lang>> = HashMap::new();
        for key in t.feed_items.scan_prefix(&prefix).keys() {
            let key = key?;
            let Ok(id) = std::str::from_utf8(&key[prefix.len()..]) else {
                continue;
            };
            // Not an article's id: the feed's own marker.
            let Some((lang, post)) = Article::split_id(id) else {
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
        self.writable_at("commit_poll")?;
        let written = async {
            let _commit = self.commits.read().await;
            let fan_out = deliveries.len() > DELIVERY_CHUNK;
            // A fan-out is queued ahead, in chunks; the poll's transaction then queues nothing.
            let ahead = match fan_out {
                true => Some(self.queue_ahead(feed, articles, deliveries)?),
                false => None,
            };
            let in_transaction = if fan_out { &[][..] } else { deliveries };
            let mut done = self.record_poll(feed, state, articles, in_transaction, edit_window)?;
            if let Some(ahead) = ahead {
                done.stored += ahead.stored;
                done.new_to_feed = ahead.new_to_feed;
                done.queued += ahead.queued;
            }
            self.flush().await?;
            Ok(done)
        }
        .await;
        self.wrote(written)
    }

    /// The first steps of a fan-out's commit: stores the new articles, then queues the
    /// deliveries of those new to the feed, `DELIVERY_CHUNK` a transaction.
    fn queue_ahead(
        &self,
        feed: &str,
        articles: &[Article],
        deliveries: &[(Target, String)],
    ) -> Result<Committed> {
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
        Ok(Committed {
            stored,
            new_to_feed: unseen.len(),
            queued,
            ..Committed::default()
        })
    }

    /// Stores the articles the store does not have yet (nothing else); returns how many.
    pub(super) fn store_new_articles(&self, articles: &[Article]) -> Result<usize> {
        let t = self.t()?;
        let encoded: Vec<(Vec<u8>, &Article)> = articles
            .iter()
            .map(|a| to_json(a).map(|j| (j, a)))
            .collect::<Result<_>>()?;
        let stored = (&t.articles, &t.by_time).transaction(|(articles_t, by_time_t)| {
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
    pub(super) fn queue_deliveries(
        &self,
        times: &HashMap<&str, DateTime<Utc>>,
        deliveries: &[(Target, String)],
    ) -> Result<usize> {
        let t = self.t()?;
        let now = Utc::now();
        let queued =
            (&t.outbox, &t.sent, &t.set_aside).transaction(|(outbox_t, sent_t, set_aside_t)| {
                queue_new(outbox_t, sent_t, set_aside_t, times, deliveries, now)
            })?;
        Counts::add(&self.counts.outbox, queued as i64);
        Ok(queued)
    }

    /// The poll's transaction (see [`Store::commit_poll`]); not flushed.
    fn record_poll(
        &self,
        feed: &str,
        state: &FeedState,
        articles: &[Article],
        deliveries: &[(Target, String)],
        edit_window: Option<std::time::Duration>,
    ) -> Result<Committed> {
        let t = self.t()?;
        // The chats each changed article went to, found outside the transaction (which
        // cannot scan); the transaction checks the change again.
        let mut posted_to: HashMap<&str, Vec<Target>> = HashMap::new();
        let mut links_moved: Vec<&str> = Vec::new();
        // The articles listed now that this feed brought: only those can change by it.
        let mut owned = 0;
        for article in articles {
            let stored = self.article(&article.id)?.filter(|s| s.feed == feed);
            owned += usize::from(stored.is_some());
            if let Some(stored) = stored
                && stored.revision() != article.revision()
            {
                if stored.only_the_link_differs(article) {
                    links_moved.push(&article.id);
                }
                let mut chats = Vec::new();
                if edit_window.is_some() {
                    let prefix = posted_prefix(&article.id);
                    for key in t.posted.scan_prefix(&prefix).keys() {
                        if let Some(target) = read_posted_chat(&key?, prefix.len()) {
                            chats.push(target);
                        }
                    }
                }
                posted_to.insert(article.id.as_str(), chats);
            }
        }
        // A migration that keeps the guids but moves every link (a new domain, https, a new
        // permalink scheme) would edit every recent message: the new links are stored and no
        // message is edited.
        let links_moved = match is_mass_change(links_moved.len(), owned) {
            true => links_moved,
            false => Vec::new(),
        };
        for id in &links_moved {
            if let Some(chats) = posted_to.get_mut(id) {
                chats.clear();
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
        let marker = feed_marker(feed);
        let trees = (
            &t.articles,
            &t.by_time,
            &t.feeds,
            &t.feed_items,
            &t.outbox,
            &t.sent,
            &t.set_aside,
        );
        let committed = trees.transaction(
            |(articles_t, by_time_t, feeds_t, items_t, outbox_t, sent_t, set_aside_t)| {
                let previous = items_t.get(&marker)?;
                let tracked = previous.is_some();
                let state = !tracked && feeds_t.get(feed.as_bytes())?.is_some();
                let listings = Listings::of(tracked, state);
                // Later than the previous poll's stamp, also within one millisecond or
                // after the clock went back: "older than the marker" means "not listed now".
                let previous = previous.and_then(|v| read_stamp(&v)).unwrap_or(i64::MIN);
                let stamp = stamp(now.timestamp_millis().max(previous.saturating_add(1)));
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
                        let old: Article = from_json_in(bytes)?;
                        if let Some(edits) = update_changed(
                            (articles_t, by_time_t, outbox_t, sent_t),
                            &old,
                            article,
                            chats,
                            edit_window,
                            now,
                        )? {
                            done.changed += 1;
                            done.edits += edits;
                        }
                    }
                    let item = feed_item_key(feed, id);
                    let seen = listings.listed::<ConflictableTransactionError<StoreError>>(
                        || Ok(stored.is_some()),
                        || Ok(items_t.get(&item)?.is_some()),
                    )?;
                    // Every item listed now is stamped with this poll's time, as is the
                    // feed's marker: an item whose stamp is older than the marker's is no
                    // longer listed (see `Store::forget`).
                    items_t.insert(item, &stamp[..])?;
                    if !seen {
                        let time = match &stored {
                            Some(bytes) => from_json_in::<Article>(bytes)?.time(),
                            None => article.time(),
                        };
                        new_to_feed.insert(id, time);
                    }
                }
                items_t.insert(marker.as_slice(), &stamp[..])?;
                done.links_moved = links_moved.len();
                done.new_to_feed = new_to_feed.len();
                done.queued =
                    queue_new(outbox_t, sent_t, set_aside_t, &new_to_feed, deliveries, now)?;
                feeds_t.insert(feed.as_bytes(), state_json.as_slice())?;
                Ok::<_, ConflictableTransactionError<StoreError>>(done)
            },
        )?;
        Counts::add(&self.counts.articles, committed.stored as i64);
        Counts::add(
            &self.counts.outbox,
            (committed.queued + committed.edits) as i64,
        );
        Ok(committed)
    }
}

/// Edit detection, within the poll's transaction: when `article`, as the feed lists it
/// now, shows a reader another text than the stored `old`, the stored article follows (kept
/// where and when it was first seen), and with `edit_window` an edit is queued for each of
/// `chats` whose message is younger than the window and does not show this revision yet.
/// Returns the edits queued, or `None` when the text did not change.
fn update_changed(
    (articles, by_time, outbox, sent): (
        &TransactionalTree,
        &TransactionalTree,
        &TransactionalTree,
        &TransactionalTree,
    ),
    old: &Article,
    article: &Article,
    chats: &[Target],
    edit_window: Option<chrono::Duration>,
    now: DateTime<Utc>,
) -> TxResult<Option<usize>> {
    let id = article.id.as_str();
    let revision = article.revision();
    if old.revision() == revision {
        return Ok(None);
    }
    // The new text, kept where and when it was first seen.
    let updated = Article {
        feed: old.feed.clone(),
        seen: old.seen,
        ..article.clone()
    };
    articles.insert(id.as_bytes(), to_json_in(&updated)?)?;
    if old.time() != updated.time() {
        by_time.remove(time_key(old.time(), id))?;
        by_time.insert(time_key(updated.time(), id), &[][..])?;
    }
    let mut edits = 0;
    for target in chats {
        let Some(window) = edit_window else { break };
        let Some(record) = sent.get(sent_key(target, id))? else {
            continue;
        };
        let record: SentRecord = from_json_in(&record)?;
        if now - record.at > window || record.revision.as_deref() == Some(revision.as_str()) {
            continue;
        }
        let edit = QueuedPost {
            article: id.to_owned(),
            enqueued: now,
            edit: true,
        };
        let key = outbox_key(target, updated.time(), id);
        if outbox.insert(key, to_json_in(&edit)?)?.is_none() {
            edits += 1;
        }
    }
    Ok(Some(edits))
}

/// Within a transaction: queues each of `deliveries` whose article is in `times` (new to
/// the feed, with its stored time), unless the chat has it queued, sent or set aside.
/// Returns how many were queued.
fn queue_new(
    outbox: &TransactionalTree,
    sent: &TransactionalTree,
    set_aside: &TransactionalTree,
    times: &HashMap<&str, DateTime<Utc>>,
    deliveries: &[(Target, String)],
    now: DateTime<Utc>,
) -> TxResult<usize> {
    let mut queued = 0;
    for (target, id) in deliveries {
        let Some(time) = times.get(id.as_str()) else {
            continue;
        };
        let key = outbox_key(target, *time, id);
        if sent.get(sent_key(target, id))?.is_some()
            || outbox.get(&key)?.is_some()
            || set_aside.get(&key)?.is_some()
        {
            continue;
        }
        let post = QueuedPost {
            article: id.clone(),
            enqueued: now,
            edit: false,
        };
        let json = serde_json::to_vec(&post).expect("a queued post serializes");
        outbox.insert(key, json)?;
        queued += 1;
    }
    Ok(queued)
}

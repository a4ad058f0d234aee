//! Forgetting what is no longer needed (see the module doc): feeds' records of items they
//! stopped listing, feeds that left the configuration, and old articles no feed lists and
//! no outbox holds, with their records of where they went.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::ingest::Listings;
use super::keys::{
    feed_marker, outbox_key_article, posted_prefix, read_feed_item_key, read_posted_chat,
    read_stamp, read_time_key, sent_key, stamp,
};
use super::records::from_json;
use super::{Counts, FeedState, PollRecord, Result, Store, StoreError};

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

/// The one field of a stored article that forgetting reads: the feed that brought it.
#[derive(serde::Deserialize)]
struct BroughtBy {
    feed: String,
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
        self.writable_at("forget")?;
        let written = async {
            let _alone = self.commits.write().await;
            let (store, configured) = (self.clone(), configured.to_vec());
            let done =
                tokio::task::spawn_blocking(move || store.forget_now(now, keep, &configured))
                    .await
                    .map_err(|e| StoreError::Task(format!("forgetting stopped: {e}")))??;
            self.flush().await?;
            Ok(done)
        }
        .await;
        self.wrote(written)
    }

    fn forget_now(
        &self,
        now: DateTime<Utc>,
        keep: std::time::Duration,
        configured: &[String],
    ) -> Result<Forgotten> {
        let t = self.t()?;
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let Some(cutoff) = now.checked_sub_signed(keep) else {
            return Ok(Forgotten::default());
        };
        let cutoff = cutoff.timestamp_millis();
        let now_stamp = stamp(now.timestamp_millis());
        let mut done = Forgotten::default();

        // Each feed's records: its marker's stamp and its items' stamps. A record without a
        // stamp (written before stamps) is stamped now, so it is kept `keep` from now on.
        struct FeedRecords {
            marker: Option<i64>,
            items: Vec<(Vec<u8>, i64)>,
        }
        let mut feeds: HashMap<String, FeedRecords> = HashMap::new();
        for entry in t.feed_items.iter() {
            let (key, value) = entry?;
            let Some((feed, id)) = read_feed_item_key(&key) else {
                continue;
            };
            let feed = String::from_utf8_lossy(feed).into_owned();
            let stamp = match read_stamp(&value) {
                Some(stamp) => stamp,
                None => {
                    t.feed_items.insert(&key, &now_stamp[..])?;
                    now.timestamp_millis()
                }
            };
            let records = feeds.entry(feed).or_insert(FeedRecords {
                marker: None,
                items: Vec::new(),
            });
            if id.is_empty() {
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
                    t.feed_items.remove(key)?;
                }
                t.feed_polls.remove(feed.as_bytes())?;
                t.feeds.remove(feed.as_bytes())?;
                // The marker last: until it goes, the next pass finds the feed again.
                t.feed_items.remove(feed_marker(feed))?;
                done.feeds += 1;
                continue;
            }
            for (key, stamp) in &records.items {
                // Not in the feed's last body, and not for `keep`.
                if *stamp < marker && *stamp < cutoff {
                    t.feed_items.remove(key)?;
                    done.feed_items += 1;
                } else {
                    listed.insert(key[feed.len() + 1..].to_vec());
                }
            }
        }
        // Feeds polled before the per-feed records and not since (a dead URL, a feed that
        // answers "not modified" every time) have a state but no record: by the upgrade
        // rule every stored article counts as seen by such a feed, so an article it still
        // lists and that was forgotten would be new to it. What each of them brought stays
        // until it is polled again; one no longer configured goes, with its state, once it
        // has not been polled for `keep`.
        let mut unrecorded: HashSet<String> = HashSet::new();
        for entry in t.feeds.iter() {
            let (key, value) = entry?;
            let feed = String::from_utf8_lossy(&key).into_owned();
            let marker = feeds
                .get(&feed)
                .is_some_and(|records| records.marker.is_some());
            if Listings::of(marker, true) != Listings::BeforeRecords {
                continue;
            }
            if !configured.contains(&feed) && self.last_polled(&value, &key)? < cutoff {
                t.feed_polls.remove(&key)?;
                t.feeds.remove(&key)?;
                done.feeds += 1;
                continue;
            }
            unrecorded.insert(feed);
        }

        // Articles waiting in an outbox (an edit of a sent one too).
        let mut queued: HashSet<Vec<u8>> = HashSet::new();
        for key in t.outbox.iter().keys() {
            let key = key?;
            if let Some(id) = outbox_key_article(&key) {
                queued.insert(id.to_vec());
            }
        }

        let mut forgotten: HashSet<Vec<u8>> = HashSet::new();
        for key in t.by_time.iter().keys() {
            let key = key?;
            let Some((time, id)) = read_time_key(&key) else {
                continue;
            };
            if time >= cutoff {
                break;
            }
            if listed.contains(id) || queued.contains(id) {
                continue;
            }
            if !unrecorded.is_empty()
                && let Some(bytes) = t.articles.get(id)?
                && from_json::<BroughtBy>(&bytes).is_ok_and(|a| unrecorded.contains(&a.feed))
            {
                continue;
            }
            let id_text = std::str::from_utf8(id)?;
            // Where it was posted first, then the article, then its place in time: a pass
            // cut short finds the article again by its time.
            let prefix = posted_prefix(id_text);
            for posted in t.posted.scan_prefix(&prefix).keys() {
                let posted = posted?;
                if let Some(target) = read_posted_chat(&posted, prefix.len()) {
                    t.sent.remove(sent_key(&target, id_text))?;
                }
                t.posted.remove(posted)?;
            }
            if t.articles.remove(id)?.is_some() {
                Counts::add(&self.counts.articles, -1);
                done.articles += 1;
            }
            t.by_time.remove(&key)?;
            forgotten.insert(id.to_vec());
        }
        if !forgotten.is_empty() {
            for key in t.set_aside.iter().keys() {
                let key = key?;
                if outbox_key_article(&key).is_some_and(|id| forgotten.contains(id))
                    && t.set_aside.remove(&key)?.is_some()
                {
                    Counts::add(&self.counts.set_aside, -1);
                }
            }
        }
        Ok(done)
    }

    /// When a feed was last polled, in milliseconds (`i64::MIN` when nothing says): its
    /// state's last body or first fetch, or its poll record's last success, the latest.
    fn last_polled(&self, state: &[u8], feed: &[u8]) -> Result<i64> {
        let state = from_json::<FeedState>(state).ok();
        let record = self
            .t()?
            .feed_polls
            .get(feed)?
            .and_then(|v| from_json::<PollRecord>(&v).ok());
        Ok([
            state.as_ref().and_then(|s| s.last_body),
            state.as_ref().and_then(|s| s.first_fetch),
            record.and_then(|r| r.last_success),
        ]
        .into_iter()
        .flatten()
        .map(|t| t.timestamp_millis())
        .max()
        .unwrap_or(i64::MIN))
    }
}

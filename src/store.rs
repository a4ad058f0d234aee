//! The only user of sled. Herald's memory: articles (with a time index for `/latest`), each
//! feed's state, chats and their settings, the outbox of deliveries still to make, the
//! record of what was sent (with the platform's message id, for later edits), chats that
//! moved, and deliveries given up on.
//!
//! Durability rules: a poll's new articles, the deliveries they cause and the feed's new
//! validators are written in one transaction and flushed, so a crash never leaves an ETag
//! that hides unsaved articles; a delivery is moved from the outbox to `sent` in one
//! transaction, flushed right after the send. The outbox is keyed by chat, then article
//! time, so each chat receives articles in publication order.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::article::{Article, Lang, LangSet, Target};
use crate::feed::Validators;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database in {} is in use by another Herald process{}; stop it first (or ask it in chat with /latest)", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { dir: PathBuf, pid: Option<u32> },
    #[error("database error: {0}")]
    Db(String),
    #[error("cannot create the data folder {}: {source}", dir.display())]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
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

/// A delivery waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub article: String,
    pub enqueued: DateTime<Utc>,
}

/// The outbox entry at the head of a chat's queue.
#[derive(Clone, Debug)]
pub struct Pending {
    key: Vec<u8>,
    pub target: Target,
    pub delivery: Delivery,
}

/// A message Herald posted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SentRecord {
    /// The platform's id of the message (Telegram message id, Matrix event id).
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    articles: sled::Tree,
    by_time: sled::Tree,
    feeds: sled::Tree,
    chats: sled::Tree,
    outbox: sled::Tree,
    sent: sled::Tree,
    moved: sled::Tree,
    dead: sled::Tree,
    /// One flush at a time: sled's flushes block its small I/O thread pool while they wait
    /// for writes that need that same pool, so many concurrent flushes deadlock it.
    flushing: std::sync::Arc<tokio::sync::Mutex<()>>,
}

const PID_FILE: &str = "herald.pid";

impl Store {
    /// Opens (creating) the database in `dir`, a folder readable by its owner only. Fails
    /// with `Locked` naming the holder when another process has it open.
    pub fn open(dir: &Path) -> Result<Store> {
        create_private_dir(dir).map_err(|source| StoreError::DataDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let db = match sled::Config::new().path(dir.join("herald.sled")).open() {
            Ok(db) => db,
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                let pid = std::fs::read_to_string(dir.join(PID_FILE))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid,
                });
            }
            Err(e) => return Err(e.into()),
        };
        // We hold the lock now: say who does, for the next process that finds it taken.
        let _ = std::fs::write(dir.join(PID_FILE), std::process::id().to_string());
        Ok(Store {
            articles: db.open_tree("articles")?,
            by_time: db.open_tree("by_time")?,
            feeds: db.open_tree("feeds")?,
            chats: db.open_tree("chats")?,
            outbox: db.open_tree("outbox")?,
            sent: db.open_tree("sent")?,
            moved: db.open_tree("moved")?,
            dead: db.open_tree("dead")?,
            flushing: Default::default(),
            db,
        })
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        self.db.flush_async().await?;
        Ok(())
    }

    // ---- feeds and articles ----

    pub fn feed_state(&self, feed: &str) -> Result<Option<FeedState>> {
        get_json(&self.feeds, feed.as_bytes())
    }

    pub fn has_article(&self, id: &str) -> Result<bool> {
        Ok(self.articles.contains_key(id.as_bytes())?)
    }

    pub fn article(&self, id: &str) -> Result<Option<Article>> {
        get_json(&self.articles, id.as_bytes())
    }

    pub fn article_count(&self) -> usize {
        self.articles.len()
    }

    /// Records a poll in one transaction: the articles not stored yet, a delivery of each
    /// such article to each of its targets (never one already sent), and the feed's state.
    /// Returns how many articles were new. Flushed before returning.
    pub async fn commit_poll(
        &self,
        feed: &str,
        state: &FeedState,
        articles: &[Article],
        deliveries: &[(Target, String)],
    ) -> Result<usize> {
        let state_json = to_json(state)?;
        let encoded: Vec<(Vec<u8>, &Article)> = articles
            .iter()
            .map(|a| to_json(a).map(|j| (j, a)))
            .collect::<Result<_>>()?;
        let now = Utc::now();
        let trees = (
            &self.articles,
            &self.by_time,
            &self.feeds,
            &self.outbox,
            &self.sent,
        );
        let new = trees.transaction(|(articles_t, by_time_t, feeds_t, outbox_t, sent_t)| {
            let mut fresh: HashSet<&str> = HashSet::new();
            for (json, article) in &encoded {
                if articles_t.get(article.id.as_bytes())?.is_some()
                    || fresh.contains(article.id.as_str())
                {
                    continue; // another feed brought it first
                }
                articles_t.insert(article.id.as_bytes(), json.as_slice())?;
                by_time_t.insert(time_key(article.time(), &article.id), &[][..])?;
                fresh.insert(article.id.as_str());
            }
            for (target, id) in deliveries {
                let Some((_, article)) = encoded.iter().find(|(_, a)| &a.id == id) else {
                    continue;
                };
                if !fresh.contains(id.as_str()) || sent_t.get(sent_key(target, id))?.is_some() {
                    continue;
                }
                let delivery = Delivery {
                    article: id.clone(),
                    enqueued: now,
                };
                let json = serde_json::to_vec(&delivery).expect("a delivery serializes");
                outbox_t.insert(outbox_key(target, article.time(), id), json)?;
            }
            feeds_t.insert(feed.as_bytes(), state_json.as_slice())?;
            Ok::<_, ConflictableTransactionError<StoreError>>(fresh.len())
        })?;
        self.flush().await?;
        Ok(new)
    }

    /// The newest `n` articles whose language `langs` accepts, newest first.
    pub fn latest(&self, langs: &LangSet, n: usize) -> Result<Vec<Article>> {
        let mut out = Vec::new();
        for entry in self.by_time.iter().rev() {
            if out.len() >= n {
                break;
            }
            let (key, _) = entry?;
            let id = std::str::from_utf8(&key[8..]).map_err(|e| StoreError::Db(e.to_string()))?;
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

    // ---- chats ----

    pub fn chat(&self, target: &Target) -> Result<Option<ChatSettings>> {
        get_json(&self.chats, target.to_string().as_bytes())
    }

    /// Saves a chat's settings durably.
    pub fn put_chat(&self, target: &Target, settings: &ChatSettings) -> Result<()> {
        self.chats
            .insert(target.to_string().as_bytes(), to_json(settings)?)?;
        self.db.flush()?;
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

    /// Erases everything stored about a chat: settings, queued deliveries, sent records.
    pub fn forget_chat(&self, target: &Target) -> Result<()> {
        self.chats.remove(target.to_string().as_bytes())?;
        for tree in [&self.outbox, &self.sent] {
            for key in tree.scan_prefix(chat_prefix(target)).keys() {
                tree.remove(key?)?;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// A chat changed its id (a Telegram group became a supergroup, a Matrix room was
    /// upgraded): remember the move and carry over its settings, queue and sent records.
    pub async fn move_chat(&self, from: &Target, to: &Target) -> Result<()> {
        self.moved
            .insert(from.to_string().as_bytes(), to.to_string().as_bytes())?;
        if let Some(settings) = self.chats.remove(from.to_string().as_bytes())? {
            self.chats.insert(to.to_string().as_bytes(), settings)?;
        }
        let old_prefix = chat_prefix(from);
        let new_prefix = chat_prefix(to);
        for tree in [&self.outbox, &self.sent] {
            for entry in tree.scan_prefix(&old_prefix) {
                let (key, value) = entry?;
                let mut new_key = new_prefix.clone();
                new_key.extend_from_slice(&key[old_prefix.len()..]);
                tree.insert(new_key, value)?;
                tree.remove(key)?;
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

    // ---- outbox ----

    /// Chats with deliveries waiting.
    pub fn pending_targets(&self) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(entry) = self.outbox.range(from.clone()..).next() {
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

    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
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

    /// Moves a delivery from the outbox to `sent`, durably.
    pub async fn mark_sent(&self, pending: &Pending, message: &str) -> Result<()> {
        let record = to_json(&SentRecord {
            message: message.to_string(),
            at: Utc::now(),
        })?;
        let key = sent_key(&pending.target, &pending.delivery.article);
        (&self.outbox, &self.sent).transaction(|(outbox, sent)| {
            outbox.remove(pending.key.as_slice())?;
            sent.insert(key.as_slice(), record.as_slice())?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
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
        let record = serde_json::to_vec(&record).map_err(|e| StoreError::Db(e.to_string()))?;
        (&self.outbox, &self.dead).transaction(|(outbox, dead)| {
            outbox.remove(pending.key.as_slice())?;
            dead.insert(pending.key.as_slice(), record.as_slice())?;
            Ok::<_, ConflictableTransactionError<StoreError>>(())
        })?;
        self.flush().await
    }

    pub fn dead_count(&self) -> usize {
        self.dead.len()
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

fn outbox_key(target: &Target, t: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(&time_bytes(t));
    key.extend_from_slice(id.as_bytes());
    key
}

fn sent_key(target: &Target, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(id.as_bytes());
    key
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Db(e.to_string()))
}

fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Db(format!("unreadable record: {e}")))
}

fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
    tree.get(key)?.map(|v| from_json(&v)).transpose()
}

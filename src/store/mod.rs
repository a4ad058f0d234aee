//! The only user of sled. Herald's memory: articles (with a time index for `/latest`), each
//! feed's state, chats and their settings, the outbox of deliveries still to make, the
//! record of what was sent (with the platform's message id, for later edits), chats that
//! moved, and deliveries set aside. For the operators' status: each feed's last poll
//! (success, error with its cause, next poll) and each chat's last failed send.
//!
//! One handle, [`Store`], with one `impl Store` block per use case: `ingest` (a poll's
//! commit), `outbox`, `chats`, `steering` (channels and pauses from chat), `articles`,
//! `poll_log`, `retention` (forgetting), `copy` (backups), `lock` (the data folder),
//! `group_commit` (flushing), `writes` (a store that cannot be written, and the fault hook). `trees.rs` lists the trees, `keys.rs` makes their keys and
//! `records.rs` holds their values.
//!
//! | tree (on disk)   | key                                | value                       |
//! |------------------|------------------------------------|-----------------------------|
//! | `articles`       | article id                         | `Article`                   |
//! | `by_time`        | time, article id                   | ()                          |
//! | `feeds`          | feed                               | `FeedState`                 |
//! | `feed_items`     | feed NUL article id (`feed NUL`: the feed's marker) | stamp of its last listing (or empty) |
//! | `feed_polls`     | feed                               | `PollRecord`                |
//! | `chats`          | chat                               | `ChatSettings`              |
//! | `moved`          | old chat                           | new chat                    |
//! | `outbox`         | chat NUL time article id           | `QueuedPost`                |
//! | `sent`           | chat NUL article id                | `SentRecord`                |
//! | `posted`         | article id NUL chat                | ()                          |
//! | `dead` (set aside) | chat NUL time article id         | `SetAsideRecord`            |
//! | `last_sent`      | chat, or platform name             | stamp of the last send      |
//! | `send_failures`  | chat                               | `Failure`                   |
//! | `added_channels` | chat                               | `AddedChannel`              |
//! | `paused`         | chat, or `*` for every chat        | `Pause`                     |
//!
//! A time in a key is the article's time in milliseconds, offset to sort in time order; a
//! stamp is milliseconds since the epoch; both are 8 bytes, big-endian (see `keys.rs`).
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

mod articles;
mod chats;
mod copy;
mod group_commit;
mod ingest;
mod keys;
mod lock;
mod outbox;
mod poll_log;
mod records;
mod retention;
mod steering;
mod trees;
mod writes;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sled::transaction::TransactionError;

pub use copy::Builder;
pub use ingest::{Committed, is_mass_change};
pub use outbox::{QueueHead, Standing};
pub use records::{
    AddedChannel, ChatSettings, Failure, FeedState, Pause, PollRecord, QueuedPost, SentRecord,
    SetAsideRecord,
};
pub use retention::Forgotten;
pub use writes::{Fault, Faults, Unwritable};

use group_commit::Flusher;
use trees::Trees;

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
    /// Work the store ran on a blocking thread (or was handed) stopped before it was done;
    /// its text begins as a failed flush's did when it was reported as one.
    #[error("flushing the database failed: {0}")]
    Task(String),
    /// A write or a flush failed (a full disk, a read-only file system): the store takes no
    /// write until it was reopened (see `writes.rs`).
    #[error("cannot write to the data folder {}: {error}", dir.display())]
    NotWritable { dir: PathBuf, error: String },
    /// The store is being reopened after a write failed; it answers again in a moment.
    #[error("the database in {} is being reopened after a failed write", dir.display())]
    Reopening { dir: PathBuf },
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

/// The store: a cheap handle (clones share everything), used by the poller, the delivery,
/// the commands and the operators' views alike.
#[derive(Clone)]
pub struct Store {
    /// The open database; empty only while it is reopened after a failed write (`writes.rs`).
    handles: Arc<std::sync::RwLock<Option<Arc<Handles>>>>,
    /// The data folder.
    dir: Arc<PathBuf>,
    /// Told when a pause ends, so the delivery looks at the chats it held at once.
    resumed: Arc<tokio::sync::Notify>,
    /// Held shared by the writes that list or queue articles (a poll's commit, a chat's
    /// move) and alone by `forget`, which must not remove what such a write needs.
    commits: Arc<tokio::sync::RwLock<()>>,
    flusher: Arc<Flusher>,
    counts: Arc<Counts>,
    /// Whether writes work, and the fault hook.
    writes: Arc<writes::Writes>,
}

/// The open database and its trees. A use case takes them with `Store::t` for the length of
/// one call, so that a reopen can wait until no one holds the old ones.
pub(crate) struct Handles {
    db: Arc<sled::Db>,
    trees: Trees,
}

impl std::ops::Deref for Handles {
    type Target = Trees;

    fn deref(&self) -> &Trees {
        &self.trees
    }
}

/// Sizes kept up to date by the writes, so reading them costs nothing.
#[derive(Default)]
struct Counts {
    articles: AtomicI64,
    outbox: AtomicI64,
    set_aside: AtomicI64,
}

impl Counts {
    /// The one full count, when the database opens; the writes keep the counters from there.
    fn count(&self, handles: &Handles) {
        self.articles
            .store(handles.articles.len() as i64, Ordering::Relaxed);
        self.outbox
            .store(handles.outbox.len() as i64, Ordering::Relaxed);
        self.set_aside
            .store(handles.set_aside.len() as i64, Ordering::Relaxed);
    }

    fn add(counter: &AtomicI64, n: i64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn get(counter: &AtomicI64) -> usize {
        counter.load(Ordering::Relaxed).max(0) as usize
    }
}

impl Store {
    /// Opens (creating) the database in `dir`, a folder readable by its owner only. Fails
    /// with `Locked` naming the holder when another process has it open.
    pub fn open(dir: &Path) -> Result<Store> {
        let handles = Handles::open(dir)?;
        let store = Store {
            handles: Arc::new(std::sync::RwLock::new(None)),
            dir: Arc::new(dir.to_path_buf()),
            resumed: Arc::default(),
            commits: Arc::default(),
            flusher: Arc::new(Flusher::new()),
            counts: Arc::default(),
            writes: Arc::default(),
        };
        store.counts.count(&handles);
        *store.handles.write().expect("store handles") = Some(Arc::new(handles));
        Ok(store)
    }

    /// The open database's trees, for one call. Fails only while the store is reopened.
    pub(crate) fn t(&self) -> Result<Arc<Handles>> {
        self.handles
            .read()
            .expect("store handles")
            .clone()
            .ok_or_else(|| StoreError::Reopening {
                dir: self.dir.to_path_buf(),
            })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes every write made before the call durable. Callers share flushes (group
    /// commit); the flush itself runs on a blocking thread, never on the async runtime.
    pub async fn flush(&self) -> Result<()> {
        self.writable_at("flush")?;
        let db = self.t()?.db.clone();
        let flushed = self.flusher.flush(&db).await;
        self.wrote(flushed)
    }

    /// How many flushes reached the disk since the store was opened.
    #[cfg(test)]
    pub fn flush_count(&self) -> u64 {
        self.flusher.count()
    }
}

impl Handles {
    /// Opens (creating) the database in `dir` and every tree of it.
    fn open(dir: &Path) -> Result<Handles> {
        let db = lock::open_locked(dir)?;
        Ok(Handles {
            trees: Trees::open(&db)?,
            db: Arc::new(db),
        })
    }
}

/// A store in a temporary folder, for unit tests here and elsewhere.
#[cfg(test)]
pub(crate) mod testing {
    use super::Store;

    /// A new store in a new temporary folder, which lives as long as the folder guard.
    pub(crate) fn temporary() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = Store::open(dir.path()).expect("a new store");
        (dir, store)
    }
}

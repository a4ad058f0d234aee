//! Whether the store can be written, what happens when it cannot, and the fault hook that
//! makes it fail on purpose.
//!
//! sled keeps failing every write once one failed for lack of space or a read-only file
//! system, while reads go on working; only a database opened again writes again. So the
//! first failed write or flush marks the whole store *unwritable*: every write after it
//! fails at once with [`StoreError::NotWritable`] (naming the data folder and the OS error)
//! without reaching sled, the delivery sends nothing, `/healthz` says why, and the log says
//! it once. [`Store::recover`] then tries, every few seconds, to write a small probe file in
//! the data folder; once that works it waits for every user of the old database to let go
//! of it, closes it and opens it again ("hold" rather than exit: the bot keeps answering,
//! `/healthz` keeps explaining, and no restart loop of a service manager is needed).
//! What sled had taken in memory but not written is gone after the reopen; the delivery
//! keeps the sends it could not record in memory (see `delivery`), so none is repeated.
//!
//! The fault hook ([`Faults`], from [`Store::faults`]) breaks the data folder as a full disk
//! or a read-only mount would, or fails one named write once, through the same path as a
//! real failure. Tests and the simulation use it; nothing in the bot arms it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::{Handles, Result, Store, StoreError};

/// The probe file written to learn whether the data folder takes writes again.
const PROBE_FILE: &str = "herald.write-probe";
/// The probe's size: enough for a disk with a few bytes free to refuse it.
const PROBE_BYTES: usize = 64 * 1024;
/// How long a reopen waits for the users of the old database to let go of it.
const LET_GO_WITHIN: Duration = Duration::from_secs(10);

/// Why the store takes no writes, since when.
#[derive(Clone, Debug)]
pub struct Unwritable {
    /// The OS error (or sled's) of the first failed write, or of the latest probe.
    pub error: String,
    pub since: SystemTime,
}

/// The store's writability, shared by every handle.
#[derive(Default)]
pub(super) struct Writes {
    problem: Mutex<Option<Unwritable>>,
    faults: Faults,
}

/// A way the data folder breaks, for [`Faults::break_folder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No space left on the device (ENOSPC).
    DiskFull,
    /// The file system was remounted read-only (EROFS).
    ReadOnly,
}

impl Fault {
    fn error(self) -> std::io::Error {
        std::io::Error::from_raw_os_error(match self {
            Fault::DiskFull => 28,
            Fault::ReadOnly => 30,
        })
    }
}

/// The store's fault hook: failures on purpose, met by the store exactly where real ones
/// would be.
#[derive(Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

#[derive(Default)]
struct FaultState {
    /// The data folder is broken: every write, flush and probe fails.
    folder: Option<Fault>,
    /// Writes to fail once each: the write point's name (`""` for any) and how many writes
    /// at that point pass first.
    next: VecDeque<(String, u32)>,
}

impl Faults {
    /// Breaks the data folder: every write, flush and probe fails until [`Faults::mend`].
    pub fn break_folder(&self, fault: Fault) {
        self.state.lock().expect("faults").folder = Some(fault);
    }

    /// Mends the data folder (the writes fail until the store is reopened, as with sled).
    pub fn mend(&self) {
        self.state.lock().expect("faults").folder = None;
    }

    /// Makes one write at `point` fail with an I/O error after `pass` more writes there
    /// went through. A point is a write's name (`"mark_sent"`, `"commit_poll"`, `"flush"`,
    /// `"put_chat"`, …; see `Store::writable_at`) or `""` for any write. The folder itself
    /// stays sound, so the reopen that follows succeeds.
    pub fn fail_write(&self, point: &str, pass: u32) {
        self.state
            .lock()
            .expect("faults")
            .next
            .push_back((point.to_string(), pass));
    }

    /// The fault met by a write at `point`, if one is due.
    fn at(&self, point: &str) -> Option<std::io::Error> {
        let mut state = self.state.lock().expect("faults");
        if let Some(fault) = state.folder {
            return Some(fault.error());
        }
        let due = state
            .next
            .iter_mut()
            .position(|(p, pass)| match p.is_empty() || p == point {
                true if *pass == 0 => true,
                true => {
                    *pass -= 1;
                    false
                }
                false => false,
            })?;
        state.next.remove(due);
        Some(std::io::Error::other(format!(
            "a write failed on purpose (fault hook, at {point})"
        )))
    }

    fn folder(&self) -> Option<std::io::Error> {
        self.state.lock().expect("faults").folder.map(Fault::error)
    }
}

/// Whether an error of a write means the database takes no more writes.
fn breaks_writes(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sled::Error::Io(_) | sled::Error::Corruption { .. })
        | StoreError::Db(sled::Error::ReportableBug(_))
        | StoreError::Flush(_)
        | StoreError::NotWritable { .. } => true,
        StoreError::Db(_)
        | StoreError::Locked { .. }
        | StoreError::Record(_)
        | StoreError::Key(_)
        | StoreError::Task(_)
        | StoreError::Reopening { .. }
        | StoreError::DataDir { .. } => false,
    }
}

impl Store {
    /// Why the store takes no writes now, if it takes none.
    pub fn unwritable(&self) -> Option<Unwritable> {
        self.writes.problem.lock().expect("writes").clone()
    }

    /// The fault hook, for tests and the simulation.
    pub fn faults(&self) -> &Faults {
        &self.writes.faults
    }

    /// Fails when the store takes no writes, or when the fault hook fails the write named
    /// `point` (which then makes the store unwritable, as a real failure does).
    pub(super) fn writable_at(&self, point: &str) -> Result<()> {
        if let Some(problem) = self.unwritable() {
            return Err(self.not_writable(problem.error));
        }
        match self.writes.faults.at(point) {
            Some(e) => self.wrote(Err(StoreError::Db(sled::Error::Io(e)))),
            None => Ok(()),
        }
    }

    /// Passes on the result of a write, marking the store unwritable when it failed for a
    /// reason that stops sled writing (and saying so in the log, once per outage).
    pub(super) fn wrote<T>(&self, result: Result<T>) -> Result<T> {
        let e = match result {
            Ok(value) => return Ok(value),
            Err(e) if breaks_writes(&e) => e,
            Err(e) => return Err(e),
        };
        if matches!(e, StoreError::NotWritable { .. }) {
            return Err(e);
        }
        let error = match &e {
            StoreError::Db(sled::Error::Io(io)) => io.to_string(),
            other => other.to_string(),
        };
        let mut problem = self.writes.problem.lock().expect("writes");
        if problem.is_none() {
            tracing::error!(
                data_dir = %self.dir.display(),
                %error,
                "cannot write to the data folder: nothing is posted until it can be written \
                 again. Free space on its disk, or make it writable again; Herald checks every \
                 few seconds, keeps in memory what it sent meanwhile and then goes on without \
                 losing or repeating a post"
            );
            *problem = Some(Unwritable {
                error: error.clone(),
                since: SystemTime::now(),
            });
        }
        drop(problem);
        Err(self.not_writable(error))
    }

    fn not_writable(&self, error: String) -> StoreError {
        StoreError::NotWritable {
            dir: self.dir.to_path_buf(),
            error,
        }
    }

    /// Makes an unwritable store writable again if the data folder takes writes: writes a
    /// probe file, then closes the database and opens it again. Returns whether the store
    /// takes writes now. Cheap when it does already.
    pub async fn recover(&self) -> bool {
        if self.unwritable().is_none() {
            return true;
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.recover_now())
            .await
            .unwrap_or(false)
    }

    fn recover_now(&self) -> bool {
        if let Err(e) = self.probe() {
            if let Some(problem) = self.writes.problem.lock().expect("writes").as_mut() {
                problem.error = e.to_string();
            }
            return false;
        }
        // From here until the new database is in place, reads fail with `Reopening`.
        let Some(old) = self.handles.write().expect("store handles").take() else {
            return false;
        };
        let Some(Handles { db, trees }) = let_go(old, |old| {
            *self.handles.write().expect("store handles") = Some(old);
        }) else {
            tracing::warn!("the database is still in use; reopening it later");
            return false;
        };
        drop(trees);
        let mut kept = None;
        let Some(db) = let_go(db, |db| kept = Some(db)) else {
            tracing::warn!("the database is still being flushed; reopening it later");
            if let Some(db) = kept
                && let Ok(trees) = super::trees::Trees::open(&db)
            {
                *self.handles.write().expect("store handles") =
                    Some(Arc::new(Handles { db, trees }));
            }
            return false;
        };
        drop(db);
        match Handles::open(&self.dir) {
            Ok(handles) => {
                self.counts.count(&handles);
                *self.handles.write().expect("store handles") = Some(Arc::new(handles));
                *self.writes.problem.lock().expect("writes") = None;
                tracing::info!(data_dir = %self.dir.display(), "the data folder takes writes again; posting goes on");
                true
            }
            Err(e) => {
                tracing::warn!(data_dir = %self.dir.display(), error = %e, "cannot open the database again yet");
                if let Some(problem) = self.writes.problem.lock().expect("writes").as_mut() {
                    problem.error = e.to_string();
                }
                false
            }
        }
    }

    /// Writes and removes a small file in the data folder, synced to the disk.
    fn probe(&self) -> std::io::Result<()> {
        if let Some(e) = self.writes.faults.folder() {
            return Err(e);
        }
        probe_folder(&self.dir)
    }
}

fn probe_folder(dir: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&[0u8; PROBE_BYTES])?;
        file.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    written
}

/// Waits until `shared` is its last handle and returns what it holds; gives it to
/// `give_back` and returns `None` when others still hold it after `LET_GO_WITHIN`.
fn let_go<T>(mut shared: Arc<T>, give_back: impl FnOnce(Arc<T>)) -> Option<T> {
    let deadline = Instant::now() + LET_GO_WITHIN;
    loop {
        match Arc::try_unwrap(shared) {
            Ok(value) => return Some(value),
            Err(still) if Instant::now() < deadline => {
                shared = still;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(still) => {
                give_back(still);
                return None;
            }
        }
    }
}

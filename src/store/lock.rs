//! The data folder and who holds it: the folder (readable by its owner only), the sled
//! database inside it, the pid file naming the process that has it open, and "in use by
//! another Herald process" when opening finds the database taken.

use std::path::Path;

use super::{Result, Store, StoreError};

/// The folder sled keeps the database in, under `data_dir`.
pub(super) const DB_DIR: &str = "herald.sled";
const PID_FILE: &str = "herald.pid";
/// The most sled keeps of the database in memory.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// sled's settings for a database at `path`. sled keeps up to 1 GB of pages in memory by
/// default; Herald's working set (feeds, chats, the outbox) is far smaller, and memory
/// should not grow with the store.
pub(super) fn sled_config(path: &Path) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(CACHE_BYTES)
}

/// Opens (creating) the database in `dir`, creating the folder first, and writes the pid
/// file. Fails with `Locked` naming the holder when another process has it open.
pub(super) fn open_locked(dir: &Path) -> Result<sled::Db> {
    create_private_dir(dir).map_err(|source| StoreError::DataDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let open = || sled_config(&dir.join(DB_DIR)).open();
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
    Ok(db)
}

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
}

/// Waits (a few seconds at most) until sled has let go of the database in `path`: a
/// dropped `sled::Db` releases its file lock only when its I/O threads are done with it,
/// so a database opened again at once may still be locked by its closing self.
pub(super) fn wait_until_closed(path: &Path) {
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

pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

//! The group commit behind `Store::flush`: one flush at a time on a blocking thread, and
//! every caller answered by the first flush that started after its call.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Result, StoreError};

/// The group commit behind `Store::flush`. One flush at a time: sled's flushes block its
/// small I/O thread pool while they wait for writes that need that same pool, so many
/// concurrent flushes deadlock it. The flushes run on a blocking thread, one after the
/// other while anyone waits for a newer one.
pub(super) struct Flusher {
    pub(super) state: std::sync::Mutex<FlushState>,
    /// The last finished flush: its number and its error, if it failed.
    pub(super) done: tokio::sync::watch::Sender<(u64, Option<String>)>,
    /// Flushes made so far (for tests and curiosity).
    flushes: AtomicU64,
}

#[derive(Default)]
pub(super) struct FlushState {
    /// The number of the last flush started.
    started: u64,
    /// The highest flush number someone waits for.
    wanted: u64,
    /// A blocking thread is flushing (or about to).
    pub(super) running: bool,
}

impl Flusher {
    pub(super) fn new() -> Flusher {
        Flusher {
            state: Default::default(),
            done: tokio::sync::watch::Sender::new((0, None)),
            flushes: AtomicU64::new(0),
        }
    }

    /// Waits for a flush that started after the call, starting one when none runs.
    pub(super) async fn flush(self: &Arc<Self>, db: &Arc<sled::Db>) -> Result<()> {
        let mut done = self.done.subscribe();
        let target = {
            let mut state = self.state.lock().expect("flush state");
            // A flush running now may have started before our writes: wait for the next.
            let target = state.started + 1;
            state.wanted = state.wanted.max(target);
            if !state.running {
                state.running = true;
                let (flusher, db) = (self.clone(), Arc::downgrade(db));
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

    /// Flushes until no one waits for a newer flush; runs on a blocking thread. It holds
    /// the database only while flushing, so a store dropped by its last user is closed at
    /// once (and can be opened again).
    pub(super) fn run(&self, db: &std::sync::Weak<sled::Db>) {
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

    /// How many flushes reached the disk so far.
    #[cfg(test)]
    pub(super) fn count(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

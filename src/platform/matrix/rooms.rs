//! The rooms the bot must be in, and the homeserver's throttle.
//!
//! Homeservers rate-limit their users (Synapse by default: 0.2 events per second after a
//! burst of 10, joins included), and a bot is rarely exempt. Every request that makes an
//! event — a post, a command's answer, a join, declining an invitation — first takes a slot
//! of one `Throttle` per homeserver, so a start with many rooms does not spend the burst on
//! joins and then stall every send: they queue in one line. The throttle starts fast and
//! slows down to what the homeserver's `429 M_LIMIT_EXCEEDED` answers teach it
//! (`retry_after_ms`), creeping back up while requests succeed.
//!
//! Joins (configured rooms at start, rooms named later, accepted invitations) run in the
//! background, one task per room, and are retried — after the server's `retry_after_ms`,
//! or with backoff after an outage — until they succeed or the homeserver refuses for good
//! (`M_FORBIDDEN`, a banned bot, an unknown room). Posts to a room whose join is under way
//! wait for it. What each waiting room is waiting for is kept for `/healthz`
//! (`Sink::waiting_chats`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use matrix_sdk::Client;
use matrix_sdk::ruma::{OwnedRoomId, OwnedServerName, RoomId, RoomOrAliasId};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::classify;
use crate::article::{Platform, Target};
use crate::platform::{ChatWaiting, Connection, SendError, WaitState};

/// The slowest pace the homeserver's answers can teach.
const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Longest pause between two attempts to join after an outage.
const MAX_JOIN_BACKOFF: Duration = Duration::from_secs(300);

/// One line of requests to a homeserver, `interval` apart, the interval learned from the
/// homeserver's answers.
///
/// Not the delivery's `Pace` (`crate::delivery::pace`), which posts to Matrix take first,
/// before this one: that one spaces sends at a fixed one fewer than the platform's rate,
/// counts the sends the server may still see in its last second, and on a 429 only
/// delays the slots not yet handed out, by at most a few seconds. This one starts at the
/// full `rate`, slows to the wait a `429` asks for (up to `MAX_INTERVAL`) and speeds up
/// again while requests succeed, and a `429` moves every slot already taken behind the
/// whole wait.
pub(super) struct Throttle {
    fastest: Duration,
    state: Mutex<ThrottleState>,
}

struct ThrottleState {
    /// The next free slot.
    next: Instant,
    interval: Duration,
    /// Counts rate limits: a slot taken before the last one is taken again after it.
    generation: u64,
}

impl Throttle {
    /// A throttle of at most `rate` requests per second.
    pub fn new(rate: u32) -> Throttle {
        let fastest = Duration::from_secs(1) / rate.max(1);
        Throttle {
            fastest,
            state: Mutex::new(ThrottleState {
                next: Instant::now(),
                interval: fastest,
                generation: 0,
            }),
        }
    }

    /// Waits for the next free slot; false when `shutdown` came first.
    pub async fn slot(&self, shutdown: &CancellationToken) -> bool {
        loop {
            let (at, generation) = {
                let mut state = self.state.lock().expect("pace");
                let at = state.next.max(Instant::now());
                state.next = at + state.interval;
                (at, state.generation)
            };
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(at) => {}
            }
            if self.state.lock().expect("pace").generation == generation {
                return true;
            }
            // The homeserver said "slow down" meanwhile: line up again behind its wait.
        }
    }

    /// The homeserver answered `429` asking to wait `wait`: nobody goes before, and the
    /// throttle slows to one request per `wait` at least.
    pub fn limited(&self, wait: Duration) {
        let mut state = self.state.lock().expect("pace");
        state.generation += 1;
        state.next = Instant::now() + wait;
        state.interval = state.interval.max(wait).clamp(self.fastest, MAX_INTERVAL);
    }

    /// A request went through: speed up a little (the limit may have been a burst).
    pub fn succeeded(&self) {
        let mut state = self.state.lock().expect("pace");
        state.interval = (state.interval - state.interval / 32).max(self.fastest);
    }

    #[cfg(test)]
    fn interval(&self) -> Duration {
        self.state.lock().expect("pace").interval
    }
}

/// The outcome of a join, once there is one.
type JoinResult = Option<Result<(), SendError>>;

/// A room the bot is joining, or was refused.
struct Join {
    configured: bool,
    state: WaitState,
    reason: Option<String>,
    retry_at: Option<SystemTime>,
    done: watch::Receiver<JoinResult>,
}

/// What the Matrix adapter shares between posting, listening and joining.
pub(super) struct Rooms {
    client: Client,
    /// The homeserver's throttle, which every request that makes an event goes through.
    pub throttle: Throttle,
    /// Whether a sync with the homeserver has succeeded since start: before, the local
    /// room list may be empty or stale, and proves nothing about a room.
    synced: AtomicBool,
    pub shutdown: CancellationToken,
    joins: Mutex<HashMap<OwnedRoomId, Join>>,
    /// Whether syncs reach the homeserver, for `/healthz`.
    pub connection: Connection,
}

impl Rooms {
    pub fn new(client: Client, rate: u32, shutdown: CancellationToken) -> Arc<Rooms> {
        Arc::new(Rooms {
            client,
            throttle: Throttle::new(rate),
            synced: AtomicBool::new(false),
            shutdown,
            joins: Mutex::new(HashMap::new()),
            connection: Connection::default(),
        })
    }

    pub fn set_synced(&self) {
        self.synced.store(true, Ordering::Relaxed);
    }

    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Relaxed)
    }

    /// Whether a join of the room is under way.
    pub fn joining(&self, room_id: &RoomId) -> bool {
        self.joins
            .lock()
            .expect("joins")
            .get(room_id)
            .is_some_and(|j| j.state != WaitState::Refused)
    }

    /// Starts joining the room in the background, unless a join is under way already;
    /// returns where its outcome will appear. A room refused before is tried again.
    pub fn join(
        self: &Arc<Self>,
        room_id: &RoomId,
        via: Vec<OwnedServerName>,
        configured: bool,
    ) -> watch::Receiver<JoinResult> {
        let mut joins = self.joins.lock().expect("joins");
        if let Some(join) = joins.get_mut(room_id)
            && join.state != WaitState::Refused
        {
            join.configured |= configured;
            return join.done.clone();
        }
        let (tx, rx) = watch::channel(None);
        joins.insert(
            room_id.to_owned(),
            Join {
                configured,
                state: WaitState::Joining,
                reason: None,
                retry_at: None,
                done: rx.clone(),
            },
        );
        let this = self.clone();
        let room_id = room_id.to_owned();
        tokio::spawn(async move {
            let result = this.run_join(&room_id, &via).await;
            this.finish(&room_id, &result);
            let _ = tx.send(Some(result));
        });
        rx
    }

    /// Joins the room (or waits for the join under way) for at most `patience`. A join
    /// still being retried then is a temporary failure, with the reason.
    pub async fn join_and_wait(
        self: &Arc<Self>,
        room_id: &RoomId,
        via: Vec<OwnedServerName>,
        configured: bool,
        patience: Duration,
    ) -> Result<(), SendError> {
        let mut done = self.join(room_id, via, configured);
        let outcome = tokio::time::timeout(patience, async {
            loop {
                if let Some(result) = done.borrow_and_update().clone() {
                    return result;
                }
                if done.changed().await.is_err() {
                    return Err(SendError::Temporary("the join was interrupted".into()));
                }
            }
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(_) => Err(self.still_joining(room_id, patience)),
        }
    }

    /// Why a post to a room still being joined must wait, and for how long.
    fn still_joining(&self, room_id: &RoomId, patience: Duration) -> SendError {
        let joins = self.joins.lock().expect("joins");
        let join = joins.get(room_id);
        let wait = join
            .and_then(|j| j.retry_at)
            .and_then(|t| t.duration_since(SystemTime::now()).ok())
            .map_or(patience, |d| d + Duration::from_secs(1))
            .min(patience);
        match join.and_then(|j| j.reason.as_deref()) {
            Some(reason) => SendError::Temporary(format!(
                "the bot is still joining the room (retry in {}s: {reason})",
                wait.as_secs()
            )),
            None => SendError::RetryAfter(wait),
        }
    }

    async fn run_join(&self, room_id: &RoomId, via: &[OwnedServerName]) -> Result<(), SendError> {
        let mut backoff = Duration::from_secs(2);
        loop {
            if !self.throttle.slot(&self.shutdown).await {
                return Err(SendError::Temporary("shutting down".into()));
            }
            let id: &RoomOrAliasId = room_id.into();
            let error = match self.client.join_room_by_id_or_alias(id, via).await {
                Ok(_) => {
                    self.throttle.succeeded();
                    return Ok(());
                }
                Err(e) => classify(&e),
            };
            tracing::debug!(room = %room_id, error = %error, "joining failed");
            match error {
                SendError::RetryAfter(wait) => {
                    // The throttle holds everyone back for the wait, this join included.
                    self.throttle.limited(wait);
                    self.waiting(room_id, "rate limited by the homeserver", wait);
                }
                SendError::Temporary(reason) => {
                    self.waiting(room_id, &reason, backoff);
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {
                            return Err(SendError::Temporary("shutting down".into()));
                        }
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_JOIN_BACKOFF);
                }
                SendError::Gone(reason)
                | SendError::NoRights(reason)
                | SendError::Rejected(reason)
                | SendError::NotEditable(reason) => {
                    return Err(SendError::Gone(reason));
                }
                SendError::Moved(to) => {
                    return Err(SendError::Gone(format!("the room moved to {to}")));
                }
            }
        }
    }

    fn waiting(&self, room_id: &RoomId, reason: &str, wait: Duration) {
        if let Some(join) = self.joins.lock().expect("joins").get_mut(room_id) {
            join.state = WaitState::Retrying;
            join.reason = Some(reason.to_owned());
            join.retry_at = Some(SystemTime::now() + wait);
        }
    }

    fn finish(&self, room_id: &RoomId, result: &Result<(), SendError>) {
        let mut joins = self.joins.lock().expect("joins");
        match result {
            Err(SendError::Gone(reason)) => {
                if let Some(join) = joins.get_mut(room_id) {
                    join.state = WaitState::Refused;
                    join.reason = Some(reason.clone());
                    join.retry_at = None;
                }
            }
            _ => {
                joins.remove(room_id);
            }
        }
    }

    /// The rooms being joined or refused, for `/healthz`.
    pub fn waiting_chats(&self) -> Vec<ChatWaiting> {
        let joins = self.joins.lock().expect("joins");
        let mut list: Vec<ChatWaiting> = joins
            .iter()
            .map(|(room_id, join)| ChatWaiting {
                target: Target::new(Platform::Matrix, room_id.as_str()),
                configured: join.configured,
                state: join.state,
                reason: join.reason.clone(),
                retry_at: join.retry_at,
            })
            .collect();
        list.sort_by(|a, b| a.target.chat.cmp(&b.target.chat));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pace_waits_out_a_rate_limit_and_learns_from_it() {
        let pace = Throttle::new(10);
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        assert!(pace.slot(&shutdown).await);
        assert!(pace.slot(&shutdown).await);
        assert_eq!(start.elapsed(), Duration::from_millis(100));

        pace.limited(Duration::from_secs(5));
        assert_eq!(pace.interval(), Duration::from_secs(5));
        let before = Instant::now();
        assert!(pace.slot(&shutdown).await);
        assert!(pace.slot(&shutdown).await);
        assert_eq!(before.elapsed(), Duration::from_secs(10));

        for _ in 0..1000 {
            pace.succeeded();
        }
        assert_eq!(pace.interval(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_taken_before_a_rate_limit_is_taken_again_after_it() {
        let pace = Arc::new(Throttle::new(1));
        let shutdown = CancellationToken::new();
        assert!(pace.slot(&shutdown).await);
        let start = Instant::now();
        // Holds the slot one second from now.
        let waiter = {
            let (pace, shutdown) = (pace.clone(), shutdown.clone());
            tokio::spawn(async move { pace.slot(&shutdown).await })
        };
        tokio::task::yield_now().await;
        pace.limited(Duration::from_secs(3));
        assert!(waiter.await.expect("waiter"));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_wait() {
        let pace = Throttle::new(1);
        let shutdown = CancellationToken::new();
        pace.limited(Duration::from_secs(60));
        shutdown.cancel();
        assert!(!pace.slot(&shutdown).await);
    }
}

//! Draining the outbox: each chat's deliveries go out in order, one at a time, through the
//! platform's `Sink`, paced per chat and per platform so the platforms' limits are never
//! hit; failures are retried with backoff and permanent ones are acted on.
//!
//! - sent: recorded (with the message id) and flushed before the next send;
//! - rate limited: that chat waits exactly as long as told, the platform pauses briefly;
//! - moved: the chat's queue, settings and history follow it to the new id;
//! - gone: a subscribed chat is forgotten; an operator's channel is kept, retried slowly and
//!   reported as an error every time;
//! - temporary: retried with exponential backoff;
//! - rejected: set aside in the store's dead letters with the reason, and logged.
//!
//! Pacing: a platform's `global_rate` is the limit it enforces over a sliding second.
//! Herald spaces its sends evenly at one a second fewer (29 of Telegram's 30), and before
//! each send counts every send that could still be in the server's last second: those
//! under way and those that may have arrived less than a second ago. The server counts a
//! send when it receives it: after Herald started it, and before its answer came back.
//! Each send is counted as if it arrived as late as that: when its answer came, less the
//! fastest round trip seen (the travel every send takes; taken off only after 100 answers,
//! so a distant server is paced as fast as a near one). However late tasks wake, answers
//! come or requests lag on the way, the server sees no more than its limit in a second.
//! A process starts slow: if an earlier process ever sent on the platform (it may have
//! been killed with sends on the way that it never recorded), nothing is sent there
//! before a full window has passed since the start and since the last send on record;
//! each chat likewise waits out its interval after its last send on record.
//! At most `CONCURRENT_CHATS` chats are served at once, so memory does not grow with the
//! number of chats waiting. Shutdown ends every wait at once; a send already under way is
//! finished and recorded, and nothing new starts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::article::{Platform, Target};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::sink::{Post, SendError, Sink};
use crate::store::{Store, StoreError};

/// Longest wait between retries of one chat.
const MAX_RETRY: Duration = Duration::from_secs(15 * 60);
/// Longest a 429 pauses a whole platform (the chat itself waits the full time).
const MAX_PLATFORM_PAUSE: Duration = Duration::from_secs(5);
/// The window the platforms count their rates over.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Chats served at once: enough to keep a platform's pace with slow answers, few enough
/// that memory stays flat however many chats wait.
const CONCURRENT_CHATS: usize = 64;
/// Chats read from the outbox at a time.
const TARGET_PAGE: usize = 256;
/// Rates above this are only spaced, not counted send by send (the console, test sinks).
const MAX_COUNTED_RATE: u32 = 1000;
/// Answers seen before the fastest round trip is taken for the travel every send takes
/// (before, a send counts until its answer came).
const TRAVEL_SAMPLES: usize = 100;

#[derive(Default)]
struct ChatState {
    not_before: Option<Instant>,
    failures: u32,
}

/// A platform's pace.
struct Pace {
    /// The next free slot, `1/rate` after the previous one.
    next_slot: Instant,
    /// When the sends of the last second arrived at the server at the latest, in order.
    ended: VecDeque<Instant>,
    /// Sends under way: started, no answer yet.
    in_flight: usize,
    /// The fastest round trip seen: the travel there and back that every send takes.
    fastest: Option<Duration>,
    /// Answers seen (up to `TRAVEL_SAMPLES`).
    answers: usize,
}

impl Pace {
    fn new(next_slot: Instant) -> Pace {
        Pace {
            next_slot,
            ended: VecDeque::new(),
            in_flight: 0,
            fastest: None,
            answers: 0,
        }
    }

    /// Sends that may still be within the server's last second at `now`.
    fn in_window(&mut self, now: Instant) -> usize {
        while self.ended.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
            self.ended.pop_front();
        }
        self.ended.len() + self.in_flight
    }
}

#[derive(Default)]
struct State {
    chats: HashMap<Target, ChatState>,
    /// The size of `chats` at which those no longer held back are forgotten.
    prune_at: usize,
    paces: HashMap<Platform, Pace>,
}

/// The sends per second Herald allows itself on a platform that enforces `rate`: one
/// fewer, so that jitter between Herald and the server never makes one too many.
pub fn paced_rate(rate: u32) -> u32 {
    rate.saturating_sub(1).max(1)
}

/// The monotonic instant at which `wall + wait` falls, if it is still ahead.
fn after_stored(wall: chrono::DateTime<chrono::Utc>, wait: Duration) -> Option<Instant> {
    let ahead = (wall + chrono::Duration::from_std(wait).ok()?) - chrono::Utc::now();
    let ahead = ahead.to_std().ok().filter(|d| !d.is_zero())?;
    Some(Instant::now() + ahead)
}

pub struct Delivery {
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    sinks: HashMap<Platform, Arc<dyn Sink>>,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
}

/// What a drain left behind.
#[derive(Debug, Default)]
pub struct DrainReport {
    pub sent: usize,
    /// The earliest moment a waiting delivery becomes due, if any is waiting.
    pub next_due: Option<Instant>,
}

impl Delivery {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Arc<Metrics>,
        sinks: Vec<Arc<dyn Sink>>,
    ) -> Arc<Delivery> {
        let sinks: HashMap<Platform, Arc<dyn Sink>> =
            sinks.into_iter().map(|s| (s.platform(), s)).collect();
        // A process started after another one stopped (perhaps killed with sends on the
        // way it never recorded) waits out a full window first.
        let mut state = State::default();
        for platform in sinks.keys() {
            match store.last_sent_on(*platform) {
                Ok(Some(last)) => {
                    let slot = after_stored(last, RATE_WINDOW)
                        .unwrap_or_else(Instant::now)
                        .max(Instant::now() + RATE_WINDOW);
                    state.paces.insert(*platform, Pace::new(slot));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the time of the last send"),
            }
        }
        Arc::new(Delivery {
            config,
            store,
            metrics,
            sinks,
            state: Mutex::new(state),
            wake: Default::default(),
        })
    }

    /// Asks the loop to look at the outbox now (after a poll queued something).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers until `shutdown`; a send in progress is finished and recorded first.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let report = self.clone().drain(&shutdown).await;
            let sleep_until = report
                .next_due
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = self.store.pause_ended() => {}
                _ = tokio::time::sleep_until(sleep_until) => {}
            }
        }
    }

    /// Delivers what is due until the outbox is empty or only waits longer than `patience`
    /// remain. Returns how many posts were sent and whether the outbox is empty.
    pub async fn drain_patiently(
        self: Arc<Self>,
        patience: Duration,
        shutdown: &CancellationToken,
    ) -> (usize, bool) {
        let mut sent = 0;
        loop {
            let report = self.clone().drain(shutdown).await;
            sent += report.sent;
            let Some(next) = report.next_due else { break };
            if next > Instant::now() + patience || shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
        (sent, self.store.outbox_len() == 0)
    }

    /// One pass: every chat with due deliveries is served, `CONCURRENT_CHATS` at a time,
    /// each in order. After shutdown no further chat is started.
    pub async fn drain(self: Arc<Self>, shutdown: &CancellationToken) -> DrainReport {
        // The chats are read from the outbox a page at a time, so a fan-out to many chats
        // holds only a page of them (and `CONCURRENT_CHATS` tasks) in memory.
        let mut page = std::collections::VecDeque::new();
        let mut last_read: Option<Target> = None;
        let mut read_all = false;
        let mut tasks = tokio::task::JoinSet::new();
        let mut report = DrainReport::default();
        let health = self.metrics.health();
        health.delivery_pass_started();
        loop {
            while tasks.len() < CONCURRENT_CHATS && !shutdown.is_cancelled() {
                if page.is_empty() && !read_all {
                    match self
                        .store
                        .pending_targets_after(last_read.as_ref(), TARGET_PAGE)
                    {
                        Ok(next) => {
                            read_all = next.len() < TARGET_PAGE;
                            last_read = next.last().cloned().or(last_read);
                            page.extend(next);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read the outbox");
                            health.delivery_trouble();
                            read_all = true;
                            report.next_due = earliest(
                                report.next_due,
                                Some(Instant::now() + Duration::from_secs(10)),
                            );
                        }
                    }
                }
                let Some(target) = page.pop_front() else {
                    break;
                };
                let this = self.clone();
                let shutdown = shutdown.clone();
                tasks.spawn(async move { this.drain_chat(target, &shutdown).await });
            }
            let Some(result) = tasks.join_next().await else {
                break;
            };
            match result {
                Ok((sent, next)) => {
                    report.sent += sent;
                    report.next_due = earliest(report.next_due, next);
                }
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        // Forget what no longer holds a chat back: the state stays as small as the set of
        // chats waiting, not the set of chats ever served.
        let now = Instant::now();
        self.state
            .lock()
            .expect("delivery state")
            .chats
            .retain(|_, c| c.failures > 0 || c.not_before.is_some_and(|t| t > now));
        // For /healthz: the loop is alive, and what waits is due at `next_due`.
        health.delivery_pass_ended(report.next_due);
        report
    }

    /// Sends a chat's due deliveries in order; returns how many were sent and when the chat
    /// is due again if it still has some waiting.
    async fn drain_chat(
        &self,
        mut target: Target,
        shutdown: &CancellationToken,
    ) -> (usize, Option<Instant>) {
        let mut sent = 0;
        loop {
            if shutdown.is_cancelled() {
                return (sent, None);
            }
            // An operator's pause holds the chat's posts in the outbox; `/resume` wakes the
            // loop again.
            match self.store.paused(&target) {
                Ok(None) => {}
                Ok(Some(_)) => return (sent, None),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read whether a chat is paused");
                    self.metrics.health().delivery_trouble();
                    return (sent, Some(Instant::now() + Duration::from_secs(10)));
                }
            }
            if let Some(wait) = self.chat_wait(&target) {
                return (sent, Some(wait));
            }
            let step = self.deliver_next(&target, shutdown).await;
            // For /healthz: each step done is the loop's heartbeat; a store error is none.
            match &step {
                Ok(Step::Empty | Step::Stopped) => {}
                Ok(_) => self.metrics.health().delivery_step(),
                Err(_) => self.metrics.health().delivery_trouble(),
            }
            match step {
                Ok(Step::Sent) => sent += 1,
                Ok(Step::Skipped) => {}
                Ok(Step::Empty | Step::Stopped) => return (sent, None),
                Ok(Step::Moved(to)) => target = to,
                Ok(Step::Wait(until)) => return (sent, Some(until)),
                Err(e) => {
                    tracing::error!(error = %e, "store error while delivering");
                    return (sent, Some(Instant::now() + Duration::from_secs(10)));
                }
            }
        }
    }

    /// When the chat may be sent to again, if that is still ahead: its own pause, else
    /// (nothing sent to it by this process) the pause after the last send stored.
    fn chat_wait(&self, target: &Target) -> Option<Instant> {
        {
            let state = self.state.lock().expect("delivery state");
            if let Some(chat) = state.chats.get(target) {
                return chat.not_before.filter(|t| *t > Instant::now());
            }
        }
        let interval = self
            .sinks
            .get(&target.platform)?
            .chat_interval(&target.chat);
        if interval.is_zero() {
            return None;
        }
        match self.store.last_sent_to(target) {
            Ok(last) => last.and_then(|last| after_stored(last, interval)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the time of a chat's last send");
                None
            }
        }
    }

    async fn deliver_next(
        &self,
        target: &Target,
        shutdown: &CancellationToken,
    ) -> Result<Step, StoreError> {
        let Some(pending) = self.store.next_for(target)? else {
            return Ok(Step::Empty);
        };
        let article_id = pending.delivery.article.clone();
        let edit = pending.delivery.edit;
        let record = self.store.was_sent(target, &article_id)?;
        match (&record, edit) {
            // Sent already (by a process killed before it noted it): nothing to send.
            (Some(record), false) => {
                let revision = record.revision.as_deref();
                self.store
                    .mark_sent(&pending, &record.message, revision)
                    .await?;
                return Ok(Step::Skipped);
            }
            // An edit of a message no longer on record (the chat was forgotten).
            (None, true) => {
                self.store.finish_edit(&pending, None).await?;
                return Ok(Step::Skipped);
            }
            _ => {}
        }
        let Some(article) = self.store.article(&article_id)? else {
            if edit {
                self.store.finish_edit(&pending, None).await?;
            } else {
                self.store
                    .give_up(&pending, "the article is no longer stored")
                    .await?;
            }
            return Ok(Step::Skipped);
        };
        let revision = article.revision();
        let Some(sink) = self.sinks.get(&target.platform).cloned() else {
            // The platform is not running (not configured any more): keep the deliveries.
            tracing::warn!(platform = %target.platform, "deliveries wait for a platform that is not configured");
            return Ok(Step::Wait(Instant::now() + Duration::from_secs(300)));
        };
        let channel = crate::channels::at(&self.config, &self.store, target)?;
        let chat_lang = match self.store.chat(target)? {
            Some(settings) => settings.langs.first().cloned(),
            None => channel.as_ref().and_then(|c| c.langs.first().cloned()),
        };
        let post = Post {
            article: &article,
            chat_lang: chat_lang.as_ref(),
            txn_id: if edit {
                edit_txn_id(&article_id, &revision, target)
            } else {
                txn_id(&article_id, 0, target)
            },
        };
        let Some(slot) = self
            .pace(sink.platform(), sink.global_rate(), shutdown)
            .await
        else {
            return Ok(Step::Stopped);
        };
        let started = Instant::now();
        let result = match &record {
            Some(record) if edit => sink
                .edit(&target.chat, &record.message, &post)
                .await
                .map(|()| record.message.clone()),
            _ => sink.send(&target.chat, &post).await,
        };
        drop(slot);
        self.metrics
            .observe_send(target.platform.name(), started.elapsed());
        let outcome = match &result {
            Ok(_) if edit => "edited",
            Ok(_) => "sent",
            Err(SendError::NotEditable(_)) => "not_editable",
            Err(SendError::RetryAfter(_)) => "rate_limited",
            Err(SendError::Moved(_)) => "moved",
            Err(SendError::Gone(_)) => "chat_gone",
            Err(SendError::Temporary(_)) => "temporary_failure",
            Err(SendError::Rejected(_)) => "rejected",
        };
        self.metrics.count_send(target.platform.name(), outcome);
        // For /healthz: a platform is down while every answer is a temporary failure.
        let temporary = match &result {
            Err(SendError::Temporary(reason)) => Some(reason.as_str()),
            _ => None,
        };
        self.metrics
            .health()
            .platform_answered(target.platform.name(), temporary);
        // An operator's channel is named in logs and kept when unreachable; a private
        // subscriber is neither.
        let public = channel.is_some();
        let label = if public {
            target.to_string()
        } else {
            format!("a {} chat", target.platform)
        };
        // A channel's failures show on the operators' status (private chats' never do).
        if public
            && let Err(
                SendError::Gone(reason)
                | SendError::Temporary(reason)
                | SendError::Rejected(reason),
            ) = &result
        {
            self.store.note_send_failure(target, reason)?;
        }
        match result {
            Ok(_) if edit => {
                self.store.finish_edit(&pending, Some(&revision)).await?;
                tracing::debug!(chat = %label, article = %article_id, "edited");
                self.after(target, Some(sink.chat_interval(&target.chat)), false);
                Ok(Step::Sent)
            }
            Ok(message) => {
                self.store
                    .mark_sent(&pending, &message, Some(&revision))
                    .await?;
                tracing::debug!(chat = %label, article = %article_id, "sent");
                self.after(target, Some(sink.chat_interval(&target.chat)), false);
                Ok(Step::Sent)
            }
            Err(SendError::NotEditable(reason)) if edit => {
                // Deleted, too old to edit, or showing this text already: nothing to retry.
                tracing::info!(chat = %label, article = %article_id, %reason, "the post's message was not edited; it stays as it is");
                self.store.finish_edit(&pending, Some(&revision)).await?;
                self.after(target, Some(sink.chat_interval(&target.chat)), false);
                Ok(Step::Sent)
            }
            Err(SendError::RetryAfter(wait)) => {
                tracing::warn!(chat = %label, wait = ?wait, "rate limited; waiting as told");
                self.metrics.count_retry(target.platform.name());
                self.after(target, Some(wait), false);
                self.pause_platform(target.platform, wait.min(MAX_PLATFORM_PAUSE));
                Ok(Step::Wait(Instant::now() + wait))
            }
            Err(SendError::Moved(chat)) => {
                let to = Target::new(target.platform, chat);
                tracing::info!(from = %label, "chat moved; following it");
                self.store.move_chat(target, &to).await?;
                Ok(Step::Moved(to))
            }
            Err(SendError::Gone(reason)) if public => {
                let wait = self.after(target, None, true);
                self.metrics.count_retry(target.platform.name());
                tracing::error!(chat = %label, %reason, retry_in = ?wait, "cannot post to a configured channel; check the bot's rights there");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Err(SendError::Gone(reason)) => {
                tracing::info!(chat = %label, %reason, "chat is gone; unsubscribed it and erased its data");
                self.store.forget_chat(target)?;
                self.store.flush().await?;
                Ok(Step::Empty)
            }
            Err(SendError::Temporary(reason)) => {
                let wait = self.after(target, None, true);
                self.metrics.count_retry(target.platform.name());
                tracing::warn!(chat = %label, %reason, retry_in = ?wait, "send failed; will retry");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Err(SendError::Rejected(reason) | SendError::NotEditable(reason)) => {
                tracing::error!(chat = %label, article = %article_id, %reason, "the platform rejected a post; set aside");
                self.store.give_up(&pending, &reason).await?;
                Ok(Step::Skipped)
            }
        }
    }

    /// Records the outcome for a chat: after a success or a rate limit the chat waits
    /// `wait`; after a failure (`failed`) it backs off exponentially. Returns the wait.
    fn after(&self, target: &Target, wait: Option<Duration>, failed: bool) -> Duration {
        let mut state = self.state.lock().expect("delivery state");
        let now = Instant::now();
        if state.chats.len() >= state.prune_at {
            // Forget the chats whose pause is over, as `drain` does at its end: during a
            // long fan-out the state stays as small as the set of chats held back.
            state
                .chats
                .retain(|_, c| c.failures > 0 || c.not_before.is_some_and(|t| t > now));
            state.prune_at = (2 * state.chats.len()).max(4 * CONCURRENT_CHATS);
        }
        let chat = state.chats.entry(target.clone()).or_default();
        let wait = if failed {
            chat.failures += 1;
            Duration::from_secs(2)
                .saturating_mul(2u32.saturating_pow(chat.failures.min(16) - 1))
                .min(MAX_RETRY)
        } else {
            if wait.is_some() {
                chat.failures = 0;
            }
            wait.unwrap_or_default()
        };
        chat.not_before = Some(now + wait);
        wait
    }

    fn pause_platform(&self, platform: Platform, pause: Duration) {
        let mut state = self.state.lock().expect("delivery state");
        let now = Instant::now();
        let pace = state
            .paces
            .entry(platform)
            .or_insert_with(|| Pace::new(now));
        pace.next_slot = pace.next_slot.max(now + pause);
    }

    /// Waits for the platform's next free slot: `paced_rate(rate)` sends a second, evenly
    /// spaced, and never more than `rate` sends within the server's view of any one second,
    /// even when tasks wake late or answers are slow. The send is under way until the
    /// returned `Slot` is dropped. Returns `None`, having sent nothing, when shutdown comes
    /// first.
    async fn pace(
        &self,
        platform: Platform,
        rate: u32,
        shutdown: &CancellationToken,
    ) -> Option<Slot<'_>> {
        let counted = rate <= MAX_COUNTED_RATE;
        let interval = RATE_WINDOW / paced_rate(rate);
        let mut wait_until = {
            let mut state = self.state.lock().expect("delivery state");
            let now = Instant::now();
            let pace = state
                .paces
                .entry(platform)
                .or_insert_with(|| Pace::new(now));
            let slot = pace.next_slot.max(now);
            pace.next_slot = slot + interval;
            slot
        };
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep_until(wait_until) => {}
            }
            if !counted {
                return Some(Slot {
                    delivery: self,
                    platform: None,
                    started: Instant::now(),
                });
            }
            // Count what the server may still count: a task that woke late must not join
            // others into one too many. It waits for room, keeping its place: the slots
            // reserved by others do not move.
            let mut state = self.state.lock().expect("delivery state");
            let now = Instant::now();
            let pace = state
                .paces
                .entry(platform)
                .or_insert_with(|| Pace::new(now));
            if pace.in_window(now) < rate as usize {
                pace.in_flight += 1;
                return Some(Slot {
                    delivery: self,
                    platform: Some(platform),
                    started: now,
                });
            }
            // Room comes a second after the oldest answer; with every send still under way,
            // look again a slot later.
            wait_until = match pace.ended.front() {
                Some(oldest) => *oldest + RATE_WINDOW,
                None => now + interval,
            };
        }
    }
}

/// A send under way on a counted platform: when dropped (the answer came, or the send was
/// abandoned), its end is noted for the platform's count.
struct Slot<'a> {
    delivery: &'a Delivery,
    platform: Option<Platform>,
    started: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(platform) = self.platform else {
            return;
        };
        let mut state = self.delivery.state.lock().expect("delivery state");
        if let Some(pace) = state.paces.get_mut(&platform) {
            pace.in_flight = pace.in_flight.saturating_sub(1);
            // The send reached the server before its answer came back, and at least the
            // fastest round trip's travel before that.
            let now = Instant::now();
            let round_trip = now - self.started;
            let fastest = pace.fastest.map_or(round_trip, |f| f.min(round_trip));
            pace.fastest = Some(fastest);
            pace.answers = (pace.answers + 1).min(TRAVEL_SAMPLES);
            let travel = if pace.answers < TRAVEL_SAMPLES {
                Duration::ZERO
            } else {
                fastest
            };
            let arrived = now - travel;
            // Kept in order (a bound later than the true one only counts more).
            let arrived = pace.ended.back().map_or(arrived, |last| arrived.max(*last));
            pace.ended.push_back(arrived);
        }
    }
}

enum Step {
    Sent,
    Skipped,
    Empty,
    Moved(Target),
    Wait(Instant),
    /// Shutdown came while waiting for a slot: nothing was sent.
    Stopped,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The transaction id of an edit: one per (article, revision, chat), so a repeated edit is
/// dropped by a platform that deduplicates, while a later revision is a new edit.
pub fn edit_txn_id(article: &str, revision: &str, target: &Target) -> String {
    let digest = Sha256::digest(format!("edit\n{article}\n{revision}\n{target}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("herald-edit-{hex}")
}

/// The transaction id of a post: the same (article, revision, chat) always gives the same
/// id, so a resend after a crash is recognized by a platform that deduplicates.
pub fn txn_id(article: &str, revision: u32, target: &Target) -> String {
    let digest = Sha256::digest(format!("{article}\n{revision}\n{target}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("herald-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::Article;
    use crate::platform::BoxFuture;
    use crate::store::FeedState;

    /// A Telegram-like platform (30 a second, one a second per private chat) that notes
    /// when each post arrives.
    #[derive(Default)]
    struct Recorder {
        sends: Mutex<Vec<(String, Instant)>>,
    }

    impl Recorder {
        fn times(&self) -> Vec<Instant> {
            self.sends.lock().unwrap().iter().map(|(_, t)| *t).collect()
        }
        fn count(&self) -> usize {
            self.sends.lock().unwrap().len()
        }
    }

    impl Sink for Recorder {
        fn platform(&self) -> Platform {
            Platform::Telegram
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::from_secs(1)
        }
        fn global_rate(&self) -> u32 {
            30
        }
        fn send<'a>(
            &'a self,
            chat: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                let mut sends = self.sends.lock().unwrap();
                sends.push((chat.to_string(), Instant::now()));
                Ok(sends.len().to_string())
            })
        }
    }

    fn article(n: u32) -> Article {
        Article {
            published: Some(chrono::Utc::now() - chrono::Duration::hours(i64::from(100 - n))),
            ..Article::sample(n, "en")
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        config: Arc<Config>,
        store: Store,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse("", &dir.path().join("herald.toml"), |_| None).unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        Fixture {
            _dir: dir,
            config: Arc::new(config),
            store,
        }
    }

    impl Fixture {
        /// Queues article `n` for private chats 1..=chats.
        async fn queue(&self, n: u32, chats: u32) {
            let a = article(n);
            let deliveries: Vec<(Target, String)> = (1..=chats)
                .map(|c| (Target::new(Platform::Telegram, c.to_string()), a.id.clone()))
                .collect();
            self.store
                .commit_poll(
                    &format!("feed{n}"),
                    &FeedState::default(),
                    &[a],
                    &deliveries,
                    None,
                )
                .await
                .unwrap();
        }

        fn delivery(&self, sink: &Arc<Recorder>) -> Arc<Delivery> {
            Delivery::new(
                self.config.clone(),
                self.store.clone(),
                Arc::default(),
                vec![sink.clone() as Arc<dyn Sink>],
            )
        }
    }

    /// A Telegram-like server behind a network of uneven delays: a request takes `base`
    /// plus 0 to 30 ms to arrive (plus 120 ms for four in a row every 60) and its answer
    /// `base` plus 0 to 30 ms to come back, in a fixed pseudo-random pattern. The server counts each send when it arrives, over a sliding
    /// second, and refuses (429) a 31st, like the Bot API.
    #[derive(Default)]
    struct JitteryServer {
        base: Duration,
        calls: std::sync::atomic::AtomicU64,
        accepted: Mutex<VecDeque<Instant>>,
        all: Mutex<Vec<Instant>>,
        refused: std::sync::atomic::AtomicUsize,
    }

    impl JitteryServer {
        /// The way there of the `n`th send (and, with `n` of no send, a way back).
        fn delay(&self, n: u64, there: bool) -> Duration {
            // A xorshift of the number: an uneven 0 to 30 ms.
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            x ^= x >> 29;
            let jitter = Duration::from_millis(x % 31);
            // Now and then a hiccup holds up four requests in a row, which then arrive
            // together.
            let hiccup = if there && (n / 4).is_multiple_of(15) {
                Duration::from_millis(120)
            } else {
                Duration::ZERO
            };
            self.base + jitter + hiccup
        }
    }

    impl Sink for JitteryServer {
        fn platform(&self) -> Platform {
            Platform::Telegram
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::from_secs(1)
        }
        fn global_rate(&self) -> u32 {
            30
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                let n = self
                    .calls
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(self.delay(n, true)).await;
                let accepted = {
                    let mut window = self.accepted.lock().unwrap();
                    let now = Instant::now();
                    while window.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
                        window.pop_front();
                    }
                    let accepted = window.len() < 30;
                    if accepted {
                        window.push_back(now);
                        self.all.lock().unwrap().push(now);
                    }
                    accepted
                };
                tokio::time::sleep(self.delay(n + 7, false)).await;
                if accepted {
                    Ok("1".into())
                } else {
                    self.refused
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Err(SendError::RetryAfter(Duration::from_secs(1)))
                }
            })
        }
    }

    /// Sends 600 posts through `server`; returns when the server took each.
    async fn fan_out_through(server: Arc<JitteryServer>) -> Vec<Instant> {
        let f = fixture();
        f.queue(1, 600).await;
        let delivery = Delivery::new(
            f.config.clone(),
            f.store.clone(),
            Arc::default(),
            vec![server.clone() as Arc<dyn Sink>],
        );
        let (sent, empty) = delivery
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!((sent, empty), (600, true));
        let refused = server.refused.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(refused, 0, "429s from the server");
        let times = server.all.lock().unwrap().clone();
        assert!(busiest_second(&times) <= 30);
        times
    }

    /// Posts a second from the `from`th post taken to the last.
    fn rate_from(times: &[Instant], from: usize) -> f64 {
        let span = *times.last().unwrap() - times[from];
        (times.len() - 1 - from) as f64 / span.as_secs_f64()
    }

    #[test]
    /// The id a homeserver deduplicates a resent post by: "{article}\n0\n{chat}" hashed, the
    /// same in every version, or a post sent before an upgrade is posted twice after it.
    fn a_posts_transaction_id_hashes_article_zero_and_chat() {
        let target = Target::new(Platform::Matrix, "!room:example.org");
        let id = txn_id("https://example.org/post", 0, &target);
        assert_eq!(id, "herald-8d9eb43f46cd6d3ce0249431555f23b2");
    }

    #[tokio::test(start_paused = true)]
    async fn uneven_network_delays_never_put_one_too_many_into_the_servers_second() {
        let times = fan_out_through(Arc::default()).await;
        let rate = rate_from(&times, 0);
        assert!(rate >= 28.5, "{rate:.2} posts a second");
    }

    #[tokio::test(start_paused = true)]
    async fn a_distant_server_is_paced_as_fast_as_a_near_one() {
        let server = JitteryServer {
            base: Duration::from_millis(150),
            ..Default::default()
        };
        // Until it has seen enough answers to know the travel, it counts whole round trips.
        let times = fan_out_through(Arc::new(server)).await;
        let rate = rate_from(&times, 150);
        assert!(rate >= 28.5, "{rate:.2} posts a second");
    }

    /// The most sends within any one second (a window open at its start, closed at its end).
    fn busiest_second(times: &[Instant]) -> usize {
        let mut times = times.to_vec();
        times.sort();
        let mut most = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[start] + RATE_WINDOW <= times[end] {
                start += 1;
            }
            most = most.max(end - start + 1);
        }
        most
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_wait_for_a_slot_and_nothing_starts_after_it() {
        let f = fixture();
        f.queue(1, 1000).await;
        let sink = Arc::new(Recorder::default());
        let delivery = f.delivery(&sink);
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(delivery.run(shutdown.clone()));
        tokio::time::sleep(Duration::from_secs(3)).await;
        shutdown.cancel();
        let at_shutdown = sink.count();
        assert!((58..=90).contains(&at_shutdown), "{at_shutdown} in 3 s");
        tokio::time::timeout(Duration::from_millis(10), running)
            .await
            .expect("the loop ends at once")
            .unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(sink.count(), at_shutdown, "nothing sent after shutdown");
        assert_eq!(
            f.store.outbox_len(),
            1000 - at_shutdown,
            "the rest stays queued"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_stays_below_the_limit_in_every_second_even_across_a_restart() {
        let f = fixture();
        f.queue(1, 300).await;
        let sink = Arc::new(Recorder::default());
        let delivery = f.delivery(&sink);
        let started = Instant::now();
        let (sent, empty) = delivery
            .clone()
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!((sent, empty), (300, true));
        let times = sink.times();
        assert_eq!(busiest_second(&times), 29, "one below Telegram's 30");
        let took = (*times.last().unwrap() - started).as_secs_f64();
        let rate = 299.0 / took;
        assert!(rate >= 28.5, "{rate:.2} posts a second");
        assert!(
            delivery.state.lock().unwrap().chats.len() <= CONCURRENT_CHATS,
            "the state does not keep every chat served"
        );

        // A new process (a new Delivery on the same store) with a second article for the
        // same chats: it waits out the window the first one filled, and each chat's second.
        f.queue(2, 300).await;
        let sink2 = Arc::new(Recorder::default());
        let (sent, _) = f
            .delivery(&sink2)
            .drain_patiently(Duration::from_secs(60), &CancellationToken::new())
            .await;
        assert_eq!(sent, 300);
        let mut both = times.clone();
        both.extend(sink2.times());
        assert_eq!(busiest_second(&both), 29, "no burst after the restart");
        let first: HashMap<String, Instant> = sink.sends.lock().unwrap().iter().cloned().collect();
        for (chat, at) in sink2.sends.lock().unwrap().iter() {
            assert!(
                *at >= first[chat] + Duration::from_millis(900),
                "chat {chat}"
            );
        }
    }
}

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

use std::collections::HashMap;
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

#[derive(Default)]
struct ChatState {
    not_before: Option<Instant>,
    failures: u32,
}

#[derive(Default)]
struct State {
    chats: HashMap<Target, ChatState>,
    /// The next free slot of each platform's global pace.
    next_slot: HashMap<Platform, Instant>,
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
        let sinks = sinks.into_iter().map(|s| (s.platform(), s)).collect();
        Arc::new(Delivery {
            config,
            store,
            metrics,
            sinks,
            state: Mutex::new(State::default()),
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
            tokio::time::sleep_until(next).await;
        }
        (sent, self.store.outbox_len() == 0)
    }

    /// One pass: every chat with due deliveries is served concurrently, each in order.
    pub async fn drain(self: Arc<Self>, shutdown: &CancellationToken) -> DrainReport {
        let targets = match self.store.pending_targets() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return DrainReport {
                    sent: 0,
                    next_due: Some(Instant::now() + Duration::from_secs(10)),
                };
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for target in targets {
            let this = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move { this.drain_chat(target, &shutdown).await });
        }
        let mut report = DrainReport::default();
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok((sent, next)) => {
                    report.sent += sent;
                    report.next_due = earliest(report.next_due, next);
                }
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
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
            if let Some(wait) = self.chat_wait(&target) {
                return (sent, Some(wait));
            }
            match self.deliver_next(&target).await {
                Ok(Step::Sent) => sent += 1,
                Ok(Step::Skipped) => {}
                Ok(Step::Empty) => return (sent, None),
                Ok(Step::Moved(to)) => target = to,
                Ok(Step::Wait(until)) => return (sent, Some(until)),
                Err(e) => {
                    tracing::error!(error = %e, "store error while delivering");
                    return (sent, Some(Instant::now() + Duration::from_secs(10)));
                }
            }
        }
    }

    fn chat_wait(&self, target: &Target) -> Option<Instant> {
        let state = self.state.lock().expect("delivery state");
        state
            .chats
            .get(target)
            .and_then(|c| c.not_before)
            .filter(|t| *t > Instant::now())
    }

    async fn deliver_next(&self, target: &Target) -> Result<Step, StoreError> {
        let Some(pending) = self.store.next_for(target)? else {
            return Ok(Step::Empty);
        };
        let article_id = pending.delivery.article.clone();
        if let Some(record) = self.store.was_sent(target, &article_id)? {
            self.store.mark_sent(&pending, &record.message).await?;
            return Ok(Step::Skipped);
        }
        let Some(article) = self.store.article(&article_id)? else {
            self.store
                .give_up(&pending, "the article is no longer stored")
                .await?;
            return Ok(Step::Skipped);
        };
        let Some(sink) = self.sinks.get(&target.platform).cloned() else {
            // The platform is not running (not configured any more): keep the deliveries.
            tracing::warn!(platform = %target.platform, "deliveries wait for a platform that is not configured");
            return Ok(Step::Wait(Instant::now() + Duration::from_secs(300)));
        };
        let channel = self.config.channel_at(target, |t| self.store.resolve(t))?;
        let chat_lang = match self.store.chat(target)? {
            Some(settings) => settings.langs.first().cloned(),
            None => channel.and_then(|c| c.langs.first().cloned()),
        };
        let post = Post {
            article: &article,
            chat_lang: chat_lang.as_ref(),
            txn_id: txn_id(&article_id, 0, target),
        };
        self.pace(sink.platform(), sink.global_rate()).await;
        let result = sink.send(&target.chat, &post).await;
        let outcome = match &result {
            Ok(_) => "sent",
            Err(SendError::RetryAfter(_)) => "rate_limited",
            Err(SendError::Moved(_)) => "moved",
            Err(SendError::Gone(_)) => "chat_gone",
            Err(SendError::Temporary(_)) => "temporary_failure",
            Err(SendError::Rejected(_)) => "rejected",
        };
        self.metrics.count_send(target.platform.name(), outcome);
        // An operator's channel is named in logs and kept when unreachable; a private
        // subscriber is neither.
        let public = channel.is_some();
        let label = if public {
            target.to_string()
        } else {
            format!("a {} chat", target.platform)
        };
        match result {
            Ok(message) => {
                self.store.mark_sent(&pending, &message).await?;
                tracing::debug!(chat = %label, article = %article_id, "sent");
                self.after(target, Some(sink.chat_interval(&target.chat)), false);
                Ok(Step::Sent)
            }
            Err(SendError::RetryAfter(wait)) => {
                tracing::warn!(chat = %label, wait = ?wait, "rate limited; waiting as told");
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
                tracing::error!(chat = %label, %reason, retry_in = ?wait, "cannot post to a configured channel; check the bot's rights there");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Err(SendError::Gone(reason)) => {
                tracing::info!(chat = %label, %reason, "chat is gone; unsubscribed it and erased its data");
                self.store.forget_chat(target)?;
                Ok(Step::Empty)
            }
            Err(SendError::Temporary(reason)) => {
                let wait = self.after(target, None, true);
                tracing::warn!(chat = %label, %reason, retry_in = ?wait, "send failed; will retry");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Err(SendError::Rejected(reason)) => {
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
        chat.not_before = Some(Instant::now() + wait);
        wait
    }

    fn pause_platform(&self, platform: Platform, pause: Duration) {
        let mut state = self.state.lock().expect("delivery state");
        let slot = state.next_slot.entry(platform).or_insert_with(Instant::now);
        *slot = (*slot).max(Instant::now() + pause);
    }

    /// Waits for the platform's next free slot, `1/rate` seconds apart.
    async fn pace(&self, platform: Platform, rate: u32) {
        let slot = {
            let mut state = self.state.lock().expect("delivery state");
            let next = state.next_slot.entry(platform).or_insert_with(Instant::now);
            let slot = (*next).max(Instant::now());
            *next = slot + Duration::from_secs(1) / rate.max(1);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

enum Step {
    Sent,
    Skipped,
    Empty,
    Moved(Target),
    Wait(Instant),
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The transaction id of a post: the same (article, revision, chat) always gives the same
/// id, so a resend after a crash is recognized by a platform that deduplicates.
pub fn txn_id(article: &str, revision: u32, target: &Target) -> String {
    let digest = Sha256::digest(format!("{article}\n{revision}\n{target}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("herald-{hex}")
}

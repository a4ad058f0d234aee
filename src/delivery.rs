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
//! Pacing: a platform's `global_rate` is the limit it enforces over a sliding second;
//! Herald sends one a second fewer (29 of Telegram's 30), evenly spaced, and counts the
//! sends actually made in the last second before each send, so tasks that wake late never
//! bunch up into one too many (nor closer than half a slot to each other). The last send
//! to each chat and each platform is stored, so a process started right after another was
//! killed waits out the windows it filled.
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
/// Rates above this are only spaced, not counted send by send (the console, test sinks).
const MAX_COUNTED_RATE: u32 = 1000;

#[derive(Default)]
struct ChatState {
    not_before: Option<Instant>,
    failures: u32,
}

/// A platform's pace.
struct Pace {
    /// The next free slot, `1/rate` after the previous one.
    next_slot: Instant,
    /// When the sends of the last second went out, oldest first.
    recent: VecDeque<Instant>,
}

impl Pace {
    fn new(next_slot: Instant) -> Pace {
        Pace {
            next_slot,
            recent: VecDeque::new(),
        }
    }
}

#[derive(Default)]
struct State {
    chats: HashMap<Target, ChatState>,
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
        // A process started right after another stopped waits out the window it filled.
        let mut state = State::default();
        for platform in sinks.keys() {
            match store.last_sent_on(*platform) {
                Ok(Some(last)) => {
                    if let Some(slot) = after_stored(last, RATE_WINDOW) {
                        state.paces.insert(*platform, Pace::new(slot));
                    }
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
        let mut targets = targets.into_iter();
        let mut tasks = tokio::task::JoinSet::new();
        let mut report = DrainReport::default();
        loop {
            while tasks.len() < CONCURRENT_CHATS && !shutdown.is_cancelled() {
                let Some(target) = targets.next() else { break };
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
            match self.deliver_next(&target, shutdown).await {
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
        let channel = self.config.channel_at(target, |t| self.store.resolve(t))?;
        let chat_lang = match self.store.chat(target)? {
            Some(settings) => settings.langs.first().cloned(),
            None => channel.and_then(|c| c.langs.first().cloned()),
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
        if !self
            .pace(sink.platform(), sink.global_rate(), shutdown)
            .await
        {
            return Ok(Step::Stopped);
        }
        let started = Instant::now();
        let result = match &record {
            Some(record) if edit => sink
                .edit(&target.chat, &record.message, &post)
                .await
                .map(|()| record.message.clone()),
            _ => sink.send(&target.chat, &post).await,
        };
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
                self.store.flush().await?;
                Ok(Step::Empty)
            }
            Err(SendError::Temporary(reason)) => {
                let wait = self.after(target, None, true);
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
        let now = Instant::now();
        let pace = state
            .paces
            .entry(platform)
            .or_insert_with(|| Pace::new(now));
        pace.next_slot = pace.next_slot.max(now + pause);
    }

    /// Waits for the platform's next free slot: `paced_rate(rate)` sends a second, evenly
    /// spaced, and never more than that many within any one second, even when tasks wake
    /// late. Returns false, having sent nothing, when shutdown comes first.
    async fn pace(&self, platform: Platform, rate: u32, shutdown: &CancellationToken) -> bool {
        let limit = paced_rate(rate);
        let counted = rate <= MAX_COUNTED_RATE;
        let interval = RATE_WINDOW / limit;
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
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep_until(wait_until) => {}
            }
            if !counted {
                return true;
            }
            // Count the sends really made in the last second: a task that woke late must
            // not join others into one too many. It waits for room, keeping its place: the
            // slots reserved by others do not move.
            let mut state = self.state.lock().expect("delivery state");
            let now = Instant::now();
            let pace = state
                .paces
                .entry(platform)
                .or_insert_with(|| Pace::new(now));
            while pace.recent.front().is_some_and(|t| *t + RATE_WINDOW <= now) {
                pace.recent.pop_front();
            }
            // Late tasks catch up, but never closer than half a slot to the previous send.
            let gap_until = pace.recent.back().map(|t| *t + interval / 2);
            if let Some(gap) = gap_until.filter(|t| *t > now) {
                wait_until = gap;
                continue;
            }
            if pace.recent.len() < limit as usize {
                pace.recent.push_back(now);
                return true;
            }
            wait_until = pace.recent[pace.recent.len() - limit as usize] + RATE_WINDOW;
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

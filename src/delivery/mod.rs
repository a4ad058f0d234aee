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
//! A store that cannot be written (a full disk) stops the drain: nothing is sent until it
//! takes writes again (`Store::recover`, tried at each pass). A send that went through but
//! could not be recorded is kept in memory (`unrecorded`) and recorded, not sent again, once
//! the store takes writes.
//!
//! Pacing: every send on a platform first takes a slot of the platform's `Pace` (see
//! `pace`), so the platform's limit over a second is never hit. Each chat waits out its
//! interval after a send to it; a process starts slow, each chat waiting out its interval
//! after its last send on record too. At most `CONCURRENT_CHATS` chats are served at once,
//! so memory does not grow with the number of chats waiting. Shutdown ends every wait at
//! once; a send already under way is finished and recorded, and nothing new starts.

mod outcome;
pub mod pace;
#[cfg(test)]
mod store_faults;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::article::{Platform, Target};
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::sink::{Post, Sink};
use crate::store::{QueueHead, Store, StoreError};
use outcome::{Attempt, Outcome};
use pace::{Pace, after_stored};

/// Longest wait between retries of one chat.
const MAX_RETRY: Duration = Duration::from_secs(15 * 60);
/// Chats served at once: enough to keep a platform's pace with slow answers, few enough
/// that memory stays flat however many chats wait.
const CONCURRENT_CHATS: usize = 64;
/// Chats read from the outbox at a time.
const TARGET_PAGE: usize = 256;

/// How long a chat is held back.
#[derive(Default)]
struct ChatState {
    not_before: Option<Instant>,
    failures: u32,
}

#[derive(Default)]
struct State {
    chats: HashMap<Target, ChatState>,
    /// The size of `chats` at which those no longer held back are forgotten.
    prune_at: usize,
}

/// The outbox's drain: the platforms' sinks and paces, and how long each chat is held back.
pub struct Delivery {
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    sinks: HashMap<Platform, Arc<dyn Sink>>,
    /// The pace of each platform in `sinks`.
    paces: HashMap<Platform, Pace>,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    /// Sends and edits that went through while the store could not record them: recorded
    /// (not made again) when their queue entry comes up next.
    unrecorded: Mutex<HashMap<(Target, String, bool), Made>>,
}

/// A send or an edit that went through, as the store records it.
#[derive(Clone, Debug)]
enum Made {
    /// A post: its message id and the revision it shows.
    Post { message: String, revision: String },
    /// An edit, or one found not needed: the revision the message shows now.
    Edit { revision: String },
}

/// How long the drain waits before it looks again at a store that cannot be written.
const UNWRITABLE_RETRY: Duration = Duration::from_secs(10);

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
        // A process started after another one stopped waits out a full window first.
        let paces = sinks
            .keys()
            .map(|platform| {
                let last = store.last_sent_on(*platform).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the time of the last send");
                    None
                });
                (*platform, Pace::starting(last))
            })
            .collect();
        Arc::new(Delivery {
            config,
            store,
            metrics,
            sinks,
            paces,
            state: Mutex::new(State::default()),
            wake: Default::default(),
            unrecorded: Default::default(),
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
        let health = self.metrics.liveness();
        health.delivery_pass_started();
        // Nothing is sent while the store cannot record it; each pass tries to reopen it.
        if !self.store.recover().await {
            report.next_due = Some(Instant::now() + UNWRITABLE_RETRY);
            health.delivery_pass_ended(report.next_due);
            return report;
        }
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
                    self.metrics.liveness().delivery_trouble();
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
                Ok(_) => self.metrics.liveness().delivery_step(),
                Err(_) => self.metrics.liveness().delivery_trouble(),
            }
            match step {
                Ok(Step::Sent) => sent += 1,
                Ok(Step::Skipped) => {}
                Ok(Step::Empty | Step::Stopped) => return (sent, None),
                Ok(Step::Moved(to)) => target = to,
                Ok(Step::Wait(until)) => return (sent, Some(until)),
                // Said once by the store, when it stopped taking writes.
                Err(StoreError::NotWritable { .. }) => {
                    return (sent, Some(Instant::now() + UNWRITABLE_RETRY));
                }
                Err(e) => {
                    tracing::error!(error = %e, "store error while delivering");
                    return (sent, Some(Instant::now() + UNWRITABLE_RETRY));
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

    /// Sends the chat's next delivery, if any, and acts on the outcome.
    async fn deliver_next(
        &self,
        target: &Target,
        shutdown: &CancellationToken,
    ) -> Result<Step, StoreError> {
        if self.store.unwritable().is_some() {
            return Ok(Step::Wait(Instant::now() + UNWRITABLE_RETRY));
        }
        let Some(pending) = self.store.next_for(target)? else {
            return Ok(Step::Empty);
        };
        let article_id = pending.delivery.article.clone();
        let edit = pending.delivery.edit;
        // Made already by this process, while the store could not record it: record it.
        let made = (target.clone(), article_id.clone(), edit);
        let unrecorded = self
            .unrecorded
            .lock()
            .expect("unrecorded")
            .get(&made)
            .cloned();
        if let Some(done) = unrecorded {
            self.record_made(&pending, &done).await?;
            self.unrecorded.lock().expect("unrecorded").remove(&made);
            return Ok(Step::Skipped);
        }
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
                    .set_aside(&pending, "the article is no longer stored")
                    .await?;
            }
            return Ok(Step::Skipped);
        };
        let revision = article.revision();
        let (Some(sink), Some(pace)) = (
            self.sinks.get(&target.platform).cloned(),
            self.paces.get(&target.platform),
        ) else {
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
                edit_txn_id(&article_id, &revision, target, pending.delivery.enqueued)
            } else {
                txn_id(&article_id, target)
            },
        };
        // What the chat waits for (a room's join) is waited for before the platform's pace:
        // a slot is held only by a send under way.
        let prepared = tokio::select! {
            prepared = sink.prepare(&target.chat) => prepared,
            _ = shutdown.cancelled() => return Ok(Step::Stopped),
        };
        let result = match prepared {
            Err(e) => Err(e),
            Ok(()) => {
                let Some(slot) = pace.slot(sink.global_rate(), shutdown).await else {
                    return Ok(Step::Stopped);
                };
                // The wait for a slot may be long (a platform's 429): a post dropped
                // meanwhile (`/removechannel`, `/unsubscribe`, the chat forgotten) is not sent.
                if !self.store.still_queued(&pending)? {
                    return Ok(Step::Skipped);
                }
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
                result
            }
        };
        // An operator's channel is named in logs and kept when unreachable; a private
        // subscriber is neither.
        let public = channel.is_some();
        let chat = if public {
            target.to_string()
        } else {
            format!("a {} chat", target.platform)
        };
        let send = Attempt {
            target,
            pending: &pending,
            sink: sink.as_ref(),
            pace,
            revision: &revision,
            public,
            chat,
        };
        self.record(&send, Outcome::of(result, edit, public)).await
    }

    /// Records a send or an edit that went through; when the store cannot, keeps it in
    /// memory so that it is recorded, not made again, later.
    async fn record_made(&self, pending: &QueueHead, made: &Made) -> Result<(), StoreError> {
        let recorded = match made {
            Made::Post { message, revision } => {
                self.store.mark_sent(pending, message, Some(revision)).await
            }
            Made::Edit { revision } => self.store.finish_edit(pending, Some(revision)).await,
        };
        if recorded.is_err() {
            let key = (
                pending.target.clone(),
                pending.delivery.article.clone(),
                pending.delivery.edit,
            );
            self.unrecorded
                .lock()
                .expect("unrecorded")
                .insert(key, made.clone());
        }
        recorded
    }

    /// Sends and edits made but not recorded yet (the store could not be written).
    pub fn unrecorded(&self) -> usize {
        self.unrecorded.lock().expect("unrecorded").len()
    }

    /// Holds the chat back for `wait` after a send went through or a rate limit; its
    /// failures are over.
    fn hold(&self, target: &Target, wait: Duration) {
        self.change_chat(target, |chat, now| {
            chat.failures = 0;
            chat.not_before = Some(now + wait);
        });
    }

    /// Holds the chat back after a failed send, twice as long as after the failure before
    /// it (2 s, 4 s, … up to `MAX_RETRY`). Returns the wait.
    fn back_off(&self, target: &Target) -> Duration {
        self.change_chat(target, |chat, now| {
            chat.failures += 1;
            let wait = Duration::from_secs(2)
                .saturating_mul(2u32.saturating_pow(chat.failures.min(16) - 1))
                .min(MAX_RETRY);
            chat.not_before = Some(now + wait);
            wait
        })
    }

    /// Changes how long the chat is held back, with the time now.
    fn change_chat<R>(
        &self,
        target: &Target,
        change: impl FnOnce(&mut ChatState, Instant) -> R,
    ) -> R {
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
        change(state.chats.entry(target.clone()).or_default(), now)
    }
}

/// What the drain of a chat does after one delivery.
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

/// The transaction id of an edit: one per queued edit (article, revision, chat, and when the
/// edit was queued), so a retried edit is dropped by a platform that deduplicates, while a
/// later edit is a new one, also back to a text the message showed before (A → B → A → B
/// within the homeserver's memory of transaction ids).
pub fn edit_txn_id(
    article: &str,
    revision: &str,
    target: &Target,
    queued: chrono::DateTime<chrono::Utc>,
) -> String {
    let queued = queued.timestamp_micros();
    let digest =
        Sha256::digest(format!("edit\n{article}\n{revision}\n{target}\n{queued}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("herald-edit-{hex}")
}

/// The transaction id of a post: the same (article, chat) always gives the same id, so a
/// resend after a crash is recognized by a platform that deduplicates. The `0` in the
/// hashed text stands where a revision number was once meant to go; it stays, or the ids
/// of posts sent before would change.
pub fn txn_id(article: &str, target: &Target) -> String {
    let digest = Sha256::digest(format!("{article}\n0\n{target}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("herald-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_edit_keeps_its_transaction_id_and_a_later_edit_to_the_same_text_gets_a_new_one() {
        let target = Target::new(Platform::Matrix, "!room:example.org");
        let first = chrono::Utc::now();
        let later = first + chrono::Duration::seconds(30);
        let id = |queued| edit_txn_id("en:post", "b", &target, queued);
        assert_eq!(id(first), id(first), "a retry of one queued edit");
        assert_ne!(id(first), id(later), "B again after A, queued later");
        assert_ne!(id(first), edit_txn_id("en:post", "a", &target, first));
    }

    #[test]
    /// The id a homeserver deduplicates a resent post by: "{article}\n0\n{chat}" hashed, the
    /// same in every version, or a post sent before an upgrade is posted twice after it.
    fn a_posts_transaction_id_hashes_article_zero_and_chat() {
        let target = Target::new(Platform::Matrix, "!room:example.org");
        let id = txn_id("https://example.org/post", &target);
        assert_eq!(id, "herald-8d9eb43f46cd6d3ce0249431555f23b2");
    }
}

#[cfg(test)]
mod joins {
    use std::sync::Mutex;

    use super::*;
    use crate::article::Article;
    use crate::sink::BoxFuture;
    use crate::sink::SendError;
    use crate::sink::testing::{Answers, FakeSink};
    use crate::store::FeedState;

    /// A Matrix-like platform (one send a second) where the rooms named `!waiting-…` are
    /// still being joined until the test lets them in.
    struct Joining {
        joined: tokio::sync::watch::Receiver<bool>,
        sends: Mutex<Vec<String>>,
    }

    impl Answers for Joining {
        fn answer<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async move {
                let mut sends = self.sends.lock().unwrap();
                sends.push(chat.to_string());
                Ok(sends.len().to_string())
            })
        }

        fn ready<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
            Box::pin(async move {
                if chat.starts_with("!waiting-") {
                    let mut joined = self.joined.clone();
                    let _ = joined.wait_for(|j| *j).await;
                }
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn rooms_awaiting_their_join_never_hold_up_a_joined_rooms_posts() {
        let (_dir, store) = crate::store::testing::temporary();
        let config =
            Arc::new(Config::parse("", &_dir.path().join("herald.toml"), |_| None).unwrap());
        let mut chats: Vec<Target> = (0..10)
            .map(|n| Target::new(Platform::Matrix, format!("!waiting-{n}:example.org")))
            .collect();
        chats.push(Target::new(Platform::Matrix, "!joined:example.org"));
        for n in 1..=3 {
            let a = Article {
                published: Some(chrono::Utc::now() - chrono::Duration::hours(10 - i64::from(n))),
                ..Article::sample(n, "en")
            };
            let deliveries: Vec<(Target, String)> =
                chats.iter().map(|c| (c.clone(), a.id.clone())).collect();
            store
                .commit_poll(
                    &format!("f{n}"),
                    &FeedState::default(),
                    &[a],
                    &deliveries,
                    None,
                )
                .await
                .unwrap();
        }
        let (let_in, joined) = tokio::sync::watch::channel(false);
        // Ten sends a second: the ten rooms waiting would take every slot if they held one.
        let sink = Arc::new(FakeSink {
            global_rate: 10,
            ..FakeSink::matrix(
                Joining {
                    joined,
                    sends: Mutex::default(),
                },
                Vec::new(),
                Duration::ZERO,
            )
        });
        let delivery = Delivery::new(
            config,
            store.clone(),
            Arc::default(),
            vec![sink.clone() as Arc<dyn Sink>],
        );
        let shutdown = CancellationToken::new();
        let drain = tokio::spawn({
            let (delivery, shutdown) = (delivery.clone(), shutdown.clone());
            async move { delivery.drain(&shutdown).await }
        });
        // The joined room gets its three posts while ten rooms still wait for their joins.
        let deadline = Instant::now() + Duration::from_secs(30);
        while sink.sends.lock().unwrap().len() < 3 {
            assert!(
                Instant::now() < deadline,
                "the joined room's posts waited for the others' joins: {:?}",
                sink.sends.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*sink.sends.lock().unwrap(), vec!["!joined:example.org"; 3]);
        // Once joined, the other rooms get theirs.
        let_in.send(true).unwrap();
        let report = drain.await.unwrap();
        assert_eq!(report.sent, 33);
        assert_eq!(store.outbox_len(), 0);
    }

    #[tokio::test]
    async fn a_post_dropped_while_it_waits_for_a_slot_is_not_sent() {
        let (dir, store) = crate::store::testing::temporary();
        let config =
            Arc::new(Config::parse("", &dir.path().join("herald.toml"), |_| None).unwrap());
        let chat = Target::new(Platform::Matrix, "!reader:example.org");
        let a = Article::sample(1, "en");
        let deliveries = vec![(chat.clone(), a.id.clone())];
        store
            .commit_poll("f", &FeedState::default(), &[a], &deliveries, None)
            .await
            .unwrap();
        let (_let_in, joined) = tokio::sync::watch::channel(true);
        let sink = Arc::new(FakeSink::matrix(
            Joining {
                joined,
                sends: Mutex::default(),
            },
            Vec::new(),
            Duration::ZERO,
        ));
        let delivery = Delivery::new(
            config,
            store.clone(),
            Arc::default(),
            vec![sink.clone() as Arc<dyn Sink>],
        );
        // The platform asked to wait (a 429): the post waits for its slot…
        delivery.paces[&Platform::Matrix].rate_limited(Duration::from_secs(2));
        let shutdown = CancellationToken::new();
        let drain = tokio::spawn({
            let (delivery, shutdown) = (delivery.clone(), shutdown.clone());
            async move { delivery.drain(&shutdown).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // …while the chat is dropped (`/removechannel`, or a subscriber forgotten).
        store.forget_chat(&chat).unwrap();
        drain.await.unwrap();
        assert!(
            sink.sends.lock().unwrap().is_empty(),
            "nothing is sent to a chat dropped"
        );
    }
}

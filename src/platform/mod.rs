//! The boundary between Herald's core and the chat platforms. The core sends through the
//! `Sink` trait and learns about permanent failures from `SendError`; adapters turn
//! platform events into neutral commands (`crate::commands`). Only the files below this
//! folder name a platform SDK: `telegram.rs` (teloxide), `matrix/` (matrix-sdk),
//! `console.rs` (standard output).

pub mod console;
pub mod matrix;
pub mod telegram;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::Core;
use crate::article::{Article, Lang, Platform, Target};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One article to post in one chat.
pub struct Post<'a> {
    pub article: &'a Article,
    /// The chat's first language, for the bot's own words when the article's is unknown.
    pub chat_lang: Option<&'a Lang>,
    /// A key unique to (article, revision, chat): the same post sent twice carries the same
    /// key, so a platform that deduplicates (Matrix) drops the repeat.
    pub txn_id: String,
}

/// Why a send failed, as far as the delivery loop needs to know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Rate limited: send nothing to this chat for this long.
    #[error("rate limited for {0:?}")]
    RetryAfter(Duration),
    /// The chat cannot be posted to (blocked, kicked, deleted, not allowed to post).
    #[error("the chat is unreachable: {0}")]
    Gone(String),
    /// The chat continues under another id (the platform's chat name, no prefix).
    #[error("the chat moved to {0}")]
    Moved(String),
    /// An outage, a timeout, a 5xx: try again later. The message may have arrived.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// This message can never be sent as it is.
    #[error("the message was rejected: {0}")]
    Rejected(String),
}

/// Sends posts to one platform.
pub trait Sink: Send + Sync {
    fn platform(&self) -> Platform;

    /// The pause between two posts to one chat.
    fn chat_interval(&self, chat: &str) -> Duration;

    /// Posts per second across all chats of this platform.
    fn global_rate(&self) -> u32;

    /// Posts `post` in `chat` and returns the platform's id of the message.
    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>>;

    /// The chats this platform cannot post to yet, and why (for `/healthz` and `/status`):
    /// Matrix rooms whose join is still being retried or was refused.
    fn waiting_chats(&self) -> Vec<ChatWaiting> {
        Vec::new()
    }
}

/// A chat the bot was told to post to but is not in yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatWaiting {
    /// The chat (a Matrix room id is private: show it to operators only).
    pub target: Target,
    /// An operator's configured channel, rather than a room the bot was invited to.
    pub configured: bool,
    pub state: WaitState,
    /// Why, in words (the homeserver's answer), when there is a reason.
    pub reason: Option<String>,
    /// When the next attempt is due, if one is planned.
    pub retry_at: Option<std::time::SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitState {
    /// Trying now (or waiting for the homeserver's pace).
    Joining,
    /// A failure that will be retried (rate limit, outage).
    Retrying,
    /// Refused for good (forbidden, banned, unknown room): not retried until restart.
    Refused,
}

/// A running platform: its sink, and the task listening for commands (when listening).
pub struct Started {
    pub sink: Arc<dyn Sink>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts every platform the config uses; the console always. With `listen`, the
/// platforms also answer commands until `shutdown`.
///
/// A platform that cannot start (its server down, say) never stops the others. The running
/// bot (`listen`) keeps retrying it in the background, its posts waiting in the outbox
/// meanwhile; a one-shot run goes on without it, leaving its posts queued.
pub async fn start_all(
    core: &Arc<Core>,
    listen: bool,
    shutdown: &CancellationToken,
) -> Vec<Started> {
    let mut started = vec![Started {
        sink: Arc::new(console::Console),
        task: None,
    }];
    let starters: [(Platform, Starter); 2] = [
        (Platform::Telegram, |core, listen, shutdown| {
            Box::pin(async move { telegram::start(&core, listen, &shutdown).await })
        }),
        (Platform::Matrix, |core, listen, shutdown| {
            Box::pin(async move { matrix::start(&core, listen, &shutdown).await })
        }),
    ];
    for (platform, start) in starters {
        started.extend(start_resilient(platform, core, listen, shutdown, start).await);
    }
    started
}

type Starter =
    fn(Arc<Core>, bool, CancellationToken) -> BoxFuture<'static, anyhow::Result<Option<Started>>>;

/// Longest pause between two attempts to start a platform.
const MAX_START_RETRY: Duration = Duration::from_secs(300);

async fn start_resilient(
    platform: Platform,
    core: &Arc<Core>,
    listen: bool,
    shutdown: &CancellationToken,
    start: Starter,
) -> Option<Started> {
    let error = match start(core.clone(), listen, shutdown.clone()).await {
        Ok(started) => return started,
        Err(e) => e,
    };
    if !listen {
        tracing::error!(%platform, error = %format!("{error:#}"), "cannot start; its posts stay queued");
        return None;
    }
    tracing::error!(%platform, error = %format!("{error:#}"), "cannot start yet; retrying in the background");
    let pending = Arc::new(Pending {
        platform,
        ready: OnceLock::new(),
    });
    let (core, shutdown, sink) = (core.clone(), shutdown.clone(), pending.clone());
    let task = tokio::spawn(async move {
        let mut wait = Duration::from_secs(5);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match start(core.clone(), true, shutdown.clone()).await {
                Ok(Some(started)) => {
                    tracing::info!(%platform, "started after all");
                    let _ = sink.ready.set(started.sink);
                    if let Some(listener) = started.task {
                        let _ = listener.await;
                    }
                    return;
                }
                Ok(None) => return,
                Err(e) => {
                    wait = (wait * 2).min(MAX_START_RETRY);
                    tracing::warn!(%platform, error = %format!("{e:#}"), retry_in = ?wait, "still cannot start");
                }
            }
        }
    });
    Some(Started {
        sink: pending,
        task: Some(task),
    })
}

/// A platform still starting: posts to it fail as temporary until it is up.
struct Pending {
    platform: Platform,
    ready: OnceLock<Arc<dyn Sink>>,
}

impl Sink for Pending {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn chat_interval(&self, chat: &str) -> Duration {
        self.ready
            .get()
            .map_or(Duration::from_secs(1), |s| s.chat_interval(chat))
    }

    fn global_rate(&self) -> u32 {
        self.ready.get().map_or(1, |s| s.global_rate())
    }

    fn waiting_chats(&self) -> Vec<ChatWaiting> {
        self.ready.get().map_or(Vec::new(), |s| s.waiting_chats())
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        match self.ready.get() {
            Some(sink) => sink.send(chat, post),
            None => Box::pin(async move {
                Err(SendError::Temporary(format!(
                    "{} is not connected yet",
                    self.platform
                )))
            }),
        }
    }
}

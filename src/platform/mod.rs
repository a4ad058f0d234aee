//! The boundary between Herald's core and the chat platforms. The core sends through the
//! `Sink` trait and learns about permanent failures from `SendError`; adapters turn
//! platform events into neutral commands (`crate::commands`). Only the files below this
//! folder name a platform SDK: `telegram/` (teloxide), `matrix/` (matrix-sdk),
//! `console.rs` (standard output). Each SDK adapter is behind the cargo feature of its
//! name (`telegram`, `matrix`, both on by default); a build without them posts to the
//! console only.

pub mod console;
#[cfg(any(feature = "telegram", feature = "matrix"))]
pub(crate) mod dispatch;
#[cfg(feature = "matrix")]
pub mod matrix;
#[cfg(feature = "telegram")]
pub mod telegram;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::article::Platform;
use crate::check::Check;
use crate::config::Config;
use crate::service::CommandService;

pub use crate::sink::{
    BoxFuture, ChatWaiting, Connection, Disconnected, Post, SendError, Sink, VerifyError, WaitState,
};

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
    service: &Arc<CommandService>,
    listen: bool,
    shutdown: &CancellationToken,
) -> Vec<Started> {
    let mut started = vec![Started {
        sink: Arc::new(console::Console),
        task: None,
    }];
    let starters: [(Platform, Starter); 2] = [
        #[cfg(feature = "telegram")]
        (Platform::Telegram, |service, listen, shutdown| {
            Box::pin(async move { telegram::start(&service, listen, &shutdown).await })
        }),
        #[cfg(not(feature = "telegram"))]
        (Platform::Telegram, |service, _, _| {
            let configured = service.config().telegram.is_some();
            Box::pin(async move { not_built(Platform::Telegram, configured) })
        }),
        #[cfg(feature = "matrix")]
        (Platform::Matrix, |service, listen, shutdown| {
            Box::pin(async move { matrix::start(&service, listen, &shutdown).await })
        }),
        #[cfg(not(feature = "matrix"))]
        (Platform::Matrix, |service, _, _| {
            let configured = service.config().matrix.is_some();
            Box::pin(async move { not_built(Platform::Matrix, configured) })
        }),
    ];
    for (platform, start) in starters {
        started.extend(start_resilient(platform, service, listen, shutdown, start).await);
    }
    started
}

/// `herald check --online` for every platform the config uses: Telegram's `getMe` and
/// channels, Matrix's login and rooms, side by side. A platform this build leaves out is a
/// failed check when the config uses it.
pub async fn check_online(config: &Config) -> Vec<Check> {
    #[cfg(feature = "telegram")]
    let telegram = telegram::check_online(config);
    #[cfg(not(feature = "telegram"))]
    let telegram = async { not_built_check(Platform::Telegram, config.telegram.is_some()) };
    #[cfg(feature = "matrix")]
    let matrix = matrix::check_online(config);
    #[cfg(not(feature = "matrix"))]
    let matrix = async { not_built_check(Platform::Matrix, config.matrix.is_some()) };
    let (mut checks, more) = futures::join!(telegram, matrix);
    checks.extend(more);
    checks
}

#[cfg(not(all(feature = "telegram", feature = "matrix")))]
fn not_built_check(platform: Platform, configured: bool) -> Vec<Check> {
    if configured {
        vec![Check::failed(
            platform.to_string(),
            format!("this Herald was built without the `{platform}` feature"),
        )]
    } else {
        Vec::new()
    }
}

/// The start of a platform whose adapter this build leaves out: nothing to start, and when
/// the config uses the platform, its posts stay queued and the log says why.
#[cfg(not(all(feature = "telegram", feature = "matrix")))]
fn not_built(platform: Platform, configured: bool) -> anyhow::Result<Option<Started>> {
    if configured {
        tracing::error!(
            %platform,
            "this Herald was built without the `{platform}` feature; its posts stay queued"
        );
    }
    Ok(None)
}

/// The platform SDKs' directives for the default log filter (see `app::default_log_filter`).
pub(crate) const LOG_DIRECTIVES: &str = {
    #[cfg(feature = "matrix")]
    {
        matrix::LOG_DIRECTIVES
    }
    #[cfg(not(feature = "matrix"))]
    {
        ""
    }
};

type Starter = fn(
    Arc<CommandService>,
    bool,
    CancellationToken,
) -> BoxFuture<'static, anyhow::Result<Option<Started>>>;

/// Longest pause between two attempts to start a platform.
const MAX_START_RETRY: Duration = Duration::from_secs(300);

async fn start_resilient(
    platform: Platform,
    service: &Arc<CommandService>,
    listen: bool,
    shutdown: &CancellationToken,
    start: Starter,
) -> Option<Started> {
    // A stop asked for while a platform connects (a slow login) ends the wait at once.
    let first = tokio::select! {
        _ = shutdown.cancelled() => return None,
        first = start(service.clone(), listen, shutdown.clone()) => first,
    };
    let error = match first {
        Ok(started) => return started,
        Err(e) => e,
    };
    if !listen {
        tracing::error!(%platform, error = %format!("{error:#}"), "cannot start; its posts stay queued");
        return None;
    }
    tracing::error!(%platform, error = %format!("{error:#}"), "cannot start yet; retrying in the background");
    let starting = Arc::new(Starting {
        platform,
        ready: OnceLock::new(),
        connection: Connection::default(),
    });
    starting.connection.failed(format!("{error:#}"));
    let (service, shutdown, sink) = (service.clone(), shutdown.clone(), starting.clone());
    let task = tokio::spawn(async move {
        let mut wait = Duration::from_secs(5);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                attempt = start(service.clone(), true, shutdown.clone()) => attempt,
            };
            match attempt {
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
                    sink.connection.failed(format!("{e:#}"));
                    wait = (wait * 2).min(MAX_START_RETRY);
                    tracing::warn!(%platform, error = %format!("{e:#}"), retry_in = ?wait, "still cannot start");
                }
            }
        }
    });
    Some(Started {
        sink: starting,
        task: Some(task),
    })
}

/// A platform still starting: posts to it fail as temporary until it is up.
struct Starting {
    platform: Platform,
    ready: OnceLock<Arc<dyn Sink>>,
    /// Why it has not started yet, for `/healthz`.
    connection: Connection,
}

impl Sink for Starting {
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

    fn disconnected(&self) -> Option<Disconnected> {
        match self.ready.get() {
            Some(sink) => sink.disconnected(),
            None => self.connection.disconnected(),
        }
    }

    fn prepare<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
        match self.ready.get() {
            Some(sink) => sink.prepare(chat),
            None => Box::pin(async move { Err(self.not_connected()) }),
        }
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        match self.ready.get() {
            Some(sink) => sink.send(chat, post),
            None => Box::pin(async move { Err(self.not_connected()) }),
        }
    }

    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        match self.ready.get() {
            Some(sink) => sink.edit(chat, message, post),
            None => Box::pin(async move { Err(self.not_connected()) }),
        }
    }

    /// Once started, the platform's own checks; before, a refusal that says why (a chat
    /// accepted unchecked would be a channel whose posts might fail forever).
    fn verify_channel<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, VerifyError>> {
        match self.ready.get() {
            Some(sink) => sink.verify_channel(chat),
            None => Box::pin(async move { Err(VerifyError::NotConnected(self.platform)) }),
        }
    }
}

impl Starting {
    fn not_connected(&self) -> SendError {
        SendError::Temporary(format!("{} is not connected yet", self.platform))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A started platform that refuses every chat as a channel.
    struct Refusing;

    impl Sink for Refusing {
        fn platform(&self) -> Platform {
            Platform::Matrix
        }
        fn chat_interval(&self, _: &str) -> Duration {
            Duration::ZERO
        }
        fn global_rate(&self) -> u32 {
            1
        }
        fn send<'a>(
            &'a self,
            _: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async { Ok("1".into()) })
        }
        fn verify_channel<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<String, VerifyError>> {
            Box::pin(async { Err(VerifyError::NotInRoom) })
        }
    }

    #[tokio::test]
    async fn a_platform_still_starting_accepts_no_channel_and_checks_like_itself_once_up() {
        let starting = Starting {
            platform: Platform::Matrix,
            ready: OnceLock::new(),
            connection: Connection::default(),
        };
        let early = starting
            .verify_channel("!typo:example.org")
            .await
            .unwrap_err();
        assert_eq!(early, VerifyError::NotConnected(Platform::Matrix));
        assert_eq!(
            early.to_string(),
            "matrix is not connected yet; try again in a minute"
        );
        let _ = starting.ready.set(Arc::new(Refusing));
        assert_eq!(
            starting.verify_channel("!typo:example.org").await,
            Err(VerifyError::NotInRoom)
        );
    }
}

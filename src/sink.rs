//! The boundary the core sends through: the `Sink` trait each platform adapter implements,
//! the `Post` it is handed, the `SendError` that tells the delivery loop what a failed
//! send means, and the `VerifyError` that tells an operator why a chat cannot be a channel.
//! Low in the layers, so delivery depends on this contract and not on the adapters (which
//! live in `platform/` and import it).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

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
    /// The chat is gone for the bot for good (blocked, kicked, deleted, deactivated).
    #[error("the chat is unreachable: {0}")]
    Gone(String),
    /// The bot may not post in the chat for now (its rights were taken away, the chat was
    /// restricted, a power level raised): the chat and its posts are kept and retried.
    #[error("the bot may not post in the chat for now: {0}")]
    NoRights(String),
    /// The chat continues under another id (the platform's chat name, no prefix).
    #[error("the chat moved to {0}")]
    Moved(String),
    /// An outage, a timeout, a 5xx: try again later. The message may have arrived.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// This message can never be sent as it is.
    #[error("the message was rejected: {0}")]
    Rejected(String),
    /// Edits only: the message cannot be edited (deleted, too old for the platform, or
    /// already showing this text). The edit is done with: nothing to retry.
    #[error("the message cannot be edited: {0}")]
    NotEditable(String),
}

/// Why the bot cannot post in a chat an operator wants as a channel
/// (`Sink::verify_channel`). The `Display` is the reason the operator reads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// Asking the platform about the chat failed (an unknown chat, an outage, a refused
    /// request): the platform's own answer, without secrets.
    #[error("{0}")]
    Platform(String),
    /// A Telegram channel where the bot is not an administrator allowed to post.
    #[error("the bot is not an administrator allowed to post messages there; make it one")]
    NotAdmin,
    /// A Telegram group the bot is not a member of.
    #[error("the bot is not a member of this chat; add it")]
    NotMember,
    /// The homeserver did not let the bot join the room within the wait.
    #[error("the homeserver did not let the bot join in time")]
    JoinTimedOut,
    /// The homeserver refused the bot's join (its answer).
    #[error("the bot cannot join the room: {0}")]
    JoinRefused(String),
    /// The room is not among the bot's rooms, even after joining.
    #[error("the bot is not in the room")]
    NotInRoom,
    /// The Matrix client has no session.
    #[error("the bot is not logged in")]
    NotLoggedIn,
    /// The bot's power level in the room is below what posting a message needs.
    #[error("the bot's power level in the room is too low to post messages")]
    PowerTooLow,
    /// The platform has not started yet (it could not connect at start and is retrying):
    /// nothing can be checked, so nothing is accepted.
    #[error("{0} is not connected yet; try again in a minute")]
    NotConnected(Platform),
}

/// Sends posts to one platform.
pub trait Sink: Send + Sync {
    fn platform(&self) -> Platform;

    /// The pause between two posts to one chat.
    fn chat_interval(&self, chat: &str) -> Duration;

    /// Posts per second across all chats of this platform.
    fn global_rate(&self) -> u32;

    /// Waits until a post to `chat` may go (a Matrix room being joined); the delivery calls
    /// it before it takes a slot of the platform's pace, so a chat not ready yet never holds
    /// up another chat's post. An error is the send's outcome.
    fn prepare<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
        let _ = chat;
        Box::pin(async { Ok(()) })
    }

    /// Posts `post` in `chat` and returns the platform's id of the message.
    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>>;

    /// Changes the message `message` (the id `send` returned) in `chat` to show `post`'s
    /// article as it is now.
    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        let _ = (chat, message, post);
        Box::pin(async { Err(SendError::NotEditable("this platform does not edit".into())) })
    }

    /// Checks, for an operator adding `chat` as a channel, that the bot can post there
    /// (joining it if the platform needs that). Returns the chat as this platform names it
    /// from now on (a Telegram `@name` becomes its numeric id, a Matrix alias its room id),
    /// or why the bot cannot post there.
    fn verify_channel<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, VerifyError>> {
        Box::pin(async move { Ok(chat.to_string()) })
    }

    /// The chats this platform cannot post to yet, and why (for `/healthz` and `/status`):
    /// Matrix rooms whose join is still being retried or was refused.
    fn waiting_chats(&self) -> Vec<ChatWaiting> {
        Vec::new()
    }

    /// Since when this platform's listener has failed to connect, and its latest error (for
    /// `/healthz`); `None` while it is connected, or when it does not listen.
    fn disconnected(&self) -> Option<Disconnected> {
        None
    }
}

/// A listener failing to connect: since when, and its latest error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnected {
    pub since: tokio::time::Instant,
    pub error: String,
}

/// The state of a platform's connection, noted by its listener, read by `/healthz`.
#[derive(Debug, Default)]
pub struct Connection(std::sync::Mutex<Option<Disconnected>>);

impl Connection {
    /// An attempt to connect failed: failing since the first such attempt in a row.
    pub fn failed(&self, error: impl std::fmt::Display) {
        let error = error.to_string();
        let mut state = self.0.lock().expect("connection");
        match state.as_mut() {
            Some(failing) => failing.error = error,
            None => {
                *state = Some(Disconnected {
                    since: tokio::time::Instant::now(),
                    error,
                })
            }
        }
    }

    /// Connected (an answer came).
    pub fn connected(&self) {
        *self.0.lock().expect("connection") = None;
    }

    pub fn disconnected(&self) -> Option<Disconnected> {
        self.0.lock().expect("connection").clone()
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

/// The one test double of a platform for unit tests: a [`FakeSink`] posts through its
/// `answers` (what each send gets back, as a test needs it: always a failure, a hang, a
/// server with its own rate limit), reports `waiting` chats and its listener's `connection`,
/// and otherwise answers as a platform with the given interval and rate. It dereferences to
/// its answers, so a test reads what they recorded from the sink itself.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// What a fake platform answers to each send.
    pub(crate) trait Answers: Send + Sync {
        fn answer<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, SendError>>;

        /// What `Sink::prepare` waits for (nothing by default).
        fn ready<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
            let _ = chat;
            Box::pin(async { Ok(()) })
        }
    }

    /// Every send fails as temporary (`"test"`).
    pub(crate) struct FailingSends;

    impl Answers for FailingSends {
        fn answer<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async { Err(SendError::Temporary("test".into())) })
        }
    }

    /// Every send works (message id `1`).
    pub(crate) struct Working;

    impl Answers for Working {
        fn answer<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<String, SendError>> {
            Box::pin(async { Ok("1".into()) })
        }
    }

    pub(crate) struct FakeSink<A> {
        pub platform: Platform,
        pub chat_interval: Duration,
        pub global_rate: u32,
        pub answers: A,
        pub waiting: Vec<ChatWaiting>,
        pub connection: Connection,
    }

    impl<A: Answers> FakeSink<A> {
        /// Telegram's defaults: a second per chat, 30 sends a second.
        pub(crate) fn telegram(answers: A) -> FakeSink<A> {
            FakeSink {
                platform: Platform::Telegram,
                chat_interval: Duration::from_secs(1),
                global_rate: 30,
                answers,
                waiting: Vec::new(),
                connection: Connection::default(),
            }
        }

        /// A Matrix platform reporting `waiting` chats, a send a second.
        pub(crate) fn matrix(
            answers: A,
            waiting: Vec<ChatWaiting>,
            interval: Duration,
        ) -> FakeSink<A> {
            FakeSink {
                platform: Platform::Matrix,
                chat_interval: interval,
                global_rate: 1,
                answers,
                waiting,
                connection: Connection::default(),
            }
        }
    }

    impl<A> std::ops::Deref for FakeSink<A> {
        type Target = A;
        fn deref(&self) -> &A {
            &self.answers
        }
    }

    impl<A: Answers> Sink for FakeSink<A> {
        fn platform(&self) -> Platform {
            self.platform
        }
        fn chat_interval(&self, _: &str) -> Duration {
            self.chat_interval
        }
        fn global_rate(&self) -> u32 {
            self.global_rate
        }
        fn prepare<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<(), SendError>> {
            self.answers.ready(chat)
        }
        fn send<'a>(
            &'a self,
            chat: &'a str,
            _: &'a Post<'a>,
        ) -> BoxFuture<'a, Result<String, SendError>> {
            self.answers.answer(chat)
        }
        fn waiting_chats(&self) -> Vec<ChatWaiting> {
            self.waiting.clone()
        }
        fn disconnected(&self) -> Option<Disconnected> {
            self.connection.disconnected()
        }
    }
}

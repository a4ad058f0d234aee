//! The boundary the core sends through: the `Sink` trait each platform adapter implements,
//! the `Post` it is handed and the `SendError` that tells the delivery loop what a failed
//! send means. Low in the layers, so delivery depends on this contract and not on the
//! adapters (which live in `platform/` and import it).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::article::{Article, Lang, Platform};

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
}

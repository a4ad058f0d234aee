//! Sending to Telegram: the `Sink` (a post or an edit in HTML with a large preview of the
//! article's link, the pace of private chats and of groups), each Bot API error classified
//! into the `SendError` the delivery loop acts on, a command's answer (waiting out a short
//! rate limit), and the token cut out of every error text.

use std::time::Duration;

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::requests::Request as _;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ParseMode, Recipient,
    ReplyParameters,
};

use super::Telegram;
use crate::article::Platform;
use crate::commands::Reply;
use crate::platform::{BoxFuture, Disconnected, Post, SendError, Sink, VerifyError};
use crate::render;

/// Tries to send a command's answer through rate limits.
const REPLY_ATTEMPTS: u32 = 4;
/// The longest rate-limit wait a command's answer sits out.
const MAX_REPLY_WAIT: Duration = Duration::from_secs(30);

impl Telegram {
    /// An error's text with the token cut out (request URLs contain it).
    pub(super) fn redact(&self, text: impl std::fmt::Display) -> String {
        crate::redact::without_secret(&text.to_string(), &self.token)
    }

    fn classify(&self, error: RequestError) -> SendError {
        classify_answer(error, |e| self.redact(e))
    }

    pub(super) async fn send_reply(
        &self,
        chat: ChatId,
        reply: &Reply,
        reply_to: Option<teloxide::types::MessageId>,
    ) {
        let mut request = self
            .bot
            .send_message(chat, render::reply_telegram(reply))
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        if !reply.buttons.is_empty() {
            let rows: Vec<Vec<InlineKeyboardButton>> = reply
                .buttons
                .chunks(3)
                .map(|row| {
                    row.iter()
                        .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.command.clone()))
                        .collect()
                })
                .collect();
            request = request.reply_markup(InlineKeyboardMarkup::new(rows));
        }
        if let Some(id) = reply_to {
            request =
                request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
        }
        // A reply that meets the chat's flood limit (a post just went there, say) waits as
        // long as Telegram asks, a few times, instead of being lost.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match request.send_ref().await {
                Ok(_) => return,
                Err(RequestError::RetryAfter(wait))
                    if attempts < REPLY_ATTEMPTS && wait.duration() <= MAX_REPLY_WAIT =>
                {
                    tracing::debug!(wait = ?wait.duration(), "a reply waits for the chat's rate limit");
                    tokio::time::sleep(wait.duration()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %self.redact(e), "could not answer a command");
                    return;
                }
            }
        }
    }
}

impl Sink for Telegram {
    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn disconnected(&self) -> Option<Disconnected> {
        self.connection.disconnected()
    }

    fn chat_interval(&self, chat: &str) -> Duration {
        if chat.parse::<i64>().is_ok_and(|id| id > 0) {
            self.settings.chat_interval
        } else {
            self.settings.group_interval
        }
    }

    fn global_rate(&self) -> u32 {
        self.settings.global_rate
    }

    fn verify_channel<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, VerifyError>> {
        Box::pin(self.verify(chat))
    }

    fn send<'a>(
        &'a self,
        chat: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let text = render::telegram_post(post.article, post.chat_lang);
            match self
                .bot
                .send_message(recipient(chat), text)
                .parse_mode(ParseMode::Html)
                .link_preview_options(article_preview(post))
                .await
            {
                Ok(message) => Ok(message.id.0.to_string()),
                Err(e) => Err(self.classify(e)),
            }
        })
    }

    fn edit<'a>(
        &'a self,
        chat: &'a str,
        message: &'a str,
        post: &'a Post<'a>,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let Ok(id) = message.parse::<i32>() else {
                return Err(SendError::NotEditable(format!(
                    "`{message}` is not a Telegram message id"
                )));
            };
            let text = render::telegram_post(post.article, post.chat_lang);
            let result = self
                .bot
                .edit_message_text(recipient(chat), teloxide::types::MessageId(id), text)
                .parse_mode(ParseMode::Html)
                .link_preview_options(article_preview(post))
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(RequestError::Api(
                    e @ (ApiError::MessageNotModified
                    | ApiError::MessageCantBeEdited
                    | ApiError::MessageToEditNotFound),
                )) => Err(SendError::NotEditable(e.to_string())),
                Err(e) => match self.classify(e) {
                    // Telegram's wording for a message that cannot be changed any more.
                    SendError::Rejected(text)
                        if [
                            "message can't be edited",
                            "message to edit not found",
                            "message is not modified",
                        ]
                        .iter()
                        .any(|t| text.contains(t)) =>
                    {
                        Err(SendError::NotEditable(text))
                    }
                    other => Err(other),
                },
            }
        })
    }
}

/// The article's link shown as a large preview under the post, when it has one.
fn article_preview(post: &Post<'_>) -> LinkPreviewOptions {
    match &post.article.link {
        Some(url) => LinkPreviewOptions {
            is_disabled: false,
            url: Some(url.clone()),
            prefer_small_media: false,
            prefer_large_media: true,
            show_above_text: false,
        },
        None => no_preview(),
    }
}

pub(super) fn recipient(chat: &str) -> Recipient {
    match chat.parse::<i64>() {
        Ok(id) => Recipient::Id(ChatId(id)),
        Err(_) => Recipient::ChannelUsername(chat.to_string()),
    }
}

fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// Texts that say the bot may not write in the chat *for now*: its rights were taken away
/// or the chat restricted (an admin turning off sending for an hour is a common anti-raid
/// step). The chat, its settings and its posts are kept, and retried with backoff.
const NO_RIGHTS: &[&str] = &[
    "need administrator rights in the channel chat",
    "not enough rights to send",
    "have no rights to send",
    "CHAT_WRITE_FORBIDDEN",
    "CHAT_RESTRICTED",
];

/// Texts that say the chat is gone for the bot for good, whatever the message: a configured
/// channel is kept and retried slowly, a subscriber forgotten. "group is deactivated" is one
/// of them: the chat is gone, not the message.
const GONE: &[&str] = &[
    "bot is not a member",
    "bot was kicked",
    "bot was blocked by the user",
    "bot can't initiate conversation",
    "user is deactivated",
    "chat not found",
    "group is deactivated",
];

/// What a failed request to the Bot API means for delivery (`redact` cuts the token from
/// texts that may carry it).
fn classify_answer(error: RequestError, redact: impl Fn(RequestError) -> String) -> SendError {
    match error {
        RequestError::RetryAfter(wait) => SendError::RetryAfter(wait.duration()),
        RequestError::MigrateToChatId(id) => SendError::Moved(id.0.to_string()),
        RequestError::Api(api) => {
            // Telegram's own description: teloxide shows the ones it has no variant for
            // as `Unknown error: "…"`, so the text is taken from inside those.
            let text = match api {
                ApiError::Unknown(text) => text,
                known => known.to_string(),
            };
            if NO_RIGHTS.iter().any(|t| text.contains(t)) {
                SendError::NoRights(text)
            } else if text.starts_with("Forbidden:") || GONE.iter().any(|t| text.contains(t)) {
                SendError::Gone(text)
            } else if text.starts_with("Bad Request:") {
                // A request Telegram will never accept as it is (can't parse entities,
                // message is too long).
                SendError::Rejected(text)
            } else {
                // Anything else (5xx, a bad token, the unknown) may pass: keep the post.
                SendError::Temporary(text)
            }
        }
        other => SendError::Temporary(redact(other)),
    }
}

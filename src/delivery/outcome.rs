//! What came of one send, and what the drain does about it: for each outcome, in one arm,
//! the metric that counts it, what the store records, what is logged, and how long the chat
//! (or the platform) waits.

use std::time::Duration;

use tokio::time::Instant;

use super::pace::Pace;
use super::{Delivery, Made, Step};
use crate::article::Target;
use crate::sink::{SendError, Sink};
use crate::store::{QueueHead, StoreError};

/// What came of one send to a chat.
pub(super) enum Outcome {
    /// An edit went through.
    Edited,
    /// A post went through: the platform's id of its message.
    Sent(String),
    /// An edit found the post's message not editable (deleted, too old to edit, or showing
    /// this text already): nothing to retry.
    NotEdited(String),
    /// The platform asks to wait this long.
    RateLimited(Duration),
    /// The chat continues under this id.
    Moved(String),
    /// An operator's channel cannot be posted to: it is kept and retried slowly.
    ChannelGone(String),
    /// A subscriber's chat cannot be posted to any more.
    ChatGone(String),
    /// The bot may not post in the chat for now: kept, with its posts, and retried.
    NoRights(String),
    /// An outage, a timeout: retried with backoff.
    Failed(String),
    /// The platform will never take the post as it is.
    Rejected(String),
    /// A post (not an edit) answered as not editable: set aside like a rejected one, counted
    /// as what it was.
    PostNotEditable(String),
}

impl Outcome {
    /// The outcome of a send (`edit`: of an edit) to a chat (`public`: an operator's channel).
    pub fn of(result: Result<String, SendError>, edit: bool, public: bool) -> Outcome {
        match result {
            Ok(_) if edit => Outcome::Edited,
            Ok(message) => Outcome::Sent(message),
            Err(SendError::NotEditable(reason)) if edit => Outcome::NotEdited(reason),
            Err(SendError::NotEditable(reason)) => Outcome::PostNotEditable(reason),
            Err(SendError::RetryAfter(wait)) => Outcome::RateLimited(wait),
            Err(SendError::Moved(chat)) => Outcome::Moved(chat),
            Err(SendError::Gone(reason)) if public => Outcome::ChannelGone(reason),
            Err(SendError::Gone(reason)) => Outcome::ChatGone(reason),
            Err(SendError::NoRights(reason)) => Outcome::NoRights(reason),
            Err(SendError::Temporary(reason)) => Outcome::Failed(reason),
            Err(SendError::Rejected(reason)) => Outcome::Rejected(reason),
        }
    }
}

/// A send that was made, as its outcome is recorded.
pub(super) struct Attempt<'a> {
    pub target: &'a Target,
    pub pending: &'a QueueHead,
    pub sink: &'a dyn Sink,
    pub pace: &'a Pace,
    /// The revision of the article the send carried.
    pub revision: &'a str,
    /// An operator's channel is named in logs and kept when unreachable, and its failures
    /// show on the operators' status; a private subscriber is none of these.
    pub public: bool,
    /// How logs name the chat.
    pub chat: String,
}

impl Attempt<'_> {
    fn article(&self) -> &str {
        &self.pending.delivery.article
    }

    /// The pause the chat takes after each message to it.
    fn chat_interval(&self) -> Duration {
        self.sink.chat_interval(&self.target.chat)
    }
}

impl Delivery {
    /// Acts on what came of a send and returns the drain's next step for the chat.
    pub(super) async fn record(
        &self,
        send: &Attempt<'_>,
        outcome: Outcome,
    ) -> Result<Step, StoreError> {
        let (target, pending, chat, article) =
            (send.target, send.pending, &send.chat, send.article());
        let platform = target.platform.name();
        match outcome {
            Outcome::Edited => {
                self.count(target, "edited", None);
                let revision = send.revision.to_owned();
                self.record_made(pending, &Made::Edit { revision }).await?;
                tracing::debug!(chat = %chat, article = %article, "edited");
                self.hold(target, send.chat_interval());
                Ok(Step::Sent)
            }
            Outcome::Sent(message) => {
                self.count(target, "sent", None);
                let revision = send.revision.to_owned();
                self.record_made(pending, &Made::Post { message, revision })
                    .await?;
                tracing::debug!(chat = %chat, article = %article, "sent");
                self.hold(target, send.chat_interval());
                Ok(Step::Sent)
            }
            Outcome::NotEdited(reason) => {
                self.count(target, "not_editable", None);
                tracing::info!(chat = %chat, article = %article, %reason, "the post's message was not edited; it stays as it is");
                let revision = send.revision.to_owned();
                self.record_made(pending, &Made::Edit { revision }).await?;
                self.hold(target, send.chat_interval());
                Ok(Step::Sent)
            }
            Outcome::RateLimited(wait) => {
                self.count(target, "rate_limited", None);
                tracing::warn!(chat = %chat, wait = ?wait, "rate limited; waiting as told");
                self.metrics.count_retry(platform);
                self.hold(target, wait);
                send.pace.rate_limited(wait);
                Ok(Step::Wait(Instant::now() + wait))
            }
            Outcome::Moved(to) => {
                self.count(target, "moved", None);
                let to = Target::new(target.platform, to);
                tracing::info!(from = %chat, "chat moved; following it");
                self.store.move_chat(target, &to).await?;
                Ok(Step::Moved(to))
            }
            Outcome::ChannelGone(reason) => {
                self.count(target, "chat_gone", None);
                self.store.note_send_failure(target, &reason)?;
                let wait = self.back_off(target);
                self.metrics.count_retry(platform);
                tracing::error!(chat = %chat, %reason, retry_in = ?wait, "cannot post to a configured channel; check the bot's rights there");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Outcome::NoRights(reason) => {
                self.count(target, "no_rights", None);
                if send.public {
                    self.store.note_send_failure(target, &reason)?;
                }
                let wait = self.back_off(target);
                self.metrics.count_retry(platform);
                if send.public {
                    tracing::error!(chat = %chat, %reason, retry_in = ?wait, "cannot post to a configured channel; check the bot's rights there");
                } else {
                    tracing::warn!(chat = %chat, %reason, retry_in = ?wait, "the bot may not post in this chat for now; its posts wait and are retried");
                }
                Ok(Step::Wait(Instant::now() + wait))
            }
            Outcome::ChatGone(reason) => {
                self.count(target, "chat_gone", None);
                self.metrics
                    .count_forgotten(platform, forgotten_because(&reason));
                tracing::info!(chat = %chat, %reason, "chat is gone; unsubscribed it and erased its data");
                self.store.forget_chat(target)?;
                self.store.flush().await?;
                Ok(Step::Empty)
            }
            Outcome::Failed(reason) => {
                self.count(target, "temporary_failure", Some(&reason));
                if send.public {
                    self.store.note_send_failure(target, &reason)?;
                }
                let wait = self.back_off(target);
                self.metrics.count_retry(platform);
                tracing::warn!(chat = %chat, %reason, retry_in = ?wait, "send failed; will retry");
                Ok(Step::Wait(Instant::now() + wait))
            }
            Outcome::Rejected(reason) => {
                self.count(target, "rejected", None);
                if send.public {
                    self.store.note_send_failure(target, &reason)?;
                }
                tracing::error!(chat = %chat, article = %article, %reason, "the platform rejected a post; set aside");
                self.store.set_aside(pending, &reason).await?;
                Ok(Step::Skipped)
            }
            Outcome::PostNotEditable(reason) => {
                self.count(target, "not_editable", None);
                tracing::error!(chat = %chat, article = %article, %reason, "the platform rejected a post; set aside");
                self.store.set_aside(pending, &reason).await?;
                Ok(Step::Skipped)
            }
        }
    }

    /// Counts an answer of the chat's platform by its `outcome`. For /healthz, a platform is
    /// down while every answer is a temporary failure (`temporary`, with its reason).
    fn count(&self, target: &Target, outcome: &'static str, temporary: Option<&str>) {
        let platform = target.platform.name();
        self.metrics.count_send(platform, outcome);
        self.metrics
            .liveness()
            .platform_answered(platform, temporary);
    }
}

/// Why a chat was forgotten, as a short label for `/metrics`: the platform's answer sorted
/// into the definitive kinds (the full answer is in the log).
fn forgotten_because(reason: &str) -> &'static str {
    let reason = reason.to_ascii_lowercase();
    let kinds: [(&[&str], &'static str); 5] = [
        (&["blocked by the user", "can't initiate"], "blocked"),
        (&["kicked", "banned"], "kicked"),
        (&["not found", "unknown room"], "not_found"),
        (&["deactivated"], "deactivated"),
        (
            &["not a member", "not in this room", "moved to", "left"],
            "left",
        ),
    ];
    kinds
        .iter()
        .find(|(texts, _)| texts.iter().any(|t| reason.contains(t)))
        .map_or("other", |(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_chat_is_counted_by_the_kind_of_its_platforms_answer() {
        for (answer, kind) in [
            ("Forbidden: bot was blocked by the user", "blocked"),
            (
                "Forbidden: bot can't initiate conversation with a user",
                "blocked",
            ),
            (
                "Forbidden: bot was kicked from the supergroup chat",
                "kicked",
            ),
            ("Bad Request: chat not found", "not_found"),
            ("Forbidden: user is deactivated", "deactivated"),
            ("Bad Request: group is deactivated", "deactivated"),
            ("Forbidden: bot is not a member of the channel chat", "left"),
            ("the bot is not in this room", "left"),
            ("Forbidden: something new", "other"),
        ] {
            assert_eq!(forgotten_because(answer), kind, "{answer}");
        }
    }

    #[test]
    fn a_rights_error_keeps_the_chat_and_only_a_gone_subscriber_is_forgotten() {
        let no_rights = || Err(SendError::NoRights("not enough rights to send".into()));
        let gone = || Err(SendError::Gone("bot was kicked".into()));
        assert!(matches!(
            Outcome::of(no_rights(), false, false),
            Outcome::NoRights(_)
        ));
        assert!(matches!(
            Outcome::of(no_rights(), false, true),
            Outcome::NoRights(_)
        ));
        assert!(matches!(
            Outcome::of(gone(), false, false),
            Outcome::ChatGone(_)
        ));
        assert!(matches!(
            Outcome::of(gone(), false, true),
            Outcome::ChannelGone(_)
        ));
    }
}

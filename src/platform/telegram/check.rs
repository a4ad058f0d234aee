//! Whether the bot can post in a Telegram chat (`getChat`, then `getChatMember`: in a
//! channel an administrator allowed to post, in a group a member), asked for the configured
//! channels at start, for an operator's new channel (`Sink::verify_channel`) and by
//! `herald check --online`; and the numeric ids of channels configured by `@name`.

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::Requester;
use teloxide::types::{ChatId, UserId};

use super::Telegram;
use super::send::recipient;
use crate::article::{Platform, Target};
use crate::check::{Check, with_causes};
use crate::config::Config;
use crate::platform::VerifyError;
use crate::service::CommandService;

/// `herald check --online` for Telegram: `getMe` (the bot's @username), then whether the
/// bot can post in each configured Telegram channel. No result contains the token.
pub async fn check_online(config: &Config) -> Vec<Check> {
    let Some(settings) = config.telegram.as_ref() else {
        return Vec::new();
    };
    let Some(token) = config.telegram_token() else {
        return vec![Check::failed(
            "telegram",
            "no bot token: set HERALD_TELEGRAM_TOKEN (or `[telegram] token`)",
        )];
    };
    let telegram = match Telegram::new(token.expose(), settings) {
        Ok(t) => t,
        Err(e) => return vec![Check::failed("telegram", format!("{e:#}"))],
    };
    let me = match telegram.bot.get_me().await {
        Ok(me) => Ok(me),
        Err(RequestError::Api(ApiError::InvalidToken)) => {
            Err("401 Unauthorized: the token was refused".to_string())
        }
        Err(e) => Err(telegram.redact(with_causes(&e))),
    };
    let mut checks = vec![match &me {
        Ok(me) => Check::ok(
            "telegram",
            format!("@{}", me.username.as_deref().unwrap_or_default()),
        ),
        Err(reason) => Check::failed("telegram", reason.clone()),
    }];
    for channel in &config.channels {
        let target = channel.target();
        if target.platform != Platform::Telegram {
            continue;
        }
        let subject = format!("telegram channel {}", target.chat);
        checks.push(match &me {
            Ok(me) => match telegram.can_post(&target.chat, me.id).await {
                Ok(_) => Check::ok(subject, "the bot can post here"),
                Err(reason) => Check::failed(subject, reason.to_string()),
            },
            Err(_) => Check::failed(subject, "not checked: Telegram did not answer getMe"),
        });
    }
    checks
}

impl Telegram {
    /// Says, for each configured Telegram channel, whether the bot can post there: in a
    /// channel it must be an administrator allowed to post, in a group a member.
    pub(super) async fn check_channels(&self, service: &CommandService, me: UserId) {
        for channel in &service.config().channels {
            let configured = channel.target();
            if configured.platform != Platform::Telegram {
                continue;
            }
            let target = service
                .store()
                .resolve(configured)
                .unwrap_or_else(|_| configured.clone());
            let verdict = self.can_post(&target.chat, me).await.map(|_| ());
            match verdict {
                Ok(()) => tracing::info!(channel = %configured, "the bot can post here"),
                Err(reason) => tracing::warn!(
                    channel = %configured,
                    "the bot cannot post here yet (its posts wait in the outbox): {reason}"
                ),
            }
        }
    }

    /// Looks up the numeric id of each channel configured by its public `@name` and records
    /// the name as having moved there, as a Matrix alias is: the channel's settings, queue
    /// and commands then live at the id Telegram uses in every update (a `/lang` in the
    /// channel applies to its posts). Looked up on every start, as a name can change hands.
    /// A name Telegram does not know now keeps its posts waiting under the name.
    pub(super) async fn resolve_names(&self, service: &CommandService) {
        for channel in &service.config().channels {
            let named = channel.target();
            if named.platform != Platform::Telegram || !named.chat.starts_with('@') {
                continue;
            }
            let id = match self.bot.get_chat(recipient(&named.chat)).await {
                Ok(chat) => Target::new(Platform::Telegram, chat.id.0.to_string()),
                Err(e) => {
                    tracing::warn!(channel = %named, error = %self.redact(e), "cannot look up the channel's id yet; its posts wait");
                    continue;
                }
            };
            match service.store().resolve(named) {
                Ok(current) if current == id => {}
                Ok(_) => match service.store().move_chat(named, &id).await {
                    Ok(()) => {
                        tracing::info!(channel = %named, "the channel's name leads to its numeric id")
                    }
                    Err(e) => {
                        tracing::error!(channel = %named, error = %e, "cannot record the channel's id")
                    }
                },
                Err(e) => tracing::error!(error = %e, "cannot read the store"),
            }
        }
    }

    /// Whether the bot can post in `chat`, for an operator's new channel: the chat's
    /// numeric id, or why not.
    pub(super) async fn verify(&self, chat: &str) -> Result<String, VerifyError> {
        let me = self.bot.get_me().await.map_err(|e| self.refused(e))?;
        self.can_post(chat, me.id).await.map(|id| id.0.to_string())
    }

    /// Whether the bot (`me`) can post in `chat`: in a channel it must be an administrator
    /// allowed to post, in a group a member. Returns the chat's numeric id.
    async fn can_post(&self, chat: &str, me: UserId) -> Result<ChatId, VerifyError> {
        let chat = self
            .bot
            .get_chat(recipient(chat))
            .await
            .map_err(|e| self.refused(e))?;
        match self.bot.get_chat_member(chat.id, me).await {
            Err(e) => Err(self.refused(e)),
            Ok(member) if chat.is_channel() => {
                if member.kind.can_post_messages() {
                    Ok(chat.id)
                } else {
                    Err(VerifyError::NotAdmin)
                }
            }
            Ok(member) if member.kind.is_present() => Ok(chat.id),
            Ok(_) => Err(VerifyError::NotMember),
        }
    }

    /// A failed question about a chat, in Telegram's words without the token.
    fn refused(&self, error: RequestError) -> VerifyError {
        VerifyError::Platform(self.redact(error))
    }
}

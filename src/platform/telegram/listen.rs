//! Listening on Telegram: `getUpdates` long polling (each chat's updates in order, chats
//! side by side), the command menu, commands in messages and channel posts, and the
//! buttons under `/lang`; who may change a chat's settings.

use std::sync::Arc;
use std::time::Duration;

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::{GetUpdatesSetters, SetMyCommandsSetters};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQuery, ChatId, Message, UpdateKind, UserId,
};
use tokio_util::sync::CancellationToken;

use super::{POLL_TIMEOUT, Telegram};
use crate::article::{Lang, Platform, Target};
use crate::commands::{self, ChatKind, Command, Request};
use crate::config::Operator;
use crate::i18n::{self, Msg};
use crate::platform::BoxFuture;
use crate::platform::dispatch::Dispatcher;
use crate::render;
use crate::service::CommandService;

/// Updates handled at once across all chats.
const MAX_CONCURRENT_UPDATES: usize = 16;
/// How long a stopping listener waits for the commands it is still answering.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Telegram {
    /// Listens for commands until `shutdown`. Never gives up on a network outage.
    pub(super) async fn listen(
        self: Arc<Self>,
        service: Arc<CommandService>,
        shutdown: CancellationToken,
    ) {
        let me = loop {
            match self.bot.get_me().await {
                Ok(me) => break me,
                Err(RequestError::Api(ApiError::InvalidToken)) => {
                    self.connection.failed("Telegram refused the bot token");
                    tracing::error!(
                        "Telegram refused the bot token; not answering commands (posts will be retried)"
                    );
                    return;
                }
                Err(e) => {
                    let error = self.redact(e);
                    self.connection.failed(format!("getMe failed: {error}"));
                    tracing::warn!(%error, "cannot reach Telegram yet; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            }
        };
        self.connection.connected();
        let username = me.username.clone().unwrap_or_default();
        tracing::info!("connected to Telegram as @{username}");
        if let Err(e) = self.bot.delete_webhook().await {
            tracing::warn!(error = %self.redact(e), "could not remove a webhook");
        }
        self.register_commands().await;
        self.check_channels(&service, me.id).await;

        let handler = {
            let (telegram, username) = (self.clone(), username.clone());
            move |update: UpdateKind| -> BoxFuture<'static, ()> {
                let (telegram, service, username) =
                    (telegram.clone(), service.clone(), username.clone());
                Box::pin(async move {
                    match update {
                        UpdateKind::Message(msg) | UpdateKind::ChannelPost(msg) => {
                            telegram.on_message(&service, &username, &msg).await
                        }
                        UpdateKind::CallbackQuery(query) => {
                            telegram.on_callback(&service, &query).await
                        }
                        _ => {}
                    }
                })
            }
        };
        let dispatcher = Dispatcher::new(MAX_CONCURRENT_UPDATES, handler);
        let mut offset: i32 = 0;
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT)
                .allowed_updates(vec![
                    AllowedUpdate::Message,
                    AllowedUpdate::ChannelPost,
                    AllowedUpdate::CallbackQuery,
                ]);
            let updates = tokio::select! {
                _ = shutdown.cancelled() => break,
                result = request.into_future() => result,
            };
            let updates = match updates {
                Ok(updates) => {
                    self.connection.connected();
                    updates
                }
                Err(e) => {
                    let error = self.redact(e);
                    self.connection
                        .failed(format!("getUpdates failed: {error}"));
                    tracing::warn!(%error, "getUpdates failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                    continue;
                }
            };
            for update in updates {
                offset = offset.max(update.id.0 as i32 + 1);
                // Each chat's updates in order; different chats side by side.
                let chat = match &update.kind {
                    UpdateKind::Message(msg) | UpdateKind::ChannelPost(msg) => msg.chat.id.0,
                    UpdateKind::CallbackQuery(query) => query
                        .message
                        .as_ref()
                        .map_or(query.from.id.0 as i64, |m| m.chat().id.0),
                    _ => continue,
                };
                dispatcher.dispatch(chat, update.kind);
            }
        }
        dispatcher.finish(SHUTDOWN_GRACE).await;
        // Confirm what was handled, so a restart does not see it again.
        if offset > 0 {
            let _ = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(0)
                .limit(1)
                .await;
        }
        tracing::info!("Telegram listener stopped");
    }

    /// The command menu, in every language the bot speaks (and English by default).
    async fn register_commands(&self) {
        let mut languages: Vec<Option<&str>> = vec![None];
        languages.extend(i18n::UI_LANGS.iter().map(|l| Some(*l)));
        for code in languages {
            let lang = Lang::parse(code.unwrap_or("en")).expect("built-in codes are valid");
            let commands = menu(&lang);
            let mut request = self.bot.set_my_commands(commands);
            if let Some(code) = code {
                request = request.language_code(code);
            }
            if let Err(e) = request.await {
                tracing::warn!(error = %self.redact(e), "could not register the command menu");
            }
        }
    }

    async fn on_message(&self, service: &CommandService, username: &str, msg: &Message) {
        let Some(text) = msg.text() else { return };
        let age = chrono::Utc::now() - msg.date;
        if age
            .to_std()
            .is_ok_and(|age| age > self.settings.max_command_age)
        {
            tracing::debug!("skipping a command sent while the bot was down");
            return;
        }
        let private = msg.chat.is_private();
        let command = match commands::parse(text, Some(username)) {
            Some(Command::Unknown(_)) if !private && !addressed(text, username) => return,
            Some(command) => command,
            None if private => Command::Help,
            None => return,
        };
        let kind = if private {
            ChatKind::Private
        } else if msg.chat.is_channel() {
            ChatKind::Channel
        } else {
            ChatKind::Group
        };
        let user_lang = msg.from.as_ref().and_then(|u| u.language_code.clone());
        let needs_rights = matches!(command, Command::Lang(ref a) if !a.is_empty())
            || matches!(command, Command::Subscribe | Command::Unsubscribe);
        let may_configure = match kind {
            ChatKind::Private | ChatKind::Channel => true,
            ChatKind::Group if !needs_rights => false,
            ChatKind::Group => self.is_chat_admin(service, msg).await,
        };
        let reply_to = (kind == ChatKind::Group).then_some(msg.id);
        let operator = msg
            .from
            .as_ref()
            .is_some_and(|u| is_operator(service, u.id));
        let request = request(msg.chat.id, kind, may_configure, operator, user_lang);
        self.answer(service, &request, &command, reply_to).await;
    }

    /// Runs a command and sends its answer to the chat it came from.
    async fn answer(
        &self,
        service: &CommandService,
        request: &Request,
        command: &Command,
        reply_to: Option<teloxide::types::MessageId>,
    ) {
        let Some(reply) = service.answer(request, command).await else {
            return;
        };
        let chat = ChatId(
            request
                .chat
                .chat
                .parse()
                .expect("built from a numeric chat id"),
        );
        // A long answer (`/status`, `/channels` with many channels) goes in several
        // messages within Telegram's limit, in order.
        for (n, part) in render::split_reply_telegram(&reply).iter().enumerate() {
            self.send_reply(chat, part, reply_to.filter(|_| n == 0))
                .await;
        }
    }

    /// Whether the sender may change a group's settings: a chat administrator (asked of
    /// Telegram), an anonymous administrator (writing as the group), or an operator.
    async fn is_chat_admin(&self, service: &CommandService, msg: &Message) -> bool {
        if msg
            .sender_chat
            .as_ref()
            .is_some_and(|c| c.id == msg.chat.id)
        {
            return true;
        }
        let Some(user) = &msg.from else { return false };
        self.is_admin(service, msg.chat.id, user.id).await
    }

    /// Whether `user` is an operator or an administrator of `chat`.
    async fn is_admin(&self, service: &CommandService, chat: ChatId, user: UserId) -> bool {
        if is_operator(service, user) {
            return true;
        }
        match self.bot.get_chat_member(chat, user).await {
            Ok(member) => member.is_privileged(),
            Err(e) => {
                tracing::warn!(error = %self.redact(e), "could not ask Telegram who administers a group");
                false
            }
        }
    }

    /// A button press under `/lang`: works like typing the button's command.
    async fn on_callback(&self, service: &CommandService, query: &CallbackQuery) {
        // Telegram takes an answer only for a while after the press; a late press still
        // does what the button says (its reply in the chat explains), and is not retried.
        if let Err(e) = self.bot.answer_callback_query(query.id.clone()).await {
            tracing::debug!(error = %e, "the button press could not be acknowledged");
        }
        let (Some(data), Some(message)) = (query.data.as_deref(), query.message.as_ref()) else {
            return;
        };
        let Some(command) = commands::parse(data, None) else {
            return;
        };
        let chat = message.chat();
        let kind = if chat.is_private() {
            ChatKind::Private
        } else {
            ChatKind::Group
        };
        let may_configure = match kind {
            ChatKind::Private => true,
            _ => self.is_admin(service, chat.id, query.from.id).await,
        };
        let user_lang = query.from.language_code.clone();
        let operator = is_operator(service, query.from.id);
        let request = request(chat.id, kind, may_configure, operator, user_lang);
        self.answer(service, &request, &command, None).await;
    }
}

/// Whether `user` is one of `[bot] admins`.
fn is_operator(service: &CommandService, user: UserId) -> bool {
    i64::try_from(user.0).is_ok_and(|id| service.is_operator(&Operator::Telegram(id)))
}

/// A neutral command request from a Telegram chat.
fn request(
    chat: ChatId,
    kind: ChatKind,
    may_configure: bool,
    operator: bool,
    user_lang: Option<String>,
) -> Request {
    Request {
        chat: Target::new(Platform::Telegram, chat.0.to_string()),
        kind,
        may_configure,
        operator,
        user_lang,
        prefix: '/',
    }
}

/// Whether a command names this bot (`/cmd@ThisBot`).
pub(super) fn addressed(text: &str, username: &str) -> bool {
    let head = text.split_whitespace().next().unwrap_or("");
    head.split_once('@')
        .is_some_and(|(_, to)| to.eq_ignore_ascii_case(username))
}

/// The command menu in `lang`, read from the help text's lines (`{p}cmd args — what`), so
/// the menu and `/help` never disagree.
pub(super) fn menu(lang: &Lang) -> Vec<BotCommand> {
    i18n::text(lang, Msg::Help)
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("{p}")?;
            let (usage, description) = rest.split_once(" — ")?;
            let command = usage.split_whitespace().next()?.to_string();
            Some(BotCommand {
                command,
                description: description.trim().to_string(),
            })
        })
        .collect()
}

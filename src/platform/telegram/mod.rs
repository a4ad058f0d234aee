//! Telegram, on teloxide: posts to channels, groups and private subscribers, and answers
//! commands received by long polling. Everything Telegram-specific lives here; the core
//! sees a `Sink` and neutral commands.
//!
//! - Sending: HTML parse mode (feed text escaped by `render`), a large link preview of the
//!   article, and each Bot API error mapped to what the delivery loop must do.
//! - Listening: `getUpdates` long polling; commands older than `max_command_age` (sent
//!   while the bot was down) are skipped; in groups only chat administrators (an anonymous
//!   admin writes as the group itself) and operators may change settings; plain text gets
//!   the help in private chats and silence in groups.
//! - The token is a secret: it is removed from every error text before it is logged.

use std::sync::Arc;
use std::time::Duration;

use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::{
    EditMessageTextSetters, GetUpdatesSetters, SendMessageSetters, SetMyCommandsSetters,
};
use teloxide::prelude::{Bot, Requester};
use teloxide::requests::Request as _;
use teloxide::types::{
    AllowedUpdate, BotCommand, CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    LinkPreviewOptions, Message, ParseMode, Recipient, ReplyParameters, UpdateKind, UserId,
};
use tokio_util::sync::CancellationToken;

use super::dispatch::Dispatcher;
use super::{BoxFuture, Connection, Disconnected, Post, SendError, Sink, Started};
use crate::article::{Lang, Platform, Target};
use crate::check::{Check, with_causes};
use crate::commands::{self, ChatKind, Command, Reply, Request};
use crate::config::{Config, Operator, TelegramConfig};
use crate::i18n::{self, Msg};
use crate::render;
use crate::service::CommandService;

/// Seconds a `getUpdates` call waits for news.
const POLL_TIMEOUT: u32 = 10;
/// Tries to send a command's answer through rate limits.
const REPLY_ATTEMPTS: u32 = 4;
/// The longest rate-limit wait a command's answer sits out.
const MAX_REPLY_WAIT: Duration = Duration::from_secs(30);
/// Updates handled at once across all chats.
const MAX_CONCURRENT_UPDATES: usize = 16;
/// How long the start waits for Telegram to name the ids of channels configured by @name.
const NAME_LOOKUP_PATIENCE: Duration = Duration::from_secs(5);
/// How long a stopping listener waits for the commands it is still answering.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The Telegram side of Herald: a bot client and its settings.
pub struct Telegram {
    bot: Bot,
    token: String,
    settings: Settings,
    /// Whether getMe and getUpdates reach Telegram, for `/healthz`.
    connection: Connection,
}

struct Settings {
    chat_interval: Duration,
    group_interval: Duration,
    global_rate: u32,
    max_command_age: Duration,
}

pub async fn start(
    service: &Arc<CommandService>,
    listen: bool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Started>> {
    let config = service.config();
    let (Some(token), Some(config)) = (config.telegram_token(), config.telegram.as_ref()) else {
        return Ok(None);
    };
    let telegram = Arc::new(Telegram::new(token.expose(), config)?);
    // Before any delivery starts, so no post is on its way to the old name meanwhile.
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::timeout(NAME_LOOKUP_PATIENCE, telegram.resolve_names(service)) => {}
    }
    let task =
        listen.then(|| tokio::spawn(telegram.clone().listen(service.clone(), shutdown.clone())));
    Ok(Some(Started {
        sink: telegram,
        task,
    }))
}

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
                Err(reason) => Check::failed(subject, reason),
            },
            Err(_) => Check::failed(subject, "not checked: Telegram did not answer getMe"),
        });
    }
    checks
}

impl Telegram {
    fn new(token: &str, config: &TelegramConfig) -> anyhow::Result<Telegram> {
        // Long polls wait POLL_TIMEOUT seconds; the client waits a little longer.
        let client = teloxide::net::default_reqwest_settings()
            .timeout(Duration::from_secs(u64::from(POLL_TIMEOUT) + 15))
            .build()?;
        let bot = Bot::with_client(token, client).set_api_url(config.api_url.clone());
        Ok(Telegram {
            bot,
            token: token.to_string(),
            settings: Settings {
                chat_interval: config.chat_interval,
                group_interval: config.group_interval,
                global_rate: config.global_rate,
                max_command_age: config.max_command_age,
            },
            connection: Connection::default(),
        })
    }

    /// An error's text with the token cut out (request URLs contain it).
    fn redact(&self, text: impl std::fmt::Display) -> String {
        let text = text.to_string();
        if self.token.is_empty() {
            text
        } else {
            text.replace(&self.token, "<token>")
        }
    }

    fn classify(&self, error: RequestError) -> SendError {
        /// Texts that say the bot cannot write in the chat at all, whatever the message:
        /// the chat is kept (a configured channel) or dropped (a subscriber), never the post.
        /// "group is deactivated" is one of them: the chat is gone, not the message.
        const CHAT_LEVEL: &[&str] = &[
            "need administrator rights in the channel chat",
            "not enough rights to send",
            "have no rights to send",
            "CHAT_WRITE_FORBIDDEN",
            "CHAT_RESTRICTED",
            "bot is not a member",
            "bot was kicked",
            "bot was blocked by the user",
            "bot can't initiate conversation",
            "user is deactivated",
            "chat not found",
            "group is deactivated",
        ];
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
                if text.starts_with("Forbidden:") || CHAT_LEVEL.iter().any(|t| text.contains(t)) {
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
            other => SendError::Temporary(self.redact(other)),
        }
    }

    /// Listens for commands until `shutdown`. Never gives up on a network outage.
    async fn listen(self: Arc<Self>, service: Arc<CommandService>, shutdown: CancellationToken) {
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

    /// Says, for each configured Telegram channel, whether the bot can post there: in a
    /// channel it must be an administrator allowed to post, in a group a member.
    async fn check_channels(&self, service: &CommandService, me: UserId) {
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
    async fn resolve_names(&self, service: &CommandService) {
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

    /// Whether the bot (`me`) can post in `chat`: in a channel it must be an administrator
    /// allowed to post, in a group a member. Returns the chat's numeric id.
    async fn can_post(&self, chat: &str, me: UserId) -> Result<ChatId, String> {
        let chat = self
            .bot
            .get_chat(recipient(chat))
            .await
            .map_err(|e| self.redact(e))?;
        match self.bot.get_chat_member(chat.id, me).await {
            Err(e) => Err(self.redact(e)),
            Ok(member) if chat.is_channel() => {
                if member.kind.can_post_messages() {
                    Ok(chat.id)
                } else {
                    Err(
                        "the bot is not an administrator allowed to post messages there; \
                     make it one"
                            .to_string(),
                    )
                }
            }
            Ok(member) if member.kind.is_present() => Ok(chat.id),
            Ok(_) => Err("the bot is not a member of this chat; add it".to_string()),
        }
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

    async fn send_reply(
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

    fn verify_channel<'a>(&'a self, chat: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let me = self.bot.get_me().await.map_err(|e| self.redact(e))?;
            self.can_post(chat, me.id).await.map(|id| id.0.to_string())
        })
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

fn recipient(chat: &str) -> Recipient {
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

/// Whether a command names this bot (`/cmd@ThisBot`).
fn addressed(text: &str, username: &str) -> bool {
    let head = text.split_whitespace().next().unwrap_or("");
    head.split_once('@')
        .is_some_and(|(_, to)| to.eq_ignore_ascii_case(username))
}

/// The command menu in `lang`, read from the help text's lines (`{p}cmd args — what`), so
/// the menu and `/help` never disagree.
fn menu(lang: &Lang) -> Vec<BotCommand> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_menu_lists_every_command_in_every_language() {
        for code in i18n::UI_LANGS {
            let lang = Lang::parse(code).unwrap();
            let names: Vec<String> = menu(&lang).into_iter().map(|c| c.command).collect();
            assert_eq!(
                names,
                [
                    "latest",
                    "lang",
                    "subscribe",
                    "unsubscribe",
                    "about",
                    "help"
                ],
                "{code}"
            );
            assert!(
                menu(&lang)
                    .iter()
                    .all(|c| (3..=256).contains(&c.description.chars().count()))
            );
        }
    }

    #[test]
    fn recipients_and_addressing() {
        assert_eq!(recipient("-1001"), Recipient::Id(ChatId(-1001)));
        assert_eq!(
            recipient("@news"),
            Recipient::ChannelUsername("@news".into())
        );
        assert!(addressed("/foo@HeraldBot x", "heraldbot"));
        assert!(!addressed("/foo x", "heraldbot"));
    }
}

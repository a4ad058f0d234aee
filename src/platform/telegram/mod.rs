//! Telegram, on teloxide: posts to channels, groups and private subscribers, and answers
//! commands received by long polling. Everything Telegram-specific lives here; the core
//! sees a `Sink` and neutral commands.
//!
//! - Sending (`send`): HTML parse mode (feed text escaped by `render`), a large link preview
//!   of the article, and each Bot API error mapped to what the delivery loop must do.
//! - Listening (`listen`): `getUpdates` long polling; commands older than `max_command_age`
//!   (sent while the bot was down) are skipped; in groups only chat administrators (an
//!   anonymous admin writes as the group itself) and operators may change settings; plain
//!   text gets the help in private chats and silence in groups.
//! - Checks (`check`): whether the bot can post in a chat (`getChat`, `getChatMember`), for
//!   the configured channels at start, an operator's new channel and `herald check --online`.
//! - The token is a secret: it is removed from every error text before it is logged.

mod check;
mod listen;
mod send;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::Bot;
use tokio_util::sync::CancellationToken;

use super::{Connection, Started};
use crate::config::TelegramConfig;
use crate::service::CommandService;
pub use check::check_online;

/// Seconds a `getUpdates` call waits for news.
const POLL_TIMEOUT: u32 = 10;
/// How long the start waits for Telegram to name the ids of channels configured by @name.
const NAME_LOOKUP_PATIENCE: Duration = Duration::from_secs(5);

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

/// Starts Telegram when a token and `[telegram]` are configured: looks up the ids of the
/// channels configured by `@name` and, with `listen`, answers commands until `shutdown`.
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
}

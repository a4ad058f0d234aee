//! The one way the platform adapters answer chat commands: a `CommandService` holds what a
//! command runs against (the configuration, the store, the metrics, what `/status` reads) and `answer` builds the
//! context, executes the command and counts it. Adapters also read the configuration and
//! the store through it (operators, configured channels, recorded moves), so they never
//! need the wiring in `app`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::article::Target;
use crate::channels::Channel;
use crate::commands::{self, Command, Context, Control, Reply, Request};
use crate::config::{Config, Operator};
use crate::i18n::Msg;
use crate::ops::metrics::Metrics;
use crate::ops::status::Watch;
use crate::store::{Store, StoreError};

pub struct CommandService {
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    /// What `/status` reads.
    watch: Watch,
    flood: FloodGate,
    /// What the operators' commands act on, set once the bot runs.
    control: std::sync::OnceLock<Control>,
}

/// Commands one chat may send within `FLOOD_WINDOW`; more get one note, then silence until
/// the window has passed, so nobody can push the bot into the platforms' flood limits
/// (Telegram allows 20 messages a minute in a group, one a second in a private chat).
const FLOOD_LIMIT: u32 = 15;
const FLOOD_WINDOW: Duration = Duration::from_secs(30);
/// Above this many chats, the ones whose window has passed are forgotten.
const FLOOD_PRUNE_ABOVE: usize = 4096;

/// Counts each chat's commands in fixed windows.
#[derive(Default)]
struct FloodGate {
    chats: Mutex<HashMap<Target, (Instant, u32)>>,
}

#[derive(Debug, PartialEq)]
enum Admit {
    Answer,
    /// Say once that the chat must wait this long.
    Warn(Duration),
    Ignore,
}

impl FloodGate {
    fn admit(&self, chat: &Target, now: Instant) -> Admit {
        let mut chats = self.chats.lock().expect("flood gate");
        if chats.len() > FLOOD_PRUNE_ABOVE {
            chats.retain(|_, (since, _)| now.duration_since(*since) < FLOOD_WINDOW);
        }
        let (since, count) = chats.entry(chat.clone()).or_insert((now, 0));
        if now.duration_since(*since) >= FLOOD_WINDOW {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        match *count {
            n if n <= FLOOD_LIMIT => Admit::Answer,
            n if n == FLOOD_LIMIT + 1 => {
                Admit::Warn(FLOOD_WINDOW.saturating_sub(now.duration_since(*since)))
            }
            _ => Admit::Ignore,
        }
    }
}

impl CommandService {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        metrics: Arc<Metrics>,
        watch: Watch,
    ) -> CommandService {
        CommandService {
            config,
            store,
            metrics,
            watch,
            flood: FloodGate::default(),
            control: std::sync::OnceLock::new(),
        }
    }

    /// Gives the operators' commands the running bot to act on (once; later calls are
    /// ignored).
    pub fn attach(&self, control: Control) {
        let _ = self.control.set(control);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `command` for `request` and returns the reply to send: none for a chat that
    /// sends commands too fast and was told so already.
    pub async fn answer(&self, request: &Request, command: &Command) -> Option<Reply> {
        let ctx = Context {
            config: &self.config,
            store: &self.store,
            watch: Some(&self.watch),
            control: self.control.get(),
        };
        match self.flood.admit(&request.chat, Instant::now()) {
            Admit::Answer => {}
            Admit::Warn(wait) => {
                let lang = match ctx.settings(&request.chat) {
                    Ok(settings) => ctx.reply_lang(request, &settings),
                    Err(_) => crate::article::Lang::parse("en").expect("a language code"),
                };
                let seconds = wait.as_secs().max(1).to_string();
                tracing::info!(chat = %request.chat.platform, "a chat sends commands too fast; it is not answered for a while");
                let note = commands::say(&lang, Msg::TooFast, request, &[("seconds", &seconds)]);
                return Some(Reply::text(&note));
            }
            Admit::Ignore => return None,
        }
        let reply = commands::execute(&ctx, request, command).await;
        self.metrics.count_command();
        Some(reply)
    }

    /// Whether `who` is one of `[bot] admins`.
    pub fn is_operator(&self, who: &Operator) -> bool {
        self.config.is_operator(who)
    }

    /// The channel (configured or added from chat) that lives at `chat` now, following
    /// recorded moves.
    pub fn channel_at(&self, chat: &Target) -> Result<Option<Channel>, StoreError> {
        crate::channels::at(&self.config, &self.store, chat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_flooding_commands_is_told_once_then_ignored_until_the_window_passes() {
        let gate = FloodGate::default();
        let (chat, other) = ("telegram:1".parse().unwrap(), "telegram:2".parse().unwrap());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        for n in 0..FLOOD_LIMIT {
            assert_eq!(gate.admit(&chat, at(u64::from(n) * 100)), Admit::Answer);
        }
        assert_eq!(
            gate.admit(&chat, at(2000)),
            Admit::Warn(Duration::from_secs(28))
        );
        assert_eq!(gate.admit(&chat, at(2100)), Admit::Ignore);
        assert_eq!(
            gate.admit(&other, at(2200)),
            Admit::Answer,
            "other chats go on"
        );
        assert_eq!(gate.admit(&chat, at(29_900)), Admit::Ignore);
        assert_eq!(gate.admit(&chat, at(30_000)), Admit::Answer, "a new window");
    }
}

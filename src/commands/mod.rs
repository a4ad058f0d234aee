//! Chat commands, platform-neutral. Each adapter turns a platform message into a
//! `Request` and text, `parse` reads the text into a `Command`, `execute` runs it against
//! the store and returns a `Reply` the adapter renders (see `render`). One parser, one set
//! of localized texts, for Telegram and Matrix alike.

mod admin;
mod info;
mod lang;
mod latest;
mod status;
mod subscription;

use crate::article::{Lang, LangSet, Target};
use crate::config::Config;
use crate::i18n::{self, Msg};
use crate::ops::status::Watch;
use crate::store::{ChatSettings, Store, StoreError};
pub use admin::{Control, FeedPolled};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Start,
    Help,
    About,
    /// `latest [n]`: the raw argument, if any.
    Latest(Option<String>),
    /// `lang [codes…|all]`.
    Lang(Vec<String>),
    Subscribe,
    Unsubscribe,
    /// `status`: the bot's state, for operators.
    Status,
    /// `channels`: where the bot posts, for operators.
    Channels,
    /// `addchannel <chat> [langs…] [feeds…]`: the raw arguments.
    AddChannel(Vec<String>),
    /// `removechannel <chat>`.
    RemoveChannel(Option<String>),
    /// `pause [chat]`.
    Pause(Option<String>),
    /// `resume [chat]`.
    Resume(Option<String>),
    /// `poll`: read every feed now.
    Poll,
    /// A command Herald does not know, as typed (without arguments).
    Unknown(String),
}

/// Reads a command from a message's text. Commands start with `/` or `!`; a Telegram-style
/// `@BotName` suffix must name this bot (`bot_name`), otherwise the command is for another
/// bot and `None` is returned. Text that is not a command is `None`.
pub fn parse(text: &str, bot_name: Option<&str>) -> Option<Command> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/').or_else(|| text.strip_prefix('!'))?;
    if rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let (name, addressed) = match head.split_once('@') {
        Some((name, to)) => (name, Some(to)),
        None => (head, None),
    };
    if let Some(to) = addressed
        && bot_name.is_none_or(|me| !me.eq_ignore_ascii_case(to))
    {
        return None;
    }
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let args: Vec<String> = words.map(str::to_string).collect();
    Some(match name.to_lowercase().as_str() {
        "start" => Command::Start,
        "help" => Command::Help,
        "about" => Command::About,
        "latest" => Command::Latest(args.into_iter().next()),
        "lang" | "language" | "languages" => Command::Lang(args),
        "subscribe" => Command::Subscribe,
        "unsubscribe" | "stop" => Command::Unsubscribe,
        "status" => Command::Status,
        "channels" => Command::Channels,
        "addchannel" => Command::AddChannel(args),
        "removechannel" => Command::RemoveChannel(args.into_iter().next()),
        "pause" => Command::Pause(args.into_iter().next()),
        "resume" => Command::Resume(args.into_iter().next()),
        "poll" => Command::Poll,
        _ => Command::Unknown(format!("{}{name}", &text[..1])),
    })
}

/// The kind of chat a command came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatKind {
    /// A one-to-one chat with the bot (a Telegram private chat, a Matrix direct room).
    Private,
    Group,
    Channel,
}

/// Who asked, where, and what they may do.
#[derive(Clone, Debug)]
pub struct Request {
    pub chat: Target,
    pub kind: ChatKind,
    /// The sender may change this chat's settings (a chat admin, an operator, or anyone in
    /// a private chat). The adapter decides, because only it can ask the platform.
    pub may_configure: bool,
    /// The sender is one of the bot's operators (`[bot] admins`).
    pub operator: bool,
    /// The sender's language as the platform reports it.
    pub user_lang: Option<String>,
    /// The prefix commands are written with here: `/` on Telegram, `!` on Matrix.
    pub prefix: char,
}

/// A piece of a reply line.
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    Text(String),
    Bold(String),
    Link { text: String, url: String },
}

/// A button under a reply that acts as if the user typed `command`.
#[derive(Clone, Debug, PartialEq)]
pub struct Button {
    pub label: String,
    pub command: String,
}

/// What the bot answers, before a platform renders it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    pub lines: Vec<Vec<Span>>,
    pub buttons: Vec<Button>,
}

impl Reply {
    pub fn from_lines(lines: Vec<Vec<Span>>) -> Reply {
        Reply {
            lines,
            buttons: Vec::new(),
        }
    }

    /// A reply of plain text, one line per `\n`.
    pub fn text(text: &str) -> Reply {
        Reply::from_lines(
            text.lines()
                .map(|l| vec![Span::Text(l.to_string())])
                .collect(),
        )
    }
}

/// What a command runs against.
pub struct Context<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    /// What `status` reads (the running bot's; absent where there is none).
    pub watch: Option<&'a Watch>,
    /// What the operators' commands act on (the running bot's, once it runs).
    pub control: Option<&'a Control>,
}

impl Context<'_> {
    /// A chat's settings, or the defaults it starts with: a configured channel's own
    /// languages, else `[bot] default_langs`.
    pub fn settings(&self, chat: &Target) -> Result<ChatSettings, StoreError> {
        if let Some(settings) = self.store.chat(chat)? {
            return Ok(settings);
        }
        let langs = match crate::channels::at(self.config, self.store, chat)? {
            Some(channel) => channel.langs,
            None => self.config.bot.default_langs.clone(),
        };
        Ok(ChatSettings {
            langs,
            subscribed: false,
            ui_lang: None,
            since: chrono::Utc::now(),
        })
    }

    /// The language to answer in: the sender's when the bot speaks it, else the chat's.
    pub fn reply_lang(&self, req: &Request, settings: &ChatSettings) -> Lang {
        let user = req
            .user_lang
            .as_deref()
            .and_then(Lang::parse)
            .filter(i18n::speaks);
        user.or_else(|| settings.ui_lang.clone().filter(i18n::speaks))
            .or_else(|| settings.langs.first().cloned().filter(i18n::speaks))
            .unwrap_or_else(|| Lang::parse("en").expect("valid"))
    }

    /// A language list in words: "de, en" or "all languages".
    pub fn langs_text(&self, langs: &LangSet, reply_lang: &Lang) -> String {
        match langs {
            LangSet::All => i18n::text(reply_lang, Msg::AllLanguages).to_string(),
            LangSet::Only(_) => langs.to_string(),
        }
    }
}

/// Runs a command; what it changed is durable before the reply is returned. Store failures
/// become a polite reply and an error in the log.
pub async fn execute(ctx: &Context<'_>, req: &Request, command: &Command) -> Reply {
    let writes = matches!(
        command,
        Command::Lang(_)
            | Command::Subscribe
            | Command::Unsubscribe
            | Command::AddChannel(_)
            | Command::RemoveChannel(_)
            | Command::Pause(_)
            | Command::Resume(_)
    );
    let result = match command {
        Command::AddChannel(args) => admin::add(ctx, req, args).await,
        Command::Poll => admin::poll(ctx, req).await,
        other => run(ctx, req, other),
    };
    let result = match result {
        // The store's group commit: the fsync runs off the async runtime, shared with
        // every other writer waiting.
        Ok(reply) if writes => ctx.store.flush().await.map(|()| reply),
        other => other,
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a command failed");
        let lang = req
            .user_lang
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_else(|| Lang::parse("en").expect("valid"));
        Reply::text(i18n::text(&lang, Msg::InternalError))
    })
}

fn run(ctx: &Context<'_>, req: &Request, command: &Command) -> Result<Reply, StoreError> {
    match command {
        Command::Start => info::start(ctx, req),
        Command::Help => info::help(ctx, req),
        Command::About => info::about(ctx, req),
        Command::Unknown(name) => info::unknown(ctx, req, name),
        Command::Latest(arg) => latest::run(ctx, req, arg.as_deref()),
        Command::Lang(args) => lang::run(ctx, req, args),
        Command::Subscribe => subscription::subscribe(ctx, req),
        Command::Unsubscribe => subscription::unsubscribe(ctx, req),
        Command::Status => status::run(ctx, req),
        Command::Channels => admin::list(ctx, req),
        Command::RemoveChannel(arg) => admin::remove(ctx, req, arg.as_deref()),
        Command::Pause(arg) => admin::pause(ctx, req, arg.as_deref(), true),
        Command::Resume(arg) => admin::pause(ctx, req, arg.as_deref(), false),
        // Asynchronous: run by `execute`.
        Command::AddChannel(_) | Command::Poll => Ok(Reply::default()),
    }
}

/// A localized text with the reply prefix and extra values filled in.
pub(crate) fn say(lang: &Lang, msg: Msg, req: &Request, values: &[(&str, &str)]) -> String {
    let prefix = req.prefix.to_string();
    let mut all: Vec<(&str, i18n::Arg<'_>)> = vec![("p", prefix.as_str().into())];
    all.extend(values.iter().map(|&(name, value)| (name, value.into())));
    i18n::format(lang, msg, &all)
}

#[cfg(test)]
mod tests;

//! The bot's own words in every language it speaks. Feed text is never translated; only
//! what Herald itself says. The words live in Project Fluent files, one per language
//! (`i18n/<code>.ftl` at the top of the repository), compiled into the binary, so
//! translators edit text, not code. Counts use Fluent's plural rules (Russian and
//! Ukrainian have three forms).
//!
//! Adding a UI language: write `i18n/<code>.ftl` with every message of `en.ftl`, and add the
//! code to the `ui_languages!` line below. A unit test checks that every language has every
//! message with the same variables.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use fluent_syntax::ast;

use crate::article::Lang;

/// Declares the UI languages and compiles their `.ftl` files in.
macro_rules! ui_languages {
    ($($code:literal),+ $(,)?) => {
        /// The languages the bot speaks, in the order offered to users.
        pub const UI_LANGS: [&str; [$($code),+].len()] = [$($code),+];
        /// Each UI language's Fluent source, in the order of `UI_LANGS`.
        const SOURCES: [&str; [$($code),+].len()] = [$(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"), "/i18n/", $code, ".ftl"
        ))),+];
    };
}

ui_languages!("en", "de", "ru", "uk", "fr");

/// Every sentence the bot says; each is the Fluent message of the same name in kebab case
/// (`Msg::LatestHeader` is `latest-header`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// The language's own name, for menus: "Deutsch", "Українська".
    LanguageName,
    /// The words of the link to an article.
    ReadMore,
    /// Welcome in a private chat; `p` is the command prefix.
    Start,
    /// The command list; `p` is the command prefix.
    Help,
    /// `version`, `feeds`, and `count` (a number: how many sources `feeds` names).
    About,
    /// `langs`.
    LatestHeader,
    /// `langs`.
    LatestEmpty,
    /// `langs`, `p`.
    LangCurrent,
    /// `langs`.
    LangSet,
    /// `code`, `available`.
    LangUnknown,
    AllLanguages,
    /// `langs`.
    Subscribed,
    /// `langs`.
    AlreadySubscribed,
    Unsubscribed,
    NotSubscribed,
    /// `/unsubscribe` in a chat the operators configured: nothing changes.
    ConfiguredByOperators,
    /// `/subscribe` in a chat the operators configured: nothing changes.
    SubscribeConfiguredByOperators,
    NotAllowed,
    /// `cmd`.
    UnknownCommand,
    InternalError,
    TooFast,
    PageTitle,
    PageSummary,
    PageFeeds,
    PageFeed,
    PageLastRead,
    PageLastError,
    PageNextPoll,
    PageNever,
    PageChannels,
    PageChannel,
    PageState,
    PageQueued,
    PageFine,
    PageJoining,
    PageRetrying,
    PageRefused,
    PageSubscribers,
    PageArticles,
    PageArticle,
    PageWhere,
    PageSent,
    PageSetAside,
    PagePrivate,
    /// A feed whose last poll failed, a channel whose last send failed.
    PageFailing,
    /// The column of a feed's article count.
    PageFeedArticles,
    /// Anyone but an operator asking for an operators' command (`/status`).
    OperatorsOnly,
    /// An operator asking for `/status` in a Telegram group, whose members would read it.
    OperatorsPrivateChat,
    /// A channel's state while an operator paused posting to it.
    PagePaused,
    /// Marks a channel added from chat (`/addchannel`) rather than in the config file.
    PageAdded,
    /// The operators' commands, added to `help` for operators; `p`.
    HelpOperators,
    /// `/channels` with no channel at all; `p`.
    ChannelsNone,
    /// A channel that takes every feed.
    ChannelFeedsAll,
    /// Marks a channel of the configuration file.
    ChannelFromConfig,
    /// `/addchannel` without a chat; `p`.
    AddChannelUsage,
    /// `target`: not a chat address.
    BadTarget,
    /// `arg`, `feeds`: neither a language nor a feed.
    UnknownArgument,
    /// `platform`: the bot does not run there.
    NoPlatform,
    /// `target`: `/addchannel` for a channel of the configuration file.
    ChannelInConfig,
    /// `target`, `reason` (the platform's, in English).
    CannotPost,
    /// `target`, `langs`, `feeds`.
    ChannelAdded,
    /// `target`, `langs`, `feeds`.
    ChannelUpdated,
    /// `/removechannel` without a chat; `p`.
    RemoveChannelUsage,
    /// `target`: `/removechannel` for a channel of the configuration file.
    ChannelRemoveConfig,
    /// `target`.
    ChannelRemoved,
    /// `target`, `p`.
    NotAChannel,
    /// `target`, `queued` (a number), `p`.
    PausedOne,
    /// `queued` (a number), `p`.
    PausedAll,
    /// `target`.
    ResumedOne,
    /// Posting resumed everywhere.
    ResumedAll,
    /// `target`.
    NotPausedOne,
    /// `/resume` when nothing was paused.
    NotPausedAll,
    /// `targets`: chats paused on their own after `/resume` of all.
    StillPaused,
    /// The first line of `/poll`'s answer.
    PollHeader,
    /// `new`, `queued` (numbers).
    PollNew,
    /// A feed with nothing new.
    PollUnchanged,
    /// `reason` (in English).
    PollFailed,
    /// An operators' command that needs the running bot, before it is up.
    NotRunning,
    /// The status page's heading over what `/healthz` reports as stalled.
    PageStalled,
}

impl Msg {
    /// Every message, for tests and the template table.
    pub const ALL: [Msg; 79] = [
        Msg::LanguageName,
        Msg::ReadMore,
        Msg::Start,
        Msg::Help,
        Msg::About,
        Msg::LatestHeader,
        Msg::LatestEmpty,
        Msg::LangCurrent,
        Msg::LangSet,
        Msg::LangUnknown,
        Msg::AllLanguages,
        Msg::Subscribed,
        Msg::AlreadySubscribed,
        Msg::Unsubscribed,
        Msg::NotSubscribed,
        Msg::ConfiguredByOperators,
        Msg::SubscribeConfiguredByOperators,
        Msg::NotAllowed,
        Msg::UnknownCommand,
        Msg::InternalError,
        Msg::TooFast,
        Msg::PageTitle,
        Msg::PageSummary,
        Msg::PageFeeds,
        Msg::PageFeed,
        Msg::PageLastRead,
        Msg::PageLastError,
        Msg::PageNextPoll,
        Msg::PageNever,
        Msg::PageChannels,
        Msg::PageChannel,
        Msg::PageState,
        Msg::PageQueued,
        Msg::PageFine,
        Msg::PageJoining,
        Msg::PageRetrying,
        Msg::PageRefused,
        Msg::PageSubscribers,
        Msg::PageArticles,
        Msg::PageArticle,
        Msg::PageWhere,
        Msg::PageSent,
        Msg::PageSetAside,
        Msg::PagePrivate,
        Msg::PageFailing,
        Msg::PageFeedArticles,
        Msg::OperatorsOnly,
        Msg::OperatorsPrivateChat,
        Msg::PagePaused,
        Msg::PageAdded,
        Msg::HelpOperators,
        Msg::ChannelsNone,
        Msg::ChannelFeedsAll,
        Msg::ChannelFromConfig,
        Msg::AddChannelUsage,
        Msg::BadTarget,
        Msg::UnknownArgument,
        Msg::NoPlatform,
        Msg::ChannelInConfig,
        Msg::CannotPost,
        Msg::ChannelAdded,
        Msg::ChannelUpdated,
        Msg::RemoveChannelUsage,
        Msg::ChannelRemoveConfig,
        Msg::ChannelRemoved,
        Msg::NotAChannel,
        Msg::PausedOne,
        Msg::PausedAll,
        Msg::ResumedOne,
        Msg::ResumedAll,
        Msg::NotPausedOne,
        Msg::NotPausedAll,
        Msg::StillPaused,
        Msg::PollHeader,
        Msg::PollNew,
        Msg::PollUnchanged,
        Msg::PollFailed,
        Msg::NotRunning,
        Msg::PageStalled,
    ];

    /// The message's name in the `.ftl` files.
    pub fn id(self) -> &'static str {
        match self {
            Msg::LanguageName => "language-name",
            Msg::ReadMore => "read-more",
            Msg::Start => "start",
            Msg::Help => "help",
            Msg::About => "about",
            Msg::LatestHeader => "latest-header",
            Msg::LatestEmpty => "latest-empty",
            Msg::LangCurrent => "lang-current",
            Msg::LangSet => "lang-set",
            Msg::LangUnknown => "lang-unknown",
            Msg::AllLanguages => "all-languages",
            Msg::Subscribed => "subscribed",
            Msg::AlreadySubscribed => "already-subscribed",
            Msg::Unsubscribed => "unsubscribed",
            Msg::NotSubscribed => "not-subscribed",
            Msg::ConfiguredByOperators => "configured-by-operators",
            Msg::SubscribeConfiguredByOperators => "subscribe-configured-by-operators",
            Msg::NotAllowed => "not-allowed",
            Msg::UnknownCommand => "unknown-command",
            Msg::InternalError => "internal-error",
            Msg::TooFast => "too-fast",
            Msg::PageTitle => "page-title",
            Msg::PageSummary => "page-summary",
            Msg::PageFeeds => "page-feeds",
            Msg::PageFeed => "page-feed",
            Msg::PageLastRead => "page-last-read",
            Msg::PageLastError => "page-last-error",
            Msg::PageNextPoll => "page-next-poll",
            Msg::PageNever => "page-never",
            Msg::PageChannels => "page-channels",
            Msg::PageChannel => "page-channel",
            Msg::PageState => "page-state",
            Msg::PageQueued => "page-queued",
            Msg::PageFine => "page-fine",
            Msg::PageJoining => "page-joining",
            Msg::PageRetrying => "page-retrying",
            Msg::PageRefused => "page-refused",
            Msg::PageSubscribers => "page-subscribers",
            Msg::PageArticles => "page-articles",
            Msg::PageArticle => "page-article",
            Msg::PageWhere => "page-where",
            Msg::PageSent => "page-sent",
            Msg::PageSetAside => "page-set-aside",
            Msg::PagePrivate => "page-private",
            Msg::PageFailing => "page-failing",
            Msg::PageFeedArticles => "page-feed-articles",
            Msg::OperatorsOnly => "operators-only",
            Msg::OperatorsPrivateChat => "operators-private-chat",
            Msg::PagePaused => "page-paused",
            Msg::PageAdded => "page-added",
            Msg::HelpOperators => "help-operators",
            Msg::ChannelsNone => "channels-none",
            Msg::ChannelFeedsAll => "channel-feeds-all",
            Msg::ChannelFromConfig => "channel-from-config",
            Msg::AddChannelUsage => "add-channel-usage",
            Msg::BadTarget => "bad-target",
            Msg::UnknownArgument => "unknown-argument",
            Msg::NoPlatform => "no-platform",
            Msg::ChannelInConfig => "channel-in-config",
            Msg::CannotPost => "cannot-post",
            Msg::ChannelAdded => "channel-added",
            Msg::ChannelUpdated => "channel-updated",
            Msg::RemoveChannelUsage => "remove-channel-usage",
            Msg::ChannelRemoveConfig => "channel-remove-config",
            Msg::ChannelRemoved => "channel-removed",
            Msg::NotAChannel => "not-a-channel",
            Msg::PausedOne => "paused-one",
            Msg::PausedAll => "paused-all",
            Msg::ResumedOne => "resumed-one",
            Msg::ResumedAll => "resumed-all",
            Msg::NotPausedOne => "not-paused-one",
            Msg::NotPausedAll => "not-paused-all",
            Msg::StillPaused => "still-paused",
            Msg::PollHeader => "poll-header",
            Msg::PollNew => "poll-new",
            Msg::PollUnchanged => "poll-unchanged",
            Msg::PollFailed => "poll-failed",
            Msg::NotRunning => "not-running",
            Msg::PageStalled => "page-stalled",
        }
    }
}

/// A value for a message's variable: text, or a number (which selects plural forms).
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Text(&'a str),
    Number(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(s)
    }
}

impl From<usize> for Arg<'_> {
    fn from(n: usize) -> Self {
        Arg::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Number(n)
    }
}

/// One language's messages.
struct Bundle {
    code: &'static str,
    bundle: FluentBundle<FluentResource>,
}

/// The compiled-in bundles, in the order of `UI_LANGS`, parsed on first use. A syntax
/// error keeps the messages that did parse (and is logged); the unit tests reject it.
fn bundles() -> &'static [Bundle] {
    static BUNDLES: OnceLock<Vec<Bundle>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        UI_LANGS
            .iter()
            .zip(SOURCES)
            .map(|(&code, source)| {
                let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(
                    |(partial, errors)| {
                        tracing::error!(lang = code, ?errors, "errors in a message file");
                        partial
                    },
                );
                let langid = code.parse().unwrap_or_default();
                let mut bundle = FluentBundle::new_concurrent(vec![langid]);
                // No Unicode isolation marks around values: chat clients show them as junk.
                bundle.set_use_isolating(false);
                if let Err(errors) = bundle.add_resource(resource) {
                    tracing::error!(lang = code, ?errors, "errors in a message file");
                }
                Bundle { code, bundle }
            })
            .collect()
    })
}

fn bundle(code: &str) -> Option<&'static Bundle> {
    bundles().iter().find(|b| b.code == code)
}

/// Formats `msg` from `bundle`, or `None` when the file lacks it.
fn format_in(bundle: &Bundle, msg: Msg, args: &FluentArgs<'_>) -> Option<String> {
    let message = bundle.bundle.get_message(msg.id())?;
    let pattern = message.value()?;
    let mut errors = Vec::new();
    let text = bundle
        .bundle
        .format_pattern(pattern, Some(args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            lang = bundle.code,
            msg = msg.id(),
            ?errors,
            "a message did not format cleanly"
        );
    }
    Some(text.into_owned())
}

/// The text of `msg` in `lang` with its variables filled in. English when the bot does
/// not speak `lang`; English too, with a warning in the log, should a language's file lack
/// the message (the unit tests make sure none does).
pub fn format(lang: &Lang, msg: Msg, args: &[(&str, Arg<'_>)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        match *value {
            Arg::Text(s) => fluent_args.set(*name, FluentValue::from(s)),
            Arg::Number(n) => fluent_args.set(*name, FluentValue::from(n)),
        }
    }
    if let Some(bundle) = bundle(lang.as_str()) {
        if let Some(text) = format_in(bundle, msg, &fluent_args) {
            return text;
        }
        tracing::warn!(
            lang = bundle.code,
            msg = msg.id(),
            "message missing; using English"
        );
    }
    let en = bundle("en").expect("English is a UI language");
    format_in(en, msg, &fluent_args).unwrap_or_else(|| msg.id().to_string())
}

/// The text of `msg` in `lang` (English when the bot does not speak `lang`) as a template:
/// each variable written `{name}`, for `fill`. Messages whose wording depends on a number
/// (`About`) should go through `format` instead, which chooses the plural form.
pub fn text(lang: &Lang, msg: Msg) -> &'static str {
    static TEMPLATES: OnceLock<HashMap<(&'static str, Msg), String>> = OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        let mut all = HashMap::new();
        for code in UI_LANGS {
            let lang = Lang::parse(code).expect("built-in codes are valid");
            for msg in Msg::ALL {
                let names = bundle(code)
                    .and_then(|b| variables(&b.bundle, msg))
                    .unwrap_or_default();
                let marks: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
                let args: Vec<(&str, Arg<'_>)> = names
                    .iter()
                    .zip(&marks)
                    .map(|(n, m)| (n.as_str(), Arg::Text(m)))
                    .collect();
                all.insert((code, msg), format(&lang, msg, &args));
            }
        }
        all
    });
    let code = if speaks(lang) { lang.as_str() } else { "en" };
    UI_LANGS
        .iter()
        .find(|c| **c == code)
        .and_then(|c| templates.get(&(*c, msg)))
        .map_or("", String::as_str)
}

/// The variables `msg` uses in `bundle`, sorted; `None` when the message is missing.
fn variables(bundle: &FluentBundle<FluentResource>, msg: Msg) -> Option<BTreeSet<String>> {
    let pattern = bundle.get_message(msg.id())?.value()?;
    let mut names = BTreeSet::new();
    pattern_variables(pattern, &mut names);
    Some(names)
}

fn pattern_variables(pattern: &ast::Pattern<&str>, names: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            expression_variables(expression, names);
        }
    }
}

fn expression_variables(expression: &ast::Expression<&str>, names: &mut BTreeSet<String>) {
    match expression {
        ast::Expression::Select { selector, variants } => {
            inline_variables(selector, names);
            for variant in variants {
                pattern_variables(&variant.value, names);
            }
        }
        ast::Expression::Inline(inline) => inline_variables(inline, names),
    }
}

fn inline_variables(inline: &ast::InlineExpression<&str>, names: &mut BTreeSet<String>) {
    match inline {
        ast::InlineExpression::VariableReference { id } => {
            names.insert(id.name.to_string());
        }
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for arg in &arguments.positional {
                inline_variables(arg, names);
            }
            for arg in &arguments.named {
                inline_variables(&arg.value, names);
            }
        }
        ast::InlineExpression::Placeable { expression } => expression_variables(expression, names),
        _ => {}
    }
}

/// Whether the bot speaks `lang`.
pub fn speaks(lang: &Lang) -> bool {
    UI_LANGS.contains(&lang.as_str())
}

/// The language's own name, for menus: "Deutsch", "Українська". A UI language names
/// itself in its own file; a few others are known here; any other shows its code.
pub fn language_name(lang: &Lang) -> String {
    if speaks(lang) {
        return text(lang, Msg::LanguageName).to_string();
    }
    match lang.as_str() {
        "es" => "Español".into(),
        "it" => "Italiano".into(),
        "pl" => "Polski".into(),
        "be" => "Беларуская".into(),
        "ka" => "ქართული".into(),
        "kk" => "Қазақ".into(),
        other => other.to_string(),
    }
}

/// Replaces each `{name}` in `template` with its value (the tests' reading of a template).
#[cfg(test)]
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests;

//! Herald's configuration: a TOML file plus secrets from the environment, validated once at
//! start-up. Errors name the file, the line and the key; unknown keys are errors.
//!
//! Relative paths (`data_dir`, feeds that are local files) are resolved against the config
//! file's folder, so the bot behaves the same from any working directory.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::article::{Lang, LangSet, Platform, Target};

/// Environment variables that override secrets in the file.
pub const ENV_TELEGRAM_TOKEN: &str = "HERALD_TELEGRAM_TOKEN";
pub const ENV_MATRIX_PASSWORD: &str = "HERALD_MATRIX_PASSWORD";
pub const ENV_MATRIX_ACCESS_TOKEN: &str = "HERALD_MATRIX_ACCESS_TOKEN";
pub const ENV_OPS_TOKEN: &str = "HERALD_OPS_TOKEN";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub bot: BotConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
    #[serde(default)]
    pub channels: Vec<ChannelConfig>,
    pub telegram: Option<TelegramConfig>,
    pub matrix: Option<MatrixConfig>,
    #[serde(default)]
    pub ops: OpsConfig,
    /// The file this was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotConfig {
    /// The sled database and the Matrix store live here.
    pub data_dir: PathBuf,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Newest N items to post when a feed is seen for the first time.
    pub backfill: usize,
    /// Items first seen longer than this after publication are stored but not posted.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Operators: `telegram:<user id>` or `matrix:@user:server`.
    pub admins: Vec<Spanned<Operator>>,
    /// The languages a chat starts with.
    pub default_langs: LangSet,
    /// More never-seen items than this in one poll, all older than the newest item already
    /// seen from the feed, are a mass change (a site migration): stored, not posted.
    pub mass_change_limit: usize,
    /// Edit the messages that carried an article when the feed changes its text.
    pub edits: bool,
    /// Only messages younger than this are edited.
    #[serde(with = "humantime_serde")]
    pub edit_window: Duration,
    /// How long an article no feed lists any more is remembered (with where it was
    /// posted), and a feed's record of an item it stopped listing; see `Store::forget`.
    /// Unset: 180 days, or `max_age` when that is longer (see `Config::retention`).
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            data_dir: PathBuf::from("data"),
            poll_interval: Duration::from_secs(300),
            backfill: 0,
            max_age: Duration::from_secs(7 * 24 * 3600),
            admins: Vec::new(),
            default_langs: LangSet::All,
            mass_change_limit: 20,
            edits: true,
            edit_window: Duration::from_secs(7 * 24 * 3600),
            retention: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest feed body accepted, in bytes.
    pub max_body: u64,
    pub max_redirects: usize,
    /// Longest wait between retries of a failing feed.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            timeout: Duration::from_secs(30),
            max_body: 5 * 1024 * 1024,
            max_redirects: 5,
            max_backoff: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// An http(s) URL, a `file://` URL or a local path.
    pub url: Spanned<String>,
    /// The edition's language, used when an item's own language is unknown.
    pub lang: Lang,
    /// Guess each item's language from its text (an edition may carry untranslated posts).
    #[serde(default = "yes")]
    pub detect_lang: bool,
    /// A short name for logs and `/latest`; defaults to the URL.
    pub name: Option<String>,
    /// Overrides `[bot] backfill` for this feed.
    pub backfill: Option<usize>,
    /// Where the feed is read from, resolved from `url` once when the config is loaded.
    #[serde(skip)]
    source: Option<FeedSource>,
}

fn yes() -> bool {
    true
}

/// Where a feed is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedSource {
    Http(url::Url),
    File(PathBuf),
}

impl FeedConfig {
    /// How logs and pages name the feed: its `name`, else its `url` as written.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.key())
    }

    /// The key the feed's state is stored under: its URL as written.
    pub fn key(&self) -> &str {
        self.url.get_ref()
    }

    /// Where the feed is read from: a URL, or a file relative to the config's folder.
    pub fn source(&self) -> &FeedSource {
        self.source
            .as_ref()
            .expect("Config::parse resolves every feed's source")
    }
}

impl FeedSource {
    /// Reads a feed's `url` as written: http(s), `file://` or a path relative to `base`.
    fn resolve(raw: &str, base: &Path) -> Result<FeedSource, String> {
        let raw = raw.trim();
        if raw.starts_with("http://") || raw.starts_with("https://") {
            let url =
                url::Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL: {e}"))?;
            return Ok(FeedSource::Http(url));
        }
        let path = if let Some(rest) = raw.strip_prefix("file://") {
            PathBuf::from(rest)
        } else if raw.contains("://") {
            return Err(format!(
                "`{raw}`: feeds are read over http(s) or from a local file"
            ));
        } else {
            PathBuf::from(raw)
        };
        Ok(FeedSource::File(if path.is_relative() {
            base.join(path)
        } else {
            path
        }))
    }
}

/// An operator (`[bot] admins`): a Telegram user by numeric id or a Matrix user id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Operator {
    Telegram(i64),
    Matrix(String),
}

impl TryFrom<String> for Operator {
    type Error = String;

    fn try_from(s: String) -> Result<Operator, String> {
        match s.split_once(':') {
            Some(("telegram", id)) if id.parse::<i64>().is_ok() => {
                Ok(Operator::Telegram(id.parse().expect("checked")))
            }
            Some(("matrix", user)) if MatrixUserId::is_valid(user) => {
                Ok(Operator::Matrix(user.to_string()))
            }
            _ => Err(format!(
                "`{s}` is not an operator: use `telegram:<numeric user id>` or `matrix:@user:server`"
            )),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operator::Telegram(id) => write!(f, "telegram:{id}"),
            Operator::Matrix(user) => write!(f, "matrix:{user}"),
        }
    }
}

/// A Matrix user id (`@localpart:server`), checked when the config is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MatrixUserId(String);

impl MatrixUserId {
    /// `@`, a localpart, `:`, and a server name (which may carry a port).
    fn is_valid(s: &str) -> bool {
        s.strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(local, server)| {
                !local.is_empty()
                    && !server.is_empty()
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MatrixUserId {
    type Error = String;

    fn try_from(s: String) -> Result<MatrixUserId, String> {
        if MatrixUserId::is_valid(&s) {
            Ok(MatrixUserId(s))
        } else {
            Err(format!(
                "`{s}` is not a Matrix user id such as `@herald:example.org`"
            ))
        }
    }
}

impl fmt::Display for MatrixUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub target: Spanned<Target>,
    #[serde(default)]
    pub langs: LangSet,
    /// Only these feeds (their `url` as written); default all.
    pub feeds: Option<Vec<Spanned<String>>>,
}

impl ChannelConfig {
    pub fn target(&self) -> &Target {
        self.target.get_ref()
    }
}

/// A secret: never printed, not even in debug output. One written in the file may not be
/// empty (or only spaces): `token = ""` is a mistake, not a key that every request can send.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(try_from = "String")]
pub struct Secret(String);

/// The message for an empty secret in the file (kept, unlike other messages about a secret,
/// since it shows nothing of the value).
const EMPTY_SECRET: &str =
    "is empty: remove the line to leave it unset, or put the secret in the environment";

impl TryFrom<String> for Secret {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Secret, &'static str> {
        if s.trim().is_empty() {
            Err(EMPTY_SECRET)
        } else {
            Ok(Secret(s))
        }
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Prefer the environment variable HERALD_TELEGRAM_TOKEN, which wins.
    pub token: Option<Secret>,
    /// The Bot API server (Telegram's own, or a local one).
    #[serde(deserialize_with = "http_url")]
    pub api_url: url::Url,
    /// Pause between two messages to one private chat.
    #[serde(with = "humantime_serde")]
    pub chat_interval: Duration,
    /// Pause between two messages to one group or channel (Telegram allows 20 a minute).
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    /// Messages per second across all chats.
    pub global_rate: u32,
    /// Commands older than this (sent while the bot was down) are not answered.
    #[serde(with = "humantime_serde")]
    pub max_command_age: Duration,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            token: None,
            api_url: url::Url::parse("https://api.telegram.org").expect("a valid URL"),
            chat_interval: Duration::from_secs(1),
            group_interval: Duration::from_secs(3),
            global_rate: 30,
            max_command_age: five_minutes(),
        }
    }
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// An http(s) URL, with a clear message when it is not one.
fn http_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<url::Url, D::Error> {
    let raw = String::deserialize(d)?;
    let url = url::Url::parse(&raw)
        .map_err(|e| serde::de::Error::custom(format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(serde::de::Error::custom(format!(
            "`{raw}` is not an http(s) URL"
        )));
    }
    Ok(url)
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AcceptInvites {
    #[default]
    Admins,
    Anyone,
    None,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
pub enum MsgType {
    #[default]
    #[serde(rename = "m.text")]
    Text,
    #[serde(rename = "m.notice")]
    Notice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// Every request goes here (an http(s) URL, checked at load).
    #[serde(deserialize_with = "http_url")]
    pub homeserver: url::Url,
    pub user: Spanned<MatrixUserId>,
    /// Prefer HERALD_MATRIX_PASSWORD, which wins.
    pub password: Option<Secret>,
    /// Instead of a password; HERALD_MATRIX_ACCESS_TOKEN wins.
    pub access_token: Option<Secret>,
    #[serde(default)]
    pub accept_invites: AcceptInvites,
    #[serde(default)]
    pub msgtype: MsgType,
    /// The name the bot's device shows in clients.
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// Commands older than this (sent while the bot was down) are not answered.
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub max_command_age: Duration,
    /// Pause between two messages to one room.
    #[serde(default = "one_second_half", with = "humantime_serde")]
    pub room_interval: Duration,
}

fn default_device_name() -> String {
    "Herald".into()
}
fn one_second_half() -> Duration {
    Duration::from_millis(500)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// `host:port` for `/healthz` and `/metrics`; off when absent.
    #[serde(default, deserialize_with = "socket_addr")]
    pub listen: Option<std::net::SocketAddr>,
    /// How log lines are written; `--log-format` wins.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Required by every request to the endpoint when set (a bearer token or `?token=`);
    /// needed when `listen` is not a loopback address. HERALD_OPS_TOKEN wins.
    pub token: Option<Secret>,
    /// `/healthz` turns 503 for a feed failing without a success for longer than this.
    /// Unset: an hour, or three poll intervals when that is longer (see `feed_stall_after`).
    #[serde(default, with = "humantime_serde")]
    pub stall_after: Option<Duration>,
    /// `/healthz` turns 503 when the delivery loop makes no progress for this long while
    /// posts are due, or when every send to a platform has failed for this long.
    #[serde(default = "ten_minutes", with = "humantime_serde")]
    pub delivery_stall_after: Duration,
}

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

impl Default for OpsConfig {
    fn default() -> OpsConfig {
        OpsConfig {
            listen: None,
            log_format: LogFormat::default(),
            token: None,
            stall_after: None,
            delivery_stall_after: ten_minutes(),
        }
    }
}

/// `[bot] retention` when it is not set.
const RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);

impl Config {
    /// How long the store remembers what no feed lists any more: `[bot] retention`, else
    /// 180 days, or `max_age` when that is longer (never shorter: see `Store::forget`).
    pub fn retention(&self) -> Duration {
        self.bot
            .retention
            .unwrap_or_else(|| RETENTION.max(self.bot.max_age))
    }

    /// How long a feed may fail without a success before `/healthz` calls it stalled:
    /// `[ops] stall_after`, else an hour, or three poll intervals when that is longer (a
    /// feed's server is someone else's, and a WordPress site down for a few minutes is
    /// ordinary; one failing for an hour is worth a look).
    pub fn feed_stall_after(&self) -> Duration {
        self.ops.stall_after.unwrap_or_else(|| {
            Duration::from_secs(3600).max(self.bot.poll_interval.saturating_mul(3))
        })
    }
}

/// How log lines are written to standard error.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people: time, level, message, fields.
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

fn socket_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    let raw = String::deserialize(d)?;
    raw.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "`[ops] listen` must be host:port such as 127.0.0.1:9090, not `{raw}`"
        ))
    })
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Config {
    /// Reads, parses and validates the file, then applies secrets from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::parse(&text, path, |name| std::env::var(name).ok())
    }

    /// Parses `text` as if read from `path`; `env` looks up environment variables.
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, key) = span.map_or((None, None), |s| locate(text, s.start));
            // A parse error may quote the value (`invalid type: integer `12345``): never
            // for a secret.
            let secret = matches!(key.as_deref(), Some("token" | "password" | "access_token"));
            let message = if secret && message != EMPTY_SECRET {
                "must be a string in quotes (the value is a secret and not shown)".to_string()
            } else {
                message
            };
            ConfigError {
                path: path.to_path_buf(),
                line,
                key,
                message,
            }
        };
        let mut config: Config =
            toml::from_str(text).map_err(|e| located(e.span(), e.message().trim().to_string()))?;
        config.path = path.to_path_buf();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if config.bot.data_dir.is_relative() {
            config.bot.data_dir = base.join(&config.bot.data_dir);
        }
        for feed in &mut config.feeds {
            let source = FeedSource::resolve(feed.url.get_ref(), &base)
                .map_err(|m| located(Some(feed.url.span()), m))?;
            feed.source = Some(source);
        }

        // Secrets: the environment wins over the file.
        if let Some(token) = env(ENV_TELEGRAM_TOKEN).filter(|t| !t.is_empty()) {
            config
                .telegram
                .get_or_insert_with(TelegramConfig::default)
                .token = Some(Secret(token));
        }
        if let Some(token) = env(ENV_OPS_TOKEN).filter(|t| !t.is_empty()) {
            config.ops.token = Some(Secret(token));
        }
        if let Some(matrix) = config.matrix.as_mut() {
            if let Some(pw) = env(ENV_MATRIX_PASSWORD).filter(|t| !t.is_empty()) {
                matrix.password = Some(Secret(pw));
            }
            if let Some(token) = env(ENV_MATRIX_ACCESS_TOKEN).filter(|t| !t.is_empty()) {
                matrix.access_token = Some(Secret(token));
            }
        }

        config
            .validate()
            .map_err(|(span, message)| located(span, message))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        if let Some(addr) = self.ops.listen
            && !addr.ip().is_loopback()
            && self.ops.token.is_none()
        {
            return Err((
                None,
                format!(
                    "`[ops] listen = \"{addr}\"` is reachable from other machines: set a token ({ENV_OPS_TOKEN}, or `[ops] token`) that every request must carry, or listen on 127.0.0.1"
                ),
            ));
        }
        if self.bot.poll_interval < Duration::from_secs(1) {
            return Err((None, "`[bot] poll_interval` must be at least 1s".into()));
        }
        if let Some(retention) = self.bot.retention
            && retention < self.bot.max_age
        {
            return Err((
                None,
                format!(
                    "`[bot] retention` ({}) must not be shorter than `max_age` ({}): an item forgotten sooner would be posted again if its feed listed it again",
                    humantime::format_duration(retention),
                    humantime::format_duration(self.bot.max_age)
                ),
            ));
        }
        let mut keys = HashSet::new();
        for feed in &self.feeds {
            if !keys.insert(feed.key()) {
                return Err((
                    Some(feed.url.span()),
                    format!("the feed `{}` is listed twice", feed.key()),
                ));
            }
        }
        for channel in &self.channels {
            for feed in channel.feeds.iter().flatten() {
                if !keys.contains(feed.get_ref().as_str()) {
                    return Err((
                        Some(feed.span()),
                        format!("`{}` is not one of the `[[feeds]]` urls", feed.get_ref()),
                    ));
                }
            }
            match channel.target().platform {
                Platform::Telegram if self.telegram_token().is_none() => {
                    return Err((
                        Some(channel.target.span()),
                        format!(
                            "`{}` needs a Telegram bot token: set {ENV_TELEGRAM_TOKEN} or `[telegram] token`",
                            channel.target()
                        ),
                    ));
                }
                Platform::Matrix if self.matrix.is_none() => {
                    return Err((
                        Some(channel.target.span()),
                        format!(
                            "`{}` needs a `[matrix]` section with the bot's account",
                            channel.target()
                        ),
                    ));
                }
                _ => {}
            }
        }
        if self.telegram.as_ref().is_some_and(|t| t.global_rate == 0) {
            return Err((None, "`[telegram] global_rate` must be at least 1".into()));
        }
        if let Some(matrix) = &self.matrix
            && matrix.password.is_none()
            && matrix.access_token.is_none()
        {
            return Err((
                Some(matrix.user.span()),
                format!(
                    "the Matrix account needs a password ({ENV_MATRIX_PASSWORD}) or an access token ({ENV_MATRIX_ACCESS_TOKEN})"
                ),
            ));
        }
        Ok(())
    }

    pub fn telegram_token(&self) -> Option<&Secret> {
        self.telegram.as_ref().and_then(|t| t.token.as_ref())
    }

    /// Whether `who` is one of `[bot] admins`.
    pub fn is_operator(&self, who: &Operator) -> bool {
        self.bot.admins.iter().any(|a| a.get_ref() == who)
    }

    /// The configured channel that lives at `chat` now; `resolve` follows the recorded
    /// moves of a channel (an alias resolved to its room, a group that became a supergroup).
    pub fn channel_at<E>(
        &self,
        chat: &Target,
        resolve: impl Fn(&Target) -> Result<Target, E>,
    ) -> Result<Option<&ChannelConfig>, E> {
        for channel in &self.channels {
            if channel.target() == chat || &resolve(channel.target())? == chat {
                return Ok(Some(channel));
            }
        }
        Ok(None)
    }

    /// The languages the configured feeds publish in (the feeds' own languages).
    pub fn feed_langs(&self) -> Vec<Lang> {
        let mut langs: Vec<Lang> = Vec::new();
        for feed in &self.feeds {
            if !langs.contains(&feed.lang) {
                langs.push(feed.lang.clone());
            }
        }
        langs
    }
}

/// The line number (1-based) of byte `offset` and the key written on that line, if any.
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('#'));
    (Some(line_no), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/herald/herald.toml"), |_| None)
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = parse("[[feeds]]\nurl = \"feeds/de.xml\"\nlang = \"de-DE\"\n[[channels]]\ntarget = \"console\"\n").unwrap();
        assert_eq!(c.bot.data_dir, PathBuf::from("/etc/herald/data"));
        assert_eq!(c.bot.poll_interval, Duration::from_secs(300));
        assert_eq!(c.feeds[0].lang.as_str(), "de");
        assert_eq!(
            c.feeds[0].source(),
            &FeedSource::File(PathBuf::from("/etc/herald/feeds/de.xml"))
        );
        assert_eq!(c.channels[0].langs, LangSet::All);
    }

    #[test]
    fn unknown_keys_name_line_and_key() {
        let e = parse("[bot]\npoll_interval = \"5m\"\npoll_intervall = \"5m\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert_eq!(e.key.as_deref(), Some("poll_intervall"));
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let e = parse("[bot]\n\npoll_interval = \"five minutes\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("poll_interval")),
            "{e}"
        );
        let e = parse("[[channels]]\ntarget = \"telegram:nochannel\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("target")), "{e}");
        assert!(e.message.contains("telegram:@channelname"), "{e}");
        let e = parse("[[feeds]]\nurl = \"x\"\nlang = \"german\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn retention_defaults_to_half_a_year_or_max_age_and_may_not_be_set_shorter_than_max_age() {
        let c = parse("[bot]\n").unwrap();
        assert_eq!(c.retention(), Duration::from_secs(180 * 24 * 3600));
        // Unset, it follows a longer max_age instead of refusing the configuration.
        let c = parse("[bot]\nmax_age = \"365days\"\n").unwrap();
        assert_eq!(c.retention(), Duration::from_secs(365 * 24 * 3600));
        let e = parse("[bot]\nmax_age = \"30days\"\nretention = \"20days\"\n").unwrap_err();
        assert!(e.message.contains("`[bot] retention` (20days)"), "{e}");
        assert!(e.message.contains("`max_age` (30days)"), "{e}");
        let c = parse("[bot]\nmax_age = \"1s\"\nretention = \"2s\"\n").unwrap();
        assert_eq!(c.retention(), Duration::from_secs(2));
    }

    #[test]
    fn telegram_channels_need_a_token_which_env_supplies() {
        let text = "[[channels]]\ntarget = \"telegram:@news_channel\"\n";
        let e = parse(text).unwrap_err();
        assert!(e.message.contains(ENV_TELEGRAM_TOKEN), "{e}");
        let c = Config::parse(text, Path::new("h.toml"), |k| {
            (k == ENV_TELEGRAM_TOKEN).then(|| "123:abc".into())
        })
        .unwrap();
        assert_eq!(c.telegram_token().unwrap().expose(), "123:abc");
        assert!(
            !format!("{c:?}").contains("123:abc"),
            "debug output must hide the token"
        );
    }

    #[test]
    fn an_empty_secret_in_the_file_is_an_error_naming_its_line() {
        let e = parse("[ops]\nlisten = \"127.0.0.1:9090\"\ntoken = \"\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("token")), "{e}");
        assert!(
            e.to_string()
                .contains("herald.toml, line 3, key `token`: is empty"),
            "{e}"
        );
        let e = parse("[telegram]\ntoken = \"  \"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("token")), "{e}");
        for key in ["password", "access_token"] {
            let e = parse(&format!(
                "[matrix]\nhomeserver = \"https://m.example.org\"\nuser = \"@h:example.org\"\n{key} = \"\"\n"
            ))
            .unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (Some(4), Some(key)), "{e}");
            assert!(e.message.starts_with("is empty"), "{e}");
        }
        // An empty environment variable counts as unset, so the file's value stands.
        let c = Config::parse("[ops]\ntoken = \"s3cret\"\n", Path::new("h.toml"), |k| {
            (k == ENV_OPS_TOKEN).then(String::new)
        })
        .unwrap();
        assert_eq!(c.ops.token.unwrap().expose(), "s3cret");
    }

    #[test]
    fn channel_feeds_must_exist_and_admins_must_be_well_formed() {
        let e = parse("[[feeds]]\nurl = \"a.xml\"\nlang = \"en\"\n[[channels]]\ntarget = \"console\"\nfeeds = [\"b.xml\"]\n").unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        let e = parse("[bot]\nadmins = [\"bob\"]\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let c = parse("[bot]\nadmins = [\"telegram:42\", \"matrix:@op:example.org\"]\n").unwrap();
        assert!(c.is_operator(&Operator::Telegram(42)));
        assert!(c.is_operator(&Operator::Matrix("@op:example.org".into())));
        assert!(!c.is_operator(&Operator::Telegram(43)));
    }

    #[test]
    fn stall_thresholds_default_to_an_hour_for_feeds_and_ten_minutes_for_delivery() {
        let c = parse("").unwrap();
        assert_eq!(c.feed_stall_after(), Duration::from_secs(3600));
        assert_eq!(c.ops.delivery_stall_after, Duration::from_secs(600));
        // A feed polled every 30 minutes gets three polls before it counts as stalled.
        let c = parse("[bot]\npoll_interval = \"30m\"\n").unwrap();
        assert_eq!(c.feed_stall_after(), Duration::from_secs(3 * 1800));
        let c = parse("[ops]\nstall_after = \"2h\"\ndelivery_stall_after = \"5m\"\n").unwrap();
        assert_eq!(c.feed_stall_after(), Duration::from_secs(7200));
        assert_eq!(c.ops.delivery_stall_after, Duration::from_secs(300));
    }

    #[test]
    fn typed_values_are_checked_once_with_their_line() {
        let e = parse("[ops]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("host:port"), "{e}");
        let c = parse("[ops]\nlisten = \"127.0.0.1:9090\"\n").unwrap();
        assert_eq!(c.ops.listen, Some("127.0.0.1:9090".parse().unwrap()));
        let e = parse("[telegram]\napi_url = \"not a url\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("api_url")),
            "{e}"
        );
        let e = parse("[[feeds]]\nurl = \"ftp://x/feed\"\nlang = \"en\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let matrix = |homeserver: &str, user: &str| {
            parse(&format!(
                "[matrix]\nhomeserver = \"{homeserver}\"\nuser = \"{user}\"\npassword = \"x\"\n"
            ))
        };
        let c = matrix("https://matrix.example.org", "@herald:example.org:8448").unwrap();
        let m = c.matrix.unwrap();
        assert_eq!(m.homeserver.as_str(), "https://matrix.example.org/");
        assert_eq!(m.user.get_ref().as_str(), "@herald:example.org:8448");
        let e = matrix("matrix.example.org", "@herald:example.org").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("homeserver")),
            "{e}"
        );
        assert!(e.message.contains("is not a URL"), "{e}");
        for bad in [
            "herald",
            "herald:example.org",
            "@herald",
            "@:example.org",
            "@herald:",
            "@her ald:x",
        ] {
            let e = matrix("https://matrix.example.org", bad).unwrap_err();
            assert_eq!(e.line, Some(3), "{bad}: {e}");
            assert!(e.message.contains("is not a Matrix user id"), "{bad}: {e}");
        }
        let c = parse("[telegram]\nglobal_rate = 20\n").unwrap();
        let t = c.telegram.unwrap();
        assert_eq!(
            (t.global_rate, t.chat_interval, t.api_url.as_str()),
            (20, Duration::from_secs(1), "https://api.telegram.org/")
        );
    }
}

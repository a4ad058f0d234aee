//! The status page operators open in a browser (`GET /` on `[ops] listen`): each feed with
//! its last read, last error and next poll; each configured channel with its state and its
//! queue; the count of private subscribers; the latest articles and where each went. Plain
//! server-rendered HTML, readable without JavaScript, in the browser's language where the bot
//! speaks it. Private subscribers' chat ids never appear, only counts; every text from a feed
//! is escaped.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::article::{Lang, LangSet, Platform, Target};
use crate::config::Config;
use crate::i18n::{self, Arg, Msg};
use crate::metrics::Metrics;
use crate::sink::{ChatWaiting, WaitState};
use crate::store::{Standing, Store, StoreError};

/// Articles listed on the page.
const LATEST: usize = 20;

/// What the page shows, read from the running bot.
pub struct PageInput<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub metrics: &'a Metrics,
    pub waiting: Vec<ChatWaiting>,
    pub started: SystemTime,
}

/// The first language of an `Accept-Language` header that the bot speaks, else English.
pub fn page_lang(accept_language: Option<&str>) -> Lang {
    let mut wanted: Vec<(f32, Lang)> = accept_language
        .unwrap_or_default()
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let lang = Lang::parse(pieces.next()?)?;
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=")?.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, lang))
        })
        .collect();
    wanted.sort_by(|a, b| b.0.total_cmp(&a.0));
    wanted
        .into_iter()
        .map(|(_, lang)| lang)
        .find(i18n::speaks)
        .unwrap_or_else(|| Lang::parse("en").expect("a language code"))
}

/// The page as HTML.
pub fn render(input: &PageInput<'_>, lang: &Lang) -> Result<String, StoreError> {
    let t = |msg: Msg| i18n::text(lang, msg);
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let mut out = String::new();
    let title = e(t(Msg::PageTitle));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let uptime = input.started.elapsed().unwrap_or_default();
    let uptime = humantime::format_duration(Duration::from_secs(uptime.as_secs())).to_string();
    let summary = i18n::format(
        lang,
        Msg::PageSummary,
        &[
            ("version", Arg::Text(env!("CARGO_PKG_VERSION"))),
            ("uptime", Arg::Text(&uptime)),
            ("queued", input.store.outbox_len().into()),
            ("aside", input.store.dead_count().into()),
        ],
    );
    let _ = writeln!(out, "<p id=\"summary\">{}</p>", e(&summary));

    // Feeds.
    let failing = input.metrics.failing();
    let never = t(Msg::PageNever);
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"feeds\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        e(t(Msg::PageFeeds)),
        e(t(Msg::PageFeed)),
        e(t(Msg::PageLastRead)),
        e(t(Msg::PageLastError)),
        e(t(Msg::PageNextPoll)),
    );
    for feed in &input.config.feeds {
        let state = input.store.feed_state(feed.key())?;
        let last = state.as_ref().and_then(|s| s.last_success);
        let next = last.map(|l| {
            l + chrono::Duration::from_std(input.config.bot.poll_interval).unwrap_or_default()
        });
        let error = failing.get(feed.key()).map(String::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if error.is_empty() { "ok" } else { "failing" },
            e(feed.name.as_deref().unwrap_or(feed.key())),
            time(last, never),
            e(error),
            time(next, never),
        );
    }
    out.push_str("</table>\n");

    // Channels.
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"channels\">\n<tr><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        e(t(Msg::PageChannels)),
        e(t(Msg::PageChannel)),
        e(t(Msg::PageState)),
        e(t(Msg::PageQueued)),
    );
    let channels: Vec<Target> = input
        .config
        .channels
        .iter()
        .map(|c| input.store.resolve(c.target()))
        .collect::<Result<_, _>>()?;
    for (channel, target) in input.config.channels.iter().zip(&channels) {
        let waiting = input
            .waiting
            .iter()
            .find(|w| w.configured && &w.target == target);
        let state = match waiting.map(|w| w.state) {
            None => t(Msg::PageFine).to_owned(),
            Some(state) => {
                let word = t(match state {
                    WaitState::Joining => Msg::PageJoining,
                    WaitState::Retrying => Msg::PageRetrying,
                    WaitState::Refused => Msg::PageRefused,
                });
                match waiting.and_then(|w| w.reason.as_deref()) {
                    Some(reason) => format!("{word}: {reason}"),
                    None => word.to_owned(),
                }
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&channel.target().to_string()),
            e(&state),
            input.store.queued_for(target),
        );
    }
    out.push_str("</table>\n");
    let subscribers = input.store.subscribers()?;
    let count = |platform: Platform| {
        subscribers
            .iter()
            .filter(|(t, _)| t.platform == platform && !channels.contains(t))
            .count()
    };
    let line = i18n::format(
        lang,
        Msg::PageSubscribers,
        &[
            ("telegram", count(Platform::Telegram).into()),
            ("matrix", count(Platform::Matrix).into()),
        ],
    );
    let _ = writeln!(out, "<p id=\"subscribers\">{}</p>", e(&line));

    // The latest articles and where each went.
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"articles\">\n<tr><th>{}</th><th>{}</th></tr>\n",
        e(t(Msg::PageArticles)),
        e(t(Msg::PageArticle)),
        e(t(Msg::PageWhere)),
    );
    for article in input.store.latest(&LangSet::All, LATEST)? {
        let mut went = Vec::new();
        for target in &channels {
            if let Some(standing) = input.store.delivery_state(target, &article)? {
                let word = t(match standing {
                    Standing::Sent => Msg::PageSent,
                    Standing::Queued => Msg::PageQueued,
                    Standing::SetAside => Msg::PageSetAside,
                });
                went.push(format!("{}: {}", e(&target.to_string()), e(word)));
            }
        }
        let private = input
            .store
            .posted_to(&article.id)?
            .iter()
            .filter(|t| !channels.contains(t))
            .count();
        if private > 0 {
            let words = i18n::format(lang, Msg::PagePrivate, &[("count", private.into())]);
            went.push(format!("{}: {}", e(&words), e(t(Msg::PageSent))));
        }
        let title = e(&article.title);
        let headline = match &article.link {
            Some(link) => format!(
                "<a href=\"{}\">{title}</a>",
                html_escape::encode_double_quoted_attribute(link)
            ),
            None => title,
        };
        let _ = writeln!(
            out,
            "<tr><td>{headline} <small>[{}] {}</small></td><td>{}</td></tr>",
            article.lang,
            time(article.published.or(article.updated), ""),
            went.join("<br>"),
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    Ok(out)
}

fn time(t: Option<DateTime<Utc>>, never: &str) -> String {
    match t {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => html_escape::encode_text(never).into_owned(),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
tr.failing td{background:#fdd}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_speaks_the_first_language_the_browser_asks_for_that_the_bot_knows() {
        let code = |header: Option<&str>| page_lang(header).as_str().to_owned();
        assert_eq!(code(Some("de-DE,de;q=0.9,en;q=0.8")), "de");
        assert_eq!(code(Some("pl;q=0.9, uk;q=0.8, en;q=0.5")), "uk");
        assert_eq!(code(Some("en;q=0.2, ru;q=0.9")), "ru");
        assert_eq!(code(Some("pl, cs")), "en");
        assert_eq!(code(None), "en");
    }
}

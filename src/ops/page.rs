//! The status page operators open in a browser (`GET /` on `[ops] listen`): a `Snapshot`
//! (see `status`) as HTML — each feed with its state, articles, last read, last error and
//! next poll; each configured channel with its state (failing with the reason, waiting to
//! be joined) and its queue; the count of private subscribers; the latest articles and where
//! each went. Plain server-rendered HTML, readable without JavaScript, in the browser's
//! language where the bot speaks it. Private subscribers' chat ids never appear, only
//! counts; every text from a feed is escaped and only http(s) links are links.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::article::Lang;
use crate::i18n::{self, Msg};
use crate::ops::status::{ChannelState, REASON_MAX, Snapshot};
use crate::store::Standing;
use crate::text::truncate_words;

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
pub fn render(s: &Snapshot, lang: &Lang) -> String {
    let t = |msg: Msg| i18n::text(lang, msg);
    let e = |s: &str| html_escape::encode_text(s).into_owned();
    let mut out = String::new();
    let title = e(t(Msg::PageTitle));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(out, "<p id=\"summary\">{}</p>", e(&s.summary(lang)));
    // What `/healthz` reports as stalled, first: what an operator must look at.
    if !s.stalled.is_empty() {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<ul id=\"stalled\">",
            e(t(Msg::PageStalled))
        );
        for line in &s.stalled {
            let _ = writeln!(out, "<li>{}</li>", e(line));
        }
        out.push_str("</ul>\n");
    }

    // Feeds.
    let never = t(Msg::PageNever);
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"feeds\">\n<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>\n",
        e(t(Msg::PageFeeds)),
        e(t(Msg::PageFeed)),
        e(t(Msg::PageState)),
        e(t(Msg::PageFeedArticles)),
        e(t(Msg::PageLastRead)),
        e(t(Msg::PageLastError)),
        e(t(Msg::PageNextPoll)),
    );
    for feed in &s.feeds {
        let error = feed.last_error.as_ref().map_or(String::new(), |error| {
            format!(
                "{}<br>{}",
                time(Some(error.at), ""),
                e(&truncate_words(&error.reason, REASON_MAX))
            )
        });
        let class = if feed.failing { "failing" } else { "ok" };
        let state = feed.state_text(lang);
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{error}</td><td>{}</td></tr>",
            e(&feed.name),
            e(state),
            feed.articles,
            time(feed.last_success, never),
            time(feed.next_poll, never),
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
    for channel in &s.channels {
        let class = match channel.state {
            ChannelState::Fine => "ok",
            ChannelState::Failing(_) => "failing",
            ChannelState::Waiting(..) => "waiting",
            ChannelState::Paused => "paused",
        };
        let name = if channel.added {
            format!("{} ({})", channel.target, t(Msg::PageAdded))
        } else {
            channel.target.to_string()
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&name),
            e(&channel.state.text(lang)),
            channel.queued,
        );
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<p id=\"subscribers\">{}</p>",
        e(&s.subscribers_text(lang))
    );

    // The latest articles and where each went.
    let _ = write!(
        out,
        "<h2>{}</h2>\n<table id=\"articles\">\n<tr><th>{}</th><th>{}</th></tr>\n",
        e(t(Msg::PageArticles)),
        e(t(Msg::PageArticle)),
        e(t(Msg::PageWhere)),
    );
    for article in &s.latest {
        let mut went = Vec::new();
        for (channel, standing) in s.channels.iter().zip(&article.channels) {
            if let Some(standing) = standing {
                let word = t(match standing {
                    Standing::Sent => Msg::PageSent,
                    Standing::Queued => Msg::PageQueued,
                    Standing::SetAside => Msg::PageSetAside,
                });
                went.push(format!("{}: {}", e(&channel.target.to_string()), e(word)));
            }
        }
        if article.private > 0 {
            let words = i18n::format(lang, Msg::PagePrivate, &[("count", article.private.into())]);
            went.push(format!("{}: {}", e(&words), e(t(Msg::PageSent))));
        }
        let title = e(&article.title);
        // Only web links are links: a feed's `javascript:` link stays text.
        let headline = match &article.link {
            Some(link) if link.starts_with("https://") || link.starts_with("http://") => format!(
                "<a href=\"{}\" rel=\"noreferrer\">{title}</a>",
                html_escape::encode_double_quoted_attribute(link)
            ),
            _ => title,
        };
        let _ = writeln!(
            out,
            "<tr><td>{headline} <small>[{}] {}</small></td><td>{}</td></tr>",
            article.lang,
            time(article.published, ""),
            went.join("<br>"),
        );
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

fn time(t: Option<DateTime<Utc>>, never: &str) -> String {
    match t {
        Some(t) => crate::ops::status::when(t),
        None => html_escape::encode_text(never).into_owned(),
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:70em}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
tr.failing td{background:#fdd}\
tr.waiting td{background:#ffd}";

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

    #[test]
    fn feed_text_stays_text_and_only_web_links_are_links() {
        use crate::article::Target;
        use crate::ops::status::{ArticleStatus, ChannelStatus, FeedStatus, Subscribers};
        use crate::store::Failure;
        use chrono::TimeZone;
        let t = Utc.with_ymd_and_hms(2026, 1, 31, 10, 0, 0).unwrap();
        let article = |title: &str, link: &str, standing| ArticleStatus {
            title: title.into(),
            link: Some(link.into()),
            lang: Lang::parse("en").unwrap(),
            published: Some(t),
            channels: vec![standing],
            private: 2,
        };
        let s = Snapshot {
            version: "1.0",
            uptime: std::time::Duration::from_secs(3700),
            feeds: vec![FeedStatus {
                name: "<script>alert(1)</script>".into(),
                last_success: None,
                last_error: Some(Failure {
                    at: t,
                    reason: "bad <img src=x onerror=alert(3)>".into(),
                }),
                failing: true,
                next_poll: Some(t),
                articles: 0,
            }],
            channels: vec![ChannelStatus {
                target: Target::console(),
                state: ChannelState::Failing("the disk is <full>".into()),
                queued: 4,
                added: false,
            }],
            subscribers: Subscribers {
                telegram: 2,
                matrix: 0,
            },
            queued: 4,
            set_aside: 0,
            latest: vec![
                article(
                    "Fish & \"Chips\" </td></table><b>",
                    "https://example.org/a?x=1&y=\"2\"",
                    Some(Standing::Sent),
                ),
                article("Evil", "javascript:alert(4)", None),
            ],
            stalled: vec!["feed <b>x</b>: failing for 2h: HTTP 500".into()],
        };
        let html = render(&s, &Lang::parse("en").unwrap());
        for hostile in [
            "<script>",
            "<img",
            "</td></table><b>",
            "javascript:",
            "<full>",
        ] {
            assert!(!html.contains(hostile), "{hostile} in:\n{html}");
        }
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://example.org/a?x=1&amp;y=&quot;2&quot;\" rel=\"noreferrer\">Fish &amp; \"Chips\" &lt;/td&gt;&lt;/table&gt;&lt;b&gt;</a>"),
            "{html}"
        );
        assert!(html.contains("<td>Evil <small>"), "{html}");
        assert!(
            html.contains("<h2>Needs attention</h2>\n<ul id=\"stalled\">\n<li>feed &lt;b&gt;x&lt;/b&gt;: failing for 2h: HTTP 500</li>\n</ul>"),
            "{html}"
        );
        assert!(
            html.contains("<tr class=\"failing\"><td>console</td><td>failing: the disk is &lt;full&gt;</td><td>4</td></tr>"),
            "{html}"
        );
        assert!(
            html.contains("console: sent<br>2 private chats: sent"),
            "{html}"
        );
        assert!(html.contains("running for 1h 1m 40s"), "{html}");
    }
}

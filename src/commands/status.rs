//! `status`: the running bot as operators see it — what the status page shows, but the
//! latest articles: what `/healthz` calls stalled (first), feeds, channels, the private subscribers (counts only), the outbox,
//! version and uptime — in the operator's language. Only for operators (`[bot] admins`), in
//! a private chat with the bot or, on Matrix, any room they write in (a Telegram group would
//! show it to every member: there the operator is asked to use a private chat). Everyone
//! else gets one neutral sentence.

use super::{Context, Reply, Request, Span};
use crate::article::Lang;
use crate::i18n::{self, Msg};
use crate::ops::status::{REASON_MAX, Snapshot, when};
use crate::store::StoreError;
use crate::text::truncate_words;

pub fn run(ctx: &Context<'_>, req: &Request) -> Result<Reply, StoreError> {
    let lang = ctx.reply_lang(req, &ctx.settings(&req.chat)?);
    if let Some(refused) = super::admin::refusal(req, &lang) {
        return Ok(refused);
    }
    let Some(watch) = ctx.watch else {
        return Ok(Reply::text(i18n::text(&lang, Msg::InternalError)));
    };
    Ok(reply(&watch.snapshot()?, &lang))
}

/// The snapshot as a chat message: a line per feed and per channel.
pub fn reply(s: &Snapshot, lang: &Lang) -> Reply {
    let t = |msg: Msg| i18n::text(lang, msg);
    let when_or_never = |at| match at {
        Some(at) => when(at),
        None => t(Msg::PageNever).to_string(),
    };
    let mut lines = vec![
        vec![Span::Bold(t(Msg::PageTitle).into())],
        vec![Span::Text(s.summary(lang))],
        vec![],
    ];
    // What `/healthz` calls stalled comes first, as on the status page.
    if !s.stalled.is_empty() {
        lines.push(vec![Span::Bold(t(Msg::PageStalled).into())]);
        for stall in &s.stalled {
            lines.push(vec![Span::Text(format!("⚠ {stall}"))]);
        }
        lines.push(vec![]);
    }
    lines.push(vec![Span::Bold(t(Msg::PageFeeds).into())]);
    for feed in &s.feeds {
        let facts = [
            feed.state_text(lang).to_string(),
            format!("{}: {}", t(Msg::PageFeedArticles), feed.articles),
            format!(
                "{}: {}",
                t(Msg::PageLastRead),
                when_or_never(feed.last_success)
            ),
            format!(
                "{}: {}",
                t(Msg::PageNextPoll),
                when_or_never(feed.next_poll)
            ),
        ];
        lines.push(vec![
            Span::Text("• ".into()),
            Span::Bold(feed.name.clone()),
            Span::Text(format!(" — {}", facts.join(" · "))),
        ]);
        if let Some(error) = &feed.last_error {
            lines.push(vec![Span::Text(format!(
                "   {} ({}): {}",
                t(Msg::PageLastError),
                when(error.at),
                truncate_words(&error.reason, REASON_MAX)
            ))]);
        }
    }
    lines.push(vec![]);
    lines.push(vec![Span::Bold(t(Msg::PageChannels).into())]);
    for channel in &s.channels {
        lines.push(vec![
            Span::Text("• ".into()),
            Span::Bold(channel.target.to_string()),
            Span::Text(format!(
                " — {} · {}: {}{}",
                channel.state.text(lang),
                t(Msg::PageQueued),
                channel.queued,
                if channel.added {
                    format!(" · {}", t(Msg::PageAdded))
                } else {
                    String::new()
                }
            )),
        ]);
    }
    lines.push(vec![Span::Text(s.subscribers_text(lang))]);
    Reply::from_lines(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::Target;
    use crate::ops::status::{ChannelState, ChannelStatus, FeedStatus, Subscribers};
    use crate::store::Failure;
    use chrono::{TimeZone, Utc};

    #[test]
    fn the_reply_names_each_feed_and_channel_with_its_state_in_the_operators_language() {
        let t = |h| Utc.with_ymd_and_hms(2026, 1, 31, h, 5, 0).unwrap();
        let s = Snapshot {
            version: "1.2.3",
            uptime: std::time::Duration::from_secs(2 * 3600 + 60),
            feeds: vec![FeedStatus {
                name: "Nachrichten <b>".into(),
                last_success: Some(t(11)),
                last_error: Some(Failure {
                    at: t(12),
                    reason: "the server answered HTTP 503".into(),
                }),
                failing: true,
                next_poll: None,
                articles: 7,
            }],
            channels: vec![ChannelStatus {
                target: "telegram:@news_channel".parse::<Target>().unwrap(),
                state: ChannelState::Failing("the chat is unreachable".into()),
                queued: 2,
                added: false,
            }],
            subscribers: Subscribers {
                telegram: 4,
                matrix: 1,
            },
            queued: 3,
            set_aside: 0,
            latest: vec![],
            stalled: vec![],
        };
        let text = crate::render::reply_plain(&reply(&s, &Lang::parse("de").unwrap()));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Herald-Status");
        assert_eq!(
            lines[1],
            "Version 1.2.3, läuft seit 2h 1m. Wartende Beiträge: 3, zurückgestellt: 0."
        );
        assert_eq!(
            lines[4],
            "• Nachrichten <b> — gestört · Artikel: 7 · Zuletzt gelesen: 2026-01-31 11:05:00 UTC · Nächster Abruf: nie"
        );
        assert_eq!(
            lines[5],
            "   Letzter Fehler (2026-01-31 12:05:00 UTC): the server answered HTTP 503"
        );
        assert_eq!(
            lines[8],
            "• telegram:@news_channel — gestört: the chat is unreachable · Wartend: 2"
        );
        assert_eq!(
            lines[9],
            "Private Abonnements: 4 auf Telegram, 1 auf Matrix."
        );
        // Feed names are escaped like every other text in a Telegram reply.
        let html = crate::render::reply_telegram(&reply(&s, &Lang::parse("en").unwrap()));
        assert!(html.contains("<b>Nachrichten &lt;b&gt;</b>"), "{html}");

        // What `/healthz` calls stalled comes right after the summary.
        let stalled = Snapshot {
            stalled: vec!["feed Nachrichten <b>: failing for 2h: HTTP 503".into()],
            ..s
        };
        let text = crate::render::reply_plain(&reply(&stalled, &Lang::parse("en").unwrap()));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "Needs attention", "{text}");
        assert_eq!(lines[4], "⚠ feed Nachrichten <b>: failing for 2h: HTTP 503");
        assert_eq!(lines[5], "");
        assert_eq!(lines[6], "Feeds");
    }
}

//! Articles and command replies turned into messages, per platform: escaped HTML for
//! Telegram (within its 4096-unit limit, counted in UTF-16 as Telegram counts), plain body
//! plus HTML for Matrix, and a readable block for the console. Feed text is always escaped;
//! the only markup in a message is the markup written here.

use crate::article::{Article, Lang};
use crate::commands::{Reply, Span};
use crate::i18n::{self, Msg};
use crate::text::{escape_html, truncate_words, utf16_len};

/// Telegram's limit on a message's text after entity parsing.
pub const TELEGRAM_MAX: usize = 4096;
/// Room kept below the limit, for the renderer's own separators and any miscount.
const TELEGRAM_MARGIN: usize = 96;
/// Longest title shown before it is shortened.
const TITLE_MAX: usize = 512;

/// The language of the link words under an article: the chat's (its first language) when
/// the bot speaks it; in a chat of every language, the article's own; else English.
fn link_lang(article: &Article, chat_lang: Option<&Lang>) -> Lang {
    chat_lang
        .filter(|l| i18n::speaks(l))
        .or(Some(&article.lang).filter(|l| i18n::speaks(l)))
        .cloned()
        .unwrap_or_else(|| Lang::parse("en").expect("valid"))
}

/// The parts of a post, shortened to fit `max` visible UTF-16 units.
struct Parts {
    title: String,
    excerpt: String,
    link: Option<(String, String)>,
}

fn parts(article: &Article, chat_lang: Option<&Lang>, max: usize) -> Parts {
    let title = truncate_words(&article.title, TITLE_MAX);
    let read_more = i18n::text(&link_lang(article, chat_lang), Msg::ReadMore).to_string();
    let link = article.link.clone().map(|url| (url, read_more));
    let fixed = utf16_len(&title) + link.as_ref().map_or(0, |(_, words)| utf16_len(words)) + 4;
    let excerpt = truncate_words(&article.excerpt, max.saturating_sub(fixed));
    Parts {
        title,
        excerpt,
        link,
    }
}

/// An article as Telegram HTML: bold title, excerpt, a link in the chat's words.
pub fn telegram_post(article: &Article, chat_lang: Option<&Lang>) -> String {
    let p = parts(article, chat_lang, TELEGRAM_MAX - TELEGRAM_MARGIN);
    let mut out = format!("<b>{}</b>", escape_html(&p.title));
    if !p.excerpt.is_empty() {
        out.push_str("\n\n");
        out.push_str(&escape_html(&p.excerpt));
    }
    if let Some((url, words)) = &p.link {
        out.push_str(&format!(
            "\n\n<a href=\"{}\">{}</a>",
            escape_html(url),
            escape_html(words)
        ));
    }
    out
}

/// An article for Matrix: a plain `body` and an HTML `formatted_body`.
pub fn matrix_post(article: &Article, chat_lang: Option<&Lang>) -> (String, String) {
    let p = parts(article, chat_lang, 16_000);
    let mut body = p.title.clone();
    let mut html = format!("<strong>{}</strong>", escape_html(&p.title));
    if !p.excerpt.is_empty() {
        body.push_str(&format!("\n\n{}", p.excerpt));
        html.push_str(&format!("<br><br>{}", escape_html(&p.excerpt)));
    }
    if let Some((url, words)) = &p.link {
        body.push_str(&format!("\n\n{words}: {url}"));
        html.push_str(&format!(
            "<br><br><a href=\"{}\">{}</a>",
            escape_html(url),
            escape_html(words)
        ));
    }
    (body, html)
}

/// An article for the console: a readable block.
pub fn console_post(article: &Article) -> String {
    let mut out = format!("━━━ {} [{}]\n", article.title, article.lang);
    if let Some(date) = article.published.or(article.updated) {
        out.push_str(&format!("{}\n", date.format("%Y-%m-%d %H:%M UTC")));
    }
    if !article.excerpt.is_empty() {
        out.push_str(&format!("\n{}\n", article.excerpt));
    }
    if let Some(link) = &article.link {
        out.push_str(&format!("\n{link}\n"));
    }
    out
}

/// An article whose text changed after it was posted, for the console: the post again,
/// marked as an update.
pub fn console_update(article: &Article) -> String {
    format!("✎ updated {}", console_post(article))
}

/// A command reply as Telegram HTML.
pub fn reply_telegram(reply: &Reply) -> String {
    reply_html(reply, "\n")
}

/// A command reply cut into parts Telegram takes (each at most `TELEGRAM_MAX` UTF-16 units
/// of HTML, so surely within the limit on the text shown), between lines; a single line
/// longer than that is cut at a word. The buttons go with the last part.
pub fn split_reply_telegram(reply: &Reply) -> Vec<Reply> {
    let mut parts: Vec<Reply> = Vec::new();
    let mut current = Reply::default();
    let mut size = 0;
    for line in &reply.lines {
        let mut line = line.clone();
        let mut len = utf16_len(&reply_html(&Reply::from_lines(vec![line.clone()]), "\n"));
        if len > TELEGRAM_MAX {
            // One overlong line: kept as plain text, cut to fit.
            let text = reply_plain(&Reply::from_lines(vec![line]));
            let mut max = TELEGRAM_MAX;
            let mut cut = truncate_words(&text, max);
            while utf16_len(&escape_html(&cut)) > TELEGRAM_MAX {
                max /= 2;
                cut = truncate_words(&text, max);
            }
            len = utf16_len(&escape_html(&cut));
            line = vec![Span::Text(cut)];
        }
        let joined = if current.lines.is_empty() {
            len
        } else {
            size + 1 + len
        };
        if joined > TELEGRAM_MAX && !current.lines.is_empty() {
            parts.push(std::mem::take(&mut current));
            size = len;
        } else {
            size = joined;
        }
        current.lines.push(line);
    }
    current.buttons = reply.buttons.clone();
    parts.push(current);
    parts
}

/// A command reply for Matrix: plain body and HTML.
pub fn reply_matrix(reply: &Reply) -> (String, String) {
    (reply_plain(reply), reply_html(reply, "<br>"))
}

fn reply_html(reply: &Reply, newline: &str) -> String {
    let lines: Vec<String> = reply
        .lines
        .iter()
        .map(|line| {
            line.iter()
                .map(|span| match span {
                    Span::Text(t) => escape_html(t),
                    Span::Bold(t) => format!("<b>{}</b>", escape_html(t)),
                    Span::Link { text, url } => {
                        format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(text))
                    }
                })
                .collect()
        })
        .collect();
    lines.join(newline)
}

/// A command reply as plain text (links written out).
pub fn reply_plain(reply: &Reply) -> String {
    let lines: Vec<String> = reply
        .lines
        .iter()
        .map(|line| {
            line.iter()
                .map(|span| match span {
                    Span::Text(t) | Span::Bold(t) => t.clone(),
                    Span::Link { text, url } => format!("{text} ({url})"),
                })
                .collect()
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn article(title: &str, excerpt: &str, lang: &str) -> Article {
        let lang = Lang::parse(lang).unwrap();
        Article {
            id: Article::make_id(&lang, "p1"),
            post: "p1".into(),
            lang,
            title: title.into(),
            link: Some("https://example.org/a?x=1&y=\"2\"".into()),
            excerpt: excerpt.into(),
            published: Some(Utc::now()),
            updated: None,
            authors: vec![],
            categories: vec![],
            image: None,
            feed: "f".into(),
            seen: Utc::now(),
        }
    }

    /// The text Telegram would show: tags removed, entities decoded.
    fn visible(html: &str) -> String {
        crate::text::decode_entities(
            &html
                .replace("<b>", "")
                .replace("</b>", "")
                .replace("</a>", "")
                .split("<a href=")
                .map(|s| {
                    s.split_once('>')
                        .map_or(s.to_string(), |(_, rest)| rest.to_string())
                })
                .collect::<Vec<_>>()
                .join(""),
        )
    }

    #[test]
    fn telegram_escapes_feed_text_and_keeps_only_its_own_tags() {
        let a = article(
            "<b>Bold</b> & <script>alert(1)</script>",
            "Fish & Chips <3",
            "en",
        );
        let html = telegram_post(&a, None);
        assert!(
            html.starts_with(
                "<b>&lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;</b>"
            ),
            "{html}"
        );
        assert!(html.contains("Fish &amp; Chips &lt;3"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://example.org/a?x=1&amp;y=&quot;2&quot;\">Read more</a>"
            ),
            "{html}"
        );
    }

    #[test]
    fn telegram_posts_fit_the_limit_and_keep_the_link() {
        let long = format!("{}{}", "Слово ".repeat(2000), "👍🏽".repeat(500));
        let a = article(&"🇺🇦 Заголовок ".repeat(80), &long, "ru");
        let html = telegram_post(&a, None);
        let shown = visible(&html);
        assert!(
            utf16_len(&shown) <= TELEGRAM_MAX,
            "{} units",
            utf16_len(&shown)
        );
        assert!(
            html.ends_with(">Читать дальше</a>"),
            "link kept: {}",
            &html[html.len() - 80..]
        );
        assert!(shown.contains('…'));
    }

    #[test]
    fn link_words_follow_the_chat_language_else_the_article_language() {
        let de = article("Titel", "Text", "de");
        assert!(telegram_post(&de, None).contains(">Weiterlesen</a>"));
        let uk = Lang::parse("uk").unwrap();
        assert!(telegram_post(&de, Some(&uk)).contains(">Читати далі</a>"));
        let es = article("Título", "Texto", "es");
        let fr = Lang::parse("fr").unwrap();
        assert!(telegram_post(&es, Some(&fr)).contains(">Lire la suite</a>"));
    }

    #[test]
    fn matrix_body_is_plain_and_html_is_escaped() {
        let a = article("@room <i>hi</i>", "x & y", "en");
        let (body, html) = matrix_post(&a, None);
        assert!(
            body.starts_with("@room <i>hi</i>\n\nx & y\n\nRead more: https://example.org/a"),
            "{body}"
        );
        assert!(
            html.contains("<strong>@room &lt;i&gt;hi&lt;/i&gt;</strong>"),
            "{html}"
        );
    }

    #[test]
    fn replies_render_per_platform() {
        let reply = Reply::from_lines(vec![
            vec![Span::Bold("A & B".into())],
            vec![
                Span::Text("• ".into()),
                Span::Link {
                    text: "<t>".into(),
                    url: "https://e.org/?a=1&b=2".into(),
                },
            ],
        ]);
        assert_eq!(
            reply_telegram(&reply),
            "<b>A &amp; B</b>\n• <a href=\"https://e.org/?a=1&amp;b=2\">&lt;t&gt;</a>"
        );
        assert_eq!(reply_plain(&reply), "A & B\n• <t> (https://e.org/?a=1&b=2)");
    }

    #[test]
    fn a_long_reply_is_split_between_lines_within_telegrams_limit_with_buttons_last() {
        let line = |n: usize| {
            vec![
                Span::Bold(format!("channel {n}")),
                Span::Text(format!(" — fine & well · {}", "x".repeat(90))),
            ]
        };
        let mut reply = Reply::from_lines((0..120).map(line).collect());
        // One line far over the limit, of characters that grow when escaped.
        reply.lines.push(vec![Span::Text("& ".repeat(5000))]);
        reply.buttons = vec![crate::commands::Button {
            label: "More".into(),
            command: "/more".into(),
        }];
        let parts = split_reply_telegram(&reply);
        assert!(parts.len() >= 4, "{}", parts.len());
        for (n, part) in parts.iter().enumerate() {
            assert!(utf16_len(&reply_telegram(part)) <= TELEGRAM_MAX, "part {n}");
            assert_eq!(part.buttons.is_empty(), n + 1 < parts.len());
        }
        // Every line, in order, each whole (but the overlong one, cut).
        let lines: Vec<String> = parts
            .iter()
            .flat_map(|p| p.lines.iter())
            .map(|l| reply_plain(&Reply::from_lines(vec![l.clone()])))
            .collect();
        assert_eq!(lines.len(), 121);
        for (n, text) in lines.iter().take(120).enumerate() {
            assert!(
                text.starts_with(&format!("channel {n} — fine & well")),
                "{text}"
            );
        }
        assert!(lines[120].starts_with("& & "));
        // A short reply stays one message.
        assert_eq!(split_reply_telegram(&Reply::text("hello")).len(), 1);
    }
}

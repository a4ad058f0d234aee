//! Turning a feed document (RSS 2.0, RSS 1.0, Atom or JSON Feed) into normalized `Article`s.
//! Pure: bytes in, articles out, tested on the fixtures in `tests/data/`.
//!
//! Identity: an article's post key is the source's guid/id, else its normalized link, else
//! `sha256:` + the first 32 hex digits of SHA-256 over `title + "\n" + date` (RFC 3339, or
//! empty without a date). feed-rs invents an id when an entry has none; Herald tells it not
//! to, so its ids never depend on feed-rs internals.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::FeedError;
use crate::article::{Article, Lang};
use crate::lang;
use crate::text::{
    collapse_whitespace, decode_entities, html_to_text, normalize_link, truncate_words,
};

/// Longest excerpt kept, in UTF-16 units; renderers shorten further where they must.
pub const EXCERPT_MAX: usize = 1000;

/// How to read one feed: its edition's language and whether to guess each item's language.
pub struct FeedInfo<'a> {
    pub key: &'a str,
    pub lang: &'a Lang,
    pub detect_lang: bool,
    /// The feed's address, to resolve relative links (none for local files).
    pub base: Option<&'a str>,
}

/// Parses `bytes` into articles in the feed's order. `now` is recorded as first-seen time.
pub fn parse(
    bytes: &[u8],
    info: &FeedInfo<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Article>, FeedError> {
    let text = decode(bytes);
    let parser = feed_rs::parser::Builder::new()
        .base_uri(info.base)
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser
        .parse(text.as_bytes())
        .map_err(|e| FeedError::Parse(e.to_string()))?;
    let feed_link = feed
        .links
        .first()
        .map(|l| l.href.clone())
        .or(info.base.map(str::to_string));
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|e| article(e, info, feed_link.as_deref(), now))
        .collect())
}

/// Feeds that declare UTF-8 but are not are common; read them as Windows-1252/Latin-1 text
/// rather than refusing them (every byte maps to the character of that code point).
fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            tracing::warn!("feed is not valid UTF-8; reading it as Latin-1");
            std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect())
        }
    }
}

fn article(
    entry: feed_rs::model::Entry,
    info: &FeedInfo<'_>,
    feed_link: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Article> {
    let title = entry.title.as_ref().map(text_of).unwrap_or_default();
    let link = entry
        .links
        .iter()
        .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .and_then(|l| absolute(&l.href, feed_link));
    let summary = entry
        .summary
        .as_ref()
        .map(|s| html_to_text(&s.content))
        .unwrap_or_default();
    let content_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .unwrap_or_default();
    let excerpt = if summary.is_empty() {
        html_to_text(&content_html)
    } else {
        summary
    };
    let excerpt = truncate_words(&tidy_excerpt(&excerpt), EXCERPT_MAX);
    if title.is_empty() && excerpt.is_empty() && link.is_none() {
        return None; // nothing a reader could see
    }
    let date = entry.published.or(entry.updated);
    let post = if !entry.id.trim().is_empty() {
        entry.id.trim().to_string()
    } else if let Some(link) = &link {
        normalize_link(link)
    } else {
        hashed_key(&title, date)
    };
    let lang = lang::of_item(
        entry.language.as_deref(),
        &format!("{title}. {excerpt}"),
        info.lang,
        info.detect_lang,
    );
    let image = image(&entry, &content_html, feed_link);
    Some(Article {
        id: Article::make_id(&lang, &post),
        post,
        lang,
        title,
        link,
        excerpt,
        published: entry.published,
        updated: entry.updated,
        authors: entry
            .authors
            .iter()
            .filter_map(|p| p.name.as_deref())
            .map(collapse_whitespace)
            .filter(|n| !n.is_empty())
            .collect(),
        categories: entry
            .categories
            .iter()
            .map(|c| collapse_whitespace(c.label.as_deref().unwrap_or(&c.term)))
            .filter(|c| !c.is_empty())
            .collect(),
        image,
        feed: info.key.to_string(),
        seen: now,
    })
}

/// The documented fallback identity for items with neither guid nor link.
pub fn hashed_key(title: &str, date: Option<DateTime<Utc>>) -> String {
    let date = date.map(|d| d.to_rfc3339()).unwrap_or_default();
    let digest = Sha256::digest(format!("{title}\n{date}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A title or other short text: HTML-typed text loses its tags; plain text only has
/// leftover (double-encoded) entities decoded, so a literal `<b>` in a title stays text.
fn text_of(text: &feed_rs::model::Text) -> String {
    if text.content_type.to_string().contains("html") {
        html_to_text(&text.content)
    } else {
        collapse_whitespace(&decode_entities(&text.content))
    }
}

/// WordPress ends feed excerpts with " [&#8230;]" (or "[...]"); make that a plain "…".
fn tidy_excerpt(excerpt: &str) -> String {
    let trimmed = excerpt.trim_end();
    for tail in ["[…]", "[...]", "[&hellip;]"] {
        if let Some(head) = trimmed.strip_suffix(tail) {
            return format!("{}…", head.trim_end());
        }
    }
    trimmed.to_string()
}

/// An absolute http(s) link, resolved against the feed's own link; anything else
/// (`javascript:`, `data:`) is dropped.
fn absolute(href: &str, base: Option<&str>) -> Option<String> {
    let href = href.trim();
    let url = match url::Url::parse(href) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            url::Url::parse(base?).ok()?.join(href).ok()?
        }
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn image(entry: &feed_rs::model::Entry, content_html: &str, base: Option<&str>) -> Option<String> {
    let from_media = entry.media.iter().find_map(|m| {
        m.thumbnails
            .first()
            .map(|t| t.image.uri.clone())
            .or_else(|| {
                m.content
                    .iter()
                    .find(|c| {
                        c.content_type
                            .as_ref()
                            .is_some_and(|t| t.to_string().starts_with("image/"))
                    })
                    .and_then(|c| c.url.as_ref().map(|u| u.to_string()))
            })
    });
    from_media
        .or_else(|| first_img_src(content_html))
        .and_then(|src| absolute(&src, base))
}

fn first_img_src(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let tag = lower.find("<img")?;
    let attr = tag + lower[tag..].find("src=")? + 4;
    let rest = &html[attr..];
    let quote = rest.chars().next()?;
    let value = if quote == '"' || quote == '\'' {
        rest[1..].split(quote).next()?
    } else {
        rest.split(|c: char| c.is_whitespace() || c == '>').next()?
    };
    Some(decode_entities(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
            .expect("fixture exists")
    }

    fn parse_fixture(name: &str, lang: &str) -> Vec<Article> {
        let lang = Lang::parse(lang).unwrap();
        let info = FeedInfo {
            key: name,
            lang: &lang,
            detect_lang: true,
            base: None,
        };
        parse(&fixture(name), &info, Utc::now()).expect("fixture parses")
    }

    #[test]
    fn wordpress_german_edition_files_english_posts_as_english() {
        let articles = parse_fixture("wp-de.xml", "de");
        assert_eq!(articles.len(), 10);
        let langs: Vec<&str> = articles.iter().map(|a| a.lang.as_str()).collect();
        assert_eq!(langs.iter().filter(|l| **l == "de").count(), 2, "{langs:?}");
        assert_eq!(langs.iter().filter(|l| **l == "en").count(), 8, "{langs:?}");
        let first = &articles[0];
        assert!(
            first.title.starts_with("Treffen von PSL-Aktivisten"),
            "{}",
            first.title
        );
        assert!(
            first.post.starts_with("https://postsovietleft.org/?p="),
            "{}",
            first.post
        );
        assert_eq!(first.id, format!("de:{}", first.post));
        assert!(
            first.excerpt.ends_with('…') && !first.excerpt.contains("[…]"),
            "{}",
            first.excerpt
        );
        assert!(
            !first.excerpt.contains('<') && !first.excerpt.contains("&#"),
            "{}",
            first.excerpt
        );
        assert!(first.published.is_some());
        assert!(
            first
                .link
                .as_deref()
                .unwrap()
                .starts_with("https://postsovietleft.org/de/")
        );
        assert_eq!(first.authors, vec!["PSL".to_string()]);
        assert!(!first.categories.is_empty());
        // Typographic entities are decoded in titles.
        assert!(
            articles
                .iter()
                .any(|a| a.title.contains('’') || a.title.contains('“')),
            "no decoded quotes"
        );
    }

    #[test]
    fn the_same_english_post_has_one_id_in_both_editions() {
        let de = parse_fixture("wp-de.xml", "de");
        let en = parse_fixture("wp-en.xml", "en");
        let en_ids: std::collections::HashSet<_> = en.iter().map(|a| a.id.clone()).collect();
        let shared = de.iter().filter(|a| en_ids.contains(&a.id)).count();
        assert_eq!(
            shared, 8,
            "the eight untranslated English posts are the same articles"
        );
    }

    #[test]
    fn items_without_guid_get_stable_link_or_hash_ids() {
        let a = parse_fixture("rss-no-guid.xml", "en");
        let b = parse_fixture("rss-no-guid.xml", "en");
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.iter().map(|x| &x.id).collect::<Vec<_>>(),
            b.iter().map(|x| &x.id).collect::<Vec<_>>()
        );
        assert!(a.iter().any(|x| x.post.starts_with("http")
            && !x.post.contains("utm_")
            && !x.post.ends_with('/')));
        assert!(
            a.iter().any(|x| x.post.starts_with("sha256:")),
            "{:?}",
            a.iter().map(|x| &x.post).collect::<Vec<_>>()
        );
    }

    #[test]
    fn atom_and_json_feed_parse() {
        let atom = parse_fixture("atom.xml", "en");
        assert!(atom.len() >= 4, "{}", atom.len());
        assert!(atom.iter().all(|a| !a.post.is_empty()));
        assert!(
            atom.iter()
                .all(|a| !a.title.contains("&#") && !a.title.contains('<'))
        );
        let json = parse_fixture("feed.json", "en");
        assert!(json.len() >= 4, "{}", json.len());
        assert!(json.iter().any(|a| a.image.is_some()));
    }

    #[test]
    fn hostile_text_stays_text() {
        let items = parse_fixture("hostile.xml", "en");
        let title = &items[0].title;
        assert!(
            title.contains("<b>Bold</b> & <script>alert(1)</script> @room"),
            "{title}"
        );
        let all = items
            .iter()
            .map(|a| a.excerpt.clone())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !all.contains("onerror") && !all.contains("javascript:"),
            "{all}"
        );
        assert!(
            items
                .iter()
                .all(|a| a.link.as_deref().is_none_or(|l| l.starts_with("http")))
        );
        assert!(
            items
                .iter()
                .all(|a| crate::text::utf16_len(&a.excerpt) <= EXCERPT_MAX)
        );
    }

    #[test]
    fn broken_feeds_are_errors_not_panics() {
        let en = Lang::parse("en").unwrap();
        let info = FeedInfo {
            key: "x",
            lang: &en,
            detect_lang: true,
            base: None,
        };
        for name in ["truncated.xml", "not-xml.html"] {
            assert!(
                parse(&fixture(name), &info, Utc::now()).is_err(),
                "{name} should fail"
            );
        }
        let latin1 =
            parse(&fixture("wrong-encoding.xml"), &info, Utc::now()).expect("read as Latin-1");
        assert!(
            latin1
                .iter()
                .any(|a| a.title.contains('ü') || a.excerpt.contains('ü'))
        );
        assert!(
            parse(&fixture("empty.xml"), &info, Utc::now())
                .unwrap()
                .is_empty()
        );
    }

    const GOLDEN_RSS_NO_GUID: [&str; 3] = [
        "en:https://postsovietleft.org/2025/01/20/to-remember-is-to-fight",
        "en:https://postsovietleft.org/2025/02/03/program-of-social-changes-a-call-for-participation",
        "en:sha256:d8f3aac5f4f842abd6da72d0443c90fc",
    ];
    const GOLDEN_ATOM: [&str; 4] = [
        "en:https://postsovietleft.org/?p=1702",
        "en:https://postsovietleft.org/?p=1673",
        "en:tag:postsovietleft.org,2025-01-10:/?p=1594",
        "en:https://postsovietleft.org/2024/12/25/half-year-activity-report",
    ];
    const GOLDEN_JSON: [&str; 4] = [
        "en:https://postsovietleft.org/?p=1702",
        "en:https://postsovietleft.org/?p=1618",
        "en:https://postsovietleft.org/?p=1594",
        "en:https://postsovietleft.org/2024/12/16/every-deserter-brings-peace-closer",
    ];
    const GOLDEN_WP_DE: [&str; 3] = [
        "de:https://postsovietleft.org/?p=1736",
        "en:https://postsovietleft.org/?p=1702",
        "en:https://postsovietleft.org/?p=1673",
    ];
    const GOLDEN_HOSTILE: [&str; 5] = [
        "en:https://hostile.example.org/?p=1",
        "en:https://hostile.example.org/?p=2",
        "en:https://hostile.example.org/?p=3",
        "en:https://hostile.example.org/?p=4",
        "ru:https://hostile.example.org/?p=5",
    ];
    const GOLDEN_WRONG_ENCODING: [&str; 1] = ["en:https://postsovietleft.org/?p=1620"];
    const GOLDEN_HASH_DATED: &str = "sha256:c5abaf1bcee38d98a98839e567b3d58f";
    const GOLDEN_HASH_EMPTY: &str = "sha256:01ba4719c80b6fe911b091a7c05124b6";

    /// Article ids must never change for inputs Herald already read: a new id scheme would
    /// post every stored article again. These values were recorded before the parser learned
    /// new item shapes and encodings.
    #[test]
    fn golden_ids_do_not_change() {
        let ids = |name: &str, lang: &str| -> Vec<String> {
            parse_fixture(name, lang)
                .into_iter()
                .map(|a| a.id)
                .collect()
        };
        assert_eq!(ids("rss-no-guid.xml", "en"), GOLDEN_RSS_NO_GUID,);
        assert_eq!(ids("atom.xml", "en"), GOLDEN_ATOM);
        assert_eq!(ids("feed.json", "en"), GOLDEN_JSON);
        let de = ids("wp-de.xml", "de");
        assert_eq!(&de[..3], GOLDEN_WP_DE);
        assert_eq!(ids("hostile.xml", "en"), GOLDEN_HOSTILE);
        let en = Lang::parse("en").unwrap();
        let info = FeedInfo {
            key: "x",
            lang: &en,
            detect_lang: false,
            base: None,
        };
        let latin1: Vec<String> = parse(&fixture("wrong-encoding.xml"), &info, Utc::now())
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(latin1, GOLDEN_WRONG_ENCODING);
        let d = DateTime::parse_from_rfc3339("2025-01-19T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            hashed_key("To remember is to fight!", Some(d)),
            GOLDEN_HASH_DATED
        );
        assert_eq!(hashed_key("", None), GOLDEN_HASH_EMPTY);
    }

    #[test]
    fn hashed_key_is_documented_and_stable() {
        let d = DateTime::parse_from_rfc3339("2025-01-19T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            hashed_key("To remember is to fight!", Some(d)),
            hashed_key("To remember is to fight!", Some(d))
        );
        assert_ne!(hashed_key("a", Some(d)), hashed_key("a", None));
        assert_eq!(hashed_key("a", None).len(), "sha256:".len() + 32);
    }
}

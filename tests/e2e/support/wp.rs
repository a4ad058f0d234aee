//! Feed documents for the tests: the bundled fixtures, and WordPress-style RSS 2.0 built
//! from items a test describes (a new article "published now", a changed feed).

use chrono::{DateTime, Utc};

/// A fixture from `tests/data/`.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// One feed item.
#[derive(Clone, Debug)]
pub struct Item {
    pub post: u32,
    pub title: String,
    pub excerpt: String,
    pub date: DateTime<Utc>,
}

impl Item {
    /// An English item published `minutes_ago`.
    pub fn new(post: u32, title: &str, minutes_ago: i64) -> Item {
        Item {
            post,
            title: title.into(),
            excerpt: "The members of the organization gathered in the city and they discussed the war and the peace with the people who came.".into(),
            date: Utc::now() - chrono::Duration::minutes(minutes_ago),
        }
    }

    pub fn excerpt(mut self, text: &str) -> Item {
        self.excerpt = text.into();
        self
    }
}

/// A fixture feed with `new_items` published on top of its own items (newest first), as
/// the next edition of that feed would look; their links are under `/{edition}/`.
pub fn fixture_with(name: &str, edition: &str, new_items: &[Item]) -> String {
    let items: String = rss(edition, new_items)
        .split("<item>")
        .skip(1)
        .map(|i| format!("<item>{}", i.replace("</channel>\n</rss>\n", "")))
        .collect();
    fixture(name).replacen("<item>", &format!("{items}<item>"), 1)
}

/// Escapes text for XML character data.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A WordPress-like RSS 2.0 feed of `items` (newest first as given).
pub fn rss(edition: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n<title>Test edition {edition}</title>\n<link>https://news.example.org/{edition}</link>\n<description>Test</description>\n<language>{edition}</language>\n"
    );
    for item in items {
        let slug: String = item
            .title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect();
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>https://news.example.org/{edition}/{}/{slug}/</link>\n<dc:creator><![CDATA[Editors]]></dc:creator>\n<pubDate>{}</pubDate>\n<guid isPermaLink=\"false\">https://news.example.org/?p={}</guid>\n<description><![CDATA[{} [&#8230;]]]></description>\n</item>\n",
            xml_escape(&item.title),
            item.date.format("%Y/%m/%d"),
            item.date.to_rfc2822(),
            item.post,
            item.excerpt,
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

//! What feed-rs does not keep from a feed's items: whether an RSS `<guid>` is a permalink
//! (`isPermaLink`, true unless said otherwise), a Dublin Core `<dc:title>` used in place of
//! `<title>`, and the language an item names for itself (an RSS item's `<dc:language>` or
//! `xml:lang`, an Atom `<entry xml:lang>`, a JSON Feed item's `language`; feed-rs reads
//! only an Atom `<content xml:lang>`). A second, light pass over the (already UTF-8)
//! document with the same XML reader, or serde for JSON; its items are matched to
//! feed-rs's entries by position, and only when both found the same number.

use memchr::memmem;
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde::Deserialize;

const DUBLIN_CORE: &str = "http://purl.org/dc/elements/1.1/";
const ATOM: &str = "http://www.w3.org/2005/Atom";

/// One item's extra facts, in document order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ItemExtras {
    /// The guid, when it is a permalink.
    pub permalink: Option<String>,
    pub dc_title: Option<String>,
    /// The language the item names for itself, as written.
    pub language: Option<String>,
}

#[derive(PartialEq)]
enum Field {
    Guid,
    DcTitle,
    DcLanguage,
}

/// Whether an item of `text` may name its own language: a quick look for `language` or
/// `xml:lang` after the first item, so that most feeds are not read a second time. The
/// feed's own language (RSS `<language>`, the root's `xml:lang`) comes before its items.
pub fn may_name_item_languages(text: &str) -> bool {
    let bytes = text.as_bytes();
    let first = ["<item", "<entry", "\"items\""]
        .iter()
        .filter_map(|tag| memmem::find(bytes, tag.as_bytes()))
        .min();
    first.is_some_and(|at| {
        let rest = &bytes[at..];
        memmem::find(rest, b"language").is_some() || memmem::find(rest, b"xml:lang").is_some()
    })
}

/// The extras of every JSON Feed item (only its language), or `None` when the document is
/// not a JSON object with an `items` list.
pub fn scan_json(text: &str) -> Option<Vec<ItemExtras>> {
    #[derive(Deserialize)]
    struct Feed {
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        language: Option<serde_json::Value>,
    }
    let feed: Feed = serde_json::from_str(text).ok()?;
    Some(
        feed.items
            .into_iter()
            .map(|item| ItemExtras {
                language: item
                    .language
                    .as_ref()
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string),
                ..ItemExtras::default()
            })
            .collect(),
    )
}

/// The extras of every `<item>`, or `None` when the document cannot be read to the end.
pub fn scan(text: &str) -> Option<Vec<ItemExtras>> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut items = Vec::new();
    let mut depth = 0usize;
    // The depth of the item being read, and the field being read with its text so far.
    let mut item_depth: Option<usize> = None;
    let mut field: Option<(Field, String)> = None;
    let mut permalink = true;
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let in_dc = matches!(ns, ResolveResult::Bound(ns) if ns.as_ref() == DUBLIN_CORE);
        let in_rss = match ns {
            ResolveResult::Unbound => true,
            ResolveResult::Bound(ns) => ns.as_ref() == "http://purl.org/rss/1.0/",
            ResolveResult::Unknown(_) => false,
        };
        match event {
            Event::Start(e) => {
                depth += 1;
                let local = e.local_name();
                let local = local.as_ref();
                let in_atom = matches!(ns, ResolveResult::Bound(ns) if ns.as_ref() == ATOM);
                match item_depth {
                    None if local == "item" || (local == "entry" && in_atom) => {
                        item_depth = Some(depth);
                        let language = e
                            .attributes()
                            .flatten()
                            .find(|a| a.key.as_ref() == "xml:lang")
                            .map(|a| a.value.trim().to_string())
                            .filter(|v| !v.is_empty());
                        items.push(ItemExtras {
                            language,
                            ..ItemExtras::default()
                        });
                    }
                    Some(d) if depth == d + 1 => {
                        if local == "guid" && in_rss {
                            permalink = !e.attributes().flatten().any(|a| {
                                a.key.local_name().as_ref() == "isPermaLink"
                                    && a.value.trim().eq_ignore_ascii_case("false")
                            });
                            field = Some((Field::Guid, String::new()));
                        } else if local == "title" && in_dc {
                            field = Some((Field::DcTitle, String::new()));
                        } else if local == "language" && in_dc {
                            field = Some((Field::DcLanguage, String::new()));
                        }
                    }
                    _ => {}
                }
            }
            Event::End(_) => {
                if let (Some(d), Some(item)) = (item_depth, items.last_mut()) {
                    if depth == d + 1
                        && let Some((which, text)) = field.take()
                    {
                        let text = text.trim().to_string();
                        match which {
                            Field::Guid if permalink && !text.is_empty() => {
                                item.permalink = Some(text)
                            }
                            Field::DcTitle if !text.is_empty() => item.dc_title = Some(text),
                            Field::DcLanguage if !text.is_empty() => item.language = Some(text),
                            _ => {}
                        }
                    } else if depth == d {
                        item_depth = None;
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if let Some((_, text)) = &mut field {
                    text.push_str(&t);
                }
            }
            Event::CData(t) => {
                if let Some((_, text)) = &mut field {
                    text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, text)) = &mut field {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        text.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                        text.push_str(s);
                    } else {
                        text.push('&');
                        text.push_str(&r);
                        text.push(';');
                    }
                }
            }
            Event::Eof => return Some(items),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_permalinks_and_dc_titles() {
        let doc = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
            <item><guid>https://example.org/a?x=1&amp;y=2</guid></item>
            <item><guid isPermaLink="false">https://example.org/?p=2</guid><dc:title>Tom &amp; Jerry</dc:title></item>
            <item><guid isPermaLink="true"><![CDATA[https://example.org/c]]></guid></item>
            <item/>
        </channel></rss>"#;
        let items = scan(doc).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0].permalink.as_deref(),
            Some("https://example.org/a?x=1&y=2")
        );
        assert_eq!(items[1].permalink, None);
        assert_eq!(items[1].dc_title.as_deref(), Some("Tom & Jerry"));
        assert_eq!(items[2].permalink.as_deref(), Some("https://example.org/c"));
        assert_eq!(items[3], ItemExtras::default());
        assert!(scan("<rss><item></rss>").is_none());
    }

    #[test]
    fn languages_items_name_for_themselves() {
        let rss = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
            <language>de-DE</language>
            <item><title>A</title><dc:language> ru </dc:language></item>
            <item xml:lang="uk"><title>B</title></item>
            <item><title>C</title><language>fr</language></item>
        </channel></rss>"#;
        let langs = |items: Vec<ItemExtras>| -> Vec<Option<String>> {
            items.into_iter().map(|i| i.language).collect()
        };
        assert!(may_name_item_languages(rss));
        // An RSS item's own <language> is not an element of RSS: only Dublin Core's counts.
        assert_eq!(
            langs(scan(rss).unwrap()),
            [Some("ru".into()), Some("uk".into()), None]
        );
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
            <entry xml:lang="en"><title>A</title></entry>
            <entry><title>B</title></entry>
        </feed>"#;
        assert!(may_name_item_languages(atom));
        assert_eq!(langs(scan(atom).unwrap()), [Some("en".into()), None]);
        let json = r#"{"version": "https://jsonfeed.org/version/1.1", "language": "de",
            "items": [{"id": "1", "language": "fr"}, {"id": "2"}, {"id": "3", "language": 7}]}"#;
        assert!(may_name_item_languages(json));
        assert_eq!(
            langs(scan_json(json).unwrap()),
            [Some("fr".into()), None, None]
        );
        assert_eq!(scan_json("[1, 2]"), None);
        // The feed's own language alone, before its items: no second look.
        let wordpress =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wp-de.xml"))
                .unwrap();
        assert!(wordpress.contains("<language>"));
        assert!(!may_name_item_languages(&wordpress));
        assert!(!may_name_item_languages(
            r#"{"language": "de", "items": []}"#
        ));
    }
}

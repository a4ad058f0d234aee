//! What feed-rs does not keep from an RSS `<item>`: whether its `<guid>` is a permalink
//! (`isPermaLink`, true unless said otherwise), and a Dublin Core `<dc:title>` used in
//! place of `<title>`. A second, light pass over the (already UTF-8) document with the
//! same XML reader; its items are matched to feed-rs's entries by position, and only when
//! both found the same number.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

const DUBLIN_CORE: &str = "http://purl.org/dc/elements/1.1/";

/// One item's extra facts, in document order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ItemExtras {
    /// The guid, when it is a permalink.
    pub permalink: Option<String>,
    pub dc_title: Option<String>,
}

#[derive(PartialEq)]
enum Field {
    Guid,
    DcTitle,
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
                match item_depth {
                    None if local == "item" => {
                        item_depth = Some(depth);
                        items.push(ItemExtras::default());
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
}

//! Text helpers shared by the feed parser and the renderers: HTML to plain text, escaping,
//! whitespace, cutting on word boundaries and counting as Telegram counts (UTF-16 units).
//! Pure functions, no I/O.

/// Turns an HTML fragment into plain text: tags dropped (block tags become spaces),
/// `<script>`/`<style>` contents dropped, entities decoded, whitespace collapsed.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // A `<` not followed by a tag name, `/` or `!` is text (e.g. "a < b", "<3").
        let looks_like_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        if !looks_like_tag {
            out.push('<');
            rest = after;
            continue;
        }
        let Some(end) = find_tag_end(after) else {
            // An unterminated tag: drop the rest, as a browser would.
            rest = "";
            break;
        };
        let tag = &after[..end];
        rest = &after[end + 1..];
        let name_end = tag
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tag.len());
        let name = &tag[..name_end];
        let close = if name.eq_ignore_ascii_case("script") {
            Some("</script")
        } else if name.eq_ignore_ascii_case("style") {
            Some("</style")
        } else {
            None
        };
        if let Some(close) = close {
            match find_ignoring_ascii_case(rest, close) {
                Some(i) => {
                    rest = &rest[i..];
                    if let Some(e) = rest.find('>') {
                        rest = &rest[e + 1..];
                    }
                }
                None => rest = "",
            }
        }
        out.push(' ');
    }
    out.push_str(rest);
    if out.contains('&') {
        collapse_whitespace(&decode_entities(&out))
    } else {
        collapse_whitespace(&out)
    }
}

/// Where `needle` (ASCII) first occurs in `haystack`, in any case, without copying the
/// haystack: linear however many `<script>` tags there are.
pub(crate) fn find_ignoring_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Finds the `>` that ends a tag, skipping quoted attribute values.
pub(crate) fn find_tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Decodes HTML entities (named, decimal and hex), leaving unknown ones as they are.
pub fn decode_entities(s: &str) -> String {
    html_escape::decode_html_entities(s).into_owned()
}

/// Collapses every run of whitespace (including non-breaking spaces) into one space and trims.
pub fn collapse_whitespace(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut push = |word: &str| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    };
    // The word being read starts at `word`; ASCII bytes are judged without decoding.
    let mut word: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let (space, len) = match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => (true, 1),
            b if b.is_ascii() => (false, 1),
            _ => {
                let c = s[i..].chars().next().unwrap_or(' ');
                (c.is_whitespace() || c == '\u{a0}', c.len_utf8())
            }
        };
        match (space, word) {
            (true, Some(start)) => {
                push(&s[start..i]);
                word = None;
            }
            (false, None) => word = Some(i),
            _ => {}
        }
        i += len;
    }
    if let Some(start) = word {
        push(&s[start..]);
    }
    out
}

/// Whether a feed's text may not carry `c` into a terminal or a chat: a C0 or C1 control
/// other than newline and tab (ESC starts terminal sequences, BEL rings, NUL cuts strings),
/// a bidi embedding, override or isolate (U+202A–U+202E, U+2066–U+2069: they reorder the
/// text around them, past the field they came in), or an invisible character that only
/// hides or splits words (zero-width space, word joiner, a byte-order mark inside text).
/// The joiners U+200C/U+200D (Persian, Indic scripts, emoji sequences) and the directional
/// marks U+200E/U+200F/U+061C (they affect no text beyond their neighbours) stay.
fn is_unsafe_to_show(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}'
        )
}

/// A feed's text as Herald may show it: the characters `is_unsafe_to_show` names removed,
/// and, when any were, whitespace collapsed again (a removed control may have left two
/// spaces side by side; feed texts are collapsed already). Text without such characters
/// comes back unchanged, so an article's revision stays what it was.
pub fn safe_to_show(s: &str) -> String {
    if !s.chars().any(is_unsafe_to_show) {
        return s.to_string();
    }
    let kept: String = s.chars().filter(|&c| !is_unsafe_to_show(c)).collect();
    if s.contains('\n') {
        kept
    } else {
        collapse_whitespace(&kept)
    }
}

/// Escapes text for an HTML text node or a double-quoted attribute value.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Length as Telegram counts it: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Cuts `s` to at most `max` UTF-16 units, on a word boundary where one is near, and ends
/// it with "…" when anything was cut. Text that fits is returned unchanged.
pub fn truncate_words(s: &str, max: usize) -> String {
    if utf16_len(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let budget = max - 1; // room for the ellipsis
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in s.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        cut = i + c.len_utf8();
    }
    let head = &s[..cut];
    // Prefer the last space, unless that would throw away most of the text.
    let head = match head.rfind(' ') {
        Some(space) if space >= cut / 2 => &head[..space],
        _ => head,
    };
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–—".contains(c));
    format!("{head}…")
}

/// Normalizes a link for use as an identity: lowercase scheme and host, no fragment, no
/// `utm_*` tracking parameters, no trailing slash on the path.
pub fn normalize_link(link: &str) -> String {
    let Ok(mut url) = url::Url::parse(link.trim()) else {
        return link.trim().to_string();
    };
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("utm_"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(if path.is_empty() { "/" } else { &path });
    let mut s = url.to_string();
    if s.ends_with('/') && url.query().is_none() {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_to_show_loses_terminal_controls_bidi_overrides_and_zero_width_spaces() {
        // A terminal title sequence (ESC ] 0 ; … BEL), NUL, DEL and C1 controls.
        assert_eq!(safe_to_show("\x1b]0;pwned\x07Hello"), "]0;pwnedHello");
        assert_eq!(safe_to_show("a\0b\x7fc\u{9b}2Jd\u{85}e"), "abc2Jde");
        assert_eq!(safe_to_show("Clear \x1b[2J screen"), "Clear [2J screen");
        // Every bidi embedding, override and isolate; the text keeps its letters.
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert_eq!(safe_to_show(&format!("evil{c}gpj.exe")), "evilgpj.exe");
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(safe_to_show(&format!("a{c}b")), "ab");
        }
        assert_eq!(
            safe_to_show("in\u{200B}visible\u{2060}\u{FEFF}"),
            "invisible"
        );
        // A removed control between spaces leaves one space.
        assert_eq!(safe_to_show("Tom \x1b Jerry"), "Tom Jerry");
        // Newlines and tabs stay; so do the joiners and marks that scripts and emoji need.
        assert_eq!(safe_to_show("a\n\tb\x07"), "a\n\tb");
        for kept in [
            "👨\u{200D}👩\u{200D}👧",
            "می\u{200C}خواهم",
            "שלום \u{200F}(1)",
            "Tom & Jerry <b>",
            "Привет, мир",
        ] {
            assert_eq!(safe_to_show(kept), kept);
        }
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(
            html_to_text("<p>Fish &amp; <b>Chips</b></p><p>&#8220;Quote&#8221;&nbsp;here</p>"),
            "Fish & Chips \u{201c}Quote\u{201d} here"
        );
        assert_eq!(html_to_text("<script>alert(1)</script>Hello"), "Hello");
        assert_eq!(html_to_text("a < b and <3"), "a < b and <3");
        assert_eq!(
            html_to_text("<img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">click</a>"),
            "click"
        );
        assert_eq!(html_to_text("<a title=\"x > y\">t</a>"), "t");
        assert_eq!(html_to_text("text <b unterminated"), "text");
        assert_eq!(
            html_to_text("<SCRIPT>x</script>A<style type=x>y</STYLE >B<script>never closed"),
            "A B"
        );
    }

    #[test]
    fn many_script_tags_are_each_dropped() {
        let html = "<p>keep</p><script>drop()</script><STYLE>p{}</Style>".repeat(20_000);
        let text = html_to_text(&html);
        assert_eq!(text.split(' ').count(), 20_000);
        assert!(text.split(' ').all(|w| w == "keep"), "{}", &text[..200]);
    }

    #[test]
    fn whitespace_of_every_kind_collapses_to_one_space() {
        assert_eq!(collapse_whitespace(""), "");
        assert_eq!(collapse_whitespace(" \t\n "), "");
        assert_eq!(collapse_whitespace("one"), "one");
        assert_eq!(
            collapse_whitespace(
                "\u{a0} Fish\u{2003}&\x0b\x0cChips\r\n\u{3000}für\u{200a}alle\u{a0}"
            ),
            "Fish & Chips für alle"
        );
        // Letters outside ASCII are kept whole, whatever their length in bytes.
        assert_eq!(collapse_whitespace("Привет,  мир 👍🏽 "), "Привет, мир 👍🏽");
    }

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape_html("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn truncation_prefers_word_boundaries_and_counts_utf16() {
        assert_eq!(truncate_words("short", 10), "short");
        assert_eq!(truncate_words("one two three four", 12), "one two…");
        let emoji = "👍🏽".repeat(10); // 4 UTF-16 units each
        let cut = truncate_words(&emoji, 9);
        assert!(utf16_len(&cut) <= 9, "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(utf16_len("🇺🇦"), 4);
    }

    #[test]
    fn links_normalize_for_identity() {
        assert_eq!(
            normalize_link("HTTPS://Example.org/a/b/?utm_source=x&p=1#top"),
            "https://example.org/a/b?p=1"
        );
        assert_eq!(
            normalize_link("https://example.org/a/"),
            "https://example.org/a"
        );
        assert_eq!(
            normalize_link("https://example.org/"),
            "https://example.org"
        );
        assert_eq!(normalize_link("not a url"), "not a url");
    }
}

//! Telegram's HTML parse mode, as the Bot API server (tdlib) parses it; trimming; lengths.

use serde_json::{Value, json};

use super::user;

/// Length in UTF-16 code units, the unit of Telegram's offsets and limits.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The text and entities Telegram derives from an HTML-formatted message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedHtml {
    pub text: String,
    /// `MessageEntity` objects, sorted as Telegram sorts them.
    pub entities: Vec<Value>,
}

pub(super) const SUPPORTED_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// Parses `parse_mode=HTML` text following the Bot API server (tdlib's `parse_html`):
/// the same accepted tags and attributes, entity decoding (`&lt; &gt; &amp; &quot;`,
/// `&#N;`, `&#xH;`; anything else after `&` stays literal), and the same error
/// details, e.g. `Unsupported start tag "script" at byte offset 12` or `Can't find end
/// tag corresponding to start tag "b"` (the API prefixes them with
/// `Bad Request: can't parse entities: `). Not emulated: link normalisation beyond
/// scheme/host/`/`, and entities Telegram detects by itself (URLs, mentions, …).
pub fn parse_html(html: &str) -> Result<ParsedHtml, String> {
    let text = html.as_bytes();
    // Like tdlib's NUL-terminated strings: reading past the end yields 0.
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let mut utf16 = 0;
    let mut open: Vec<OpenTag> = Vec::new();
    let mut entities: Vec<RawEntity> = Vec::new();

    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == b'&'
            && let Some((code, next)) = decode_html_entity(text, i)
        {
            let decoded = char::from_u32(code).ok_or_else(|| {
                "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched \
                 surrogate code units"
                    .to_owned()
            })?;
            utf16 += decoded.len_utf16();
            out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
            i = next;
            continue;
        }
        if c != b'<' {
            if c & 0xC0 != 0x80 {
                utf16 += if c >= 0xF0 { 2 } else { 1 };
            }
            out.push(c);
            i += 1;
            continue;
        }

        let begin = i;
        i += 1;
        if at(i) != b'/' {
            // A start tag.
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if at(i) == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            let tag = ascii_lower(&text[begin + 1..i]);
            if !SUPPORTED_TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let mut argument = String::new();
            while at(i) != b'>' {
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let name_begin = i;
                while !is_space(at(i)) && !matches!(at(i), b'=' | b'>' | b'/' | b'"' | b'\'') {
                    i += 1;
                }
                let name = &text[name_begin..i];
                if name.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' {
                    if at(i) == 0 {
                        return Err(format!(
                            "Unclosed start tag \"{tag}\" at byte offset {begin}"
                        ));
                    }
                    if tag == "blockquote" && name == b"expandable" {
                        argument = "1".into();
                    }
                    continue;
                }
                i += 1;
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == 0 {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                let value = if at(i) != b'\'' && at(i) != b'"' {
                    // A name token: letters, digits, periods and hyphens; case-insensitive.
                    let token_begin = i;
                    while at(i).is_ascii_alphanumeric() || at(i) == b'.' || at(i) == b'-' {
                        i += 1;
                    }
                    if !is_space(at(i)) && at(i) != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_begin}"
                        ));
                    }
                    ascii_lower(&text[token_begin..i])
                } else {
                    let quote = at(i);
                    i += 1;
                    let mut value = Vec::new();
                    while at(i) != quote && at(i) != 0 {
                        if at(i) == b'&'
                            && let Some((code, next)) = decode_html_entity(text, i)
                        {
                            let decoded =
                                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                            value.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                            i = next;
                            continue;
                        }
                        value.push(at(i));
                        i += 1;
                    }
                    if at(i) == quote {
                        i += 1;
                    }
                    String::from_utf8_lossy(&value).into_owned()
                };
                if at(i) == 0 {
                    return Err(format!("Unclosed start tag at byte offset {begin}"));
                }
                match (tag.as_str(), name) {
                    ("a", b"href") | ("tg-emoji", b"emoji-id") => argument = value,
                    ("code", b"class") if value.starts_with("language-") => {
                        argument = value["language-".len()..].to_owned();
                    }
                    ("span", b"class") if value.starts_with("tg-") => {
                        argument = value["tg-".len()..].to_owned()
                    }
                    ("blockquote", b"expandable") => argument = "1".into(),
                    _ => {}
                }
            }
            if tag == "span" && argument != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            open.push(OpenTag {
                tag,
                argument,
                utf16_offset: utf16,
                byte_offset: out.len(),
            });
        } else {
            // An end tag.
            if open.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_tag = ascii_lower(&text[begin + 2..i]);
            while is_space(at(i)) && at(i) != 0 {
                i += 1;
            }
            if at(i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            let top = open.pop().expect("checked that a tag is open");
            if !end_tag.is_empty() && end_tag != top.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_tag}>\"",
                    top.tag
                ));
            }
            if utf16 > top.utf16_offset {
                close_entity(&mut entities, top, utf16, &out)?;
            }
        }
        i += 1;
    }
    if let Some(top) = open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            top.tag
        ));
    }

    for entity in &mut entities {
        if entity.kind == EntityKind::Code {
            entity.argument.clear();
        }
    }
    entities.sort_by(|a, b| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(a.kind.priority().cmp(&b.kind.priority()))
    });
    Ok(ParsedHtml {
        text: String::from_utf8(out).expect("parse_html keeps UTF-8 intact"),
        entities: entities.iter().map(RawEntity::to_json).collect(),
    })
}

pub(super) struct OpenTag {
    pub(super) tag: String,
    pub(super) argument: String,
    pub(super) utf16_offset: usize,
    pub(super) byte_offset: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EntityKind {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    Code,
    Pre,
    PreCode,
    TextUrl,
    MentionName,
    CustomEmoji,
    BlockQuote,
    ExpandableBlockQuote,
}

impl EntityKind {
    /// tdlib's order for entities with the same offset and length.
    pub(super) fn priority(self) -> u8 {
        match self {
            EntityKind::BlockQuote | EntityKind::ExpandableBlockQuote => 0,
            EntityKind::PreCode => 10,
            EntityKind::Pre => 11,
            EntityKind::Code => 20,
            EntityKind::TextUrl | EntityKind::MentionName => 49,
            EntityKind::Bold => 90,
            EntityKind::Italic => 91,
            EntityKind::Underline => 92,
            EntityKind::Strikethrough => 93,
            EntityKind::Spoiler => 94,
            EntityKind::CustomEmoji => 99,
        }
    }

    pub(super) fn api_name(self) -> &'static str {
        match self {
            EntityKind::Bold => "bold",
            EntityKind::Italic => "italic",
            EntityKind::Underline => "underline",
            EntityKind::Strikethrough => "strikethrough",
            EntityKind::Spoiler => "spoiler",
            EntityKind::Code => "code",
            EntityKind::Pre | EntityKind::PreCode => "pre",
            EntityKind::TextUrl => "text_link",
            EntityKind::MentionName => "text_mention",
            EntityKind::CustomEmoji => "custom_emoji",
            EntityKind::BlockQuote => "blockquote",
            EntityKind::ExpandableBlockQuote => "expandable_blockquote",
        }
    }
}

pub(super) struct RawEntity {
    pub(super) kind: EntityKind,
    pub(super) offset: usize,
    pub(super) length: usize,
    /// URL, language, custom emoji id or user id, after the kind.
    pub(super) argument: String,
}

impl RawEntity {
    pub(super) fn to_json(&self) -> Value {
        let mut entity =
            json!({ "type": self.kind.api_name(), "offset": self.offset, "length": self.length });
        match self.kind {
            EntityKind::TextUrl => entity["url"] = json!(self.argument),
            EntityKind::PreCode => entity["language"] = json!(self.argument),
            EntityKind::CustomEmoji => entity["custom_emoji_id"] = json!(self.argument),
            EntityKind::MentionName => {
                let id: i64 = self
                    .argument
                    .parse()
                    .expect("a text_mention holds a numeric user id");
                entity["user"] = user(id, "");
            }
            _ => {}
        }
        entity
    }
}

/// Turns a closed, non-empty tag into an entity, as tdlib does.
pub(super) fn close_entity(
    entities: &mut Vec<RawEntity>,
    tag: OpenTag,
    utf16_end: usize,
    out: &[u8],
) -> Result<(), String> {
    let offset = tag.utf16_offset;
    let length = utf16_end - offset;
    let same_span = |e: &RawEntity| e.offset == offset && e.length == length;
    let (kind, argument) = match tag.tag.as_str() {
        "i" | "em" => (EntityKind::Italic, String::new()),
        "b" | "strong" => (EntityKind::Bold, String::new()),
        "s" | "strike" | "del" => (EntityKind::Strikethrough, String::new()),
        "u" | "ins" => (EntityKind::Underline, String::new()),
        "tg-spoiler" | "span" => (EntityKind::Spoiler, String::new()),
        "tg-emoji" => match tag.argument.parse::<i64>() {
            Ok(id) if id != 0 => (EntityKind::CustomEmoji, id.to_string()),
            _ => return Err("Invalid custom emoji identifier specified".into()),
        },
        "a" => {
            let url = if tag.argument.is_empty() {
                String::from_utf8_lossy(&out[tag.byte_offset..]).into_owned()
            } else {
                tag.argument
            };
            if let Some(user_id) = link_user_id(&url) {
                (EntityKind::MentionName, user_id.to_string())
            } else if let Some(url) = checked_link(&url) {
                (EntityKind::TextUrl, url)
            } else {
                return Ok(());
            }
        }
        "pre" => {
            if let Some(last) = entities.last_mut()
                && last.kind == EntityKind::Code
                && same_span(last)
                && !last.argument.is_empty()
            {
                last.kind = EntityKind::PreCode;
                return Ok(());
            }
            (EntityKind::Pre, String::new())
        }
        "code" => {
            if let Some(last) = entities.last_mut()
                && last.kind == EntityKind::Pre
                && same_span(last)
                && !tag.argument.is_empty()
            {
                last.kind = EntityKind::PreCode;
                last.argument = tag.argument;
                return Ok(());
            }
            (EntityKind::Code, tag.argument)
        }
        "blockquote" if !tag.argument.is_empty() => {
            (EntityKind::ExpandableBlockQuote, String::new())
        }
        "blockquote" => (EntityKind::BlockQuote, String::new()),
        other => unreachable!("unsupported tag {other:?} was rejected when opened"),
    };
    entities.push(RawEntity {
        kind,
        offset,
        length,
        argument,
    });
    Ok(())
}

/// tdlib's `decode_html_entity`: the code point and the index after the entity.
pub(super) fn decode_html_entity(text: &[u8], pos: usize) -> Option<(u32, usize)> {
    let at = |i: usize| text.get(i).copied().unwrap_or(0);
    let mut end = pos + 1;
    let code: u64;
    if at(pos + 1) == b'#' {
        end += 1;
        let mut value: u64 = 0;
        if at(pos + 2) == b'x' {
            end += 1;
            while at(end).is_ascii_hexdigit() {
                let digit = char::from(at(end)).to_digit(16).expect("hex digit");
                value = value.saturating_mul(16).saturating_add(u64::from(digit));
                end += 1;
            }
        } else {
            while at(end).is_ascii_digit() {
                value = value
                    .saturating_mul(10)
                    .saturating_add(u64::from(at(end) - b'0'));
                end += 1;
            }
        }
        if value == 0 || value >= 0x10FFFF || end - pos >= 10 {
            return None;
        }
        code = value;
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match &text[pos + 1..end] {
            b"lt" => u64::from(b'<'),
            b"gt" => u64::from(b'>'),
            b"amp" => u64::from(b'&'),
            b"quot" => u64::from(b'"'),
            _ => return None,
        };
    }
    let next = if at(end) == b';' { end + 1 } else { end };
    Some((u32::try_from(code).expect("checked below 0x10FFFF"), next))
}

/// The byte offset of the first `&` that does not start a decodable entity.
pub(super) fn bare_ampersand(html: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b'&' && decode_html_entity(bytes, i).is_none())
}

/// tdlib's `is_space`, which counts the terminating NUL as space.
pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0B)
}

pub(super) fn ascii_lower(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

/// `tg://user?id=123` (or `tg:user?id=123`) names a user.
pub(super) fn link_user_id(url: &str) -> Option<i64> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("tg:")?;
    let query = rest.trim_start_matches('/').strip_prefix("user?")?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("id="))
        .and_then(|id| id.parse().ok())
        .filter(|&id: &i64| id > 0)
}

/// Roughly tdlib's link check: `tg:`/`ton:` links as they are; otherwise http(s)
/// with a host, `http://` added when no scheme is given, host lower-cased and an
/// empty path turned into `/`. Anything else makes no entity.
pub(super) fn checked_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if ["tg:", "ton:", "tonsite:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
    {
        return Some(url.to_owned());
    }
    let (scheme, rest) = match lower.find("://") {
        Some(at) => (&lower[..at], &url[at + 3..]),
        None => ("http", url),
    };
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    if host.is_empty() || host.contains('@') {
        return None;
    }
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Some(format!(
        "{scheme}://{}{slash}{tail}",
        host.to_ascii_lowercase()
    ))
}

/// Telegram trims leading and trailing whitespace; entities are clipped to match.
pub(super) fn trim_text(text: &str, entities: Vec<Value>) -> (String, Vec<Value>) {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let trimmed = text.trim_matches(is_ws);
    if trimmed.len() == text.len() {
        return (text.to_owned(), entities);
    }
    let leading = utf16_len(&text[..text.len() - text.trim_start_matches(is_ws).len()]);
    let length = utf16_len(trimmed);
    let entities = entities
        .into_iter()
        .filter_map(|mut entity| {
            let offset = usize::try_from(entity["offset"].as_u64()?).ok()?;
            let end = offset + usize::try_from(entity["length"].as_u64()?).ok()?;
            let start = offset.max(leading) - leading;
            let end = end.min(leading + length).saturating_sub(leading);
            if end <= start {
                return None;
            }
            entity["offset"] = json!(start);
            entity["length"] = json!(end - start);
            Some(entity)
        })
        .collect();
    (trimmed.to_owned(), entities)
}

//! A feed's bytes as UTF-8 text, by the XML rules for finding the encoding: a byte-order
//! mark, else the XML declaration's `encoding=`, else the HTTP `charset`, else UTF-8, and
//! Windows-1252 (the web's Latin-1) for bytes that are not UTF-8 after all. UTF-16 without
//! a byte-order mark is recognized by its first two bytes (`<` next to a zero byte).
//!
//! The XML layer under feed-rs must never decode a second time (it would garble the text,
//! or panic when the declaration comes too late for it), so every XML declaration that
//! names an encoding is replaced by a plain `<?xml version="1.0"?>`.

use std::borrow::Cow;

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// A feed's text and how it was read.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: &'static Encoding,
    /// The bytes claimed (or were assumed) to be UTF-8 but are not; read as Windows-1252.
    pub fallback: bool,
}

/// Reads `bytes` as text; `http_charset` is the `charset` of the HTTP `Content-Type`.
pub fn decode<'a>(bytes: &'a [u8], http_charset: Option<&str>) -> Decoded<'a> {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        return finish(decode_with(encoding, &bytes[bom..]), encoding, false);
    }
    // `<` as one 16-bit unit: UTF-16 (or its subset UCS-2) without a byte-order mark.
    match bytes {
        [0, b'<', ..] => return finish(decode_with(UTF_16BE, bytes), UTF_16BE, false),
        [b'<', 0, ..] => return finish(decode_with(UTF_16LE, bytes), UTF_16LE, false),
        _ => {}
    }
    // The text is ASCII-compatible from here on: a 16-bit label is a mistake, and
    // `replacement` (what encoding_rs calls labels such as ISO-2022-KR) decodes nothing.
    let usable = |label: &[u8]| {
        Encoding::for_label(label.trim_ascii())
            .filter(|e| *e != UTF_16BE && *e != UTF_16LE && *e != REPLACEMENT)
    };
    let declared = declared_encoding(bytes).and_then(usable);
    let http = http_charset.and_then(|c| usable(c.as_bytes()));
    for encoding in [declared, http, Some(UTF_8)].into_iter().flatten() {
        if encoding == UTF_8 {
            match std::str::from_utf8(bytes) {
                Ok(text) => return finish(Cow::Borrowed(text), UTF_8, false),
                // Claimed UTF-8 but is not: the next source of a name may know better.
                Err(_) => continue,
            }
        }
        return finish(decode_with(encoding, bytes), encoding, false);
    }
    finish(decode_with(WINDOWS_1252, bytes), WINDOWS_1252, true)
}

fn decode_with<'a>(encoding: &'static Encoding, bytes: &'a [u8]) -> Cow<'a, str> {
    encoding.decode_without_bom_handling(bytes).0
}

fn finish<'a>(text: Cow<'a, str>, encoding: &'static Encoding, fallback: bool) -> Decoded<'a> {
    Decoded {
        text: without_declared_encoding(text),
        encoding,
        fallback,
    }
}

/// The `encoding` named by the XML declaration at the start of `bytes`, if any.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &bytes[start..bytes.len().min(start + 1024)];
    let decl = head.strip_prefix(b"<?xml")?;
    let decl = &decl[..find(decl, b"?>")?];
    let at = find(decl, b"encoding")?;
    let rest = decl[at + b"encoding".len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    Some(&rest[..rest.iter().position(|&b| b == quote)?])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Replaces every XML declaration that names an encoding by `<?xml version="1.0"?>`.
fn without_declared_encoding(text: Cow<'_, str>) -> Cow<'_, str> {
    const PLAIN: &str = "<?xml version=\"1.0\"?>";
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("<?xml") {
        let start = from + found;
        let after = start + "<?xml".len();
        from = after;
        // A declaration is `<?xml` and a space; `<?xml-stylesheet …?>` is something else.
        if !text[after..].starts_with([' ', '\t', '\r', '\n']) {
            continue;
        }
        let Some(len) = text[after..].find("?>") else {
            break;
        };
        let end = after + len + "?>".len();
        if text[start..end].contains("encoding") {
            out.push_str(&text[copied..start]);
            out.push_str(PLAIN);
            copied = end;
        }
        from = end;
    }
    if copied == 0 {
        return text;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if big_endian {
                &[0xFE, 0xFF]
            } else {
                &[0xFF, 0xFE]
            });
        }
        for unit in text.encode_utf16() {
            out.extend_from_slice(&if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let xml = "<?xml version=\"1.0\" encoding=\"ucs-2\"?><rss>Привет</rss>";
        for (be, bom) in [(true, false), (false, false), (true, true), (false, true)] {
            let bytes = utf16(xml, be, bom);
            let d = decode(&bytes, None);
            assert_eq!(
                d.text, "<?xml version=\"1.0\"?><rss>Привет</rss>",
                "{be} {bom}"
            );
            assert_eq!(d.encoding, if be { UTF_16BE } else { UTF_16LE });
        }
    }

    #[test]
    fn the_declaration_wins_over_http_which_wins_over_the_default() {
        let (cyr, _, _) = encoding_rs::WINDOWS_1251.encode("Новости");
        let mut doc = b"<?xml version='1.0' encoding='windows-1251'?><a>".to_vec();
        doc.extend_from_slice(&cyr);
        let d = decode(&doc, Some("koi8-r"));
        assert_eq!(d.text, "<?xml version=\"1.0\"?><a>Новости");
        let bare = [b"<a>".as_slice(), &cyr].concat();
        assert_eq!(decode(&bare, Some("windows-1251")).text, "<a>Новости");
        let (koi, _, _) = encoding_rs::KOI8_R.encode("Новости");
        assert_eq!(decode(&koi, Some("KOI8-R")).text, "Новости");
    }

    #[test]
    fn claimed_utf8_that_is_not_falls_back() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>F\xfc\xdfe \x93q\x94</a>";
        let d = decode(latin1, None);
        assert!(d.fallback);
        assert_eq!(
            d.text,
            "<?xml version=\"1.0\"?><a>Füße \u{201c}q\u{201d}</a>"
        );
        // The HTTP charset is asked before giving up on a false UTF-8 declaration.
        let (cyr, _, _) = encoding_rs::WINDOWS_1251.encode("Мир");
        let doc = [
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><a>".as_slice(),
            &cyr,
        ]
        .concat();
        let d = decode(&doc, Some("cp1251"));
        assert!(!d.fallback);
        assert!(d.text.ends_with("<a>Мир"), "{}", d.text);
    }

    #[test]
    fn valid_utf8_is_borrowed_and_other_declarations_stay() {
        let doc = "<?xml version=\"1.0\"?><?xml-stylesheet href=\"a.xsl\"?><a>ü</a>";
        let d = decode(doc.as_bytes(), Some("nonsense"));
        assert!(matches!(d.text, Cow::Borrowed(_)));
        assert_eq!(d.text, doc);
        // A second declaration naming an encoding, deep in the document, is neutralized too.
        let twice = "<?xml version=\"1.0\" encoding=\"utf-8\"?><a><?xml version=\"1.0\" encoding=\"utf-16\"?></a>";
        assert_eq!(
            decode(twice.as_bytes(), None).text,
            "<?xml version=\"1.0\"?><a><?xml version=\"1.0\"?></a>"
        );
    }

    #[test]
    fn a_label_for_16_bits_on_8_bit_text_is_ignored() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>ü</a>";
        assert_eq!(
            decode(doc.as_bytes(), Some("utf-16")).text,
            "<?xml version=\"1.0\"?><a>ü</a>"
        );
        assert!(decode(b"", None).text.is_empty());
        assert!(decode(b"<", None).text == "<");
    }
}

//! A feed's bytes as UTF-8 text, by the XML rules for finding the encoding: a byte-order
//! mark, else the XML declaration's `encoding=`, else the HTTP `charset`, else UTF-8, and
//! Windows-1252 (the web's Latin-1) for bytes that are not UTF-8 after all. UTF-16 without
//! a byte-order mark is recognized by its first two bytes (`<` next to a zero byte).
//!
//! The XML layer under feed-rs must never decode a second time (it would garble the text,
//! or panic when the declaration comes too late for it), so every XML declaration that
//! names an encoding is replaced by a plain `<?xml version="1.0"?>` in what it reads
//! ([`XmlText`]): the decoded text with a few small edits, never copied whole.

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use memchr::memmem;

/// A feed's text and how it was read.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The text as decoded, declarations included: [`Decoded::xml`] is what the XML
    /// layer reads.
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
        text,
        encoding,
        fallback,
    }
}

impl Decoded<'_> {
    /// The text as the XML layer must read it: every declaration naming an encoding
    /// replaced by a plain one.
    pub fn xml(&self) -> XmlText<'_> {
        let mut xml = XmlText {
            text: &self.text,
            edits: Vec::new(),
        };
        for range in declarations_naming_an_encoding(&self.text) {
            xml.replace(range, PLAIN_DECLARATION);
        }
        xml
    }
}

/// The `encoding` named by the XML declaration at the start of `bytes`, if any.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &bytes[start..bytes.len().min(start + 1024)];
    let decl = head.strip_prefix(b"<?xml")?;
    let decl = &decl[..memmem::find(decl, b"?>")?];
    let at = memmem::find(decl, b"encoding")?;
    let rest = decl[at + b"encoding".len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    Some(&rest[..rest.iter().position(|&b| b == quote)?])
}

const PLAIN_DECLARATION: &str = "<?xml version=\"1.0\"?>";

/// Where the XML declarations that name an encoding are in `text`: at its start, as a
/// rule, but a broken feed may carry more further on.
fn declarations_naming_an_encoding(text: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = memmem::find(&text.as_bytes()[from..], b"<?xml") {
        let start = from + at;
        let after = start + "<?xml".len();
        from = after;
        // A declaration is `<?xml` and a space; `<?xml-stylesheet …?>` is something else.
        if !text[after..].starts_with([' ', '\t', '\r', '\n']) {
            continue;
        }
        let Some(len) = memmem::find(&text.as_bytes()[after..], b"?>") else {
            break;
        };
        let end = after + len + "?>".len();
        if memmem::find(&text.as_bytes()[start..end], b"encoding").is_some() {
            found.push(start..end);
        }
        from = end;
    }
    found
}

/// A decoded document with small parts of it replaced (declarations, namespace names),
/// read in pieces so that a feed of megabytes is not copied to change a few bytes.
#[derive(Debug)]
pub struct XmlText<'t> {
    text: &'t str,
    /// Ranges of `text` and what replaces each, in order, none overlapping.
    edits: Vec<(Range<usize>, &'static str)>,
}

impl<'t> XmlText<'t> {
    /// The text before any edit.
    pub fn original(&self) -> &'t str {
        self.text
    }

    /// Replaces `range` of the original text by `with`. A range that overlaps an earlier
    /// edit is left alone (the two would contradict each other), and so is one that is
    /// not a range of whole characters of the text.
    pub fn replace(&mut self, range: Range<usize>, with: &'static str) {
        if range.start > range.end
            || !self.text.is_char_boundary(range.start)
            || !self.text.is_char_boundary(range.end)
        {
            return;
        }
        let at = self.edits.partition_point(|(r, _)| r.start < range.start);
        let overlaps_before = at > 0 && self.edits[at - 1].0.end > range.start;
        let overlaps_after = self.edits.get(at).is_some_and(|(r, _)| r.start < range.end);
        if !overlaps_before && !overlaps_after {
            self.edits.insert(at, (range, with));
        }
    }

    /// The edited text, piece by piece.
    pub fn pieces(&self) -> impl Iterator<Item = &str> + '_ {
        let mut pieces = Vec::with_capacity(self.edits.len() * 2 + 1);
        let mut copied = 0;
        for (range, with) in &self.edits {
            pieces.push(&self.text[copied..range.start]);
            pieces.push(*with);
            copied = range.end;
        }
        pieces.push(&self.text[copied..]);
        pieces.into_iter().filter(|p| !p.is_empty())
    }

    /// The edited text as one reader.
    pub fn reader(&self) -> impl Read + '_ {
        PiecesReader {
            pieces: self.pieces().map(str::as_bytes).collect(),
            next: 0,
        }
    }

    /// The edited text as one string: a copy, for the rare reader that needs it whole.
    pub fn to_text(&self) -> Cow<'t, str> {
        if self.edits.is_empty() {
            Cow::Borrowed(self.text)
        } else {
            Cow::Owned(self.pieces().collect())
        }
    }
}

struct PiecesReader<'a> {
    pieces: Vec<&'a [u8]>,
    next: usize,
}

impl Read for PiecesReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(piece) = self.pieces.get_mut(self.next) else {
            return Ok(0);
        };
        let n = piece.read(buf)?;
        if piece.is_empty() {
            self.next += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the XML layer reads of `d`, through the reader it is given.
    fn read_xml(d: &Decoded<'_>) -> String {
        let mut out = String::new();
        d.xml().reader().read_to_string(&mut out).expect("UTF-8");
        assert_eq!(out, d.xml().to_text(), "the reader and the copy agree");
        out
    }

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
                read_xml(&d),
                "<?xml version=\"1.0\"?><rss>Привет</rss>",
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
        assert_eq!(read_xml(&d), "<?xml version=\"1.0\"?><a>Новости");
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
            read_xml(&d),
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
        assert_eq!(read_xml(&d), doc);
        assert!(matches!(d.xml().to_text(), Cow::Borrowed(_)));
        // A second declaration naming an encoding, deep in the document, is neutralized too.
        let twice = "<?xml version=\"1.0\" encoding=\"utf-8\"?><a><?xml version=\"1.0\" encoding=\"utf-16\"?></a>";
        let d = decode(twice.as_bytes(), None);
        assert!(
            matches!(d.text, Cow::Borrowed(_)),
            "valid UTF-8 is not copied"
        );
        assert_eq!(
            read_xml(&d),
            "<?xml version=\"1.0\"?><a><?xml version=\"1.0\"?></a>"
        );
        // An unterminated declaration ends the search; the text stays as it was.
        let open = "<?xml version=\"1.0\" encoding=\"utf-8\"";
        assert_eq!(read_xml(&decode(open.as_bytes(), None)), open);
    }

    #[test]
    fn a_label_for_16_bits_on_8_bit_text_is_ignored() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-16\"?><a>ü</a>";
        assert_eq!(
            read_xml(&decode(doc.as_bytes(), Some("utf-16"))),
            "<?xml version=\"1.0\"?><a>ü</a>"
        );
        assert!(decode(b"", None).text.is_empty());
        assert!(decode(b"<", None).text == "<");
    }

    #[test]
    fn edits_apply_in_order_and_overlapping_or_broken_ones_are_refused() {
        let d = decode(b"0123456789", None);
        let mut x = d.xml();
        x.replace(6..8, "[b]");
        x.replace(1..3, "[a]");
        x.replace(2..4, "[overlaps a]");
        x.replace(7..9, "[overlaps b]");
        x.replace(0..0, "<");
        x.replace(9..11, "[past the end]");
        assert_eq!(x.to_text(), "<0[a]345[b]89");
        let mut read = String::new();
        x.reader().read_to_string(&mut read).unwrap();
        assert_eq!(read, "<0[a]345[b]89");
        assert_eq!(x.original(), "0123456789");
        let d = decode("ü".as_bytes(), None);
        let mut x = d.xml();
        x.replace(1..2, "[half a letter]");
        assert_eq!(x.to_text(), "ü");
    }
}

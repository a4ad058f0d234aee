//! Any bytes, with any HTTP charset, through Herald's feed reading (decode, feed-rs,
//! normalize): it returns articles or an error, never panics in Herald's own code, and
//! what it returns keeps the promises the renderers rely on.
#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use herald::article::Lang;
use herald::feed::parse::{EXCERPT_MAX, FeedInfo, parse_document};
use herald::feed::{FeedError, catch_panic};
use herald::lang::Detector;
use libfuzzer_sys::fuzz_target;

/// A panic inside feed-rs 3.0 that Herald cannot prevent: it unwraps the parse of a
/// media:text time into 64 bits (tests/data/parser-panic.xml). Herald turns it into the
/// feed's error (`FeedError::Crashed`), which is the fix; any other panic is a finding.
const KNOWN_FEED_RS_PANIC: &str = "feed-rs-3.0.0/src/parser/util/mod.rs";

const CHARSETS: [Option<&str>; 4] = [None, Some("utf-8"), Some("windows-1251"), Some("shift_jis")];

/// The language detector of a bot that posts in Herald's interface languages, built once
/// (loading lingua's models is slow).
fn detector() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(Detector::for_ui_languages)
}

fuzz_target!(|data: &[u8]| {
    let lang = Lang::parse("en").expect("valid");
    let info = FeedInfo {
        key: "fuzz",
        lang: &lang,
        // Half the inputs with language detection, half with the feed's language only.
        detector: (data.len() % 2 == 0).then(detector),
        base: Some("https://feed.example.org/feed/"),
        known: None,
    };
    let charset = CHARSETS[data.len() % CHARSETS.len()];
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
    match catch_panic(|| parse_document(data, charset, &info, now)) {
        Ok(parsed) => {
            for a in &parsed.articles {
                assert!(!a.title.is_empty(), "an article without a headline: {a:?}");
                assert!(
                    herald::text::utf16_len(&a.excerpt) <= EXCERPT_MAX,
                    "excerpt too long"
                );
                assert!(
                    a.link.as_deref().is_none_or(|l| l.starts_with("http")),
                    "a link that is not http(s): {:?}",
                    a.link
                );
                assert!(a.id.starts_with(&format!("{}:", a.lang)), "{}", a.id);
            }
        }
        Err(FeedError::Crashed(message)) if message.contains(KNOWN_FEED_RS_PANIC) => {}
        Err(FeedError::Crashed(message)) => panic!("reading a feed panicked: {message}"),
        Err(_) => {}
    }
});

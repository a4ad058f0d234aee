//! Ingest: reading a 1,000-item WordPress-style feed, Herald's whole way (decode, parse,
//! normalize each item into an `Article`, with and without language detection, and
//! de-duplicate by id as a poll does) against bare feed-rs on the same bytes; and once more
//! as a later poll of a changed feed reads it, its posts known and their languages kept
//! (`herald-posts-known`). The feed is
//! built from the items of `tests/data/wp-en.xml` (each copy with its own guid and link)
//! and written to a file, so `scripts/ingest-bench` can time Python's feedparser on the
//! very same bytes. Prints `RESULT name items/s` lines.
//!
//!   cargo bench --bench ingest -- --feed-out /tmp/feed.xml     # 30 rounds
//!   cargo test --bench ingest                                  # once, as a smoke test

use std::collections::HashSet;
use std::time::Instant;

use chrono::Utc;
use herald::article::Lang;
use herald::feed::parse::{FeedInfo, KnownLangs, KnownPosts, bare_feed_rs_entries, parse_document};

const ITEMS: usize = 1000;

/// The fixture's channel with its items copied to `ITEMS`, each under a guid and link of
/// its own.
fn wordpress_feed() -> String {
    let fixture =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/wp-en.xml"))
            .expect("fixture");
    let start = fixture.find("<item>").expect("items");
    let end = fixture.rfind("</item>").expect("items") + "</item>".len();
    let items: Vec<&str> = fixture[start..end]
        .split("<item>")
        .filter(|i| !i.trim().is_empty())
        .collect();
    let mut out = fixture[..start].to_string();
    for n in 0..ITEMS {
        let item = items[n % items.len()]
            .replace("?p=", &format!("?p={n}0"))
            .replace("/</link>", &format!("/{n}/</link>"));
        out.push_str("<item>");
        out.push_str(&item);
    }
    out.push_str(&fixture[end..]);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--rounds N"))
        .unwrap_or(if full { 30 } else { 1 });
    let feed = wordpress_feed();
    if let Some(path) = args
        .iter()
        .position(|a| a == "--feed-out")
        .and_then(|i| args.get(i + 1))
    {
        std::fs::write(path, &feed).expect("write the feed");
    }
    let bytes = feed.as_bytes();
    let en = Lang::parse("en").expect("a language");
    let detector = herald::lang::Detector::for_ui_languages();
    println!(
        "ingest: a WordPress-style RSS feed of {ITEMS} items ({} bytes), {rounds} rounds",
        bytes.len()
    );

    // `--only NAME`: just that Herald reader besides bare feed-rs (to profile it alone).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let herald = |detector: Option<&herald::lang::Detector>, known: Option<&KnownLangs>| {
        let info = FeedInfo {
            key: "bench",
            lang: &en,
            detector,
            base: Some("https://postsovietleft.org/feed/"),
            known: known.map(|k| k as &dyn KnownPosts),
        };
        let parsed = parse_document(bytes, None, &info, Utc::now()).expect("parses");
        // De-duplicated by id, as a poll does.
        let mut ids = HashSet::new();
        parsed
            .articles
            .into_iter()
            .filter(|a| ids.insert(a.id.clone()))
            .count()
    };
    // A poll of a feed that changed: its posts were stored before, so each keeps its
    // language and none is run through the detector again.
    let known: KnownLangs = {
        let info = FeedInfo {
            key: "bench",
            lang: &en,
            detector: Some(&detector),
            base: Some("https://postsovietleft.org/feed/"),
            known: None,
        };
        let parsed = parse_document(bytes, None, &info, Utc::now()).expect("parses");
        parsed
            .articles
            .into_iter()
            .map(|a| (a.post, a.lang))
            .collect()
    };
    let mut readers: Vec<(&str, Reader<'_>)> = vec![
        ("herald", Box::new(|| herald(Some(&detector), None))),
        ("herald-without-detection", Box::new(|| herald(None, None))),
        (
            "herald-posts-known",
            Box::new(|| herald(Some(&detector), Some(&known))),
        ),
        (
            "feed-rs",
            Box::new(|| bare_feed_rs_entries(bytes).expect("parses")),
        ),
    ];
    readers.retain(|(name, _)| name == &"feed-rs" || only.is_none_or(|o| o == name));
    for (name, rate) in time(rounds, &readers) {
        println!("RESULT {name} {rate:.0}");
    }
}

/// One way of reading the feed, returning the items it read.
type Reader<'a> = Box<dyn Fn() -> usize + 'a>;

/// Items a second of each reader: the readers take turns, one round each at a time, so
/// that a slower or busier stretch of the machine falls on all of them alike, and each
/// one's rate is taken from its median round.
fn time<'a>(rounds: usize, readers: &[(&'a str, Reader<'_>)]) -> Vec<(&'a str, f64)> {
    let mut seconds: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); readers.len()];
    for (_, read) in readers {
        assert_eq!(read(), ITEMS, "every item read (warm-up)");
    }
    for _ in 0..rounds {
        for ((_, read), seconds) in readers.iter().zip(&mut seconds) {
            let start = Instant::now();
            assert_eq!(read(), ITEMS);
            seconds.push(start.elapsed().as_secs_f64());
        }
    }
    readers
        .iter()
        .zip(seconds)
        .map(|((name, _), mut seconds)| {
            seconds.sort_by(f64::total_cmp);
            (*name, ITEMS as f64 / seconds[seconds.len() / 2])
        })
        .collect()
}

//! An edition's feed full of short headlines in other languages: each lands under the
//! language of its text, as a reader asking `latest` in that language sees it.

use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::wp::{Item, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";

/// Title-only headlines (the excerpt is punctuation), labelled with their language.
const HEADLINES: [(&str, &str); 10] = [
    ("en", "Every deserter brings peace closer"),
    ("en", "Couriers strike in Warsaw"),
    ("de", "Deserteure brauchen Schutz"),
    ("de", "Abschiebung nach Tiflis gestoppt"),
    ("fr", "Grève des livreurs à Lyon"),
    ("fr", "Qui paie pour la guerre ?"),
    ("ru", "Почему они молчат"),
    ("ru", "Новая волна арестов в Харькове"),
    ("uk", "Чому вони мовчать"),
    ("uk", "Нова хвиля арештів у Харкові"),
];

fn config(url: &str, detect: bool) -> String {
    format!(
        "[bot]\ndata_dir = \"data\"\n[fetch]\ntimeout = \"2s\"\n\n[[feeds]]\nurl = \"{url}\"\nlang = \"de\"\ndetect_lang = {detect}\n\n[[channels]]\ntarget = \"console\"\nlangs = [\"*\"]\n"
    )
}

/// `(lang, title)` of every stored article, from `herald latest`.
async fn stored(setup: &Setup) -> Vec<(String, String)> {
    let out = setup.run(&["latest", "-n", "10"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("  [")?.1;
            let (lang, title) = rest.split_once("]  ")?;
            Some((lang.to_string(), title.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn short_headlines_in_a_german_feed_are_filed_by_their_own_language() {
    let server = FeedServer::start().await;
    let items: Vec<Item> = HEADLINES
        .iter()
        .enumerate()
        .map(|(i, (_, title))| Item::new(100 + i as u32, title, 60 + i as i64).excerpt("…"))
        .collect();
    server.set("de.xml", rss("de", &items), RSS);

    let setup = Setup::new(&config(&server.url("de.xml"), true));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    let mut got = stored(&setup).await;
    got.sort();
    let mut want: Vec<(String, String)> = HEADLINES
        .iter()
        .map(|(l, t)| (l.to_string(), t.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want);

    // With detection off, the feed's language holds for every item.
    let setup = Setup::new(&config(&server.url("de.xml"), false));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    let got = stored(&setup).await;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(l, _)| l == "de"), "{got:?}");
}

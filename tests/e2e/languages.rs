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

fn config(url: &str, lang: &str, detect: bool) -> String {
    format!(
        "[bot]\ndata_dir = \"data\"\nbackfill = 20\n[fetch]\ntimeout = \"2s\"\n\n[[feeds]]\nurl = \"{url}\"\nlang = \"{lang}\"\ndetect_lang = {detect}\n\n[[channels]]\ntarget = \"console\"\nlangs = [\"*\"]\n"
    )
}

/// `(lang, title)` of every stored article, from `herald latest`.
async fn stored(setup: &Setup) -> Vec<(String, String)> {
    let out = setup.run(&["latest", "-n", "20"]).await;
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

fn headlines() -> Vec<Item> {
    HEADLINES
        .iter()
        .enumerate()
        .map(|(i, (_, title))| Item::new(100 + i as u32, title, 60 + i as i64).excerpt("…"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn short_headlines_in_a_german_feed_are_filed_by_their_own_language() {
    let server = FeedServer::start().await;
    let items = headlines();
    server.set("de.xml", rss("de", &items), RSS);

    let setup = Setup::new(&config(&server.url("de.xml"), "de", true));
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
    let setup = Setup::new(&config(&server.url("de.xml"), "de", false));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    let got = stored(&setup).await;
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(l, _)| l == "de"), "{got:?}");
}

/// An article's identity includes its language, so a language that changed under a known
/// post would make it a new article, posted again: a known post keeps its language.
#[tokio::test(flavor = "multi_thread")]
async fn an_article_keeps_its_language_when_the_feeds_language_or_detection_changes() {
    let server = FeedServer::start().await;
    let mut items = headlines();
    server.set("de.xml", rss("de", &items), RSS);
    let url = server.url("de.xml");
    let setup = Setup::new(&config(&url, "de", true));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    assert_eq!(poll.posts().len(), 10, "{}", poll.stdout);
    let mut before = stored(&setup).await;
    before.sort();

    // The operator turns detection off: the known headlines stay as they were filed and
    // nothing is posted again; a new one takes the feed's language.
    items.insert(0, Item::new(300, "Couriers strike again", 1).excerpt("…"));
    server.set("de.xml", rss("de", &items), RSS);
    setup.rewrite(&config(&url, "de", false));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    assert_eq!(poll.posts(), ["Couriers strike again [de]"]);
    let mut after = stored(&setup).await;
    after.sort();
    let mut want = before.clone();
    want.push(("de".into(), "Couriers strike again".into()));
    want.sort();
    assert_eq!(after, want);

    // Then the feed's language is changed, and a headline edited: still no new article.
    items[1] = Item::new(100, "Every deserter brings the peace closer", 60).excerpt("…");
    server.set("de.xml", rss("de", &items), RSS);
    setup.rewrite(&config(&url, "fr", true));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    assert!(poll.posts().is_empty(), "{}", poll.stdout);
    assert!(
        poll.stdout
            .contains("✎ updated ━━━ Every deserter brings the peace closer [en]"),
        "the edit reaches the English post: {}",
        poll.stdout
    );
    let mut last = stored(&setup).await;
    last.sort();
    let mut want = want.clone();
    let edited = want
        .iter_mut()
        .find(|(_, t)| t == "Every deserter brings peace closer")
        .unwrap();
    edited.1 = "Every deserter brings the peace closer".into();
    want.sort();
    assert_eq!(last, want);
}

/// The English edition `en.xml` and the German `de.xml`, detection on, and a console
/// channel of every language following both.
fn two_editions(server: &FeedServer) -> String {
    format!(
        "[bot]\ndata_dir = \"data\"\nbackfill = 20\n[fetch]\ntimeout = \"2s\"\n\n\
         [[feeds]]\nurl = \"{}\"\nlang = \"en\"\n\n[[feeds]]\nurl = \"{}\"\nlang = \"de\"\n\n\
         [[channels]]\ntarget = \"console\"\nlangs = [\"*\"]\n",
        server.url("en.xml"),
        server.url("de.xml")
    )
}

/// An untranslated article carried by two editions: where the detector cannot tell its
/// language from a short headline, the second edition files it as the first did, not
/// under its own language, so a channel following both editions gets it once.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_another_edition_brought_keeps_its_language_where_the_guess_is_unsure() {
    let server = FeedServer::start().await;
    // "Panel": too short for the detector to be sure of (see `lang::MIN_CONFIDENCE`).
    let shared = Item::new(500, "Panel", 30).excerpt("…");
    let german = Item::new(501, "Deserteure brauchen Schutz", 60).excerpt("…");
    server.set("en.xml", rss("en", std::slice::from_ref(&shared)), RSS);
    server.set("de.xml", rss("de", std::slice::from_ref(&german)), RSS);
    let setup = Setup::new(&two_editions(&server));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    let mut posts = poll.posts();
    posts.sort();
    assert_eq!(posts, ["Deserteure brauchen Schutz [de]", "Panel [en]"]);

    // The German edition lists it too, untranslated.
    server.set("de.xml", rss("de", &[shared, german]), RSS);
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    assert!(poll.posts().is_empty(), "{}", poll.stdout);
    let mut got = stored(&setup).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("de".to_string(), "Deserteure brauchen Schutz".to_string()),
            ("en".to_string(), "Panel".to_string()),
        ]
    );
}

/// The same, when both editions list the post from the start and are read at the same
/// time: the second to decide sees what the first stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_two_editions_list_at_once_is_one_article_where_the_guess_is_unsure() {
    let server = FeedServer::start().await;
    let shared = Item::new(500, "Panel", 30).excerpt("…");
    server.set("en.xml", rss("en", std::slice::from_ref(&shared)), RSS);
    server.set("de.xml", rss("de", std::slice::from_ref(&shared)), RSS);
    let setup = Setup::new(&two_editions(&server));
    let poll = setup.run(&["poll", "--once"]).await;
    assert_eq!(poll.code, Some(0), "{}", poll.stderr);
    let posts = poll.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let stored = stored(&setup).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}

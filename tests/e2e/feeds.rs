//! Feeds as they are in the wild, end to end through the binary and the console channel:
//! every item shape and encoding of the fixtures in `tests/data/` is posted as a reader
//! should see it; a feed that crashes the parser is reported while the others keep
//! posting, under `poll --once` and `run`; a site migration does not flood the channel.

use std::time::Duration;

use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::wp::{Item, rss};

const XML: &str = "application/rss+xml";

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A config with these feeds (url, edition language), item languages taken from the
/// edition (no guessing, so the expected lines are exact), posting the newest `backfill`.
fn config(feeds: &[(String, &str)], bot: &str) -> String {
    let mut out = format!(
        "[bot]\ndata_dir = \"data\"\npoll_interval = \"1s\"\n{bot}\n[fetch]\ntimeout = \"5s\"\n\n"
    );
    for (url, lang) in feeds {
        out.push_str(&format!(
            "[[feeds]]\nurl = \"{url}\"\nlang = \"{lang}\"\ndetect_lang = false\n\n"
        ));
    }
    out.push_str("[[channels]]\ntarget = \"console\"\nlangs = [\"*\"]\n");
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn every_item_shape_and_encoding_is_posted_as_readers_expect() {
    let server = FeedServer::start().await;
    // (fixture, edition, Content-Type as served)
    let fixtures = [
        ("no-title.xml", "en", XML),
        ("guid-permalink.xml", "en", XML),
        ("dc-title.xml", "en", XML),
        ("rss090.xml", "en", "application/rdf+xml"),
        ("rss091.xml", "en", "text/xml"),
        ("rss2-userland.xml", "en", XML),
        ("escaped-title.xml", "en", XML),
        ("windows-1251.xml", "ru", "text/xml"),
        // No declaration in the file: only the HTTP charset names the encoding.
        ("koi8-r.xml", "ru", "text/xml; charset=KOI8-R"),
        ("shift-jis.xml", "ja", "text/xml"),
        ("euc-kr.xml", "ko", "text/xml"),
        ("gb2312.xml", "zh", "text/xml"),
        ("utf16be-nobom.xml", "uk", "text/xml"),
    ];
    let mut feeds = Vec::new();
    for (name, lang, content_type) in fixtures {
        server.set(name, bytes(name), content_type);
        feeds.push((server.url(name), lang));
    }
    let setup = Setup::new(&config(&feeds, "backfill = 10"));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "every feed is read:\n{}", out.stderr);
    let long_headline = out
        .posts()
        .into_iter()
        .find(|p| p.starts_with("Our report from the meeting"))
        .unwrap_or_else(|| panic!("the long title-less post: {:?}", out.posts()));
    assert!(long_headline.ends_with("… [en]"), "{long_headline}");
    let expected = [
        // Title-less posts: the text is the headline; an item with only a link shows it.
        "Solidarity with the striking miners in Kryvyi Rih! [en]",
        long_headline.as_str(),
        "https://social.example.org/@psl/1001 [en]",
        "A guid without isPermaLink is a permalink [en]",
        "A guid marked as permalink [en]",
        "A guid that is not a permalink [en]",
        "Assembly of the Kyiv section [en]",
        "Workers\u{2019} Front & friends [en]",
        "Leaflets for the May Day march [en]",
        "Reading circle: Rosa Luxemburg [en]",
        "Café evening for the strike fund [en]",
        "Minutes of the March meeting [en]",
        "Namespaced RSS is still RSS [en]",
        "Tom & Jerry bold [en]",
        "Maths: a < b & c [en]",
        "Репрессии против коммунистов на Украине [ru]",
        "Третья годовщина войны: дискуссия в Париже [ru]",
        "Каждый дезертир приближает мир! [ru]",
        "平和のための集会 [ja]",
        "평화를 위한 집회 [ko]",
        "和平集会 [zh]",
        "Солідарність з робітниками Кривого Рогу [uk]",
    ];
    assert_eq!(
        sorted(out.posts()),
        sorted(expected.iter().map(|s| s.to_string()).collect()),
        "{}",
        out.stdout
    );
    for text in [
        // The long post's whole text under its shortened headline.
        "we spoke about the war, about repressions against the left in Ukraine and Russia",
        // Guid permalinks are the links.
        "https://guid.example.org/2025/03/default-permalink",
        "https://guid.example.org/2025/03/marked-permalink",
        "Мы обсудили войну, мир и солидарность снизу.",
        "Акция солидарности с отказниками.",
        "東京で反戦集会が開かれました。",
        "서울에서 반전 집회가 열렸습니다.",
        "工人们在上海举行了反战集会。",
        "Шахтарі страйкують за безпечні умови праці.",
    ] {
        assert!(
            out.stdout.contains(text),
            "{text:?} missing:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("https://guid.example.org/?p=77"),
        "a guid with isPermaLink=\"false\" is not a link:\n{}",
        out.stdout
    );
    let skipped = out
        .stderr
        .lines()
        .find(|l| l.contains("were skipped"))
        .unwrap_or_else(|| panic!("the empty item is reported:\n{}", out.stderr));
    assert!(
        skipped.contains("no-title.xml") && skipped.contains("skipped=1"),
        "{skipped}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_that_crashes_the_parser_is_reported_and_the_others_post_once() {
    let server = FeedServer::start().await;
    server.set("utf16.xml", bytes("utf16be-nobom.xml"), "text/xml");
    server.set("panic.xml", bytes("parser-panic.xml"), XML);
    server.set(
        "good.xml",
        rss("en", &[Item::new(1, "Solidarity evening in Cologne", 60)]),
        XML,
    );
    let feeds = [
        (server.url("panic.xml"), "en"),
        (server.url("utf16.xml"), "uk"),
        (server.url("good.xml"), "en"),
    ];
    let setup = Setup::new(&config(&feeds, "backfill = 5"));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(
        out.code,
        Some(1),
        "a failed feed fails the run:\n{}",
        out.stderr
    );
    assert_eq!(
        sorted(out.posts()),
        vec![
            "Solidarity evening in Cologne [en]",
            "Солідарність з робітниками Кривого Рогу [uk]",
        ]
    );
    let failures: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("feed failed"))
        .collect();
    assert!(!failures.is_empty(), "{}", out.stderr);
    for line in failures {
        assert!(
            line.contains("panic.xml") && line.contains("the feed crashed the parser"),
            "only the crashing feed failed: {line}"
        );
    }
    assert!(
        !out.stderr.contains("panicked at"),
        "the crash is logged once, as the feed's error:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("poll finished"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_bot_survives_a_crashing_feed_and_stops_cleanly_on_ctrl_c() {
    let server = FeedServer::start().await;
    server.set("utf16.xml", bytes("utf16be-nobom.xml"), "text/xml");
    server.set("panic.xml", bytes("parser-panic.xml"), XML);
    server.set("empty.xml", bytes("no-title.xml"), XML);
    let mut items = vec![Item::new(1, "Solidarity evening in Cologne", 60)];
    server.set("good.xml", rss("en", &items), XML);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let feeds = [
        (server.url("panic.xml"), "en"),
        (server.url("utf16.xml"), "uk"),
        (server.url("good.xml"), "en"),
        (server.url("empty.xml"), "en"),
    ];
    let text = config(&feeds, "backfill = 5").replace(
        "[fetch]",
        &format!("[ops]\nlisten = \"127.0.0.1:{port}\"\nstall_after = \"0s\"\n\n[fetch]"),
    );
    let setup = Setup::new(&text);
    let bot = setup.start();
    bot.wait_log("the feed crashed the parser", Duration::from_secs(30))
        .await;
    let posts = bot.wait_posts(5, Duration::from_secs(30)).await;
    assert!(
        posts.contains(&"Солідарність з робітниками Кривого Рогу [uk]".to_string()),
        "{posts:?}"
    );
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        async move {
            let r = reqwest::get(url).await.expect("ops endpoint answers");
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, health) = get("/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert!(
        health.contains("panic.xml") && health.contains("the feed crashed the parser"),
        "{health}"
    );
    assert!(!health.contains("utf16.xml"), "{health}");
    let (_, metrics) = get("/metrics").await;
    let panic_feed = server.url("panic.xml");
    assert!(
        metrics.contains(&format!(
            "herald_feed_polls_total{{feed=\"{panic_feed}\",result=\"error\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "herald_feed_items_skipped_total{{feed=\"{}\"}}",
            server.url("empty.xml")
        )),
        "{metrics}"
    );

    // The other feeds keep being polled and posting.
    items.insert(0, Item::new(2, "Fresh news after the crash", 1));
    server.set("good.xml", rss("en", &items), XML);
    let posts = bot.wait_posts(6, Duration::from_secs(30)).await;
    assert_eq!(posts.last().unwrap(), "Fresh news after the crash [en]");

    let out = bot.interrupt().await;
    assert_eq!(out.code, Some(0), "Ctrl-C is a clean stop:\n{}", out.stderr);
    let interrupted = out
        .stderr
        .find("interrupted")
        .expect("the signal is logged");
    let stopped = out.stderr.rfind("stopped").expect("the stop is logged");
    assert!(interrupted < stopped, "{}", out.stderr);
    assert!(!out.stderr.contains("panicked at"), "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("the feed crashed the parser").count(),
        1,
        "logged once (the feed waits for its retry):\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_migration_is_stored_but_not_posted() {
    let server = FeedServer::start().await;
    let history: Vec<Item> = (1..=5)
        .map(|i| Item::new(i, &format!("Report number {i}"), 60 * 24 * i as i64))
        .collect();
    server.set("en.xml", rss("en", &history), XML);
    let feeds = [(server.url("en.xml"), "en")];
    let setup = Setup::new(&config(&feeds, "mass_change_limit = 3"));
    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.posts().is_empty());

    // The site moves: every item gets a new guid (same dates), and one real new post.
    let mut moved: Vec<Item> = history
        .iter()
        .map(|i| Item {
            post: i.post + 1000,
            ..i.clone()
        })
        .collect();
    moved.insert(0, Item::new(100, "Really new", 5));
    server.set("en.xml", rss("en", &moved), XML);
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.posts(), vec!["Really new [en]"]);
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("mass change"))
        .unwrap_or_else(|| panic!("a warning:\n{}", out.stderr));
    assert!(
        warning.contains(&server.url("en.xml")) && warning.contains("held_back=5"),
        "{warning}"
    );
    let latest = setup.run(&["latest", "-n", "20"]).await;
    assert_eq!(
        latest.stdout.matches("Report number 3").count(),
        2,
        "the re-keyed items are stored all the same:\n{}",
        latest.stdout
    );
}

//! The status page operators open in a browser, loaded in a real headless Chromium against
//! a running bot: feeds with their last read and error, the configured channel, the count
//! of private subscribers (never their ids), the latest articles and where each went, in the
//! browser's language, escaped, and only with the endpoint's token. A screenshot of the page
//! is kept in the test's output folder.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use toml::Value;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Setup, wait_until};
use crate::support::telegram_api::{BotApi, chat, user};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:TEST-TOKEN-page";
const PAGE_TOKEN: &str = "page-token-5d2e91";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const CHANNEL: i64 = -1001000000088;
const SUBSCRIBER: i64 = 88_501;
const WAIT: Duration = Duration::from_secs(20);

/// Runs headless Chromium on `url` with `args` and returns what it printed.
fn chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("a profile folder");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("Chromium runs (`chromium` on the PATH: scripts/test installs Debian's package)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_page_shows_feeds_channels_and_where_articles_went_in_a_browser() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    api.add_chat(chat(CHANNEL, "channel", "News"));
    api.allow_flooding();
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(800, "Already there", 60)];
    feeds.set("en.xml", rss("en", &items), RSS);
    let ops = Ops::on_free_port().with_token(PAGE_TOKEN);
    let config = Config::new()
        .telegram("api_url", api.api_url())
        .telegram("chat_interval", "100ms")
        .feed_with(
            &feeds.url("en.xml"),
            "en",
            &[
                ("detect_lang", false.into()),
                ("name", Value::from("English edition")),
            ],
        )
        .feed_with(
            &feeds.url("missing.xml"),
            "en",
            &[("name", Value::from("Broken edition"))],
        )
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.env("HERALD_OPS_TOKEN", PAGE_TOKEN);
    let bot = setup.start();
    api.wait_calls("getUpdates", 1, WAIT).await;
    let polls = feeds.requests("en.xml");
    wait_until("two polls", WAIT, || feeds.requests("en.xml") >= polls + 2).await;

    // A private subscriber, and an article with a hostile title for both.
    let mut olena = user(SUBSCRIBER, "Olena");
    olena["language_code"] = "en".into();
    api.push_message(SUBSCRIBER, olena, "/subscribe");
    api.wait_sent(SUBSCRIBER, 1, WAIT).await;
    items.insert(0, Item::new(801, "Rent & strike: 5 < 7 \"now\"", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    api.wait_sent(CHANNEL, 1, WAIT).await;
    api.wait_sent(SUBSCRIBER, 2, WAIT).await;
    ops.wait_outbox_empty(WAIT).await;

    // Without the token: refused.
    let url = format!("http://127.0.0.1:{}/", ops.port);
    let client = reqwest::Client::new();
    let refused = client.get(&url).send().await.expect("the page answers");
    assert_eq!(refused.status().as_u16(), 401);
    let wrong = client
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("the page answers");
    assert_eq!(wrong.status().as_u16(), 401);
    let html = client
        .get(&url)
        .bearer_auth(PAGE_TOKEN)
        .send()
        .await
        .expect("the page answers")
        .text()
        .await
        .unwrap();
    assert!(html.contains("English edition"), "{html}");

    // In a browser asking for German, with the token in the address.
    let page = format!("{url}?token={PAGE_TOKEN}");
    let dom = chromium(&page, &["--accept-lang=de-DE,de", "--dump-dom"]);
    for shown in [
        "Herald-Status",
        "English edition",
        "Broken edition",
        &format!("telegram:{CHANNEL}"),
        "in Ordnung",
        "Private Abonnements: 1 auf Telegram, 0 auf Matrix.",
        "Rent &amp; strike: 5 &lt; 7 \"now\"",
        "gesendet",
        "ein privater Chat",
    ] {
        assert!(dom.contains(shown), "`{shown}` not on the page:\n{dom}");
    }
    assert!(
        !dom.contains("<script>"),
        "no script from a feed runs: {dom}"
    );
    assert!(
        !dom.contains(&SUBSCRIBER.to_string()),
        "no private chat id: {dom}"
    );
    // The broken feed's row says what fails.
    let broken = dom
        .split("<tr")
        .find(|row| row.contains("Broken edition"))
        .expect("a row for the broken feed");
    assert!(
        broken.contains("failing") && broken.contains("404"),
        "{broken}"
    );

    let shot: PathBuf = [env!("CARGO_TARGET_TMPDIR"), "status-page.png"]
        .iter()
        .collect();
    let _ = std::fs::remove_file(&shot);
    chromium(
        &page,
        &[
            "--accept-lang=en",
            "--window-size=1200,1400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG at {}", shot.display());
    println!("screenshot of the status page: {}", shot.display());

    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !out.stderr.contains(PAGE_TOKEN),
        "the token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_open_to_other_machines_needs_a_token() {
    let config = Config::new()
        .feed("https://news.example.org/feed/", "en")
        .set("ops", "listen", "0.0.0.0:9");
    let setup = Setup::with_config(&config);
    let out = setup.run(&["check"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("reachable from other machines")
            && out.stderr.contains("HERALD_OPS_TOKEN"),
        "{}",
        out.stderr
    );
    let mut with_token = Setup::with_config(&config);
    with_token.env("HERALD_OPS_TOKEN", PAGE_TOKEN);
    let out = with_token.run(&["check"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

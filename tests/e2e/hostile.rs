//! Hostile input and careless configuration: an empty secret in the file, control
//! characters in a feed's text, and a feed that redirects into the operator's network.

use std::time::Duration;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::telegram_api::{BotApi, chat};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const CHANNEL: i64 = -1001000000001;
const XML: &str = "application/rss+xml; charset=UTF-8";
const WAIT: Duration = Duration::from_secs(20);

/// Whether `s` holds a character no feed may put on a terminal or into a chat.
fn hostile(s: &str) -> bool {
    s.chars().any(|c| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_ops_token_in_the_file_is_a_configuration_error_naming_its_line() {
    let setup = Setup::new("[ops]\nlisten = \"0.0.0.0:9\"\ntoken = \"\"\n");
    let out = setup.run(&["check"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("herald.toml, line 3, key `token`: is empty"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn terminal_controls_and_bidi_overrides_in_a_feed_reach_neither_the_console_nor_telegram() {
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    api.allow_flooding();
    let feeds = FeedServer::start().await;
    // A title that would retitle the operator's terminal and reverse what follows it.
    let item = Item::new(
        1,
        "\x1b]0;pwned\x07Solidarity \u{202E}evening in Cologne",
        30,
    )
    .excerpt("The members gathered\x1b[2J\x07 in the city \u{2067}and talked.");
    feeds.set("en.xml", rss("en", &[item]), XML);
    let config = Config::new()
        .bot("backfill", 1)
        .telegram("api_url", api.api_url())
        .telegram("group_interval", "100ms")
        .feed(&feeds.url("en.xml"), "en")
        .channel("console", &["*"])
        .channel(&format!("telegram:{CHANNEL}"), &["*"]);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);

    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.posts(),
        ["]0;pwnedSolidarity evening in Cologne [en]"],
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("The members gathered[2J in the city and talked."),
        "{}",
        out.stdout
    );
    assert!(!hostile(&out.stdout), "{:?}", out.stdout);
    assert!(!hostile(&out.stderr), "{:?}", out.stderr);

    let sent = api.wait_sent(CHANNEL, 1, WAIT).await;
    assert!(
        sent[0]
            .text
            .contains("]0;pwnedSolidarity evening in Cologne"),
        "{}",
        sent[0].text
    );
    assert!(!hostile(&sent[0].html), "{:?}", sent[0].html);

    let latest = setup.run(&["latest"]).await;
    assert!(
        latest
            .stdout
            .contains("]0;pwnedSolidarity evening in Cologne"),
        "{}",
        latest.stdout
    );
    assert!(!hostile(&latest.stdout), "{:?}", latest.stdout);
}

//! Faults that must never cost a reader an article or bring a repeat: an item dated in
//! the future, commands in a chat the operators configured, a chat's rights taken away
//! for a while, a site migration that changes every guid or every link.

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::wp::{Item, rss};

const XML: &str = "application/rss+xml; charset=UTF-8";

/// A console channel for every language, fed by `en.xml` of `server`, its items' language
/// taken from the edition.
fn console(server: &FeedServer) -> Config {
    Config::new()
        .feed_with(
            &server.url("en.xml"),
            "en",
            &[("detect_lang", false.into())],
        )
        .channel("console", &["*"])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_dated_next_month_does_not_hold_back_the_next_burst() {
    let server = FeedServer::start().await;
    let mut items: Vec<Item> = (1..=3)
        .map(|i| Item::new(i, &format!("Report number {i}"), 60 * 24 * i as i64))
        .collect();
    server.set("en.xml", rss("en", &items), XML);
    let setup = Setup::with_config(&console(&server));
    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.posts().is_empty());

    // An event announced with its own date, a month ahead.
    items.insert(0, Item::new(50, "Congress next month", -60 * 24 * 30));
    server.set("en.xml", rss("en", &items), XML);
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(
        out.posts(),
        vec!["Congress next month [en]"],
        "{}",
        out.stderr
    );

    // Then a burst after an outage: 25 new posts, all of today.
    for i in 1..=25 {
        items.insert(
            0,
            Item::new(100 + i, &format!("Burst post {i}"), 60 - i as i64),
        );
    }
    server.set("en.xml", rss("en", &items), XML);
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let posts = out.posts();
    assert_eq!(
        posts.len(),
        25,
        "all of the burst is posted: {posts:?}\n{}",
        out.stderr
    );
    assert!(!out.stderr.contains("mass change"), "{}", out.stderr);
}

//! What an operator reads on the first runs: each feed's poll said in words with the feed's
//! name, why a first poll posts nothing, and why a repeated one-shot run posts nothing.

use toml::Value;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::wp::{Item, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";

fn items() -> Vec<Item> {
    vec![
        Item::new(3, "Solidarity evening in Cologne", 60),
        Item::new(2, "Report from the general assembly", 120),
    ]
}

/// The stderr lines that mention `needle`.
fn lines_with<'a>(stderr: &'a str, needle: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(needle)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_poll_says_what_it_stored_and_why_nothing_was_posted() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &items()), RSS);
    let config = Config::new()
        .feed_with(
            &server.url("en.xml"),
            "en",
            &[("name", Value::from("English edition"))],
        )
        .channel("console", &["*"]);
    let setup = Setup::with_config(&config);

    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.posts().is_empty(), "{:?}", first.posts());
    let said = lines_with(&first.stderr, "English edition");
    assert_eq!(
        said.len(),
        1,
        "one line for the feed, by its name: {said:?}"
    );
    for words in [
        "first poll",
        "2 stored",
        "none posted",
        "backfill",
        "herald latest",
    ] {
        assert!(
            said[0].contains(words),
            "`{words}` missing from: {}",
            said[0]
        );
    }
    assert!(
        !first.stderr.contains("Updated {"),
        "outcomes are sentences, not debug structures: {}",
        first.stderr
    );

    // Nothing new: the second run says so and where the articles were recorded.
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let said = lines_with(&second.stderr, "nothing new to post");
    assert_eq!(said.len(), 1, "{}", second.stderr);
    let data_dir = setup.path().join("data");
    assert!(
        said[0].contains(&data_dir.display().to_string()),
        "names the data folder {}: {}",
        data_dir.display(),
        said[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfilled_first_poll_and_later_articles_say_how_many_were_queued() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &items()), RSS);
    let config = Config::new()
        .feed_with(
            &server.url("en.xml"),
            "en",
            &[
                ("name", Value::from("English edition")),
                ("backfill", Value::from(1)),
            ],
        )
        .channel("console", &["*"]);
    let setup = Setup::with_config(&config);

    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.posts(), ["Solidarity evening in Cologne [en]"]);
    let said = lines_with(&first.stderr, "English edition");
    assert!(
        said.iter()
            .any(|l| l.contains("first poll") && l.contains("2 stored, 1 post queued")),
        "{said:?}"
    );
    assert!(first.stderr.contains("1 post sent"), "{}", first.stderr);
    assert!(
        !first.stderr.contains("nothing new to post"),
        "{}",
        first.stderr
    );

    let mut more = items();
    more.insert(0, Item::new(4, "Antifascist demonstration on Sunday", 5));
    server.set("en.xml", rss("en", &more), RSS);
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(second.posts(), ["Antifascist demonstration on Sunday [en]"]);
    let said = lines_with(&second.stderr, "English edition");
    assert!(
        said.iter()
            .any(|l| l.contains("new articles — 1 stored, 1 post queued")
                && !l.contains("first poll")),
        "{said:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_a_line_and_name_the_feed() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &items()), RSS);
    let config = Config::new()
        .feed_with(
            &server.url("en.xml"),
            "en",
            &[("name", Value::from("English edition"))],
        )
        .channel("console", &["*"]);
    let setup = Setup::with_config(&config);

    for args in [
        &["--log-format", "json", "poll", "--once"][..],
        // The config's choice, when the flag is not given.
        &["poll", "--once"][..],
    ] {
        if args.len() == 2 {
            setup.write(&config.clone().set("ops", "log_format", "json"));
        }
        let out = setup.run(args).await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let lines: Vec<serde_json::Value> = out
            .stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(!lines.is_empty());
        let about_feed: Vec<&serde_json::Value> = lines
            .iter()
            .filter(|l| l["fields"]["feed"] == "English edition")
            .collect();
        assert_eq!(about_feed.len(), 1, "{lines:#?}");
        assert_eq!(about_feed[0]["level"], "INFO");
        assert!(
            about_feed[0]["fields"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{:#}",
            about_feed[0]
        );
    }
}

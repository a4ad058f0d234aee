//! `herald backup` and `herald restore` through the binary: a store moved to a new, empty
//! `data_dir` through one file lists the same articles and posts nothing twice; the
//! refusals (a full `data_dir`, a file that is no backup, a bot holding the store).

use std::time::Duration;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::telegram_api::{BotApi, user};
use crate::support::wp::{Item, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";

fn config(feed: &str) -> Config {
    Config::new()
        .fetch("timeout", "2s")
        .feed(feed, "en")
        .channel("console", &["*"])
}

fn items() -> Vec<Item> {
    vec![
        Item::new(10, "Solidarity evening in Cologne", 60 * 24 * 3),
        Item::new(9, "Report from the general assembly", 60 * 24 * 4),
    ]
}

/// A store with articles, a feed's state and a sent record: a first poll, then a new item
/// posted to the console.
async fn polled(server: &FeedServer) -> (Setup, Vec<Item>) {
    let mut items = items();
    server.set("en.xml", rss("en", &items), RSS);
    let setup = Setup::with_config(&config(&server.url("en.xml")));
    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    items.insert(0, Item::new(11, "Antifascist demonstration on Sunday", 5));
    server.set("en.xml", rss("en", &items), RSS);
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(
        second.posts(),
        vec!["Antifascist demonstration on Sunday [en]"],
        "{}",
        second.stderr
    );
    (setup, items)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restored_store_lists_the_same_articles_and_posts_nothing_twice() {
    let server = FeedServer::start().await;
    let (old, mut items) = polled(&server).await;
    let file = old.path().join("herald.backup");
    let made = old.run(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    assert!(
        made.stdout
            .contains("3 articles, 0 chats, 0 queued posts, 1 sent records"),
        "{}",
        made.stdout
    );

    // Another machine: the same config, an empty data_dir.
    let new = Setup::with_config(&config(&server.url("en.xml")));
    assert!(!new.path().join("data").exists());
    let restored = new.run(&["restore", file.to_str().unwrap()]).await;
    assert_eq!(restored.code, Some(0), "{}", restored.stderr);
    assert!(
        restored
            .stdout
            .contains("3 articles, 0 chats, 0 queued posts, 1 sent records"),
        "{}",
        restored.stdout
    );

    let before = old.run(&["latest", "-n", "10"]).await;
    let after = new.run(&["latest", "-n", "10"]).await;
    assert_eq!(after.code, Some(0), "{}", after.stderr);
    assert!(
        after.stdout.contains("Antifascist demonstration on Sunday")
            && after.stdout.contains("Report from the general assembly"),
        "{}",
        after.stdout
    );
    assert_eq!(after.stdout, before.stdout);

    // The restored bot knows the feed (not a first poll, which would post nothing) and
    // what it already posted: of the feed's items, only the one new since is posted.
    items.insert(0, Item::new(12, "Call for participation", 1));
    server.set("en.xml", rss("en", &items), RSS);
    let polled = new.run(&["poll", "--once"]).await;
    assert_eq!(polled.code, Some(0), "{}", polled.stderr);
    assert_eq!(polled.posts(), vec!["Call for participation [en]"]);
    let again = new.run(&["poll", "--once"]).await;
    assert!(again.posts().is_empty(), "{:?}", again.posts());
}

#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_a_full_data_dir_and_files_that_are_not_backups() {
    let server = FeedServer::start().await;
    let (old, _) = polled(&server).await;
    let file = old.path().join("herald.backup");
    let made = old.run(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);

    let full = old.run(&["restore", file.to_str().unwrap()]).await;
    assert_eq!(full.code, Some(1), "{}", full.stderr);
    assert!(
        full.stderr.contains("already holds a Herald store")
            && full.stderr.contains("restore only into an empty data_dir"),
        "{}",
        full.stderr
    );
    let latest = old.run(&["latest", "-n", "10"]).await;
    assert!(
        latest
            .stdout
            .contains("Antifascist demonstration on Sunday"),
        "the store is untouched: {}",
        latest.stdout
    );

    let new = Setup::with_config(&config(&server.url("en.xml")));
    let garbage = new.path().join("notes.txt");
    std::fs::write(&garbage, "shopping list: bread, milk\n").unwrap();
    let refused = new.run(&["restore", garbage.to_str().unwrap()]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not a Herald backup"),
        "{}",
        refused.stderr
    );
    let newer = new.path().join("newer.backup");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&newer, text.replacen(r#""version":1"#, r#""version":2"#, 1)).unwrap();
    let refused = new.run(&["restore", newer.to_str().unwrap()]).await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("format version 2"),
        "{}",
        refused.stderr
    );
    // Nothing was restored: the data_dir holds no store, and a good file still restores.
    let latest = new.run(&["latest"]).await;
    assert_eq!(latest.stdout, "", "{}", latest.stderr);
    std::fs::remove_dir_all(new.path().join("data")).unwrap();
    let restored = new.run(&["restore", file.to_str().unwrap()]).await;
    assert_eq!(restored.code, Some(0), "{}", restored.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_and_restore_are_refused_while_a_bot_holds_the_store() {
    let server = FeedServer::start().await;
    let (setup, _) = polled(&server).await;
    let bot = setup.start();
    bot.wait_log("Herald is running", Duration::from_secs(30))
        .await;
    let data = setup.path().join("data");
    let expected = format!(
        "a running Herald (pid {}) holds the store at {}; stop it first",
        bot.pid(),
        data.display()
    );

    let file = setup.path().join("herald.backup");
    let backup = setup.run(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(backup.code, Some(1), "{}", backup.stderr);
    assert!(backup.stderr.contains(&expected), "{}", backup.stderr);
    assert!(!file.exists(), "no backup file is left");

    let restore = setup.run(&["restore", file.to_str().unwrap()]).await;
    assert_eq!(restore.code, Some(1), "{}", restore.stderr);
    assert!(restore.stderr.contains(&expected), "{}", restore.stderr);

    let stopped = bot.stop().await;
    assert_eq!(stopped.code, Some(0), "{}", stopped.stderr);
    let backup = setup.run(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(backup.code, Some(0), "{}", backup.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_subscriber_still_receives_new_articles_after_a_restore() {
    const TOKEN: &str = "777:BACKUP-TOKEN";
    const READER: i64 = 501;
    let server = FeedServer::start().await;
    let api = BotApi::start(TOKEN, "HeraldBackupBot").await;
    let mut items = items();
    server.set("en.xml", rss("en", &items), RSS);
    let config = config(&server.url("en.xml")).telegram("api_url", api.api_url());
    let mut old = Setup::with_config(&config);
    old.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let first = old.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);

    // A reader subscribes in a private chat with the running bot.
    let bot = old.start();
    api.wait_calls("getUpdates", 1, Duration::from_secs(30))
        .await;
    let mut reader = user(READER, "Olena");
    reader["language_code"] = "en".into();
    api.push_message(READER, reader, "/subscribe");
    let answer = api.wait_sent(READER, 1, Duration::from_secs(30)).await;
    assert!(
        answer[0].text.starts_with("Subscribed"),
        "{}",
        answer[0].text
    );
    bot.stop().await;

    let file = old.path().join("herald.backup");
    let made = old.run(&["backup", file.to_str().unwrap()]).await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    assert!(
        made.stdout.contains("2 articles, 1 chats"),
        "{}",
        made.stdout
    );

    let mut new = Setup::with_config(&config);
    new.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let restored = new.run(&["restore", file.to_str().unwrap()]).await;
    assert_eq!(restored.code, Some(0), "{}", restored.stderr);
    items.insert(0, Item::new(11, "Antifascist demonstration on Sunday", 5));
    server.set("en.xml", rss("en", &items), RSS);
    let polled = new.run(&["poll", "--once"]).await;
    assert_eq!(polled.code, Some(0), "{}", polled.stderr);
    assert_eq!(
        polled.posts(),
        vec!["Antifascist demonstration on Sunday [en]"]
    );
    let got = api.sent(READER);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[1]
            .text
            .starts_with("Antifascist demonstration on Sunday"),
        "{}",
        got[1].text
    );
}

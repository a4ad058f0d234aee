//! Faults that must never cost a reader an article or bring a repeat: an item dated in
//! the future, commands in a chat the operators configured, a chat's rights taken away
//! for a while, a site migration that changes every guid or every link.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::config::{Config, list};
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Running, Setup, wait_until};
use crate::support::telegram_api::{BotApi, SentMessage, chat, user};
use crate::support::wp::{Item, fixture, fixture_with, rss};

const XML: &str = "application/rss+xml; charset=UTF-8";
const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const WAIT: Duration = Duration::from_secs(30);
/// A channel configured for every feed: it shows that a post went out.
const CHANNEL: i64 = -1001000000001;

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

/// The bot on Telegram (the Bot API emulator) with the two fixture editions, `de.xml` and
/// `en.xml` (already stored when it starts, nothing posted), the configured [`CHANNEL`]
/// for both, and what a test adds to the config.
struct Telegram {
    api: BotApi,
    feeds: FeedServer,
    setup: Setup,
    ops: Ops,
    /// What each edition carries on top of its fixture, newest first.
    items: Vec<(String, Item)>,
}

impl Telegram {
    async fn new(more: impl FnOnce(Config, &FeedServer) -> Config) -> Telegram {
        let api = BotApi::start(TOKEN, "HeraldTestBot").await;
        api.allow_flooding();
        api.add_chat(chat(CHANNEL, "channel", "News"));
        let feeds = FeedServer::start().await;
        feeds.set("de.xml", fixture("wp-de.xml"), XML);
        feeds.set("en.xml", fixture("wp-en.xml"), XML);
        let ops = Ops::on_free_port();
        let config = Config::new()
            .telegram("api_url", api.api_url())
            .telegram("chat_interval", "100ms")
            .telegram("group_interval", "100ms")
            .feed(&feeds.url("de.xml"), "de")
            .feed(&feeds.url("en.xml"), "en")
            .channel(&format!("telegram:{CHANNEL}"), &["*"])
            .ops(&ops);
        let config = more(config, &feeds);
        let mut setup = Setup::with_config(&config);
        setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
        Telegram {
            api,
            feeds,
            setup,
            ops,
            items: Vec::new(),
        }
    }

    /// Starts the bot and waits until both editions were read.
    async fn start(&self) -> Running {
        let bot = self.setup.start();
        self.api.wait_calls("getUpdates", 1, WAIT).await;
        wait_until("both editions read", WAIT, || {
            bot.stderr().matches("new articles").count() >= 2
        })
        .await;
        bot
    }

    /// Publishes a new item on top of an edition's fixture (`de` or `en`).
    fn publish(&mut self, edition: &str, item: Item) {
        self.items.insert(0, (edition.to_string(), item));
        let items: Vec<Item> = self
            .items
            .iter()
            .filter(|(e, _)| e == edition)
            .map(|(_, i)| i.clone())
            .collect();
        let body = fixture_with(&format!("wp-{edition}.xml"), edition, &items);
        self.feeds.set(&format!("{edition}.xml"), body, XML);
    }

    /// Sends a command to the bot and waits for its answer in that chat.
    async fn ask(&self, chat_id: i64, from: Value, text: &str) -> SentMessage {
        let before = self.api.sent(chat_id).len();
        self.api.push_message(chat_id, from, text);
        self.api
            .wait_sent(chat_id, before + 1, WAIT)
            .await
            .pop()
            .expect("an answer")
    }

    /// The titles of the articles posted in `chat_id` (a post's first line).
    fn posted(&self, chat_id: i64) -> Vec<String> {
        self.api
            .sent(chat_id)
            .iter()
            .filter(|m| m.reply_to_message_id.is_none())
            .map(|m| m.text.lines().next().unwrap_or_default().to_string())
            .collect()
    }
}

fn person(id: i64, lang: &str) -> Value {
    let mut u = user(id, "Olena");
    u["language_code"] = json!(lang);
    u
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_in_a_configured_group_changes_nothing_and_says_who_set_it_up() {
    const GROUP: i64 = -1002000000077;
    let mut world = Telegram::new(|config, feeds| {
        config.channel_with(
            &format!("telegram:{GROUP}"),
            &["*"],
            &[("feeds", list(&[&feeds.url("de.xml")]))],
        )
    })
    .await;
    world.api.add_chat(chat(GROUP, "supergroup", "Readers"));
    world.api.set_admins(GROUP, &[700]);
    let _bot = world.start().await;

    let answer = world.ask(GROUP, person(700, "en"), "/subscribe").await;
    assert!(
        answer.text.starts_with(
            "This chat receives articles because the bot's operators set it up to. Subscribing here changes nothing"
        ),
        "{}",
        answer.text
    );

    world.publish("en", Item::new(9001, "Only for the English edition", 1));
    let sent = world.api.wait_sent(CHANNEL, 1, WAIT).await;
    assert!(sent[0].text.starts_with("Only for the English edition"));
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        world.posted(GROUP),
        Vec::<String>::new(),
        "the group takes only the feed it was configured with"
    );

    world.publish("de", Item::new(9002, "Aus der deutschen Ausgabe", 1));
    wait_until("the German post in the group", WAIT, || {
        !world.posted(GROUP).is_empty()
    })
    .await;
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(world.posted(GROUP), vec!["Aus der deutschen Ausgabe"]);
}

/// A small tmpfs of its own, unmounted when dropped; `None` where this user may not mount.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("a mount point");
        let mounted = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes a file that takes every byte left.
    fn fill(&self) {
        use std::io::Write as _;
        let mut file = std::fs::File::create(self.path().join("filler")).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_holds_the_posts_says_why_and_repeats_none_once_space_is_freed() {
    // A real full disk needs a file system of its own: a tmpfs, which root may mount.
    let Some(disk) = SmallDisk::mount(32) else {
        eprintln!("SKIPPED: mounting a tmpfs is not permitted here (run the suite as root)");
        return;
    };
    let data = disk.path().join("data");
    let data_dir = data.display().to_string();
    let mut world = Telegram::new(|config, _| config.bot("data_dir", data_dir.as_str())).await;
    let bot = world.start().await;

    // The send is under way (the API answers after 3 s) when the disk fills up.
    world.api.delay_next(CHANNEL, Duration::from_secs(3));
    world.publish("en", Item::new(9101, "Sent as the disk filled", 1));
    bot.wait_log("1 stored, 1 post queued", WAIT).await;
    disk.fill();
    world.api.wait_sent(CHANNEL, 1, WAIT).await;

    // /healthz says what is wrong, where, and with the OS error.
    let deadline = tokio::time::Instant::now() + WAIT;
    let health = loop {
        let body = world.ops.get("/healthz").await.map(|(_, body)| body);
        match body {
            Some(b) if b.contains("store: cannot write to the data folder") => break b,
            other if tokio::time::Instant::now() > deadline => {
                panic!(
                    "/healthz never named the full disk: {other:?}\n{}",
                    bot.stderr()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    assert!(health.contains(&data_dir), "{health}");
    assert!(health.contains("No space left on device"), "{health}");

    // Meanwhile a new article is published; nothing is posted, nothing twice.
    world.publish(
        "en",
        Item::new(9102, "Published while the disk was full", 1),
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(world.posted(CHANNEL), vec!["Sent as the disk filled"]);
    let said = bot
        .stderr()
        .matches("cannot write to the data folder: nothing is posted")
        .count();
    assert_eq!(said, 1, "said once:\n{}", bot.stderr());

    // Space is freed: the store is opened again and what waited arrives, once each.
    disk.free();
    world
        .api
        .wait_sent(CHANNEL, 2, Duration::from_secs(60))
        .await;
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        world.posted(CHANNEL),
        vec![
            "Sent as the disk filled",
            "Published while the disk was full"
        ]
    );
    let (status, health) = world.ops.get("/healthz").await.unwrap();
    assert_eq!((status, health.as_str()), (200, "ok\n"));
    assert!(bot.stderr().contains("the data folder takes writes again"));
    bot.stop().await;
}

impl Telegram {
    /// Serves an edition as `publish` left it, rewritten by `migrate` (a site migration).
    fn migrate(&self, edition: &str, migrate: impl Fn(&str) -> String) {
        let items: Vec<Item> = self
            .items
            .iter()
            .filter(|(e, _)| e == edition)
            .map(|(_, i)| i.clone())
            .collect();
        let body = fixture_with(&format!("wp-{edition}.xml"), edition, &items);
        self.feeds
            .set(&format!("{edition}.xml"), migrate(&body), XML);
    }
}

/// Three new posts on top of the English edition, each posted to the channel.
async fn three_posted(world: &mut Telegram) {
    for n in 1..=3 {
        world.publish(
            "en",
            Item::new(9200 + n, &format!("Recent report {n}"), 10 - n as i64),
        );
    }
    world.api.wait_sent(CHANNEL, 3, WAIT).await;
    world.ops.wait_outbox_empty(WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_that_changes_every_guid_posts_nothing_again_but_a_new_post_still_goes_out() {
    let mut world = Telegram::new(|config, _| config).await;
    let bot = world.start().await;
    three_posted(&mut world).await;

    // The site moves to a new host: every guid and every link change, titles and dates stay;
    // one new post comes with it.
    world.publish("en", Item::new(9300, "The first post after the move", 0));
    world.migrate("en", |body| {
        body.replace(
            "https://postsovietleft.org/",
            "https://www.postsovietleft.org/",
        )
        .replace("https://news.example.org/", "https://www.news.example.org/")
    });
    world.api.wait_sent(CHANNEL, 4, WAIT).await;
    bot.wait_log("a mass change", WAIT).await;
    world.ops.wait_outbox_empty(WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        world.posted(CHANNEL),
        vec![
            "Recent report 1",
            "Recent report 2",
            "Recent report 3",
            "The first post after the move"
        ]
    );
    let warned = bot
        .stderr()
        .matches("a mass change (a site migration?)")
        .count();
    assert_eq!(warned, 1, "{}", bot.stderr());
    assert!(bot.stderr().contains("held_back=13"), "{}", bot.stderr());
}

/// Every link of an edition moved to a new host, the guids kept.
fn links_moved(body: &str) -> String {
    body.replace(
        "<link>https://postsovietleft.org/",
        "<link>https://www.postsovietleft.org/",
    )
    .replace(
        "<link>https://news.example.org/",
        "<link>https://www.news.example.org/",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_that_changes_every_link_edits_no_message() {
    let mut world = Telegram::new(|config, _| config).await;
    let bot = world.start().await;
    three_posted(&mut world).await;

    // The guids stay, every link moves to https on a new host.
    world.migrate("en", links_moved);
    bot.wait_log("the links of most of the feed's articles changed", WAIT)
        .await;
    world.ops.wait_outbox_empty(WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(world.api.edits(CHANNEL).is_empty(), "no message is edited");
    assert_eq!(world.posted(CHANNEL).len(), 3, "nothing is posted again");
    assert_eq!(
        bot.stderr().matches("the links of most").count(),
        1,
        "said once: {}",
        bot.stderr()
    );

    // One article's link changed alone later: that is an editor's fix, and it is edited.
    world.migrate("en", |body| {
        links_moved(body).replace("/recent-report-3/", "/recent-report-3-corrected/")
    });
    wait_until("the corrected link edited", WAIT, || {
        world.api.edits(CHANNEL).len() == 1
    })
    .await;
    bot.stop().await;
}

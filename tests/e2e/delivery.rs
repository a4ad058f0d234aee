//! Who receives what: deliveries decided per (feed, article) whatever the order of polls,
//! and chats the operators configured keep their queue and history when someone types
//! `/unsubscribe` in them.

use std::time::Duration;

use crate::support::feed_server::FeedServer;
use crate::support::herald::Setup;
use crate::support::telegram_api::{BotApi, chat, user};
use crate::support::wp::{Item, fixture, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";
const WAIT: Duration = Duration::from_secs(20);

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The two fixture editions (in `order`) and a console channel that follows only `follows`.
fn editions(order: &[&str], follows: &str, backfill: usize) -> String {
    let mut out = format!("[bot]\ndata_dir = \"data\"\nbackfill = {backfill}\n\n");
    for name in order {
        let lang = if name.contains("-de") { "de" } else { "en" };
        out.push_str(&format!(
            "[[feeds]]\nurl = \"{}\"\nlang = \"{lang}\"\n\n",
            data(name)
        ));
    }
    out.push_str(&format!(
        "[[channels]]\ntarget = \"console\"\nlangs = [\"*\"]\nfeeds = [\"{}\"]\n",
        data(follows)
    ));
    out
}

/// The German edition's ten items as the console shows them: the two German articles and
/// the eight it carries untranslated, each under the language of its text.
async fn german_edition_posts() -> Vec<String> {
    let setup = Setup::new(&editions(&["wp-de.xml"], "wp-de.xml", 10));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.posts()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_of_one_edition_gets_every_article_of_it_whichever_feed_stored_it_first() {
    let alone = german_edition_posts().await;
    assert_eq!(alone.len(), 10, "{alone:?}");
    assert_eq!(alone.iter().filter(|p| p.ends_with("[de]")).count(), 2);

    // Both editions at once, in either order: the German edition's channel gets all ten.
    for order in [["wp-en.xml", "wp-de.xml"], ["wp-de.xml", "wp-en.xml"]] {
        let setup = Setup::new(&editions(&order, "wp-de.xml", 10));
        let out = setup.run(&["poll", "--once"]).await;
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let mut posts = out.posts();
        posts.sort();
        let mut expected = alone.clone();
        expected.sort();
        assert_eq!(posts, expected, "feeds in the order {order:?}");
        let again = setup.run(&["poll", "--once"]).await;
        assert!(again.posts().is_empty(), "once: {:?}", again.posts());
    }

    // The English edition polled alone first (its articles stored, nothing posted), the
    // German one added later: its eight English articles are stored already, but new to
    // the German feed, so its channel gets them.
    let setup = Setup::new(&editions(&["wp-en.xml"], "wp-en.xml", 0));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.posts().is_empty());
    setup.rewrite(&editions(&["wp-en.xml", "wp-de.xml"], "wp-de.xml", 10));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.posts(), alone, "all ten, oldest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsubscribe_in_a_configured_group_changes_nothing() {
    const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
    const GROUP: i64 = -1002000000007;
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    api.add_chat(chat(GROUP, "supergroup", "Readers"));
    api.set_admins(GROUP, &[700]);
    let feeds = FeedServer::start().await;
    feeds.set("de.xml", fixture("wp-de.xml"), RSS);
    let config = format!(
        "[bot]\ndata_dir = \"data\"\npoll_interval = \"1s\"\n\n\
         [telegram]\napi_url = \"{}\"\ngroup_interval = \"100ms\"\n\n\
         [[feeds]]\nurl = \"{}\"\nlang = \"de\"\n\n\
         [[channels]]\ntarget = \"telegram:{GROUP}\"\nlangs = [\"*\"]\n",
        api.api_url(),
        feeds.url("de.xml"),
    );
    let mut setup = Setup::new(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    api.wait_calls("getUpdates", 1, WAIT).await;
    bot.wait_log("new articles", WAIT).await;

    let post = |post: u32, title: &str| {
        let item = rss("de", &[Item::new(post, title, 1)]);
        let item = &item[item.find("<item>").unwrap()..item.find("</channel>").unwrap()];
        feeds.set(
            "de.xml",
            fixture("wp-de.xml").replacen("<item>", &format!("{item}<item>"), 1),
            RSS,
        );
    };
    post(7001, "Before the command");
    let before = api.wait_sent(GROUP, 1, WAIT).await;
    assert!(
        before[0].text.contains("Before the command"),
        "{}",
        before[0].text
    );

    let mut admin = user(700, "Olena");
    admin["language_code"] = "en".into();
    api.push_message(GROUP, admin, "/unsubscribe");
    let answer = api.wait_sent(GROUP, 2, WAIT).await.pop().unwrap();
    assert!(
        answer
            .text
            .starts_with("This chat receives articles because the bot's operators set it up to."),
        "{}",
        answer.text
    );

    post(7002, "After the command");
    let sent = api.wait_sent(GROUP, 3, WAIT).await;
    assert!(
        sent[2].text.contains("After the command"),
        "{}",
        sent[2].text
    );
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !out.stderr.contains("erased"),
        "nothing was erased:\n{}",
        out.stderr
    );
}

/// `[bot] retention`: articles no feed lists any more leave the store once they are older
/// than the retention (the store does not grow forever), and when the feed lists them again
/// after that, they are not posted a second time: they are dated, and older than `max_age`.
#[tokio::test(flavor = "multi_thread")]
async fn articles_a_feed_dropped_are_forgotten_after_the_retention_and_never_posted_again() {
    use crate::support::config::Config;
    use crate::support::herald::{Ops, wait_until};

    const TOKEN: &str = "123456:TEST-TOKEN-retention";
    const CHANNEL: i64 = -1001000000091;
    let api = BotApi::start(TOKEN, "HeraldTestBot").await;
    api.add_chat(chat(CHANNEL, "channel", "News"));
    api.allow_flooding();
    let feeds = FeedServer::start().await;
    let (old, older) = (
        Item::new(901, "Rent strike spreads to three more houses", 60),
        Item::new(900, "Solidarity kitchen opens on Sundays", 61),
    );
    feeds.set("en.xml", rss("en", &[old.clone(), older.clone()]), RSS);
    let ops = Ops::on_free_port();
    let config = Config::new()
        .bot("backfill", 10)
        .bot("max_age", "10s")
        .bot("retention", "10s")
        .telegram("api_url", api.api_url())
        .telegram("chat_interval", "100ms")
        .feed_with(&feeds.url("en.xml"), "en", &[("detect_lang", false.into())])
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    // The first fetch posts both (the backfill), then the feed moves on to a new article.
    api.wait_sent(CHANNEL, 2, WAIT).await;
    let fresh = Item::new(902, "Assembly on Thursday at the union hall", 0);
    feeds.set("en.xml", rss("en", std::slice::from_ref(&fresh)), RSS);
    let posts = api.wait_sent(CHANNEL, 3, WAIT).await;
    assert!(
        posts[2].text.starts_with("Assembly on Thursday"),
        "{}",
        posts[2].text
    );
    ops.wait_metric("herald_articles", 3.0, WAIT).await;

    // Ten seconds after the feed stopped listing them, the two older articles are gone.
    bot.wait_log(
        "forgot articles no feed lists any more",
        Duration::from_secs(40),
    )
    .await;
    ops.wait_metric("herald_articles", 1.0, WAIT).await;

    // The feed lists them again: stored anew, not posted again.
    let polls = feeds.requests("en.xml");
    feeds.set("en.xml", rss("en", &[fresh, old, older]), RSS);
    ops.wait_metric("herald_articles", 3.0, WAIT).await;
    wait_until("two more polls", WAIT, || {
        feeds.requests("en.xml") >= polls + 2
    })
    .await;
    ops.wait_outbox_empty(WAIT).await;
    let texts: Vec<String> = api.sent(CHANNEL).into_iter().map(|m| m.text).collect();
    assert_eq!(texts.len(), 3, "nothing posted twice: {texts:#?}");
    bot.stop().await;
}

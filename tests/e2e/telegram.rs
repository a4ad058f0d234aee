//! Telegram end to end: the real binary against the Bot API emulator — posts in channels,
//! commands in private chats and groups, subscribers, and every failure the Bot API
//! documents (429, blocked, kicked, migrated, not an admin).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::feed_server::FeedServer;
use crate::support::herald::{Running, Setup};
use crate::support::telegram_api::{BotApi, Fault, SentMessage, chat, user};
use crate::support::wp::{Item, fixture, rss};

const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const BOT: &str = "HeraldTestBot";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const CHANNEL: i64 = -1001000000001;
const WAIT: Duration = Duration::from_secs(20);

struct World {
    api: BotApi,
    feeds: FeedServer,
    setup: Setup,
    items: Vec<Item>,
}

impl World {
    /// A bot with the German fixture edition (already stored, nothing posted) and a
    /// configured channel for English and German articles.
    async fn new(extra: &str) -> World {
        let api = BotApi::start(TOKEN, BOT).await;
        api.add_chat(chat(CHANNEL, "channel", "PSL news"));
        let feeds = FeedServer::start().await;
        feeds.set("de.xml", fixture("wp-de.xml"), RSS);
        let config = format!(
            "[bot]\ndata_dir = \"data\"\npoll_interval = \"1s\"\nadmins = [\"telegram:9000\"]\n\n\
             [telegram]\napi_url = \"{}\"\nchat_interval = \"100ms\"\ngroup_interval = \"100ms\"\n{extra}\n\n\
             [[feeds]]\nurl = \"{}\"\nlang = \"de\"\n\n\
             [[channels]]\ntarget = \"telegram:{CHANNEL}\"\nlangs = [\"en\", \"de\"]\n",
            api.api_url(),
            feeds.url("de.xml"),
        );
        let mut setup = Setup::new(&config);
        setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
        World {
            api,
            feeds,
            setup,
            items: Vec::new(),
        }
    }

    async fn start(&self) -> Running {
        let bot = self.setup.start();
        self.api.wait_calls("getUpdates", 1, WAIT).await;
        bot.wait_log("new articles", WAIT).await;
        bot
    }

    /// Publishes a new item on top of the fixture edition.
    fn publish(&mut self, item: Item) {
        self.items.insert(0, item);
        let extra: String = rss("de", &self.items)
            .split("<item>")
            .skip(1)
            .map(|i| format!("<item>{}", i.replace("</channel>\n</rss>\n", "")))
            .collect();
        self.feeds.set(
            "de.xml",
            fixture("wp-de.xml").replacen("<item>", &format!("{extra}<item>"), 1),
            RSS,
        );
    }

    /// Every `sendMessage` call to a chat, the refused ones too.
    fn send_calls(&self, chat_id: i64) -> usize {
        self.api
            .calls("sendMessage")
            .iter()
            .filter(|c| c["chat_id"] == json!(chat_id))
            .count()
    }

    /// Sends a message to the bot and waits for its answer in that chat.
    async fn ask(&self, chat_id: i64, from: Value, text: &str) -> SentMessage {
        let before = self.api.sent(chat_id).len();
        self.api.push_message(chat_id, from, text);
        self.api
            .wait_sent(chat_id, before + 1, WAIT)
            .await
            .pop()
            .expect("an answer")
    }
}

fn person(id: i64, lang: &str) -> Value {
    let mut u = user(id, "Olena");
    u["language_code"] = json!(lang);
    u
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_article_reaches_the_channel_once_and_hostile_text_stays_text() {
    let mut world = World::new("").await;
    let bot = world.start().await;
    assert!(
        world.api.sent(CHANNEL).is_empty(),
        "the first fetch posts nothing"
    );
    world.publish(
        Item::new(5001, "<b>Bold</b> & <script>alert(1)</script> @channel", 2)
            .excerpt("Fish & Chips <3 and the war and the peace of the people"),
    );
    let sent = world.api.wait_sent(CHANNEL, 1, WAIT).await;
    let post = &sent[0];
    // Escaped markup in an RSS title is read as HTML (as feed readers do): the tags and the
    // script are gone, the text is escaped, and nothing becomes markup or a mention.
    assert!(
        post.text.starts_with("Bold & @channel\n\nFish & Chips <3"),
        "{}",
        post.text
    );
    assert_eq!(post.parse_mode.as_deref(), Some("HTML"));
    assert!(
        post.html.starts_with("<b>Bold &amp; @channel</b>"),
        "{}",
        post.html
    );
    assert!(
        post.text.ends_with("Read more"),
        "link words in the article's language: {}",
        post.text
    );
    let link = post
        .entities
        .iter()
        .find(|e| e["type"] == "text_link")
        .expect("a link");
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .starts_with("https://news.example.org/de/"),
        "{link}"
    );
    let preview = post.link_preview_options.clone().expect("preview options");
    assert_eq!(preview["prefer_large_media"], json!(true), "{preview}");
    assert_eq!(preview["url"], link["url"]);

    // Several more polls: nothing is sent twice.
    let polls = world.feeds.requests("de.xml");
    while world.feeds.requests("de.xml") < polls + 3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(world.api.sent(CHANNEL).len(), 1);

    // The command menu was registered in every language the bot speaks.
    let menus = world.api.calls("setMyCommands");
    let langs: Vec<String> = menus
        .iter()
        .map(|c| c["language_code"].as_str().unwrap_or("").to_string())
        .collect();
    for code in ["", "en", "de", "ru", "uk", "fr"] {
        assert!(
            langs.iter().any(|l| l == code),
            "menu for {code:?} in {langs:?}"
        );
    }
    let out = bot.stop().await;
    assert!(
        !out.stderr.contains("TEST-TOKEN"),
        "the token never appears in logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_chats_answer_latest_lang_and_subscribe() {
    let mut world = World::new("").await;
    let _bot = world.start().await;
    let olena = person(501, "de");

    let start = world.ask(501, olena.clone(), "/start").await;
    assert!(
        start.text.starts_with("Hallo!") && start.text.contains("/subscribe"),
        "{}",
        start.text
    );
    let button = &start.reply_markup.clone().expect("a button")["inline_keyboard"][0][0];
    assert_eq!(button["callback_data"], json!("/subscribe"), "{button}");

    let latest = world.ask(501, olena.clone(), "/latest 3").await;
    let lines: Vec<&str> = latest.text.lines().collect();
    assert_eq!(
        lines[0], "Neueste Artikel (allen Sprachen):",
        "{}",
        latest.text
    );
    assert_eq!(lines.len(), 4, "{}", latest.text);
    assert!(
        lines[1].starts_with("• Treffen von PSL-Aktivisten") && lines[1].ends_with("2025-03-12"),
        "{}",
        latest.text
    );
    assert!(
        lines[2].starts_with("• Third Anniversary of the War"),
        "{}",
        latest.text
    );

    let set = world.ask(501, olena.clone(), "/lang de").await;
    assert_eq!(
        set.text,
        "Erledigt: Dieser Chat erhält jetzt Artikel auf de."
    );
    let latest = world.ask(501, olena.clone(), "/latest").await;
    let titles: Vec<&str> = latest.text.lines().skip(1).collect();
    assert_eq!(
        titles.len(),
        2,
        "only the two German articles: {}",
        latest.text
    );
    assert!(titles[1].starts_with("• Weg von Folter"), "{}", latest.text);

    // `/lang` offers buttons; pressing one works like typing it.
    let menu = world.ask(501, olena.clone(), "/lang").await;
    let buttons = menu.reply_markup.clone().expect("buttons")["inline_keyboard"].clone();
    let data: Vec<&str> = buttons
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| b["callback_data"].as_str().unwrap())
        .collect();
    assert_eq!(data, vec!["/lang de", "/lang en", "/lang all"], "{buttons}");
    let before = world.api.sent(501).len();
    world
        .api
        .push_callback(501, olena.clone(), menu.message_id, "/lang all");
    let answer = world
        .api
        .wait_sent(501, before + 1, WAIT)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        answer.text,
        "Erledigt: Dieser Chat erhält jetzt Artikel auf allen Sprachen."
    );
    assert_eq!(world.api.calls("answerCallbackQuery").len(), 1);

    // Plain text and unknown commands get the help.
    assert!(
        world
            .ask(501, olena.clone(), "hello?")
            .await
            .text
            .starts_with("Befehle:")
    );
    let unknown = world.ask(501, olena.clone(), "/frobnicate").await;
    assert!(
        unknown
            .text
            .starts_with("Den Befehl /frobnicate kenne ich nicht."),
        "{}",
        unknown.text
    );

    let sub = world.ask(501, olena.clone(), "/subscribe").await;
    assert!(sub.text.starts_with("Abonniert"), "{}", sub.text);
    let replies = world.api.sent(501).len();
    world.publish(Item::new(5002, "News for subscribers", 1));
    let got = world.api.wait_sent(501, replies + 1, WAIT).await;
    assert!(
        got.last().unwrap().text.starts_with("News for subscribers"),
        "{:?}",
        got.last()
    );
    world.api.wait_sent(CHANNEL, 1, WAIT).await;

    let unsub = world.ask(501, olena.clone(), "/unsubscribe").await;
    assert!(unsub.text.starts_with("Abbestellt"), "{}", unsub.text);
    let count = world.api.sent(501).len();
    world.publish(Item::new(5003, "After unsubscribing", 1));
    world.api.wait_sent(CHANNEL, 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.api.sent(501).len(),
        count,
        "nothing after /unsubscribe"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_groups_only_admins_change_settings_and_the_bot_stays_quiet_unless_addressed() {
    let world = World::new("").await;
    let group = -1002000000002;
    world.api.add_chat(chat(group, "supergroup", "Readers"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;

    let refused = world.ask(group, person(701, "ru"), "/lang de").await;
    assert_eq!(
        refused.text,
        "Извините, менять настройки этого чата могут только его администраторы."
    );
    assert!(
        refused.reply_to_message_id.is_some(),
        "answers in groups reply to the command"
    );
    let refused = world.ask(group, person(701, "en"), "/subscribe").await;
    assert!(
        refused.text.starts_with("Sorry, only the administrators"),
        "{}",
        refused.text
    );
    let latest = world
        .ask(group, person(701, "en"), "/latest@HeraldTestBot 1")
        .await;
    assert!(
        latest.text.starts_with("Latest articles"),
        "anyone may ask /latest: {}",
        latest.text
    );

    // An anonymous administrator writes as the group itself.
    let before = world.api.sent(group).len();
    world.api.push_anonymous_admin_message(group, "/lang de");
    let anonymous = world
        .api
        .wait_sent(group, before + 1, WAIT)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        anonymous.text, "Erledigt: Dieser Chat erhält jetzt Artikel auf de.",
        "allowed, and answered in the chat's language (an anonymous admin has none)"
    );

    let ok = world.ask(group, person(700, "en"), "/subscribe").await;
    assert!(ok.text.starts_with("Subscribed"), "{}", ok.text);
    let ok = world.ask(group, person(9000, "en"), "/lang en").await;
    assert!(ok.text.starts_with("Done"), "an operator may: {}", ok.text);

    // Not addressed: plain text, another bot's command, an unknown command.
    let count = world.api.sent(group).len();
    for text in ["hello everyone", "/latest@OtherBot", "/frobnicate"] {
        world.api.push_message(group, person(701, "en"), text);
    }
    let unknown = world
        .ask(group, person(701, "en"), "/frobnicate@HeraldTestBot")
        .await;
    assert!(
        unknown
            .text
            .starts_with("I don't know the command /frobnicate."),
        "{}",
        unknown.text
    );
    assert_eq!(
        world.api.sent(group).len(),
        count + 1,
        "only the addressed command was answered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_sent_while_the_bot_was_down_are_not_answered() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let world = World::new(&format!("\n[ops]\nlisten = \"127.0.0.1:{port}\"")).await;
    let old = chrono::Utc::now().timestamp() - 3600;
    world
        .api
        .push_message_at(502, person(502, "en"), "/latest", old);
    let _bot = world.start().await;
    let fresh = world.ask(502, person(502, "en"), "/help").await;
    assert!(fresh.text.starts_with("Commands:"), "{}", fresh.text);
    assert_eq!(
        world.api.sent(502).len(),
        1,
        "the hour-old /latest was skipped"
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("herald_commands_total 1\n"),
        "only the answered command counts:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_subscribers_are_removed_and_migrated_groups_followed() {
    let mut world = World::new("").await;
    let group = -4001;
    let supergroup = -1004001;
    world.api.add_chat(chat(group, "group", "Old group"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;
    world.ask(503, person(503, "en"), "/subscribe").await;
    world.ask(group, person(700, "en"), "/subscribe").await;
    world.api.fail_always(503, Some(Fault::Blocked));
    world.api.fail_next(group, Fault::Migrated(supergroup));

    world.publish(Item::new(6001, "First after the changes", 1));
    let moved = world.api.wait_sent(supergroup, 1, WAIT).await;
    assert!(
        moved[0].text.starts_with("First after the changes"),
        "{}",
        moved[0].text
    );
    world.api.wait_sent(CHANNEL, 1, WAIT).await;

    world.publish(Item::new(6002, "Second after the changes", 1));
    let moved = world.api.wait_sent(supergroup, 2, WAIT).await;
    assert!(moved[1].text.starts_with("Second after the changes"));
    world.api.wait_sent(CHANNEL, 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_blocked = world.send_calls(503);
    assert_eq!(
        to_blocked, 2,
        "the /subscribe answer and one failed post; then the chat was dropped"
    );
    let to_old = world.send_calls(group);
    assert_eq!(
        to_old, 2,
        "the /subscribe answer and the one that learned of the move"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_delays_posts_without_losing_them() {
    let mut world = World::new("").await;
    let _bot = world.start().await;
    world.api.fail_next(CHANNEL, Fault::RetryAfter(2));
    world.publish(Item::new(7001, "One", 3));
    world.publish(Item::new(7002, "Two", 2));
    world.publish(Item::new(7003, "Three", 1));
    let sent = world.api.wait_sent(CHANNEL, 3, WAIT).await;
    let titles: Vec<&str> = sent
        .iter()
        .map(|m| m.text.lines().next().unwrap())
        .collect();
    assert_eq!(
        titles,
        vec!["One", "Two", "Three"],
        "in publication order, nothing lost"
    );
    let times = world.api.call_times(CHANNEL);
    assert_eq!(times.len(), 4, "one refused call and three posts");
    assert!(
        times[1] - times[0] >= Duration::from_secs(2),
        "waited as told: {:?}",
        times[1] - times[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_to_one_group_are_paced() {
    let mut world = World::new("").await;
    world.setup.rewrite(
        &std::fs::read_to_string(&world.setup.config)
            .unwrap()
            .replace("group_interval = \"100ms\"", "group_interval = \"1s\""),
    );
    let _bot = world.start().await;
    for n in 0..3 {
        world.publish(Item::new(7100 + n, &format!("Paced {n}"), 5 - i64::from(n)));
    }
    world.api.wait_sent(CHANNEL, 3, WAIT).await;
    let times = world.api.call_times(CHANNEL);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(950),
            "posts 1 s apart: {:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_where_the_bot_may_not_post_is_retried_and_reported() {
    let mut world = World::new("").await;
    let bot = world.start().await;
    world
        .api
        .fail_always(CHANNEL, Some(Fault::NotAdminInChannel));
    world.publish(Item::new(8001, "Waiting for rights", 1));
    bot.wait_log("cannot post to a configured channel", WAIT)
        .await;
    assert!(
        bot.stderr().contains(&format!("telegram:{CHANNEL}")),
        "the operator's channel is named"
    );
    world.api.fail_always(CHANNEL, None);
    let sent = world.api.wait_sent(CHANNEL, 1, WAIT).await;
    assert!(sent[0].text.starts_with("Waiting for rights"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_stays_out_of_logs_when_telegram_is_unreachable() {
    let mut world = World::new("").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = std::fs::read_to_string(&world.setup.config)
        .unwrap()
        .replace(&world.api.api_url(), &format!("http://{dead}"));
    world.setup.rewrite(&config);
    let bot = world.setup.start();
    bot.wait_log("new articles", WAIT).await;
    world.publish(Item::new(9001, "Unreachable", 1));
    bot.wait_log("cannot reach Telegram yet", WAIT).await;
    bot.wait_log("send failed; will retry", WAIT).await;
    let out = bot.stop().await;
    assert!(!out.stderr.contains("TEST-TOKEN"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_that_kicked_the_bot_is_dropped_and_a_server_error_retried() {
    let mut world = World::new("").await;
    let group = -1003000000003;
    world.api.add_chat(chat(group, "supergroup", "Kicked us"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;
    world.ask(group, person(700, "en"), "/subscribe").await;
    world.api.fail_always(group, Some(Fault::Kicked));
    world.api.fail_next(CHANNEL, Fault::ServerError);
    world.publish(Item::new(6101, "Despite a server error", 1));
    let sent = world
        .api
        .wait_sent(CHANNEL, 1, Duration::from_secs(40))
        .await;
    assert!(sent[0].text.starts_with("Despite a server error"));
    assert_eq!(
        world.api.call_times(CHANNEL).len(),
        2,
        "one failed call, one retry"
    );
    world.publish(Item::new(6102, "Later", 1));
    world.api.wait_sent(CHANNEL, 2, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_group = world.send_calls(group);
    assert_eq!(
        to_group, 2,
        "the /subscribe answer and one refused post; then the group was dropped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_broadcast_loses_nothing_and_repeats_at_most_the_message_in_flight() {
    let mut world = World::new("").await;
    let bot = world.start().await;
    for n in 0..10 {
        world.publish(Item::new(
            6200 + n,
            &format!("Broadcast {n}"),
            20 - i64::from(n),
        ));
    }
    world.api.wait_sent(CHANNEL, 3, WAIT).await;
    bot.kill().await;
    let at_kill = world.api.sent(CHANNEL).len();
    assert!(at_kill < 10, "killed mid-broadcast ({at_kill} sent)");

    let _bot = world.setup.start();
    let first_line = |m: &SentMessage| m.text.lines().next().unwrap_or("").to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut unique: Vec<String> = world.api.sent(CHANNEL).iter().map(first_line).collect();
        unique.dedup();
        if unique.len() >= 10 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rest arrives after the restart: {unique:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let titles: Vec<String> = world.api.sent(CHANNEL).iter().map(first_line).collect();
    let mut unique = titles.clone();
    unique.dedup();
    let expected: Vec<String> = (0..10).map(|n| format!("Broadcast {n}")).collect();
    assert_eq!(unique, expected, "every article, in order: {titles:?}");
    assert!(
        titles.len() <= 11,
        "at most the message in flight is repeated: {titles:?}"
    );
}

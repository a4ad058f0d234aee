//! Telegram end to end: the real binary against the Bot API emulator — posts in channels,
//! commands in private chats and groups, subscribers, and every failure the Bot API
//! documents (429, blocked, kicked, migrated, not an admin).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::config::{Config, list};
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Ops, Running, Setup, wait_until};
use crate::support::telegram_api::{BotApi, Fault, SentMessage, chat, user};
use crate::support::wp::{Item, fixture, fixture_with, rss};

const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const BOT: &str = "HeraldTestBot";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const CHANNEL: i64 = -1001000000001;
const WAIT: Duration = Duration::from_secs(20);

struct World {
    api: BotApi,
    feeds: FeedServer,
    setup: Setup,
    /// The config the bot runs with, to change and [`Setup::write`] again.
    config: Config,
    /// The bot's `/metrics`, to wait until its outbox is empty before a negative check.
    ops: Ops,
    items: Vec<Item>,
}

impl World {
    /// A bot with the German fixture edition (already stored, nothing posted) and a
    /// configured channel for English and German articles. These tests pace at 100 ms to
    /// run quickly, faster than Telegram allows, so the emulator's flood control is off.
    async fn new() -> World {
        let world = World::with_flood_control(true).await;
        world.api.allow_flooding();
        world
    }

    /// Telegram's flood control on; Herald's default pacing unless `fast` (100 ms).
    async fn with_flood_control(fast: bool) -> World {
        let api = BotApi::start(TOKEN, BOT).await;
        api.add_chat(chat(CHANNEL, "channel", "PSL news"));
        let feeds = FeedServer::start().await;
        feeds.set("de.xml", fixture("wp-de.xml"), RSS);
        let ops = Ops::on_free_port();
        let mut config = Config::new()
            .bot("admins", list(&["telegram:9000"]))
            .telegram("api_url", api.api_url())
            .feed(&feeds.url("de.xml"), "de")
            .channel(&format!("telegram:{CHANNEL}"), &["en", "de"])
            .ops(&ops);
        if fast {
            config = config
                .telegram("chat_interval", "100ms")
                .telegram("group_interval", "100ms");
        }
        let mut setup = Setup::with_config(&config);
        setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
        World {
            api,
            feeds,
            setup,
            config,
            ops,
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
        self.feeds
            .set("de.xml", fixture_with("wp-de.xml", "de", &self.items), RSS);
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
    let mut world = World::new().await;
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
    assert!(post.text.ends_with("Read more"), "{}", post.text);
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
    wait_until("three more polls", WAIT, || {
        world.feeds.requests("de.xml") >= polls + 3
    })
    .await;
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(world.api.sent(CHANNEL).len(), 1);

    // The link words are in the channel's first language (en), not the article's (de).
    world.publish(Item::new(5002, "Streik im Hafen", 1).excerpt(
        "Die Arbeiterinnen und Arbeiter des Hafens haben heute die Arbeit niedergelegt und \
             fordern höhere Löhne für alle Beschäftigten.",
    ));
    let sent = world.api.wait_sent(CHANNEL, 2, WAIT).await;
    assert!(
        sent[1].text.starts_with("Streik im Hafen") && sent[1].text.ends_with("Read more"),
        "a German article in a channel for en and de: {}",
        sent[1].text
    );

    // The command menu the emulator accepted, in every language the bot speaks.
    for code in ["", "en", "de", "ru", "uk", "fr"] {
        let menu = world.api.my_commands(Value::Null, code);
        let names: Vec<&str> = menu.iter().filter_map(|c| c["command"].as_str()).collect();
        for command in ["latest", "lang", "subscribe", "unsubscribe", "help"] {
            assert!(
                names.contains(&command),
                "menu for {code:?} has /{command}: {names:?}"
            );
        }
    }
    let out = bot.stop().await;
    assert!(
        !out.stderr.contains("TEST-TOKEN"),
        "the token never appears in logs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn private_chats_answer_latest_lang_and_subscribe() {
    let mut world = World::new().await;
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
    let post = &got.last().unwrap().text;
    assert!(
        post.starts_with("News for subscribers") && post.ends_with("Read more"),
        "in a chat of all languages the link words follow the article (en), not her \
         German: {post}"
    );
    world.api.wait_sent(CHANNEL, 1, WAIT).await;

    let unsub = world.ask(501, olena.clone(), "/unsubscribe").await;
    assert!(unsub.text.starts_with("Abbestellt"), "{}", unsub.text);
    let count = world.api.sent(501).len();
    world.publish(Item::new(5003, "After unsubscribing", 1));
    world.api.wait_sent(CHANNEL, 2, WAIT).await;
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        world.api.sent(501).len(),
        count,
        "nothing after /unsubscribe"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_groups_only_admins_change_settings_and_the_bot_stays_quiet_unless_addressed() {
    let world = World::new().await;
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

    // Buttons go through the same check: a member's press is refused, an admin's works.
    let menu = world.ask(group, person(701, "en"), "/lang").await;
    let before = world.api.sent(group).len();
    world
        .api
        .push_callback(group, person(701, "en"), menu.message_id, "/lang all");
    let pressed = world.api.wait_sent(group, before + 1, WAIT).await;
    assert_eq!(
        pressed.last().unwrap().text,
        "Sorry, only the administrators of this chat can change its settings."
    );
    world
        .api
        .push_callback(group, person(700, "en"), menu.message_id, "/lang all");
    let pressed = world.api.wait_sent(group, before + 2, WAIT).await;
    assert_eq!(
        pressed.last().unwrap().text,
        "Done: this chat now receives articles in all languages."
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
    let world = World::new().await;
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
    assert_eq!(
        world.ops.metric("herald_commands_total").await,
        Some(1.0),
        "only the answered command counts"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_subscribers_are_removed_and_migrated_groups_followed() {
    let mut world = World::new().await;
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
    world.ops.wait_outbox_empty(WAIT).await;
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
    world
        .setup
        .write(&world.config.clone().telegram("group_interval", "1s"));
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    world.setup.write(
        &world
            .config
            .clone()
            .telegram("api_url", format!("http://{dead}")),
    );
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
    let mut world = World::new().await;
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
    world.ops.wait_outbox_empty(WAIT).await;
    let to_group = world.send_calls(group);
    assert_eq!(
        to_group, 2,
        "the /subscribe answer and one refused post; then the group was dropped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_broadcast_loses_nothing_and_repeats_at_most_the_message_in_flight() {
    let mut world = World::new().await;
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
    world.ops.wait_outbox_empty(WAIT).await;
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

/// Telegram's error texts, as the Bot API sends them, decide what happens to a post in an
/// operator's channel: a chat-level error keeps it queued until the bot may post again; a
/// malformed message is set aside for good and the next one goes out.
#[tokio::test(flavor = "multi_thread")]
async fn telegram_error_texts_keep_or_set_aside_a_channel_post_as_they_mean() {
    let mut world = World::new().await;
    let _bot = world.start().await;
    let chat_level = [
        (
            400,
            "Bad Request: need administrator rights in the channel chat",
        ),
        (
            400,
            "Bad Request: not enough rights to send text messages to the chat",
        ),
        (400, "Bad Request: CHAT_WRITE_FORBIDDEN"),
        (403, "Forbidden: bot is not a member of the channel chat"),
        (403, "Forbidden: bot was blocked by the user"),
        (403, "Forbidden: user is deactivated"),
        (400, "Bad Request: chat not found"),
        (400, "Bad Request: group is deactivated"),
    ];
    let mut delivered = 0;
    for (n, (code, description)) in chat_level.into_iter().enumerate() {
        let fault = Fault::Api {
            code,
            description: description.into(),
        };
        world.api.fail_next(CHANNEL, fault);
        let refused = world.api.calls("sendMessage").len();
        let title = format!("Kept through {description}");
        world.publish(Item::new(8100 + n as u32, &title, 1));
        let calls = world.api.wait_calls("sendMessage", refused + 1, WAIT).await;
        assert_eq!(calls[refused]["chat_id"], json!(CHANNEL));
        delivered += 1;
        let sent = world.api.wait_sent(CHANNEL, delivered, WAIT).await;
        assert!(
            sent[delivered - 1].text.starts_with(&title),
            "retried after {description:?}: {:?}",
            sent[delivered - 1].text
        );
        // A chat-level error: the chat gone for good, or the bot's rights taken for now
        // (the first three), counted apart.
        let mut chat_level = 0.0;
        for outcome in ["chat_gone", "no_rights"] {
            let name = format!("herald_posts_total{{platform=\"telegram\",outcome=\"{outcome}\"}}");
            chat_level += world.ops.metric(&name).await.unwrap_or(0.0);
        }
        assert_eq!(
            chat_level,
            (n + 1) as f64,
            "{description:?} is a chat-level error"
        );
    }
    assert_eq!(
        world
            .ops
            .metric("herald_posts_total{platform=\"telegram\",outcome=\"no_rights\"}")
            .await,
        Some(3.0),
        "administrator rights, rights to send, CHAT_WRITE_FORBIDDEN"
    );
    assert_eq!(
        world.ops.metric("herald_undeliverable_posts").await,
        Some(0.0)
    );

    let malformed = [
        "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0",
        "Bad Request: message is too long",
    ];
    for (n, description) in malformed.into_iter().enumerate() {
        world.api.fail_next(
            CHANNEL,
            Fault::Api {
                code: 400,
                description: description.into(),
            },
        );
        world.publish(Item::new(8200 + n as u32, &format!("Set aside {n}"), 1));
        world
            .ops
            .wait_metric("herald_undeliverable_posts", (n + 1) as f64, WAIT)
            .await;
    }
    world.publish(Item::new(8300, "After the rejected ones", 1));
    let sent = world.api.wait_sent(CHANNEL, delivered + 1, WAIT).await;
    assert!(
        sent[delivered].text.starts_with("After the rejected ones"),
        "the rejected posts were not retried: {:?}",
        sent[delivered].text
    );
    assert_eq!(sent.len(), delivered + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_pacing_stays_within_telegram_flood_control() {
    let mut world = World::with_flood_control(false).await;
    let _bot = world.start().await;
    for n in 0..4 {
        world.publish(Item::new(9100 + n, &format!("Calm {n}"), 10 - i64::from(n)));
    }
    let sent = world.api.wait_sent(CHANNEL, 4, WAIT).await;
    let titles: Vec<&str> = sent
        .iter()
        .map(|m| m.text.lines().next().unwrap())
        .collect();
    assert_eq!(titles, ["Calm 0", "Calm 1", "Calm 2", "Calm 3"]);
    assert_eq!(
        world.api.errors("sendMessage"),
        Vec::<String>::new(),
        "never refused for flooding"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_faster_than_flood_control_allows_are_slowed_not_lost() {
    let mut world = World::with_flood_control(true).await;
    let _bot = world.start().await;
    for n in 0..4 {
        world.publish(Item::new(
            9200 + n,
            &format!("Hasty {n}"),
            10 - i64::from(n),
        ));
    }
    let sent = world.api.wait_sent(CHANNEL, 4, WAIT).await;
    let titles: Vec<&str> = sent
        .iter()
        .map(|m| m.text.lines().next().unwrap())
        .collect();
    assert_eq!(titles, ["Hasty 0", "Hasty 1", "Hasty 2", "Hasty 3"]);
    let errors = world.api.errors("sendMessage");
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.starts_with("Too Many Requests: retry after ")),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_gateway_page_and_a_send_that_never_returns_hold_up_nothing_else() {
    let mut world = World::new().await;
    let group = -1003000000007;
    world.api.add_chat(chat(group, "supergroup", "Slow chat"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;
    world.ask(group, person(700, "en"), "/subscribe").await;

    // Telegram's front server answers an HTML page while the Bot API is down.
    world.api.fail_next_call("getUpdates", Fault::BadGateway);
    world.api.fail_next(CHANNEL, Fault::BadGateway);
    // The group's send is never answered.
    world.api.fail_next(group, Fault::Hang);
    world.publish(Item::new(9301, "Through a bad gateway", 1));
    let sent = world
        .api
        .wait_sent(CHANNEL, 1, Duration::from_secs(40))
        .await;
    assert!(sent[0].text.starts_with("Through a bad gateway"));
    assert_eq!(
        world.api.call_times(CHANNEL).len(),
        2,
        "the 502 and the retry"
    );
    // Commands are still answered after the 502 on getUpdates.
    let help = world.ask(503, person(503, "en"), "/help").await;
    assert!(help.text.starts_with("Commands:"), "{}", help.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_posts_only_where_it_is_a_member_or_a_channel_admin() {
    let mut world = World::new().await;
    let group = -1003000000008;
    world
        .api
        .add_chat(chat(group, "supergroup", "Left by the bot"));
    world.api.set_admins(group, &[700]);
    let bot = world.start().await;
    world.ask(group, person(700, "en"), "/subscribe").await;
    world.api.remove_bot(group);
    // The channel's admins no longer include the bot (user 123456, from the token).
    world.api.set_admins(CHANNEL, &[700]);
    world.publish(Item::new(9401, "Needs rights", 1));
    bot.wait_log("cannot post to a configured channel", WAIT)
        .await;
    world.api.set_admins(CHANNEL, &[700, 123456]);
    let sent = world.api.wait_sent(CHANNEL, 1, WAIT).await;
    assert!(sent[0].text.starts_with("Needs rights"));
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        world.send_calls(group),
        2,
        "the /subscribe answer and one refused post; then the group was dropped"
    );
    let errors = world.api.errors("sendMessage");
    assert!(
        errors.contains(&"Forbidden: bot is not a member of the supergroup chat".to_string())
            && errors.contains(
                &"Bad Request: need administrator rights in the channel chat".to_string()
            ),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_too_long_for_telegram_is_cut_to_fit() {
    let mut world = World::new().await;
    let _bot = world.start().await;
    // Emoji and umlauts: more UTF-16 units than characters, and more bytes than both.
    let long = "Die Hafenarbeiterinnen streiken 🚢 für höhere Löhne und gegen die Überstunden. "
        .repeat(400);
    let title = "Ein sehr langer Titel über den Streik 🔥 ".repeat(40);
    world.publish(Item::new(9501, &title, 1).excerpt(&long));
    let sent = world.api.wait_sent(CHANNEL, 1, WAIT).await;
    let text = &sent[0].text;
    assert!(
        crate::support::telegram_api::utf16_len(text) <= 4096,
        "{}",
        crate::support::telegram_api::utf16_len(text)
    );
    assert!(text.starts_with("Ein sehr langer Titel"), "{text}");
    assert!(text.contains("…"), "shortened visibly: {text}");
    assert!(
        text.ends_with("Read more"),
        "the link survives the cut: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_named_by_username_is_posted_to_and_its_commands_apply_to_it() {
    const NAMED: i64 = -1001000000042;
    let api = BotApi::start(TOKEN, BOT).await;
    api.allow_flooding();
    let mut named = chat(NAMED, "channel", "PSL English");
    named["username"] = json!("psl_news");
    api.add_chat(named);
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &[Item::new(1, "Known", 60)]), RSS);
    feeds.set("de.xml", rss("de", &[Item::new(101, "Bekannt", 60)]), RSS);
    let ops = Ops::on_free_port();
    let no_detection = [("detect_lang", false.into())];
    let mut setup = Setup::with_config(
        &Config::new()
            .telegram("api_url", api.api_url())
            .telegram("chat_interval", "100ms")
            .feed_with(&feeds.url("en.xml"), "en", &no_detection)
            .feed_with(&feeds.url("de.xml"), "de", &no_detection)
            .channel("telegram:@psl_news", &["*"])
            .ops(&ops),
    );
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    bot.wait_log("new articles", WAIT).await;
    feeds.set(
        "en.xml",
        rss(
            "en",
            &[
                Item::new(2, "To the named channel", 1),
                Item::new(1, "Known", 60),
            ],
        ),
        RSS,
    );
    let sent = api.wait_sent(NAMED, 1, WAIT).await;
    assert!(
        sent[0].text.starts_with("To the named channel"),
        "{}",
        sent[0].text
    );
    // Looked up at the start: posts go to the id Telegram uses in every update.
    assert_eq!(api.calls("getChat")[0]["chat_id"], json!("@psl_news"));
    assert_eq!(api.calls("sendMessage")[0]["chat_id"], json!(NAMED));

    // The channel's admins choose its languages by posting in it, and the choice holds.
    api.push_message(NAMED, user(4242, "Admin"), "/lang de");
    let answer = api
        .wait_sent(NAMED, 2, WAIT)
        .await
        .pop()
        .expect("an answer");
    assert_eq!(
        answer.text,
        "Erledigt: Dieser Chat erhält jetzt Artikel auf de."
    );
    api.push_message(NAMED, user(4242, "Admin"), "/unsubscribe");
    let answer = api
        .wait_sent(NAMED, 3, WAIT)
        .await
        .pop()
        .expect("an answer");
    assert!(
        answer
            .text
            .starts_with("Dieser Chat erhält Artikel, weil die Betreiber"),
        "{}",
        answer.text
    );
    let en_polls = feeds.requests("en.xml");
    feeds.set(
        "en.xml",
        rss(
            "en",
            &[
                Item::new(3, "Not for this channel any more", 1),
                Item::new(2, "To the named channel", 1),
                Item::new(1, "Known", 60),
            ],
        ),
        RSS,
    );
    feeds.set(
        "de.xml",
        rss(
            "de",
            &[
                Item::new(102, "Neu im Kanal", 1),
                Item::new(101, "Bekannt", 60),
            ],
        ),
        RSS,
    );
    let sent = api.wait_sent(NAMED, 4, WAIT).await;
    assert!(sent[3].text.starts_with("Neu im Kanal"), "{}", sent[3].text);
    // The English feed was read since its change (and then once more), all of it handled.
    wait_until("two more polls of the English feed", WAIT, || {
        feeds.requests("en.xml") >= en_polls + 2
    })
    .await;
    ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        api.sent(NAMED).len(),
        4,
        "the English article is not posted"
    );
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_command_age_and_default_langs_are_honoured() {
    let world = World::new().await;
    world.setup.write(
        &world
            .config
            .clone()
            .telegram("max_command_age", "30s")
            .bot("default_langs", list(&["de"])),
    );
    // Two minutes old: answered under the default of five minutes, not under 30 s.
    let old = chrono::Utc::now().timestamp() - 120;
    world
        .api
        .push_message_at(502, person(502, "en"), "/about", old);
    let _bot = world.start().await;
    let latest = world.ask(502, person(502, "en"), "/latest").await;
    let lines: Vec<&str> = latest.text.lines().collect();
    assert_eq!(lines[0], "Latest articles (de):", "{}", latest.text);
    assert_eq!(lines.len(), 3, "the two German articles: {}", latest.text);
    assert_eq!(world.api.sent(502).len(), 1, "the old /about was skipped");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_interval_paces_a_private_chat_and_global_rate_all_chats() {
    let mut world = World::new().await;
    world.setup.write(
        &world
            .config
            .clone()
            .telegram("chat_interval", "2s")
            .telegram("global_rate", 2),
    );
    let _bot = world.start().await;
    for id in [601, 602, 603] {
        world.ask(id, person(id, "en"), "/subscribe").await;
    }
    for n in 0..3 {
        world.publish(Item::new(
            9600 + n,
            &format!("Paced for one {n}"),
            5 - i64::from(n),
        ));
    }
    for id in [601, 602, 603] {
        world.api.wait_sent(id, 4, WAIT).await;
    }
    world.api.wait_sent(CHANNEL, 3, WAIT).await;
    // One subscriber's three posts (after its /subscribe answer) are two seconds apart
    // (not the default one).
    let times = world.api.call_times(601);
    for pair in times[1..].windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(1950),
            "posts to one private chat 2 s apart: {:?}",
            pair[1] - pair[0]
        );
    }
    // Twelve posts in all at two a second take at least five and a half seconds.
    let mut posts: Vec<_> = [601, 602, 603]
        .iter()
        .flat_map(|&id| world.api.call_times(id)[1..].to_vec())
        .chain(world.api.call_times(CHANNEL))
        .collect();
    posts.sort();
    assert_eq!(posts.len(), 12);
    assert!(
        posts[11] - posts[0] >= Duration::from_millis(5400),
        "paced by global_rate: {:?}",
        posts[11] - posts[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_and_records_the_post_in_progress() {
    let mut world = World::new().await;
    let bot = world.start().await;
    world.api.delay_next(CHANNEL, Duration::from_secs(3));
    let calls = world.api.calls("sendMessage").len();
    world.publish(Item::new(9701, "In flight at shutdown", 1));
    world.api.wait_calls("sendMessage", calls + 1, WAIT).await;
    // SIGTERM while Telegram has not answered yet.
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        world.api.sent(CHANNEL).len(),
        1,
        "the send in progress was finished before exiting"
    );
    // Recorded as sent: a restart does not send it again.
    let polls = world.feeds.requests("de.xml");
    let _bot = world.setup.start();
    wait_until("two polls after the restart", WAIT, || {
        world.feeds.requests("de.xml") >= polls + 2
    })
    .await;
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(world.api.sent(CHANNEL).len(), 1, "not repeated");
}

#[tokio::test(flavor = "multi_thread")]
async fn at_start_each_configured_chat_is_said_to_be_postable_or_why_not() {
    let mut world = World::new().await;
    // A group the bot was never added to, configured beside the channel.
    let group = -1003000000011;
    world.api.add_chat(chat(group, "supergroup", "Not joined"));
    world.api.remove_bot(group);
    world.config = world
        .config
        .clone()
        .channel(&format!("telegram:{group}"), &["de"]);
    world.setup.write(&world.config);
    let bot = world.start().await;
    bot.wait_log("connected to Telegram as @HeraldTestBot", WAIT)
        .await;
    bot.wait_log("the bot can post here", WAIT).await;
    bot.wait_log("the bot cannot post here yet", WAIT).await;
    let log = bot.stop().await.stderr;
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("the bot can post here").contains(&CHANNEL.to_string()),
        "{log}"
    );
    let refused = line("the bot cannot post here yet");
    assert!(
        refused.contains(&group.to_string()) && refused.contains("not a member"),
        "{refused}"
    );

    // Without posting rights in the channel, the operator is told what to change.
    world.api.set_admins(CHANNEL, &[700]);
    let bot = world.setup.start();
    bot.wait_log("administrator allowed to post", WAIT).await;
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_button_pressed_too_long_ago_still_takes_effect_and_is_not_answered_twice() {
    let world = World::new().await;
    let _bot = world.start().await;
    let olena = person(501, "de");
    let menu = world.ask(501, olena.clone(), "/lang").await;
    let before = world.api.sent(501).len();
    // Telegram no longer takes an answer to this press (it waited too long).
    world
        .api
        .push_late_callback(501, olena.clone(), menu.message_id, "/lang all");
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
    // The bot goes on answering, and did not try the refused answer again.
    let next = world.ask(501, olena.clone(), "/lang").await;
    assert!(
        next.text
            .starts_with("Dieser Chat erhält Artikel auf: allen Sprachen."),
        "{}",
        next.text
    );
    let refused = world.api.errors("answerCallbackQuery");
    assert_eq!(world.api.calls("answerCallbackQuery").len(), 1);
    assert_eq!(refused.len(), 1);
    assert!(refused[0].contains("query is too old"), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_member_check_in_one_group_holds_up_no_other_chat() {
    let world = World::new().await;
    let group = -1002000000005;
    world.api.add_chat(chat(group, "supergroup", "Slow group"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;

    // Telegram takes ten seconds to say whether the sender is an admin of the group.
    world
        .api
        .delay_next_call("getChatMember", group, Duration::from_secs(10));
    let group_before = world.api.sent(group).len();
    world.api.push_message(group, person(700, "en"), "/lang de");
    wait_until("the bot asks about the group's sender", WAIT, || {
        world
            .api
            .calls("getChatMember")
            .iter()
            .any(|c| c["chat_id"] == json!(group))
    })
    .await;

    // Meanwhile another chat is answered, while the group still waits.
    let help = world.ask(502, person(502, "en"), "/help").await;
    assert!(help.text.starts_with("Commands:"), "{}", help.text);
    assert_eq!(
        world.api.sent(group).len(),
        group_before,
        "the private chat's answer came before the group's"
    );
    let done = world
        .api
        .wait_sent(group, group_before + 1, WAIT)
        .await
        .pop()
        .unwrap();
    assert_eq!(done.text, "Done: this chat now receives articles in de.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_flooding_commands_gets_one_note_then_silence_until_it_slows_down() {
    let world = World::new().await;
    let _bot = world.start().await;
    let olena = person(503, "en");
    for _ in 0..18 {
        world.api.push_message(503, olena.clone(), "/help");
    }
    let answers = world.api.wait_sent(503, 16, WAIT).await;
    assert!(
        answers[..15]
            .iter()
            .all(|a| a.text.starts_with("Commands:")),
        "{answers:#?}"
    );
    assert!(
        answers[15]
            .text
            .starts_with("Commands are coming faster than I answer them; I will answer again in"),
        "{}",
        answers[15].text
    );
    // Once the cool-down has passed the chat is answered again; the two commands sent
    // during it got nothing (a chat's commands are handled in order, so they came first).
    tokio::time::sleep(Duration::from_secs(30)).await;
    let next = world.ask(503, olena.clone(), "/about").await;
    assert!(next.text.starts_with("Herald"), "{}", next.text);
    assert_eq!(
        world.api.sent(503).len(),
        17,
        "nothing for the ignored commands"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_whose_rights_are_taken_for_a_while_is_kept_and_only_a_definitive_answer_forgets_a_chat()
 {
    let mut world = World::new().await;
    let group = -1004002;
    world.api.add_chat(chat(group, "supergroup", "Members"));
    world.api.set_admins(group, &[700]);
    let _bot = world.start().await;
    world.ask(group, person(700, "en"), "/subscribe").await;
    world.ask(504, person(504, "en"), "/subscribe").await;
    // Telegram's own answers when an admin turns off sending for a while (anti-raid) or
    // restricts the bot: the group must keep its subscription and get every post.
    let restrictions = [
        (
            400,
            "Bad Request: not enough rights to send text messages to the chat",
        ),
        (400, "Bad Request: have no rights to send a message"),
        (403, "Forbidden: CHAT_WRITE_FORBIDDEN"),
        (400, "Bad Request: CHAT_RESTRICTED"),
        (
            400,
            "Bad Request: need administrator rights in the channel chat",
        ),
    ];
    let answers = world.api.sent(group).len();
    for (n, (code, description)) in restrictions.into_iter().enumerate() {
        world.api.fail_next(
            group,
            Fault::Api {
                code,
                description: description.into(),
            },
        );
        let title = format!("Kept through restriction {n}");
        world.publish(Item::new(8300 + n as u32, &title, 1));
        let sent = world.api.wait_sent(group, answers + n + 1, WAIT).await;
        assert!(
            sent[answers + n].text.starts_with(&title),
            "after {description:?} the group still gets its post: {:?}",
            sent[answers + n].text
        );
    }
    world.ops.wait_outbox_empty(WAIT).await;
    assert_eq!(
        world
            .ops
            .metric("herald_chats_forgotten_total{platform=\"telegram\",reason=\"blocked\"}")
            .await,
        None,
        "nothing was forgotten"
    );
    // Each restriction was answered once, then the post went through: one refused call
    // and one post per restriction, besides the /subscribe answer.
    assert_eq!(world.send_calls(group), 1 + 2 * restrictions.len());
    // The private subscriber got every post too; now it blocks the bot: that is final.
    assert_eq!(
        world.api.sent(504).len(),
        1 + restrictions.len(),
        "the /subscribe answer and every post"
    );
    world.api.fail_always(504, Some(Fault::Blocked));
    world.publish(Item::new(8400, "After the block", 1));
    world
        .ops
        .wait_metric(
            "herald_chats_forgotten_total{platform=\"telegram\",reason=\"blocked\"}",
            1.0,
            WAIT,
        )
        .await;
    // The group, still subscribed after every restriction, gets the next post too.
    let sent = world
        .api
        .wait_sent(group, answers + restrictions.len() + 1, WAIT)
        .await;
    assert!(sent.last().unwrap().text.starts_with("After the block"));
}

//! `/status` in chat on Telegram (the Bot API emulator) and Matrix (a real Synapse): what
//! the status page shows, for operators only, in their language, with private subscribers
//! only counted; everyone else gets one neutral sentence.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::config::{Config, list};
use crate::support::feed_server::{Behavior, FeedServer};
use crate::support::herald::{Ops, Setup};
use crate::support::matrix_client::TestUser;
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, Fault, SentMessage, chat, user};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "123456:TEST-TOKEN-kept-secret";
const BOT: &str = "HeraldTestBot";
const RSS: &str = "application/rss+xml; charset=UTF-8";
const CHANNEL: i64 = -1001000000001;
/// A channel where the bot may not post.
const LOCKED: i64 = -1001000000002;
const OPERATOR: i64 = 9000;
const READER: i64 = 7001;
const WAIT: Duration = Duration::from_secs(30);
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn person(id: i64, lang: &str) -> Value {
    let mut u = user(id, "Olena");
    u["language_code"] = json!(lang);
    u
}

/// Sends `text` to the bot in `chat_id` and waits for the answer there.
async fn ask(api: &BotApi, chat_id: i64, from: Value, text: &str) -> SentMessage {
    let before = api.sent(chat_id).len();
    api.push_message(chat_id, from, text);
    api.wait_sent(chat_id, before + 1, WAIT)
        .await
        .pop()
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_operators_get_the_status_in_their_language_and_others_one_refusal() {
    let api = BotApi::start(TOKEN, BOT).await;
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    api.add_chat(chat(LOCKED, "channel", "Locked"));
    api.fail_always(LOCKED, Some(Fault::NotAdminInChannel));
    api.allow_flooding();
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(1, "Known before the start", 60)];
    feeds.set("en.xml", rss("en", &items), RSS);
    feeds.behave("down.xml", Behavior::Status(503));
    let ops = Ops::on_free_port();
    let config = Config::new()
        .bot("admins", list(&[&format!("telegram:{OPERATOR}")]))
        .telegram("api_url", api.api_url())
        .telegram("chat_interval", "100ms")
        .telegram("group_interval", "100ms")
        .feed_with(
            &feeds.url("en.xml"),
            "en",
            &[
                ("name", "Morning edition".into()),
                ("detect_lang", false.into()),
            ],
        )
        .feed(&feeds.url("down.xml"), "en")
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .channel(&format!("telegram:{LOCKED}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let bot = setup.start();
    api.wait_calls("getUpdates", 1, WAIT).await;
    bot.wait_log("new articles", WAIT).await;
    bot.wait_log("feed failed", WAIT).await;

    // A reader subscribes in a private chat; then a new article reaches everyone.
    let subscribed = ask(&api, READER, person(READER, "fr"), "/subscribe").await;
    assert!(subscribed.text.starts_with("Abonné"), "{}", subscribed.text);
    items.insert(0, Item::new(2, "Fresh from the press", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    api.wait_sent(CHANNEL, 1, WAIT).await;
    api.wait_sent(READER, 2, WAIT).await;
    bot.wait_log("cannot post to a configured channel", WAIT)
        .await;
    // Everything went out but the locked channel's post, which waits for the bot's rights.
    ops.wait_metric("herald_queued_posts", 1.0, WAIT).await;

    let status = ask(&api, OPERATOR, person(OPERATOR, "de"), "/status").await;
    let text = &status.text;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Herald-Status", "{text}");
    assert!(
        lines[1].starts_with(&format!("Version {VERSION}, läuft seit "))
            && lines[1].ends_with(". Wartende Beiträge: 1, zurückgestellt: 0."),
        "{text}"
    );
    assert!(
        text.contains("• Morning edition — in Ordnung · Artikel: 2 · Zuletzt gelesen: 20"),
        "{text}"
    );
    let down = format!(
        "• {} — gestört · Artikel: 0 · Zuletzt gelesen: nie · Nächster Abruf: 20",
        feeds.url("down.xml")
    );
    assert!(text.contains(&down), "{text}");
    assert!(
        text.contains("Letzter Fehler (") && text.contains("): the server answered HTTP 503"),
        "the failing feed's error, with its cause: {text}"
    );
    assert!(
        text.contains(&format!("• telegram:{CHANNEL} — in Ordnung · Wartend: 0")),
        "{text}"
    );
    let locked = text
        .lines()
        .find(|l| l.starts_with(&format!("• telegram:{LOCKED} — ")))
        .unwrap_or_else(|| panic!("the locked channel is listed: {text}"));
    assert!(
        locked.contains(" — gestört: ")
            && locked.contains("administrator rights")
            && locked.ends_with(" · Wartend: 1"),
        "the failing channel, with Telegram's reason: {locked}"
    );
    assert!(
        text.ends_with("Private Abonnements: 1 auf Telegram, 0 auf Matrix."),
        "{text}"
    );
    assert!(
        !text.contains(&READER.to_string()),
        "a private subscriber is only counted: {text}"
    );
    // Feed names and errors are escaped like any text in a Telegram message.
    assert_eq!(status.parse_mode.as_deref(), Some("HTML"));

    // Everyone else: one neutral sentence in their language, and nothing about the bot.
    let refused = ask(&api, READER, person(READER, "fr"), "/status").await;
    assert_eq!(
        refused.text,
        "Désolé, cette commande est réservée aux opérateurs du bot."
    );
    let group = -1001000000777;
    api.add_chat(chat(group, "supergroup", "Readers"));
    let refused = ask(&api, group, person(READER, "en"), "/status").await;
    assert_eq!(
        refused.text,
        "Sorry, this command is only for the bot's operators."
    );
    // An operator in a group is sent to a private chat: the members would read it all.
    let elsewhere = ask(&api, group, person(OPERATOR, "en"), "/status").await;
    assert_eq!(elsewhere.text, "Please ask me this in a private chat.");

    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn matrix_operators_get_the_status_in_a_room_and_other_members_one_refusal() {
    let hs = Synapse::shared().await;
    let feeds = FeedServer::start().await;
    let mut items = vec![Item::new(1, "Known before the start", 60)];
    feeds.set("en.xml", rss("en", &items), RSS);
    let operator = TestUser::login(hs, "operator").await;
    let member = TestUser::login(hs, "member").await;
    let (bot_user, password) = hs.new_user("herald").await;
    let room = operator
        .create_room(false, &[&bot_user, &member.user_id])
        .await;
    member.join(&room).await;
    let ops = Ops::on_free_port();
    let config = Config::new()
        .bot("admins", list(&[&format!("matrix:{}", operator.user_id)]))
        .fetch("timeout", "2s")
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot_user.clone())
        .feed_with(
            &feeds.url("en.xml"),
            "en",
            &[
                ("name", "Morning edition".into()),
                ("detect_lang", false.into()),
            ],
        )
        .channel(&format!("matrix:{room}"), &["*"])
        .ops(&ops);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let bot = setup.start();
    operator.wait_for_member(&room, &bot_user, WAIT).await;
    bot.wait_log("new articles", WAIT).await;

    items.insert(0, Item::new(2, "Fresh from the press", 1));
    feeds.set("en.xml", rss("en", &items), RSS);
    operator.messages_from(&room, &bot_user, 1, WAIT).await;
    ops.wait_outbox_empty(WAIT).await;

    operator.send_text(&room, "!status").await;
    let replies = operator.messages_from(&room, &bot_user, 2, WAIT).await;
    let status = &replies[1];
    assert_eq!(status.msgtype, "m.notice", "{:#}", status.event);
    let body = &status.body;
    assert!(
        body.starts_with(&format!("Herald status\nVersion {VERSION}, running for ")),
        "{body}"
    );
    assert!(
        body.contains("• Morning edition — fine · Articles: 2 · Last read: 20"),
        "{body}"
    );
    assert!(
        body.contains(&format!("• matrix:{room} — fine · Queued: 0")),
        "{body}"
    );
    assert!(
        body.ends_with("Private subscribers: 0 on Telegram, 0 on Matrix."),
        "{body}"
    );

    member.send_text(&room, "!status").await;
    let replies = operator.messages_from(&room, &bot_user, 3, WAIT).await;
    assert_eq!(
        replies[2].body,
        "Sorry, this command is only for the bot's operators."
    );

    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

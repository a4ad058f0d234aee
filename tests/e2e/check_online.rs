//! `herald check --online` through the binary, against feeds on 127.0.0.1, the Bot API
//! emulator and a real Synapse: one line per feed, platform and channel, each with what
//! was found or why it failed, exit 1 when anything failed, and never the token.

use matrix_sdk::ruma::api::client::room::create_room;

use crate::support::config::Config;
use crate::support::feed_server::FeedServer;
use crate::support::herald::{Output, Setup};
use crate::support::matrix_client::TestUser;
use crate::support::synapse::Synapse;
use crate::support::telegram_api::{BotApi, chat};
use crate::support::wp::{Item, rss};

const TOKEN: &str = "424242:CHECK-TOKEN-kept-secret";
const BOT: &str = "HeraldCheckBot";
const CHANNEL: i64 = -1001000000077;
const RSS: &str = "application/rss+xml; charset=UTF-8";

fn items() -> Vec<Item> {
    vec![
        Item::new(10, "Solidarity evening in Cologne", 60),
        Item::new(9, "Report from the general assembly", 120),
    ]
}

/// The lines of `check --online` after the config's own line.
fn lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().skip(1).collect()
}

/// The line about `subject`.
fn line<'a>(out: &'a Output, subject: &str) -> &'a str {
    let prefix = format!("{subject}: ");
    out.stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line about {subject}:\n{}", out.stdout))
}

/// The ids of the devices of the account whose access token is `token`, sorted.
async fn devices(hs: &Synapse, token: &str) -> Vec<String> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/_matrix/client/v3/devices", hs.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids: Vec<String> = body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn public_room(reader: &TestUser, alias: &str) -> String {
    let mut request = create_room::v3::Request::new();
    request.preset = Some(create_room::v3::RoomPreset::PublicChat);
    let room = reader.client.create_room(request).await.unwrap();
    let room_id = room.room_id().to_string();
    reader.add_alias(&room_id, alias).await
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_reachable_passes_with_what_was_found() {
    let hs = Synapse::shared().await;
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items()), RSS);
    let api = BotApi::start(TOKEN, BOT).await;
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    let reader = TestUser::login(hs, "check-reader").await;
    let (bot, password) = hs.new_user("herald-check").await;

    let invited = reader.create_room(false, &[&bot]).await;
    let joined = reader.create_room(false, &[&bot]).await;
    let token = hs.login_token(&bot, &password).await;
    let join = reqwest::Client::new()
        .post(format!("{}/_matrix/client/v3/join/{joined}", hs.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(join.status().is_success(), "{:?}", join.text().await);
    let alias = format!("check-public-{}", &bot[1..bot.find(':').unwrap()]);
    let public = public_room(&reader, &alias).await;
    let devices_before = devices(hs, &token).await;

    let config = Config::new()
        .fetch("timeout", "2s")
        .feed_with(&feeds.url("en.xml"), "en", &[("name", "wp-en".into())])
        .telegram("api_url", api.api_url())
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot.clone())
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .channel(&format!("matrix:{joined}"), &["*"])
        .channel(&format!("matrix:{invited}"), &["*"])
        .channel(&format!("matrix:{public}"), &["*"]);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let out = setup.run(&["check", "--online"]).await;

    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(line(&out, "feed wp-en"), "feed wp-en: OK — 2 items");
    assert_eq!(line(&out, "telegram"), format!("telegram: OK — @{BOT}"));
    assert_eq!(
        line(&out, &format!("telegram channel {CHANNEL}")),
        format!("telegram channel {CHANNEL}: OK — the bot can post here")
    );
    assert_eq!(
        line(&out, "matrix"),
        format!(
            "matrix: OK — logged in as {bot} on {} (with the password; a temporary device, logged out again)",
            hs.url
        )
    );
    assert_eq!(
        line(&out, &format!("matrix room {joined}")),
        format!("matrix room {joined}: OK — joined")
    );
    assert_eq!(
        line(&out, &format!("matrix room {invited}")),
        format!("matrix room {invited}: OK — joinable (invited); the bot joins it at start")
    );
    assert_eq!(
        line(&out, &format!("matrix room {public}")),
        format!("matrix room {public}: OK — joinable (public); the bot joins it at start")
    );
    assert_eq!(lines(&out).len(), 7, "{}", out.stdout);
    // The check joined nothing and left no device behind.
    assert_eq!(devices(hs, &token).await, devices_before);
    let summary: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/_matrix/client/v1/room_summary/{invited}",
            hs.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["membership"], "invite", "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_feed_a_refused_token_and_an_unreachable_room_fail_with_their_reasons() {
    let hs = Synapse::shared().await;
    let feeds = FeedServer::start().await;
    feeds.set("en.xml", rss("en", &items()), RSS);
    feeds.set(
        "page.html",
        "<html><body>Moved to our new site</body></html>",
        "text/html",
    );
    // The emulator knows another token than the one configured.
    let api = BotApi::start("424242:the-real-token", BOT).await;
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    let reader = TestUser::login(hs, "check-reader").await;
    let (bot, password) = hs.new_user("herald-check").await;
    let private = reader.create_room(false, &[]).await;
    let invited = reader.create_room(false, &[&bot]).await;

    let config = Config::new()
        .fetch("timeout", "2s")
        .feed_with(&feeds.url("en.xml"), "en", &[("name", "wp-en".into())])
        .feed_with(&feeds.url("page.html"), "en", &[("name", "moved".into())])
        .feed_with(&feeds.url("gone.xml"), "en", &[("name", "gone".into())])
        .telegram("api_url", api.api_url())
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot.clone())
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .channel(&format!("matrix:{private}"), &["*"])
        .channel(&format!("matrix:{invited}"), &["*"])
        .channel("matrix:#no-such-room:localhost", &["*"]);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let out = setup.run(&["check", "--online"]).await;

    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(line(&out, "feed wp-en"), "feed wp-en: OK — 2 items");
    let moved = line(&out, "feed moved");
    assert!(
        moved.starts_with("feed moved: FAILED — not a feed"),
        "{moved}"
    );
    assert_eq!(
        line(&out, "feed gone"),
        "feed gone: FAILED — the server answered HTTP 404"
    );
    assert_eq!(
        line(&out, "telegram"),
        "telegram: FAILED — 401 Unauthorized: the token was refused"
    );
    assert_eq!(
        line(&out, &format!("telegram channel {CHANNEL}")),
        format!("telegram channel {CHANNEL}: FAILED — not checked: Telegram did not answer getMe")
    );
    assert!(line(&out, "matrix").starts_with("matrix: OK — logged in as "));
    let unreachable = line(&out, &format!("matrix room {private}"));
    assert!(
        unreachable.starts_with(&format!(
            "matrix room {private}: FAILED — not reachable: the homeserver does not know the room or does not show it to the bot (not invited, not public) — 404 M_NOT_FOUND"
        )),
        "{unreachable}"
    );
    assert_eq!(
        line(&out, &format!("matrix room {invited}")),
        format!("matrix room {invited}: OK — joinable (invited); the bot joins it at start")
    );
    let no_alias = line(&out, "matrix room #no-such-room:localhost");
    assert!(
        no_alias.starts_with("matrix room #no-such-room:localhost: FAILED — not reachable")
            && no_alias.contains("M_NOT_FOUND"),
        "{no_alias}"
    );
    for secret in [TOKEN, "CHECK-TOKEN", password.as_str()] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret} was printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_telegram_channel_the_bot_cannot_post_in_fails_with_the_reason() {
    let api = BotApi::start(TOKEN, BOT).await;
    api.add_chat(chat(CHANNEL, "channel", "PSL news"));
    // The channel's administrators no longer include the bot.
    api.set_admins(CHANNEL, &[700]);
    let config = Config::new()
        .telegram("api_url", api.api_url())
        .channel(&format!("telegram:{CHANNEL}"), &["*"])
        .channel("telegram:-1009999", &["*"]);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_TELEGRAM_TOKEN", TOKEN);
    let out = setup.run(&["check", "--online"]).await;

    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(line(&out, "telegram"), format!("telegram: OK — @{BOT}"));
    assert_eq!(
        line(&out, &format!("telegram channel {CHANNEL}")),
        format!(
            "telegram channel {CHANNEL}: FAILED — the bot is not an administrator allowed to post messages there; make it one"
        )
    );
    let unknown = line(&out, "telegram channel -1009999");
    assert!(unknown.contains("chat not found"), "{unknown}");
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bots_saved_matrix_session_is_used_and_a_wrong_password_is_named() {
    let hs = Synapse::shared().await;
    let reader = TestUser::login(hs, "check-reader").await;
    let (bot, password) = hs.new_user("herald-check").await;
    let invited = reader.create_room(false, &[&bot]).await;
    let config = Config::new()
        .matrix("homeserver", hs.url.clone())
        .matrix("user", bot.clone())
        .channel(&format!("matrix:{invited}"), &["*"]);

    // No session yet, and a wrong password: the login fails with the homeserver's reason.
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", "not-the-password-5e1d");
    let out = setup.run(&["check", "--online"]).await;
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        line(&out, "matrix"),
        "matrix: FAILED — the homeserver refused the login with the password: 403 M_FORBIDDEN: Invalid username or password"
    );
    assert_eq!(
        line(&out, &format!("matrix room {invited}")),
        format!("matrix room {invited}: FAILED — not checked: no login to the homeserver")
    );
    assert!(!out.stdout.contains("not-the-password-5e1d"));

    // The bot logs in once (its device and session under data_dir); the check then uses
    // that session, without a new device.
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", &password);
    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let token = hs.login_token(&bot, &password).await;
    let devices_before = devices(hs, &token).await;
    assert_eq!(devices_before.len(), 2, "the bot's and this test's");
    // The saved session comes before the password.
    let out = setup.run(&["check", "--online"]).await;
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        line(&out, "matrix"),
        format!(
            "matrix: OK — logged in as {bot} on {} (with the bot's saved session)",
            hs.url
        )
    );
    assert!(line(&out, &format!("matrix room {invited}")).contains(": OK — "));
    assert_eq!(devices(hs, &token).await, devices_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_homeserver_that_does_not_answer_is_named_with_the_cause() {
    let dead = format!("http://127.0.0.1:{}", crate::support::herald::free_port());
    let config = Config::new()
        .matrix("homeserver", dead.clone())
        .matrix("user", "@herald:localhost")
        .channel("matrix:#news:localhost", &["*"]);
    let mut setup = Setup::with_config(&config);
    setup.env("HERALD_MATRIX_PASSWORD", "secret-pw-31c9");
    let out = setup.run(&["check", "--online"]).await;

    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let matrix = line(&out, "matrix");
    assert!(
        matrix.starts_with("matrix: FAILED — cannot reach the homeserver: ")
            && matrix.contains("Connection refused"),
        "{matrix}"
    );
    assert_eq!(
        line(&out, "matrix room #news:localhost"),
        "matrix room #news:localhost: FAILED — not checked: no login to the homeserver"
    );
    assert!(!out.stdout.contains("secret-pw-31c9") && !out.stderr.contains("secret-pw-31c9"));
}

//! The core, end to end through the binary and the console channel: what is posted, once,
//! across polls, editions, restarts and failures; the CLI's answers.

use std::time::Duration;

use crate::support::config::{Config, list};
use crate::support::feed_server::{Behavior, FeedServer};
use crate::support::herald::{Ops, Setup, free_port, wait_until};
use crate::support::wp::{Item, fixture, fixture_with, rss};

const RSS: &str = "application/rss+xml; charset=UTF-8";

/// The feeds (url, language), posted to the console in every language.
fn config(feeds: &[(&str, &str)]) -> Config {
    feeds
        .iter()
        .fold(
            Config::new().fetch("timeout", "2s"),
            |config, (url, lang)| config.feed(url, lang),
        )
        .channel("console", &["*"])
}

fn old_items() -> Vec<Item> {
    vec![
        Item::new(10, "Solidarity evening in Cologne", 60 * 24 * 3),
        Item::new(9, "Report from the general assembly", 60 * 24 * 4),
        Item::new(8, "Why we organize", 60 * 24 * 5),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn first_poll_posts_nothing_then_each_new_item_arrives_once() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let setup = Setup::with_config(&config(&[(&server.url("en.xml"), "en")]));

    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first.posts().is_empty(),
        "a feed seen for the first time posts nothing: {:?}",
        first.posts()
    );

    let mut items = old_items();
    items.insert(0, Item::new(11, "Antifascist demonstration on Sunday", 5));
    server.set("en.xml", rss("en", &items), RSS);
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert_eq!(
        second.posts(),
        vec!["Antifascist demonstration on Sunday [en]"]
    );
    assert!(
        second.stdout.contains("https://news.example.org/en/"),
        "{}",
        second.stdout
    );
    assert!(
        second
            .stdout
            .contains("The members of the organization gathered"),
        "{}",
        second.stdout
    );

    let third = setup.run(&["poll", "--once"]).await;
    assert_eq!(third.code, Some(0), "{}", third.stderr);
    assert!(
        third.posts().is_empty(),
        "nothing new, nothing posted: {:?}",
        third.posts()
    );
    assert_eq!(
        server.not_modified("en.xml"),
        1,
        "an unchanged feed is answered 304"
    );
    let headers = server.last_request_headers("en.xml").expect("requested");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("Herald/"),
        "{headers:?}"
    );
    assert!(headers.contains_key("if-none-match"), "{headers:?}");

    // The feed changes (another item) but the already posted one is not posted again.
    items.insert(0, Item::new(12, "Call for participation", 1));
    server.set("en.xml", rss("en", &items), RSS);
    let fourth = setup.run(&["poll", "--once"]).await;
    assert_eq!(fourth.posts(), vec!["Call for participation [en]"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_posts_the_newest_items_in_publication_order() {
    let server = FeedServer::start().await;
    server.set("de.xml", fixture("wp-de.xml"), RSS);
    let setup = Setup::with_config(&config(&[(&server.url("de.xml"), "de")]).bot("backfill", 3));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.posts(),
        vec![
            "Repressions against communists in Ukraine [en]",
            "Third Anniversary of the War. Discussion in Paris [en]",
            "Treffen von PSL-Aktivisten mit Abgeordneten von La France Insoumise in der französischen Nationalversammlung [de]",
        ],
        "the three newest, oldest first, each under the language of its text"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_article_carried_by_two_editions_reaches_a_chat_once() {
    let server = FeedServer::start().await;
    server.set("en.xml", fixture("wp-en.xml"), RSS);
    server.set("de.xml", fixture("wp-de.xml"), RSS);
    let setup = Setup::with_config(&config(&[
        (&server.url("en.xml"), "en"),
        (&server.url("de.xml"), "de"),
    ]));
    let first = setup.run(&["poll", "--once"]).await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(first.posts().is_empty());

    // A new English post appears in both editions (untranslated in the German one), and
    // its German translation appears in the German edition.
    let english = "The members of the organization gathered in Berlin and they discussed the war and the peace with the people.";
    let german = "Die Mitglieder der Organisation haben sich in Berlin versammelt und mit den Menschen über den Krieg und den Frieden gesprochen.";
    let new_en = Item::new(2001, "Assembly in Berlin", 10).excerpt(english);
    let new_de = Item::new(2002, "Versammlung in Berlin", 10).excerpt(german);
    server.set(
        "en.xml",
        fixture_with("wp-en.xml", "x", std::slice::from_ref(&new_en)),
        RSS,
    );
    server.set(
        "de.xml",
        fixture_with("wp-de.xml", "x", &[new_en.clone(), new_de]),
        RSS,
    );
    let second = setup.run(&["poll", "--once"]).await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let mut posts = second.posts();
    posts.sort();
    assert_eq!(
        posts,
        vec!["Assembly in Berlin [en]", "Versammlung in Berlin [de]"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_feed_does_not_stop_the_others() {
    let server = FeedServer::start().await;
    server.behave("broken.xml", Behavior::Status(500));
    server.behave("slow.xml", Behavior::Hang);
    server.set(
        "big.xml",
        rss("en", &vec![Item::new(1, &"x".repeat(200), 1); 400]),
        RSS,
    );
    server.set("html.xml", fixture("not-xml.html"), "text/html");
    server.set("good.xml", rss("en", &old_items()), RSS);
    let feeds = [
        (server.url("broken.xml"), "en"),
        (server.url("slow.xml"), "en"),
        (server.url("big.xml"), "en"),
        (server.url("html.xml"), "en"),
        (server.url("good.xml"), "en"),
    ];
    let feeds: Vec<(&str, &str)> = feeds.iter().map(|(u, l)| (u.as_str(), *l)).collect();
    let setup = Setup::with_config(&config(&feeds).bot("backfill", 1).fetch("max_body", 50000));
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(
        out.code,
        Some(1),
        "a failed feed makes the exit code non-zero"
    );
    assert_eq!(
        out.posts(),
        vec!["Solidarity evening in Cologne [en]"],
        "the good feed is still delivered"
    );
    for (feed, reason) in [
        ("broken.xml", "the server answered HTTP 500"),
        ("slow.xml", "no answer within 2s"),
        ("big.xml", "larger than the limit of 50000 bytes"),
        ("html.xml", "not a feed"),
    ] {
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains(feed) && l.contains("feed failed"))
            .collect();
        assert_eq!(lines.len(), 1, "said once for {feed}:\n{}", out.stderr);
        assert!(lines[0].contains(reason), "{feed}: {}", lines[0]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn items_first_seen_long_after_publication_are_stored_not_posted() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let setup =
        Setup::with_config(&config(&[(&server.url("en.xml"), "en")]).bot("max_age", "7days"));
    assert_eq!(setup.run(&["poll", "--once"]).await.code, Some(0));
    let mut items = old_items();
    items.push(Item::new(3, "An article from last month", 60 * 24 * 30));
    items.insert(0, Item::new(12, "Today's article", 2));
    server.set("en.xml", rss("en", &items), RSS);
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.posts(), vec!["Today's article [en]"]);
    let latest = setup.run(&["latest", "-n", "10"]).await;
    assert!(
        latest.stdout.contains("An article from last month"),
        "stored all the same:\n{}",
        latest.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_restarts_without_reposting_and_stops_cleanly_on_sigterm() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let ops = Ops::on_free_port();
    let setup = Setup::with_config(
        &config(&[(&server.url("en.xml"), "en")])
            .bot("backfill", 2)
            .ops(&ops),
    );

    let bot = setup.start();
    assert_eq!(bot.wait_posts(2, Duration::from_secs(30)).await.len(), 2);
    // While it runs, `latest` explains who holds the database.
    let locked = setup.run(&["latest"]).await;
    assert_eq!(locked.code, Some(1));
    assert!(
        locked.stderr.contains(&format!(
            "in use by another Herald process (pid {})",
            bot.pid()
        )),
        "{}",
        locked.stderr
    );
    let stopped = bot.stop().await;
    assert_eq!(
        stopped.code,
        Some(0),
        "SIGTERM is a clean stop:\n{}",
        stopped.stderr
    );
    assert!(stopped.stderr.contains("stopped"), "{}", stopped.stderr);

    let bot = setup.start();
    let polls_before = server.requests("en.xml");
    wait_until(
        "the bot polled three more times",
        Duration::from_secs(20),
        || server.requests("en.xml") >= polls_before + 3,
    )
    .await;
    ops.wait_outbox_empty(Duration::from_secs(10)).await;
    assert!(
        bot.stdout().is_empty(),
        "a restart reposts nothing: {}",
        bot.stdout()
    );
    let mut items = old_items();
    items.insert(0, Item::new(20, "Fresh news after the restart", 1));
    server.set("en.xml", rss("en", &items), RSS);
    assert_eq!(
        bot.wait_posts(1, Duration::from_secs(20)).await,
        vec!["Fresh news after the restart [en]"]
    );
    let polls = server.requests("en.xml");
    wait_until("two more polls", Duration::from_secs(20), || {
        server.requests("en.xml") >= polls + 2
    })
    .await;
    ops.wait_outbox_empty(Duration::from_secs(10)).await;
    let out = bot.stop().await;
    assert_eq!(out.posts().len(), 1, "posted once: {:?}", out.posts());
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_prints_the_newest_articles_by_language() {
    let setup = Setup::with_config(&config(&[(
        &format!("{}/tests/data/wp-de.xml", env!("CARGO_MANIFEST_DIR")),
        "de",
    )]));
    assert_eq!(setup.run(&["poll", "--once"]).await.code, Some(0));
    let all = setup.run(&["latest", "-n", "3"]).await;
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    let titles: Vec<&str> = all.stdout.lines().filter(|l| l.starts_with("20")).collect();
    assert_eq!(titles.len(), 3, "{}", all.stdout);
    assert!(
        titles[0].starts_with("2025-03-12  [de]  Treffen von PSL-Aktivisten"),
        "{}",
        all.stdout
    );
    let de = setup.run(&["latest", "--lang", "de"]).await;
    let titles: Vec<&str> = de.stdout.lines().filter(|l| l.starts_with("20")).collect();
    assert_eq!(titles.len(), 2, "the two German articles:\n{}", de.stdout);
    assert!(titles[1].contains("Weg von Folter"), "{}", de.stdout);

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(setup.path().join("data"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o700,
        "the data folder is private to its owner"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_exits_2_naming_file_line_and_key() {
    let setup = Setup::new("[bot]\npoll_interval = \"5m\"\npoll_intervall = \"5m\"\n");
    let out = setup.run(&["check"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("herald.toml, line 3, key `poll_intervall`: unknown field `poll_intervall`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    setup.rewrite("[[channels]]\ntarget = \"telegram:@psl_news\"\n");
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("line 2, key `target`") && out.stderr.contains("HERALD_TELEGRAM_TOKEN"),
        "{}",
        out.stderr
    );

    let missing = Setup::new("");
    let out = missing
        .run(&["--config", "/nonexistent/herald.toml", "check"])
        .await;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains("/nonexistent/herald.toml: cannot read the config file"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_configs_work_offline() {
    let root = env!("CARGO_MANIFEST_DIR");
    let setup = Setup::new("");
    let out = setup
        .run(&["--config", &format!("{root}/config/herald.toml"), "check"])
        .await;
    assert_eq!(
        out.code,
        Some(0),
        "the default config is valid:\n{}",
        out.stderr
    );

    // The demo, with its data folder moved into the temp dir.
    let demo = std::fs::read_to_string(format!("{root}/config/demo.toml"))
        .unwrap()
        .replace("\"../target/demo-data\"", "\"data\"")
        .replace("\"../tests/data/", &format!("\"{root}/tests/data/"));
    setup.rewrite(&demo);
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // The newest three of each edition; two of them are the same English posts, sent once.
    let mut posts = out.posts();
    posts.sort();
    assert_eq!(
        posts,
        vec![
            "Meeting of PSL activists with La France Insoumise deputies in the French National Assembly [en]",
            "Repressions against communists in Ukraine [en]",
            "Third Anniversary of the War. Discussion in Paris [en]",
            "Treffen von PSL-Aktivisten mit Abgeordneten von La France Insoumise in der französischen Nationalversammlung [de]",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_see_health_and_metrics() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    server.behave("broken.xml", Behavior::Status(503));
    let ops = Ops::on_free_port();
    // Any failure of a feed is a stall here (`stall_after = "0s"`), so one failed poll shows.
    let built = config(&[(&server.url("en.xml"), "en")])
        .bot("backfill", 2)
        .ops(&ops)
        .set("ops", "stall_after", "0s");
    let setup = Setup::with_config(&built);
    let bot = setup.start();
    bot.wait_posts(2, Duration::from_secs(20)).await;
    bot.wait_log(
        "serving the status page (/), /healthz and /metrics",
        Duration::from_secs(5),
    )
    .await;
    let get = |path: &'static str| {
        let ops = ops.clone();
        async move { ops.get(path).await.expect("ops endpoint answers") }
    };
    let (status, health) = get("/healthz").await;
    assert_eq!((status, health.as_str()), (200, "ok\n"));
    let (status, health) = get("/healthz?format=json").await;
    assert_eq!(status, 200, "{health}");
    assert!(
        health.contains("\"status\":\"ok\"") && health.contains("\"articles\":3"),
        "{health}"
    );
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("herald_posts_total{platform=\"console\",outcome=\"sent\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_articles 3"), "{metrics}");
    assert!(metrics.contains("result=\"updated\"} 1"), "{metrics}");
    // Latency histograms and the build, in the OpenMetrics text format.
    for line in [
        "herald_send_seconds_count{platform=\"console\"} 2",
        "# TYPE herald_poll_seconds histogram",
        &format!(
            "herald_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
        "# EOF",
    ] {
        assert!(metrics.contains(line), "`{line}` missing:\n{metrics}");
    }
    assert_eq!(get("/nope").await.0, 404);
    bot.stop().await;

    // A failing feed makes the bot report itself degraded, naming the feed.
    setup.write(&built.feed(&server.url("broken.xml"), "en"));
    let bot = setup.start();
    bot.wait_log("feed failed", Duration::from_secs(20)).await;
    let (status, health) = get("/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert!(
        health.contains("broken.xml") && health.contains("HTTP 503"),
        "{health}"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_feed_does_not_delay_the_others_while_running() {
    let server = FeedServer::start().await;
    server.behave("slow.xml", Behavior::Hang);
    server.set("good.xml", rss("en", &old_items()), RSS);
    let setup = Setup::with_config(
        &config(&[
            (&server.url("slow.xml"), "en"),
            (&server.url("good.xml"), "en"),
        ])
        .fetch("timeout", "60s"),
    );
    let bot = setup.start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.requests("good.xml") < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the good feed is polled again meanwhile"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut items = old_items();
    items.insert(0, Item::new(30, "Not held up", 1));
    server.set("good.xml", rss("en", &items), RSS);
    // The hanging feed's request takes a minute to time out; the other feed goes on.
    assert_eq!(
        bot.wait_posts(1, Duration::from_secs(15)).await,
        vec!["Not held up [en]"]
    );
    assert_eq!(
        server.requests("slow.xml"),
        1,
        "still waiting for the first answer"
    );
    let out = bot.stop().await;
    assert_eq!(out.code, Some(0), "a hanging fetch does not block shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_runs_never_print_secrets() {
    // A secret written with the wrong type: the error names the line and key, not the value.
    for (section, key) in [
        ("[telegram]", "token"),
        (
            "[matrix]\nhomeserver = \"http://127.0.0.1:1\"\nuser = \"@herald:localhost\"",
            "password",
        ),
        (
            "[matrix]\nhomeserver = \"http://127.0.0.1:1\"\nuser = \"@herald:localhost\"",
            "access_token",
        ),
    ] {
        let setup = Setup::new(&format!("{section}\n{key} = 918273645546372819\n"));
        let out = setup.run(&["check"]).await;
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("key `{key}`")),
            "the key is named: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("918273645546372819")
                && !out.stdout.contains("918273645546372819"),
            "the secret is not printed: {}",
            out.stderr
        );
    }

    // A poll whose Telegram sends fail (nothing listens at the API address): the request
    // URLs carry the token, the errors must not.
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let mut setup = Setup::with_config(
        &Config::new()
            .bot("backfill", 1)
            .feed(&server.url("en.xml"), "en")
            .channel("telegram:-1001000000001", &["*"])
            .telegram("api_url", format!("http://127.0.0.1:{}", free_port())),
    );
    setup.env("HERALD_TELEGRAM_TOKEN", "123456:SECRET-TOKEN-VALUE");
    // `poll --once` keeps retrying for two minutes; one failure is enough here.
    let poll = setup.start_with(&["poll", "--once"]);
    poll.wait_log("send failed; will retry", Duration::from_secs(30))
        .await;
    let out = poll.stop().await;
    assert!(
        !out.stderr.contains("SECRET") && !out.stdout.contains("SECRET"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_limits_redirects_and_body_size_streamed_or_local() {
    let server = FeedServer::start().await;
    server.set("real.xml", rss("en", &old_items()), RSS);
    server.behave("one-hop.xml", Behavior::Redirect("/real.xml".into()));
    server.behave("two-hops.xml", Behavior::Redirect("/one-hop.xml".into()));
    let big = rss("en", &vec![Item::new(1, &"x".repeat(200), 1); 400]);
    server.set("streamed.xml", big.clone(), RSS);
    server.behave("streamed.xml", Behavior::Stream);
    let setup = Setup::new("");
    let local = setup.path().join("big-local.xml");
    std::fs::write(&local, &big).unwrap();
    setup.write(
        &config(&[
            (&server.url("one-hop.xml"), "en"),
            (&server.url("two-hops.xml"), "en"),
            (&server.url("streamed.xml"), "en"),
            (local.to_str().unwrap(), "en"),
        ])
        .bot("backfill", 1)
        .fetch("max_redirects", 1)
        .fetch("max_body", 50000),
    );
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(
        out.posts(),
        vec!["Solidarity evening in Cologne [en]"],
        "one redirect is followed"
    );
    let failed = |feed: &str| {
        out.stderr
            .lines()
            .find(|l| l.contains(feed) && l.contains("feed failed"))
            .unwrap_or_else(|| panic!("no error for {feed}:\n{}", out.stderr))
            .to_string()
    };
    assert!(
        failed("two-hops.xml").contains("redirect"),
        "{}",
        failed("two-hops.xml")
    );
    for feed in ["streamed.xml", "big-local.xml"] {
        assert!(
            failed(feed).contains("larger than the limit of 50000 bytes"),
            "{}",
            failed(feed)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_take_only_their_feeds_and_feeds_their_own_backfill_and_language() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    // German and English posts in the German edition, read without detection: all "de".
    server.set("de.xml", fixture("wp-de.xml"), RSS);
    let en = server.url("en.xml");
    let de = server.url("de.xml");
    let setup = Setup::with_config(
        &Config::new()
            .feed_with(&en, "en", &[("backfill", 2.into())])
            .feed_with(
                &de,
                "de",
                &[("detect_lang", false.into()), ("backfill", 3.into())],
            )
            .channel_with("console", &["*"], &[("feeds", list(&[&de]))]),
    );
    let out = setup.run(&["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.posts(),
        vec![
            "Repressions against communists in Ukraine [de]",
            "Third Anniversary of the War. Discussion in Paris [de]",
            "Treffen von PSL-Aktivisten mit Abgeordneten von La France Insoumise in der französischen Nationalversammlung [de]",
        ],
        "only the German feed's three newest (its own backfill), all filed as German"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_config_path_usage_errors_and_the_default_command() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let mut setup =
        Setup::with_config(&config(&[(&server.url("en.xml"), "en")]).bot("backfill", 1));

    // Usage errors exit 2, like a bad config.
    let out = setup.run(&["frobnicate"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let out = setup.run(&["latest", "--lang", "not a language"]).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--lang"), "{}", out.stderr);

    // HERALD_CONFIG names the config when --config is not given, from any folder.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = setup.config.to_str().unwrap().to_owned();
    setup.env("HERALD_CONFIG", &config);
    let out = setup.run_in(elsewhere.path(), &["poll", "--once"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.posts(), vec!["Solidarity evening in Cologne [en]"]);
    // The relative data_dir is beside the config, not in the working folder.
    assert!(setup.path().join("data").is_dir());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // Without a subcommand the bot runs.
    let mut items = old_items();
    items.insert(0, Item::new(40, "Posted by the default command", 1));
    server.set("en.xml", rss("en", &items), RSS);
    let bot = setup.start_in(elsewhere.path(), &[]);
    assert_eq!(
        bot.wait_posts(1, Duration::from_secs(20)).await,
        vec!["Posted by the default command [en]"]
    );
    assert_eq!(bot.stop().await.code, Some(0));
}

/// `[fetch] max_backoff` caps the wait between retries of a failing feed (one minute
/// doubling otherwise): with a two-second cap, a feed that comes back is read again within
/// seconds, not after a minute.
#[tokio::test(flavor = "multi_thread")]
async fn max_backoff_caps_the_wait_before_a_failing_feed_is_retried() {
    let server = FeedServer::start().await;
    server.set("en.xml", rss("en", &old_items()), RSS);
    let setup =
        Setup::with_config(&config(&[(&server.url("en.xml"), "en")]).fetch("max_backoff", "2s"));
    let bot = setup.start();
    bot.wait_log("new articles", Duration::from_secs(20)).await;

    // The feed breaks: it fails twice in a row, the second time after its (capped) wait.
    server.behave("en.xml", Behavior::Status(500));
    let failing_since = server.requests("en.xml");
    wait_until("two failed polls", Duration::from_secs(20), || {
        server.requests("en.xml") >= failing_since + 2
    })
    .await;
    // It comes back with a new article: without the cap the next try would be a minute or
    // more away (60 s doubling), far beyond this wait.
    let mut items = old_items();
    items.insert(0, Item::new(11, "Back after the outage", 1));
    server.set("en.xml", rss("en", &items), RSS);
    server.behave("en.xml", Behavior::Serve);
    let posts = bot.wait_posts(1, Duration::from_secs(20)).await;
    assert_eq!(posts, ["Back after the outage [en]"]);
    bot.stop().await;
}

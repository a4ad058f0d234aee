//! Parsing and execution of the neutral commands, against a real store in a temp folder.

use super::*;
use crate::article::Article;
use chrono::{TimeZone, Utc};

#[test]
fn parses_commands_with_prefixes_arguments_and_bot_names() {
    assert_eq!(parse("/start", None), Some(Command::Start));
    assert_eq!(parse("!help", None), Some(Command::Help));
    assert_eq!(
        parse("  /latest 3", None),
        Some(Command::Latest(Some("3".into())))
    );
    assert_eq!(
        parse("/latest@HeraldBot", Some("heraldbot")),
        Some(Command::Latest(None))
    );
    assert_eq!(
        parse("/latest@OtherBot", Some("HeraldBot")),
        None,
        "addressed to another bot"
    );
    assert_eq!(
        parse("/lang de en", None),
        Some(Command::Lang(vec!["de".into(), "en".into()]))
    );
    assert_eq!(parse("/LANG", None), Some(Command::Lang(vec![])));
    assert_eq!(parse("!subscribe", None), Some(Command::Subscribe));
    assert_eq!(
        parse("/frobnicate now", None),
        Some(Command::Unknown("/frobnicate".into()))
    );
    assert_eq!(parse("hello there", None), None);
    assert_eq!(parse("/", None), None);
    assert_eq!(parse("/ latest", None), None);
    assert_eq!(parse("!!!", None), None);
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
    store: Store,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let text = "[bot]\nadmins = [\"telegram:1\"]\n[[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\n[[feeds]]\nurl = \"de.xml\"\nlang = \"de\"\n";
    let config = Config::parse(text, &dir.path().join("herald.toml"), |_| None).unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    Fixture {
        _dir: dir,
        config,
        store,
    }
}

fn article(n: u32, lang: &str, title: &str) -> Article {
    Article {
        title: title.into(),
        link: Some(format!("https://example.org/{n}")),
        published: Some(Utc.with_ymd_and_hms(2025, 1, n, 12, 0, 0).unwrap()),
        ..Article::sample(n, lang)
    }
}

fn store_articles(f: &Fixture, articles: &[Article]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(
        f.store
            .commit_poll("en.xml", &Default::default(), articles, &[], None),
    )
    .unwrap();
}

fn private(chat: &str, user_lang: Option<&str>) -> Request {
    Request {
        chat: chat.parse().unwrap(),
        kind: ChatKind::Private,
        may_configure: true,
        operator: false,
        user_lang: user_lang.map(str::to_string),
        prefix: '/',
    }
}

fn run(f: &Fixture, req: &Request, text: &str) -> String {
    let ctx = Context {
        config: &f.config,
        store: &f.store,
        watch: None,
        control: None,
    };
    crate::render::reply_plain(&block_on(execute(&ctx, req, &parse(text, None).unwrap())))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn latest_lists_newest_first_in_the_chats_languages_and_caps_n() {
    let f = fixture();
    let mut all = Vec::new();
    for n in 1..=12 {
        all.push(article(
            n,
            if n % 3 == 0 { "de" } else { "en" },
            &format!("Article {n}"),
        ));
    }
    store_articles(&f, &all);
    let req = private("telegram:42", Some("en"));
    let out = run(&f, &req, "/latest");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Latest articles (all languages):");
    assert_eq!(lines.len(), 6, "{out}");
    assert!(
        lines[1].starts_with("• Article 12 (https://example.org/12) — 2025-01-12"),
        "{out}"
    );
    assert_eq!(
        run(&f, &req, "/latest 50").lines().count(),
        11,
        "at most 10"
    );
    assert_eq!(run(&f, &req, "/latest 0").lines().count(), 2, "at least 1");

    assert_eq!(
        run(&f, &req, "/lang de"),
        "Done: this chat now receives articles in de."
    );
    let out = run(&f, &req, "/latest");
    assert!(
        out.lines()
            .skip(1)
            .all(|l| ["Article 12", "Article 9", "Article 6", "Article 3"]
                .iter()
                .any(|t| l.contains(t))),
        "{out}"
    );
    assert_eq!(out.lines().count(), 5, "{out}");
}

#[test]
fn lang_shows_offers_and_validates() {
    let f = fixture();
    let req = private("telegram:42", Some("de"));
    let ctx = Context {
        config: &f.config,
        store: &f.store,
        watch: None,
        control: None,
    };
    let reply = block_on(execute(&ctx, &req, &Command::Lang(vec![])));
    assert!(
        crate::render::reply_plain(&reply)
            .starts_with("Dieser Chat erhält Artikel auf: allen Sprachen.")
    );
    let commands: Vec<&str> = reply.buttons.iter().map(|b| b.command.as_str()).collect();
    assert_eq!(commands, vec!["/lang en", "/lang de", "/lang all"]);
    assert_eq!(reply.buttons[1].label, "Deutsch (de)");
    assert_eq!(
        run(&f, &req, "/lang xx"),
        "Es gibt keine Artikel auf „xx“. Verfügbar: en, de."
    );
    assert_eq!(
        run(&f, &req, "/lang de,en"),
        "Erledigt: Dieser Chat erhält jetzt Artikel auf de, en."
    );
    assert_eq!(
        run(&f, &req, "/lang all"),
        "Erledigt: Dieser Chat erhält jetzt Artikel auf allen Sprachen."
    );
}

#[test]
fn settings_need_permission_in_groups_but_latest_does_not() {
    let f = fixture();
    let mut req = private("telegram:-100200", Some("ru"));
    req.kind = ChatKind::Group;
    req.may_configure = false;
    let refused = "Извините, менять настройки этого чата могут только его администраторы.";
    assert_eq!(run(&f, &req, "/lang de"), refused);
    assert_eq!(run(&f, &req, "/subscribe"), refused);
    assert_eq!(run(&f, &req, "/unsubscribe"), refused);
    assert!(
        f.store.chat(&req.chat).unwrap().is_none(),
        "nothing stored for a refused command"
    );
    assert!(run(&f, &req, "/latest").starts_with("Статей пока нет"));
}

#[test]
fn subscribe_then_unsubscribe_erases_the_chat() {
    let f = fixture();
    let req = private("matrix:!room:localhost", Some("uk"));
    assert!(run(&f, &req, "/subscribe").starts_with("Підписку оформлено"));
    assert!(run(&f, &req, "/subscribe").starts_with("Цей чат уже підписано"));
    assert_eq!(f.store.subscribers().unwrap().len(), 1);
    assert!(run(&f, &req, "/unsubscribe").starts_with("Підписку скасовано"));
    assert!(f.store.chat(&req.chat).unwrap().is_none());
    assert!(f.store.subscribers().unwrap().is_empty());
    assert!(run(&f, &req, "/unsubscribe").starts_with("Цей чат не був підписаний"));
}

#[test]
fn replies_follow_the_user_language_and_fall_back_to_english() {
    let f = fixture();
    assert!(run(&f, &private("telegram:1", Some("fr")), "/help").starts_with("Commandes :"));
    assert!(run(&f, &private("telegram:1", Some("es")), "/help").starts_with("Commands:"));
    let out = run(&f, &private("telegram:1", None), "/nope");
    assert!(
        out.starts_with("I don't know the command /nope.\n\nCommands:"),
        "{out}"
    );
    let matrix = Request {
        prefix: '!',
        ..private("matrix:!r:localhost", Some("en"))
    };
    assert!(run(&f, &matrix, "!help").contains("!latest [n]"));
    assert!(run(&f, &private("telegram:1", None), "/about").contains("en.xml"));
}

#[test]
fn about_counts_its_sources_in_the_readers_plural_form() {
    let f = fixture();
    assert!(
        run(&f, &private("telegram:1", Some("ru")), "/about")
            .contains("(2 источника: de.xml, en.xml)")
    );
    assert!(
        run(&f, &private("telegram:1", Some("en")), "/about")
            .contains("(2 sources: de.xml, en.xml)")
    );
}

#[test]
fn status_is_for_operators_in_private_chats_or_matrix_rooms() {
    let f = fixture();
    let watch = crate::ops::status::Watch {
        config: std::sync::Arc::new(
            Config::parse(
                "[[feeds]]\nurl = \"en.xml\"\nlang = \"en\"\nname = \"English edition\"\n",
                std::path::Path::new("/tmp/herald.toml"),
                |_| None,
            )
            .unwrap(),
        ),
        store: f.store.clone(),
        metrics: Default::default(),
        platforms: Default::default(),
        started: std::time::SystemTime::now(),
    };
    let ask = |req: &Request| {
        let ctx = Context {
            config: &f.config,
            store: &f.store,
            watch: Some(&watch),
            control: None,
        };
        crate::render::reply_plain(&block_on(execute(&ctx, req, &Command::Status)))
    };
    let stranger = private("telegram:7", Some("fr"));
    assert_eq!(
        ask(&stranger),
        "Désolé, cette commande est réservée aux opérateurs du bot."
    );
    let operator = Request {
        operator: true,
        ..private("telegram:1", Some("en"))
    };
    let out = ask(&operator);
    assert!(out.starts_with("Herald status\nVersion "), "{out}");
    assert!(
        out.contains("• English edition — fine · Articles: 0 · Last read: never"),
        "{out}"
    );
    let in_group = Request {
        kind: ChatKind::Group,
        ..operator.clone()
    };
    assert_eq!(ask(&in_group), "Please ask me this in a private chat.");
    let matrix_room = Request {
        kind: ChatKind::Group,
        prefix: '!',
        operator: true,
        ..private("matrix:!room:localhost", Some("en"))
    };
    assert!(ask(&matrix_room).starts_with("Herald status\n"));
    assert_eq!(
        ask(&Request {
            operator: false,
            ..matrix_room
        }),
        "Sorry, this command is only for the bot's operators."
    );
}

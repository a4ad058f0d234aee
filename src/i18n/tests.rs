//! The message files are complete and consistent, and the plural forms come out right.

use super::*;

fn lang(code: &str) -> Lang {
    Lang::parse(code).unwrap()
}

/// A value for every variable a message may use; `count` is a number.
fn sample_args(names: &BTreeSet<String>) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| (n.clone(), format!("«{n}»")))
        .collect()
}

#[test]
fn every_file_parses_and_has_exactly_the_messages_of_the_code() {
    let wanted: BTreeSet<&str> = Msg::ALL.iter().map(|m| m.id()).collect();
    assert_eq!(wanted.len(), Msg::ALL.len(), "message names are distinct");
    for (code, source) in UI_LANGS.iter().zip(SOURCES) {
        let resource = match FluentResource::try_new(source.to_string()) {
            Ok(r) => r,
            Err((_, errors)) => panic!("i18n/{code}.ftl has syntax errors: {errors:?}"),
        };
        let mut found = BTreeSet::new();
        for entry in resource.entries() {
            match entry {
                ast::Entry::Message(m) => {
                    assert!(found.insert(m.id.name), "{code}: {} twice", m.id.name);
                }
                ast::Entry::Junk { content } => panic!("{code}: junk {content:?}"),
                _ => {}
            }
        }
        assert_eq!(
            found, wanted,
            "i18n/{code}.ftl: messages differ from the code's"
        );
    }
}

#[test]
fn every_language_has_every_message_with_the_same_variables_and_no_fallback() {
    let en = bundle("en").unwrap();
    for code in UI_LANGS {
        let b = bundle(code).expect("a bundle per UI language");
        for msg in Msg::ALL {
            let names = variables(&b.bundle, msg)
                .unwrap_or_else(|| panic!("{code} lacks {} (would fall back)", msg.id()));
            assert_eq!(
                Some(&names),
                variables(&en.bundle, msg).as_ref(),
                "{code} {}: variables differ from English",
                msg.id()
            );
            // Formats cleanly with every variable given, and is this language's own text.
            let values = sample_args(&names);
            let mut args = FluentArgs::new();
            for (n, v) in &values {
                if n == "count" {
                    args.set(n.as_str(), FluentValue::from(3));
                } else {
                    args.set(n.as_str(), FluentValue::from(v.as_str()));
                }
            }
            let pattern = b.bundle.get_message(msg.id()).unwrap().value().unwrap();
            let mut errors = Vec::new();
            let out = b.bundle.format_pattern(pattern, Some(&args), &mut errors);
            assert!(errors.is_empty(), "{code} {}: {errors:?}", msg.id());
            assert!(!out.trim().is_empty(), "{code} {} is empty", msg.id());
            for (_, v) in values.iter().filter(|(n, _)| n != "count") {
                assert!(
                    out.contains(v.as_str()),
                    "{code} {}: {v} not shown",
                    msg.id()
                );
            }
            if code != "en" {
                let en_text = format(&lang("en"), msg, &[]);
                assert_ne!(
                    format(&lang(code), msg, &[]),
                    en_text,
                    "{code} {} is not translated",
                    msg.id()
                );
            }
        }
    }
}

#[test]
fn templates_keep_placeholders_for_fill() {
    assert_eq!(
        text(&lang("en"), Msg::LatestHeader),
        "Latest articles ({langs}):"
    );
    assert_eq!(
        fill(
            text(&lang("de"), Msg::LangUnknown),
            &[("code", "xx"), ("available", "en, de")]
        ),
        "Es gibt keine Artikel auf „xx“. Verfügbar: en, de."
    );
    // The Telegram menu reads the help lines that start with the prefix.
    let help = text(&lang("uk"), Msg::Help);
    assert!(help.starts_with("Команди:\n{p}latest [n] — "), "{help}");
    assert_eq!(help.lines().filter(|l| l.starts_with("{p}")).count(), 6);
    assert!(
        text(&lang("en"), Msg::Start).contains("published.\n\nSend {p}subscribe"),
        "blank lines survive"
    );
}

#[test]
fn counts_take_each_languages_plural_forms() {
    let about = |code: &str, n: usize| {
        format(
            &lang(code),
            Msg::About,
            &[
                ("version", "1".into()),
                ("feeds", "a".into()),
                ("count", n.into()),
            ],
        )
    };
    assert!(
        about("ru", 1).contains("(1 источник: a)"),
        "{}",
        about("ru", 1)
    );
    assert!(
        about("ru", 3).contains("(3 источника: a)"),
        "{}",
        about("ru", 3)
    );
    assert!(
        about("ru", 5).contains("(5 источников: a)"),
        "{}",
        about("ru", 5)
    );
    assert!(
        about("ru", 21).contains("(21 источник: a)"),
        "{}",
        about("ru", 21)
    );
    assert!(
        about("uk", 1).contains("(1 джерело: a)"),
        "{}",
        about("uk", 1)
    );
    assert!(
        about("uk", 4).contains("(4 джерела: a)"),
        "{}",
        about("uk", 4)
    );
    assert!(
        about("uk", 11).contains("(11 джерел: a)"),
        "{}",
        about("uk", 11)
    );
    assert!(
        about("en", 1).contains("(one source: a)"),
        "{}",
        about("en", 1)
    );
    assert!(
        about("en", 2).contains("(2 sources: a)"),
        "{}",
        about("en", 2)
    );
    assert!(
        about("de", 1).contains("(eine Quelle: a)"),
        "{}",
        about("de", 1)
    );
    assert!(
        about("fr", 2).contains("(2 sources : a)"),
        "{}",
        about("fr", 2)
    );
}

#[test]
fn languages_are_named_in_their_own_words() {
    let names: Vec<String> = ["de", "en", "fr", "ru", "uk", "es", "xx"]
        .iter()
        .map(|c| language_name(&lang(c)))
        .collect();
    assert_eq!(
        names,
        [
            "Deutsch",
            "English",
            "Français",
            "Русский",
            "Українська",
            "Español",
            "xx"
        ]
    );
}

#[test]
fn unknown_languages_fall_back_to_english() {
    let es = lang("es");
    assert_eq!(text(&es, Msg::ReadMore), "Read more");
    assert_eq!(format(&es, Msg::ReadMore, &[]), "Read more");
    assert!(!speaks(&es));
    assert_eq!(fill("a {x} b {x}", &[("x", "1")]), "a 1 b 1");
}

//! The bot's own words in every language it speaks (en, de, ru, uk, fr). Feed text is never
//! translated; only what Herald itself says. Texts carry `{name}` placeholders filled by
//! `fill`.

mod de;
mod en;
mod fr;
mod ru;
mod uk;

use crate::article::Lang;

/// Every sentence the bot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// The words of the link to an article.
    ReadMore,
    /// Welcome in a private chat; `{p}` is the command prefix.
    Start,
    /// The command list; `{p}` is the command prefix.
    Help,
    /// `{version}`, `{feeds}`.
    About,
    /// `{langs}`.
    LatestHeader,
    /// `{langs}`.
    LatestEmpty,
    /// `{langs}`, `{p}`.
    LangCurrent,
    /// `{langs}`.
    LangSet,
    /// `{code}`, `{available}`.
    LangUnknown,
    AllLanguages,
    /// `{langs}`.
    Subscribed,
    /// `{langs}`.
    AlreadySubscribed,
    Unsubscribed,
    NotSubscribed,
    /// `/unsubscribe` in a chat the operators configured: nothing changes.
    ConfiguredByOperators,
    NotAllowed,
    /// `{cmd}`.
    UnknownCommand,
    InternalError,
}

/// The languages the bot speaks, in the order offered to users.
pub const UI_LANGS: [&str; 5] = ["en", "de", "ru", "uk", "fr"];

/// The text of `msg` in `lang`, English when the bot does not speak `lang`.
pub fn text(lang: &Lang, msg: Msg) -> &'static str {
    match lang.as_str() {
        "de" => de::text(msg),
        "ru" => ru::text(msg),
        "uk" => uk::text(msg),
        "fr" => fr::text(msg),
        _ => en::text(msg),
    }
}

/// Whether the bot speaks `lang`.
pub fn speaks(lang: &Lang) -> bool {
    UI_LANGS.contains(&lang.as_str())
}

/// The language's own name, for menus: "Deutsch", "Українська".
pub fn language_name(lang: &Lang) -> String {
    match lang.as_str() {
        "en" => "English".into(),
        "de" => "Deutsch".into(),
        "ru" => "Русский".into(),
        "uk" => "Українська".into(),
        "fr" => "Français".into(),
        "es" => "Español".into(),
        "it" => "Italiano".into(),
        "pl" => "Polski".into(),
        "be" => "Беларуская".into(),
        "ka" => "ქართული".into(),
        "kk" => "Қазақ".into(),
        other => other.to_string(),
    }
}

/// Replaces each `{name}` in `template` with its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Msg; 18] = [
        Msg::ReadMore,
        Msg::Start,
        Msg::Help,
        Msg::About,
        Msg::LatestHeader,
        Msg::LatestEmpty,
        Msg::LangCurrent,
        Msg::LangSet,
        Msg::LangUnknown,
        Msg::AllLanguages,
        Msg::Subscribed,
        Msg::AlreadySubscribed,
        Msg::Unsubscribed,
        Msg::NotSubscribed,
        Msg::ConfiguredByOperators,
        Msg::NotAllowed,
        Msg::UnknownCommand,
        Msg::InternalError,
    ];

    fn placeholders(s: &str) -> Vec<String> {
        let mut found: Vec<String> = s
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
            .collect();
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn every_language_has_every_text_with_the_same_placeholders() {
        let en = Lang::parse("en").unwrap();
        for code in UI_LANGS {
            let lang = Lang::parse(code).unwrap();
            for msg in ALL {
                let t = text(&lang, msg);
                assert!(!t.trim().is_empty(), "{code} {msg:?} is empty");
                assert_eq!(
                    placeholders(t),
                    placeholders(text(&en, msg)),
                    "{code} {msg:?}"
                );
                if code != "en" && msg != Msg::AllLanguages {
                    assert_ne!(t, text(&en, msg), "{code} {msg:?} is not translated");
                }
            }
        }
    }

    #[test]
    fn unknown_languages_fall_back_to_english() {
        let es = Lang::parse("es").unwrap();
        assert_eq!(text(&es, Msg::ReadMore), "Read more");
        assert!(!speaks(&es));
        assert_eq!(fill("a {x} b {x}", &[("x", "1")]), "a 1 b 1");
    }
}

//! The language of an item's text. An edition's feed may carry articles that were never
//! translated (a German front page full of English posts), so the feed's language is only
//! the fallback: the item's own metadata wins, then the detector's guess from the text.
//!
//! Detection uses the `lingua` crate with only the models of Herald's languages compiled
//! in (en, de, fr, ru, uk: see `Cargo.toml` and `docs/languages.md`), restricted further to
//! the languages this configuration can route: the feeds', the channels' and the bot's UI
//! languages. The detector is built once per configuration (`Detector::for_config`).
//!
//! The script decides first: a Cyrillic text is never filed under a Latin-script language
//! and a Latin text never under a Cyrillic one. When the detector is not confident, the
//! feed's language is used if the text's script allows it; otherwise the detector's best
//! guess among the languages of that script.

use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};

use crate::article::{Lang, LangSet};
use crate::config::Config;

/// How sure the detector must be (its share of the confidence among the languages the
/// script allows) before its guess beats the feed's language: a majority. On Herald's
/// labelled set every higher threshold let the feed's language turn more right answers
/// wrong than wrong answers right (`docs/languages.md`): an edition's feed often carries
/// posts in other languages, so its language is weak evidence.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// The writing system of a text or a language, as far as Herald needs to tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    Latin,
    Cyrillic,
}

impl Script {
    /// The script most of `text`'s letters are written in, if any.
    pub fn of_text(text: &str) -> Option<Script> {
        let (mut latin, mut cyrillic) = (0usize, 0usize);
        for c in text.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}'
                    if c.is_alphabetic() =>
                {
                    latin += 1
                }
                '\u{400}'..='\u{52f}' if c.is_alphabetic() => cyrillic += 1,
                _ => {}
            }
        }
        match latin.cmp(&cyrillic) {
            std::cmp::Ordering::Greater => Some(Script::Latin),
            std::cmp::Ordering::Less => Some(Script::Cyrillic),
            std::cmp::Ordering::Equal => None,
        }
    }

    /// The script a language is written in, for the languages Herald's readers use and
    /// their neighbours; `None` when unknown (or written in several).
    pub fn of_lang(lang: &Lang) -> Option<Script> {
        match lang.as_str() {
            "ru" | "uk" | "be" | "bg" | "mk" | "kk" | "ky" | "tg" | "mn" => Some(Script::Cyrillic),
            "en" | "de" | "fr" | "es" | "it" | "pt" | "nl" | "pl" | "cs" | "sk" | "sl" | "hr"
            | "ro" | "hu" | "sv" | "da" | "no" | "nb" | "nn" | "fi" | "et" | "lv" | "lt" | "tr"
            | "ca" | "eu" | "ga" | "is" | "sq" | "az" | "uz" | "eo" | "la" => Some(Script::Latin),
            _ => None,
        }
    }
}

/// Whether a language may be the language of a text in `script` (unknown fits anything).
fn fits(lang: &Lang, script: Option<Script>) -> bool {
    match (script, Script::of_lang(lang)) {
        (Some(text), Some(lang)) => text == lang,
        _ => true,
    }
}

/// A guess at a text's language.
#[derive(Clone, Debug, PartialEq)]
pub struct Guess {
    pub lang: Lang,
    /// The guess's share of the detector's confidence among the languages the text's
    /// script allows, from 0 to 1.
    pub confidence: f64,
}

/// Detects the language of texts among a fixed set of languages. Build it once: it is
/// cheap to share and its models load on first use.
pub struct Detector {
    candidates: Vec<(Lang, Language)>,
    lingua: Option<LanguageDetector>,
}

impl Detector {
    /// A detector choosing among `routable` (languages without a compiled-in model are
    /// left out: their texts fall back to the feed's language).
    pub fn new(routable: &[Lang]) -> Detector {
        let compiled = Language::all();
        let mut candidates: Vec<(Lang, Language)> = Vec::new();
        for lang in routable {
            if candidates.iter().any(|(l, _)| l == lang) {
                continue;
            }
            if let Some(model) = compiled
                .iter()
                .find(|m| m.iso_code_639_1().to_string() == lang.as_str())
            {
                candidates.push((lang.clone(), *model));
            }
        }
        let models: Vec<Language> = candidates.iter().map(|(_, m)| *m).collect();
        let lingua =
            (!models.is_empty()).then(|| LanguageDetectorBuilder::from_languages(&models).build());
        Detector { candidates, lingua }
    }

    /// A detector for the languages `config` can route: the feeds', the channels', the
    /// default chat languages and the bot's own UI languages.
    pub fn for_config(config: &Config) -> Detector {
        let mut routable = config.feed_langs();
        let lists = config
            .channels
            .iter()
            .map(|c| &c.langs)
            .chain(std::iter::once(&config.bot.default_langs));
        for set in lists {
            if let LangSet::Only(list) = set {
                routable.extend(list.iter().cloned());
            }
        }
        routable.extend(crate::i18n::UI_LANGS.iter().filter_map(|c| Lang::parse(c)));
        Detector::new(&routable)
    }

    /// A detector for the bot's own UI languages alone.
    pub fn for_ui_languages() -> Detector {
        let langs: Vec<Lang> = crate::i18n::UI_LANGS
            .iter()
            .filter_map(|c| Lang::parse(c))
            .collect();
        Detector::new(&langs)
    }

    /// The languages this detector chooses among.
    pub fn languages(&self) -> impl Iterator<Item = &Lang> {
        self.candidates.iter().map(|(l, _)| l)
    }

    /// The most likely language of `text` among those its script allows, with its share
    /// of the confidence; `None` when the detector has nothing to say.
    pub fn guess(&self, text: &str) -> Option<Guess> {
        let lingua = self.lingua.as_ref()?;
        let script = Script::of_text(text);
        let values: Vec<(&Lang, f64)> = lingua
            .compute_language_confidence_values(text)
            .into_iter()
            .filter_map(|(model, value)| {
                let (lang, _) = self.candidates.iter().find(|(_, m)| *m == model)?;
                fits(lang, script).then_some((lang, value))
            })
            .collect();
        let total: f64 = values.iter().map(|(_, v)| v).sum();
        let (lang, best) = values.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        (total > 0.0 && best > 0.0).then(|| Guess {
            lang: lang.clone(),
            confidence: best / total,
        })
    }
}

/// The language of an item: its metadata (`xml:lang`, `dc:language`, JSON Feed
/// `language`), else the detector's confident guess from its text (`parts`, such as the
/// title and the excerpt, read as sentences one after the other; with `detector` off,
/// none), else the feed's language when the text's script allows it, else the
/// detector's best guess.
pub fn of_item(
    metadata: Option<&str>,
    parts: &[&str],
    feed_lang: &Lang,
    detector: Option<&Detector>,
) -> Lang {
    of_item_or(metadata, parts, feed_lang, detector, || None)
}

/// `of_item`, except that when the detector is unsure, `stored` is asked before the feed's
/// language: the language the same post is already stored in (brought by another edition's
/// feed, say). An edition's language is weak evidence for an item; the same post's
/// language is strong. A confident guess still wins, so a translation that shares its
/// original's guid is filed under its own language.
pub fn of_item_or(
    metadata: Option<&str>,
    parts: &[&str],
    feed_lang: &Lang,
    detector: Option<&Detector>,
    stored: impl FnOnce() -> Option<Lang>,
) -> Lang {
    if let Some(lang) = metadata.and_then(Lang::parse) {
        return lang;
    }
    let Some(detector) = detector else {
        return feed_lang.clone();
    };
    let text = parts.join(". ");
    decide(
        detector.guess(&text),
        &text,
        feed_lang,
        MIN_CONFIDENCE,
        stored,
    )
}

/// The choice `of_item_or` makes from the detector's guess: a confident guess, else the
/// language the post is `stored` in, else the feed's language where the script allows it,
/// else the best guess.
fn decide(
    guess: Option<Guess>,
    text: &str,
    feed_lang: &Lang,
    min_confidence: f64,
    stored: impl FnOnce() -> Option<Lang>,
) -> Lang {
    match guess {
        Some(g) if g.confidence >= min_confidence => g.lang,
        guess => match (stored(), guess) {
            (Some(stored), _) => stored,
            _ if fits(feed_lang, Script::of_text(text)) => feed_lang.clone(),
            (None, Some(g)) => g.lang,
            (None, None) => feed_lang.clone(),
        },
    }
}

#[cfg(test)]
mod legacy;
#[cfg(test)]
mod tests;

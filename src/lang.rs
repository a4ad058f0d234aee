//! The language of an item's text. An edition's feed may carry articles that were never
//! translated (a German front page full of English posts), so the feed's language is only
//! the fallback: the item's own metadata wins, then a confident guess from the text.
//!
//! The guess covers the languages the bot speaks (en, de, fr, ru, uk) by counting each
//! language's most common short words; it answers only when one language clearly leads,
//! so a short or mixed text keeps the feed's language.

use crate::article::Lang;

const EN: &[&str] = &[
    "the", "and", "of", "to", "in", "is", "that", "for", "on", "with", "was", "as", "by", "are",
    "were", "this", "from", "at", "which", "not", "have", "has", "their", "our", "we", "they",
    "it", "an", "be", "who",
];
const DE: &[&str] = &[
    "der", "die", "das", "und", "ist", "von", "mit", "den", "dem", "zu", "nicht", "sich", "auf",
    "für", "ein", "eine", "im", "des", "auch", "sind", "wird", "werden", "wir", "sie", "zur",
    "zum", "bei", "aus", "nach", "einer",
];
const FR: &[&str] = &[
    "le", "la", "les", "et", "des", "du", "est", "une", "un", "dans", "pour", "que", "qui", "sur",
    "pas", "au", "aux", "avec", "sont", "nous", "ce", "cette", "ont", "par", "mais", "été", "leur",
    "ils", "elle", "où",
];
const RU: &[&str] = &[
    "и",
    "в",
    "не",
    "на",
    "что",
    "с",
    "по",
    "это",
    "как",
    "из",
    "о",
    "к",
    "за",
    "от",
    "для",
    "мы",
    "он",
    "она",
    "они",
    "был",
    "была",
    "были",
    "также",
    "его",
    "их",
    "но",
    "или",
    "уже",
    "только",
    "после",
];
const UK: &[&str] = &[
    "і",
    "й",
    "в",
    "у",
    "не",
    "на",
    "що",
    "з",
    "до",
    "це",
    "як",
    "із",
    "про",
    "за",
    "від",
    "для",
    "ми",
    "він",
    "вона",
    "вони",
    "був",
    "була",
    "були",
    "також",
    "його",
    "їх",
    "але",
    "або",
    "вже",
    "після",
];

/// The language of an item: its metadata (`xml:lang`, JSON Feed `language`), else a
/// confident guess from `text` when `detect` is on, else the feed's language.
pub fn of_item(metadata: Option<&str>, text: &str, feed_lang: &Lang, detect: bool) -> Lang {
    if let Some(lang) = metadata.and_then(Lang::parse) {
        return lang;
    }
    if detect && let Some(lang) = guess(text) {
        return lang;
    }
    feed_lang.clone()
}

/// Guesses the language of `text`, or `None` when no language clearly leads.
pub fn guess(text: &str) -> Option<Lang> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphabetic() && c != '\'' && c != '’')
        .filter(|w| !w.is_empty())
        .collect();
    let cyrillic = lower
        .chars()
        .filter(|c| ('\u{400}'..='\u{4ff}').contains(c))
        .count();
    let latin = lower.chars().filter(char::is_ascii_alphabetic).count();

    if cyrillic > latin {
        // Letters only Ukrainian uses settle it; otherwise count the common words.
        let uk_letters = lower
            .chars()
            .filter(|c| matches!(c, 'і' | 'ї' | 'є' | 'ґ'))
            .count();
        let ru_letters = lower
            .chars()
            .filter(|c| matches!(c, 'ы' | 'э' | 'ъ' | 'ё'))
            .count();
        let (uk, ru) = (
            score(&words, UK) + 3 * uk_letters,
            score(&words, RU) + 3 * ru_letters,
        );
        return leader(&[("uk", uk), ("ru", ru)]);
    }
    leader(&[
        ("en", score(&words, EN)),
        ("de", score(&words, DE)),
        ("fr", score(&words, FR)),
    ])
}

fn score(words: &[&str], list: &[&str]) -> usize {
    words.iter().filter(|w| list.contains(w)).count()
}

/// The best-scoring language when it has at least three hits and twice the runner-up's.
fn leader(scores: &[(&str, usize)]) -> Option<Lang> {
    let mut sorted = scores.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.1));
    let (best, top) = sorted[0];
    let second = sorted.get(1).map_or(0, |s| s.1);
    (top >= 3 && top >= 2 * second.max(1))
        .then(|| Lang::parse(best).expect("built-in codes are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<String> {
        guess(text).map(|l| l.to_string())
    }

    #[test]
    fn guesses_the_seed_languages() {
        assert_eq!(
            code(
                "Third Anniversary of the War. Discussion in Paris. On February 24, at the initiative of the Post-Soviet Left organization, a discussion was held in Paris."
            ),
            Some("en".into())
        );
        assert_eq!(
            code(
                "Treffen von PSL-Aktivisten mit Abgeordneten von La France Insoumise in der französischen Nationalversammlung. Die Folgen des Krieges in der Ukraine treffen zunehmend weite Teile der Bevölkerung"
            ),
            Some("de".into())
        );
        assert_eq!(
            code(
                "La réunion des militants avec les députés a eu lieu dans la salle de l'Assemblée nationale et nous sommes"
            ),
            Some("fr".into())
        );
        assert_eq!(
            code(
                "Мы провели акцию в Берлине, и это было только начало. Также мы говорили о том, что война"
            ),
            Some("ru".into())
        );
        assert_eq!(
            code(
                "Ми провели акцію в Берліні, і це був лише початок. Також ми говорили про те, що війна"
            ),
            Some("uk".into())
        );
    }

    #[test]
    fn stays_silent_when_unsure() {
        assert_eq!(code("PSL"), None);
        assert_eq!(code("Volkov’s Betrayal"), None);
        assert_eq!(code(""), None);
    }

    #[test]
    fn metadata_beats_detection_and_feed_is_the_fallback() {
        let de = Lang::parse("de").unwrap();
        assert_eq!(
            of_item(Some("fr-FR"), "the and of the", &de, true).as_str(),
            "fr"
        );
        assert_eq!(
            of_item(None, "the war and the peace of the people", &de, true).as_str(),
            "en"
        );
        assert_eq!(
            of_item(None, "the war and the peace of the people", &de, false).as_str(),
            "de"
        );
        assert_eq!(of_item(None, "PSL", &de, true).as_str(), "de");
    }
}

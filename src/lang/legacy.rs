//! The common-word guess Herald used before it detected languages with lingua, kept only
//! so the comparison in `docs/languages.md` can be run again
//! (`cargo test --lib lang::tests::compare_detectors -- --ignored --nocapture`).

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

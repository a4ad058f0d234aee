//! Classifies every item of `tests/data/lang-set.tsv` with the detector compiled in and
//! prints the number right, the time per item and the peak resident memory (VmHWM).

use std::time::Instant;

/// Classifies `texts`; the first text is classified once more before the clock starts, so
/// the time per item is without model loading (that time is printed on its own).
fn detect(texts: &[String]) -> Vec<Option<String>> {
    #[cfg(feature = "lingua")]
    {
        use lingua::Language::*;
        let d = lingua::LanguageDetectorBuilder::from_languages(&[
            English, French, German, Russian, Ukrainian,
        ])
        .build();
        let start = Instant::now();
        d.detect_language_of(&texts[0]);
        eprintln!("first call (loads the models): {:?}", start.elapsed());
        return texts
            .iter()
            .map(|t| d.detect_language_of(t).map(|l| l.iso_code_639_1().to_string()))
            .collect();
    }
    #[cfg(all(feature = "whatlang", not(feature = "lingua")))]
    {
        use whatlang::Lang::*;
        let d = whatlang::Detector::with_allowlist(vec![Eng, Fra, Deu, Rus, Ukr]);
        let code = |l: whatlang::Lang| match l {
            Eng => "en",
            Fra => "fr",
            Deu => "de",
            Rus => "ru",
            Ukr => "uk",
            _ => "?",
        };
        return texts
            .iter()
            .map(|t| d.detect_lang(t).map(|l| code(l).to_string()))
            .collect();
    }
    #[allow(unreachable_code)]
    texts.iter().map(|_| None).collect()
}

fn main() {
    let path = std::env::args().nth(1).expect("path to lang-set.tsv");
    let data = std::fs::read_to_string(path).expect("readable");
    let items: Vec<(String, String)> = data
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut c = l.split('\t');
            let lang = c.next().unwrap().to_string();
            let title = c.next().unwrap_or("");
            let excerpt = c.next().unwrap_or("");
            (lang, format!("{title}. {excerpt}"))
        })
        .collect();
    let texts: Vec<String> = items.iter().map(|(_, t)| t.clone()).collect();
    let start = Instant::now();
    let answers = detect(&texts);
    let elapsed = start.elapsed();
    let right = items
        .iter()
        .zip(&answers)
        .filter(|((l, _), a)| a.as_deref() == Some(l.as_str()))
        .count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ?");
    println!(
        "{right}/{} right, {:?}/item (the first one includes loading), {hwm}",
        items.len(),
        elapsed / items.len() as u32
    );
}

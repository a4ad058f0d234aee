//! Plain data shared by every part of Herald: languages, articles and delivery targets.
//! Nothing here does I/O; the store persists these types as JSON.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A language code, normalized to its lowercase primary subtag: `de-DE` and `DE` are `de`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lang(String);

impl Lang {
    /// Parses `en`, `de-DE`, `pt_BR` and the like; rejects anything that is not 2–3 letters
    /// before an optional region.
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?;
        let ok =
            (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
        ok.then(|| Lang(primary.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Lang {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Lang::parse(&value)
            .ok_or_else(|| format!("`{value}` is not a language code such as `en` or `de`"))
    }
}

impl From<Lang> for String {
    fn from(lang: Lang) -> String {
        lang.0
    }
}

/// Which languages a chat or channel wants: every one, or a list.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub enum LangSet {
    #[default]
    All,
    Only(Vec<Lang>),
}

impl LangSet {
    pub fn contains(&self, lang: &Lang) -> bool {
        match self {
            LangSet::All => true,
            LangSet::Only(list) => list.contains(lang),
        }
    }

    /// The first language named, used as the language of the bot's own words in a chat.
    pub fn first(&self) -> Option<&Lang> {
        match self {
            LangSet::All => None,
            LangSet::Only(list) => list.first(),
        }
    }

    /// Parses codes such as `["de", "en"]`; `"*"` or `"all"` anywhere means every language.
    pub fn parse<S: AsRef<str>>(codes: &[S]) -> Result<LangSet, String> {
        let mut list: Vec<Lang> = Vec::new();
        for code in codes {
            let code = code.as_ref().trim();
            if code == "*" || code.eq_ignore_ascii_case("all") {
                return Ok(LangSet::All);
            }
            let lang = Lang::parse(code).ok_or_else(|| {
                format!("`{code}` is not a language code such as `en` or `de` (or `*` for all)")
            })?;
            if !list.contains(&lang) {
                list.push(lang);
            }
        }
        if list.is_empty() {
            return Err("no language given (use `*` for all)".into());
        }
        Ok(LangSet::Only(list))
    }
}

impl TryFrom<Vec<String>> for LangSet {
    type Error = String;
    fn try_from(value: Vec<String>) -> Result<Self, Self::Error> {
        LangSet::parse(&value)
    }
}

impl From<LangSet> for Vec<String> {
    fn from(set: LangSet) -> Vec<String> {
        match set {
            LangSet::All => vec!["*".into()],
            LangSet::Only(list) => list.into_iter().map(String::from).collect(),
        }
    }
}

impl fmt::Display for LangSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LangSet::All => f.write_str("*"),
            LangSet::Only(list) => {
                let codes: Vec<&str> = list.iter().map(Lang::as_str).collect();
                f.write_str(&codes.join(", "))
            }
        }
    }
}

/// One article in one language, as Herald stores and posts it.
///
/// Its `id` is `<lang>:<post>`, where `post` is the source's guid, else its normalized link,
/// else a hash of title and date (see `feed::parse::hashed_key`). The same post carried by two
/// editions' feeds in the same language is therefore one article, while its translations
/// are distinct articles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub post: String,
    pub lang: Lang,
    pub title: String,
    pub link: Option<String>,
    pub excerpt: String,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub image: Option<String>,
    /// The feed that first brought the article.
    pub feed: String,
    /// When Herald first saw it.
    pub seen: DateTime<Utc>,
}

/// A text's words, one space between them: how `Article::revision` and the migration checks
/// compare titles and excerpts, so a change of spacing is no change.
pub fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Article {
    pub fn make_id(lang: &Lang, post: &str) -> String {
        format!("{lang}:{post}")
    }

    /// The language and the post of an id [`Article::make_id`] made; `None` for any other
    /// text (a feed's own marker in the store, say).
    pub fn split_id(id: &str) -> Option<(Lang, &str)> {
        let (lang, post) = id.split_once(':')?;
        Some((Lang::parse(lang)?, post))
    }

    /// The time the article is ordered by: published, else updated, else first seen.
    pub fn time(&self) -> DateTime<Utc> {
        self.published.or(self.updated).unwrap_or(self.seen)
    }

    /// A short fingerprint of what a reader sees of the article: its title, its excerpt
    /// and its link. A change that a reader would not see (spacing, a tracking parameter
    /// such as `utm_source` in the link) leaves it as it is; a fixed typo changes it.
    pub fn revision(&self) -> String {
        use sha2::{Digest, Sha256};
        let link = self
            .link
            .as_deref()
            .map(without_tracking)
            .unwrap_or_default();
        let seen = format!("{}\n{}\n{link}", words(&self.title), words(&self.excerpt));
        let digest = Sha256::digest(seen.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `new` shows a reader what `self` does but for its link (compared as
    /// `revision` compares them).
    pub fn only_the_link_differs(&self, new: &Article) -> bool {
        words(&self.title) == words(&new.title)
            && words(&self.excerpt) == words(&new.excerpt)
            && self.link != new.link
    }

    /// A plain article for unit tests: post `n` of example.org in `lang`, titled
    /// "Article n", from feed `en.xml`, published and seen now. Tests change what they need
    /// with struct update syntax.
    #[cfg(test)]
    pub(crate) fn sample(n: u32, lang: &str) -> Article {
        let lang = Lang::parse(lang).expect("a valid language code");
        let post = format!("https://example.org/?p={n}");
        Article {
            id: Article::make_id(&lang, &post),
            post,
            lang,
            title: format!("Article {n}"),
            link: None,
            excerpt: "text".into(),
            published: Some(Utc::now()),
            updated: None,
            authors: vec![],
            categories: vec![],
            image: None,
            feed: "en.xml".into(),
            seen: Utc::now(),
        }
    }
}

/// `link` without the query parameters that only track where a reader came from.
fn without_tracking(link: &str) -> String {
    let Ok(mut url) = url::Url::parse(link) else {
        return link.to_owned();
    };
    let tracking = |key: &str| {
        key.starts_with("utm_") || matches!(key, "fbclid" | "gclid" | "mc_cid" | "mc_eid")
    };
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !tracking(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    url.set_fragment(None);
    url.to_string()
}

/// The chat platforms Herald speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Console,
    Telegram,
    Matrix,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Console => "console",
            Platform::Telegram => "telegram",
            Platform::Matrix => "matrix",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A place Herald posts to: `console`, `telegram:@name`, `telegram:-100…`,
/// `matrix:!room` or `matrix:#alias:server`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Target {
    pub platform: Platform,
    /// The platform's own name for the chat; empty for the console.
    pub chat: String,
}

impl Target {
    pub fn console() -> Target {
        Target {
            platform: Platform::Console,
            chat: String::new(),
        }
    }

    pub fn new(platform: Platform, chat: impl Into<String>) -> Target {
        Target {
            platform,
            chat: chat.into(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.platform {
            Platform::Console if self.chat.is_empty() => f.write_str("console"),
            p => write!(f, "{p}:{}", self.chat),
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "console" {
            return Ok(Target::console());
        }
        let (platform, chat) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not a target: use `console`, `telegram:@channel`, `telegram:-100…`, `matrix:!room:server` or `matrix:#alias:server`"))?;
        match platform {
            "telegram" => {
                let valid_name = chat.strip_prefix('@').is_some_and(|n| {
                    n.len() >= 4 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if valid_name || chat.parse::<i64>().is_ok() {
                    Ok(Target::new(Platform::Telegram, chat))
                } else {
                    Err(format!(
                        "`{s}` is not a Telegram chat: use `telegram:@channelname` or a numeric chat id such as `telegram:-1001234567890`"
                    ))
                }
            }
            "matrix" => {
                let room_id = chat.starts_with('!') && chat.len() > 1;
                let alias = chat.starts_with('#') && chat.contains(':');
                if (room_id || alias) && !chat.contains(char::is_whitespace) {
                    Ok(Target::new(Platform::Matrix, chat))
                } else {
                    Err(format!(
                        "`{s}` is not a Matrix room: use `matrix:!roomid:server` or `matrix:#alias:server`"
                    ))
                }
            }
            "console" => Ok(Target::new(Platform::Console, chat)),
            other => Err(format!(
                "unknown platform `{other}` in `{s}`: use `console`, `telegram:` or `matrix:`"
            )),
        }
    }
}

impl TryFrom<String> for Target {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_changes_with_what_a_reader_sees_only() {
        let article = Article {
            link: Some("https://example.org/a/?p=1".into()),
            excerpt: "First words of the text.".into(),
            ..Article::sample(1, "en")
        };
        let same = |changed: Article| assert_eq!(changed.revision(), article.revision());
        let differs = |changed: Article| assert_ne!(changed.revision(), article.revision());
        same(Article {
            title: "  Article\n 1 ".into(),
            excerpt: "First  words of\tthe text. ".into(),
            ..article.clone()
        });
        same(Article {
            link: Some("https://example.org/a/?p=1&utm_source=rss&utm_medium=feed#more".into()),
            ..article.clone()
        });
        same(Article {
            categories: vec!["News".into()],
            updated: Some(Utc::now()),
            ..article.clone()
        });
        differs(Article {
            title: "Article 1, corrected".into(),
            ..article.clone()
        });
        differs(Article {
            excerpt: "First words of the text, fixed.".into(),
            ..article.clone()
        });
        differs(Article {
            link: Some("https://example.org/a/?p=2".into()),
            ..article.clone()
        });
    }

    #[test]
    fn lang_codes_normalize_to_primary_subtag() {
        assert_eq!(Lang::parse("de-DE").unwrap().as_str(), "de");
        assert_eq!(Lang::parse("EN").unwrap().as_str(), "en");
        assert_eq!(Lang::parse("pt_BR").unwrap().as_str(), "pt");
        assert!(Lang::parse("german").is_none());
        assert!(Lang::parse("").is_none());
        assert!(Lang::parse("1x").is_none());
    }

    #[test]
    fn lang_sets_parse_star_and_lists() {
        assert_eq!(LangSet::parse(&["*"]).unwrap(), LangSet::All);
        assert_eq!(LangSet::parse(&["de", "all"]).unwrap(), LangSet::All);
        let set = LangSet::parse(&["de", "EN", "de"]).unwrap();
        assert_eq!(set.to_string(), "de, en");
        assert!(set.contains(&Lang::parse("en").unwrap()));
        assert!(!set.contains(&Lang::parse("ru").unwrap()));
        assert!(LangSet::parse::<&str>(&[]).is_err());
        assert!(LangSet::parse(&["klingon"]).is_err());
    }

    #[test]
    fn targets_round_trip_and_reject_nonsense() {
        for s in [
            "console",
            "telegram:@postsovietleft",
            "telegram:-1001234567890",
            "matrix:!abc:localhost",
            "matrix:!Xyz123",
            "matrix:#news:example.org",
        ] {
            assert_eq!(s.parse::<Target>().unwrap().to_string(), s);
        }
        for s in [
            "telegram:postsovietleft",
            "telegram:@ab",
            "matrix:news",
            "matrix:#news",
            "slack:#x",
            "nothing",
        ] {
            assert!(s.parse::<Target>().is_err(), "{s} should be rejected");
        }
    }
}

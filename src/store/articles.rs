//! Reading articles: one by id, the newest in some languages (`/latest`), how many there
//! are, a feed's state, and the chats an article was posted to.

use super::keys::{posted_prefix, read_posted_chat, read_time_key, time_key};
use super::records::get_json;
use super::{Counts, FeedState, Result, Store};
use crate::article::{Article, LangSet, Target};

impl Store {
    pub fn feed_state(&self, feed: &str) -> Result<Option<FeedState>> {
        let t = self.t()?;
        get_json(&t.feeds, feed.as_bytes())
    }

    pub fn article(&self, id: &str) -> Result<Option<Article>> {
        let t = self.t()?;
        get_json(&t.articles, id.as_bytes())
    }

    pub fn has_article(&self, id: &str) -> Result<bool> {
        let t = self.t()?;
        Ok(t.articles.contains_key(id.as_bytes())?)
    }

    /// The articles stored with exactly this time (see `Article::time`), for finding an item
    /// a site migration gave a new id.
    pub fn articles_at(&self, time: chrono::DateTime<chrono::Utc>) -> Result<Vec<Article>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for key in t.by_time.scan_prefix(time_key(time, "")).keys() {
            let key = key?;
            let Some((_, id)) = read_time_key(&key) else {
                continue;
            };
            if let Some(article) = get_json(&t.articles, id)? {
                out.push(article);
            }
        }
        Ok(out)
    }

    /// Articles stored (a counter, not a scan).
    pub fn article_count(&self) -> usize {
        Counts::get(&self.counts.articles)
    }

    /// The newest `n` articles whose language `langs` accepts, newest first.
    pub fn latest(&self, langs: &LangSet, n: usize) -> Result<Vec<Article>> {
        let t = self.t()?;
        let mut out = Vec::new();
        for entry in t.by_time.iter().rev() {
            if out.len() >= n {
                break;
            }
            let (key, _) = entry?;
            let Some((_, id)) = read_time_key(&key) else {
                continue;
            };
            let id = std::str::from_utf8(id)?;
            let lang = Article::split_id(id).map(|(lang, _)| lang);
            if !lang.is_some_and(|l| langs.contains(&l)) {
                continue;
            }
            if let Some(article) = self.article(id)? {
                out.push(article);
            }
        }
        Ok(out)
    }

    /// The chats an article was posted to (recorded since edits exist).
    pub fn posted_to(&self, article: &str) -> Result<Vec<Target>> {
        let t = self.t()?;
        let prefix = posted_prefix(article);
        let mut out = Vec::new();
        for key in t.posted.scan_prefix(&prefix).keys() {
            if let Some(target) = read_posted_chat(&key?, prefix.len()) {
                out.push(target);
            }
        }
        Ok(out)
    }
}

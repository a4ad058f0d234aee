//! What a poll posts, chosen among the items the feed carries now, and where each goes.
//!
//! On a feed's first successful fetch only its newest `backfill` items are posted;
//! afterwards every new item, except one first seen more than `max_age` after its
//! publication (stored, but news that old is not news), and except a site migration that
//! gave known items new ids: an item that is a copy of an article the feed brought before
//! (the same language, title and date under another id) is never posted, and when more
//! never-seen items than `mass_change_limit`, or than half of what the feed lists, are
//! older than the newest item already seen from the feed, none of them is posted. Both are
//! stored, so they count as seen from then on. A burst of items newer than the newest known
//! one (after an outage) always posts.
//! `to_post` makes that choice from plain values (tested below); `targets_for` then names
//! the chats that take each chosen item.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::article::{Article, LangSet, Target, words};
use crate::config::{Config, FeedConfig};
use crate::store::{Store, StoreError};

/// What one poll of a feed posts.
pub(super) struct Choice<'a> {
    /// The articles to post, oldest first.
    pub to_post: Vec<&'a Article>,
    /// Never-seen items stored but not posted because they came as a mass change.
    pub held_back: usize,
}

/// Chooses what to post among the feed's `articles` (each listed once): the ones the feed
/// never listed before (`seen` holds those it did), on a `first_time` fetch only the
/// newest `backfill`, less a mass change and what is older than `max_age`.
/// `newest_known` is the newest item's time the feed's record kept from earlier polls;
/// `copies` are the never-seen items that copy an article the feed brought before.
#[allow(clippy::too_many_arguments)]
pub(super) fn to_post<'a>(
    config: &Config,
    feed: &FeedConfig,
    articles: &'a [Article],
    seen: &HashSet<&str>,
    copies: &HashSet<&str>,
    newest_known: Option<DateTime<Utc>>,
    first_time: bool,
    now: DateTime<Utc>,
) -> Choice<'a> {
    let backfill = feed.backfill.unwrap_or(config.bot.backfill);
    let mut candidates: Vec<&Article> = Vec::new();
    let mut newest_seen = plausible(newest_known, now);
    let mut copied = 0;
    for (rank, article) in newest_first(articles).into_iter().enumerate() {
        if seen.contains(article.id.as_str()) {
            newest_seen = newest_seen.max(plausible(article.published.or(article.updated), now));
            continue;
        }
        if !first_time && copies.contains(article.id.as_str()) {
            copied += 1;
            continue;
        }
        // On a first fetch only the feed's newest `backfill` items are posted.
        if !first_time || rank < backfill {
            candidates.push(article);
        }
    }
    let (candidates, older) = if first_time {
        (candidates, 0)
    } else {
        let limit = config
            .bot
            .mass_change_limit
            .min((articles.len() / 2).max(2));
        mass_change_guard(candidates, newest_seen, limit)
    };
    let held_back = copied + older;
    if held_back > 0 {
        tracing::warn!(
            feed = feed.label(),
            held_back,
            copies = copied,
            older_than_the_newest_known = older,
            "a mass change (a site migration?): items that copy articles already posted under new ids, or many never-seen items older than the newest known one; stored, not posted"
        );
    }
    Choice {
        to_post: choose(candidates, first_time, config.bot.max_age, now),
        held_back,
    }
}

/// The never-seen `articles` that copy an article `feed` brought before under another id:
/// the same language, title (but for spacing) and date. An undated item is never taken for
/// a copy.
pub(super) fn copies<'a>(
    store: &Store,
    feed: &str,
    articles: &'a [Article],
    seen: &HashSet<&str>,
) -> Result<HashSet<&'a str>, StoreError> {
    let mut out = HashSet::new();
    for article in articles {
        if seen.contains(article.id.as_str()) || article.published.or(article.updated).is_none() {
            continue;
        }
        let title = words(&article.title);
        let copied = store.articles_at(article.time())?.into_iter().any(|known| {
            known.id != article.id
                && known.feed == feed
                && known.lang == article.lang
                && words(&known.title) == title
        });
        if copied {
            out.insert(article.id.as_str());
        }
    }
    Ok(out)
}

/// A date that may stand as a feed's newest: none more than a day ahead of `now` (an event
/// announced with its own date, a wrong clock), which would make every later post look
/// older than the newest known one and hold it back as a mass change.
pub(super) fn plausible(date: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    date.filter(|t| *t <= now + chrono::Duration::days(1))
}

fn newest_first(articles: &[Article]) -> Vec<&Article> {
    let mut sorted: Vec<&Article> = articles.iter().collect();
    sorted.sort_by_key(|a| std::cmp::Reverse(a.time()));
    sorted
}

/// Splits off a mass change: when more than `limit` of the never-seen `candidates` are
/// no newer than `newest_seen` (the newest item already known from the feed; a migrated
/// copy of it has its date), none of those older ones is posted. Returns the candidates left and how many were held back.
fn mass_change_guard(
    candidates: Vec<&Article>,
    newest_seen: Option<DateTime<Utc>>,
    limit: usize,
) -> (Vec<&Article>, usize) {
    let Some(newest_seen) = newest_seen else {
        return (candidates, 0);
    };
    let (older, newer): (Vec<&Article>, Vec<&Article>) = candidates
        .into_iter()
        .partition(|a| a.time() <= newest_seen);
    if older.len() > limit {
        (newer, older.len())
    } else {
        (newer.into_iter().chain(older).collect(), 0)
    }
}

/// Which new articles to post: on a first fetch all `candidates` (the backfill), else those
/// not older than `max_age`. Returned oldest first.
fn choose(
    candidates: Vec<&Article>,
    first_time: bool,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Vec<&Article> {
    let mut chosen: Vec<&Article> = if first_time {
        candidates
    } else {
        let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        candidates
            .into_iter()
            .filter(|a| {
                let recent = a.published.or(a.updated).is_none_or(|t| now - t <= max_age);
                if !recent {
                    tracing::info!(article = %a.id, "older than max_age when first seen: stored, not posted");
                }
                recent
            })
            .collect()
    };
    chosen.sort_by_key(|a| a.time());
    chosen
}

/// Every (chat, article) delivery: channels (configured or added from chat) that take the feed and the article's
/// language, and subscribed chats whose languages include it.
pub(super) fn targets_for(
    config: &Config,
    store: &Store,
    feed: &FeedConfig,
    articles: &[&Article],
) -> Result<Vec<(Target, String)>, StoreError> {
    let mut chats: Vec<(Target, LangSet)> = Vec::new();
    let mut listed: HashSet<Target> = HashSet::new();
    for channel in crate::channels::all(config, store)?
        .into_iter()
        .filter(|c| c.takes_feed(feed.key()))
    {
        // A chat's own settings (changed with /lang) win over the channel's.
        let target = channel.target;
        if !listed.insert(target.clone()) {
            continue;
        }
        let langs = store
            .chat(&target)?
            .map_or_else(|| channel.langs.clone(), |s| s.langs);
        chats.push((target, langs));
    }
    for (target, settings) in store.subscribers()? {
        if listed.insert(target.clone()) {
            chats.push((target, settings.langs));
        }
    }
    let mut out = Vec::new();
    for article in articles {
        for (target, langs) in &chats {
            if langs.contains(&article.lang) {
                out.push((target.clone(), article.id.clone()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::Lang;

    fn article(id: &str, days_ago: i64) -> Article {
        let now = Utc::now();
        Article {
            id: id.into(),
            post: id.into(),
            lang: Lang::parse("en").unwrap(),
            title: id.into(),
            link: None,
            excerpt: String::new(),
            published: Some(now - chrono::Duration::days(days_ago)),
            updated: None,
            authors: vec![],
            categories: vec![],
            image: None,
            feed: "f".into(),
            seen: now,
        }
    }

    #[test]
    fn a_mass_change_of_old_items_is_held_back_but_new_items_still_post() {
        let newest_seen = Some(Utc::now() - chrono::Duration::days(3));
        let old: Vec<Article> = (0..4)
            .map(|i| article(&format!("old{i}"), 10 + i))
            .collect();
        let new = article("new", 1);
        let ids = |v: &[&Article]| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();

        // Four old never-seen items with a limit of three: none of them is posted.
        let mut all: Vec<&Article> = old.iter().collect();
        all.push(&new);
        let (left, held) = mass_change_guard(all.clone(), newest_seen, 3);
        assert_eq!((ids(&left), held), (vec!["new".to_string()], 4));

        // Up to the limit, old items are ordinary news (a late post, a fixed date).
        let (left, held) = mass_change_guard(all.clone(), newest_seen, 4);
        assert_eq!((left.len(), held), (5, 0));

        // Nothing seen yet from the feed: no reference, nothing held back.
        let (left, held) = mass_change_guard(all, None, 0);
        assert_eq!((left.len(), held), (5, 0));
    }
}

//! The store's unit tests: each use case through the one handle, on a store in a
//! temporary folder.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::copy::DB_BUILDING;
use super::ingest::DELIVERY_CHUNK;
use super::keys::outbox_key;
use super::records::from_json;
use super::*;
use crate::article::{Article, LangSet, Target};

fn article(n: u32, lang: &str) -> Article {
    Article {
        link: Some(format!("https://example.org/{n}")),
        published: Some(Utc.with_ymd_and_hms(2025, 1, n, 12, 0, 0).unwrap()),
        feed: "feed".into(),
        ..Article::sample(n, lang)
    }
}

fn chat(name: &str) -> Target {
    name.parse().unwrap()
}

/// Every (chat, article id) waiting in the outbox, in key order.
fn queued(store: &Store) -> Vec<(String, String)> {
    store
        .t()
        .unwrap()
        .outbox
        .iter()
        .map(|e| {
            let (key, value) = e.unwrap();
            let end = key.iter().position(|&b| b == 0).unwrap();
            let chat = String::from_utf8_lossy(&key[..end]).into_owned();
            let delivery: QueuedPost = from_json(&value).unwrap();
            (chat, delivery.article)
        })
        .collect()
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Every tree's entries, by tree name.
fn contents(store: &Store) -> std::collections::BTreeMap<String, Entries> {
    let mut all = std::collections::BTreeMap::new();
    for name in store.tree_names().unwrap() {
        let tree = store.t().unwrap().db.open_tree(name.as_bytes()).unwrap();
        let entries = tree
            .iter()
            .map(|e| {
                let (k, v) = e.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        all.insert(name, entries);
    }
    all
}

#[tokio::test]
async fn every_tree_is_copied_into_a_new_database_including_trees_added_later() {
    let (_dir, store) = testing::temporary();
    let articles = [article(1, "en"), article(2, "de")];
    let reader = chat("telegram:100");
    store
        .commit_poll(
            "en.xml",
            &FeedState::default(),
            &articles,
            &to(&[&reader], &[&articles[0], &articles[1]]),
            None,
        )
        .await
        .unwrap();
    // A tree a later Herald adds, and an entry in every tree (also the ones this test
    // has no API call for), so a tree left out of the copy fails the comparison.
    store.t().unwrap().db.open_tree("added_later").unwrap();
    for name in store.tree_names().unwrap() {
        let tree = store.t().unwrap().db.open_tree(name.as_bytes()).unwrap();
        tree.insert(format!("key of {name}\0\u{1}"), &[0u8, 255, 10][..])
            .unwrap();
    }
    let before = contents(&store);
    for tree in trees::NAMES.iter().copied().chain(["added_later"]) {
        assert!(before.contains_key(tree), "{tree} is enumerated");
    }
    assert!(before.values().all(|entries| !entries.is_empty()));

    let mut copied = Vec::new();
    store
        .for_each_entry(|tree, key, value| -> Result<()> {
            copied.push((tree.to_string(), key.to_vec(), value.to_vec()));
            Ok(())
        })
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let names = store.tree_names().unwrap();
    Store::build(target.path(), |db| -> Result<()> {
        for name in &names {
            db.tree(name)?;
        }
        for (tree, key, value) in &copied {
            db.insert(tree, key, value)?;
        }
        Ok(())
    })
    .unwrap();
    assert!(!target.path().join(DB_BUILDING).exists());

    let restored = Store::open(target.path()).unwrap();
    assert_eq!(contents(&restored), before);
    // The counters of the restored store are counted from what was copied.
    assert_eq!(restored.article_count(), store.t().unwrap().articles.len());
    assert_eq!(restored.outbox_len(), store.t().unwrap().outbox.len());
    assert_eq!(
        restored.latest(&LangSet::All, 5).unwrap(),
        store.latest(&LangSet::All, 5).unwrap()
    );
}

#[test]
fn a_failed_build_leaves_no_database() {
    let target = tempfile::tempdir().unwrap();
    let failed = Store::build(target.path(), |db| -> Result<()> {
        db.insert("articles", b"a", b"b")?;
        Err(StoreError::Task("the input broke off".into()))
    });
    assert!(failed.is_err());
    assert!(!Store::exists_in(target.path()));
    assert!(!target.path().join(DB_BUILDING).exists());
}

fn to(chats: &[&Target], articles: &[&Article]) -> Vec<(Target, String)> {
    articles
        .iter()
        .flat_map(|a| chats.iter().map(|c| ((*c).clone(), a.id.clone())))
        .collect()
}

#[tokio::test]
async fn an_article_another_feed_stored_first_reaches_the_chats_of_this_feed_once() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    let (shared, en_only, de_only) = (article(1, "en"), article(2, "en"), article(3, "de"));
    let de_chat = chat("telegram:100"); // follows the German feed only
    let both = chat("telegram:200"); // follows both feeds

    let en = [shared.clone(), en_only.clone()];
    let done = store
        .commit_poll(
            "en.xml",
            &state,
            &en,
            &to(&[&both], &[&shared, &en_only]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        Committed {
            stored: 2,
            new_to_feed: 2,
            queued: 2,
            ..Committed::default()
        }
    );

    // The German feed lists the English article too: stored already, but new to it.
    let de = [shared.clone(), de_only.clone()];
    let poll_de = to(&[&de_chat, &both], &[&shared, &de_only]);
    let done = store
        .commit_poll("de.xml", &state, &de, &poll_de, None)
        .await
        .unwrap();
    assert_eq!(
        done,
        Committed {
            stored: 1,
            new_to_feed: 2,
            queued: 3,
            ..Committed::default()
        },
        "the German-only chat gets both, the other chat only what it lacks"
    );
    let mut all = queued(&store);
    all.sort();
    let mut expected = vec![
        ("telegram:100".to_string(), shared.id.clone()),
        ("telegram:100".to_string(), de_only.id.clone()),
        ("telegram:200".to_string(), shared.id.clone()),
        ("telegram:200".to_string(), en_only.id.clone()),
        ("telegram:200".to_string(), de_only.id.clone()),
    ];
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(store.outbox_len(), 5);
    assert_eq!(store.article_count(), 3);

    // Sent, then listed again by either feed: never queued a second time.
    let pending = store.next_for(&both).unwrap().unwrap();
    store.mark_sent(&pending, "m1", None).await.unwrap();
    for (feed, items) in [("en.xml", &en[..]), ("de.xml", &de[..])] {
        let done = store
            .commit_poll(feed, &state, items, &poll_de, None)
            .await
            .unwrap();
        assert_eq!(done, Committed::default(), "{feed}");
    }
    assert_eq!(store.outbox_len(), 4);
}

#[tokio::test]
async fn a_fan_out_to_more_chats_than_one_transaction_holds_queues_each_chat_once() {
    let (dir, store) = testing::temporary();
    let state = FeedState::default();
    let (a, b) = (article(1, "en"), article(2, "en"));
    let chats: Vec<Target> = (0..DELIVERY_CHUNK as i64 * 2 + 500)
        .map(|n| chat(&format!("telegram:{}", 10_000 + n)))
        .collect();
    let refs: Vec<&Target> = chats.iter().collect();
    // Another feed brought `a` to the last chat, which has it queued already.
    store
        .commit_poll(
            "de.xml",
            &state,
            std::slice::from_ref(&a),
            &to(&refs[refs.len() - 1..], &[&a]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.outbox_len(), 1);

    // A poll killed after storing the articles and queueing the first chunk.
    let fan_out = to(&refs, &[&a, &b]);
    assert!(fan_out.len() > 4 * DELIVERY_CHUNK);
    store.store_new_articles(&[a.clone(), b.clone()]).unwrap();
    let times = HashMap::from([(a.id.as_str(), a.time()), (b.id.as_str(), b.time())]);
    store
        .queue_deliveries(&times, &fan_out[..DELIVERY_CHUNK])
        .unwrap();
    drop(store);

    // The next process polls again: the rest is queued, nothing twice.
    let store = Store::open(dir.path()).unwrap();
    let done = store
        .commit_poll("en.xml", &state, &[a.clone(), b.clone()], &fan_out, None)
        .await
        .unwrap();
    assert_eq!(
        (done.stored, done.new_to_feed, done.queued),
        (0, 2, fan_out.len() - DELIVERY_CHUNK - 1)
    );
    assert_eq!(store.outbox_len(), fan_out.len());
    let all = queued(&store);
    let unique: HashSet<&(String, String)> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (fan_out.len(), fan_out.len()));

    // Listed again: nothing new to the feed, nothing queued.
    let done = store
        .commit_poll("en.xml", &state, &[a.clone(), b.clone()], &fan_out, None)
        .await
        .unwrap();
    assert_eq!(done, Committed::default());
    assert_eq!(store.outbox_len(), fan_out.len());
}

#[tokio::test]
async fn the_chats_waiting_are_read_a_page_at_a_time_each_once() {
    let (_dir, store) = testing::temporary();
    let (a, b) = (article(1, "en"), article(2, "en"));
    // Names that are prefixes of others, and two deliveries for some chats.
    let names = [
        "telegram:1",
        "telegram:10",
        "telegram:100",
        "matrix:!r:x",
        "telegram:2",
    ];
    let chats: Vec<Target> = names.iter().map(|n| chat(n)).collect();
    let refs: Vec<&Target> = chats.iter().collect();
    store
        .commit_poll(
            "en.xml",
            &FeedState::default(),
            &[a.clone(), b.clone()],
            &to(&refs, &[&a, &b]),
            None,
        )
        .await
        .unwrap();
    let mut read = Vec::new();
    let mut after: Option<Target> = None;
    loop {
        let page = store.pending_targets_after(after.as_ref(), 2).unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last().cloned() else {
            break;
        };
        read.extend(page);
        after = Some(last);
    }
    assert_eq!(read, store.pending_targets().unwrap());
    let mut read: Vec<String> = read.iter().map(Target::to_string).collect();
    read.sort();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(read, expected);
}

#[tokio::test]
async fn a_chat_that_had_an_article_is_not_sent_it_again_by_a_later_feed() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    let a = article(1, "en");
    let reader = chat("telegram:7");
    store
        .commit_poll(
            "en.xml",
            &state,
            std::slice::from_ref(&a),
            &to(&[&reader], &[&a]),
            None,
        )
        .await
        .unwrap();
    let pending = store.next_for(&reader).unwrap().unwrap();
    store.mark_sent(&pending, "m1", None).await.unwrap();
    let done = store
        .commit_poll(
            "de.xml",
            &state,
            std::slice::from_ref(&a),
            &to(&[&reader], &[&a]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.new_to_feed, 1);
    assert_eq!(done.queued, 0, "sent already");
    assert!(store.next_for(&reader).unwrap().is_none());
}

#[tokio::test]
async fn a_feeds_record_tells_the_language_each_of_its_posts_was_stored_in() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    // Post 3 was listed in two languages (its item's own language changed).
    let listed = [
        article(1, "en"),
        article(2, "de"),
        article(3, "en"),
        article(3, "fr"),
    ];
    store
        .commit_poll("en.xml", &state, &listed, &[], None)
        .await
        .unwrap();
    store
        .commit_poll("uk.xml", &state, &[article(4, "uk")], &[], None)
        .await
        .unwrap();
    let langs = store.feed_langs("en.xml").await.unwrap();
    let mut got: Vec<(String, String)> = langs
        .iter()
        .map(|(post, lang)| (post.clone(), lang.to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("https://example.org/?p=1".to_string(), "en".to_string()),
            ("https://example.org/?p=2".to_string(), "de".to_string()),
        ]
    );
    assert!(store.feed_langs("never.xml").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_store_from_before_per_feed_records_reposts_nothing_after_the_upgrade() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    let (old, fresh) = (article(1, "en"), article(2, "en"));
    let reader = chat("telegram:7");
    store
        .commit_poll("en.xml", &state, std::slice::from_ref(&old), &[], None)
        .await
        .unwrap();
    // What an older Herald left: the feed's state and its articles, no item records.
    store.t().unwrap().feed_items.clear().unwrap();
    assert_eq!(
        store
            .seen_by_feed("en.xml", [old.id.as_str(), fresh.id.as_str()])
            .unwrap(),
        HashSet::from([old.id.as_str()]),
        "stored articles count as seen by a feed with a state"
    );
    assert!(
        store
            .seen_by_feed("new.xml", [old.id.as_str()])
            .unwrap()
            .is_empty(),
        "a feed never polled has seen nothing"
    );
    let items = [old.clone(), fresh.clone()];
    let done = store
        .commit_poll(
            "en.xml",
            &state,
            &items,
            &to(&[&reader], &[&old, &fresh]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.queued, 1, "only the article new to the store");
    assert_eq!(
        queued(&store),
        vec![("telegram:7".into(), fresh.id.clone())]
    );
    // From now on the feed's own record decides.
    assert_eq!(
        store
            .seen_by_feed("en.xml", [old.id.as_str(), fresh.id.as_str()])
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_changed_article_queues_one_edit_per_message_that_carried_it() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    let window = Some(Duration::from_secs(7 * 24 * 3600));
    let original = Article {
        feed: "en.xml".into(),
        ..article(1, "en")
    };
    let (a, b) = (chat("telegram:1"), chat("telegram:2"));
    let poll = |articles: Vec<Article>, window: Option<Duration>| {
        let (store, state) = (store.clone(), state.clone());
        let deliveries = to(&[&a, &b], &[&original]);
        async move {
            store
                .commit_poll("en.xml", &state, &articles, &deliveries, window)
                .await
                .unwrap()
        }
    };
    poll(vec![original.clone()], window).await;
    for target in [&a, &b] {
        let pending = store.next_for(target).unwrap().unwrap();
        let revision = original.revision();
        store
            .mark_sent(&pending, "m1", Some(&revision))
            .await
            .unwrap();
    }

    // Spacing and a tracking parameter are no change.
    let cosmetic = Article {
        title: format!("  {} ", original.title),
        link: Some(format!("{}?utm_source=rss", original.link.clone().unwrap())),
        ..original.clone()
    };
    let done = poll(vec![cosmetic], window).await;
    assert_eq!((done.changed, done.edits), (0, 0));

    // A fixed title: the stored article follows, one edit per chat.
    let fixed = Article {
        title: "Article 1, corrected".into(),
        ..original.clone()
    };
    let done = poll(vec![fixed.clone()], window).await;
    assert_eq!((done.changed, done.edits, done.queued), (1, 2, 0));
    assert_eq!(
        store.article(&fixed.id).unwrap().unwrap().title,
        fixed.title
    );
    assert_eq!(store.outbox_len(), 2);
    let edit = store.next_for(&a).unwrap().unwrap();
    assert!(edit.delivery.edit);
    store
        .finish_edit(&edit, Some(&fixed.revision()))
        .await
        .unwrap();
    assert_eq!(
        store.was_sent(&a, &fixed.id).unwrap().unwrap().revision,
        Some(fixed.revision())
    );

    // The same text again (another feed poll): nothing more, and the edit still queued
    // for the other chat is not doubled.
    let done = poll(vec![fixed.clone()], window).await;
    assert_eq!((done.changed, done.edits), (0, 0));
    assert_eq!(store.outbox_len(), 1);

    // Edits off: the article is updated, no edit is queued.
    let again = Article {
        excerpt: "A new first paragraph.".into(),
        ..fixed.clone()
    };
    let done = poll(vec![again.clone()], None).await;
    assert_eq!((done.changed, done.edits), (1, 0));
    assert_eq!(
        store.article(&again.id).unwrap().unwrap().excerpt,
        again.excerpt
    );

    // Older than the window: not edited.
    let late = Article {
        title: "Article 1, corrected once more".into(),
        ..again.clone()
    };
    let done = poll(vec![late], Some(Duration::ZERO)).await;
    assert_eq!((done.changed, done.edits), (1, 0));

    // Another edition's copy that differs does not change the article.
    let other = Article {
        title: "A translation's slip".into(),
        ..again
    };
    let done = store
        .commit_poll("de.xml", &state, &[other], &[], window)
        .await
        .unwrap();
    assert_eq!((done.changed, done.edits), (0, 0));
}

#[tokio::test]
async fn forgetting_keeps_what_a_feed_lists_or_an_outbox_holds_and_drops_the_rest() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    let (gone, waiting, listed) = (article(1, "en"), article(2, "en"), article(3, "en"));
    let reader = chat("telegram:7");
    let all = [gone.clone(), waiting.clone(), listed.clone()];
    store
        .commit_poll(
            "en.xml",
            &state,
            &all,
            &to(&[&reader], &[&gone, &waiting, &listed]),
            None,
        )
        .await
        .unwrap();
    // The oldest is sent, the newest too; the middle one still waits.
    let first = store.next_for(&reader).unwrap().unwrap();
    assert_eq!(first.delivery.article, gone.id);
    store.mark_sent(&first, "m1", None).await.unwrap();
    let key = outbox_key(&reader, listed.time(), &listed.id);
    let last = QueueHead {
        key,
        target: reader.clone(),
        delivery: QueuedPost {
            article: listed.id.clone(),
            enqueued: Utc::now(),
            edit: false,
        },
    };
    store.mark_sent(&last, "m3", None).await.unwrap();
    // A feed that left the configuration, with an article of its own.
    let orphan = article(4, "de");
    store
        .commit_poll("old.xml", &state, std::slice::from_ref(&orphan), &[], None)
        .await
        .unwrap();
    // The feed now lists only the newest article.
    store
        .commit_poll("en.xml", &state, std::slice::from_ref(&listed), &[], None)
        .await
        .unwrap();
    let configured = ["en.xml".to_string()];
    let keep = Duration::from_secs(30 * 24 * 3600);
    let day = chrono::Duration::days(1);

    let now = Utc::now();
    assert!(
        store
            .forget(now, keep, &configured)
            .await
            .unwrap()
            .is_empty(),
        "nothing has been unlisted for 30 days yet"
    );
    assert_eq!(store.article_count(), 4);

    let later = now + day * 31;
    let done = store.forget(later, keep, &configured).await.unwrap();
    assert_eq!(
        done,
        Forgotten {
            articles: 2,
            feed_items: 2,
            feeds: 1
        }
    );
    assert!(store.article(&gone.id).unwrap().is_none());
    assert!(store.was_sent(&reader, &gone.id).unwrap().is_none());
    assert!(store.posted_to(&gone.id).unwrap().is_empty());
    assert!(store.article(&orphan.id).unwrap().is_none());
    assert!(store.feed_state("old.xml").unwrap().is_none());
    assert_eq!(store.poll_record("old.xml").unwrap(), PollRecord::default());
    // Kept: the article in the outbox, and the one the feed still lists (with its
    // record of where it went, for edits).
    assert!(store.article(&waiting.id).unwrap().is_some());
    assert_eq!(
        queued(&store),
        vec![("telegram:7".into(), waiting.id.clone())]
    );
    assert!(store.article(&listed.id).unwrap().is_some());
    assert!(store.was_sent(&reader, &listed.id).unwrap().is_some());
    assert_eq!(store.posted_to(&listed.id).unwrap(), vec![reader.clone()]);
    assert_eq!(store.article_count(), 2);
    assert_eq!(
        store
            .seen_by_feed("en.xml", [listed.id.as_str(), gone.id.as_str()])
            .unwrap(),
        HashSet::from([listed.id.as_str()])
    );
    // A second pass finds nothing more; the counters match a fresh count.
    assert!(
        store
            .forget(later, keep, &configured)
            .await
            .unwrap()
            .is_empty()
    );
    let reopened_count = store.t().unwrap().articles.len();
    assert_eq!(store.article_count(), reopened_count);

    // Once sent, the waiting article goes too (its feed stopped listing it long ago).
    let pending = store.next_for(&reader).unwrap().unwrap();
    store.mark_sent(&pending, "m2", None).await.unwrap();
    let done = store.forget(later, keep, &configured).await.unwrap();
    assert_eq!(done.articles, 1);
    assert_eq!(store.article_count(), 1);
}

#[tokio::test]
async fn records_from_before_the_stamps_are_kept_for_the_whole_retention_from_the_upgrade() {
    let (_dir, store) = testing::temporary();
    let state = FeedState::default();
    // Brought by the feed that lists them, as every stored article is.
    let of = |n| Article {
        feed: "en.xml".into(),
        ..article(n, "en")
    };
    let (old, new) = (of(1), of(2));
    store
        .commit_poll("en.xml", &state, &[old.clone(), new.clone()], &[], None)
        .await
        .unwrap();
    store
        .commit_poll("en.xml", &state, std::slice::from_ref(&new), &[], None)
        .await
        .unwrap();
    // What a Herald without stamps left: empty values.
    for key in store.t().unwrap().feed_items.iter().keys() {
        store
            .t()
            .unwrap()
            .feed_items
            .insert(key.unwrap(), &[][..])
            .unwrap();
    }
    let configured = ["en.xml".to_string()];
    let keep = Duration::from_secs(30 * 24 * 3600);
    let upgrade = Utc::now() + chrono::Duration::days(100);
    assert!(
        store
            .forget(upgrade, keep, &configured)
            .await
            .unwrap()
            .is_empty()
    );
    // The next poll of the feed stamps what it lists; the unlisted record keeps the
    // upgrade's stamp, and goes `keep` after it.
    store
        .commit_poll("en.xml", &state, std::slice::from_ref(&new), &[], None)
        .await
        .unwrap();
    let soon = upgrade + chrono::Duration::days(29);
    assert!(
        store
            .forget(soon, keep, &configured)
            .await
            .unwrap()
            .is_empty()
    );
    let done = store
        .forget(upgrade + chrono::Duration::days(31), keep, &configured)
        .await
        .unwrap();
    assert_eq!((done.articles, done.feed_items), (1, 1));
    assert!(store.article(&new.id).unwrap().is_some());

    // A feed with a state but no records at all (polled only before per-feed records):
    // what it brought may still be listed by it, so that is not forgotten.
    store.t().unwrap().feed_items.clear().unwrap();
    let done = store
        .forget(upgrade + chrono::Duration::days(400), keep, &configured)
        .await
        .unwrap();
    assert_eq!(done, Forgotten::default());
    assert!(store.article(&new.id).unwrap().is_some());
}

#[tokio::test]
async fn counters_follow_every_write() {
    let (dir, store) = testing::temporary();
    let check = |store: &Store| {
        assert_eq!(
            store.article_count(),
            store.t().unwrap().articles.len(),
            "articles"
        );
        assert_eq!(
            store.outbox_len(),
            store.t().unwrap().outbox.len(),
            "outbox"
        );
        assert_eq!(
            store.set_aside_count(),
            store.t().unwrap().set_aside.len(),
            "dead"
        );
    };
    let items: Vec<Article> = (1..=3).map(|n| article(n, "en")).collect();
    let refs: Vec<&Article> = items.iter().collect();
    let (a, b, c) = (chat("telegram:1"), chat("telegram:2"), chat("telegram:3"));
    store
        .commit_poll(
            "en.xml",
            &FeedState::default(),
            &items,
            &to(&[&a, &b, &c], &refs),
            None,
        )
        .await
        .unwrap();
    check(&store);
    assert_eq!((store.article_count(), store.outbox_len()), (3, 9));
    let pending = store.next_for(&a).unwrap().unwrap();
    store.mark_sent(&pending, "m", None).await.unwrap();
    check(&store);
    let pending = store.next_for(&a).unwrap().unwrap();
    store.set_aside(&pending, "rejected").await.unwrap();
    check(&store);
    assert_eq!(store.set_aside_count(), 1);
    store.move_chat(&b, &chat("telegram:20")).await.unwrap();
    check(&store);
    store.forget_chat(&a).unwrap();
    store.forget_chat(&c).unwrap();
    store.flush().await.unwrap();
    check(&store);
    assert_eq!((store.outbox_len(), store.set_aside_count()), (3, 0));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check(&store);
    assert_eq!(store.outbox_len(), 3, "counted again when opened");
}

#[tokio::test]
async fn waiting_writers_share_one_flush_and_their_writes_survive_a_reopen() {
    let (dir, store) = testing::temporary();
    // As if a flush were under way: every writer below must wait for the next one.
    store.flusher.state.lock().unwrap().running = true;
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..50 {
        let store = store.clone();
        writers.spawn(async move {
            let target = chat(&format!("telegram:{n}"));
            let settings = ChatSettings {
                langs: LangSet::All,
                subscribed: true,
                ui_lang: None,
                since: Utc::now(),
            };
            store.put_chat(&target, &settings).unwrap();
            store.flush().await
        });
    }
    while store.flusher.done.receiver_count() < 50 {
        tokio::task::yield_now().await;
    }
    assert!(writers.try_join_next().is_none(), "all still waiting");
    let (flusher, db) = (
        store.flusher.clone(),
        Arc::downgrade(&store.t().unwrap().db),
    );
    tokio::task::spawn_blocking(move || flusher.run(&db))
        .await
        .unwrap();
    while let Some(result) = writers.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(store.flush_count(), 1, "one flush for fifty writers");
    assert!(!store.flusher.state.lock().unwrap().running);

    // A flush after that is a new one, started by its caller.
    store.flush().await.unwrap();
    assert_eq!(store.flush_count(), 2);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.subscribers().unwrap().len(), 50);
}

#[tokio::test]
async fn pauses_hold_one_chat_or_all_survive_a_reopen_and_their_end_is_announced() {
    let (dir, store) = testing::temporary();
    let (a, b): (Target, Target) = (
        "telegram:-1001".parse().unwrap(),
        "console".parse().unwrap(),
    );
    let pause = Pause { at: Utc::now() };
    store.pause(Some(&a), &pause).unwrap();
    assert!(store.paused(&a).unwrap().is_some());
    assert!(store.paused(&b).unwrap().is_none());
    store.pause(None, &pause).unwrap();
    assert!(
        store.paused(&b).unwrap().is_some(),
        "the pause of every chat"
    );
    store.flush().await.unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    assert!(
        store.paused_all().unwrap().is_some(),
        "kept across a restart"
    );
    // Ending the pause of all leaves the chat paused on its own.
    assert!(store.resume(None).unwrap());
    tokio::time::timeout(std::time::Duration::from_secs(1), store.pause_ended())
        .await
        .expect("the end of a pause is announced");
    assert!(store.paused(&b).unwrap().is_none());
    assert!(store.paused(&a).unwrap().is_some());
    assert_eq!(
        store.paused_chats().unwrap(),
        vec![(a.clone(), pause.clone())]
    );
    assert!(!store.resume(None).unwrap(), "nothing left to resume");
    assert!(store.resume(Some(&a)).unwrap());
    assert!(store.paused(&a).unwrap().is_none());
}

#[tokio::test]
async fn a_chat_that_moves_keeps_its_pause_and_stays_a_channel_added_from_chat() {
    let (_dir, store) = testing::temporary();
    let (group, supergroup) = (chat("telegram:-1001"), chat("telegram:-1002"));
    let added = AddedChannel {
        langs: LangSet::parse(&["de".to_string()]).unwrap(),
        feeds: Some(vec!["de.xml".into()]),
        at: Utc::now(),
    };
    let pause = Pause { at: Utc::now() };
    store.add_channel(&group, &added).unwrap();
    store.pause(Some(&group), &pause).unwrap();
    store.move_chat(&group, &supergroup).await.unwrap();
    assert_eq!(
        store.paused(&supergroup).unwrap(),
        Some(pause.clone()),
        "the pause holds the chat at its new id"
    );
    assert_eq!(
        store.paused_chats().unwrap(),
        vec![(supergroup.clone(), pause.clone())],
        "and only there"
    );
    assert_eq!(
        store.added_channels().unwrap(),
        vec![(supergroup.clone(), added.clone())],
        "the channel is known by its new id"
    );
    // Removed by its new id, it is gone.
    assert!(store.remove_channel(&supergroup).unwrap());
    assert!(store.added_channels().unwrap().is_empty());
    assert!(store.paused(&supergroup).unwrap().is_none());

    // A channel added by its public name stays known by the name it was given when the
    // name is found to lead to an id; its pause follows it there.
    let (name, id) = (chat("telegram:@readers"), chat("telegram:-1003"));
    store.add_channel(&name, &added).unwrap();
    store.pause(Some(&name), &pause).unwrap();
    store.move_chat(&name, &id).await.unwrap();
    assert_eq!(store.added_channels().unwrap(), vec![(name.clone(), added)]);
    assert_eq!(store.paused_chats().unwrap(), vec![(id.clone(), pause)]);
}

#[tokio::test]
async fn forgetting_works_beside_feeds_polled_only_before_per_feed_records() {
    let (_dir, store) = testing::temporary();
    let now = Utc::now();
    let state = FeedState::default();
    let of = |feed: &str, n: u32| Article {
        feed: feed.into(),
        ..article(n, "en")
    };
    // A feed polled since the upgrade, which stopped listing one of its articles.
    let (unlisted, listed) = (of("en.xml", 1), of("en.xml", 2));
    store
        .commit_poll(
            "en.xml",
            &state,
            &[unlisted.clone(), listed.clone()],
            &[],
            None,
        )
        .await
        .unwrap();
    store
        .commit_poll("en.xml", &state, std::slice::from_ref(&listed), &[], None)
        .await
        .unwrap();
    // Two feeds an older Herald polled, with a state but no record: one still configured
    // (its URL has been dead since, or it answers "not modified" every time), one removed
    // from the configuration before the upgrade.
    let (waiting, orphan) = (of("old.xml", 3), of("removed.xml", 4));
    store
        .commit_poll("old.xml", &state, std::slice::from_ref(&waiting), &[], None)
        .await
        .unwrap();
    let polled = FeedState {
        last_body: Some(now),
        ..FeedState::default()
    };
    store
        .commit_poll(
            "removed.xml",
            &polled,
            std::slice::from_ref(&orphan),
            &[],
            None,
        )
        .await
        .unwrap();
    for feed in ["old.xml", "removed.xml"] {
        for key in store
            .t()
            .unwrap()
            .feed_items
            .scan_prefix(feed.as_bytes())
            .keys()
        {
            store.t().unwrap().feed_items.remove(key.unwrap()).unwrap();
        }
    }
    let configured = ["en.xml".to_string(), "old.xml".to_string()];
    let keep = Duration::from_secs(30 * 24 * 3600);

    let done = store
        .forget(now + chrono::Duration::days(31), keep, &configured)
        .await
        .unwrap();
    assert_eq!(
        done,
        Forgotten {
            articles: 2,
            feed_items: 1,
            feeds: 1
        }
    );
    assert!(store.article(&unlisted.id).unwrap().is_none());
    assert!(store.article(&orphan.id).unwrap().is_none());
    assert!(store.feed_state("removed.xml").unwrap().is_none());
    assert!(store.article(&listed.id).unwrap().is_some());
    // The configured feed not polled since the upgrade may still list what it brought:
    // that stays, and counts as seen by it when it is polled again.
    assert!(store.article(&waiting.id).unwrap().is_some());
    assert!(store.feed_state("old.xml").unwrap().is_some());
    assert_eq!(
        store
            .seen_by_feed("old.xml", [waiting.id.as_str()])
            .unwrap(),
        HashSet::from([waiting.id.as_str()])
    );
    assert_eq!(store.article_count(), 2);
}

#[tokio::test]
async fn a_failed_write_stops_every_write_until_the_store_is_opened_again_and_keeps_what_was_flushed()
 {
    let (dir, store) = testing::temporary();
    let kept = chat("telegram:5");
    let settings = ChatSettings {
        langs: LangSet::All,
        subscribed: true,
        ui_lang: None,
        since: Utc::now(),
    };
    store.put_chat(&kept, &settings).unwrap();
    store.flush().await.unwrap();

    // One write fails, as sled's first I/O error would; every write after it fails too,
    // naming the data folder, while reads go on.
    store.faults().fail_write("put_chat", 0);
    let other = chat("telegram:6");
    let e = store.put_chat(&other, &settings).unwrap_err().to_string();
    assert!(e.starts_with("cannot write to the data folder"), "{e}");
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
    let e = store.forget_chat(&kept).unwrap_err();
    assert!(matches!(e, StoreError::NotWritable { .. }), "{e}");
    assert!(store.flush().await.is_err());
    assert!(store.chat(&kept).unwrap().is_some(), "reads work");
    assert!(store.unwritable().is_some());

    // The folder itself is sound: the store is opened again and takes writes.
    assert!(store.recover().await);
    assert!(store.unwritable().is_none());
    assert!(
        store.chat(&kept).unwrap().is_some(),
        "what was flushed is kept"
    );
    store.put_chat(&other, &settings).unwrap();
    store.flush().await.unwrap();
    assert!(store.chat(&other).unwrap().is_some());

    // A broken folder (read-only) keeps it unwritable until mended.
    store.faults().break_folder(Fault::ReadOnly);
    assert!(store.put_chat(&kept, &settings).is_err());
    assert!(!store.recover().await);
    let problem = store.unwritable().unwrap();
    assert!(
        problem.error.contains("Read-only file system"),
        "{}",
        problem.error
    );
    store.faults().mend();
    assert!(store.recover().await);
    store.put_chat(&kept, &settings).unwrap();
}

#[tokio::test]
async fn a_poll_whose_flush_fails_is_all_or_nothing_after_the_reopen() {
    let (_dir, store) = testing::temporary();
    let reader = chat("telegram:7");
    let article = Article::sample(1, "en");
    let state = FeedState {
        first_fetch: Some(Utc::now()),
        ..FeedState::default()
    };
    let deliveries = vec![(reader.clone(), article.id.clone())];
    // The poll's transaction goes through; the flush after it fails (a full disk).
    store.faults().fail_write("flush", 0);
    let e = store
        .commit_poll(
            "en.xml",
            &state,
            std::slice::from_ref(&article),
            &deliveries,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotWritable { .. }), "{e}");
    assert!(store.recover().await);
    // Whatever survived the reopen, the feed's state never survives without its articles
    // and their deliveries: the next poll cannot hide them behind a kept ETag.
    let kept_state = store.feed_state("en.xml").unwrap().is_some();
    let kept_article = store.article(&article.id).unwrap().is_some();
    let kept_delivery = store.next_for(&reader).unwrap().is_some();
    assert_eq!(kept_state, kept_article);
    assert_eq!(kept_state, kept_delivery);
}

//! `herald backup` and `herald restore`: the whole store as one portable file, and back.
//!
//! The file is JSON lines, readable by any JSON tool and independent of sled's on-disk
//! format (so a backup survives a sled upgrade):
//!
//! ```text
//! {"format":"herald-backup","version":1,"herald":"0.1.0","created":"2026-…","trees":["articles",…]}
//! {"tree":"articles","key":"<hex>","value":"<hex>"}
//! …
//! {"end":true,"entries":1234}
//! ```
//!
//! The header names the format, its version and every tree of the database; each entry
//! line holds one key and value of a tree as hexadecimal bytes; the last line counts the
//! entries, so a cut-off file is recognized. Every tree is copied — articles, chats, the
//! outbox, sent records, feed state, … and any tree a later Herald adds — but not the
//! Matrix client's own store under `data_dir/matrix`, which is the bot's device identity
//! (see the README).
//!
//! Both refuse while a bot holds the store. The backup is consistent (nothing writes while
//! it is made) and written atomically: a temporary file beside the target, flushed to disk,
//! renamed over it. A restore goes only into an empty `data_dir`, and builds the database
//! beside its final place (see `Store::build`), so a failed restore leaves no half store.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// The first line's `format`.
const FORMAT: &str = "herald-backup";
/// The version of the file format this Herald writes and reads.
const VERSION: u32 = 1;
/// The most a header line may take (a garbage file is not read whole to find a newline).
const MAX_HEADER: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    #[serde(default)]
    herald: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    trees: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Entry {
        tree: String,
        key: String,
        value: String,
    },
    End {
        end: bool,
        entries: u64,
    },
}

/// What was copied: entries per tree.
#[derive(Debug, Default)]
pub struct Summary {
    pub trees: BTreeMap<String, u64>,
}

impl Summary {
    pub fn entries(&self) -> u64 {
        self.trees.values().sum()
    }

    fn count(&self, tree: &str) -> u64 {
        self.trees.get(tree).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for Summary {
    /// "12 articles, 3 chats, 0 queued posts, 7 sent records (40 entries in 14 trees)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} articles, {} chats, {} queued posts, {} sent records ({} entries in {} trees)",
            self.count("articles"),
            self.count("chats"),
            self.count("outbox"),
            self.count("sent"),
            self.entries(),
            self.trees.len()
        )
    }
}

/// Opens the store in `data_dir` for a backup or restore; a running bot's lock becomes
/// the advice to stop it.
fn open(data_dir: &Path) -> anyhow::Result<Store> {
    match Store::open(data_dir) {
        Ok(store) => Ok(store),
        Err(StoreError::Locked { dir, pid }) => bail!(
            "a running Herald{} holds the store at {}; stop it first",
            pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            dir.display()
        ),
        Err(e) => Err(e).context(format!("opening the store in {}", data_dir.display())),
    }
}

/// Writes the store in `data_dir` to `path` (replacing a file there, atomically).
pub fn backup(data_dir: &Path, path: &Path) -> anyhow::Result<Summary> {
    if !Store::exists_in(data_dir) {
        bail!(
            "there is no Herald store in {} to back up (is `[bot] data_dir` right?)",
            data_dir.display()
        );
    }
    let store = open(data_dir)?;
    let tmp = temporary_beside(path)?;
    let result = write_file(&store, &tmp).and_then(|summary| {
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        sync_parent(path);
        Ok(summary)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_file(store: &Store, tmp: &Path) -> anyhow::Result<Summary> {
    // The backup holds chat ids of private subscribers: readable by the owner only.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let trees = store.tree_names()?;
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        herald: env!("CARGO_PKG_VERSION").into(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        trees: trees.clone(),
    };
    let mut summary = Summary {
        trees: trees.iter().map(|t| (t.clone(), 0)).collect(),
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    store.for_each_entry(|tree, key, value| -> anyhow::Result<()> {
        let line = Line::Entry {
            tree: tree.to_string(),
            key: hex(key),
            value: hex(value),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
        *summary.trees.entry(tree.to_string()).or_default() += 1;
        Ok(())
    })?;
    let end = Line::End {
        end: true,
        entries: summary.entries(),
    };
    serde_json::to_writer(&mut out, &end)?;
    out.write_all(b"\n")?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
        .with_context(|| format!("writing {}", tmp.display()))?;
    Ok(summary)
}

/// Restores the backup at `path` into `data_dir`, which must be empty (or not exist yet).
pub fn restore(data_dir: &Path, path: &Path) -> anyhow::Result<Summary> {
    refuse_unless_empty(data_dir)?;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut input = BufReader::new(file);
    let header = read_header(&mut input, path)?;
    let mut summary = Summary {
        trees: header.trees.iter().map(|t| (t.clone(), 0)).collect(),
    };
    let mut finished = false;
    Store::build(data_dir, |db| -> anyhow::Result<()> {
        for tree in &header.trees {
            db.tree(tree)?;
        }
        // Line 1 was the header.
        for (number, line) in input.lines().enumerate().map(|(i, l)| (i + 2, l)) {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if finished {
                if line.trim().is_empty() {
                    continue;
                }
                bail!("{}: line {number}: more after the end", path.display());
            }
            let bad = |why: &str| anyhow::anyhow!("{}: line {number}: {why}", path.display());
            match serde_json::from_str::<Line>(&line) {
                Ok(Line::Entry { tree, key, value }) => {
                    let Some(count) = summary.trees.get_mut(&tree) else {
                        return Err(bad(&format!(
                            "the tree `{tree}` is not named in the header"
                        )));
                    };
                    let key = unhex(&key).ok_or_else(|| bad("the key is not hexadecimal"))?;
                    let value = unhex(&value).ok_or_else(|| bad("the value is not hexadecimal"))?;
                    db.insert(&tree, &key, &value)?;
                    *count += 1;
                }
                Ok(Line::End { end: true, entries }) => {
                    if entries != summary.entries() {
                        return Err(bad(&format!(
                            "the end counts {entries} entries, but {} were read",
                            summary.entries()
                        )));
                    }
                    finished = true;
                }
                Ok(Line::End { .. }) | Err(_) => return Err(bad("not an entry of a backup")),
            }
        }
        if !finished {
            bail!(
                "{} ends before its last line: the backup is incomplete (cut off while copied?)",
                path.display()
            );
        }
        Ok(())
    })?;
    Ok(summary)
}

/// Refuses a `data_dir` that holds anything: a running bot's store, a stopped one's, or
/// other files.
fn refuse_unless_empty(data_dir: &Path) -> anyhow::Result<()> {
    let mut entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", data_dir.display())),
    };
    let Some(first) = entries.next() else {
        return Ok(());
    };
    if Store::exists_in(data_dir) {
        // Says whether a bot holds it; a stopped bot's store is refused all the same.
        drop(open(data_dir)?);
        bail!(
            "{} already holds a Herald store; restore only into an empty data_dir (move this one away first)",
            data_dir.display()
        );
    }
    let name = first
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_default();
    bail!(
        "{} is not empty (it holds `{name}`); restore only into an empty data_dir",
        data_dir.display()
    )
}

fn read_header(input: &mut impl BufRead, path: &Path) -> anyhow::Result<Header> {
    let not_ours = || format!("{} is not a Herald backup", path.display());
    let mut first = String::new();
    input
        .by_ref()
        .take(MAX_HEADER)
        .read_line(&mut first)
        .with_context(not_ours)?;
    let header: Header = serde_json::from_str(&first).with_context(not_ours)?;
    if header.format != FORMAT {
        bail!(not_ours());
    }
    if header.version != VERSION {
        bail!(
            "{} is a Herald backup of format version {}, which this Herald ({}) cannot read (it reads version {VERSION}); restore it with the Herald that made it ({}) or a newer one",
            path.display(),
            header.version,
            env!("CARGO_PKG_VERSION"),
            if header.herald.is_empty() {
                "unknown"
            } else {
                &header.herald
            }
        );
    }
    Ok(header)
}

/// A new temporary file name in the folder of `path`, so the rename is atomic.
fn temporary_beside(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(tmp))
}

/// Makes a rename in `path`'s folder durable (best effort: not every file system can).
fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 15)] as char);
    }
    text
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with two chats, closed again.
    fn store_in(dir: &Path) {
        let store = Store::open(dir).unwrap();
        for chat in ["telegram:100", "matrix:!room:example.org"] {
            let settings = crate::store::ChatSettings {
                langs: crate::article::LangSet::All,
                subscribed: true,
                ui_lang: None,
                since: chrono::Utc::now(),
            };
            store.put_chat(&chat.parse().unwrap(), &settings).unwrap();
        }
        drop(store);
        Store::wait_closed(dir);
    }

    #[test]
    fn a_backup_restores_into_an_empty_folder_and_not_into_a_full_one() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        store_in(&data);
        let file = dir.path().join("herald.backup");
        let made = backup(&data, &file).unwrap();
        assert!(made.trees.contains_key("articles"), "{made:?}");
        assert_eq!(made.trees["chats"], 2, "{made:?}");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with(r#"{"format":"herald-backup","version":1,"#));
        assert!(text.ends_with(&format!(
            "{{\"end\":true,\"entries\":{}}}\n",
            made.entries()
        )));

        let restored = restore(&dir.path().join("new"), &file).unwrap();
        assert_eq!(restored.trees, made.trees);
        assert!(Store::exists_in(&dir.path().join("new")));

        let refused = restore(&data, &file).unwrap_err().to_string();
        assert!(
            refused.contains("already holds a Herald store"),
            "{refused}"
        );
    }

    #[test]
    fn files_that_are_not_complete_backups_of_a_known_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        store_in(&data);
        let file = dir.path().join("herald.backup");
        backup(&data, &file).unwrap();
        let good = std::fs::read_to_string(&file).unwrap();
        let cases = [
            (
                "garbage",
                "PK\u{3}\u{4} not json at all\n".to_string(),
                "is not a Herald backup",
            ),
            (
                "another format",
                good.replacen("herald-backup", "other-backup", 1),
                "is not a Herald backup",
            ),
            (
                "a newer version",
                good.replacen(r#""version":1"#, r#""version":7"#, 1),
                "format version 7, which this Herald",
            ),
            (
                "cut off",
                good.lines().take(2).map(|l| format!("{l}\n")).collect(),
                "the backup is incomplete",
            ),
        ];
        for (what, text, expected) in cases {
            let path = dir.path().join(what);
            std::fs::write(&path, text).unwrap();
            let target = dir.path().join(format!("restored {what}"));
            let error = format!("{:#}", restore(&target, &path).unwrap_err());
            assert!(error.contains(expected), "{what}: {error}");
            assert!(
                !Store::exists_in(&target),
                "{what}: no store is left behind"
            );
        }
    }

    /// The backup in `tests/data/backup-v1.jsonl` was written by the Herald of before the
    /// store became `src/store/` (see [`write_the_backup_fixture`]); `backup-v1.read.txt` is
    /// what that Herald read back from it through the store's API. A Herald that restores it
    /// must read exactly the same: no tree, key or record format may change under a backup.
    #[tokio::test]
    async fn a_backup_from_an_earlier_herald_restores_and_reads_the_same() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        restore(&data, &fixture.join("backup-v1.jsonl")).unwrap();
        Store::wait_closed(&data);
        let store = Store::open(&data).unwrap();
        let read = fixture_reading(&store).await;
        let expected = std::fs::read_to_string(fixture.join("backup-v1.read.txt")).unwrap();
        assert_eq!(read, expected);
    }

    /// Writes `tests/data/backup-v1.jsonl` and `backup-v1.read.txt` anew:
    /// `cargo test --lib write_the_backup_fixture -- --ignored`. Only for a new backup
    /// format: the point of the fixture is that it was written by an earlier Herald.
    #[tokio::test]
    #[ignore]
    async fn write_the_backup_fixture() {
        use crate::article::{Article, Lang, LangSet, Target};
        use crate::store::{AddedChannel, ChatSettings, FeedState, Pause};
        use chrono::{TimeZone as _, Utc};

        let at = |day: u32, hour: u32| Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
        let article = |n: u32, lang: &str, feed: &str| {
            let lang = Lang::parse(lang).unwrap();
            let post = format!("https://example.org/?p={n}");
            Article {
                id: Article::make_id(&lang, &post),
                post,
                lang,
                title: format!("Headline {n} ‹{feed}›"),
                link: Some(format!("https://example.org/{n}/")),
                excerpt: format!("The excerpt of article {n}, with \"quotes\" & ampersands."),
                published: Some(at(n, 9)),
                updated: n.is_multiple_of(2).then(|| at(n, 11)),
                authors: vec!["Redaktion".into()],
                categories: vec!["News".into(), "Migration".into()],
                image: (n == 3).then(|| "https://example.org/3.jpg".to_string()),
                feed: feed.into(),
                seen: at(n, 10),
            }
        };
        let chat = |t: &str| -> Target { t.parse().unwrap() };
        let (channel, group, room, private) = (
            chat("telegram:@herald_news"),
            chat("telegram:-5"),
            chat("matrix:!room:example.org"),
            chat("telegram:4242"),
        );
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let de = [article(1, "de", "de.xml"), article(2, "de", "de.xml")];
        let en = [
            article(3, "en", "en.xml"),
            article(4, "en", "en.xml"),
            article(5, "en", "en.xml"),
        ];
        let state = |etag: &str, newest| FeedState {
            validators: crate::feed::Validators {
                etag: Some(etag.into()),
                last_modified: Some("Mon, 30 Nov 2026 09:00:00 GMT".into()),
            },
            first_fetch: Some(at(1, 8)),
            last_body: Some(at(6, 8)),
            newest: Some(newest),
        };
        let to = |chats: &[&Target], articles: &[Article]| -> Vec<(Target, String)> {
            chats
                .iter()
                .flat_map(|c| articles.iter().map(|a| ((*c).clone(), a.id.clone())))
                .collect()
        };
        store
            .commit_poll(
                "de.xml",
                &state("\"de-1\"", at(2, 9)),
                &de,
                &to(&[&channel, &group], &de),
                None,
            )
            .await
            .unwrap();
        store
            .commit_poll(
                "en.xml",
                &state("\"en-1\"", at(5, 9)),
                &en,
                &to(&[&channel, &room, &private], &en),
                None,
            )
            .await
            .unwrap();
        // Sent: the channel's first three posts and the room's first; one set aside.
        for (target, n) in [(&channel, 0), (&channel, 1), (&room, 0)] {
            let head = store.next_for(target).unwrap().unwrap();
            let message = format!("{}-{n}", target.platform.name());
            let revision = store
                .article(&head.delivery.article)
                .unwrap()
                .unwrap()
                .revision();
            store
                .mark_sent(&head, &message, Some(&revision))
                .await
                .unwrap();
        }
        let head = store.next_for(&private).unwrap().unwrap();
        store
            .set_aside(&head, "Forbidden: bot was blocked by the user")
            .await
            .unwrap();
        // An edited headline queues an edit of the message that carried it.
        let mut changed = de[0].clone();
        changed.title = "Headline 1, corrected".into();
        store
            .commit_poll(
                "de.xml",
                &state("\"de-2\"", at(2, 9)),
                &[changed, de[1].clone()],
                &[],
                Some(std::time::Duration::from_secs(3650 * 86_400)),
            )
            .await
            .unwrap();
        for (target, subscribed, ui) in [(&private, true, Some("ru")), (&group, false, None)] {
            let settings = ChatSettings {
                langs: LangSet::parse(&["de", "uk"]).unwrap(),
                subscribed,
                ui_lang: ui.map(|l| Lang::parse(l).unwrap()),
                since: at(3, 7),
            };
            store.put_chat(target, &settings).unwrap();
        }
        store
            .add_channel(
                &chat("matrix:#news:example.org"),
                &AddedChannel {
                    langs: LangSet::parse(&["en"]).unwrap(),
                    feeds: Some(vec!["en.xml".into()]),
                    at: at(4, 12),
                },
            )
            .unwrap();
        store.pause(Some(&room), &Pause { at: at(6, 13) }).unwrap();
        store
            .note_poll("de.xml", at(6, 8), None, Some(at(6, 9)))
            .unwrap();
        store
            .note_poll(
                "en.xml",
                at(6, 8),
                Some("HTTP 503 Service Unavailable"),
                Some(at(6, 9)),
            )
            .unwrap();
        store
            .note_send_failure(&group, "Too Many Requests: retry after 7")
            .unwrap();
        store
            .move_chat(&group, &chat("telegram:-1005"))
            .await
            .unwrap();
        store.flush().await.unwrap();
        drop(store);
        Store::wait_closed(dir.path());

        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let file = fixture.join("backup-v1.jsonl");
        backup(dir.path(), &file).unwrap();
        // The header's creation time and version would change with every run.
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut header: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        header["created"] = "2026-12-07T00:00:00Z".into();
        lines[0] = header.to_string();
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();

        let copy = tempfile::tempdir().unwrap();
        let data = copy.path().join("data");
        restore(&data, &file).unwrap();
        Store::wait_closed(&data);
        let store = Store::open(&data).unwrap();
        let read = fixture_reading(&store).await;
        std::fs::write(fixture.join("backup-v1.read.txt"), read).unwrap();
    }

    /// Everything the store's API reads from the fixture's store, as text: records in their
    /// stored JSON form, chats as written in the configuration, so that the text depends on
    /// what is read and not on what the types are called.
    async fn fixture_reading(store: &Store) -> String {
        use crate::article::{LangSet, Platform, Target};
        use crate::store::Standing;
        use std::fmt::Write as _;
        fn j<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).unwrap()
        }
        let chats: Vec<Target> = [
            "telegram:@herald_news",
            "telegram:-5",
            "telegram:-1005",
            "matrix:!room:example.org",
            "telegram:4242",
            "matrix:#news:example.org",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        let named = |targets: Vec<Target>| -> Vec<String> {
            targets.iter().map(Target::to_string).collect()
        };
        let mut out = String::new();
        let articles = store.latest(&LangSet::All, 100).unwrap();
        writeln!(out, "articles: {}", store.article_count()).unwrap();
        for a in &articles {
            writeln!(out, "article {}", j(a)).unwrap();
            writeln!(out, "  revision {}", a.revision()).unwrap();
            let stored = store.article(&a.id).unwrap();
            writeln!(out, "  stored {}", j(&stored)).unwrap();
            writeln!(
                out,
                "  posted to {:?}",
                named(store.posted_to(&a.id).unwrap())
            )
            .unwrap();
            for chat in &chats {
                let standing = match store.delivery_state(chat, a).unwrap() {
                    None => continue,
                    Some(Standing::Sent) => "sent",
                    Some(Standing::Queued) => "queued",
                    Some(Standing::SetAside) => "set aside",
                };
                writeln!(out, "  {chat}: {standing}").unwrap();
                if let Some(sent) = store.was_sent(chat, &a.id).unwrap() {
                    writeln!(out, "  {chat}: sent record {}", j(&sent)).unwrap();
                }
            }
        }
        for lang in ["de", "en", "uk"] {
            let set = LangSet::parse(&[lang]).unwrap();
            let ids: Vec<String> = store
                .latest(&set, 3)
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect();
            writeln!(out, "latest {lang}: {ids:?}").unwrap();
        }
        for feed in ["de.xml", "en.xml", "gone.xml"] {
            writeln!(out, "feed {feed}: {}", j(&store.feed_state(feed).unwrap())).unwrap();
            writeln!(out, "  polls {}", j(&store.poll_record(feed).unwrap())).unwrap();
            writeln!(out, "  articles {}", store.feed_article_count(feed)).unwrap();
            let mut langs: Vec<(String, String)> = store
                .feed_langs(feed)
                .await
                .unwrap()
                .into_iter()
                .map(|(post, lang)| (post, lang.to_string()))
                .collect();
            langs.sort();
            writeln!(out, "  langs {langs:?}").unwrap();
            let ids = articles.iter().map(|a| a.id.as_str());
            let mut seen: Vec<_> = store.seen_by_feed(feed, ids).unwrap().into_iter().collect();
            seen.sort();
            writeln!(out, "  seen {seen:?}").unwrap();
        }
        writeln!(out, "queued: {}", store.outbox_len()).unwrap();
        writeln!(out, "set aside: {}", store.set_aside_count()).unwrap();
        for chat in &chats {
            writeln!(
                out,
                "chat {chat}: resolves to {}",
                store.resolve(chat).unwrap()
            )
            .unwrap();
            writeln!(out, "  settings {}", j(&store.chat(chat).unwrap())).unwrap();
            writeln!(out, "  queued {}", store.queued_for(chat)).unwrap();
            if let Some(head) = store.next_for(chat).unwrap() {
                writeln!(out, "  head {} {}", head.target, j(&head.delivery)).unwrap();
            }
            writeln!(out, "  last sent {}", j(&store.last_sent_to(chat).unwrap())).unwrap();
            writeln!(out, "  failure {}", j(&store.send_failure(chat).unwrap())).unwrap();
            writeln!(out, "  paused {}", j(&store.paused(chat).unwrap())).unwrap();
            writeln!(out, "  added {}", j(&store.added_channel(chat).unwrap())).unwrap();
        }
        for platform in [Platform::Telegram, Platform::Matrix] {
            let last = store.last_sent_on(platform).unwrap();
            writeln!(out, "last sent on {}: {}", platform.name(), j(&last)).unwrap();
        }
        for (chat, settings) in store.subscribers().unwrap() {
            writeln!(out, "subscriber {chat} {}", j(&settings)).unwrap();
        }
        for (chat, added) in store.added_channels().unwrap() {
            writeln!(out, "added channel {chat} {}", j(&added)).unwrap();
        }
        for (chat, pause) in store.paused_chats().unwrap() {
            writeln!(out, "paused chat {chat} {}", j(&pause)).unwrap();
        }
        let mut entries = BTreeMap::<String, u64>::new();
        store
            .for_each_entry(|tree, _, _| -> Result<(), StoreError> {
                *entries.entry(tree.to_string()).or_default() += 1;
                Ok(())
            })
            .unwrap();
        writeln!(out, "trees {:?}", store.tree_names().unwrap()).unwrap();
        writeln!(out, "entries {entries:?}").unwrap();
        out
    }

    #[test]
    fn hex_round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}

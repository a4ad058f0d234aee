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
    let trees = store.tree_names();
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

    #[test]
    fn hex_round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}

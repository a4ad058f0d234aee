//! The layout rules of `docs/architecture.md`, checked on the source text: each SDK and the
//! database named only in its own folder, no two top-level modules importing each other, no
//! file in `src/` longer than 800 lines before its unit tests, no type name defined in two
//! files. A reviewer's grep, run by the suite, so that a change that breaks a rule says which.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// Every `.rs` file under `src/`, with its text.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &mut out);
    out.into_iter()
        .map(|(p, t)| (p.strip_prefix(&root).unwrap().to_path_buf(), t))
        .collect()
}

/// The file's code before its unit tests (`#[cfg(test)]` at the start of a line, the
/// convention of every module here); nothing for a file that is all tests.
fn before_tests<'a>(path: &Path, text: &'a str) -> &'a str {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return "";
    }
    match text.find("\n#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// The top-level module a file belongs to (`store` for `src/store/outbox.rs`).
fn top_module(path: &Path) -> String {
    let first = path
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn slash(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[test]
fn each_sdk_and_the_database_are_named_only_in_their_own_folder() {
    let rules: [(&str, &[&str]); 4] = [
        ("sled::", &["store"]),
        ("teloxide", &["platform/telegram"]),
        ("matrix_sdk", &["platform/matrix"]),
        ("feed_rs", &["feed"]),
    ];
    let mut broken = Vec::new();
    for (path, text) in sources() {
        let path = slash(&path);
        // Comments may name an SDK (a doc saying where it lives); code may not.
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (name, homes) in rules {
            if code.contains(name) && !homes.iter().any(|home| path.starts_with(home)) {
                broken.push(format!("{path} names {name}"));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// The top-level modules a piece of code names as `crate::name`, also inside
/// `crate::{a, b::c}`.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                out.insert(name);
            }
        }
    }
    out
}

/// Every way from a module back to itself, as "a → b → a".
fn cycles(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut cycles = Vec::new();
    for start in imports.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<Vec<String>> = vec![vec![start.clone()]];
        while let Some(way) = stack.pop() {
            let last = way.last().unwrap();
            for next in imports.get(last).into_iter().flatten() {
                if next == start {
                    let mut cycle = way.clone();
                    cycle.push(next.clone());
                    cycles.push(cycle.join(" → "));
                } else if seen.insert(next.clone()) {
                    let mut longer = way.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    cycles
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.iter().map(|(p, _)| top_module(p)).collect();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &sources {
        let from = top_module(path);
        if from == "main" || from == "lib" {
            continue;
        }
        for to in named_modules(before_tests(path, text)) {
            if to != from && modules.contains(&to) {
                imports.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    let cycles = cycles(&imports);
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn no_file_holds_more_than_800_lines_before_its_unit_tests() {
    let long: Vec<String> = sources()
        .iter()
        .map(|(path, text)| (slash(path), before_tests(path, text).lines().count()))
        .filter(|(_, lines)| *lines > MAX_LINES)
        .map(|(path, lines)| format!("{path}: {lines} lines"))
        .collect();
    assert!(long.is_empty(), "{long:#?}");
}

/// The names a line defines as a type: `struct`, `enum`, `trait`, and `type` aliases outside
/// impl blocks (an associated `type Error = …` names no type of its own).
fn defined_type(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    let indented = trimmed.len() != line.len();
    let mut words = trimmed.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "pub" | "pub(crate)" | "pub(super)" | "pub(in" => continue,
            "struct" | "enum" | "trait" | "type" => {
                if word == "type" && indented && !trimmed.starts_with("pub") {
                    return None;
                }
                let name: String = words
                    .next()?
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                return name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                    .then_some(name);
            }
            _ if word.starts_with("pub(") => continue,
            _ => return None,
        }
    }
    None
}

#[test]
fn no_type_name_is_defined_in_two_files() {
    let mut homes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in sources() {
        let mut in_comment = false;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("/*") {
                in_comment = true;
            }
            if in_comment {
                in_comment = !trimmed.contains("*/");
                continue;
            }
            if trimmed.starts_with("//") {
                continue;
            }
            if let Some(name) = defined_type(line) {
                homes.entry(name).or_default().insert(slash(&path));
            }
        }
    }
    let twice: Vec<String> = homes
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {files:?}"))
        .collect();
    assert!(twice.is_empty(), "{twice:#?}");
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The rules above pass on nothing if the readers find nothing: they must find the
    // store's handle, its imports and a long file's length.
    let sources = sources();
    assert!(sources.len() > 30);
    assert_eq!(defined_type("pub struct Store {").as_deref(), Some("Store"));
    assert_eq!(defined_type("    type Error = String;"), None);
    assert_eq!(
        named_modules("use crate::{article::Lang, store::Store};\nuse crate::text;"),
        ["article", "store", "text"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(top_module(Path::new("store/outbox.rs")), "store");
    let graph = |edges: &[(&str, &str)]| {
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            imports
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        imports
    };
    assert_eq!(
        cycles(&graph(&[
            ("poll", "store"),
            ("store", "article"),
            ("article", "poll")
        ]))[0],
        "article → poll → store → article"
    );
    assert!(
        cycles(&graph(&[
            ("poll", "store"),
            ("app", "poll"),
            ("app", "store")
        ]))
        .is_empty()
    );
    let (path, text) = sources
        .iter()
        .find(|(p, _)| p.ends_with("article.rs"))
        .unwrap();
    assert!(before_tests(path, text).lines().count() < text.lines().count());
}

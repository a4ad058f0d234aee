//! One typed builder for the configs the tests run the bot with, shared by the core,
//! Telegram and Matrix tests: sections and keys are set as values and written out as TOML
//! by the `toml` crate, so no test edits a config as text.

use toml::{Table, Value};

use super::herald::Ops;

/// A Herald config under construction. [`Config::new`] starts from what every test wants:
/// `data_dir = "data"` beside the config and a one-second poll.
#[derive(Clone, Debug)]
pub struct Config {
    sections: Table,
    feeds: Vec<Table>,
    channels: Vec<Table>,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    pub fn new() -> Config {
        Config {
            sections: Table::new(),
            feeds: Vec::new(),
            channels: Vec::new(),
        }
        .set("bot", "data_dir", "data")
        .set("bot", "poll_interval", "1s")
    }

    /// Sets `key` in `[section]` (`bot`, `fetch`, `telegram`, `matrix`, `ops`).
    pub fn set(mut self, section: &str, key: &str, value: impl Into<Value>) -> Config {
        let table = self
            .sections
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        table
            .as_table_mut()
            .expect("a section is a table")
            .insert(key.to_owned(), value.into());
        self
    }

    pub fn bot(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("bot", key, value)
    }

    pub fn fetch(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("fetch", key, value)
    }

    pub fn telegram(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("telegram", key, value)
    }

    pub fn matrix(self, key: &str, value: impl Into<Value>) -> Config {
        self.set("matrix", key, value)
    }

    /// Serves `/healthz` and `/metrics` at `ops`.
    pub fn ops(self, ops: &Ops) -> Config {
        self.set("ops", "listen", format!("127.0.0.1:{}", ops.port))
    }

    /// Adds a `[[feeds]]` entry.
    pub fn feed(self, url: &str, lang: &str) -> Config {
        self.feed_with(url, lang, &[])
    }

    /// A `[[feeds]]` entry with more keys (`detect_lang`, `name`, `backfill`).
    pub fn feed_with(mut self, url: &str, lang: &str, more: &[(&str, Value)]) -> Config {
        let mut feed = Table::new();
        feed.insert("url".into(), url.into());
        feed.insert("lang".into(), lang.into());
        feed.extend(more.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self.feeds.push(feed);
        self
    }

    /// Adds a `[[channels]]` entry for these languages (`["*"]` for all).
    pub fn channel(self, target: &str, langs: &[&str]) -> Config {
        self.channel_with(target, langs, &[])
    }

    /// A `[[channels]]` entry with more keys (`feeds`).
    pub fn channel_with(mut self, target: &str, langs: &[&str], more: &[(&str, Value)]) -> Config {
        let mut channel = Table::new();
        channel.insert("target".into(), target.into());
        channel.insert("langs".into(), list(langs));
        channel.extend(more.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self.channels.push(channel);
        self
    }

    /// The config as TOML text.
    pub fn toml(&self) -> String {
        let mut root = self.sections.clone();
        let array =
            |tables: &[Table]| Value::Array(tables.iter().cloned().map(Value::Table).collect());
        if !self.feeds.is_empty() {
            root.insert("feeds".into(), array(&self.feeds));
        }
        if !self.channels.is_empty() {
            root.insert("channels".into(), array(&self.channels));
        }
        toml::to_string(&root).expect("a config serializes")
    }
}

/// A TOML array of strings.
pub fn list(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

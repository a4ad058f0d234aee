//! Herald carries an organization's articles from its RSS/Atom feeds into the chats where
//! its members live — Telegram channels, groups and private chats, Matrix rooms — and
//! answers chat commands such as `/latest` and `/lang` in the user's language.
//!
//! # Surface
//! The binary uses `app`, `config` and `article`. The modules the benchmarks and the fuzz
//! targets measure (`store`, `delivery`, `feed`, `lang`, `render`, `commands`, `sink`,
//! `text`) are public too; the adapters, the command service, polling, metrics, the
//! operators' endpoint and the texts are crate-private, so the compiler reports what no
//! caller uses.
//!
//! # Layout
//! - `config`: the TOML file and secrets from the environment, validated once.
//! - `article`: plain data — `Lang`, `LangSet`, `Article`, `Target`, `Platform`.
//! - `text`: HTML to text, escaping, truncation, UTF-16 length, link normalization.
//! - `lang`: the language of an item's text (metadata, then lingua detection, then the feed's).
//! - `feed`: fetching (conditional GET, size cap), decoding (any encoding) and parsing feeds
//!   into articles, isolated so that no feed can crash the bot.
//! - `store`: the only sled user — articles, feed state, chats, outbox, sent records; one
//!   `impl Store` file per use case, the trees with their keys and values listed in its doc.
//! - `backup`: the whole store as one portable file (`herald backup`, `herald restore`).
//! - `check`: one result of `herald check --online` (feeds and platforms reached).
//! - `channels`: the channels of the configuration file and those added from chat, as one
//!   list.
//! - `poll`: polls every feed concurrently and commits what is new with its deliveries:
//!   `select` (what to post, and where), `schedule` (each feed's loop, backoff), `report`
//!   (what a poll logs and counts).
//! - `delivery`: drains the outbox through the platforms with pacing and retries:
//!   `outcome` (what each send's outcome records and counts), `pace` (the platforms' limits).
//! - `render`: articles and replies as Telegram HTML, Matrix HTML + text, console text.
//! - `commands`: the platform-neutral chat commands and their replies.
//! - `i18n`: the bot's own texts in en, de, ru, uk, fr, from the Fluent files in `i18n/`.
//! - `redact`: what Herald cuts out of texts it shows: secrets, chat ids.
//! - `sink`: the `Sink` trait the core sends through, `Post` and `SendError`.
//! - `platform`: the adapters — console, Telegram, Matrix — and their start-up.
//! - `service`: the command service the platform adapters answer commands through.
//! - `ops`: the operators' view — the status page (`/`), `/healthz` and `/metrics` — and
//!   what the other layers share with it: the counters (`ops::metrics`), the signs of life
//!   `/healthz` judges by (`ops::liveness`), and the running bot as operators see it
//!   (`ops::status`, also `/status` in chat). It imports none of the layers that write them.
//! - `app`: wires everything together: `run` until shutdown, `poll_once`, `latest`.
//!   Nothing else imports it.
//!
//! `docs/architecture.md` draws the way of an article through these modules and lists the
//! rules they keep, each with the test that holds it.
//!
//! # Features
//! `telegram` and `matrix` (both default) build the adapters with their SDKs. Without
//! them (`--no-default-features`, as the fuzz targets build it) Herald posts to the console
//! only, and what only the adapters use is left unused, so dead code is reported only in the
//! full build.
#![cfg_attr(
    not(all(feature = "telegram", feature = "matrix")),
    allow(dead_code, unused_imports)
)]

pub mod app;
pub mod article;
pub mod backup;
pub(crate) mod channels;
pub mod check;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod feed;
pub(crate) mod i18n;
pub mod lang;
pub(crate) mod ops;
pub(crate) mod platform;
pub(crate) mod poll;
pub(crate) mod redact;
pub mod render;
pub(crate) mod service;
pub mod sink;
pub mod store;
pub mod text;

pub use app::run;
pub use config::Config;

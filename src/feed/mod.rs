//! Feeds in: `fetch` brings a feed's bytes (conditional GET, size cap, timeouts), `decode`
//! turns them into UTF-8 text, `parse` into `Article`s (with `rss_items` for what feed-rs
//! does not keep). `isolated` runs a parse where a panic cannot reach the caller. Nothing
//! here touches the store.

pub mod decode;
pub mod fetch;
pub mod parse;
mod rss_items;

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;

pub use fetch::{Fetched, Fetcher, Validators};

/// Why a feed could not be read this time. The feed is retried later with backoff.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("the feed is larger than the limit of {limit} bytes (`[fetch] max_body`)")]
    TooLarge { limit: u64 },
    #[error("no answer within {0:?} (`[fetch] timeout`)")]
    Timeout(std::time::Duration),
    /// `message` is the whole chain of causes in words; `source` keeps the error itself.
    #[error("network error: {message}")]
    Network {
        message: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot read the file {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("not a feed: {0}")]
    Parse(#[source] feed_rs::parser::ParseFeedError),
    /// Reading the feed panicked (a bug in the parser, triggered by this feed's content).
    #[error("the feed crashed the parser: {0}")]
    Crashed(String),
}

/// Runs `parse` on a blocking thread (a large feed does not stall the async runtime) and
/// turns a panic into `FeedError::Crashed`, so no feed can take Herald down.
pub async fn isolated<T, F>(parse: F) -> Result<T, FeedError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, FeedError> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || catch_panic(parse)).await {
        Ok(result) => result,
        Err(e) => Err(FeedError::Crashed(e.to_string())),
    }
}

thread_local! {
    /// Whether this thread is inside `catch_panic`, and where its last panic happened.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static PANICKED_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Calls `f`, turning a panic into `FeedError::Crashed` with the panic's message and place.
///
/// The first call installs a panic hook that stays silent for panics caught here (their
/// message becomes the feed's error, logged once by the poller) and hands every other panic
/// to the hook that was there before.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T, FeedError>) -> Result<T, FeedError> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}", short_path(l.file()), l.line()));
                PANICKED_AT.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
    let outer = CATCHING.replace(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Err(FeedError::Crashed(match PANICKED_AT.take() {
            Some(place) => format!("{message} (at {place})"),
            None => message,
        }))
    })
}

/// A dependency's source path from the crate's folder on (`feed-rs-3.0.0/src/…`).
fn short_path(file: &str) -> &str {
    match file.split_once("/registry/src/") {
        Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, path)| path),
        None => file,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_feeds_error_and_other_panics_still_unwind() {
        let err = catch_panic::<()>(|| panic!("boom {}", 42)).unwrap_err();
        let FeedError::Crashed(message) = &err else {
            panic!("{err:?}")
        };
        assert!(
            message.starts_with("boom 42 (at src/feed/mod.rs:"),
            "{message}"
        );
        assert!(
            err.to_string()
                .starts_with("the feed crashed the parser: boom 42")
        );
        assert_eq!(catch_panic(|| Ok(7)).unwrap(), 7);
        assert!(matches!(
            catch_panic::<()>(|| Err(FeedError::Status(500))),
            Err(FeedError::Status(500))
        ));
        // Outside, panics behave as before (here: caught by the standard catch_unwind).
        assert!(std::panic::catch_unwind(|| panic!("not ours")).is_err());
        assert_eq!(
            short_path(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/feed-rs-3.0.0/src/parser/util/mod.rs"
            ),
            "feed-rs-3.0.0/src/parser/util/mod.rs"
        );
    }

    #[tokio::test]
    async fn isolated_parses_survive_panics() {
        let err = isolated::<(), _>(|| panic!("deep inside"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FeedError::Crashed(m) if m.starts_with("deep inside")),
            "{err}"
        );
        assert_eq!(isolated(|| Ok("fine")).await.unwrap(), "fine");
    }
}

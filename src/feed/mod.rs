//! Feeds in: `fetch` brings a feed's bytes (conditional GET, size cap, timeouts), `parse`
//! turns them into `Article`s. Nothing here touches the store.

pub mod fetch;
pub mod parse;

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
    #[error("network error: {0}")]
    Network(String),
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("not a feed: {0}")]
    Parse(String),
}

//! Every key of the store, made and read here only: the chat, feed and article parts
//! joined by NUL, the ordered time of `by_time` and the outbox, and the 8-byte stamps
//! (`feed_items`, `last_sent`). An article id is `<lang>:<post>`; only
//! [`Article`](crate::article::Article) makes and splits it.

use chrono::{DateTime, Utc};

use crate::article::{Platform, Target};

/// The key of the pause that holds every chat.
pub(super) const PAUSE_ALL: &[u8] = b"*";

// ---- times ----

/// Milliseconds since the epoch, offset so that the big-endian bytes sort in time order
/// (also before 1970).
fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_millis() as u64) ^ (1 << 63)).to_be_bytes()
}

/// A moment as a stamp: milliseconds since the epoch, big-endian.
pub(super) fn stamp(millis: i64) -> [u8; 8] {
    millis.to_be_bytes()
}

/// The milliseconds of a stamp; `None` for anything but 8 bytes (an empty value from a
/// store written before the stamps).
pub(super) fn read_stamp(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_be_bytes)
}

/// `by_time`: the article's time, then its id.
pub(super) fn time_key(t: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut key = time_bytes(t).to_vec();
    key.extend_from_slice(id.as_bytes());
    key
}

/// A `by_time` key's time (milliseconds since the epoch) and article id.
pub(super) fn read_time_key(key: &[u8]) -> Option<(i64, &[u8])> {
    let (time, id) = key.split_first_chunk::<8>()?;
    Some(((u64::from_be_bytes(*time) ^ (1 << 63)) as i64, id))
}

// ---- chats ----

/// A chat as the key of its own entries (`chats`, `moved`, `last_sent`, …).
pub(super) fn chat_key(target: &Target) -> Vec<u8> {
    target.to_string().into_bytes()
}

/// A platform's own entry in `last_sent`.
pub(super) fn platform_key(platform: Platform) -> &'static [u8] {
    platform.name().as_bytes()
}

/// The chat a key (or a value of `moved`) names; `None` when it names none.
pub(super) fn read_chat(bytes: &[u8]) -> Option<Target> {
    String::from_utf8_lossy(bytes).parse().ok()
}

/// The start of every key of a chat in `outbox`, `sent` and the set-aside tree.
pub(super) fn chat_prefix(target: &Target) -> Vec<u8> {
    let mut key = chat_key(target);
    key.push(0);
    key
}

/// `outbox` and the set-aside tree: the chat, NUL, the article's time, its id.
pub(super) fn outbox_key(target: &Target, t: DateTime<Utc>, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(&time_bytes(t));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The chat of an outbox (or set-aside) key: the bytes before its NUL.
pub(super) fn outbox_key_chat(key: &[u8]) -> &[u8] {
    let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
    &key[..end]
}

/// The article id in an outbox (or set-aside) key: after the chat, its NUL and the time.
pub(super) fn outbox_key_article(key: &[u8]) -> Option<&[u8]> {
    let nul = key.iter().position(|&b| b == 0)?;
    key.get(nul + 1 + 8..)
}

/// `sent`: the chat, NUL, the article id.
pub(super) fn sent_key(target: &Target, id: &str) -> Vec<u8> {
    let mut key = chat_prefix(target);
    key.extend_from_slice(id.as_bytes());
    key
}

/// `paused`: the chat, or `*` for every chat.
pub(super) fn pause_key(target: Option<&Target>) -> Vec<u8> {
    target.map_or_else(|| PAUSE_ALL.to_vec(), chat_key)
}

// ---- articles ----

/// The start of an article's keys in `posted`: its id, NUL.
pub(super) fn posted_prefix(id: &str) -> Vec<u8> {
    let mut key = id.as_bytes().to_vec();
    key.push(0);
    key
}

/// `posted`: the article id, NUL, the chat.
pub(super) fn posted_key(id: &str, target: &Target) -> Vec<u8> {
    let mut key = posted_prefix(id);
    key.extend_from_slice(&chat_key(target));
    key
}

/// The chat of a `posted` key of the article whose prefix is `prefix_len` bytes long.
pub(super) fn read_posted_chat(key: &[u8], prefix_len: usize) -> Option<Target> {
    read_chat(&key[prefix_len..])
}

// ---- feeds ----

/// `feed_items`: the feed, NUL, the article id; with an empty id, the feed's marker.
pub(super) fn feed_item_key(feed: &str, id: &str) -> Vec<u8> {
    let mut key = feed.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(id.as_bytes());
    key
}

/// A feed's marker in `feed_items`, and the start of all its keys there.
pub(super) fn feed_marker(feed: &str) -> Vec<u8> {
    feed_item_key(feed, "")
}

/// A `feed_items` key's feed and article id (empty for the feed's marker).
pub(super) fn read_feed_item_key(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = key.iter().position(|&b| b == 0)?;
    Some((&key[..nul], &key[nul + 1..]))
}

//! The records the store keeps, each the JSON value of one tree (see `trees.rs`), and
//! their encoding. Field names are the JSON on disk: a field renamed in code keeps its old
//! name with `#[serde(rename)]`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Result, StoreError};
use crate::article::{Lang, LangSet, Target};
use crate::feed::Validators;

/// What Herald remembers about a feed between polls.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FeedState {
    pub validators: Validators,
    pub first_fetch: Option<DateTime<Utc>>,
    /// The last poll that brought a body (not "not modified").
    #[serde(rename = "last_success")]
    pub last_body: Option<DateTime<Utc>>,
    /// The publication (or update) time of the newest dated item ever read from the feed.
    #[serde(default)]
    pub newest: Option<DateTime<Utc>>,
}

/// A feed's polls as operators see them; kept apart from `FeedState`, whose presence
/// means "polled successfully before" (see the module doc on upgrades).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollRecord {
    /// The last poll that worked (a new body or "not modified").
    #[serde(rename = "last_ok")]
    pub last_success: Option<DateTime<Utc>>,
    /// The last poll that failed, and why.
    pub last_error: Option<Failure>,
    /// When the next poll is due.
    pub next_poll: Option<DateTime<Utc>>,
}

/// Something that failed, when, and why (the error with its causes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// A chat's own settings, made by its users' commands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatSettings {
    pub langs: LangSet,
    /// Receives every new article in its languages.
    pub subscribed: bool,
    /// The language of the bot's own words in this chat, when known.
    pub ui_lang: Option<Lang>,
    pub since: DateTime<Utc>,
}

/// A channel an operator added from chat: it takes new articles like a channel of the
/// configuration file, and can be removed from chat again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddedChannel {
    pub langs: LangSet,
    /// Only these feeds (their keys); all when absent.
    pub feeds: Option<Vec<String>>,
    /// When an operator added it.
    pub at: DateTime<Utc>,
}

/// Posting stopped by an operator; polling goes on and posts wait in the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pause {
    /// When an operator paused it.
    pub at: DateTime<Utc>,
}

/// A post waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueuedPost {
    pub article: String,
    pub enqueued: DateTime<Utc>,
    /// An edit of the message that already carried the article, to its current text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edit: bool,
}

/// A message Herald posted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SentRecord {
    /// The platform's id of the message (Telegram message id, Matrix event id).
    pub message: String,
    pub at: DateTime<Utc>,
    /// The article's revision the message shows now (absent in records from before edits).
    #[serde(default)]
    pub revision: Option<String>,
}

/// A post set aside: it can never be sent (the chat refused it), so it is kept apart with
/// the reason. The fields are in the order of their names, as the JSON on disk has them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetAsideRecord {
    pub article: String,
    pub at: DateTime<Utc>,
    pub reason: String,
    /// The chat, as text (`telegram:-100…`).
    pub target: String,
}

impl SetAsideRecord {
    pub(super) fn new(target: &Target, article: &str, reason: &str, at: DateTime<Utc>) -> Self {
        SetAsideRecord {
            article: article.to_string(),
            at,
            reason: reason.to_string(),
            target: target.to_string(),
        }
    }
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

pub(super) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

pub(super) fn get_json<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
    tree.get(key)?.map(|v| from_json(&v)).transpose()
}

/// [`to_json`] inside a transaction, whose closure fails with its own error type.
pub(super) fn to_json_in<T: Serialize>(
    value: &T,
) -> std::result::Result<Vec<u8>, sled::transaction::ConflictableTransactionError<StoreError>> {
    to_json(value).map_err(sled::transaction::ConflictableTransactionError::Abort)
}

/// [`from_json`] inside a transaction.
pub(super) fn from_json_in<T: DeserializeOwned>(
    bytes: &[u8],
) -> std::result::Result<T, sled::transaction::ConflictableTransactionError<StoreError>> {
    from_json(bytes).map_err(sled::transaction::ConflictableTransactionError::Abort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_set_aside_record_is_the_json_the_untyped_record_was() {
        let at =
            Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::milliseconds(89);
        let target: Target = "telegram:-1001".parse().unwrap();
        let old = serde_json::to_vec(&serde_json::json!({
            "target": target.to_string(),
            "article": "en:https://example.org/?p=1",
            "reason": "too long",
            "at": at,
        }))
        .unwrap();
        let typed = SetAsideRecord::new(&target, "en:https://example.org/?p=1", "too long", at);
        assert_eq!(to_json(&typed).unwrap(), old);
        assert_eq!(from_json::<SetAsideRecord>(&old).unwrap(), typed);
    }

    #[test]
    fn renamed_fields_read_and_write_the_old_names() {
        let old = br#"{"validators":{"etag":null,"last_modified":null},"first_fetch":null,"last_success":"2025-01-02T03:04:05Z","newest":null}"#;
        let state: FeedState = from_json(old).unwrap();
        let at = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(state.last_body, Some(at));
        assert!(
            String::from_utf8(to_json(&state).unwrap())
                .unwrap()
                .contains(r#""last_success":"2025-01-02T03:04:05Z""#)
        );

        let old = br#"{"last_ok":"2025-01-02T03:04:05Z","last_error":null,"next_poll":null}"#;
        let record: PollRecord = from_json(old).unwrap();
        assert_eq!(record.last_success, Some(at));
        assert_eq!(to_json(&record).unwrap(), old.to_vec());
    }
}

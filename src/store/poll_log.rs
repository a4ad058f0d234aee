//! What operators see of the polls and the sends: each feed's last success, last error and
//! next poll, how many articles it listed, and each chat's last failed send.

use chrono::{DateTime, Utc};

use super::keys::{chat_key, feed_marker};
use super::records::{get_json, to_json};
use super::{Failure, PollRecord, Result, Store};
use crate::article::Target;

impl Store {
    /// Notes a poll of `feed`: `error` when it failed (the last success stays), and when
    /// the next poll is due. Durable with the next flush.
    pub fn note_poll(
        &self,
        feed: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
        next_poll: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.writable_at("note_poll")?;
        let written = (|| {
            let t = self.t()?;
            let mut record = self.poll_record(feed)?;
            match error {
                Some(reason) => {
                    record.last_error = Some(Failure {
                        at,
                        reason: reason.to_string(),
                    })
                }
                None => record.last_success = Some(at),
            }
            record.next_poll = next_poll;
            t.feed_polls.insert(feed.as_bytes(), to_json(&record)?)?;
            Ok(())
        })();
        self.wrote(written)
    }

    /// A feed's polls so far (empty before its first).
    pub fn poll_record(&self, feed: &str) -> Result<PollRecord> {
        let t = self.t()?;
        Ok(get_json(&t.feed_polls, feed.as_bytes())?.unwrap_or_default())
    }

    /// How many articles `feed` has listed since Herald first read it.
    pub fn feed_article_count(&self, feed: &str) -> usize {
        let Ok(t) = self.t() else { return 0 };
        // The prefix also holds the marker `feed NUL` itself.
        t.feed_items
            .scan_prefix(feed_marker(feed))
            .keys()
            .count()
            .saturating_sub(1)
    }

    /// Notes that a send to `target` failed, and why; a send that works removes it.
    /// Durable with the next flush.
    pub fn note_send_failure(&self, target: &Target, reason: &str) -> Result<()> {
        self.writable_at("note_send_failure")?;
        let written = (|| {
            let t = self.t()?;
            let failure = Failure {
                at: Utc::now(),
                reason: reason.to_string(),
            };
            t.send_failures
                .insert(chat_key(target), to_json(&failure)?)?;
            Ok(())
        })();
        self.wrote(written)
    }

    /// The last failed send to `target`, unless a send worked since.
    pub fn send_failure(&self, target: &Target) -> Result<Option<Failure>> {
        let t = self.t()?;
        get_json(&t.send_failures, &chat_key(target))
    }
}

//! The outbox and what came of it: each chat's queue, read head first; a post sent (moved
//! to `sent`, with the message id, and noted in `posted` and `last_sent`), an edit made,
//! or a post set aside for good; and where an article stands for a chat.

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, Transactional};

use super::keys::{
    chat_key, chat_prefix, outbox_key, outbox_key_chat, platform_key, posted_key, read_chat,
    read_stamp, sent_key, stamp,
};
use super::records::{from_json, from_json_in, get_json, to_json, to_json_in};
use super::{Counts, QueuedPost, Result, SentRecord, SetAsideRecord, Store, StoreError};
use crate::article::{Article, Platform, Target};

/// The outbox entry at the head of a chat's queue.
#[derive(Clone, Debug)]
pub struct QueueHead {
    pub(super) key: Vec<u8>,
    pub target: Target,
    pub delivery: QueuedPost,
}

/// Where an article stands for one chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Sent,
    Queued,
    SetAside,
}

impl Store {
    /// Chats with deliveries waiting.
    #[cfg(test)]
    pub fn pending_targets(&self) -> Result<Vec<Target>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.pending_targets_after(after.as_ref(), 1024)?;
            let Some(last) = page.last().cloned() else {
                return Ok(out);
            };
            out.extend(page);
            after = Some(last);
        }
    }

    /// Up to `limit` chats with deliveries waiting, in the outbox's order, starting after
    /// `after` (from the first with `None`): a fan-out to many chats is read a page at a
    /// time.
    pub fn pending_targets_after(
        &self,
        after: Option<&Target>,
        limit: usize,
    ) -> Result<Vec<Target>> {
        let t = self.t()?;
        let mut out = Vec::new();
        // Just after every key of a chat: its name, then a byte above NUL.
        let past = |chat: &[u8]| {
            let mut key = chat.to_vec();
            key.push(1);
            key
        };
        let mut from: Vec<u8> = match after {
            Some(target) => past(&chat_key(target)),
            None => Vec::new(),
        };
        while out.len() < limit {
            let Some(entry) = t.outbox.range(from.clone()..).next() else {
                break;
            };
            let (key, _) = entry?;
            let chat = outbox_key_chat(&key);
            if let Some(target) = read_chat(chat) {
                out.push(target);
            }
            from = past(chat);
        }
        Ok(out)
    }

    /// Deliveries waiting (a counter, not a scan).
    pub fn outbox_len(&self) -> usize {
        Counts::get(&self.counts.outbox)
    }

    /// The oldest waiting delivery for a chat.
    pub fn next_for(&self, target: &Target) -> Result<Option<QueueHead>> {
        let t = self.t()?;
        match t.outbox.scan_prefix(chat_prefix(target)).next() {
            Some(entry) => {
                let (key, value) = entry?;
                Ok(Some(QueueHead {
                    key: key.to_vec(),
                    target: target.clone(),
                    delivery: from_json(&value)?,
                }))
            }
            None => Ok(None),
        }
    }

    pub fn was_sent(&self, target: &Target, article: &str) -> Result<Option<SentRecord>> {
        let t = self.t()?;
        get_json(&t.sent, &sent_key(target, article))
    }

    /// When Herald last posted to `target`, by any process.
    pub fn last_sent_to(&self, target: &Target) -> Result<Option<DateTime<Utc>>> {
        self.last_sent_at(&chat_key(target))
    }

    /// When Herald last posted anything on `platform`, by any process.
    pub fn last_sent_on(&self, platform: Platform) -> Result<Option<DateTime<Utc>>> {
        self.last_sent_at(platform_key(platform))
    }

    fn last_sent_at(&self, key: &[u8]) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .t()?
            .last_sent
            .get(key)?
            .and_then(|v| read_stamp(&v))
            .and_then(DateTime::from_timestamp_millis))
    }

    /// Moves a delivery from the outbox to `sent` with the message id and the article's
    /// `revision` it shows, durably, and notes the time of the send for the chat and its
    /// platform.
    pub async fn mark_sent(
        &self,
        pending: &QueueHead,
        message: &str,
        revision: Option<&str>,
    ) -> Result<()> {
        self.writable_at("mark_sent")?;
        let written = async {
            let t = self.t()?;
            let now = Utc::now();
            let record = to_json(&SentRecord {
                message: message.to_string(),
                at: now,
                revision: revision.map(str::to_owned),
            })?;
            let key = sent_key(&pending.target, &pending.delivery.article);
            let posted = posted_key(&pending.delivery.article, &pending.target);
            let removed =
                (&t.outbox, &t.sent, &t.posted).transaction(|(outbox, sent, posted_t)| {
                    let removed = outbox.remove(pending.key.as_slice())?.is_some();
                    sent.insert(key.as_slice(), record.as_slice())?;
                    posted_t.insert(posted.as_slice(), &[][..])?;
                    Ok::<_, ConflictableTransactionError<StoreError>>(removed)
                })?;
            Counts::add(&self.counts.outbox, -i64::from(removed));
            // Outside the transaction: every send writes the platform's key, and concurrent
            // transactions on one key would only conflict and retry.
            let millis = stamp(now.timestamp_millis());
            t.last_sent.insert(chat_key(&pending.target), &millis[..])?;
            t.last_sent
                .insert(platform_key(pending.target.platform), &millis[..])?;
            t.send_failures.remove(chat_key(&pending.target))?;
            self.flush().await
        }
        .await;
        self.wrote(written)
    }

    /// Ends a queued edit: the message shows `revision` now (`None`: the edit was not made,
    /// the message stays as it is). Durable on return.
    pub async fn finish_edit(&self, pending: &QueueHead, revision: Option<&str>) -> Result<()> {
        self.writable_at("finish_edit")?;
        let written = async {
            let t = self.t()?;
            let key = sent_key(&pending.target, &pending.delivery.article);
            let removed = (&t.outbox, &t.sent).transaction(|(outbox, sent)| {
                let removed = outbox.remove(pending.key.as_slice())?.is_some();
                if let (Some(revision), Some(bytes)) = (revision, sent.get(&key)?) {
                    let mut record: SentRecord = from_json_in(&bytes)?;
                    record.revision = Some(revision.to_owned());
                    sent.insert(key.as_slice(), to_json_in(&record)?)?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(removed)
            })?;
            Counts::add(&self.counts.outbox, -i64::from(removed));
            self.flush().await
        }
        .await;
        self.wrote(written)
    }

    /// Sets aside a delivery that can never succeed, keeping it apart with the reason.
    pub async fn set_aside(&self, pending: &QueueHead, reason: &str) -> Result<()> {
        self.writable_at("set_aside")?;
        let written = async {
            let t = self.t()?;
            let record = SetAsideRecord::new(
                &pending.target,
                &pending.delivery.article,
                reason,
                Utc::now(),
            );
            let record = to_json(&record)?;
            let (removed, added) =
                (&t.outbox, &t.set_aside).transaction(|(outbox, set_aside)| {
                    let removed = outbox.remove(pending.key.as_slice())?.is_some();
                    let added = set_aside
                        .insert(pending.key.as_slice(), record.as_slice())?
                        .is_none();
                    Ok::<_, ConflictableTransactionError<StoreError>>((removed, added))
                })?;
            Counts::add(&self.counts.outbox, -i64::from(removed));
            Counts::add(&self.counts.set_aside, i64::from(added));
            self.flush().await
        }
        .await;
        self.wrote(written)
    }

    /// Where `article` stands for `target`: sent, queued (or an edit of it queued), set
    /// aside, or nothing (never meant for that chat).
    pub fn delivery_state(&self, target: &Target, article: &Article) -> Result<Option<Standing>> {
        let t = self.t()?;
        let key = outbox_key(target, article.time(), &article.id);
        Ok(if t.outbox.contains_key(&key)? {
            Some(Standing::Queued)
        } else if t.sent.contains_key(sent_key(target, &article.id))? {
            Some(Standing::Sent)
        } else if t.set_aside.contains_key(&key)? {
            Some(Standing::SetAside)
        } else {
            None
        })
    }

    /// Whether the queue entry is still waiting (not dropped since it was read).
    pub fn still_queued(&self, pending: &QueueHead) -> Result<bool> {
        Ok(self.t()?.outbox.contains_key(&pending.key)?)
    }

    /// Deliveries waiting for one chat.
    pub fn queued_for(&self, target: &Target) -> usize {
        self.t()
            .map_or(0, |t| t.outbox.scan_prefix(chat_prefix(target)).count())
    }

    /// Deliveries set aside (a counter, not a scan). Operators see it as the metric
    /// `herald_undeliverable_posts` and the status field `undeliverable_posts`, names that
    /// stay as they are for the dashboards that read them.
    pub fn set_aside_count(&self) -> usize {
        Counts::get(&self.counts.set_aside)
    }
}

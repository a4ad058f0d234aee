//! Handling chat updates concurrently but in order per chat, as teloxide's dispatcher does:
//! each chat (any key) gets a queue and a worker task that handles its updates one after
//! another, while different chats are handled side by side. A semaphore bounds how many
//! updates are being handled at once across all chats, so a flood of chats cannot start an
//! unbounded number of tasks, and one slow chat (a slow `getChatMember`, say) holds up only
//! its own queue. A worker that has been idle for a while ends; the next update for its chat
//! starts a new one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::BoxFuture;

/// How long a chat's worker waits for more updates before it ends.
const IDLE: Duration = Duration::from_secs(30);
/// Above this many queues, the ended ones are forgotten on the next dispatch.
const PRUNE_ABOVE: usize = 256;

type Handler<T> = Arc<dyn Fn(T) -> BoxFuture<'static, ()> + Send + Sync>;

pub struct Dispatcher<K, T> {
    handler: Handler<T>,
    limit: Arc<Semaphore>,
    inner: Mutex<Inner<K, T>>,
}

struct Inner<K, T> {
    queues: HashMap<K, mpsc::UnboundedSender<T>>,
    workers: JoinSet<()>,
}

impl<K, T> Dispatcher<K, T>
where
    K: Eq + Hash + Clone + Send + 'static,
    T: Send + 'static,
{
    /// Handles updates with `handler`, at most `concurrency` at once.
    pub fn new(
        concurrency: usize,
        handler: impl Fn(T) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Dispatcher<K, T> {
        Dispatcher {
            handler: Arc::new(handler),
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            inner: Mutex::new(Inner {
                queues: HashMap::new(),
                workers: JoinSet::new(),
            }),
        }
    }

    /// Queues `update` behind the earlier updates of chat `key`.
    pub fn dispatch(&self, key: K, update: T) {
        let mut inner = self.inner.lock().expect("dispatcher lock");
        while inner.workers.try_join_next().is_some() {}
        if inner.queues.len() > PRUNE_ABOVE {
            inner.queues.retain(|_, queue| !queue.is_closed());
        }
        let update = match inner.queues.get(&key) {
            Some(queue) => match queue.send(update) {
                Ok(()) => return,
                // Its worker ended while idle: start another.
                Err(mpsc::error::SendError(update)) => update,
            },
            None => update,
        };
        let (queue, updates) = mpsc::unbounded_channel();
        queue.send(update).expect("the receiver is alive");
        inner.queues.insert(key, queue);
        let (handler, limit) = (self.handler.clone(), self.limit.clone());
        inner.workers.spawn(work(updates, handler, limit));
    }

    /// Waits up to `grace` for the updates already queued to be handled.
    pub async fn finish(&self, grace: Duration) {
        let mut workers = {
            let mut inner = self.inner.lock().expect("dispatcher lock");
            inner.queues.clear();
            std::mem::take(&mut inner.workers)
        };
        let all = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("some commands were still being answered at shutdown");
        }
    }
}

/// One chat's worker: its updates one at a time, each under a permit of the shared limit.
async fn work<T>(
    mut updates: mpsc::UnboundedReceiver<T>,
    handler: Handler<T>,
    limit: Arc<Semaphore>,
) {
    loop {
        let update = match tokio::time::timeout(IDLE, updates.recv()).await {
            Ok(Some(update)) => update,
            Ok(None) => return,
            Err(_) => {
                // Idle: refuse new updates, then handle what slipped in before that.
                updates.close();
                match updates.try_recv() {
                    Ok(update) => update,
                    Err(_) => return,
                }
            }
        };
        let Ok(_permit) = limit.acquire().await else {
            return;
        };
        handler(update).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records (chat, n) as handled; chat 1's updates are slow.
    fn recorder(
        log: Arc<Mutex<Vec<(u32, u32)>>>,
        running: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    ) -> impl Fn((u32, u32)) -> BoxFuture<'static, ()> + Send + Sync + 'static {
        move |(chat, n)| {
            let (log, running, peak) = (log.clone(), running.clone(), peak.clone());
            Box::pin(async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let pause = if chat == 1 { 50 } else { 1 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                log.lock().unwrap().push((chat, n));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn chats_keep_their_order_and_a_slow_chat_holds_up_no_other() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let dispatcher = Dispatcher::new(4, recorder(log.clone(), running, peak.clone()));
        for n in 0..5 {
            dispatcher.dispatch(1, (1, n));
            dispatcher.dispatch(2, (2, n));
        }
        dispatcher.finish(Duration::from_secs(60)).await;
        let log = log.lock().unwrap().clone();
        let of = |chat| -> Vec<u32> {
            log.iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, n)| *n)
                .collect()
        };
        assert_eq!(of(1), [0, 1, 2, 3, 4]);
        assert_eq!(of(2), [0, 1, 2, 3, 4]);
        // The fast chat was done before the slow chat's second update.
        let last_fast = log.iter().position(|e| *e == (2, 4)).unwrap();
        let second_slow = log.iter().position(|e| *e == (1, 1)).unwrap();
        assert!(last_fast < second_slow, "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_number_of_updates_handled_at_once_is_bounded() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let dispatcher = Dispatcher::new(3, recorder(log.clone(), running, peak.clone()));
        for chat in 10..40 {
            dispatcher.dispatch(chat, (chat, 0));
        }
        dispatcher.finish(Duration::from_secs(60)).await;
        assert_eq!(log.lock().unwrap().len(), 30);
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_idle_long_enough_gets_a_new_worker() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (running, peak) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let dispatcher = Dispatcher::new(2, recorder(log.clone(), running, peak));
        dispatcher.dispatch(5, (5, 0));
        tokio::time::sleep(IDLE * 2).await;
        dispatcher.dispatch(5, (5, 1));
        dispatcher.finish(Duration::from_secs(60)).await;
        assert_eq!(*log.lock().unwrap(), [(5, 0), (5, 1)]);
    }
}

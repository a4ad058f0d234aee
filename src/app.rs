//! Wiring: opens the store, starts the platforms, and runs the poll loop and the delivery
//! loop until shutdown. Shutdown is a parameter (a `CancellationToken`), so tests and the
//! binary stop the bot the same way. Also the one-shot jobs behind `herald poll --once`
//! and `herald latest`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::article::{Article, LangSet};
use crate::config::Config;
use crate::delivery::Delivery;
use crate::ops::{self, Metrics};
use crate::platform::{self, Sink};
use crate::poll::{FeedOutcome, PollError, Poller};
use crate::store::Store;

/// What the platform adapters share with the core.
pub struct Core {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

/// How long `poll --once` keeps delivering while chats ask it to wait (rate limits).
const ONCE_PATIENCE: Duration = Duration::from_secs(120);
/// How long shutdown waits for platform listeners to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn open(config: Config) -> anyhow::Result<Arc<Core>> {
    let store = Store::open(&config.bot.data_dir)?;
    Ok(Arc::new(Core {
        config: Arc::new(config),
        store,
        metrics: Arc::default(),
    }))
}

/// Runs the bot until `shutdown` is cancelled: polls every `poll_interval`, delivers as
/// soon as something is queued, answers commands on every configured platform.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let core = open(config)?;
    let config = core.config.clone();
    let ops_task = match &config.ops.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on `[ops] listen = \"{addr}\"`"))?;
            tracing::info!(%addr, "serving /healthz and /metrics");
            Some(tokio::spawn(ops::serve(
                listener,
                core.clone(),
                shutdown.clone(),
            )))
        }
        None => None,
    };
    let started = platform::start_all(&core, true, &shutdown).await;
    let sinks: Vec<Arc<dyn Sink>> = started.iter().map(|s| s.sink.clone()).collect();
    let names: Vec<String> = sinks.iter().map(|s| s.platform().to_string()).collect();
    tracing::info!(
        feeds = config.feeds.len(),
        channels = config.channels.len(),
        platforms = %names.join(", "),
        poll_interval = ?config.bot.poll_interval,
        "Herald is running"
    );
    let delivery = Delivery::new(
        config.clone(),
        core.store.clone(),
        core.metrics.clone(),
        sinks,
    );
    let delivery_task = tokio::spawn(delivery.clone().run(shutdown.clone()));
    // Each feed polls on its own schedule, so a slow or broken feed never holds up another.
    let poller = Arc::new(Poller::new(&config)?);
    let mut feed_tasks = tokio::task::JoinSet::new();
    for index in 0..config.feeds.len() {
        let (poller, core, delivery) = (poller.clone(), core.clone(), delivery.clone());
        let shutdown = shutdown.clone();
        feed_tasks.spawn(async move {
            let config = &core.config;
            let feed = &config.feeds[index];
            loop {
                let result = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    result = poller.poll_feed(config, &core.store, feed, false) => result,
                };
                let results = [(feed.key().to_string(), result)];
                count_polls(&core.metrics, &results);
                if matches!(&results[0].1, Ok(FeedOutcome::Updated { queued, .. }) if *queued > 0) {
                    delivery.wake();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(config.bot.poll_interval) => {}
                }
            }
        });
    }
    shutdown.cancelled().await;
    feed_tasks.join_all().await;

    tracing::info!("stopping: finishing the send in progress");
    if let Err(e) = delivery_task.await {
        tracing::error!(error = %e, "the delivery loop failed");
    }
    for s in started {
        if let Some(task) = s.task
            && tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err()
        {
            tracing::warn!("a platform listener did not stop in time");
        }
    }
    if let Some(task) = ops_task {
        let _ = task.await;
    }
    core.store.flush().await?;
    tracing::info!(
        queued = core.store.outbox_len(),
        "stopped; undelivered posts stay queued for the next start"
    );
    Ok(())
}

/// One cycle: fetch every feed, store, deliver everything due. Returns whether every feed
/// was read; the feeds that worked are processed even when another failed.
pub async fn poll_once(config: Config, shutdown: CancellationToken) -> anyhow::Result<bool> {
    let core = open(config)?;
    let config = core.config.clone();
    let started = platform::start_all(&core, false, &shutdown).await;
    let sinks = started.iter().map(|s| s.sink.clone()).collect();
    let poller = Poller::new(&config)?;
    let results = poller.poll_all(&config, &core.store, true).await;
    count_polls(&core.metrics, &results);
    let mut ok = true;
    for (feed, result) in &results {
        match result {
            Ok(outcome) => tracing::info!(feed = %feed, ?outcome, "polled"),
            Err(e) => {
                ok = false;
                tracing::error!(feed = %feed, error = %e, "feed failed");
            }
        }
    }
    let delivery = Delivery::new(
        config.clone(),
        core.store.clone(),
        core.metrics.clone(),
        sinks,
    );
    let (sent, empty) = delivery.drain_patiently(ONCE_PATIENCE, &shutdown).await;
    if !empty {
        tracing::warn!(
            queued = core.store.outbox_len(),
            "some posts could not be delivered yet; they stay queued"
        );
    }
    tracing::info!(sent, "poll finished");
    core.store.flush().await?;
    Ok(ok)
}

fn count_polls(metrics: &Metrics, results: &[(String, Result<FeedOutcome, PollError>)]) {
    for (feed, result) in results {
        match result {
            Ok(FeedOutcome::Waiting) => {}
            Ok(FeedOutcome::NotModified) => metrics.count_poll(feed, "not_modified", None),
            Ok(FeedOutcome::Updated { .. }) => metrics.count_poll(feed, "updated", None),
            Err(e) => metrics.count_poll(feed, "error", Some(e.to_string())),
        }
    }
}

/// The newest stored articles, for `herald latest`.
pub fn latest(config: Config, n: usize, langs: &LangSet) -> anyhow::Result<Vec<Article>> {
    let store = Store::open(&config.bot.data_dir)?;
    store.latest(langs, n).context("reading the store")
}

//! Wiring, and only wiring: opens the store, builds the shared parts (metrics, the command
//! service, the delivery loop, the poller), hands each adapter what it needs and runs them
//! until shutdown. Nothing else in the crate imports this module. Shutdown is a parameter
//! (a `CancellationToken`), so tests and the binary stop the bot the same way. Also the
//! one-shot jobs behind `herald poll --once`, `herald latest`, `herald backup` and
//! `herald restore`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::article::{Article, LangSet};
use crate::backup;
use crate::check::Check;
use crate::commands::Control;
use crate::config::Config;
use crate::delivery::Delivery;
use crate::ops;
use crate::ops::metrics::Metrics;
use crate::ops::status::Watch;
use crate::platform::{self, Sink};
use crate::poll::report::{self, By};
use crate::poll::{Poller, schedule};
use crate::service::CommandService;
use crate::store::Store;

/// What `open` builds, which every job shares.
struct Opened {
    config: Arc<Config>,
    store: Store,
    metrics: Arc<Metrics>,
    service: Arc<CommandService>,
    /// What `/status` and the status page read.
    watch: Watch,
}

/// How long `poll --once` keeps delivering while chats ask it to wait (rate limits).
const ONCE_PATIENCE: Duration = Duration::from_secs(120);
/// How long shutdown waits for platform listeners to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Opens the store and builds what every job runs on.
fn open(config: Config) -> anyhow::Result<Opened> {
    let store = Store::open(&config.bot.data_dir)?;
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let watch = Watch {
        config: config.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        // Empty until `run` has started the platforms (see there); a one-shot job leaves it so.
        platforms: Default::default(),
        started: std::time::SystemTime::now(),
    };
    let service = Arc::new(CommandService::new(
        config.clone(),
        store.clone(),
        metrics.clone(),
        watch.clone(),
    ));
    Ok(Opened {
        config,
        store,
        metrics,
        service,
        watch,
    })
}

/// Runs the bot until `shutdown` is cancelled: polls every `poll_interval`, delivers as
/// soon as something is queued, answers commands on every configured platform.
///
/// Starts, in this order: the operators' endpoint (it answers while the rest starts), the
/// poller (loading the language models takes a moment), the platforms (each answering
/// commands as soon as it runs), the delivery and the forgetting of old records, the
/// operators' commands, then one poll loop per feed. At shutdown it joins the feeds'
/// loops, the forgetting, the delivery (finishing the send in progress), the platform
/// listeners (each given `SHUTDOWN_GRACE`) and the endpoint, and flushes the store.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let parts = open(config)?;
    let config = parts.config.clone();
    let ops_task = match config.ops.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on `[ops] listen = \"{addr}\"`"))?;
            tracing::info!(%addr, "serving the status page (/), /healthz and /metrics");
            let view = parts.watch.clone();
            Some(tokio::spawn(ops::serve(listener, view, shutdown.clone())))
        }
        None => None,
    };
    // Built before the platforms start (loading the language models takes a moment), so
    // the operators' `/poll` works from the first command on.
    let poller = Arc::new(Poller::new(&config)?);
    let started = platform::start_all(&parts.service, true, &shutdown).await;
    let sinks: Vec<Arc<dyn Sink>> = started.iter().map(|s| s.sink.clone()).collect();
    // The endpoint above already serves, but the platforms' sinks exist only now: from here
    // on the status page and `/status` also list the chats they cannot post to yet (a room
    // still being joined); before, those lists are empty.
    let _ = parts.watch.platforms.set(sinks.clone());
    let names: Vec<String> = sinks.iter().map(|s| s.platform().to_string()).collect();
    // Channels added from chat (`/addchannel`) count as much as the configuration's.
    let channels =
        crate::channels::all(&config, &parts.store).map_or(config.channels.len(), |c| c.len());
    tracing::info!(
        feeds = config.feeds.len(),
        channels,
        platforms = %names.join(", "),
        poll_interval = ?config.bot.poll_interval,
        "Herald is running"
    );
    let delivery = Delivery::new(
        config.clone(),
        parts.store.clone(),
        parts.metrics.clone(),
        sinks.clone(),
    );
    let delivery_task = tokio::spawn(delivery.clone().run(shutdown.clone()));
    let forget_task = tokio::spawn(forget_old(
        config.clone(),
        parts.store.clone(),
        shutdown.clone(),
    ));
    // The platforms answer commands through the service since they started, but what the
    // operators' commands act on needs the started platforms (to check a chat) and the
    // delivery (to wake it), so it is attached only now: until here `/poll` and
    // `/addchannel` answer that the bot is still starting.
    parts.service.attach(control(
        &config,
        &parts.store,
        &parts.metrics,
        &poller,
        &delivery,
        sinks,
    ));
    let mut feed_tasks = schedule::spawn_feeds(
        &poller,
        &config,
        &parts.store,
        &parts.metrics,
        &delivery,
        &shutdown,
    );

    shutdown.cancelled().await;
    while let Some(joined) = feed_tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "a feed's poll loop failed");
        }
    }
    if let Err(e) = forget_task.await {
        tracing::error!(error = %e, "forgetting old records failed");
    }
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
    parts.store.flush().await?;
    tracing::info!(
        queued = parts.store.outbox_len(),
        "stopped; undelivered posts stay queued for the next start"
    );
    Ok(())
}

/// How often the store is cleaned of what `[bot] retention` lets go: a quarter of it,
/// at most every 6 hours (the first pass a minute after start, or sooner).
const FORGET_AT_MOST_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Forgets, until `shutdown`, what the store no longer needs (see `Store::forget`).
async fn forget_old(config: Arc<Config>, store: Store, shutdown: CancellationToken) {
    let keep = config.retention();
    let every = (keep / 4).clamp(Duration::from_secs(1), FORGET_AT_MOST_EVERY);
    let feeds: Vec<String> = config.feeds.iter().map(|f| f.key().to_string()).collect();
    let mut wait = every.min(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
        match store.forget(chrono::Utc::now(), keep, &feeds).await {
            Ok(done) if done.is_empty() => {}
            Ok(done) => tracing::info!(
                articles = done.articles,
                feed_items = done.feed_items,
                feeds = done.feeds,
                retention = %humantime::format_duration(keep),
                "forgot articles no feed lists any more and older than the retention, feeds' records of items they stopped listing, and feeds no longer configured"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "forgetting old records failed; trying again at the next pass")
            }
        }
    }
}

/// One cycle: fetch every feed, store, deliver everything due. Returns whether every feed
/// was read; the feeds that worked are processed even when another failed.
pub async fn poll_once(config: Config, shutdown: CancellationToken) -> anyhow::Result<bool> {
    let parts = open(config)?;
    let config = parts.config.clone();
    let started = platform::start_all(&parts.service, false, &shutdown).await;
    let sinks = started.iter().map(|s| s.sink.clone()).collect();
    let poller = Poller::new(&config)?;
    let results = poller.poll_all(&config, &parts.store, true).await;
    report::all(&config, &parts.metrics, &results, By::Once);
    let all_read = results.iter().all(|(_, result)| result.is_ok());
    let delivery = Delivery::new(
        config.clone(),
        parts.store.clone(),
        parts.metrics.clone(),
        sinks,
    );
    let (sent, empty) = delivery.drain_patiently(ONCE_PATIENCE, &shutdown).await;
    report::once_finished(&config, &parts.store, &results, sent, empty);
    parts.store.flush().await?;
    Ok(all_read)
}

/// What the operators' commands act on: `/poll` reads every feed now (counted and logged
/// like any poll) and wakes the delivery; `/addchannel` checks a
/// chat through the running platforms.
fn control(
    config: &Arc<Config>,
    store: &Store,
    metrics: &Arc<Metrics>,
    poller: &Arc<Poller>,
    delivery: &Arc<Delivery>,
    sinks: Vec<Arc<dyn Sink>>,
) -> Control {
    let (config, store, metrics, poller) = (
        config.clone(),
        store.clone(),
        metrics.clone(),
        poller.clone(),
    );
    let woken = delivery.clone();
    Control {
        poll: Box::new(move || {
            let (config, store, metrics, poller, delivery) = (
                config.clone(),
                store.clone(),
                metrics.clone(),
                poller.clone(),
                woken.clone(),
            );
            Box::pin(async move {
                let results = poller.poll_all(&config, &store, true).await;
                report::all(&config, &metrics, &results, By::Operator);
                delivery.wake();
                results
                    .into_iter()
                    .map(|(key, result)| report::for_operator(&config, key, result))
                    .collect()
            })
        }),
        sinks,
    }
}

/// The log filter when neither `HERALD_LOG` nor `RUST_LOG` is set: Herald at INFO, the
/// libraries only when something is wrong (each platform says which of its SDK's messages
/// to keep out).
pub fn default_log_filter() -> String {
    match platform::LOG_DIRECTIVES {
        "" => "info,sled=warn".to_string(),
        sdks => format!("info,sled=warn,{sdks}"),
    }
}

/// The newest stored articles, for `herald latest`.
pub fn latest(config: Config, n: usize, langs: &LangSet) -> anyhow::Result<Vec<Article>> {
    let store = Store::open(&config.bot.data_dir)?;
    store.latest(langs, n).context("reading the store")
}

/// `herald backup PATH`: the whole store in one file (refused while a bot holds the store).
pub fn backup(config: &Config, path: &Path) -> anyhow::Result<backup::Summary> {
    backup::backup(&config.bot.data_dir, path)
}

/// `herald restore PATH`: a backup into the empty `data_dir`.
pub fn restore(config: &Config, path: &Path) -> anyhow::Result<backup::Summary> {
    backup::restore(&config.bot.data_dir, path)
}

/// `herald check --online`: reads every feed (counting its items) and reaches every
/// platform the config uses, all side by side; one result per feed, platform and channel.
pub async fn check_online(config: &Config) -> anyhow::Result<Vec<Check>> {
    let fetcher = crate::feed::Fetcher::new(&config.fetch)?;
    let feeds = futures::future::join_all(config.feeds.iter().map(|feed| {
        let fetcher = &fetcher;
        async move {
            let subject = format!("feed {}", feed.label());
            match Poller::check_feed(fetcher, feed).await {
                Ok(1) => Check::ok(subject, "1 item"),
                Ok(n) => Check::ok(subject, format!("{n} items")),
                Err(e) => Check::failed(subject, e.to_string()),
            }
        }
    }));
    let (mut checks, platforms) = futures::join!(feeds, platform::check_online(config));
    checks.extend(platforms);
    Ok(checks)
}

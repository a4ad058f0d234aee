//! The `herald` command: parses flags, sets up logging, loads the config and calls the
//! library. The one place errors become exit codes: 0 fine, 1 failed, 2 bad config or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herald::article::LangSet;
use herald::config::{Config, LogFormat};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Carries feed articles into Telegram and Matrix chats."
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "HERALD_CONFIG",
        default_value = "config/herald.toml"
    )]
    config: PathBuf,
    /// How log lines are written: `text` for people, `json` (one object a line) for log
    /// collectors. Overrides `[ops] log_format`.
    #[arg(long, global = true, env = "HERALD_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Option<Action>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Action {
    /// Poll and deliver until stopped with Ctrl-C or SIGTERM (the default).
    Run,
    /// Poll every feed, deliver what is due, and exit (non-zero if a feed failed).
    Poll {
        /// One cycle, then exit (the only mode; without it `poll` runs like `run`).
        #[arg(long)]
        once: bool,
    },
    /// Validate the configuration and exit.
    Check {
        /// Also read every feed and reach every platform: Telegram's getMe and channels,
        /// the Matrix login and rooms. Exits 1 when any of them fails.
        #[arg(long)]
        online: bool,
    },
    /// Copy the whole store (articles, chats, queued posts, sent records, feed state) into
    /// one portable file. Refused while a bot runs on the store; the Matrix device in
    /// `data_dir/matrix` is not included (see the README).
    Backup {
        /// The file to write (replaced atomically if it exists).
        path: PathBuf,
    },
    /// Restore a file made by `herald backup` into the configured `data_dir`, which must be
    /// empty.
    Restore {
        /// The backup file.
        path: PathBuf,
    },
    /// Print the newest stored articles.
    Latest {
        #[arg(short = 'n', default_value_t = 5)]
        n: usize,
        /// Only this language (a code such as `de`).
        #[arg(long)]
        lang: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: bad configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let json = match cli.log_format {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Text) => false,
        None => config.ops.log_format == LogFormat::Json,
    };
    init_logging(json);
    match run(cli.command.unwrap_or(Action::Run), config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Action, config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    match command {
        Action::Check { online } => {
            println!(
                "{}: OK — {} feeds, {} channels",
                config.path.display(),
                config.feeds.len(),
                config.channels.len()
            );
            if !online {
                return Ok(ExitCode::SUCCESS);
            }
            let checks = runtime.block_on(herald::app::check_online(&config))?;
            for check in &checks {
                println!("{check}");
            }
            Ok(if checks.iter().all(|c| c.passed()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Action::Backup { path } => {
            let summary = herald::app::backup(&config, &path)?;
            println!(
                "backed up the store in {} to {}: {summary}",
                config.bot.data_dir.display(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Restore { path } => {
            let summary = herald::app::restore(&config, &path)?;
            println!(
                "restored {} into {}: {summary}",
                path.display(),
                config.bot.data_dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Latest { n, lang } => {
            let langs = match lang {
                Some(code) => match LangSet::parse(&[code]) {
                    Ok(set) => set,
                    Err(e) => {
                        eprintln!("error: --lang: {e}");
                        return Ok(ExitCode::from(2));
                    }
                },
                None => LangSet::All,
            };
            for article in herald::app::latest(config, n, &langs)? {
                let date = article
                    .published
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                println!("{date}  [{}]  {}", article.lang, article.title);
                if let Some(link) = article.link {
                    println!("            {link}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Poll { once: true } => runtime.block_on(async {
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            let all_ok = herald::app::poll_once(config, shutdown).await?;
            Ok(if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }),
        Action::Run | Action::Poll { once: false } => runtime.block_on(async {
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            herald::run(config, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Cancels `shutdown` on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = term.recv() => tracing::info!("terminated"),
    }
    shutdown.cancel();
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let from = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .and_then(|v| EnvFilter::try_new(v).ok())
    };
    let filter = from("HERALD_LOG")
        .or_else(|| from("RUST_LOG"))
        .unwrap_or_else(|| EnvFilter::new(herald::app::default_log_filter()));
    use std::io::IsTerminal;
    let lines = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    if json {
        lines.json().init();
    } else {
        lines.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

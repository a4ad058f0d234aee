//! Runs the real `herald` binary against a config written into a temporary folder: one-shot
//! commands (`poll --once`, `check`, `latest`) and the long-running bot, whose standard
//! output (the console channel) and standard error (logs) are collected as they arrive.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::config::Config;

/// A config file in a temporary folder; the bot's data lives beside it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    env: Vec<(String, String)>,
    /// Leave `HERALD_LOG` unset, so the binary uses its production log filter.
    production_logging: bool,
}

/// A finished command.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The console posts' title lines (`━━━ Title [lang]`), in order.
    pub fn posts(&self) -> Vec<String> {
        posts(&self.stdout)
    }
}

/// The title lines of console posts in `stdout`.
pub fn posts(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("━━━ "))
        .map(str::to_string)
        .collect()
}

impl Setup {
    pub fn new(config: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, config).expect("write config");
        Setup {
            dir,
            config: path,
            env: Vec::new(),
            production_logging: false,
        }
    }

    /// A setup whose config comes from the typed builder.
    pub fn with_config(config: &Config) -> Setup {
        Setup::new(&config.toml())
    }

    /// Replaces the config with a built one (the data folder stays).
    pub fn write(&self, config: &Config) {
        self.rewrite(&config.toml());
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the config (the data folder stays).
    pub fn rewrite(&self, config: &str) {
        std::fs::write(&self.config, config).expect("write config");
    }

    /// Runs the binary with its own (production) log filter instead of the tests' verbose
    /// one, so what operators would see is what the test checks.
    pub fn production_logging(&mut self) {
        self.production_logging = true;
    }

    /// Sets an environment variable for every run.
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    /// The binary with `args`, run in `dir`. `--config` is added unless the args or a
    /// `HERALD_CONFIG` set with [`Setup::env`] name the config.
    ///
    /// `HERALD_TEST_BIN` runs another build of the binary instead of the one cargo built
    /// for these tests (a measurement of a build profile, see `scale::idle_footprint`).
    fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let bin = std::env::var_os("HERALD_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_herald").into());
        let mut cmd = Command::new(bin);
        let from_env = self.env.iter().any(|(k, _)| k == "HERALD_CONFIG");
        if !args.contains(&"--config") && !from_env {
            cmd.arg("--config").arg(&self.config);
        }
        cmd.args(args);
        cmd.current_dir(dir);
        for var in [
            "HERALD_TELEGRAM_TOKEN",
            "HERALD_MATRIX_PASSWORD",
            "HERALD_MATRIX_ACCESS_TOKEN",
            "HERALD_CONFIG",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        if !self.production_logging {
            cmd.env("HERALD_LOG", "info,herald=debug");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `herald --config … ARGS` to the end (at most two minutes).
    pub async fn run(&self, args: &[&str]) -> Output {
        self.run_in(self.dir.path(), args).await
    }

    /// [`Setup::run`] with another working folder.
    pub async fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        let child = self.command_in(dir, args).spawn().expect("start herald");
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("herald {args:?} did not finish within 2 minutes"))
            .expect("herald ran");
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts the bot (`herald run`).
    pub fn start(&self) -> Running {
        self.start_with(&["run"])
    }

    pub fn start_with(&self, args: &[&str]) -> Running {
        self.start_in(self.dir.path(), args)
    }

    /// Starts the binary with `args` (none: the default command) in the folder `dir`.
    pub fn start_in(&self, dir: &Path, args: &[&str]) -> Running {
        let mut child = self.command_in(dir, args).spawn().expect("start herald");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped"), stdout.clone()),
            collect(child.stderr.take().expect("piped"), stderr.clone()),
        ];
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }
}

/// Copies `stream` line by line into `into` until it ends (the process exited).
fn collect(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut buf = into.lock().expect("output buffer");
            buf.push_str(&line);
            buf.push('\n');
        }
    })
}

/// A running bot.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("output buffer").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("output buffer").clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits until the logs contain `needle`.
    pub async fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            if tokio::time::Instant::now() > deadline {
                panic!("the log never said {needle:?}; log:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until at least `n` console posts were printed; returns their titles.
    pub async fn wait_posts(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = posts(&self.stdout());
            if found.len() >= n {
                return found;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("expected {n} posts, got {found:?}; log:\n{}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// After the exit: waits until the readers have copied everything the process wrote.
    async fn drain(&mut self) {
        for reader in self.readers.drain(..) {
            tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("the output ends when herald exits")
                .expect("output reader");
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn stop(self) -> Output {
        self.stop_with("TERM").await
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit.
    pub async fn interrupt(self) -> Output {
        self.stop_with("INT").await
    }

    async fn stop_with(mut self, name: &str) -> Output {
        signal(self.pid(), name);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("herald stops within 30 s of SIG{name}"))
            .expect("wait");
        self.drain().await;
        Output {
            code: status.code(),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    /// Kills the bot with SIGKILL: no chance to clean up.
    pub async fn kill(mut self) -> Output {
        signal(self.pid(), "KILL");
        let _ = self.child.wait().await;
        self.drain().await;
        Output {
            code: None,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

fn signal(pid: u32, name: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -{name} {pid} failed");
}

/// Polls `done` every 50 ms until it holds; panics with `what` after `timeout`. Every wait in
/// the tests has a deadline, so a bot that stops working fails the test instead of hanging it.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free port on 127.0.0.1 for the bot's `[ops] listen`.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The bot's operator endpoint (`[ops] listen = "127.0.0.1:PORT"`), read as an operator would.
#[derive(Clone, Debug)]
pub struct Ops {
    pub port: u16,
    /// The endpoint's `[ops] token`, sent as a bearer token when set.
    pub token: Option<String>,
}

impl Ops {
    /// An endpoint on a free port; give it to the config with `Config::ops`.
    pub fn on_free_port() -> Ops {
        Ops {
            port: free_port(),
            token: None,
        }
    }

    /// The same endpoint, read with `token`.
    pub fn with_token(self, token: &str) -> Ops {
        Ops {
            token: Some(token.to_owned()),
            ..self
        }
    }

    /// `GET path`: the status and the body; `None` while nothing listens.
    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut request =
            reqwest::Client::new().get(format!("http://127.0.0.1:{}{path}", self.port));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// The value of a metric without labels (`herald_queued_posts`), or of the line that
    /// starts with `name` including its labels; `None` while the endpoint does not answer.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await?;
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Waits until `name` equals `value`.
    pub async fn wait_metric(&self, name: &str, value: f64, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = self.metric(name).await;
            if now == Some(value) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} stayed {now:?}, expected {value} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until nothing is left in the outbox: every delivery a poll queued was sent,
    /// dropped or set aside. The positive event before checking that something did NOT
    /// happen.
    pub async fn wait_outbox_empty(&self, timeout: Duration) {
        self.wait_metric("herald_queued_posts", 0.0, timeout).await;
    }
}

//! Runs the real `herald` binary against a config written into a temporary folder: one-shot
//! commands (`poll --once`, `check`, `latest`) and the long-running bot, whose standard
//! output (the console channel) and standard error (logs) are collected as they arrive.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A config file in a temporary folder; the bot's data lives beside it.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    env: Vec<(String, String)>,
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
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the config (the data folder stays).
    pub fn rewrite(&self, config: &str) {
        std::fs::write(&self.config, config).expect("write config");
    }

    /// Sets an environment variable for every run.
    pub fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
        if !args.contains(&"--config") {
            cmd.arg("--config").arg(&self.config);
        }
        cmd.args(args);
        cmd.current_dir(self.dir.path());
        for var in [
            "HERALD_TELEGRAM_TOKEN",
            "HERALD_MATRIX_PASSWORD",
            "HERALD_MATRIX_ACCESS_TOKEN",
            "HERALD_CONFIG",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HERALD_LOG", "info,herald=debug");
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
        let child = self.command(args).spawn().expect("start herald");
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
        let mut child = self.command(args).spawn().expect("start herald");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().expect("piped"), stdout.clone());
        collect(child.stderr.take().expect("piped"), stderr.clone());
        Running {
            child,
            stdout,
            stderr,
        }
    }
}

fn collect(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut buf = into.lock().expect("output buffer");
            buf.push_str(&line);
            buf.push('\n');
        }
    });
}

/// A running bot.
pub struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
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
        tokio::time::sleep(Duration::from_millis(100)).await; // let the readers drain
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
        tokio::time::sleep(Duration::from_millis(100)).await;
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

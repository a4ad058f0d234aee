//! The real Synapse homeserver the end-to-end tests talk to.
//!
//! This module owns the test-side handle on a Synapse process run by
//! `scripts/synapse`: finding or starting the homeserver shared by every test in
//! the process ([`Synapse::shared`]), starting a private one that a test may
//! stop and restart ([`Synapse::start_private`]), and registering fresh users
//! with unique names ([`Synapse::new_user`]). Users are created through
//! Synapse's admin API with an admin account registered once per process via
//! the registration shared secret, so a new user costs a single HTTP request.
//! Nothing runtime-bound is kept in statics: every `#[tokio::test]` has its own
//! runtime, so HTTP clients are created per call.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Set by `scripts/test` when it started Synapse itself (`scripts/synapse start DIR`).
pub const SYNAPSE_DIR_ENV: &str = "HERALD_TEST_SYNAPSE_DIR";

/// A running Synapse homeserver on 127.0.0.1.
pub struct Synapse {
    /// Base URL of the client API, e.g. `http://127.0.0.1:43121`.
    pub url: String,
    /// The `server_name` of the homeserver (the part after `:` in user ids).
    pub server_name: String,
    dir: PathBuf,
    /// `Some` for a private homeserver: keeps its directory alive, allows
    /// stop/restart, and means "stop on Drop".
    private_dir: Option<TempDir>,
    /// Access token of the admin account that creates users (per process).
    admin_token: OnceCell<String>,
}

static SHARED: OnceCell<Result<Synapse, String>> = OnceCell::const_new();
static USER_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Path of `scripts/synapse` in the source tree.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("synapse")
}

impl Synapse {
    /// The homeserver shared by every test in this process.
    ///
    /// With `HERALD_TEST_SYNAPSE_DIR` set (by `scripts/test`, which started
    /// Synapse via `scripts/synapse start DIR`) that server is used as-is;
    /// otherwise one is started in a fresh temporary directory with
    /// `--die-with <this pid> --remove-dir`, so it is stopped and deleted when
    /// the test process exits. Started once per process; a failed start is
    /// remembered and reported by every later call.
    pub async fn shared() -> &'static Synapse {
        let result = SHARED
            .get_or_init(|| async {
                match std::env::var_os(SYNAPSE_DIR_ENV) {
                    Some(dir) if !dir.is_empty() => Self::from_dir(PathBuf::from(dir), None),
                    _ => Self::start_shared().await,
                }
            })
            .await;
        match result {
            Ok(synapse) => synapse,
            Err(err) => panic!("no Synapse homeserver for the e2e tests: {err}"),
        }
    }

    /// Starts an unshared homeserver in its own temporary directory, stopped
    /// (and its directory deleted) on Drop. Use this in a test that needs
    /// [`Synapse::restart`] or [`Synapse::stop`], so other tests are not disturbed.
    pub async fn start_private() -> Synapse {
        let tmp = tempfile::Builder::new()
            .prefix("herald-synapse-private-")
            .tempdir()
            .expect("creating a temp dir for a private Synapse");
        let dir = tmp.path().to_path_buf();
        // `--remove-dir` covers a test process killed before Drop runs.
        start_watched(&dir)
            .await
            .unwrap_or_else(|err| panic!("starting a private Synapse: {err}"));
        Self::from_dir(dir, Some(tmp)).unwrap_or_else(|err| panic!("{err}"))
    }

    async fn start_shared() -> Result<Synapse, String> {
        let dir = tempfile::Builder::new()
            .prefix("herald-synapse-shared-")
            .tempdir()
            .map_err(|err| format!("creating a temp dir: {err}"))?
            // The watchdog (`--remove-dir`) deletes it once this process is gone;
            // statics are never dropped, so a TempDir guard would not help.
            .keep();
        start_watched(&dir).await.inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        // Not private: stopping the shared server would break concurrent tests, and
        // a test must behave the same whether or not scripts/test started it.
        Self::from_dir(dir, None)
    }

    /// Reads `DIR/env` written by `scripts/synapse start DIR`.
    fn from_dir(dir: PathBuf, private_dir: Option<TempDir>) -> Result<Synapse, String> {
        let env_file = dir.join("env");
        let env = std::fs::read_to_string(&env_file)
            .map_err(|err| format!("reading {}: {err}", env_file.display()))?;
        let url = env
            .lines()
            .find_map(|line| line.strip_prefix("SYNAPSE_URL="))
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .ok_or_else(|| format!("no SYNAPSE_URL= line in {}", env_file.display()))?;
        Ok(Synapse {
            url,
            server_name: "localhost".to_owned(),
            dir,
            private_dir,
            admin_token: OnceCell::new(),
        })
    }

    /// The directory holding the homeserver's config, database and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full user id for a localpart on this homeserver.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// Registers a fresh, non-admin user whose localpart is `prefix` (made
    /// lowercase, invalid characters replaced by `_`) plus a unique suffix, so
    /// tests sharing the server never collide. Returns the full user id (like
    /// `@prefix_1a2b3c_4:localhost`) and its password.
    pub async fn new_user(&self, prefix: &str) -> (String, String) {
        let localpart = unique_localpart(prefix);
        let password = format!("pw-{localpart}-{:x}", nanos());
        let user_id = self.user_id(&localpart);
        let token = self.admin_token().await;
        let url = format!("{}/_synapse/admin/v2/users/{user_id}", self.url);
        let response = reqwest::Client::new()
            .put(&url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "password": password, "admin": false }))
            .send()
            .await
            .unwrap_or_else(|err| panic!("PUT {url}: {err}"));
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            panic!("creating {user_id} failed: {status}: {body}");
        }
        (user_id, password)
    }

    /// Logs a user in with a password and returns an access token (device
    /// created by the server). For tests that need a raw token, e.g. to
    /// configure the bot.
    pub async fn login_token(&self, user_id: &str, password: &str) -> String {
        login(&self.url, user_id, password)
            .await
            .unwrap_or_else(|err| panic!("logging in {user_id}: {err}"))
    }

    async fn admin_token(&self) -> &str {
        self.admin_token
            .get_or_init(|| async {
                let localpart = unique_localpart("herald_admin");
                let password = format!("pw-{localpart}-{:x}", nanos());
                run_script(vec![
                    "register".into(),
                    self.dir.clone().into(),
                    localpart.clone().into(),
                    password.clone().into(),
                    "--admin".into(),
                ])
                .await
                .unwrap_or_else(|err| panic!("registering the admin user: {err}"));
                login(&self.url, &self.user_id(&localpart), &password)
                    .await
                    .unwrap_or_else(|err| panic!("logging in the admin user: {err}"))
            })
            .await
    }

    /// Stops the homeserver (only a private one, see [`Synapse::start_private`]).
    pub async fn stop(&self) {
        self.assert_private("stop");
        run_script(vec!["stop".into(), self.dir.clone().into()])
            .await
            .unwrap_or_else(|err| panic!("stopping Synapse: {err}"));
    }

    /// Starts a stopped private homeserver again: same directory, port and data.
    pub async fn start(&self) {
        self.assert_private("start");
        let pid = std::process::id().to_string();
        let url = run_script(vec![
            "start".into(),
            self.dir.clone().into(),
            "--die-with".into(),
            pid.into(),
        ])
        .await
        .unwrap_or_else(|err| panic!("restarting Synapse: {err}"));
        assert_eq!(
            url.trim_end_matches('/'),
            self.url,
            "Synapse came back on another URL"
        );
    }

    /// Stops and starts the same homeserver again (same dir, same port, same
    /// data). Only for a homeserver from [`Synapse::start_private`]: the
    /// shared one is used by other tests concurrently, so this panics on it.
    pub async fn restart(&self) {
        self.stop().await;
        self.start().await;
    }

    fn assert_private(&self, what: &str) {
        assert!(
            self.private_dir.is_some(),
            "cannot {what} the shared Synapse: other tests use it \
             (use Synapse::start_private() in a test that stops or restarts the homeserver)"
        );
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        if self.private_dir.is_some() {
            // Synchronous on purpose: Drop cannot await. Takes well under a second.
            let _ = Command::new(script_path())
                .arg("stop")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `scripts/synapse ARGS...` off the async runtime; returns its stdout
/// (trimmed). Its stderr goes to the test's captured output.
/// Starts Synapse in `dir`, stopped (and `dir` removed) by a watchdog once this process
/// is gone.
async fn start_watched(dir: &Path) -> Result<String, String> {
    let pid = std::process::id().to_string();
    run_script(vec![
        "start".into(),
        dir.into(),
        "--die-with".into(),
        pid.into(),
        "--remove-dir".into(),
    ])
    .await
}

async fn run_script(args: Vec<std::ffi::OsString>) -> Result<String, String> {
    let script = script_path();
    let shown = format!(
        "{} {}",
        script.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&script)
            .args(&args)
            .stdin(Stdio::null())
            .output()
    })
    .await
    .map_err(|err| format!("{shown}: {err}"))?
    .map_err(|err| format!("{shown}: {err}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if !output.status.success() {
        return Err(format!("{shown} failed ({}):\n{stderr}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `POST /_matrix/client/v3/login` with a password; returns the access token.
async fn login(base_url: &str, user_id: &str, password: &str) -> Result<String, String> {
    let url = format!("{base_url}/_matrix/client/v3/login");
    let response = reqwest::Client::new()
        .post(&url)
        .json(&serde_json::json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user_id },
            "password": password,
        }))
        .send()
        .await
        .map_err(|err| format!("POST {url}: {err}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|err| format!("POST {url}: bad response: {err}"))?;
    if !status.is_success() {
        return Err(format!("POST {url}: {status}: {body}"));
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("POST {url}: no access_token in {body}"))
}

/// `prefix` sanitised to a valid localpart, plus a suffix unique across
/// processes sharing the server (pid, start time) and within this one (counter).
fn unique_localpart(prefix: &str) -> String {
    static RUN_TAG: OnceLock<String> = OnceLock::new();
    let tag = RUN_TAG.get_or_init(|| format!("{:x}{:x}", std::process::id(), nanos() % 0x10000));
    let prefix: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let n = USER_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{tag}_{n}")
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

//! The bot's Matrix account on this machine: the matrix-sdk client with its SQLite store
//! (crypto and state) in `data_dir/matrix/store`, the session (user, device, access token)
//! in `data_dir/matrix/session.json` (owner-only), logging in once and restoring the same
//! device on every later start, and cross-signing the bot's device.
//!
//! The device never changes while the store exists: its keys are the bot's crypto identity,
//! and the homeserver deduplicates resends by (device, transaction id).

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::encryption::EncryptionSettings;
use matrix_sdk::ruma::api::client::uiaa;
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionMeta, SessionTokens};
use serde::{Deserialize, Serialize};

use crate::config::{MatrixConfig, Secret};

/// How long one request to the homeserver may take (a sync adds its own long-poll time).
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the Matrix data lives under `data_dir`.
pub(super) struct Paths {
    pub dir: PathBuf,
    pub session: PathBuf,
    pub store: PathBuf,
    /// The passphrase the store is encrypted with, when not given in the environment.
    pub passphrase: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Paths {
        let dir = data_dir.join("matrix");
        Paths {
            session: dir.join("session.json"),
            store: dir.join("store"),
            passphrase: dir.join("store-passphrase"),
            dir,
        }
    }
}

/// The environment variable that may hold the store's passphrase.
pub(super) const PASSPHRASE_ENV: &str = "HERALD_MATRIX_STORE_PASSPHRASE";

/// What is kept of a login.
#[derive(Serialize, Deserialize)]
struct SavedSession {
    homeserver: String,
    user_id: String,
    device_id: String,
    access_token: String,
}

impl fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SavedSession")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl SavedSession {
    fn to_sdk(&self) -> anyhow::Result<MatrixSession> {
        Ok(MatrixSession {
            meta: SessionMeta {
                user_id: self.user_id.as_str().try_into()?,
                device_id: self.device_id.as_str().into(),
            },
            tokens: SessionTokens {
                access_token: self.access_token.clone(),
                refresh_token: None,
            },
        })
    }
}

/// A logged-in client: restored from the saved session, or logged in for the first time.
pub(super) async fn connect(cfg: &MatrixConfig, paths: &Paths) -> anyhow::Result<Client> {
    create_private_dir(&paths.dir)?;
    let homeserver = cfg.homeserver.as_str();
    let user = cfg.user.get_ref().as_str();
    let mut saved = read_session(&paths.session)?;

    if let Some(s) = &saved
        && s.user_id != user
    {
        bail!(
            "{} holds the session of another Matrix account; move {} away to log in as the configured user",
            paths.session.display(),
            paths.dir.display()
        );
    }

    // A configured access token that differs from the saved one: accept it when it
    // belongs to the same device (the crypto store is that device's).
    if let (Some(s), Some(token)) = (saved.as_mut(), cfg.access_token.as_ref())
        && s.access_token != token.expose()
    {
        match whoami(homeserver, token).await? {
            Some((_, device)) if device == s.device_id => {
                s.access_token = token.expose().to_string();
                s.homeserver = homeserver.to_string();
                write_session(&paths.session, s)?;
            }
            Some(_) => bail!(
                "the configured Matrix access token belongs to another device than the one in {}; \
                 use a token of that device, or move {} away to start with a new device",
                paths.session.display(),
                paths.dir.display()
            ),
            None => bail!("the configured Matrix access token is not valid (M_UNKNOWN_TOKEN)"),
        }
    }

    if let Some(s) = saved {
        // Is the saved token still valid? A network failure here is no reason not to start.
        let valid = match whoami(homeserver, &Secret::new(s.access_token.clone())).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the homeserver; starting with the saved Matrix session");
                true
            }
        };
        let client = build(cfg, paths).await?;
        if valid {
            client
                .matrix_auth()
                .restore_session(s.to_sdk()?, RoomLoadSettings::default())
                .await
                .context("restoring the Matrix session")?;
            tracing::info!("Matrix session restored");
            return Ok(client);
        }
        let Some(password) = &cfg.password else {
            bail!(
                "the saved Matrix access token was revoked; set HERALD_MATRIX_PASSWORD (or a new access token of the same device)"
            );
        };
        // Log in again with the same device, which keeps its keys in the store.
        client
            .matrix_auth()
            .login_username(user, password.expose())
            .device_id(&s.device_id)
            .initial_device_display_name(&cfg.device_name)
            .send()
            .await
            .context("logging in to Matrix again (the saved token was revoked)")?;
        save(&client, homeserver, &paths.session)?;
        tracing::info!("logged in to Matrix again with the same device");
        return Ok(client);
    }

    // No session: the store (if any) belongs to a device we cannot use any more.
    if paths.store.exists() {
        tracing::warn!(
            "a Matrix store without a session was found; starting over with a new device"
        );
        std::fs::remove_dir_all(&paths.store)
            .with_context(|| format!("removing {}", paths.store.display()))?;
        // The passphrase was that store's; the new one gets its own.
        if std::env::var_os(PASSPHRASE_ENV).is_none_or(|v| v.is_empty()) {
            let _ = std::fs::remove_file(&paths.passphrase);
        }
    }
    let client = build(cfg, paths).await?;
    if let Some(password) = &cfg.password {
        client
            .matrix_auth()
            .login_username(user, password.expose())
            .initial_device_display_name(&cfg.device_name)
            .send()
            .await
            .context("logging in to Matrix")?;
    } else if let Some(token) = &cfg.access_token {
        let Some((user_id, device_id)) = whoami(homeserver, token).await? else {
            bail!("the configured Matrix access token is not valid (M_UNKNOWN_TOKEN)");
        };
        if user_id != user {
            bail!(
                "the configured Matrix access token belongs to another user than `[matrix] user`"
            );
        }
        let session = SavedSession {
            homeserver: homeserver.to_string(),
            user_id,
            device_id,
            access_token: token.expose().to_string(),
        };
        client
            .matrix_auth()
            .restore_session(session.to_sdk()?, RoomLoadSettings::default())
            .await
            .context("using the Matrix access token")?;
    } else {
        bail!("the Matrix account needs a password or an access token");
    }
    save(&client, homeserver, &paths.session)?;
    tracing::info!(
        device = client.device_id().map(|d| d.as_str()).unwrap_or_default(),
        "logged in to Matrix with a new device"
    );
    Ok(client)
}

async fn build(cfg: &MatrixConfig, paths: &Paths) -> anyhow::Result<Client> {
    let passphrase = store_passphrase(paths)?;
    create_private_dir(&paths.store)?;
    let encryption = EncryptionSettings {
        // Done by `cross_sign` below, which can answer the password challenge.
        auto_enable_cross_signing: false,
        ..Default::default()
    };
    Client::builder()
        .homeserver_url(cfg.homeserver.as_str())
        // The configured address stays the one used, also after a login that advertises
        // another base URL (which may not be reachable from the bot): a restored session
        // uses the configured one too.
        .respect_login_well_known(false)
        .sqlite_store(&paths.store, passphrase.as_ref().map(|p| p.expose()))
        // No retries inside the SDK: a rate limit or an outage comes back to Herald's
        // delivery loop at once, which waits as told and retries with the same transaction
        // id. (The default retries transient errors for up to 15 minutes.)
        .request_config(RequestConfig::new().timeout(REQUEST_TIMEOUT).retry_limit(1))
        .with_encryption_settings(encryption)
        .build()
        .await
        .with_context(|| {
            format!(
                "opening the Matrix store in {} (is {PASSPHRASE_ENV} the passphrase it was made with?)",
                paths.store.display()
            )
        })
}

/// The passphrase the SQLite store (crypto keys, room state) is encrypted with: from
/// `HERALD_MATRIX_STORE_PASSPHRASE`, else the one kept in `data_dir/matrix/store-passphrase`
/// (owner-only), else a new random one written there. A store made by an older Herald
/// without a passphrase keeps being opened unencrypted (`None`), with advice once.
fn store_passphrase(paths: &Paths) -> anyhow::Result<Option<Secret>> {
    if let Ok(given) = std::env::var(PASSPHRASE_ENV)
        && !given.is_empty()
    {
        return Ok(Some(Secret::new(given)));
    }
    match std::fs::read_to_string(&paths.passphrase) {
        Ok(kept) if !kept.trim().is_empty() => return Ok(Some(Secret::new(kept.trim()))),
        Ok(_) => bail!("{} is empty", paths.passphrase.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("reading {}", paths.passphrase.display()));
        }
    }
    let store_exists = std::fs::read_dir(&paths.store).is_ok_and(|mut d| d.next().is_some());
    if store_exists {
        tracing::info!(
            store = %paths.store.display(),
            "the Matrix store is not encrypted (made by an older Herald); to encrypt it, stop \
             Herald, move {} away and start again: the bot logs in with a new device (set \
             HERALD_MATRIX_PASSWORD) and encrypts the new store",
            paths.dir.display()
        );
        return Ok(None);
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("reading random bytes for the Matrix store's passphrase")?;
    let passphrase: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&paths.passphrase, passphrase.as_bytes())?;
    tracing::info!(
        file = %paths.passphrase.display(),
        "the Matrix store is encrypted with a new passphrase kept beside it (or set {PASSPHRASE_ENV})"
    );
    Ok(Some(Secret::new(passphrase)))
}

fn save(client: &Client, homeserver: &str, path: &Path) -> anyhow::Result<()> {
    let session = client
        .matrix_auth()
        .session()
        .context("no Matrix session after logging in")?;
    write_session(
        path,
        &SavedSession {
            homeserver: homeserver.to_string(),
            user_id: session.meta.user_id.to_string(),
            device_id: session.meta.device_id.to_string(),
            access_token: session.tokens.access_token,
        },
    )
}

/// The user and access token of the saved session, if there is one (read only).
pub(super) fn saved_login(paths: &Paths) -> anyhow::Result<Option<(String, Secret)>> {
    Ok(read_session(&paths.session)?.map(|s| (s.user_id, Secret::new(s.access_token))))
}

fn read_session(path: &Path) -> anyhow::Result<Option<SavedSession>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a Herald Matrix session", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the session readable by the owner only, atomically.
fn write_session(path: &Path, session: &SavedSession) -> anyhow::Result<()> {
    write_private(path, serde_json::to_string_pretty(session)?.as_bytes())
}

/// Writes a file readable by the owner only, atomically (temporary file + rename).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))
}

/// The user and device an access token belongs to; `None` when the homeserver does not
/// know the token.
pub(super) async fn whoami(
    homeserver: &str,
    token: &Secret,
) -> anyhow::Result<Option<(String, String)>> {
    #[derive(Deserialize)]
    struct WhoAmI {
        user_id: String,
        device_id: Option<String>,
    }
    let url = format!(
        "{}/_matrix/client/v3/account/whoami",
        homeserver.trim_end_matches('/')
    );
    let response = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()?
        .get(&url)
        .bearer_auth(token.expose())
        .send()
        .await
        .context("asking the homeserver who the access token belongs to")?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    if !status.is_success() {
        bail!("the homeserver answered {status} to whoami");
    }
    let me: WhoAmI = response.json().await.context("reading whoami")?;
    let device = me
        .device_id
        .context("the access token has no device (an appservice token?)")?;
    Ok(Some((me.user_id, device)))
}

/// Makes sure the bot's device is signed by its cross-signing identity, creating the
/// identity when there is none (answering the homeserver's password challenge), so that
/// clients do not flag the bot's messages as sent by an unverified device. Failures are
/// logged: the bot works without it.
pub(super) async fn cross_sign(client: &Client, cfg: &MatrixConfig) {
    if let Err(e) = try_cross_sign(client, cfg).await {
        tracing::warn!(error = %e, "could not set up cross-signing; clients may show the bot's messages as unverified");
    }
}

async fn try_cross_sign(client: &Client, cfg: &MatrixConfig) -> anyhow::Result<()> {
    let encryption = client.encryption();
    if encryption
        .cross_signing_status()
        .await
        .is_some_and(|s| s.is_complete())
    {
        tracing::debug!("cross-signing keys present");
        return Ok(());
    }
    let user_id = client.user_id().context("not logged in")?.to_owned();
    let existing = encryption
        .request_user_identity(&user_id)
        .await
        .context("looking up the bot's cross-signing identity")?;
    if existing.is_some() {
        // The identity's private keys are not here (the store was lost or the identity was
        // made elsewhere): the bot's device can only be signed by a new identity.
        tracing::warn!("the bot's cross-signing keys are not in the store; replacing its identity");
    }
    match encryption.bootstrap_cross_signing(None).await {
        Ok(()) => {}
        Err(e) => {
            let Some(challenge) = e.as_uiaa_response() else {
                return Err(e).context("uploading cross-signing keys");
            };
            let Some(password) = &cfg.password else {
                bail!("the homeserver wants the password to upload cross-signing keys");
            };
            let mut auth = uiaa::Password::new(
                uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user_id.to_string())),
                password.expose().to_string(),
            );
            auth.session = challenge.session.clone();
            encryption
                .bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth)))
                .await
                .context("uploading cross-signing keys")?;
        }
    }
    tracing::info!("cross-signing set up for the bot's device");
    Ok(())
}

/// Says once what the SDK messages kept out of the default log mean.
pub(super) fn explain_quiet_messages() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::info!(
            "Matrix key backup is off: the bot's room keys live only in its store (readers keep \
             theirs, so its posts stay readable if the store is lost); the SDK's notes about the \
             missing backup and about absent secret storage are expected and not shown"
        );
    });
}

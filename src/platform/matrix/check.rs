//! `herald check --online` for Matrix: logs in with the configured account (the configured
//! access token, else the bot's saved session, else the password on a temporary device
//! that is logged out again), then asks the homeserver's room summary (Matrix 1.15) for
//! each configured room whether the bot is in it, may join it (invited, public) or cannot
//! reach it, and why.
//!
//! Plain client-server requests, without the SDK's client: the bot's store and device in
//! `data_dir/matrix` are never opened, so the check is safe while the bot runs, and it
//! changes nothing on the homeserver (no join, no new device left behind).

use std::time::Duration;

use serde::Deserialize;

use super::session::{self, Paths, REQUEST_TIMEOUT};
use crate::article::Platform;
use crate::check::{Check, with_causes as chain};
use crate::config::{Config, MatrixConfig, Secret};

/// The account the checks run as.
struct Login {
    user: String,
    token: Secret,
    /// How: "the configured access token", "the bot's saved session", "the password".
    how: &'static str,
    /// A device made for the check, logged out at the end.
    temporary: bool,
}

/// Why no login to the homeserver works for the check; the `Display` is the check's reason.
#[derive(Debug, thiserror::Error)]
enum LoginError {
    /// The bot's saved session cannot be read.
    #[error("{0}")]
    SavedSession(String),
    /// The saved session belongs to another account than `[matrix] user`.
    #[error(
        "{session} holds the session of another Matrix account ({saved_user}); move {dir} away to log in as the configured user"
    )]
    OtherAccount {
        session: String,
        dir: String,
        saved_user: String,
    },
    /// A token works, but for another account.
    #[error("{how} belongs to {found}, not to `[matrix] user` ({user})")]
    WrongUser {
        how: &'static str,
        found: String,
        user: String,
    },
    /// The homeserver does not know the token.
    #[error("{how} was refused (M_UNKNOWN_TOKEN); set HERALD_MATRIX_PASSWORD or a valid token")]
    TokenRefused { how: &'static str },
    /// No token and no password configured.
    #[error("the Matrix account needs a password or an access token")]
    NoCredentials,
    /// The homeserver could not be asked (the error with its causes).
    #[error("cannot reach the homeserver: {0}")]
    Unreachable(String),
    /// The homeserver refused the password.
    #[error("the homeserver refused the login with the password: {status} {errcode}: {error}")]
    PasswordRefused {
        status: u16,
        errcode: String,
        error: String,
    },
    /// The answer to the login could not be read.
    #[error("an unreadable answer to the login: {0}")]
    Unreadable(String),
}

/// Why a configured room cannot be reached, or cannot be told about; the `Display` is the
/// check's reason.
#[derive(Debug, thiserror::Error)]
enum RoomError {
    /// The room summary's URL cannot be made from the homeserver's.
    #[error("{0}")]
    BadUrl(String),
    #[error("the homeserver URL cannot take a path")]
    NoPath,
    /// The homeserver could not be asked (the error with its causes).
    #[error("cannot reach the homeserver: {0}")]
    Unreachable(String),
    /// The room summary could not be read.
    #[error("an unreadable room summary: {0}")]
    Unreadable(String),
    #[error("not reachable: the bot is banned from the room")]
    Banned,
    /// Neither invited nor public: the room's join rule.
    #[error("not reachable: the bot is not invited and the room is not public (join rule: {0})")]
    NotInvited(String),
    /// The homeserver predates room summaries; what it said.
    #[error("cannot tell: the homeserver has no room summaries (Matrix 1.15) — {0}")]
    NoSummaries(String),
    /// The homeserver does not know or does not show the room; what it said.
    #[error(
        "not reachable: the homeserver does not know the room or does not show it to the bot (not invited, not public) — {0}"
    )]
    Unknown(String),
    /// Any other refusal; what the homeserver said.
    #[error("not reachable — {0}")]
    Refused(String),
}

/// A Matrix error body.
#[derive(Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errcode: String,
    #[serde(default)]
    error: String,
}

pub async fn check_online(config: &Config) -> Vec<Check> {
    let Some(cfg) = config.matrix.as_ref() else {
        return Vec::new();
    };
    let homeserver = cfg.homeserver.as_str().trim_end_matches('/').to_string();
    let http = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return vec![Check::failed("matrix", chain(&e))],
    };
    let paths = Paths::new(&config.bot.data_dir);
    let rooms: Vec<&str> = config
        .channels
        .iter()
        .map(|c| c.target())
        .filter(|t| t.platform == Platform::Matrix)
        .map(|t| t.chat.as_str())
        .collect();
    let login = match log_in(&http, &homeserver, cfg, &paths).await {
        Ok(login) => login,
        Err(reason) => {
            let mut checks = vec![Check::failed("matrix", reason.to_string())];
            checks.extend(rooms.iter().map(|room| {
                Check::failed(
                    format!("matrix room {room}"),
                    "not checked: no login to the homeserver",
                )
            }));
            return checks;
        }
    };
    let mut checks = vec![Check::ok(
        "matrix",
        format!(
            "logged in as {} on {homeserver} (with {})",
            login.user, login.how
        ),
    )];
    for room in rooms {
        let subject = format!("matrix room {room}");
        checks.push(
            match check_room(&http, &homeserver, &login.token, &login.user, room).await {
                Ok(found) => Check::ok(subject, found),
                Err(reason) => Check::failed(subject, reason.to_string()),
            },
        );
    }
    if login.temporary {
        let _ = http
            .post(format!("{homeserver}/_matrix/client/v3/logout"))
            .bearer_auth(login.token.expose())
            .json(&serde_json::json!({}))
            .send()
            .await;
    }
    checks
}

/// Finds an access token that works for the configured user, or says why there is none.
async fn log_in(
    http: &reqwest::Client,
    homeserver: &str,
    cfg: &MatrixConfig,
    paths: &Paths,
) -> Result<Login, LoginError> {
    let user = cfg.user.get_ref().as_str();
    let saved =
        session::saved_login(paths).map_err(|e| LoginError::SavedSession(format!("{e:#}")))?;
    if let Some((saved_user, _)) = &saved
        && saved_user != user
    {
        return Err(LoginError::OtherAccount {
            session: paths.session.display().to_string(),
            dir: paths.dir.display().to_string(),
            saved_user: saved_user.clone(),
        });
    }
    let mut refused = None;
    let tokens = [
        (cfg.access_token.clone(), "the configured access token"),
        (saved.map(|(_, token)| token), "the bot's saved session"),
    ];
    for (token, how) in tokens {
        let Some(token) = token else { continue };
        match session::whoami(homeserver, &token).await {
            Ok(Some((found, _))) if found == user => {
                return Ok(Login {
                    user: found,
                    token,
                    how,
                    temporary: false,
                });
            }
            Ok(Some((found, _))) => {
                return Err(LoginError::WrongUser {
                    how,
                    found,
                    user: user.to_string(),
                });
            }
            Ok(None) => {
                refused.get_or_insert(LoginError::TokenRefused { how });
            }
            Err(e) => return Err(LoginError::Unreachable(format!("{e:#}"))),
        }
    }
    let Some(password) = &cfg.password else {
        return Err(refused.unwrap_or(LoginError::NoCredentials));
    };
    let response = http
        .post(format!("{homeserver}/_matrix/client/v3/login"))
        .json(&serde_json::json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password.expose(),
            "initial_device_display_name": "Herald check --online",
        }))
        .send()
        .await
        .map_err(|e| LoginError::Unreachable(chain(&e)))?;
    let status = response.status();
    if !status.is_success() {
        let body: ErrorBody = response.json().await.unwrap_or_default();
        return Err(LoginError::PasswordRefused {
            status: status.as_u16(),
            errcode: body.errcode,
            error: body.error,
        });
    }
    #[derive(Deserialize)]
    struct LoggedIn {
        user_id: String,
        access_token: String,
    }
    let logged_in: LoggedIn = response
        .json()
        .await
        .map_err(|e| LoginError::Unreadable(chain(&e)))?;
    Ok(Login {
        user: logged_in.user_id,
        token: Secret::new(logged_in.access_token),
        how: "the password; a temporary device, logged out again",
        temporary: true,
    })
}

/// Whether the bot is in the room, may join it, or cannot reach it (and why).
async fn check_room(
    http: &reqwest::Client,
    homeserver: &str,
    token: &Secret,
    user: &str,
    room: &str,
) -> Result<String, RoomError> {
    let mut url = url::Url::parse(&format!("{homeserver}/_matrix/client/v1/room_summary"))
        .map_err(|e| RoomError::BadUrl(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|_| RoomError::NoPath)?
        .push(room);
    // A room on another server is summarized through that server.
    if let Some((_, server)) = room.split_once(':')
        && Some(server) != user.split_once(':').map(|(_, s)| s)
    {
        url.query_pairs_mut().append_pair("via", server);
    }
    let response = http
        .get(url)
        .bearer_auth(token.expose())
        .timeout(REQUEST_TIMEOUT.min(Duration::from_secs(15)))
        .send()
        .await
        .map_err(|e| RoomError::Unreachable(chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        #[derive(Deserialize)]
        struct RoomSummary {
            membership: Option<String>,
            join_rule: Option<String>,
        }
        let summary: RoomSummary = response
            .json()
            .await
            .map_err(|e| RoomError::Unreadable(chain(&e)))?;
        let rule = summary.join_rule.as_deref().unwrap_or("unknown");
        return match (summary.membership.as_deref(), rule) {
            (Some("join"), _) => Ok("joined".into()),
            (Some("invite"), _) => Ok("joinable (invited); the bot joins it at start".into()),
            (Some("ban"), _) => Err(RoomError::Banned),
            (_, "public") => Ok("joinable (public); the bot joins it at start".into()),
            _ => Err(RoomError::NotInvited(rule.to_string())),
        };
    }
    let body: ErrorBody = response.json().await.unwrap_or_default();
    let said = format!("{} {}: {}", status.as_u16(), body.errcode, body.error);
    match body.errcode.as_str() {
        "M_UNRECOGNIZED" => Err(RoomError::NoSummaries(said)),
        "M_NOT_FOUND" => Err(RoomError::Unknown(said)),
        _ => Err(RoomError::Refused(said)),
    }
}

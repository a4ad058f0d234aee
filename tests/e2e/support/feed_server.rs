//! A local HTTP server standing in for the RSS/Atom feeds Herald polls.
//!
//! It owns the feed documents the tests publish under arbitrary paths, their
//! conditional-GET validators (the `ETag` is a hash of the body, `Last-Modified` is
//! when that body was set), per-path misbehaviour (an error status, or a request that
//! is never answered) and a record of every request, so a test can assert how Herald
//! fetched: how often, how many answers were `304 Not Modified`, and with which
//! headers (`User-Agent`, `If-None-Match`, `If-Modified-Since`).
//!
//! Paths are matched without their query string; `url("feed.xml")` and
//! `url("/feed.xml")` name the same document.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use tokio::{sync::watch, task::JoinHandle};

/// How the server answers requests for one path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    /// Serve the document set with [`FeedServer::set`] (404 while there is none),
    /// honouring conditional requests.
    #[default]
    Serve,
    /// Answer every request with this status code and a short plain-text body.
    Status(u16),
    /// Accept the request and never answer it; the connection is cut only when the
    /// server is dropped.
    Hang,
    /// `302 Found` to another path of this server.
    Redirect(String),
    /// Serve the document in chunks without a `Content-Length`, so only a client that
    /// counts while reading can stop at a size limit.
    Stream,
}

/// The feed server; it stops (and cuts hanging connections) when dropped.
pub struct FeedServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
    /// Dropping it tells hanging requests to give up their connection.
    _shutdown: watch::Sender<()>,
}

struct Shared {
    paths: Mutex<HashMap<String, PathState>>,
    shutdown: watch::Receiver<()>,
}

#[derive(Default)]
struct PathState {
    document: Option<Document>,
    behavior: Behavior,
    requests: usize,
    not_modified: usize,
    last_headers: Option<HeaderMap>,
}

#[derive(Clone)]
struct Document {
    body: Vec<u8>,
    content_type: String,
    /// Quoted, as sent in the `ETag` header.
    etag: String,
    /// Whole seconds, as HTTP dates carry no more.
    last_modified: DateTime<Utc>,
}

impl FeedServer {
    /// Starts a server on `127.0.0.1` with a port chosen by the system.
    pub async fn start() -> FeedServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("feed server: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("feed server: local address");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            paths: Mutex::default(),
            shutdown: shutdown_rx,
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("feed server: serve");
        });
        FeedServer {
            shared,
            addr,
            task,
            _shutdown: shutdown_tx,
        }
    }

    /// `http://127.0.0.1:PORT/path`; a missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        format!("http://{}{path}", self.addr)
    }

    /// Publishes `body` at `path`. A body or content type different from the current
    /// one gets a new `ETag` (a hash of the body) and a new `Last-Modified` (now, but
    /// always at least one second after the previous one, so that a change is visible
    /// to `If-Modified-Since` even within the same second). Setting identical content
    /// again changes nothing.
    pub fn set(&self, path: &str, body: impl Into<Vec<u8>>, content_type: &str) {
        let body = body.into();
        let mut paths = self.paths();
        let entry = paths.entry(key(path)).or_default();
        if let Some(doc) = &entry.document
            && doc.body == body
            && doc.content_type == content_type
        {
            return;
        }
        let now = whole_seconds(Utc::now());
        let last_modified = match &entry.document {
            Some(previous) if previous.last_modified >= now => {
                previous.last_modified + TimeDelta::seconds(1)
            }
            _ => now,
        };
        entry.document = Some(Document {
            etag: etag_of(&body),
            body,
            content_type: content_type.to_owned(),
            last_modified,
        });
    }

    /// Changes how requests for `path` are answered from now on.
    pub fn behave(&self, path: &str, behavior: Behavior) {
        self.paths().entry(key(path)).or_default().behavior = behavior;
    }

    /// How many requests arrived for `path`, whatever the answer.
    pub fn requests(&self, path: &str) -> usize {
        self.paths().get(&key(path)).map_or(0, |p| p.requests)
    }

    /// How many requests for `path` were answered `304 Not Modified`.
    pub fn not_modified(&self, path: &str) -> usize {
        self.paths().get(&key(path)).map_or(0, |p| p.not_modified)
    }

    /// The headers of the latest request for `path`.
    pub fn last_request_headers(&self, path: &str) -> Option<HeaderMap> {
        self.paths()
            .get(&key(path))
            .and_then(|p| p.last_headers.clone())
    }

    fn paths(&self) -> MutexGuard<'_, HashMap<String, PathState>> {
        self.shared
            .paths
            .lock()
            .expect("feed server state poisoned")
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let (behavior, document) = {
        let mut paths = shared.paths.lock().expect("feed server state poisoned");
        let entry = paths.entry(path).or_default();
        entry.requests += 1;
        entry.last_headers = Some(headers.clone());
        if let (Behavior::Serve, Some(doc)) = (&entry.behavior, &entry.document)
            && is_not_modified(&headers, doc)
        {
            entry.not_modified += 1;
            return document_response(StatusCode::NOT_MODIFIED, doc, Body::empty());
        }
        (entry.behavior.clone(), entry.document.clone())
    };
    match (behavior, document) {
        (Behavior::Serve, Some(doc)) => {
            let body = Body::from(doc.body.clone());
            document_response(StatusCode::OK, &doc, body)
        }
        (Behavior::Serve, None) => plain_response(StatusCode::NOT_FOUND),
        (Behavior::Status(code), _) => plain_response(
            StatusCode::from_u16(code).expect("Behavior::Status: invalid HTTP status code"),
        ),
        (Behavior::Hang, _) => hang_until_shutdown(shared.shutdown.clone()).await,
        (Behavior::Redirect(to), _) => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, to)
            .body(Body::empty())
            .expect("a redirect response"),
        (Behavior::Stream, Some(doc)) => {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                doc.body.chunks(4096).map(|c| Ok(c.to_vec())).collect();
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, doc.content_type.clone())
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .expect("a streamed response")
        }
        (Behavior::Stream, None) => plain_response(StatusCode::NOT_FOUND),
    }
}

/// Holds the request until the server is dropped, then cuts the connection without
/// answering: unwinding out of the connection task (with `resume_unwind`, which runs
/// no panic hook and so prints nothing) makes the server close the socket.
async fn hang_until_shutdown(mut shutdown: watch::Receiver<()>) -> Response {
    while shutdown.changed().await.is_ok() {}
    std::panic::resume_unwind(Box::new("feed server dropped while a request was hanging"))
}

/// RFC 9110 §13.2.2: `If-None-Match` decides when present; otherwise
/// `If-Modified-Since` is compared with `Last-Modified`.
fn is_not_modified(headers: &HeaderMap, doc: &Document) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let value = value.to_str().unwrap_or_default();
        return value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == doc.etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .is_some_and(|since| since >= doc.last_modified)
}

fn document_response(status: StatusCode, doc: &Document, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, header_value(&doc.etag));
    headers.insert(
        header::LAST_MODIFIED,
        header_value(&format_http_date(doc.last_modified)),
    );
    if status == StatusCode::OK {
        headers.insert(header::CONTENT_TYPE, header_value(&doc.content_type));
    }
    response
}

fn plain_response(status: StatusCode) -> Response {
    let mut response = Response::new(Body::from(format!("{status}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("feed server: header value must be visible ASCII")
}

/// The document key of a path: leading `/`, no query string.
fn key(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

fn etag_of(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).expect("timestamp in range")
}

const HTTP_DATE: &str = "%a, %d %b %Y %H:%M:%S GMT";

fn format_http_date(time: DateTime<Utc>) -> String {
    time.format(HTTP_DATE).to_string()
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value.trim(), HTTP_DATE)
        .map(|naive| naive.and_utc())
        .or_else(|_| DateTime::parse_from_rfc2822(value.trim()).map(|t| t.with_timezone(&Utc)))
        .ok()
}

//! A TCP relay on 127.0.0.1 in front of a real server that can hold back the server's
//! answers: the requests reach the server at once, the client hears nothing until the test
//! releases them. It plays a slow or cut network between the bot and its homeserver, so a
//! test can make a command arrive late or kill the bot after the server acted on a request
//! but before the bot learnt of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct HoldingProxy {
    /// `http://127.0.0.1:PORT`, to give the client instead of the server's address.
    pub url: String,
    held: watch::Sender<Hold>,
    task: tokio::task::JoinHandle<()>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// Which answers wait in the relay.
#[derive(Debug, Clone, PartialEq)]
enum Hold {
    Nothing,
    /// Every answer, also to requests sent before the hold (a long-polling sync).
    Everything,
    /// Answers to requests made from now on whose request line contains this text.
    Matching(String),
}

impl HoldingProxy {
    /// Relays to the server at `upstream` (an `http://host:port` URL).
    pub async fn start(upstream: &str) -> HoldingProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let (held, _) = watch::channel(Hold::Nothing);
        let watch = held.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, watch.subscribe()));
            }
        });
        HoldingProxy {
            url,
            held,
            task,
            connections,
        }
    }

    /// How many connections clients opened so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// From now on the server's answers wait in the relay.
    pub fn hold(&self) {
        self.held.send_replace(Hold::Everything);
    }

    /// From now on the answers to requests whose request line (`PUT /path HTTP/1.1`)
    /// contains `text` wait in the relay; the server still acts on the requests.
    pub fn hold_requests(&self, text: &str) {
        self.held.send_replace(Hold::Matching(text.to_owned()));
    }

    /// Passes on every answer held back, and the ones after it.
    pub fn release(&self) {
        self.held.send_replace(Hold::Nothing);
    }
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, mut held: watch::Receiver<Hold>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the last request on this connection matched a `Hold::Matching`: HTTP/1.1
    // clients wait for one answer before the next request on a connection.
    let matched = Arc::new(AtomicBool::new(false));
    let matched_by_request = matched.clone();
    let request_hold = held.clone();
    let requests = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let line = buf[..n].split(|&b| b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            if line.contains(" HTTP/1.") {
                let hit = match &*request_hold.borrow() {
                    Hold::Matching(text) => line.contains(text.as_str()),
                    _ => false,
                };
                matched_by_request.store(hit, Ordering::SeqCst);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let answers = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let waits = |hold: &Hold| match hold {
                Hold::Nothing => false,
                Hold::Everything => true,
                Hold::Matching(_) => matched.load(Ordering::SeqCst),
            };
            if held.wait_for(|hold| !waits(hold)).await.is_err() {
                break;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(requests, answers);
}

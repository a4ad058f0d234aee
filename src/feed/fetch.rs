//! Fetching a feed's bytes: conditional GET with the validators (ETag, Last-Modified) of the
//! last successful fetch, a timeout, a cap on the body enforced while streaming, a bounded
//! number of redirects and a User-Agent naming Herald. Local files are read the same way,
//! with their modification time standing in for an ETag.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::FeedError;
use crate::config::{FeedSource, FetchConfig};

/// What the server said about the version it sent, to ask "anything new?" next time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

pub enum Fetched {
    /// Nothing changed since the validators were issued: no parse needed.
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
        /// The `charset` of the HTTP `Content-Type`, if it named one.
        charset: Option<String>,
    },
}

pub struct Fetcher {
    client: reqwest::Client,
    max_body: u64,
    timeout: Duration,
}

pub fn user_agent() -> String {
    format!("Herald/{} (feed-to-chat bot)", env!("CARGO_PKG_VERSION"))
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> anyhow::Result<Fetcher> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .build()?;
        Ok(Fetcher {
            client,
            max_body: config.max_body,
            timeout: config.timeout,
        })
    }

    pub async fn fetch(
        &self,
        source: &FeedSource,
        previous: &Validators,
    ) -> Result<Fetched, FeedError> {
        match source {
            FeedSource::Http(url) => self.fetch_http(url, previous).await,
            FeedSource::File(path) => self.fetch_file(path, previous).await,
        }
    }

    async fn fetch_http(
        &self,
        url: &url::Url,
        previous: &Validators,
    ) -> Result<Fetched, FeedError> {
        let mut request = self.client.get(url.as_str());
        if let Some(etag) = &previous.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &previous.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(|e| self.network(e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(FeedError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_body)
        {
            return Err(FeedError::TooLarge {
                limit: self.max_body,
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let charset = header(CONTENT_TYPE).as_deref().and_then(charset);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.network(e))? {
            if (bytes.len() + chunk.len()) as u64 > self.max_body {
                return Err(FeedError::TooLarge {
                    limit: self.max_body,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body {
            bytes,
            validators,
            charset,
        })
    }

    async fn fetch_file(
        &self,
        path: &std::path::Path,
        previous: &Validators,
    ) -> Result<Fetched, FeedError> {
        let io = |source: std::io::Error| FeedError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = tokio::fs::metadata(path).await.map_err(io)?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let stamp = format!(
            "file:{}:{}",
            modified.map_or(0, |d| d.as_nanos()),
            meta.len()
        );
        if previous.etag.as_deref() == Some(stamp.as_str()) {
            return Ok(Fetched::NotModified);
        }
        if meta.len() > self.max_body {
            return Err(FeedError::TooLarge {
                limit: self.max_body,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        file.take(self.max_body + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(io)?;
        if bytes.len() as u64 > self.max_body {
            return Err(FeedError::TooLarge {
                limit: self.max_body,
            });
        }
        Ok(Fetched::Body {
            bytes,
            validators: Validators {
                etag: Some(stamp),
                last_modified: None,
            },
            charset: None,
        })
    }

    fn network(&self, e: reqwest::Error) -> FeedError {
        if e.is_timeout() {
            FeedError::Timeout(self.timeout)
        } else {
            // The error's own chain says what went wrong (refused, DNS, TLS, redirects).
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            FeedError::Network { message, source: e }
        }
    }
}

/// The `charset` parameter of a `Content-Type` such as `text/xml; charset="KOI8-R"`.
fn charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn charset_from_content_type() {
        assert_eq!(
            super::charset("text/xml; charset=\"KOI8-R\"").as_deref(),
            Some("KOI8-R")
        );
        assert_eq!(
            super::charset("application/rss+xml;Charset=windows-1251; q=1").as_deref(),
            Some("windows-1251")
        );
        assert_eq!(super::charset("application/rss+xml"), None);
        assert_eq!(super::charset("text/xml; charset="), None);
    }
}

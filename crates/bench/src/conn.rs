//! One HTTP/1.1 keep-alive connection, and only one: hyper's connection API (what reqwest
//! is built on) without a pool.
//!
//! A pooled client (reqwest) hands a finished connection back to its pool asynchronously,
//! after the response body has ended; a closed-loop worker that sends its next request at
//! once races that hand-back, and on loopback the pool often loses and opens a new
//! connection. Against the gateway, whose SSE answers end in a separate write, that
//! happened on ~2.5 % of calls and would have charged the gateway for TCP handshakes the
//! client caused. Here a worker owns its connection and waits for it to be ready.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header::HOST};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one request (connecting included) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }
}

/// An answer's body, read as it arrives.
pub struct Streaming(Incoming);

impl Streaming {
    /// The next piece of data, or `None` at the end of the body.
    pub async fn chunk(&mut self) -> anyhow::Result<Option<Bytes>> {
        while let Some(frame) = self.0.frame().await {
            if let Ok(data) = frame?.into_data()
                && !data.is_empty()
            {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }
}

/// A connection to one `http://host:port`, opened on first use and again after it closes.
pub struct HttpConn {
    /// `host:port`, to connect to and for the `Host` header.
    authority: String,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl HttpConn {
    /// A connection for `url` (`http://host:port/…`); returns it with the URL's path.
    pub fn for_url(url: &str) -> anyhow::Result<(Self, String)> {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("only http:// URLs are supported: {url}");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("no host in {url}"))?
            .as_str()
            .to_owned();
        let authority = if uri.port().is_some() {
            authority
        } else {
            format!("{authority}:80")
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let host = HeaderValue::from_str(uri.authority().map_or("", |a| a.as_str()))?;
        Ok((
            Self {
                authority,
                host,
                sender: None,
            },
            path,
        ))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole answer. A connection that failed is dropped;
    /// the next request opens a new one.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.send_inner(method, path, headers, body),
        )
        .await
        .unwrap_or_else(|_| Err(anyhow!("no answer within {REQUEST_TIMEOUT:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn send_inner(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let (parts, body) = self.start_inner(method, path, headers, body).await?;
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Sends one request and returns the answer's head, its body still to be read
    /// ([`Streaming::chunk`]), for a client that must act on parts of the body before it
    /// ends. The caller bounds the whole exchange in time and calls [`HttpConn::reset`]
    /// if it gives up on the body before its end.
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> anyhow::Result<(http::response::Parts, Streaming)> {
        let result = self.start_inner(method, path, headers, body).await;
        if result.is_err() {
            self.sender = None;
        }
        result.map(|(parts, body)| (parts, Streaming(body)))
    }

    /// Drops the connection (e.g. after a body was not read to its end); the next request
    /// opens a new one.
    pub fn reset(&mut self) {
        self.sender = None;
    }

    async fn start_inner(
        &mut self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> anyhow::Result<(http::response::Parts, Incoming)> {
        let reusable = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.sender = Some(self.connect().await?);
        }
        let sender = self.sender.as_mut().expect("connected above");
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::new(body))?;
        *request.headers_mut() = headers;
        request.headers_mut().insert(HOST, self.host.clone());
        let response = sender.send_request(request).await?;
        Ok(response.into_parts())
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, HeaderMap::new(), Bytes::new())
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<Answer> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.send(Method::POST, path, headers, Bytes::from(body.to_string()))
            .await
    }
}

//! The HTTP lane's wire: POSTs (hyper's pooled client for `http://`, reqwest for TLS) and
//! a lean reader for the answer body, JSON or an event stream.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Response};
use http_body::Frame;
use http_body_util::{BodyExt, combinators::BoxBody};

use super::pool::{ConnPool, PooledBody};
use crate::upstream::{UpstreamError, body::describe_error, sse::MAX_EVENT_SIZE};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a lane's POSTs go.
#[derive(Debug, Clone)]
pub enum Poster {
    /// Plain HTTP: connections driven by the calling task ([`ConnPool`]), without
    /// reqwest's per-request layers (URL re-parsing, redirect handling) or hyper's
    /// connection tasks, which show up on the hot path.
    Plain(Arc<ConnPool>),
    /// HTTPS: the gateway's reqwest client and its TLS setup.
    Tls(reqwest::Client, reqwest::Url),
}

impl Poster {
    pub fn new(url: &str) -> Result<Self, UpstreamError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| UpstreamError::Config(e.to_string()))?;
        if parsed.scheme() == "http" {
            let uri: http::Uri = url
                .parse()
                .map_err(|e: http::uri::InvalidUri| UpstreamError::Config(e.to_string()))?;
            let pool = ConnPool::new(&uri).map_err(UpstreamError::Config)?;
            return Ok(Self::Plain(Arc::new(pool)));
        }
        Ok(Self::Tls(crate::upstream::http_client()?, parsed))
    }

    /// The upstream's origin, for logs.
    pub fn origin(&self) -> String {
        match self {
            Self::Plain(pool) => pool.origin(),
            Self::Tls(_, url) => url.origin().ascii_serialization(),
        }
    }

    pub async fn post(&self, headers: &HeaderMap, body: Bytes) -> Result<Response<Body>, String> {
        match self {
            Self::Plain(pool) => Ok(pool.post(headers, body).await?.map(Body::Pooled)),
            Self::Tls(client, url) => {
                let response = client
                    .post(url.clone())
                    .headers(headers.clone())
                    .body(body)
                    .send()
                    .await
                    .map_err(crate::upstream::body::describe)?;
                let response = http::Response::from(response);
                Ok(response.map(|b| Body::Other(b.map_err(BoxError::from).boxed())))
            }
        }
    }
}

/// An answer's body.
pub enum Body {
    Pooled(PooledBody),
    Other(BoxBody<Bytes, BoxError>),
}

impl Body {
    /// The caller has what it needs: let the rest of the body end so that its connection
    /// can be reused (within a deadline).
    pub fn release(self) {
        match self {
            Self::Pooled(body) => body.release(),
            Self::Other(mut body) => {
                if http_body::Body::is_end_stream(&body) {
                    return;
                }
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
                        while let Some(Ok(_)) = body.frame().await {}
                    })
                    .await;
                });
            }
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Pooled(body) => Pin::new(body).poll_frame(cx),
            Self::Other(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Pooled(body) => body.is_end_stream(),
            Self::Other(body) => body.is_end_stream(),
        }
    }
}

/// How long the rest of an answered stream may take to end before it is dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

fn too_large() -> UpstreamError {
    UpstreamError::Transport(format!(
        "unexpected answer: a message exceeds {MAX_EVENT_SIZE} bytes"
    ))
}

fn body_error(e: BoxError) -> UpstreamError {
    UpstreamError::Transport(describe_error(&*e))
}

/// Reads a whole body, refusing one larger than the message cap.
pub async fn read_all(mut body: Body) -> Result<Vec<u8>, UpstreamError> {
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(body_error)?.into_data() {
            if all.len() + data.len() > MAX_EVENT_SIZE {
                return Err(too_large());
            }
            all.extend_from_slice(&data);
        }
    }
    Ok(all)
}

/// The events of an SSE body, one `data` payload at a time.
pub struct Events {
    body: Body,
    buffer: BytesMut,
    ended: bool,
}

impl Events {
    pub fn new(body: Body) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            ended: false,
        }
    }

    /// The data of the next event with data (`None` at the end of the stream).
    pub async fn next_data(&mut self) -> Result<Option<Vec<u8>>, UpstreamError> {
        loop {
            while let Some(data) = take_event(&mut self.buffer) {
                if !data.iter().all(u8::is_ascii_whitespace) {
                    return Ok(Some(data));
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(frame) => {
                    if let Ok(data) = frame.map_err(body_error)?.into_data() {
                        if self.buffer.len() + data.len() > MAX_EVENT_SIZE {
                            return Err(too_large());
                        }
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The answer has been read: see [`Body::release`].
    pub fn release(self) {
        if !self.ended {
            self.body.release();
        }
    }
}

/// Removes the first complete event from `buffer` and returns its data lines joined
/// (empty for events without data: comments, priming events).
pub(crate) fn take_event(buffer: &mut BytesMut) -> Option<Vec<u8>> {
    let mut start = 0;
    let mut data: Vec<u8> = Vec::new();
    let mut lines = 0;
    loop {
        let newline = buffer[start..].iter().position(|b| *b == b'\n')? + start;
        let mut line = &buffer[start..newline];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.is_empty() {
            buffer.advance(newline + 1);
            return Some(data);
        }
        if let Some(value) = line.strip_prefix(b"data:") {
            if lines > 0 {
                data.push(b'\n');
            }
            data.extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
            lines += 1;
        }
        start = newline + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_at_blank_lines_with_either_line_ending() {
        let mut buffer = BytesMut::from(
            &b"id: 0\nretry: 3000\ndata:\n\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: x\ndata: y\n\ndata: partial"[..],
        );
        assert_eq!(take_event(&mut buffer).unwrap(), b"");
        assert_eq!(take_event(&mut buffer).unwrap(), br#"{"a":1}"#);
        assert_eq!(take_event(&mut buffer).unwrap(), b"");
        assert_eq!(take_event(&mut buffer).unwrap(), b"x\ny");
        assert_eq!(take_event(&mut buffer), None);
        assert_eq!(&buffer[..], b"data: partial");
    }
}

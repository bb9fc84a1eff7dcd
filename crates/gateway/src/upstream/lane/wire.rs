//! The HTTP lane's wire: POSTs (hyper's pooled client for `http://`, reqwest for TLS) and
//! a lean reader for the answer body, JSON or an event stream (read with the gateway's SSE
//! decoder, [`crate::upstream::sse_decode`]).

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Response};
use http_body::Frame;
use http_body_util::{BodyExt, combinators::BoxBody};

use super::pool::{ConnPool, PooledBody};
use crate::upstream::{
    UpstreamError, body::describe_error, sse::MAX_EVENT_SIZE, sse_decode::Decoder,
};

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
    decoder: Decoder,
    ended: bool,
}

impl Events {
    pub fn new(body: Body) -> Self {
        Self {
            body,
            decoder: Decoder::new(MAX_EVENT_SIZE),
            ended: false,
        }
    }

    /// The data of the next event with data (`None` at the end of the stream); events
    /// whose data is blank (priming events) are skipped.
    pub async fn next_data(&mut self) -> Result<Option<&[u8]>, UpstreamError> {
        loop {
            while self.decoder.next().map_err(|_| too_large())? {
                if !blank(self.decoder.event().data) {
                    return Ok(Some(self.decoder.event().data));
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                None => self.ended = true,
                Some(frame) => {
                    if let Ok(data) = frame.map_err(body_error)?.into_data() {
                        self.decoder.push(data);
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

/// Data of a priming event (or of no use to anyone).
fn blank(data: &[u8]) -> bool {
    data.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> Body {
        let frames: Vec<_> = chunks
            .iter()
            .map(|c| Ok::<_, BoxError>(Frame::data(Bytes::from_static(c))))
            .collect();
        let stream = http_body_util::StreamBody::new(futures::stream::iter(frames));
        Body::Other(stream.boxed())
    }

    #[tokio::test]
    async fn event_data_comes_whole_and_blank_events_are_skipped() {
        let mut events = Events::new(body(&[
            b"data: \nid: 0\nretry: 3000\n\n",
            b"data: {\"a\"",
            b":1}\r\n\r\n: keep-alive\n\ndata: x\nda",
            b"ta: y\n\ndata: cut off",
        ]));
        let mut seen = Vec::new();
        while let Some(data) = events.next_data().await.unwrap() {
            seen.push(String::from_utf8(data.to_vec()).unwrap());
        }
        assert_eq!(seen, [r#"{"a":1}"#, "x\ny"]);
    }
}

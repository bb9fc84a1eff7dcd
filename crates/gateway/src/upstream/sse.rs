//! The legacy HTTP+SSE client transport (MCP protocol revision 2024-11-05).
//!
//! The client opens a long-lived `GET` event stream. The server's first `endpoint` event
//! names the URL to `POST` client messages to; server messages arrive as `message` events
//! on the stream. No task is spawned: `receive` reads the stream itself, so dropping or
//! closing the transport drops the response body, which ends the `GET`.
//!
//! The configured headers (upstream credentials) go on the `GET` and on every `POST`, and
//! are never logged; error messages leave out URLs, whose query may carry a token.

mod wire;

#[cfg(test)]
mod everything;
#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use rmcp::{
    RoleClient,
    model::ServerJsonRpcMessage,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::sync::mpsc;
use url::Url;
use wire::{Events, Poster};

use super::sse_decode::Event;

/// The largest SSE event (or JSON `POST` answer) accepted, as rmcp allows.
pub const MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;
/// How long the `GET` may take to answer and send its `endpoint` event.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers that arrived in `POST` bodies, waiting for `receive`.
const REPLY_QUEUE: usize = 32;
/// How much of a server's message is quoted in logs.
const LOG_SNIPPET: usize = 200;

/// Errors of the SSE transport. Their messages name no URL and no header value.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("invalid SSE URL: {0}")]
    InvalidUrl(String),
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("the SSE stream answered {status}{}", wire::suffix(.body))]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("the SSE URL answered with content type {0:?}, not text/event-stream")]
    NotEventStream(String),
    #[error("the SSE request was redirected to another origin ({0})")]
    Redirected(String),
    #[error("no `endpoint` event within {0:?}")]
    EndpointTimeout(Duration),
    #[error("the SSE stream ended before its `endpoint` event")]
    NoEndpoint,
    #[error("invalid `endpoint` event: {0}")]
    InvalidEndpoint(String),
    #[error("refusing a message endpoint on another origin ({0})")]
    CrossOriginEndpoint(String),
    #[error("the SSE stream failed: {0}")]
    Stream(String),
    #[error("the message endpoint answered {status}{}", wire::suffix(.body))]
    PostStatus {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("the answer to a POST exceeds {0} bytes")]
    TooLarge(usize),
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the SSE transport is closed")]
    Closed,
}

/// Tunables; the defaults suit production, tests shrink them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_event_size: usize,
    pub endpoint_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_size: MAX_EVENT_SIZE,
            endpoint_timeout: ENDPOINT_TIMEOUT,
        }
    }
}

/// Client side of the legacy SSE transport.
pub struct SseClientTransport {
    /// The `GET` stream; `None` once it ended or the transport was closed.
    events: Option<Events>,
    /// Where `send` posts; `None` once closed.
    poster: Option<Arc<Poster>>,
    /// Server messages that came back in `POST` bodies.
    replies: mpsc::Receiver<ServerJsonRpcMessage>,
}

impl SseClientTransport {
    /// Opens the event stream at `url` and waits for the server's `endpoint` event.
    pub async fn connect(
        client: reqwest::Client,
        url: &str,
        headers: http::HeaderMap,
    ) -> Result<Self, SseError> {
        Self::connect_with(client, url, headers, Limits::default()).await
    }

    pub(crate) async fn connect_with(
        client: reqwest::Client,
        url: &str,
        headers: http::HeaderMap,
        limits: Limits,
    ) -> Result<Self, SseError> {
        let sse_url = Url::parse(url).map_err(|e| SseError::InvalidUrl(e.to_string()))?;
        if !matches!(sse_url.scheme(), "http" | "https") {
            return Err(SseError::InvalidUrl(
                "the scheme must be http or https".into(),
            ));
        }
        let open = open(&client, &sse_url, &headers, limits.max_event_size);
        let (events, endpoint) = tokio::time::timeout(limits.endpoint_timeout, open)
            .await
            .map_err(|_| SseError::EndpointTimeout(limits.endpoint_timeout))??;
        let (reply_tx, replies) = mpsc::channel(REPLY_QUEUE);
        let poster = Poster::new(client, endpoint, headers, reply_tx, limits.max_event_size);
        Ok(Self {
            events: Some(events),
            poster: Some(Arc::new(poster)),
            replies,
        })
    }

    /// The URL messages are posted to.
    #[cfg(test)]
    pub(crate) fn endpoint(&self) -> Option<&Url> {
        self.poster.as_ref().map(|p| p.endpoint())
    }
}

/// `GET`s the stream and reads up to its `endpoint` event.
async fn open(
    client: &reqwest::Client,
    sse_url: &Url,
    headers: &http::HeaderMap,
    max_event_size: usize,
) -> Result<(Events, Url), SseError> {
    let response = wire::get_event_stream(client, sse_url, headers).await?;
    let mut events = Events::new(response, max_event_size);
    while events.next().await? {
        let event = events.event();
        if event.event == b"endpoint" {
            let data = std::str::from_utf8(event.data)
                .map_err(|e| SseError::InvalidEndpoint(e.to_string()))?;
            let endpoint = resolve_endpoint(sse_url, data)?;
            return Ok((events, endpoint));
        }
        let name = String::from_utf8_lossy(event.event);
        tracing::debug!(event = %snippet(&name), "ignoring an SSE event before `endpoint`");
    }
    Err(SseError::NoEndpoint)
}

/// Resolves the `endpoint` event's URI reference against the SSE URL. It must stay on the
/// same origin: the credentials we attach to every `POST` are meant for this server only.
fn resolve_endpoint(sse_url: &Url, data: &str) -> Result<Url, SseError> {
    let endpoint = sse_url
        .join(data.trim())
        .map_err(|e| SseError::InvalidEndpoint(e.to_string()))?;
    if endpoint.origin() != sse_url.origin() {
        return Err(SseError::CrossOriginEndpoint(
            endpoint.origin().ascii_serialization(),
        ));
    }
    Ok(endpoint)
}

/// The JSON-RPC message an SSE event carries, if any. Other event types and unparseable
/// data are skipped: one bad event should not end the session.
pub(crate) fn decode(event: Event<'_>) -> Option<ServerJsonRpcMessage> {
    if event.event != b"message" {
        let name = String::from_utf8_lossy(event.event);
        tracing::debug!(event = %snippet(&name), "ignoring an SSE event");
        return None;
    }
    if event.data.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    serde_json::from_slice(event.data)
        .inspect_err(|e| {
            let data = String::from_utf8_lossy(event.data);
            tracing::warn!(error = %e, data = %snippet(&data), "skipping an unparseable SSE message");
        })
        .ok()
}

/// At most [`LOG_SNIPPET`] characters of `text`, for logs.
fn snippet(text: &str) -> &str {
    text.char_indices()
        .nth(LOG_SNIPPET)
        .map_or(text, |(end, _)| &text[..end])
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let poster = self.poster.clone();
        async move { poster.ok_or(SseError::Closed)?.post(&item).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let events = self.events.as_mut()?;
            let next = tokio::select! {
                Some(message) = self.replies.recv() => return Some(message),
                next = events.next() => next,
            };
            match next {
                Ok(true) => {
                    if let Some(message) = decode(events.event()) {
                        return Some(message);
                    }
                }
                // The session is over either way; the supervisor reconnects.
                Err(e) => {
                    tracing::warn!(error = %e, "the SSE stream failed");
                    self.events = None;
                }
                Ok(false) => {
                    tracing::info!("the SSE stream ended");
                    self.events = None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.events = None;
        self.poster = None;
        Ok(())
    }
}

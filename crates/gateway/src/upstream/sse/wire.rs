//! The HTTP side of the SSE transport: the `GET` for the event stream and the `POST`s.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use http::{
    HeaderMap, HeaderValue,
    header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE},
};
use reqwest::Response;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::sync::mpsc;
use url::Url;

use super::{
    super::{
        body::{describe, error_body, has_content_type},
        sse_decode::{Decoder, Event},
    },
    SseError, snippet,
};

/// Bounds a `POST`: its answer may be the result of a long tool call, but not forever.
const POST_TIMEOUT: Duration = Duration::from_secs(300);

/// `GET`s the event stream, checking status, origin and content type.
pub(super) async fn get_event_stream(
    client: &reqwest::Client,
    sse_url: &Url,
    headers: &HeaderMap,
) -> Result<Response, SseError> {
    let mut headers = headers.clone();
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let response = client
        .get(sse_url.clone())
        .headers(headers)
        .send()
        .await
        .map_err(http_error)?;
    // The client follows redirects; a stream served by another origin is not our server.
    if response.url().origin() != sse_url.origin() {
        return Err(SseError::Redirected(
            response.url().origin().ascii_serialization(),
        ));
    }
    let status = response.status();
    if !status.is_success() {
        let body = error_body(response).await;
        return Err(SseError::Status { status, body });
    }
    if !has_content_type(response.headers(), "text/event-stream") {
        let found = response.headers().get(CONTENT_TYPE);
        let found = found.and_then(|v| v.to_str().ok()).unwrap_or_default();
        return Err(SseError::NotEventStream(snippet(found).to_owned()));
    }
    Ok(response)
}

/// The events of the `GET` response, failing once one exceeds its size cap.
pub(super) struct Events {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: Decoder,
}

impl Events {
    pub fn new(response: Response, max_size: usize) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            decoder: Decoder::new(max_size),
        }
    }

    /// Reads up to the next event (then see [`event`](Self::event)); `Ok(false)` when the
    /// stream ended. Cancel-safe: what was read stays in the decoder.
    pub async fn next(&mut self) -> Result<bool, SseError> {
        loop {
            let ready = self.decoder.next();
            if ready.map_err(|e| SseError::Stream(e.to_string()))? {
                return Ok(true);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.decoder.push(chunk),
                Some(Err(e)) => return Err(SseError::Stream(http_error(e).to_string())),
                None => return Ok(false),
            }
        }
    }

    /// The event [`next`](Self::next) read.
    pub fn event(&self) -> Event<'_> {
        self.decoder.event()
    }
}

/// Posts client messages to the endpoint the server named.
pub(super) struct Poster {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    /// Where answers that come back in a `POST` body go.
    replies: mpsc::Sender<ServerJsonRpcMessage>,
    max_body: usize,
}

impl Poster {
    pub fn new(
        client: reqwest::Client,
        endpoint: Url,
        mut headers: HeaderMap,
        replies: mpsc::Sender<ServerJsonRpcMessage>,
        max_body: usize,
    ) -> Self {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Self {
            client,
            endpoint,
            headers,
            replies,
            max_body,
        }
    }

    #[cfg(test)]
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Posts one message. Answers normally come on the stream (the `POST` gets 202), but
    /// some servers answer in the body, so a JSON body is passed on to `receive`.
    pub async fn post(&self, message: &ClientJsonRpcMessage) -> Result<(), SseError> {
        let response = self
            .client
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .timeout(POST_TIMEOUT)
            .body(serde_json::to_vec(message)?)
            .send()
            .await
            .map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            let body = error_body(response).await;
            return Err(SseError::PostStatus { status, body });
        }
        if !has_content_type(response.headers(), "application/json") {
            return Ok(());
        }
        let body = read_bounded(response, self.max_body).await?;
        if body.trim_ascii().is_empty() {
            return Ok(());
        }
        match serde_json::from_slice(&body) {
            // Fails only when the transport is gone, and then nobody waits for the answer.
            Ok(message) => {
                let _ = self.replies.send(message).await;
            }
            // A body need not be a message (e.g. `{"status":"accepted"}`), so no warning.
            Err(e) => tracing::debug!(
                error = %e,
                body = %snippet(&String::from_utf8_lossy(&body)),
                "ignoring a POST answer that is not a JSON-RPC message"
            ),
        }
        Ok(())
    }
}

/// Reads a whole body, refusing one larger than `max`.
async fn read_bounded(mut response: Response, max: usize) -> Result<Bytes, SseError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > max {
            return Err(SseError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// `: body` for a non-empty error body, for error messages.
pub(super) fn suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// A reqwest error as an SSE transport error (see [`describe`]).
fn http_error(error: reqwest::Error) -> SseError {
    SseError::Http(describe(error))
}

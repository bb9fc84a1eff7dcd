//! The upstream session an rmcp streamable HTTP client holds, as the direct lane needs it
//! to send requests on that same session: its `Mcp-Session-Id` and the headers rmcp sends
//! with it (the record's own, and `MCP-Protocol-Version` once negotiated).
//!
//! rmcp keeps both inside its transport worker; [`RecordingClient`] is rmcp's reqwest
//! client with a note of the session of the last message it posted. A client's own
//! session (`downstream::owned`) is then one upstream session, whichever path a request
//! takes: rmcp's for most methods and its GET stream, the lane's for tool calls.

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwapOption;
use futures::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::{Error as SseError, Sse};

use crate::protocol::header;

/// The session rmcp last posted on, with every header a request on it carries, and
/// whether rmcp's GET stream on it has been answered.
#[derive(Debug)]
pub struct SeenSession {
    headers: ArcSwapOption<SessionHeaders>,
    /// `true` once the upstream answered rmcp's GET (or refused it: then it has no
    /// such stream to wait for).
    stream_answered: tokio::sync::watch::Sender<bool>,
}

impl Default for SeenSession {
    fn default() -> Self {
        Self {
            headers: ArcSwapOption::empty(),
            stream_answered: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// The headers of a request on one upstream session (its id among them, if it has one).
#[derive(Debug)]
pub struct SessionHeaders {
    pub headers: HeaderMap,
}

impl SeenSession {
    /// The session rmcp holds now, if the handshake has given it one.
    pub fn current(&self) -> Option<Arc<SessionHeaders>> {
        self.headers.load_full()
    }

    /// Waits (at most `within`) until the upstream has answered rmcp's GET on a session
    /// that has an id: until then, a request the upstream sends outside a call has no
    /// stream to go on, and an upstream may drop it (the TypeScript SDK does). A session
    /// without an id (the 2026-07-28 revision) has no such stream.
    pub async fn stream_ready(&self, within: std::time::Duration) {
        if self.current().is_none() {
            return;
        }
        let mut answered = self.stream_answered.subscribe();
        let _ = tokio::time::timeout(within, answered.wait_for(|answered| *answered)).await;
    }

    /// Notes the session of a message rmcp posts (unchanged sessions cost a load).
    fn note(&self, session_id: &Arc<str>, custom: &HashMap<HeaderName, HeaderValue>) {
        if let Some(seen) = self.headers.load().as_ref()
            && seen
                .headers
                .get(header::SESSION_ID)
                .map(HeaderValue::as_bytes)
                == Some(session_id.as_bytes())
            && seen.headers.len() == custom.len() + 3
        {
            return;
        }
        let mut headers: HeaderMap = custom.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let Ok(id) = HeaderValue::from_str(session_id) else {
            return;
        };
        headers.insert(header::SESSION_ID, id);
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.headers
            .store(Some(Arc::new(SessionHeaders { headers })));
    }
}

/// rmcp's reqwest client, noting the session of every message it posts.
#[derive(Clone)]
pub struct RecordingClient {
    inner: reqwest::Client,
    seen: Arc<SeenSession>,
}

impl RecordingClient {
    pub fn new(inner: reqwest::Client) -> (Self, Arc<SeenSession>) {
        let seen = Arc::new(SeenSession::default());
        let client = Self {
            inner,
            seen: seen.clone(),
        };
        (client, seen)
    }

    fn note(&self, session_id: &Option<Arc<str>>, custom: &HashMap<HeaderName, HeaderValue>) {
        if let Some(id) = session_id {
            self.seen.note(id, custom);
        }
    }
}

type Posted = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;
type Streamed =
    Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>;

impl StreamableHttpClient for RecordingClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Posted {
        self.note(&session_id, &custom_headers);
        self.inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Posted {
        self.note(&session_id, &custom_headers);
        self.inner
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Posted {
        self.note(&session_id, &custom_headers);
        self.inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        // The lane must not post on a session that is being ended.
        self.seen.headers.store(None);
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Streamed {
        let stream = self
            .inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await;
        self.seen.stream_answered.send_replace(true);
        stream
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Streamed {
        let stream = self
            .inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.seen.stream_answered.send_replace(true);
        stream
    }
}

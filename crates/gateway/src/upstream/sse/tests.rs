//! The SSE transport against a tiny in-test axum server on 127.0.0.1.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use bytes::Bytes;
use rmcp::{
    model::ClientJsonRpcMessage,
    service::{ClientLifecycleMode, ClientServiceExt as _},
    transport::Transport as _,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq)]
enum PostMode {
    /// 202, answer on the stream (the usual legacy behaviour).
    Stream,
    /// 200, answer as the JSON body.
    Body,
    /// 500.
    Fail,
}

#[derive(Clone)]
struct Config {
    /// The `endpoint` event's data; `None` never sends one.
    endpoint: Option<String>,
    get_status: StatusCode,
    get_body: String,
    get_type: &'static str,
    post_mode: PostMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            endpoint: Some("/messages?sessionId=abc".into()),
            get_status: StatusCode::OK,
            get_body: String::new(),
            get_type: "text/event-stream; charset=utf-8",
            post_mode: PostMode::Stream,
        }
    }
}

/// A fake legacy SSE server that records what it received.
struct Mock {
    addr: SocketAddr,
    config: Config,
    gets: Mutex<Vec<HeaderMap>>,
    posts: Mutex<Vec<(HeaderMap, Value)>>,
    /// Feeds the open event stream; dropping it ends the stream.
    stream: Mutex<Option<mpsc::Sender<Bytes>>>,
}

impl Mock {
    async fn start(config: Config) -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mock = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            config,
            gets: Mutex::default(),
            posts: Mutex::default(),
            stream: Mutex::default(),
        });
        let app = Router::new()
            .route("/sse", get(open_stream))
            .route("/messages", post(on_post))
            .with_state(mock.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        mock
    }

    async fn connect_with(
        &self,
        headers: HeaderMap,
        limits: Limits,
    ) -> Result<SseClientTransport, SseError> {
        let url = format!("http://{}/sse", self.addr);
        SseClientTransport::connect_with(reqwest::Client::new(), &url, headers, limits).await
    }

    async fn connect(&self) -> SseClientTransport {
        let limits = Limits {
            endpoint_timeout: WAIT,
            ..Limits::default()
        };
        self.connect_with(HeaderMap::new(), limits).await.unwrap()
    }

    fn sender(&self) -> mpsc::Sender<Bytes> {
        self.stream
            .lock()
            .unwrap()
            .clone()
            .expect("no open event stream")
    }

    /// Writes raw bytes to the event stream.
    async fn push(&self, raw: impl Into<String>) {
        self.sender().send(Bytes::from(raw.into())).await.unwrap();
    }

    fn end_stream(&self) {
        self.stream.lock().unwrap().take();
    }
}

async fn open_stream(State(mock): State<Arc<Mock>>, headers: HeaderMap) -> Response {
    mock.gets.lock().unwrap().push(headers);
    let config = &mock.config;
    if config.get_status != StatusCode::OK {
        return (config.get_status, config.get_body.clone()).into_response();
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    if let Some(endpoint) = &config.endpoint {
        tx.try_send(format!("event: endpoint\ndata: {endpoint}\n\n").into())
            .unwrap();
    }
    *mock.stream.lock().unwrap() = Some(tx);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    (
        [(header::CONTENT_TYPE, config.get_type)],
        Body::from_stream(body),
    )
        .into_response()
}

async fn on_post(
    State(mock): State<Arc<Mock>>,
    headers: HeaderMap,
    Json(message): Json<Value>,
) -> Response {
    mock.posts.lock().unwrap().push((headers, message.clone()));
    let answer = answer(&message);
    match (mock.config.post_mode, answer) {
        (PostMode::Fail, _) => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        (PostMode::Body, Some(answer)) => Json(answer).into_response(),
        (PostMode::Stream, Some(answer)) => {
            mock.push(format!("event: message\ndata: {answer}\n\n"))
                .await;
            (StatusCode::ACCEPTED, "Accepted").into_response()
        }
        (_, None) => (StatusCode::ACCEPTED, "Accepted").into_response(),
    }
}

/// A minimal MCP server: enough for a handshake and `tools/list`.
fn answer(message: &Value) -> Option<Value> {
    let id = message.get("id")?;
    let result = match message["method"].as_str()? {
        "initialize" => json!({
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mock", "version": "0"},
        }),
        "tools/list" => json!({"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}),
        _ => json!({}),
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn ping(id: u32) -> ClientJsonRpcMessage {
    serde_json::from_value(json!({"jsonrpc": "2.0", "id": id, "method": "ping"})).unwrap()
}

fn id_of(message: &ServerJsonRpcMessage) -> Value {
    serde_json::to_value(message).unwrap()["id"].clone()
}

async fn recv(transport: &mut SseClientTransport) -> Option<ServerJsonRpcMessage> {
    tokio::time::timeout(WAIT, transport.receive())
        .await
        .expect("receive timed out")
}

/// Whether the server sees the client go away: writes fail once the connection is gone.
async fn stream_closes(tx: mpsc::Sender<Bytes>) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if tx.send(Bytes::from_static(b": ping\n\n")).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[test]
fn endpoint_is_resolved_and_must_stay_same_origin() {
    let base = Url::parse("http://h:8080/mcp/sse?x=1").unwrap();
    let ok = |data: &str| resolve_endpoint(&base, data).unwrap().to_string();
    assert_eq!(
        ok("/messages?sessionId=a"),
        "http://h:8080/messages?sessionId=a"
    );
    assert_eq!(ok("messages?s=1"), "http://h:8080/mcp/messages?s=1");
    assert_eq!(ok(" http://h:8080/m \n"), "http://h:8080/m");
    for other in [
        "http://h:8081/m",
        "https://h:8080/m",
        "http://evil:8080/m",
        "//evil/m",
        "data:,x",
    ] {
        let err = resolve_endpoint(&base, other).unwrap_err();
        assert!(
            matches!(err, SseError::CrossOriginEndpoint(_)),
            "{other}: {err}"
        );
    }
}

#[test]
fn decode_keeps_messages_and_skips_the_rest() {
    let event = |name: &'static str, data: &'static str| Event {
        event: name.as_bytes(),
        data: data.as_bytes(),
        id: None,
        retry: None,
    };
    let message = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#;
    assert!(decode(event("message", message)).is_some());
    assert!(decode(event("ping", message)).is_none());
    assert!(decode(event("endpoint", "/again")).is_none());
    assert!(decode(event("message", "not json")).is_none());
    assert!(decode(event("message", "")).is_none());
    assert!(decode(event("message", " \r\n")).is_none());
}

#[test]
fn snippet_is_bounded_on_a_char_boundary() {
    assert_eq!(snippet("short"), "short");
    let long = "é".repeat(1000);
    assert_eq!(snippet(&long).chars().count(), LOG_SNIPPET);
}

#[tokio::test]
async fn relative_endpoint_is_resolved_against_the_sse_url() {
    let mock = Mock::start(Config::default()).await;
    let transport = mock.connect().await;
    let expected = format!("http://{}/messages?sessionId=abc", mock.addr);
    assert_eq!(transport.endpoint().unwrap().as_str(), expected);
}

#[tokio::test]
async fn message_round_trip_over_the_stream() {
    let mock = Mock::start(Config::default()).await;
    let mut transport = mock.connect().await;
    transport.send(ping(1)).await.unwrap();
    let answer = recv(&mut transport).await.unwrap();
    assert_eq!(id_of(&answer), 1);
    let posts = mock.posts.lock().unwrap();
    assert_eq!(
        posts[0].1,
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    );
    assert_eq!(posts[0].0[header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn answer_in_the_post_body_is_accepted() {
    let mock = Mock::start(Config {
        post_mode: PostMode::Body,
        ..Config::default()
    })
    .await;
    let mut transport = mock.connect().await;
    transport.send(ping(2)).await.unwrap();
    assert_eq!(id_of(&recv(&mut transport).await.unwrap()), 2);
}

#[tokio::test]
async fn auth_headers_reach_get_and_post() {
    let mock = Mock::start(Config::default()).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer s3cret"),
    );
    headers.insert("x-api-key", HeaderValue::from_static("k3y"));
    headers.insert("x-extra", HeaderValue::from_static("e"));
    let mut transport = mock.connect_with(headers, Limits::default()).await.unwrap();
    transport.send(ping(1)).await.unwrap();

    let get = mock.gets.lock().unwrap()[0].clone();
    let post = mock.posts.lock().unwrap()[0].0.clone();
    for seen in [&get, &post] {
        assert_eq!(seen[header::AUTHORIZATION], "Bearer s3cret");
        assert_eq!(seen["x-api-key"], "k3y");
        assert_eq!(seen["x-extra"], "e");
    }
    assert_eq!(get[header::ACCEPT], "text/event-stream");
}

#[tokio::test]
async fn cross_origin_endpoint_is_refused() {
    let mock = Mock::start(Config {
        endpoint: Some("http://127.0.0.2:1/messages?sessionId=abc".into()),
        ..Config::default()
    })
    .await;
    let err = mock
        .connect_with(HeaderMap::new(), Limits::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SseError::CrossOriginEndpoint(_)), "{err}");
    assert!(err.to_string().contains("http://127.0.0.2:1"), "{err}");
}

#[tokio::test]
async fn error_status_on_get_is_reported_with_a_bounded_snippet() {
    let mock = Mock::start(Config {
        get_status: StatusCode::UNAUTHORIZED,
        get_body: format!("denied\n{}", "x".repeat(100_000)),
        ..Config::default()
    })
    .await;
    let err = mock
        .connect_with(HeaderMap::new(), Limits::default())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, SseError::Status { .. }), "{text}");
    assert!(
        text.contains("401 Unauthorized") && text.contains("denied xxx"),
        "{text}"
    );
    assert!(text.len() < 400, "{text}");
}

#[tokio::test]
async fn connection_error_names_the_cause_but_not_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/sse?token=s3cret");
    let err = SseClientTransport::connect(reqwest::Client::new(), &url, HeaderMap::new())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, SseError::Http(_)), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test]
async fn non_event_stream_answer_is_refused() {
    let mock = Mock::start(Config {
        get_type: "application/json",
        ..Config::default()
    })
    .await;
    let err = mock
        .connect_with(HeaderMap::new(), Limits::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SseError::NotEventStream(_)), "{err}");
}

#[tokio::test]
async fn missing_endpoint_event_times_out() {
    let mock = Mock::start(Config {
        endpoint: None,
        ..Config::default()
    })
    .await;
    let limits = Limits {
        endpoint_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = mock
        .connect_with(HeaderMap::new(), limits)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SseError::EndpointTimeout(_)), "{err}");
}

#[tokio::test]
async fn error_status_on_post_is_reported() {
    let mock = Mock::start(Config {
        post_mode: PostMode::Fail,
        ..Config::default()
    })
    .await;
    let mut transport = mock.connect().await;
    let err = transport.send(ping(1)).await.unwrap_err();
    assert!(matches!(err, SseError::PostStatus { .. }), "{err}");
    assert!(
        err.to_string().contains("500 Internal Server Error: boom"),
        "{err}"
    );
}

#[tokio::test]
async fn junk_keep_alives_and_other_events_are_skipped() {
    let mock = Mock::start(Config::default()).await;
    let mut transport = mock.connect().await;
    mock.push(": keep-alive\n\n").await;
    mock.push("event: ping\ndata: {}\n\n").await;
    mock.push("data: not json\n\n").await;
    mock.push("data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n")
        .await;
    let message = recv(&mut transport).await.unwrap();
    let message = serde_json::to_value(&message).unwrap();
    assert_eq!(message["method"], "notifications/tools/list_changed");
}

#[tokio::test]
async fn stream_end_ends_the_session() {
    let mock = Mock::start(Config::default()).await;
    let mut transport = mock.connect().await;
    mock.end_stream();
    assert!(recv(&mut transport).await.is_none());
    assert!(recv(&mut transport).await.is_none(), "stays ended");
}

#[tokio::test]
async fn oversize_event_ends_the_session() {
    let mock = Mock::start(Config::default()).await;
    let limits = Limits {
        max_event_size: 1024,
        ..Limits::default()
    };
    let mut transport = mock.connect_with(HeaderMap::new(), limits).await.unwrap();
    mock.push("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
        .await;
    let huge = "a".repeat(4096);
    mock.push(format!(
        "data: {{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{{\"x\":\"{huge}\"}}}}\n\n"
    ))
    .await;
    assert_eq!(id_of(&recv(&mut transport).await.unwrap()), 1);
    assert!(recv(&mut transport).await.is_none());
}

#[tokio::test]
async fn close_ends_the_get_stream() {
    let mock = Mock::start(Config::default()).await;
    let mut transport = mock.connect().await;
    transport.close().await.unwrap();
    assert!(recv(&mut transport).await.is_none());
    assert!(matches!(
        transport.send(ping(1)).await,
        Err(SseError::Closed)
    ));
    assert!(stream_closes(mock.sender()).await);
}

#[tokio::test]
async fn drop_ends_the_get_stream() {
    let mock = Mock::start(Config::default()).await;
    drop(mock.connect().await);
    assert!(stream_closes(mock.sender()).await);
}

#[tokio::test]
async fn rmcp_client_runs_over_the_transport() {
    let mock = Mock::start(Config::default()).await;
    let transport = mock.connect().await;
    let client = tokio::time::timeout(
        WAIT,
        ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize),
    )
    .await
    .unwrap()
    .unwrap();
    let tools = tokio::time::timeout(WAIT, client.list_all_tools())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tools[0].name, "echo");
    client.cancel().await.unwrap();
    assert!(
        stream_closes(mock.sender()).await,
        "cancel closes the transport"
    );
}

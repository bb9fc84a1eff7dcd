//! The SSE routes without sockets and on paused time: session limits, the init and idle
//! limits, a client that stops reading, a full queue, disconnects and shutdown.

use std::time::Duration;

use axum::{
    body::{Body, BodyDataStream},
    http::{Method, Request, StatusCode},
};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::ServiceExt;

use super::*;
use crate::config::Settings;

async fn setup(limits: Limits) -> (Router, Arc<Gateway>, Arc<Sessions>) {
    let gateway = Gateway::start(Settings::default()).await.unwrap();
    let sessions = Arc::new(Sessions::default());
    let app = router(gateway.clone(), sessions.clone(), limits).with_state(gateway.clone());
    (app, gateway, sessions)
}

fn limits() -> Limits {
    Limits::new(4)
}

/// A request as the front door passes it on: authenticated (here as the operator of a
/// keyless gateway).
fn request(method: Method, uri: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost:4000")
        .extension(crate::access::Identity::Loopback)
        .body(body)
        .unwrap()
}

/// An open event stream, read event by event (keep-alive comments skipped).
struct Events {
    body: BodyDataStream,
    buffer: String,
}

impl Events {
    async fn open(app: &Router) -> (Self, String) {
        let res = app
            .clone()
            .oneshot(request(Method::GET, "/sse", Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let mut events = Self {
            body: res.into_body().into_data_stream(),
            buffer: String::new(),
        };
        let (event, data) = events.next().await.expect("endpoint event");
        assert_eq!(event, "endpoint");
        (events, data)
    }

    /// The next `(event, data)`; `None` when the stream ends.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                if !event.is_empty() {
                    return Some((event, data));
                }
                continue;
            }
            let chunk = self.body.next().await?.unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn message(&mut self) -> Value {
        let (event, data) = self.next().await.expect("a message");
        assert_eq!(event, "message");
        serde_json::from_str(&data).unwrap()
    }
}

async fn post(app: &Router, endpoint: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(request(
            Method::POST,
            endpoint,
            Body::from(body.to_string()),
        ))
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "unit", "version": "1"}}})
}

async fn handshake(app: &Router, endpoint: &str, events: &mut Events) {
    assert_eq!(
        post(app, endpoint, initialize()).await.0,
        StatusCode::ACCEPTED
    );
    let answer = events.message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(app, endpoint, initialized).await.0,
        StatusCode::ACCEPTED
    );
}

/// Lets spawned tasks run (time is paused: this does not wait for real).
async fn settle(sessions: &Sessions, expected: usize) {
    for _ in 0..100 {
        if sessions.len() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {expected} sessions, have {}", sessions.len());
}

#[tokio::test(start_paused = true)]
async fn a_session_answers_on_its_stream_and_ends_with_it() {
    let (app, _gateway, sessions) = setup(limits()).await;
    let (mut events, endpoint) = Events::open(&app).await;
    let id = endpoint.strip_prefix("/messages?sessionId=").unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    handshake(&app, &endpoint, &mut events).await;
    let ping = json!({"jsonrpc": "2.0", "id": "p", "method": "ping"});
    assert_eq!(post(&app, &endpoint, ping).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        events.message().await,
        json!({"jsonrpc": "2.0", "id": "p", "result": {}})
    );
    // A quiet stream carries keep-alive comments.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let chunk = events.body.next().await.unwrap().unwrap();
    assert!(chunk.starts_with(b":"), "{chunk:?}");

    drop(events);
    settle(&sessions, 0).await;
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let (status, body) = post(&app, &endpoint, ping).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "session_not_found");
}

#[tokio::test(start_paused = true)]
async fn sessions_are_limited() {
    let (app, _gateway, sessions) = setup(Limits::new(2)).await;
    let first = Events::open(&app).await;
    let _second = Events::open(&app).await;
    let res = app
        .clone()
        .oneshot(request(Method::GET, "/sse", Body::empty()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 4096).await.unwrap())
            .unwrap();
    assert_eq!(body["error"]["code"], "too_many_sessions");
    drop(first);
    settle(&sessions, 1).await;
    let _third = Events::open(&app).await;
}

#[tokio::test(start_paused = true)]
async fn a_session_without_initialize_is_closed() {
    let (app, _gateway, sessions) = setup(limits()).await;
    let started = Instant::now();
    let (mut events, _) = Events::open(&app).await;
    assert!(events.next().await.is_none(), "the stream ends");
    assert!(started.elapsed() >= limits().init_timeout);
    settle(&sessions, 0).await;
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_closed() {
    let (app, _gateway, sessions) = setup(limits()).await;
    let (mut events, endpoint) = Events::open(&app).await;
    handshake(&app, &endpoint, &mut events).await;
    // Activity postpones the limit.
    tokio::time::sleep(limits().idle_timeout / 2).await;
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    assert_eq!(post(&app, &endpoint, ping).await.0, StatusCode::ACCEPTED);
    assert_eq!(events.message().await["id"], 3);
    let last = Instant::now();
    assert!(events.next().await.is_none(), "the stream ends");
    let idle = last.elapsed();
    assert!(
        idle >= limits().idle_timeout && idle < limits().idle_timeout + Duration::from_secs(5),
        "{idle:?}"
    );
    settle(&sessions, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped() {
    let limits = Limits {
        outbound_queue: 1,
        ..limits()
    };
    let (app, _gateway, sessions) = setup(limits).await;
    let (mut events, endpoint) = Events::open(&app).await;
    handshake(&app, &endpoint, &mut events).await;
    // Nobody reads `events` any more: one answer fits the queue, the next waits.
    for id in 10..13 {
        let ping = json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
        assert_eq!(post(&app, &endpoint, ping).await.0, StatusCode::ACCEPTED);
    }
    tokio::time::sleep(limits.stall_timeout + Duration::from_secs(1)).await;
    settle(&sessions, 0).await;
    drop(events);
}

#[tokio::test(start_paused = true)]
async fn a_flooded_session_answers_429() {
    let (app, _gateway, sessions) = setup(limits()).await;
    let _rx = sessions.insert_unserved("flooded", 2);
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let endpoint = "/messages?sessionId=flooded";
    for _ in 0..2 {
        assert_eq!(
            post(&app, endpoint, ping.clone()).await.0,
            StatusCode::ACCEPTED
        );
    }
    let (status, body) = post(&app, endpoint, ping).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "too_many_messages");
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_every_session() {
    let (app, gateway, sessions) = setup(limits()).await;
    let (mut a, endpoint) = Events::open(&app).await;
    handshake(&app, &endpoint, &mut a).await;
    let (mut b, _) = Events::open(&app).await;
    gateway.shutdown_token().cancel();
    assert!(a.next().await.is_none());
    assert!(b.next().await.is_none());
    settle(&sessions, 0).await;
}

#[test]
fn bodies_that_are_not_one_message_are_refused() {
    let code = |body: &[u8]| parse(body).err().map(|e| (e.status, e.code, e.message));
    let (status, code_, _) = code(b"{nope").unwrap();
    assert_eq!((status, code_), (StatusCode::BAD_REQUEST, "invalid_json"));
    for (body, reason) in [
        (
            &br#"[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]"#[..],
            "batches",
        ),
        (br#"{"id": 1, "method": "ping"}"#, "jsonrpc"),
        (br#""ping""#, "object"),
        (br#"{"jsonrpc": "2.0", "id": {}, "method": "ping"}"#, ""),
    ] {
        let (status, code_, message) = code(body).unwrap();
        assert_eq!(
            (status, code_),
            (StatusCode::BAD_REQUEST, "invalid_message"),
            "{message}"
        );
        assert!(message.contains(reason), "{message}");
    }
    assert!(code(br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#).is_none());
    assert!(code(br#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#).is_none());
    assert!(code(br#"{"jsonrpc": "2.0", "id": 7, "result": {}}"#).is_none());
}

#[test]
fn session_ids_come_from_the_query() {
    assert_eq!(session_id(Some("sessionId=abc")).as_deref(), Some("abc"));
    assert_eq!(
        session_id(Some("x=1&sessionId=a%20b")).as_deref(),
        Some("a b")
    );
    assert_eq!(session_id(Some("session_id=abc")), None);
    assert_eq!(session_id(None), None);
}

//! Size and time limits on every route, over real sockets: `gateway.max_body_bytes`
//! (413) and `gateway.request_timeout_secs` (408 for a body that does not arrive in time),
//! while long answers — event streams, slow tool calls — are not cut by the timeout.

mod common;

use std::time::{Duration, Instant};

use mcp_gateway::config::Settings;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: usize = 2048;

/// The POST/PUT routes that take a body, with a body each accepts in form.
fn body_routes() -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/mcp/servers".into()),
        ("PUT", "/mcp/servers/fx".into()),
        ("POST", "/mcp/tools/call".into()),
        ("POST", "/mcp".into()),
        ("POST", "/mcp/servers/fx/mcp".into()),
    ]
}

async fn gateway(
    timeout_secs: u64,
) -> (
    mcp_gateway_testkit::FixtureHandle,
    mcp_gateway::app::Running,
) {
    let fixture = mcp_gateway_testkit::spawn_http(Default::default()).await;
    let running = common::started(Settings {
        max_body_bytes: LIMIT,
        request_timeout: Duration::from_secs(timeout_secs),
        ..Settings::default()
    })
    .await;
    let record = common::record(json!({"server_id": "fx", "url": fixture.url()}));
    running.gateway.register(record).await.unwrap();
    common::wait_healthy(&running.gateway, "fx").await;
    (fixture, running)
}

/// Opens a legacy SSE session; returns the stream and its `/messages?sessionId=…` path.
async fn sse_session(base: &str) -> (reqwest::Response, String) {
    let mut stream = reqwest::Client::new()
        .get(format!("{base}/sse"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let path = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .to_owned();
    (stream, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_route_refuses_oversized_bodies() {
    let (_fixture, running) = gateway(30).await;
    let base = format!("http://{}", running.addr);
    let (_stream, messages) = sse_session(&base).await;
    let mut routes = body_routes();
    routes.push(("POST", messages));
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "ping",
                     "server_id": "x", "params": {"pad": "x".repeat(LIMIT * 2)}})
    .to_string();
    let http = reqwest::Client::new();
    for (method, path) in routes {
        let res = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413, "{method} {path}");
    }
    running.shutdown().await.unwrap();
}

/// Sends the request head and part of the body over a raw socket, then stalls; returns the
/// status line and body of the answer and how long it took.
async fn stalled(addr: std::net::SocketAddr, method: &str, path: &str) -> (String, Duration) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\ncontent-length: 500\r\n\r\n{{\"jsonrpc\""
    );
    let started = Instant::now();
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the answer's body is complete (or the connection closes).
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), socket.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{method} {path}: no answer to a stalled body"))
            .unwrap();
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_route_times_out_a_stalled_body() {
    let (_fixture, running) = gateway(1).await;
    let base = format!("http://{}", running.addr);
    let (_stream, messages) = sse_session(&base).await;
    let mut routes = body_routes();
    routes.push(("POST", messages));
    for (method, path) in routes {
        let (answer, took) = stalled(running.addr, method, &path).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{method} {path}: {answer}"
        );
        assert!(
            answer.contains("\"request_timeout\""),
            "{method} {path}: {answer}"
        );
        assert!(
            took >= Duration::from_millis(900),
            "{method} {path}: {took:?}"
        );
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_answers_outlive_the_request_timeout() {
    let (_fixture, running) = gateway(1).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    // A legacy SSE stream stays open past the timeout and still carries answers.
    let (mut stream, messages) = sse_session(&base).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "limits", "version": "1"}}});
    let res = http
        .post(format!("{base}{messages}"))
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let mut text = String::new();
    while !text.contains("\"id\":1") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("the stream is still served")
            .unwrap()
            .expect("the stream is open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }

    // A tool call that takes longer than the timeout, over REST and over MCP.
    let res = http
        .post(format!("{base}/mcp/tools/call"))
        .json(&json!({"name": "fx__slow", "arguments": {"ms": 2000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "slept 2000ms", "{body}");

    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "fx__slow", "arguments": {"ms": 2000},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let res = http
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "fx__slow")
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.contains("slept 2000ms"), "{text}");
    running.shutdown().await.unwrap();
}

/// A client that never finishes its request head (slowloris) is disconnected after the
/// timeout; one that keeps sending its head in time is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_disconnected() {
    let running = common::started(Settings {
        request_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    let mut socket = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let started = Instant::now();
    socket
        .write_all(b"GET /health/liveliness HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut buf))
        .await
        .expect("the gateway closes the connection")
        .ok();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let answer = String::from_utf8_lossy(&buf);
    assert!(!answer.contains("alive"), "{answer}");

    // The same request, completed: answered.
    let res = reqwest::get(format!("http://{}/health/liveliness", running.addr))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    running.shutdown().await.unwrap();
}

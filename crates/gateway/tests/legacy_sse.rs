//! The legacy HTTP+SSE face (`GET /sse`, `POST /messages?sessionId=…`) over real sockets on
//! loopback: driven by the gateway's own SSE client transport with an rmcp client, by the
//! official Python SDK's SSE client, and by raw HTTP for the wire format and the errors.

mod common;

use std::time::Duration;

use common::*;
use http::HeaderMap;
use mcp_gateway::{app, config::Settings, secret::Secret, upstream::sse::SseClientTransport};
use mcp_gateway_testkit::{
    FixtureHandle, FixtureOptions, interop_dir, python_bin_or_skip, spawn_http,
};
use rmcp::{
    ClientHandler, RoleClient,
    model::{CallToolRequestParams, ReadResourceRequestParams},
    service::{ClientLifecycleMode, ClientServiceExt, NotificationContext},
};
use serde_json::{Value, json};
use tokio::{process::Command, sync::mpsc};

const WAIT: Duration = Duration::from_secs(10);

/// A gateway on a free loopback port with one fixture upstream, `fx`, healthy.
async fn started(settings: Settings) -> (app::Running, FixtureHandle) {
    let (fixture, running) = with_fixture_in(settings, "fx", FixtureOptions::default()).await;
    (running, fixture)
}

/// Records `notifications/tools/list_changed`.
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<()>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(());
    }
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_value(result).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rmcp_client_over_the_gateways_sse_client_transport() {
    let (running, _fixture) = started(Settings::default()).await;
    let url = format!("http://{}/sse", running.addr);
    let transport = SseClientTransport::connect(reqwest::Client::new(), &url, HeaderMap::new())
        .await
        .expect("the SSE stream opens");
    let (changes, mut changed) = mpsc::unbounded_channel();
    let client = tokio::time::timeout(
        WAIT,
        Watcher(changes).serve_with_lifecycle(transport, ClientLifecycleMode::Initialize),
    )
    .await
    .unwrap()
    .expect("initialize over SSE");
    assert_eq!(
        client
            .peer_info()
            .unwrap()
            .server_info
            .as_ref()
            .unwrap()
            .name,
        "mcp-gateway"
    );

    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(names.contains(&"fx__echo".to_owned()), "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("fx__")), "{names:?}");

    let result = client
        .call_tool(
            CallToolRequestParams::new("fx__echo")
                .with_arguments(json!({"message": "over sse"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(text(&result), "over sse");

    let read = client
        .read_resource(ReadResourceRequestParams::new("fixture://items/42"))
        .await
        .unwrap();
    assert!(serde_json::to_string(&read).unwrap().contains("item 42"));
    let resources = client.list_all_resources().await.unwrap();
    assert!(resources.iter().any(|r| r.uri == "fixture://readme"));

    let err = client
        .call_tool(CallToolRequestParams::new("nope__echo"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown tool"), "{err}");

    // Notifications reach the stream too: a new server changes the tool list.
    let late = spawn_http(FixtureOptions::default().with_prefix("late_")).await;
    running
        .gateway
        .register(record(json!({"server_id": "late", "url": late.url()})))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, changed.recv())
        .await
        .expect("tools/list_changed within 10 s");
    eventually(WAIT, "the new tools are listed", || async {
        client
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "late__late_echo")
    })
    .await;

    client.cancel().await.unwrap();
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn python_sdk_sse_client() {
    let Some(python) = python_bin_or_skip("python") else {
        return;
    };
    let (running, _fixture) = started(Settings::default()).await;
    let script = interop_dir().join("clients").join("python_sse.py");
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(&python)
            .arg(&script)
            .arg(format!("http://{}/sse", running.addr))
            .arg("fx")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script finished within 90 s")
    .expect("the script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && !stdout.contains("FAIL"),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok sse tools/call"), "{stdout}");
    running.shutdown().await.unwrap();
}

/// An open `GET /sse` response, read event by event.
struct Stream;

impl Stream {
    async fn open(url: &str) -> (common::sse::EventStream, String) {
        let response = reqwest::Client::new().get(url).send().await.unwrap();
        common::sse::EventStream::open(response).await
    }
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn wire_format_errors_limits_and_cleanup() {
    let (running, _fixture) = started(Settings {
        max_body_bytes: 2048,
        max_sse_sessions: 1,
        ..Settings::default()
    })
    .await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let (mut stream, endpoint) = Stream::open(&format!("{base}/sse")).await;
    let id = endpoint
        .strip_prefix("/messages?sessionId=")
        .expect("a relative /messages URI");
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let messages = format!("{base}{endpoint}");

    // A message is accepted with 202 and an empty body; its answer comes on the stream.
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let res = http
        .post(&messages)
        .header("origin", "http://localhost:3000")
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    assert!(res.bytes().await.unwrap().is_empty());
    let block = stream.next_block().await;
    let data = block
        .strip_prefix("event: message\ndata: ")
        .unwrap_or_else(|| panic!("a message event: {block:?}"));
    let answer: Value = serde_json::from_str(data).unwrap();
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 7, "result": {}}));

    let post = |url: String, body: Vec<u8>| {
        http.post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let ping_bytes = ping.to_string().into_bytes();
    // As the Python SDK's SSE server answers: an unknown session is 404, none at all 400.
    let unknown = format!("{base}/messages?sessionId=00000000000000000000000000000000");
    let res = post(unknown, ping_bytes.clone()).await.unwrap();
    assert_eq!(error_code(res).await, (404, "session_not_found".into()));
    let res = post(format!("{base}/messages"), ping_bytes.clone())
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (400, "missing_session_id".into()));
    let res = post(messages.clone(), b"{not json".to_vec()).await.unwrap();
    assert_eq!(error_code(res).await, (400, "invalid_json".into()));
    let res = post(messages.clone(), br#"{"hello": "world"}"#.to_vec())
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_message");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("jsonrpc"),
        "{body}"
    );
    let big =
        json!({"jsonrpc": "2.0", "id": 8, "method": "ping", "params": {"pad": "x".repeat(4096)}});
    let res = post(messages.clone(), big.to_string().into_bytes())
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (413, "body_too_large".into()));

    // Browsers from other origins are refused, on both routes.
    let res = http
        .get(format!("{base}/sse"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (403, "origin_not_allowed".into()));
    let res = http
        .post(&messages)
        .header("origin", "https://evil.example")
        .json(&ping)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (403, "origin_not_allowed".into()));
    // Without a master key, only loopback names are answered (DNS rebinding).
    let res = http
        .get(format!("{base}/sse"))
        .header("host", "rebound.example")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (403, "host_not_allowed".into()));

    // One session at most here.
    let res = http.get(format!("{base}/sse")).send().await.unwrap();
    assert_eq!(error_code(res).await, (503, "too_many_sessions".into()));

    // The client goes away: its session is forgotten and its slot freed.
    drop(stream);
    eventually(WAIT, "the session is removed", || async {
        let res = post(messages.clone(), ping_bytes.clone()).await.unwrap();
        res.status() == 404
    })
    .await;
    let (_again, endpoint) = Stream::open(&format!("{base}/sse")).await;
    assert_ne!(format!("{base}{endpoint}"), messages);
    drop(_again);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_master_key_is_required() {
    let (running, _fixture) = started(Settings {
        master_key: Some(Secret::new("mk")),
        ..Settings::default()
    })
    .await;
    let url = format!("http://{}/sse", running.addr);
    let http = reqwest::Client::new();
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));
    let res = http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(format!("http://{}/messages?sessionId=x", running.addr))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, (401, "unauthorized".into()));

    // With the key on the GET and on every POST, the session works.
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer mk".parse().unwrap());
    let transport = SseClientTransport::connect(reqwest::Client::new(), &url, headers)
        .await
        .expect("the SSE stream opens with the key");
    let client = tokio::time::timeout(
        WAIT,
        ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize),
    )
    .await
    .unwrap()
    .unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "fx__echo"));
    client.cancel().await.unwrap();
    running.shutdown().await.unwrap();
}

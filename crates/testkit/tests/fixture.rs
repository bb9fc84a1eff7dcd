//! The fixture server, exercised with rmcp's client over HTTP (in-process and the binary)
//! and over stdio (the binary), in both protocol eras.

use std::{collections::HashMap, process::Stdio, time::Duration};

use anyhow::Context;

use mcp_gateway_testkit::{
    FixtureOptions, fixture_bin, free_port, npm_bin, python_bin, repo_root, spawn_http,
    wait_for_http,
};
use rmcp::{
    ClientHandler, RoleClient, ServiceError,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig,
        GetPromptRequestParams, Implementation, ProtocolVersion, ReadResourceRequestParams,
        ResourceContents, ServerNotification, SubscriptionFilter,
    },
    service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};

const FIXTURE: &str = env!("CARGO_BIN_EXE_mcp-fixture");
const WAIT: Duration = Duration::from_secs(10);

/// A client handler that reports `tools/list_changed` notifications.
#[derive(Clone)]
struct Client {
    changed: mpsc::UnboundedSender<()>,
}

impl ClientHandler for Client {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changed.send(());
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("testkit-test", "0"),
        )
    }
}

type Session = RunningService<RoleClient, Client>;

fn client() -> (Client, mpsc::UnboundedReceiver<()>) {
    let (changed, rx) = mpsc::unbounded_channel();
    (Client { changed }, rx)
}

fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

fn modern() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

async fn connect_http(
    url: &str,
    headers: &[(&str, &str)],
    mode: ClientLifecycleMode,
) -> anyhow::Result<(Session, mpsc::UnboundedReceiver<()>)> {
    let headers: HashMap<_, _> = headers
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::try_from(*k).unwrap(),
                http::HeaderValue::try_from(*v).unwrap(),
            )
        })
        .collect();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers),
    );
    let (handler, rx) = client();
    let session =
        tokio::time::timeout(WAIT, handler.serve_with_lifecycle(transport, mode)).await??;
    Ok((session, rx))
}

fn spawn_stdio(args: &[&str]) -> Child {
    Command::new(FIXTURE)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mcp-fixture")
}

async fn connect_stdio(
    child: &mut Child,
    mode: ClientLifecycleMode,
) -> anyhow::Result<(Session, mpsc::UnboundedReceiver<()>)> {
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take().expect("stdin");
    let (handler, rx) = client();
    let session =
        tokio::time::timeout(WAIT, handler.serve_with_lifecycle((stdout, stdin), mode)).await??;
    Ok((session, rx))
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("arguments must be an object"),
    }
}

async fn call(
    session: &Session,
    name: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    session
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args(arguments)))
        .await
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("")
}

/// Everything the fixture offers, checked through one session.
async fn exercise(session: &Session, prefix: &str) -> anyhow::Result<()> {
    let p = |n: &str| format!("{prefix}{n}");
    let mut names: Vec<String> = session
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = ["add", "add_tool", "echo", "fail", "slow", "whoami"]
        .iter()
        .map(|n| p(n))
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    let echoed = call(session, &p("echo"), json!({"message": "hello"})).await?;
    assert_eq!(text_of(&echoed), "hello");
    assert_ne!(echoed.is_error, Some(true));
    assert_eq!(
        text_of(&call(session, &p("add"), json!({"a": 2, "b": 3})).await?),
        "5"
    );
    assert_eq!(
        text_of(&call(session, &p("add"), json!({"a": 0.5, "b": 0.25})).await?),
        "0.75"
    );
    assert_eq!(
        text_of(&call(session, &p("slow"), json!({"ms": 20})).await?),
        "slept 20ms"
    );
    let failed = call(session, &p("fail"), json!({})).await?;
    assert_eq!(failed.is_error, Some(true));
    assert!(
        call(session, &p("nope"), json!({})).await.is_err(),
        "unknown tool is a JSON-RPC error"
    );

    let resources = session.list_all_resources().await?;
    assert_eq!(
        resources.iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(),
        ["fixture://readme"]
    );
    let templates = session.list_all_resource_templates().await?;
    assert_eq!(
        templates
            .iter()
            .map(|t| t.uri_template.as_str())
            .collect::<Vec<_>>(),
        ["fixture://items/{id}"]
    );
    let item = session
        .read_resource(ReadResourceRequestParams::new("fixture://items/42"))
        .await?;
    match &item.contents[..] {
        [ResourceContents::TextResourceContents { text, uri, .. }] => {
            assert_eq!(text, "item 42");
            assert_eq!(uri, "fixture://items/42");
        }
        other => panic!("unexpected contents {other:?}"),
    }
    let readme = session
        .read_resource(ReadResourceRequestParams::new("fixture://readme"))
        .await?;
    assert_eq!(readme.contents.len(), 1);
    assert!(
        session
            .read_resource(ReadResourceRequestParams::new("fixture://missing"))
            .await
            .is_err()
    );

    let prompts = session.list_all_prompts().await?;
    assert_eq!(
        prompts.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
        [p("greet")]
    );
    let greeting = session
        .get_prompt(
            GetPromptRequestParams::new(p("greet")).with_arguments(args(json!({"name": "Ada"}))),
        )
        .await?;
    assert_eq!(greeting.messages.len(), 1);
    assert_eq!(
        greeting.messages[0]
            .content
            .as_text()
            .map(|t| t.text.as_str()),
        Some("Hello, Ada!")
    );
    Ok(())
}

#[tokio::test]
async fn http_both_eras() -> anyhow::Result<()> {
    let fixture = spawn_http(FixtureOptions::default()).await;
    assert!(fixture.url().starts_with("http://127.0.0.1:") && fixture.url().ends_with("/mcp"));
    for mode in [legacy(), modern()] {
        let (session, _) = connect_http(fixture.url(), &[], mode).await?;
        exercise(&session, "").await?;
        session.cancel().await?;
    }
    assert_eq!(fixture.server().calls(), 2 * 6);
    fixture.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn http_prefix_extra_tools_and_pages() -> anyhow::Result<()> {
    let fixture = spawn_http(
        FixtureOptions::default()
            .with_prefix("b_")
            .with_extra_tools(7)
            .with_page_size(4),
    )
    .await;
    let (session, _) = connect_http(fixture.url(), &[], modern()).await?;
    let first_page = session.list_tools(None).await?;
    assert_eq!(first_page.tools.len(), 4);
    assert!(first_page.next_cursor.is_some());
    let names: Vec<String> = session
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    assert_eq!(names.len(), 13);
    assert_eq!(names, fixture.server().tool_names());
    assert!(names.iter().all(|n| n.starts_with("b_")));
    assert_eq!(
        text_of(&call(&session, "b_extra_7", json!({})).await?),
        "b_extra_7"
    );
    assert!(
        call(&session, "echo", json!({"message": "x"}))
            .await
            .is_err(),
        "unprefixed names are unknown"
    );
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn http_required_header() -> anyhow::Result<()> {
    let fixture = spawn_http(
        FixtureOptions::default().with_required_header("Authorization", "Bearer sesame"),
    )
    .await;

    // Raw request without the header: 401 with a JSON body.
    let response = reqwest::Client::new()
        .post(fixture.url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await?;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await?;
    assert_eq!(body["error"], "unauthorized");

    // rmcp client: wrong value refused, right value accepted.
    assert!(
        connect_http(
            fixture.url(),
            &[("authorization", "Bearer wrong")],
            legacy()
        )
        .await
        .is_err()
    );
    for mode in [legacy(), modern()] {
        let (session, _) = connect_http(
            fixture.url(),
            &[("authorization", "Bearer sesame"), ("x-extra", "1")],
            mode,
        )
        .await?;
        let who = call(&session, "whoami", json!({})).await?;
        let seen: HashMap<String, String> = serde_json::from_str(&text_of(&who))?;
        assert_eq!(
            seen.get("authorization").map(String::as_str),
            Some("Bearer sesame")
        );
        assert_eq!(seen.get("x-extra").map(String::as_str), Some("1"));
        session.cancel().await?;
    }

    let recorded = fixture.seen_headers();
    assert!(recorded.iter().any(|h| h.get("authorization").is_none()));
    assert!(
        recorded
            .iter()
            .any(|h| h.get("authorization").is_some_and(|v| v == "Bearer sesame"))
    );
    Ok(())
}

#[tokio::test]
async fn http_list_changed_legacy_session() -> anyhow::Result<()> {
    let fixture = spawn_http(FixtureOptions::default()).await;
    let (session, mut changed) = connect_http(fixture.url(), &[], legacy()).await?;
    // Via the tool, then from the test side.
    assert_eq!(
        text_of(&call(&session, "add_tool", json!({})).await?),
        "dynamic_1"
    );
    tokio::time::timeout(WAIT, changed.recv())
        .await?
        .expect("list_changed");
    assert_eq!(fixture.server().add_tool(Some("later")).await, "later");
    tokio::time::timeout(WAIT, changed.recv())
        .await?
        .expect("list_changed");
    let names: Vec<String> = session
        .list_all_tools()
        .await?
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    assert!(names.contains(&"dynamic_1".to_string()) && names.contains(&"later".to_string()));
    assert_eq!(
        text_of(&call(&session, "dynamic_1", json!({"message": "hi"})).await?),
        "dynamic_1: hi"
    );
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn http_list_changed_subscription() -> anyhow::Result<()> {
    let fixture = spawn_http(FixtureOptions::default()).await;
    let (session, _) = connect_http(fixture.url(), &[], modern()).await?;
    let mut subscription = session
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await?;
    assert_eq!(
        text_of(&call(&session, "add_tool", json!({"name": "fresh"})).await?),
        "fresh"
    );
    let note = tokio::time::timeout(WAIT, subscription.next()).await??;
    assert!(
        matches!(
            note,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{note:?}"
    );
    subscription.cancel().await?;
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn stdio_both_eras() -> anyhow::Result<()> {
    for mode in [legacy(), modern()] {
        let mut child = spawn_stdio(&["stdio", "--prefix", "s_"]);
        let (session, _) = connect_stdio(&mut child, mode).await?;
        exercise(&session, "s_").await?;
        let who = call(&session, "s_whoami", json!({})).await?;
        assert_eq!(text_of(&who), "{}");
        session.cancel().await?;
        let status = tokio::time::timeout(WAIT, child.wait()).await??;
        assert!(
            status.success(),
            "fixture exits cleanly when stdin closes: {status}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn stdio_list_changed_legacy_session() -> anyhow::Result<()> {
    let mut child = spawn_stdio(&["stdio"]);
    let (session, mut changed) = connect_stdio(&mut child, legacy()).await?;
    call(&session, "add_tool", json!({})).await?;
    tokio::time::timeout(WAIT, changed.recv())
        .await
        .context("list_changed")?
        .expect("list_changed");
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn stdio_list_changed_subscription() -> anyhow::Result<()> {
    let mut child = spawn_stdio(&["stdio"]);
    let (session, _) = connect_stdio(&mut child, modern()).await?;
    let mut subscription = session
        .listen(SubscriptionFilter::builder().tools_list_changed().build())
        .await?;
    call(&session, "add_tool", json!({})).await?;
    let note = tokio::time::timeout(WAIT, subscription.next())
        .await
        .context("subscription")??;
    assert!(
        matches!(
            note,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{note:?}"
    );
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn stdio_crash_after() -> anyhow::Result<()> {
    let mut child = spawn_stdio(&["--crash-after", "2", "stdio"]);
    let (session, _) = connect_stdio(&mut child, legacy()).await?;
    call(&session, "echo", json!({"message": "1"})).await?;
    call(&session, "echo", json!({"message": "2"})).await?;
    let third = tokio::time::timeout(WAIT, call(&session, "echo", json!({"message": "3"}))).await?;
    assert!(
        third.is_err(),
        "the third call hits a dead process: {third:?}"
    );
    let status = tokio::time::timeout(WAIT, child.wait()).await??;
    assert_eq!(status.code(), Some(1));
    Ok(())
}

#[tokio::test]
async fn binary_over_http() -> anyhow::Result<()> {
    let mut child = Command::new(FIXTURE)
        .args([
            "http",
            "--listen",
            "127.0.0.1:0",
            "--require-header",
            "x-api-key=k1",
            "--name",
            "bin",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await??
        .expect("a listening line");
    let url = line
        .strip_prefix("listening on ")
        .expect("listening on URL")
        .to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    wait_for_http(&url, WAIT).await?;

    assert!(connect_http(&url, &[], legacy()).await.is_err());
    let (session, _) = connect_http(&url, &[("x-api-key", "k1")], modern()).await?;
    assert_eq!(
        session
            .peer_info()
            .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
            .as_deref(),
        Some("bin")
    );
    exercise(&session, "").await?;
    session.cancel().await?;
    child.kill().await?;
    Ok(())
}

#[tokio::test]
async fn harness_helpers() -> anyhow::Result<()> {
    assert!(repo_root().join("Cargo.toml").is_file());
    assert!(repo_root().join("crates/testkit").is_dir());
    assert_ne!(free_port(), 0);
    assert_eq!(fixture_bin(), std::path::PathBuf::from(FIXTURE));
    assert!(npm_bin("no-such-peer").is_none() && python_bin("no-such-peer").is_none());
    let closed = format!("http://127.0.0.1:{}/mcp", free_port());
    assert!(
        wait_for_http(&closed, Duration::from_millis(200))
            .await
            .is_err()
    );
    let fixture = spawn_http(FixtureOptions::default()).await;
    wait_for_http(fixture.url(), WAIT).await?;
    Ok(())
}

#[tokio::test]
async fn legacy_only_refuses_discover() -> anyhow::Result<()> {
    let fixture = spawn_http(FixtureOptions::default().legacy_only()).await;
    assert!(connect_http(fixture.url(), &[], modern()).await.is_err());
    let auto = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    };
    let (session, _) = connect_http(fixture.url(), &[], auto).await?;
    let version = session
        .peer_info()
        .map(|info| info.protocol_version.clone());
    assert_eq!(version, Some(ProtocolVersion::V_2025_11_25));
    assert_eq!(
        text_of(&call(&session, "echo", json!({"message": "old"})).await?),
        "old"
    );
    session.cancel().await?;
    Ok(())
}

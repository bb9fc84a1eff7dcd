//! The `/mcp` endpoint driven by rmcp clients in both protocol eras, with rmcp fixture
//! upstreams behind it: aggregation, pagination, routing of calls, resources (templates
//! included), prompts, list_changed, and the per-server endpoint.

mod common;

use std::time::Duration;

use common::*;
use mcp_gateway::config::Settings;
use mcp_gateway_testkit::{FixtureOptions, spawn_http};
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        CallToolRequestParams, GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams,
    },
    service::{ClientLifecycleMode, ClientServiceExt, NotificationContext, RunningService},
    transport::StreamableHttpClientTransport,
};
use serde_json::json;
use tokio::sync::mpsc;

/// Records list_changed notifications.
#[derive(Clone)]
struct Watcher(mpsc::UnboundedSender<&'static str>);

impl ClientHandler for Watcher {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        let _ = self.0.send("tools");
    }
}

fn eras() -> [(&'static str, ClientLifecycleMode); 2] {
    [
        ("legacy", ClientLifecycleMode::Initialize),
        (
            "2026-07-28",
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    ]
}

async fn client<H: ClientHandler>(
    handler: H,
    url: &str,
    mode: ClientLifecycleMode,
) -> RunningService<RoleClient, H> {
    handler
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_uri(url.to_owned()),
            mode,
        )
        .await
        .expect("client connects to the gateway")
}

/// A raw session-era `initialize` request, for tests that speak HTTP directly.
fn initialize_request() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

/// A session opened with a raw `initialize`: its id.
async fn open_session(http: &reqwest::Client, url: &str) -> String {
    let opened = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A client's `DELETE` of its session: the status it got.
async fn end_session(http: &reqwest::Client, url: &str, session: &str) -> reqwest::StatusCode {
    http.delete(url)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap()
        .status()
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    serde_json::to_value(result).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn aggregates_and_routes_in_both_eras() {
    // More than one page.
    let extra = mcp_gateway::downstream::PAGE_SIZE + 20;
    let a = spawn_http(FixtureOptions::default().with_extra_tools(extra)).await;
    let b = spawn_http(FixtureOptions::default().with_prefix("b_").legacy_only()).await;
    let running = started(Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(record(json!({"server_id": "alpha", "url": a.url()})))
        .await
        .unwrap();
    gw.register(record(json!({"server_id": "beta", "url": b.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "alpha").await;
    wait_healthy(&gw, "beta").await;
    let url = format!("http://{}/mcp", running.addr);

    for (era, mode) in eras() {
        let c = client((), &url, mode).await;
        // 6 + extra + 6 tools: more than one page; every one exactly once.
        let tools = c.list_all_tools().await.unwrap();
        let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names.len(), extra + 12, "{era}");
        names.dedup();
        assert_eq!(names.len(), extra + 12, "{era}: duplicates");
        assert!(
            names.contains(&format!("alpha__extra_{extra}"))
                && names.contains(&"beta__b_echo".to_owned())
        );

        let r = c
            .call_tool(
                CallToolRequestParams::new("beta__b_echo")
                    .with_arguments(json!({"message": era}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert_eq!(text(&r), era);
        let r = c
            .call_tool(CallToolRequestParams::new("alpha__extra_7"))
            .await
            .unwrap();
        assert_eq!(text(&r), "extra_7");
        let err = c
            .call_tool(CallToolRequestParams::new("nope__echo"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("unknown tool"), "{era}: {err}");

        // Resources: a listed URI, and one that only a template matches.
        let resources = c.list_all_resources().await.unwrap();
        assert!(
            resources.iter().any(|r| r.uri == "fixture://readme"),
            "{era}"
        );
        let read = c
            .read_resource(ReadResourceRequestParams::new("fixture://items/42"))
            .await
            .unwrap();
        assert!(
            serde_json::to_string(&read).unwrap().contains("item 42"),
            "{era}"
        );
        let templates = c.list_all_resource_templates().await.unwrap();
        assert!(
            templates
                .iter()
                .any(|t| t.uri_template == "fixture://items/{id}"),
            "{era}"
        );

        let prompts = c.list_all_prompts().await.unwrap();
        assert!(prompts.iter().any(|p| p.name == "beta__b_greet"), "{era}");
        let prompt = c
            .get_prompt(
                GetPromptRequestParams::new("beta__b_greet")
                    .with_arguments(json!({"name": "Ada"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert!(
            serde_json::to_string(&prompt)
                .unwrap()
                .contains("Hello, Ada!"),
            "{era}"
        );
        c.cancel().await.unwrap();
    }
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_server_endpoint_uses_upstream_names() {
    let (_fixture, running) = with_fixture("solo", FixtureOptions::default()).await;
    let url = format!("http://{}/mcp/servers/solo/mcp", running.addr);
    for (era, mode) in eras() {
        let c = client((), &url, mode).await;
        let names: Vec<String> = c
            .list_all_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert!(names.contains(&"echo".to_owned()), "{era}: {names:?}");
        let r = c
            .call_tool(
                CallToolRequestParams::new("echo")
                    .with_arguments(json!({"message": "solo"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert_eq!(text(&r), "solo");
        c.cancel().await.unwrap();
    }
    let res = reqwest::Client::new()
        .post(format!("http://{}/mcp/servers/ghost/mcp", running.addr))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn registering_a_server_notifies_connected_sessions() {
    let a = spawn_http(FixtureOptions::default()).await;
    let b = spawn_http(FixtureOptions::default().with_prefix("late_")).await;
    let running = started(Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(record(json!({"server_id": "first", "url": a.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "first").await;
    let url = format!("http://{}/mcp", running.addr);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let c = client(Watcher(tx), &url, ClientLifecycleMode::Initialize).await;
    assert!(
        c.list_all_tools()
            .await
            .unwrap()
            .iter()
            .all(|t| !t.name.starts_with("second__"))
    );

    gw.register(record(json!({"server_id": "second", "url": b.url()})))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("list_changed within 10 s");
    assert_eq!(got, Some("tools"));
    eventually(
        Duration::from_secs(10),
        "the new tools are listed",
        || async {
            c.list_all_tools()
                .await
                .unwrap()
                .iter()
                .any(|t| t.name == "second__late_echo")
        },
    )
    .await;

    // And an upstream rediscovered with new content notifies too.
    while rx.try_recv().is_ok() {}
    a.server().add_tool(Some("fresh")).await;
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("list_changed after upstream change");
    assert_eq!(got, Some("tools"));
    assert_eq!(gw.watched_sessions(), 1);
    c.cancel().await.unwrap();
    // A closed session is forgotten at once (its handle would keep its channels in memory).
    eventually(
        Duration::from_secs(3),
        "the session is no longer watched",
        || async { gw.watched_sessions() == 0 },
    )
    .await;
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn mcp_endpoint_security() {
    let running = started(Settings {
        master_key: Some(mcp_gateway::secret::Secret::new("mk")),
        ..Settings::default()
    })
    .await;
    let url = format!("http://{}/mcp", running.addr);
    let http = reqwest::Client::new();
    let init = initialize_request();
    let post = |origin: Option<&str>, key: Option<&str>| {
        let mut req = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send()
    };
    assert_eq!(post(None, None).await.unwrap().status(), 401);
    assert_eq!(post(None, Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(
        post(Some("https://evil.example"), Some("mk"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(Some("http://localhost:3000"), Some("mk"))
            .await
            .unwrap()
            .status(),
        200
    );
    let ok = post(None, Some("mk")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().contains_key("mcp-session-id"));
    // An unknown session is 404.
    let res = http
        .post(&url)
        .bearer_auth("mk")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", "not-a-session")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    running.shutdown().await.unwrap();
}

/// A browser's session (an allowed `Origin`, weighted `Accept` values) takes the general
/// path for everything: the gateway opens it, its requests go through rmcp's framing to
/// the session's relay, its GET stream carries list changes, and DELETE ends it — stream
/// included.
#[tokio::test]
async fn a_browser_session_is_opened_served_and_ended_by_the_gateway() {
    let running = started(Settings::default()).await;
    let url = format!("http://{}/mcp", running.addr);
    let http = reqwest::Client::new();
    let browser = |request: reqwest::RequestBuilder| {
        request
            .header("origin", "http://localhost:3000")
            .header("accept", "application/json;q=0.9, text/event-stream;q=0.8")
    };
    let opened = browser(http.post(&url))
        .json(&initialize_request())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: serde_json::Value = opened.json().await.unwrap();
    assert_eq!(answer["result"]["protocolVersion"], "2025-06-18");
    let on_session = |request: reqwest::RequestBuilder| {
        browser(request)
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
    };
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let res = on_session(http.post(&url))
        .json(&initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);

    let mut stream = on_session(http.get(&url)).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let res = on_session(http.post(&url))
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let data = body
        .lines()
        .find_map(|line| line.strip_prefix("data: ").filter(|d| !d.trim().is_empty()))
        .unwrap_or_else(|| panic!("an answer event: {body:?}"));
    let answer: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["result"]["tools"], json!([]), "{answer}");

    // A change of what the endpoint exposes reaches the session's own stream.
    let fixture = spawn_http(FixtureOptions::default()).await;
    running
        .gateway
        .register(record(json!({"server_id": "fx", "url": fixture.url()})))
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("list_changed on the GET stream in time")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Ending the session ends its stream, and the session is gone.
    let ended = on_session(http.delete(&url)).send().await.unwrap();
    assert_eq!(ended.status(), 200);
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the GET stream ends with its session");
    let res = on_session(http.post(&url))
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_beyond_the_maximum_get_503() {
    let running = started(Settings {
        max_sessions: 2,
        ..Settings::default()
    })
    .await;
    let url = format!("http://{}/mcp", running.addr);
    let http = reqwest::Client::new();
    let init = initialize_request();
    let open = || {
        http.post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
    };
    let first = open().await.unwrap();
    assert_eq!(first.status(), 200);
    let first_id = first.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(open().await.unwrap().status(), 200);
    let refused = open().await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_sessions");

    // A stateless 2026-07-28 client does not hold a session, so it is still served.
    let c = client(
        (),
        &url,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await;
    c.list_all_tools().await.unwrap();
    c.cancel().await.unwrap();

    // Ending a session frees a place.
    assert_eq!(end_session(&http, &url, &first_id).await, 200);
    eventually(Duration::from_secs(5), "a place is free again", || async {
        open().await.unwrap().status() == 200
    })
    .await;
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_cancel_reaches_the_upstream_in_both_eras() {
    let (fixture, running) = with_fixture("fx", FixtureOptions::default()).await;
    let url = format!("http://{}/mcp", running.addr);
    for (n, (era, mode)) in eras().into_iter().enumerate() {
        let c = client((), &url, mode).await;
        let slow = CallToolRequestParams::new("fx__slow")
            .with_arguments(json!({"ms": 20_000}).as_object().unwrap().clone());
        // Dropping the pending call makes rmcp's client send notifications/cancelled.
        let abandoned = tokio::time::timeout(Duration::from_millis(500), c.call_tool(slow)).await;
        assert!(
            abandoned.is_err(),
            "{era}: the slow call should still be running"
        );
        eventually(
            Duration::from_secs(10),
            &format!("{era}: the upstream saw the cancel"),
            || async { fixture.server().cancellations() == n as u64 + 1 },
        )
        .await;
        c.cancel().await.unwrap();
    }
    running.shutdown().await.unwrap();
}

/// A request on the general path (here: a browser's, with `Origin`) is cancelled by the
/// client's `notifications/cancelled` — whichever path that takes — and by the end of its
/// session; the upstream sees both.
#[tokio::test]
async fn general_path_requests_end_with_a_cancel_or_their_session() {
    let (fixture, running) = with_fixture("fx", FixtureOptions::default()).await;
    let url = format!("http://{}/mcp", running.addr);
    let http = reqwest::Client::new();
    let session = open_session(&http, &url).await;
    let post = |body: String, browser: bool| {
        let mut request = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-session-id", &session)
            .header("mcp-protocol-version", "2025-06-18")
            .body(body);
        if browser {
            request = request.header("origin", "http://localhost:3000");
        }
        request.send()
    };
    // Ids as written: one id may be spelt two ways.
    let slow = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"fx__slow","arguments":{{"ms":20000}}}}}}"#
        )
    };
    let cancel = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id}}}}}"#
        )
    };
    // (the call's id, its path, the cancel's id, its path): browsers' requests take the
    // general path, plain ones the lane.
    let cases = [
        ("1", true, "1", true),
        ("2", true, "2", false),
        (r#""x\/3""#, false, r#""x/3""#, true),
    ];
    for (n, (id, browser_call, spelt, browser_cancel)) in (1u64..).zip(cases) {
        let call = tokio::spawn(post(slow(id), browser_call));
        eventually(
            Duration::from_secs(10),
            "the call reached the upstream",
            || async { fixture.server().calls() == n },
        )
        .await;
        let res = post(cancel(spelt), browser_cancel).await.unwrap();
        assert_eq!(res.status(), 202);
        eventually(
            Duration::from_secs(10),
            "the upstream saw the cancel",
            || async { fixture.server().cancellations() == n },
        )
        .await;
        call.abort();
    }
    let call = tokio::spawn(post(slow("4"), true));
    eventually(
        Duration::from_secs(10),
        "the call reached the upstream",
        || async { fixture.server().calls() == 4 },
    )
    .await;
    assert_eq!(end_session(&http, &url, &session).await, 200);
    eventually(
        Duration::from_secs(10),
        "the session's end cancelled its call",
        || async { fixture.server().cancellations() == 4 },
    )
    .await;
    call.abort();
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_per_call_timeout_cancels_the_upstream_request() {
    let fixture = spawn_http(FixtureOptions::default()).await;
    let running = started(Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(record(
        json!({"server_id": "fx", "url": fixture.url(), "timeout_secs": 1}),
    ))
    .await
    .unwrap();
    wait_healthy(&gw, "fx").await;
    let c = client(
        (),
        &format!("http://{}/mcp", running.addr),
        ClientLifecycleMode::Initialize,
    )
    .await;
    let started_at = std::time::Instant::now();
    let slow = CallToolRequestParams::new("fx__slow")
        .with_arguments(json!({"ms": 20_000}).as_object().unwrap().clone());
    let err = c.call_tool(slow).await.unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(started_at.elapsed() < Duration::from_secs(5));
    eventually(
        Duration::from_secs(10),
        "the upstream saw the cancel",
        || async { fixture.server().cancellations() == 1 },
    )
    .await;
    // Other calls are not held up by it.
    let quick = CallToolRequestParams::new("fx__echo")
        .with_arguments(json!({"message": "next"}).as_object().unwrap().clone());
    assert_eq!(text(&c.call_tool(quick).await.unwrap()), "next");
    c.cancel().await.unwrap();
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_open_streams_promptly() {
    let running = started(Settings::default()).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    // A legacy SSE stream and a session-era GET stream, both left open.
    let sse = http.get(format!("{base}/sse")).send().await.unwrap();
    assert_eq!(sse.status(), 200);
    let session = open_session(&http, &format!("{base}/mcp")).await;
    let stream = http
        .get(format!("{base}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let started_at = std::time::Instant::now();
    running.shutdown().await.unwrap();
    assert!(
        started_at.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started_at.elapsed()
    );
    drop((sse, stream));
}

#[tokio::test]
async fn subscriptions_are_shared_and_released_when_sessions_end() {
    // resources/subscribe belongs to the session era; the upstream speaks it.
    let (fixture, running) = with_fixture("fx", FixtureOptions::default().legacy_only()).await;
    let url = format!("http://{}/mcp", running.addr);
    let readme = || rmcp::model::SubscribeRequestParams::new("fixture://readme");
    let a = client((), &url, ClientLifecycleMode::Initialize).await;
    let b = client((), &url, ClientLifecycleMode::Initialize).await;
    #[allow(deprecated)]
    {
        a.subscribe(readme()).await.unwrap();
        b.subscribe(readme()).await.unwrap();
    }
    assert_eq!(
        fixture.server().subscriptions(),
        ["fixture://readme"],
        "one upstream subscription for both sessions"
    );

    // A leaves: B still follows the resource, so the upstream subscription stays.
    a.cancel().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!fixture.server().subscriptions().is_empty());
    // B leaves too: the gateway unsubscribes upstream.
    b.cancel().await.unwrap();
    eventually(
        Duration::from_secs(10),
        "the upstream subscription is released",
        || async { fixture.server().subscriptions().is_empty() },
    )
    .await;
    running.shutdown().await.unwrap();
}

/// `resources/subscribe` belongs to the session era: a session-era client subscribes
/// through the gateway to an upstream that speaks both eras as it would directly, although
/// the gateway's own session with that upstream is a 2026-07-28 one (HTTP and stdio).
#[tokio::test]
async fn a_session_era_client_subscribes_through_an_upstream_of_both_eras() {
    use common::lane::{Upstream, fixture_gateway};
    for transport in ["http", "stdio"] {
        let (upstream, running) = fixture_gateway(transport, 60).await;
        let url = format!("http://{}/mcp", running.addr);
        let followed = || match &upstream {
            Upstream::Http(fixture) => Some(fixture.server().subscriptions()),
            Upstream::Stdio => None, // a child process: its answers tell
        };
        let readme = || rmcp::model::SubscribeRequestParams::new("fixture://readme");
        let a = client((), &url, ClientLifecycleMode::Initialize).await;
        #[allow(deprecated)]
        a.subscribe(readme()).await.unwrap();
        if let Some(followed) = followed() {
            assert_eq!(followed, ["fixture://readme"], "{transport}");
        }
        #[allow(deprecated)]
        a.unsubscribe(rmcp::model::UnsubscribeRequestParams::new(
            "fixture://readme",
        ))
        .await
        .unwrap();
        if let Some(followed) = followed() {
            assert!(followed.is_empty(), "{transport}");
        }
        a.cancel().await.unwrap();
        running.shutdown().await.unwrap();
    }
}

/// The JSON-RPC error a request failed with.
fn rpc_error(error: rmcp::ServiceError) -> rmcp::ErrorData {
    match error {
        rmcp::ServiceError::McpError(e) => e,
        other => panic!("not a JSON-RPC error: {other}"),
    }
}

/// Whether the gateway refused the name itself (`unknown <kind>: <name>`, with the name as
/// data) rather than relaying the upstream's answer (the fixture's errors have no data).
fn refused_by_gateway(error: &rmcp::ErrorData, kind: &str, name: &str) -> bool {
    error.message == format!("unknown {kind}: {name}") && error.data == Some(json!({ kind: name }))
}

#[tokio::test]
async fn one_server_endpoint_forwards_what_the_server_did_not_list() {
    // A session-era upstream: resources/subscribe belongs to that era.
    let fixture = spawn_http(FixtureOptions::default().legacy_only()).await;
    let running = started(Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(record(json!({"server_id": "open", "url": fixture.url()})))
        .await
        .unwrap();
    gw.register(record(json!({"server_id": "listed", "url": fixture.url(),
        "tools": ["echo", "hidden"], "resources": ["readme", "fixture://elsewhere"]})))
        .await
        .unwrap();
    wait_healthy(&gw, "open").await;
    wait_healthy(&gw, "listed").await;
    let endpoint = |id: &str| format!("http://{}/mcp/servers/{id}/mcp", running.addr);
    let args = |message: &str| json!({"message": message}).as_object().unwrap().clone();
    let server = fixture.server();

    for (era, mode) in eras() {
        // No allowlist: the upstream decides what a name or URI means.
        let c = client((), &endpoint("open"), mode.clone()).await;
        let tools = c.list_all_tools().await.unwrap();
        assert!(
            !tools.iter().any(|t| t.name == "hidden"),
            "{era}: not listed"
        );
        let r = c
            .call_tool(CallToolRequestParams::new("hidden").with_arguments(args(era)))
            .await
            .unwrap();
        assert_eq!(text(&r), format!("hidden: {era}"), "{era}");
        let before = server.calls();
        let e = rpc_error(
            c.call_tool(CallToolRequestParams::new("nope"))
                .await
                .unwrap_err(),
        );
        assert!(!refused_by_gateway(&e, "tool", "nope"), "{era}: {e:?}");
        assert_eq!(
            e.message, "unknown tool: nope",
            "{era}: the upstream's error"
        );
        assert_eq!(
            server.calls(),
            before + 1,
            "{era}: the call reached the upstream"
        );
        let e = rpc_error(
            c.get_prompt(GetPromptRequestParams::new("nope"))
                .await
                .unwrap_err(),
        );
        assert!(!refused_by_gateway(&e, "prompt", "nope"), "{era}: {e:?}");
        assert_eq!(
            e.message, "unknown prompt: nope",
            "{era}: the upstream's error"
        );
        let e = rpc_error(
            c.read_resource(ReadResourceRequestParams::new("fixture://nothing"))
                .await
                .unwrap_err(),
        );
        // (-32002 for a session-era client; rmcp makes it -32602 for a 2026-07-28 one.)
        assert_eq!(
            e.message, "no such resource: fixture://nothing",
            "{era}: the upstream's error"
        );
        let e = rpc_error(
            c.complete_prompt_simple("nope", "name", "A")
                .await
                .unwrap_err(),
        );
        assert!(!refused_by_gateway(&e, "prompt", "nope"), "{era}: {e:?}");
        if mode == ClientLifecycleMode::Initialize {
            let unlisted = || "fixture://unlisted".to_owned();
            #[allow(deprecated)]
            c.subscribe(rmcp::model::SubscribeRequestParams::new(unlisted()))
                .await
                .unwrap();
            assert_eq!(server.subscriptions(), [unlisted()], "{era}");
            #[allow(deprecated)]
            c.unsubscribe(rmcp::model::UnsubscribeRequestParams::new(unlisted()))
                .await
                .unwrap();
            assert!(server.subscriptions().is_empty(), "{era}");
        }
        c.cancel().await.unwrap();

        // An allowlist: names and URIs outside it are unknown, listed upstream or not;
        // those inside it go upstream, listed or not.
        let c = client((), &endpoint("listed"), mode.clone()).await;
        let r = c
            .call_tool(CallToolRequestParams::new("hidden").with_arguments(args(era)))
            .await
            .unwrap();
        assert_eq!(text(&r), format!("hidden: {era}"), "{era}");
        let before = server.calls();
        for name in ["add", "nope"] {
            let e = rpc_error(
                c.call_tool(CallToolRequestParams::new(name))
                    .await
                    .unwrap_err(),
            );
            assert!(refused_by_gateway(&e, "tool", name), "{era} {name}: {e:?}");
        }
        assert_eq!(
            server.calls(),
            before,
            "{era}: nothing reached the upstream"
        );
        let e = rpc_error(
            c.read_resource(ReadResourceRequestParams::new("fixture://nothing"))
                .await
                .unwrap_err(),
        );
        assert!(
            refused_by_gateway(&e, "resource", "fixture://nothing"),
            "{era}: {e:?}"
        );
        let read = c
            .read_resource(ReadResourceRequestParams::new("fixture://readme"))
            .await
            .unwrap();
        assert!(serde_json::to_string(&read).unwrap().contains("fixture"));
        if mode == ClientLifecycleMode::Initialize {
            #[allow(deprecated)]
            let e = rpc_error(
                c.subscribe(rmcp::model::SubscribeRequestParams::new(
                    "fixture://unlisted",
                ))
                .await
                .unwrap_err(),
            );
            assert!(
                refused_by_gateway(&e, "resource", "fixture://unlisted"),
                "{era}: {e:?}"
            );
            #[allow(deprecated)]
            c.subscribe(rmcp::model::SubscribeRequestParams::new(
                "fixture://elsewhere",
            ))
            .await
            .unwrap();
            assert_eq!(server.subscriptions(), ["fixture://elsewhere"], "{era}");
        }
        c.cancel().await.unwrap();

        // The aggregate routes listed names only.
        let c = client((), &format!("http://{}/mcp", running.addr), mode).await;
        let e = rpc_error(
            c.call_tool(CallToolRequestParams::new("open__hidden"))
                .await
                .unwrap_err(),
        );
        assert!(
            refused_by_gateway(&e, "tool", "open__hidden"),
            "{era}: {e:?}"
        );
        c.cancel().await.unwrap();
    }
    running.shutdown().await.unwrap();
}

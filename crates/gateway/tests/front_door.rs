//! The front door's Host and Origin rule on every route, over real sockets (so `POST /mcp`
//! takes the hot path as in production): what a DNS-rebinding page sends — a foreign
//! `Host`, a foreign `Origin`, or both — is refused with `403` and its JSON code before it
//! can change anything, with and without a master key; legitimate requests (an allowed
//! `Host`, an allowed `Origin` or none) still work on every route.

mod common;

use std::time::Duration;

use axum::http::Method;
use common::*;
use mcp_gateway::{
    app::Running, config::Settings, front::host_origin::HostPattern, secret::Secret,
};
use mcp_gateway_testkit::{FixtureHandle, FixtureOptions};
use serde_json::{Value, json};

const KEY: &str = "front-door-key";
const EVIL_ORIGIN: &str = "http://evil.example:4000";
const ALLOWED_ORIGIN: &str = "http://localhost:3000";
const MCP_ACCEPT: &str = "application/json, text/event-stream";

/// A gateway with the fixture upstream `fx`, and how a legitimate client reaches it.
struct Gateway {
    running: Running,
    fixture: FixtureHandle,
    http: reqwest::Client,
    base: String,
    key: Option<&'static str>,
    /// The `Host` a legitimate client sends.
    host: String,
}

/// What a request carries besides the route's own headers.
#[derive(Clone, Copy, Debug)]
struct Face<'a> {
    host: &'a str,
    origin: Option<&'a str>,
}

/// One route, as sent.
struct Route {
    name: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    /// The status of a legitimate request.
    ok: u16,
}

/// Live sessions the routes act on.
struct Sessions {
    mcp: String,
    sse: String,
    /// Keeps the SSE session open.
    _sse_stream: reqwest::Response,
}

fn face<'a>(host: &'a str, origin: Option<&'a str>) -> Face<'a> {
    Face { host, origin }
}

impl Gateway {
    async fn start(settings: Settings, host: Option<&str>) -> Self {
        let key = settings.master_key.as_ref().map(|_| KEY);
        let (fixture, running) = with_fixture_in(settings, "fx", FixtureOptions::default()).await;
        let base = format!("http://{}", running.addr);
        let host = match host {
            Some(host) => format!("{host}:{}", running.addr.port()),
            None => running.addr.to_string(),
        };
        Self {
            running,
            fixture,
            http: reqwest::Client::new(),
            base,
            key,
            host,
        }
    }

    fn legit(&self) -> Face<'_> {
        face(&self.host, None)
    }

    fn request(&self, face: Face<'_>, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("host", face.host);
        if let Some(origin) = face.origin {
            request = request.header("origin", origin);
        }
        if let Some(key) = self.key {
            request = request.bearer_auth(key);
        }
        request
    }

    async fn send(&self, face: Face<'_>, route: &Route) -> reqwest::Response {
        let mut request = self.request(face, route.method.clone(), &route.path);
        for (name, value) in &route.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &route.body {
            request = request.body(body.clone());
        }
        tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .unwrap_or_else(|_| panic!("{}: no answer", route.name))
            .unwrap_or_else(|e| panic!("{}: {e}", route.name))
    }

    fn calls(&self) -> u64 {
        self.fixture.server().calls()
    }

    /// A session on `/mcp` and one on `/sse`, both initialised, opened legitimately.
    async fn sessions(&self) -> Sessions {
        let face = self.legit();
        let init = initialize("2025-11-25");
        let response = self
            .request(face, Method::POST, "/mcp")
            .header("content-type", "application/json")
            .header("accept", MCP_ACCEPT)
            .body(init.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mcp = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self
            .request(face, Method::POST, "/mcp")
            .header("content-type", "application/json")
            .header("accept", MCP_ACCEPT)
            .header("mcp-session-id", &mcp)
            .header("mcp-protocol-version", "2025-11-25")
            .body(initialized.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);

        let mut stream = self
            .request(face, Method::GET, "/sse")
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        let mut text = String::new();
        while !text.contains("sessionId=") || !text.contains("\n\n") {
            let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
                .await
                .expect("the endpoint event")
                .unwrap()
                .expect("more of the stream");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let sse = text
            .split("sessionId=")
            .nth(1)
            .unwrap()
            .split(|c: char| c.is_whitespace() || c == '&')
            .next()
            .unwrap()
            .to_owned();
        for message in [
            initialize("2024-11-05"),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ] {
            let response = self
                .request(face, Method::POST, &format!("/messages?sessionId={sse}"))
                .header("content-type", "application/json")
                .body(message.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
        }
        Sessions {
            mcp,
            sse,
            _sse_stream: stream,
        }
    }

    /// The ids of the registered servers, and `fx`'s name, as the REST API lists them.
    async fn servers(&self) -> (Vec<String>, String) {
        let body: Value = self
            .request(self.legit(), Method::GET, "/mcp/servers")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let servers = body["servers"].as_array().unwrap();
        let ids = servers
            .iter()
            .map(|s| s["server_id"].as_str().unwrap().to_owned())
            .collect();
        let name = servers
            .iter()
            .find(|s| s["server_id"] == "fx")
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .unwrap_or_default();
        (ids, name)
    }
}

/// A response's JSON body (`null` if it is not JSON or does not end in time).
async fn body(response: reqwest::Response) -> Value {
    tokio::time::timeout(Duration::from_secs(5), response.json())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(Value::Null)
}

fn initialize(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "front-door", "version": "1"}}})
}

fn stateless_call(tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": tool, "arguments": {"message": "hi"},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string()
}

fn stateless_headers(tool: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("accept", MCP_ACCEPT.into()),
        ("mcp-protocol-version", "2026-07-28".into()),
        ("mcp-method", "tools/call".into()),
        ("mcp-name", tool.into()),
    ]
}

/// Every route: server CRUD (registering `new_id`, changing and removing `target`), the
/// catalog lists, REST tool calls, the MCP endpoints (session-era and stateless, aggregate
/// and per server) and legacy SSE. In this order, a legitimate run registers `new_id ==
/// target` before changing and removing it.
fn routes(fixture_url: &str, new_id: &str, target: &str, sessions: &Sessions) -> Vec<Route> {
    let json = || vec![("content-type", "application/json".to_owned())];
    let mcp = |session: Option<&str>| {
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("accept", MCP_ACCEPT.to_owned()),
        ];
        if let Some(session) = session {
            headers.push(("mcp-session-id", session.to_owned()));
            headers.push(("mcp-protocol-version", "2025-11-25".to_owned()));
        }
        headers
    };
    let session = sessions.mcp.as_str();
    let call = |message: &str| {
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "fx__echo", "arguments": {"message": message}}})
        .to_string()
    };
    let route = |name, method, path: &str, headers, body: Option<String>, ok| Route {
        name,
        method,
        path: path.to_owned(),
        headers,
        body,
        ok,
    };
    vec![
        route(
            "POST /mcp/servers",
            Method::POST,
            "/mcp/servers",
            json(),
            Some(json!({"server_id": new_id, "url": fixture_url}).to_string()),
            201,
        ),
        route(
            "GET /mcp/servers",
            Method::GET,
            "/mcp/servers",
            vec![],
            None,
            200,
        ),
        route(
            "GET /mcp/servers/{id}",
            Method::GET,
            &format!("/mcp/servers/{target}"),
            vec![],
            None,
            200,
        ),
        route(
            "PUT /mcp/servers/{id}",
            Method::PUT,
            &format!("/mcp/servers/{target}"),
            json(),
            Some(json!({"url": fixture_url, "name": "hijacked"}).to_string()),
            200,
        ),
        route(
            "DELETE /mcp/servers/{id}",
            Method::DELETE,
            &format!("/mcp/servers/{target}"),
            vec![],
            None,
            200,
        ),
        route(
            "GET /mcp/tools",
            Method::GET,
            "/mcp/tools",
            vec![],
            None,
            200,
        ),
        route(
            "GET /mcp/resources",
            Method::GET,
            "/mcp/resources",
            vec![],
            None,
            200,
        ),
        route(
            "GET /mcp/prompts",
            Method::GET,
            "/mcp/prompts",
            vec![],
            None,
            200,
        ),
        route(
            "POST /mcp/tools/call",
            Method::POST,
            "/mcp/tools/call",
            json(),
            Some(json!({"name": "fx__echo", "arguments": {"message": "hi"}}).to_string()),
            200,
        ),
        route(
            "POST /mcp initialize",
            Method::POST,
            "/mcp",
            mcp(None),
            Some(initialize("2025-11-25").to_string()),
            200,
        ),
        route(
            "POST /mcp tools/call in a session",
            Method::POST,
            "/mcp",
            mcp(Some(session)),
            Some(call("hi")),
            200,
        ),
        route(
            "POST /mcp stateless tools/call",
            Method::POST,
            "/mcp",
            stateless_headers("fx__echo"),
            Some(stateless_call("fx__echo")),
            200,
        ),
        route(
            "GET /mcp",
            Method::GET,
            "/mcp",
            vec![
                ("accept", "text/event-stream".to_owned()),
                ("mcp-session-id", session.to_owned()),
                ("mcp-protocol-version", "2025-11-25".to_owned()),
            ],
            None,
            200,
        ),
        route(
            "DELETE /mcp",
            Method::DELETE,
            "/mcp",
            vec![
                ("mcp-session-id", session.to_owned()),
                ("mcp-protocol-version", "2025-11-25".to_owned()),
            ],
            None,
            200,
        ),
        route(
            "POST /mcp/servers/fx/mcp initialize",
            Method::POST,
            "/mcp/servers/fx/mcp",
            mcp(None),
            Some(initialize("2025-11-25").to_string()),
            200,
        ),
        route(
            "POST /mcp/servers/fx/mcp stateless tools/call",
            Method::POST,
            "/mcp/servers/fx/mcp",
            stateless_headers("echo"),
            Some(stateless_call("echo")),
            200,
        ),
        route(
            "GET /sse",
            Method::GET,
            "/sse",
            vec![("accept", "text/event-stream".to_owned())],
            None,
            200,
        ),
        route(
            "POST /messages",
            Method::POST,
            &format!("/messages?sessionId={}", sessions.sse),
            json(),
            Some(call("hi")),
            202,
        ),
    ]
}

/// Tool calls a legitimate run of [`routes`] makes: REST, `/mcp` in a session and
/// stateless, the per-server endpoint, `/messages`.
const CALLS_PER_RUN: u64 = 5;

/// Sends every route with `face` and checks each is refused with `403 code`, then that
/// nothing changed: no server registered, changed or removed, no tool called, the MCP and
/// SSE sessions still there.
async fn refused_everywhere(gw: &Gateway, face: Face<'_>, code: &str) {
    let sessions = gw.sessions().await;
    let calls = gw.calls();
    let before = gw.servers().await;
    let mut failures = Vec::new();
    for route in routes(gw.fixture.url(), "evil", "fx", &sessions) {
        let response = gw.send(face, &route).await;
        let status = response.status().as_u16();
        // An accepted stream (GET /sse, GET /mcp) would never end: read only refusals.
        let body = match status {
            403 => body(response).await,
            _ => Value::Null,
        };
        if status != 403 || body["error"]["code"] != code || !body["error"]["message"].is_string() {
            failures.push(format!("{}: {status} {body}", route.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{face:?} should get 403 {code}:\n{}",
        failures.join("\n")
    );
    // Posted messages are handled after their 202; give a wrongly accepted one the time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gw.calls(), calls, "{face:?}: a tool was called");
    assert_eq!(gw.servers().await, before, "{face:?}: the servers changed");
    assert!(gw.running.gateway.registry.get("evil").is_none());
    // The sessions the refused requests named are still there (DELETE /mcp did nothing),
    // and a call on them works.
    let legit = gw.legit();
    let all = routes(gw.fixture.url(), "-", "-", &sessions);
    for name in ["POST /mcp tools/call in a session", "POST /messages"] {
        let route = all.iter().find(|r| r.name == name).unwrap();
        assert_eq!(gw.send(legit, route).await.status(), route.ok, "{name}");
    }
    eventually(
        Duration::from_secs(10),
        "the two legitimate calls",
        || async { gw.calls() == calls + 2 },
    )
    .await;
}

/// Sends every route with `face`, a legitimate client's, and checks each works.
async fn works_everywhere(gw: &Gateway, face: Face<'_>, run: usize) {
    let sessions = gw.sessions().await;
    let calls = gw.calls();
    let id = format!("tmp-{run}");
    let mut failures = Vec::new();
    for route in routes(gw.fixture.url(), &id, &id, &sessions) {
        let response = gw.send(face, &route).await;
        let status = response.status().as_u16();
        if status != route.ok {
            failures.push(format!("{}: {status} {}", route.name, body(response).await));
        }
        // Streams (GET /mcp, GET /sse) are dropped here.
    }
    assert!(
        failures.is_empty(),
        "{face:?} should work:\n{}",
        failures.join("\n")
    );
    eventually(Duration::from_secs(10), "every legitimate call", || async {
        gw.calls() == calls + CALLS_PER_RUN
    })
    .await;
    let (ids, name) = gw.servers().await;
    assert_eq!((ids, name.as_str()), (vec!["fx".to_owned()], "fx"));
}

/// Health routes act on nothing: they answer whatever the Host and Origin.
async fn health_is_exempt(gw: &Gateway, face: Face<'_>) {
    for path in ["/health/liveliness", "/health/readiness"] {
        let response = gw.request(face, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} {face:?}");
    }
}

/// The quickstart: no master key. Only loopback names, only allowed origins.
#[tokio::test]
async fn without_a_master_key() {
    let gw = Gateway::start(Settings::default(), None).await;
    let port = gw.running.addr.port();
    let evil_host = format!("evil.example:{port}");
    let foreign_host = face(&evil_host, None);
    let foreign_origin = face(&gw.host, Some(EVIL_ORIGIN));
    // What a rebound page sends: its own name in both.
    let rebinding_origin = format!("http://{evil_host}");
    let both = face(&evil_host, Some(&rebinding_origin));
    refused_everywhere(&gw, foreign_host, "host_not_allowed").await;
    refused_everywhere(&gw, foreign_origin, "origin_not_allowed").await;
    refused_everywhere(&gw, both, "host_not_allowed").await;

    let localhost = format!("localhost:{port}");
    let v6 = format!("[::1]:{port}");
    for (run, client) in [
        gw.legit(),
        face(&gw.host, Some(ALLOWED_ORIGIN)),
        face(&localhost, None),
        face(&v6, Some(ALLOWED_ORIGIN)),
    ]
    .into_iter()
    .enumerate()
    {
        works_everywhere(&gw, client, run).await;
    }
    health_is_exempt(&gw, both).await;
    gw.running.shutdown().await.unwrap();
}

/// A master key and no `allowed_hosts`: any Host (the key protects the gateway), but a
/// foreign Origin is still refused.
#[tokio::test]
async fn with_a_master_key() {
    let settings = Settings {
        master_key: Some(Secret::new(KEY)),
        ..Settings::default()
    };
    let gw = Gateway::start(settings, None).await;
    let evil_host = format!("evil.example:{}", gw.running.addr.port());
    refused_everywhere(&gw, face(&gw.host, Some(EVIL_ORIGIN)), "origin_not_allowed").await;
    refused_everywhere(
        &gw,
        face(&evil_host, Some(EVIL_ORIGIN)),
        "origin_not_allowed",
    )
    .await;
    for (run, client) in [
        gw.legit(),
        face(&gw.host, Some(ALLOWED_ORIGIN)),
        // Any Host, with the key.
        face(&evil_host, None),
    ]
    .into_iter()
    .enumerate()
    {
        works_everywhere(&gw, client, run).await;
    }
    // The key is still needed: a right Host and Origin do not replace it.
    let response = gw
        .http
        .get(format!("{}/mcp/servers", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    gw.running.shutdown().await.unwrap();
}

/// A master key and an explicit `allowed_hosts`: the list applies (loopback names too are
/// refused unless listed).
#[tokio::test]
async fn with_a_master_key_and_allowed_hosts() {
    let settings = Settings {
        master_key: Some(Secret::new(KEY)),
        allowed_hosts: Some(vec![
            HostPattern::parse("gw.example.com").unwrap(),
            HostPattern::parse("10.1.2.3:*").unwrap(),
        ]),
        ..Settings::default()
    };
    let gw = Gateway::start(settings, Some("gw.example.com")).await;
    let port = gw.running.addr.port();
    let loopback = gw.running.addr.to_string();
    let evil_host = format!("evil.example:{port}");
    for (client, code) in [
        (face(&evil_host, None), "host_not_allowed"),
        (face(&loopback, None), "host_not_allowed"),
        (face(&gw.host, Some(EVIL_ORIGIN)), "origin_not_allowed"),
        (face(&evil_host, Some(EVIL_ORIGIN)), "host_not_allowed"),
    ] {
        refused_everywhere(&gw, client, code).await;
    }
    let listed_address = format!("10.1.2.3:{port}");
    for (run, client) in [
        gw.legit(),
        face(&gw.host, Some(ALLOWED_ORIGIN)),
        face(&listed_address, None),
    ]
    .into_iter()
    .enumerate()
    {
        works_everywhere(&gw, client, run).await;
    }
    health_is_exempt(&gw, face(&evil_host, Some(EVIL_ORIGIN))).await;
    gw.running.shutdown().await.unwrap();
}

/// The router serves `POST /mcp` too (the listener sends it the hot path's way): the same
/// rule applies there.
#[tokio::test]
async fn the_router_applies_the_rule_to_post_mcp_as_well() {
    use tower::ServiceExt;
    let gateway = gateway_with(Settings::default()).await;
    let router = mcp_gateway::front::router(gateway.clone());
    for (host, origin, status) in [
        ("evil.example:4000", None, 403),
        ("127.0.0.1:4000", Some(EVIL_ORIGIN), 403),
        ("127.0.0.1:4000", None, 200),
    ] {
        let mut request = axum::http::Request::post("/mcp")
            .header("host", host)
            .header("content-type", "application/json")
            .header("accept", MCP_ACCEPT);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let request = request
            .body(axum::body::Body::from(initialize("2025-11-25").to_string()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{host} {origin:?}");
    }
    gateway.shutdown().await;
}

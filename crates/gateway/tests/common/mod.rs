//! Shared helpers of the gateway's integration tests: an in-process gateway with fast
//! supervisor timings, and bounded polling.

#![allow(dead_code)] // each test binary uses a different subset

pub mod bearer;
pub mod guarded;
pub mod lane;
pub mod raw;
pub mod sse;

use std::{future::Future, sync::Arc, time::Duration};

use mcp_gateway::{
    config::Settings,
    gateway::Gateway,
    model::{HealthState, RegistrationPolicy, ServerRecord},
    upstream::supervisor::SupervisorConfig,
};
use serde_json::{Value, json};

/// Supervisor timings short enough for tests.
pub fn fast() -> SupervisorConfig {
    SupervisorConfig {
        refresh: Duration::from_secs(300),
        health_interval: Duration::from_millis(300),
        probe_timeout: Duration::from_secs(2),
        discovery_timeout: Duration::from_secs(10),
        handshake_timeout: Duration::from_secs(30),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
    }
}

/// A gateway with the memory store, allowing stdio registrations.
pub async fn gateway() -> Arc<Gateway> {
    gateway_with(Settings {
        allow_stdio_registration: true,
        ..Settings::default()
    })
    .await
}

pub async fn gateway_with(settings: Settings) -> Arc<Gateway> {
    Gateway::start_with(settings, fast())
        .await
        .expect("gateway starts")
}

/// A record from JSON (as the REST API would receive it).
pub fn record(value: Value) -> ServerRecord {
    serde_json::from_value(value).expect("valid record JSON")
}

/// A validated config-file record.
pub fn config_record(value: Value) -> ServerRecord {
    let mut r = record(value);
    r.validate(RegistrationPolicy::TRUSTED).unwrap();
    r
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn health(gateway: &Gateway, id: &str) -> HealthState {
    gateway
        .registry
        .get(id)
        .expect("registered")
        .runtime
        .health()
        .state
}

pub async fn wait_healthy(gateway: &Gateway, id: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("{id} healthy"),
        || async { health(gateway, id) == HealthState::Healthy },
    )
    .await;
}

pub async fn wait_unhealthy(gateway: &Gateway, id: &str) {
    eventually(
        Duration::from_secs(20),
        &format!("{id} unhealthy"),
        || async { health(gateway, id) == HealthState::Unhealthy },
    )
    .await;
}

/// Calls a tool and returns the text of its first content item.
pub async fn call_text(gateway: &Gateway, name: &str, args: Value) -> String {
    let result = gateway
        .call_tool(
            name,
            args.as_object().cloned(),
            &mcp_gateway::access::Access::EVERYTHING,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let value = serde_json::to_value(&result).unwrap();
    value["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn echo_args(message: &str) -> Value {
    json!({ "message": message })
}

/// Whether a process exists at all (a zombie still does; a reaped child does not).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// server-everything (`bin`) in an HTTP mode (`streamableHttp` or `sse`) on a free port;
/// killed when the returned child is dropped.
pub async fn everything_http(bin: &std::path::Path, mode: &str) -> (tokio::process::Child, u16) {
    let port = mcp_gateway_testkit::free_port();
    let child = tokio::process::Command::new(bin)
        .arg(mode)
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start server-everything");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "server-everything {mode} did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, port)
}

/// A gateway with server-everything (`bin`) registered three times, once per upstream
/// transport: `ev_stdio`, `ev_http` (streamable HTTP) and `ev_sse` (HTTP+SSE), all healthy.
pub struct Everything {
    pub running: mcp_gateway::app::Running,
    _http: tokio::process::Child,
    _sse: tokio::process::Child,
}

pub async fn everything_gateway(bin: &std::path::Path) -> Everything {
    let (http, http_port) = everything_http(bin, "streamableHttp").await;
    let (sse, sse_port) = everything_http(bin, "sse").await;
    let running = started(Settings::default()).await;
    let gw = &running.gateway;
    for body in [
        json!({"server_id": "ev_stdio", "command": bin.display().to_string(), "args": ["stdio"]}),
        json!({"server_id": "ev_http", "url": format!("http://127.0.0.1:{http_port}/mcp")}),
        json!({"server_id": "ev_sse", "url": format!("http://127.0.0.1:{sse_port}/sse"), "transport": "sse"}),
    ] {
        gw.register(record(body)).await.unwrap();
    }
    for id in ["ev_stdio", "ev_http", "ev_sse"] {
        wait_healthy(gw, id).await;
    }
    Everything {
        running,
        _http: http,
        _sse: sse,
    }
}

/// A gateway serving HTTP on a free loopback port (stdio registration allowed).
pub async fn started(settings: Settings) -> mcp_gateway::app::Running {
    mcp_gateway::app::start(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_stdio_registration: true,
        ..settings
    })
    .await
    .unwrap()
}

/// A gateway with one fixture upstream registered as `server_id` and healthy.
pub async fn with_fixture(
    server_id: &str,
    options: mcp_gateway_testkit::FixtureOptions,
) -> (
    mcp_gateway_testkit::FixtureHandle,
    mcp_gateway::app::Running,
) {
    with_fixture_in(Settings::default(), server_id, options).await
}

/// [`with_fixture`], with the gateway's settings.
pub async fn with_fixture_in(
    settings: Settings,
    server_id: &str,
    options: mcp_gateway_testkit::FixtureOptions,
) -> (
    mcp_gateway_testkit::FixtureHandle,
    mcp_gateway::app::Running,
) {
    let fixture = mcp_gateway_testkit::spawn_http(options).await;
    let running = started(settings).await;
    let record = record(json!({"server_id": server_id, "url": fixture.url()}));
    running.gateway.register(record).await.unwrap();
    wait_healthy(&running.gateway, server_id).await;
    (fixture, running)
}

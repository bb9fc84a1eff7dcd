//! Real-peer test: the official `@modelcontextprotocol/server-everything` in SSE mode.
//!
//! It needs Node.js and the package installed beforehand (nothing is downloaded at test time):
//!
//! ```sh
//! mkdir -p /tmp/sse-npm && (cd /tmp/sse-npm && npm install @modelcontextprotocol/server-everything@2026.8.31)
//! MCP_EVERYTHING_DIR=/tmp/sse-npm cargo test -p mcp-gateway-core --lib upstream::sse::everything
//! ```
//!
//! `MCP_EVERYTHING_DIR` is the directory `npm install` ran in (or the package directory
//! itself); by default the pinned copy in `tests/interop` (scripts/setup-interop.sh) is used,
//! and a missing one skips the test unless `MCP_GATEWAY_REQUIRE_INTEROP=1`.
//!
//! The server listens on `$PORT` (default 3001) and prints "Server is running on port N" to
//! stderr; we pick a free port, wait for that line, and kill the process at the end.

use std::{path::PathBuf, process::Stdio, time::Duration};

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use rmcp::{
    model::CallToolRequestParams,
    service::{ClientLifecycleMode, ClientServiceExt as _},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use super::SseClientTransport;

const PACKAGE: &str = "@modelcontextprotocol/server-everything";
const STARTUP: Duration = Duration::from_secs(20);
const STEP: Duration = Duration::from_secs(10);

/// The package's entry script, or `None` (with a notice) when the test should be skipped.
fn entry_script() -> Option<PathBuf> {
    let dir = match std::env::var_os("MCP_EVERYTHING_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // The pinned copy from scripts/setup-interop.sh (skip or fail per the convention).
            mcp_gateway_testkit::npm_bin_or_skip("mcp-server-everything")?;
            mcp_gateway_testkit::interop_dir()
        }
    };
    let script = [
        dir.join("dist/index.js"),
        dir.join("node_modules").join(PACKAGE).join("dist/index.js"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    Some(
        script.unwrap_or_else(|| panic!("MCP_EVERYTHING_DIR={} holds no {PACKAGE}", dir.display())),
    )
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Starts the server and waits until it listens; its stderr is then echoed for debugging.
async fn start(script: &PathBuf, port: u16) -> Child {
    let mut child = Command::new("node")
        .arg(script)
        .arg("sse")
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true) // no orphan even if an assertion fails
        .spawn()
        .expect("cannot run `node` (MCP_EVERYTHING_DIR is set, so Node.js is required)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("server-everything: {line}");
            if line.contains("Server is running on port") {
                return true;
            }
        }
        false
    };
    let ready = tokio::time::timeout(STARTUP, ready).await;
    assert!(
        matches!(ready, Ok(true)),
        "server-everything did not start: {ready:?}"
    );
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("server-everything: {line}");
        }
    });
    child
}

#[tokio::test]
async fn lists_and_calls_echo_on_server_everything() {
    let Some(script) = entry_script() else { return };
    let port = free_port();
    let mut child = start(&script, port).await;

    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Bearer ignored-by-the-server"),
    );
    let url = format!("http://127.0.0.1:{port}/sse");
    let transport = SseClientTransport::connect(reqwest::Client::new(), &url, headers)
        .await
        .unwrap();
    let handshake = ().serve_with_lifecycle(transport, ClientLifecycleMode::Initialize);
    let client = tokio::time::timeout(STEP, handshake)
        .await
        .unwrap()
        .unwrap();

    let tools = tokio::time::timeout(STEP, client.list_all_tools())
        .await
        .unwrap()
        .unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{tools:?}");

    let arguments = serde_json::json!({"message": "hi"})
        .as_object()
        .unwrap()
        .clone();
    let call = client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments));
    let result = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
    let result = serde_json::to_string(&result).unwrap();
    assert!(result.contains("Echo: hi"), "{result}");

    client.cancel().await.unwrap();
    child.kill().await.unwrap();
}

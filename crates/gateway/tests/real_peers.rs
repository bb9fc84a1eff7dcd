//! The official MCP servers behind the gateway, one per transport: server-everything over
//! streamable HTTP, legacy SSE and stdio, and the Python `mcp-server-time` over stdio.
//! Peers come from `scripts/setup-interop.sh`; without them these tests skip (CI sets
//! `MCP_GATEWAY_REQUIRE_INTEROP=1`, which makes a missing peer a failure).

mod common;

use common::*;
use mcp_gateway_testkit::{npm_bin_or_skip, python_bin_or_skip};
use serde_json::json;

async fn check_everything(gw: &mcp_gateway::gateway::Gateway, id: &str) {
    wait_healthy(gw, id).await;
    let entry = gw.registry.get(id).unwrap();
    assert!(entry.catalog.tools.iter().any(|t| t.name == "echo"));
    assert!(!entry.catalog.resources.is_empty());
    assert!(!entry.catalog.prompts.is_empty());
    assert_eq!(
        call_text(gw, &format!("{id}__echo"), echo_args(id)).await,
        format!("Echo: {id}")
    );
    let sum = call_text(gw, &format!("{id}__get-sum"), json!({"a": 2, "b": 40})).await;
    assert!(sum.contains("42"), "{sum}");
}

#[tokio::test]
async fn server_everything_over_streamable_http() {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let (_child, port) = everything_http(&bin, "streamableHttp").await;
    let gw = gateway().await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    gw.register(record(
        json!({"server_id": "ev_http", "url": url, "transport": "streamable_http"}),
    ))
    .await
    .unwrap();
    check_everything(&gw, "ev_http").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn server_everything_over_sse() {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let (_child, port) = everything_http(&bin, "sse").await;
    let gw = gateway().await;
    let url = format!("http://127.0.0.1:{port}/sse");
    gw.register(record(
        json!({"server_id": "ev_sse", "url": url, "transport": "sse"}),
    ))
    .await
    .unwrap();
    check_everything(&gw, "ev_sse").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn server_everything_over_stdio() {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let gw = gateway().await;
    gw.register(record(json!({
        "server_id": "ev_stdio", "transport": "stdio", "command": bin.display().to_string(), "args": ["stdio"]
    })))
    .await
    .unwrap();
    check_everything(&gw, "ev_stdio").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn python_time_server_over_stdio() {
    let Some(bin) = python_bin_or_skip("mcp-server-time") else {
        return;
    };
    let gw = gateway().await;
    gw.register(record(json!({
        "server_id": "time", "transport": "stdio", "command": bin.display().to_string(),
        "args": ["--local-timezone", "UTC"]
    })))
    .await
    .unwrap();
    wait_healthy(&gw, "time").await;
    let text = call_text(
        &gw,
        "time__get_current_time",
        json!({"timezone": "Europe/Paris"}),
    )
    .await;
    assert!(text.contains("Europe/Paris"), "{text}");
    gw.shutdown().await;
}

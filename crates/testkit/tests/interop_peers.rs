//! The pinned real peers (tests/interop) start the way tests/interop/README.md says and
//! speak MCP with rmcp's client. Skips a peer that is not installed, unless
//! `MCP_GATEWAY_REQUIRE_INTEROP=1`.

use std::{path::Path, process::Stdio, time::Duration};

use mcp_gateway_testkit::{
    free_port, npm_bin_or_skip, python_bin_or_skip, repo_root, wait_for_http,
};
use rmcp::{
    model::{CallToolRequestParams, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt},
    transport::StreamableHttpClientTransport,
};
use serde_json::json;
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(30);

/// What the gateway uses: `server/discover` first, `initialize` for legacy servers.
fn auto() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    }
}

fn stdio_child(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Child {
    Command::new(bin)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the peer")
}

/// Connects over stdio, lists tools and returns their names and the negotiated version.
async fn stdio_tools(mut child: Child) -> anyhow::Result<(Vec<String>, Option<ProtocolVersion>)> {
    let transport = (
        child.stdout.take().expect("stdout"),
        child.stdin.take().expect("stdin"),
    );
    let session = tokio::time::timeout(WAIT, ().serve_with_lifecycle(transport, auto())).await??;
    let tools = session.list_all_tools().await?;
    let version = session
        .peer_info()
        .map(|info| info.protocol_version.clone());
    session.cancel().await?;
    Ok((
        tools.into_iter().map(|t| t.name.into_owned()).collect(),
        version,
    ))
}

#[tokio::test]
async fn everything_stdio() -> anyhow::Result<()> {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return Ok(());
    };
    let (tools, version) = stdio_tools(stdio_child(&bin, &["stdio"], &[])).await?;
    assert!(
        tools.iter().any(|t| t == "echo") && tools.iter().any(|t| t == "get-sum"),
        "{tools:?}"
    );
    assert_eq!(
        version,
        Some(ProtocolVersion::V_2025_11_25),
        "the TS SDK only speaks the initialize era"
    );
    Ok(())
}

#[tokio::test]
async fn everything_streamable_http() -> anyhow::Result<()> {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return Ok(());
    };
    let port = free_port().to_string();
    let _child = Command::new(&bin)
        .arg("streamableHttp")
        .env("PORT", &port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/mcp");
    wait_for_http(&url, WAIT).await?;
    let session = tokio::time::timeout(
        WAIT,
        ().serve_with_lifecycle(StreamableHttpClientTransport::from_uri(url), auto()),
    )
    .await??;
    let echoed = session
        .call_tool(
            CallToolRequestParams::new("echo").with_arguments(
                json!({"message": "hi"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await?;
    let text: String = echoed
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert!(text.contains("hi"), "{text}");
    session.cancel().await?;
    Ok(())
}

#[tokio::test]
async fn everything_sse() -> anyhow::Result<()> {
    let Some(bin) = npm_bin_or_skip("mcp-server-everything") else {
        return Ok(());
    };
    let port = free_port().to_string();
    let _child = Command::new(&bin)
        .arg("sse")
        .env("PORT", &port)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}/sse");
    // Not wait_for_http: a GET on /sse would open a session; poll the port instead.
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>()?))
        .await
        .is_err()
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the SSE server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut response = reqwest::Client::new()
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    assert!(response.status().is_success());
    let mut body = String::new();
    while !body.contains("\n\n") {
        let chunk = tokio::time::timeout(WAIT, response.chunk())
            .await??
            .expect("an endpoint event");
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        body.contains("event: endpoint") && body.contains("/message?sessionId="),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn memory_and_filesystem_stdio() -> anyhow::Result<()> {
    let (Some(memory), Some(filesystem)) = (
        npm_bin_or_skip("mcp-server-memory"),
        npm_bin_or_skip("mcp-server-filesystem"),
    ) else {
        return Ok(());
    };
    let dir = std::env::temp_dir().join(format!("mcp-testkit-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let memory_file = dir.join("memory.jsonl");
    let memory_file = memory_file.to_str().expect("utf-8 temp path");
    let (tools, _) = stdio_tools(stdio_child(
        &memory,
        &[],
        &[("MEMORY_FILE_PATH", memory_file)],
    ))
    .await?;
    assert!(tools.iter().any(|t| t == "create_entities"), "{tools:?}");
    let (tools, _) = stdio_tools(stdio_child(
        &filesystem,
        &[dir.to_str().expect("utf-8 temp path")],
        &[],
    ))
    .await?;
    assert!(tools.iter().any(|t| t == "read_text_file"), "{tools:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn python_time_and_git_stdio() -> anyhow::Result<()> {
    let (Some(time), Some(git)) = (
        python_bin_or_skip("mcp-server-time"),
        python_bin_or_skip("mcp-server-git"),
    ) else {
        return Ok(());
    };
    let (tools, version) =
        stdio_tools(stdio_child(&time, &["--local-timezone", "UTC"], &[])).await?;
    assert!(tools.iter().any(|t| t == "get_current_time"), "{tools:?}");
    assert_eq!(
        version,
        Some(ProtocolVersion::V_2026_07_28),
        "the Python SDK speaks server/discover"
    );
    let root = repo_root();
    let (tools, _) = stdio_tools(stdio_child(
        &git,
        &["--repository", root.to_str().expect("utf-8 path")],
        &[],
    ))
    .await?;
    assert!(tools.iter().any(|t| t == "git_status"), "{tools:?}");
    Ok(())
}

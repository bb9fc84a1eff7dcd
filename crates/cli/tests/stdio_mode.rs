//! `mcp-gateway stdio --config FILE`: the aggregate over stdin/stdout. stdout must carry
//! only JSON-RPC; logs go to stderr.

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

/// `mcp-gateway stdio --config FILE`, its stdin and stdout piped.
fn stdio_gateway(config: &std::path::Path) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["stdio", "--config"])
        .arg(config)
        .env_remove("MCP_GATEWAY_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn serves_the_aggregate_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let fixture = mcp_gateway_testkit::fixture_bin();
    std::fs::write(
        &config,
        format!(
            "mcp_servers:\n  fx:\n    command: {:?}\n    args: [\"stdio\"]\n",
            fixture.display().to_string()
        ),
    )
    .unwrap();
    let mut child = stdio_gateway(&config);
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_id = 0;
    let mut request = async |method: &str, params: Value| -> Value {
        next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params});
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("an answer within 10 s")
                .unwrap()
                .expect("stdout stays open");
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("stdout carried a non-JSON line: {line}"));
            if value["id"] == json!(next_id) {
                return value;
            }
        }
    };
    let init = request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    )
    .await;
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-gateway");
    // Discovery runs in the background: poll (bounded) until the fixture's tools are there.
    let mut names = Vec::new();
    for _ in 0..100 {
        let list = request("tools/list", json!({})).await;
        names = list["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        if names.contains(&"fx__echo".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(names.contains(&"fx__echo".to_owned()), "{names:?}");
    let call = request(
        "tools/call",
        json!({"name": "fx__echo", "arguments": {"message": "over stdio"}}),
    )
    .await;
    assert_eq!(call["result"]["content"][0]["text"], "over stdio");
    drop(stdin); // EOF: the gateway shuts down, stopping its upstream
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after EOF")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// A client that stops the gateway with a signal but keeps its stdin open (as desktop
/// clients do when they quit) does not have to wait for stdin to close.
#[tokio::test]
async fn a_signal_stops_it_while_stdin_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "mcp_servers: {}\n").unwrap();
    let mut child = stdio_gateway(&config);
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Serving: a ping is answered.
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n")
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("an answer within 10 s")
        .unwrap()
        .expect("stdout stays open");
    assert_eq!(
        serde_json::from_str::<Value>(&pong).unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "result": {}})
    );
    let pid = child.id().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits on the signal, stdin still open")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(stdin);
}

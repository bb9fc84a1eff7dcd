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

/// A client of the stdio gateway: requests out, answers and notifications in.
struct StdioClient {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    next_id: u64,
    /// Notifications read while waiting for an answer.
    notifications: Vec<Value>,
}

impl StdioClient {
    fn start(config: &std::path::Path) -> Self {
        let mut child = stdio_gateway(config);
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
            next_id: 0,
            notifications: Vec::new(),
        }
    }

    async fn send(&mut self, message: Value) {
        let line = format!("{message}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    async fn read(&mut self, within: Duration) -> Value {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("a message within {within:?}"))
            .unwrap()
            .expect("stdout stays open");
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("stdout carried a non-JSON line: {line}"))
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let message = self.read(Duration::from_secs(20)).await;
            if message["id"] == json!(id) {
                return message;
            }
            self.notifications.push(message);
        }
    }

    /// Waits for a notification (or finds one read earlier).
    async fn notification(&mut self, method: &str, within: Duration) {
        if let Some(at) = self
            .notifications
            .iter()
            .position(|n| n["method"] == method)
        {
            self.notifications.remove(at);
            return;
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.read(left).await["method"] == method {
                return;
            }
        }
    }

    async fn initialize(&mut self) -> Value {
        let params = json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
        let init = self.request("initialize", params).await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        init
    }

    async fn tool_names(&mut self) -> Vec<String> {
        let list = self.request("tools/list", json!({})).await;
        let tools = list["result"]["tools"]
            .as_array()
            .expect("a tools/list result");
        tools
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// EOF on stdin: the gateway shuts down, stopping its upstreams, and exits 0.
    async fn close(self) {
        let Self {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("exits after EOF")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// A config file with stdio servers of the test kit's fixture, each started after a delay
/// (seconds), as `npx` starts a server it first downloads.
fn config_with(
    dir: &std::path::Path,
    gateway: &str,
    servers: &[(&str, u32)],
) -> std::path::PathBuf {
    let fixture = mcp_gateway_testkit::fixture_bin().display().to_string();
    let mut yaml = format!("gateway:\n{gateway}\nmcp_servers:\n");
    for (id, delay) in servers {
        let script = format!("sleep {delay}; exec \"$0\" stdio");
        yaml.push_str(&format!(
            "  {id}:\n    command: sh\n    args: [\"-c\", {script:?}, {fixture:?}]\n"
        ));
    }
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    config
}

#[tokio::test]
async fn serves_the_aggregate_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let mut client = StdioClient::start(&config_with(dir.path(), "  {}", &[("fx", 0)]));
    let init = client.initialize().await;
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-gateway");
    let names = client.tool_names().await;
    assert!(names.contains(&"fx__echo".to_owned()), "{names:?}");
    let call = client
        .request(
            "tools/call",
            json!({"name": "fx__echo", "arguments": {"message": "over stdio"}}),
        )
        .await;
    assert_eq!(call["result"]["content"][0]["text"], "over stdio");
    client.close().await;
}

/// A client that spawns the gateway asks at once (the MCP Inspector does): its first list
/// waits for the configured servers (within `startup_wait_secs`) instead of showing none;
/// a server later than that is announced with `list_changed`.
#[tokio::test]
async fn a_client_that_asks_at_once_sees_the_configured_servers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        "  startup_wait_secs: 4",
        &[("slow", 1), ("late", 8)],
    );
    let mut client = StdioClient::start(&config);
    client.initialize().await;
    let names = client.tool_names().await;
    assert!(names.contains(&"slow__echo".to_owned()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("late__")), "{names:?}");
    let call = client
        .request(
            "tools/call",
            json!({"name": "slow__echo", "arguments": {"message": "first"}}),
        )
        .await;
    assert_eq!(call["result"]["content"][0]["text"], "first");
    // Announcements of `slow` (it came while the client was starting) are past news.
    client.notifications.clear();
    client
        .notification("notifications/tools/list_changed", Duration::from_secs(30))
        .await;
    let names = client.tool_names().await;
    assert!(names.contains(&"late__echo".to_owned()), "{names:?}");
    client.close().await;
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

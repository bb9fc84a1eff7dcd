//! What a newcomer meets in the first hour with a server that is down: its health says why
//! (cause first), the log says it once rather than on every retry and carries no colour
//! codes in a file, and calling its allowlisted tool says the server is unavailable rather
//! than that the tool does not exist.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A GET's JSON answer; `None` while nothing answers.
fn get(url: &str) -> Option<Value> {
    runtime().block_on(async { reqwest::get(url).await.ok()?.json().await.ok() })
}

/// A session on `/mcp`, then one `tools/call` on it: the JSON-RPC answer.
fn mcp_tool_call(base: &str, name: &str) -> Value {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let post = |body: Value, session: Option<String>| {
            let mut request = client
                .post(format!("{base}/mcp"))
                .header("accept", "application/json, text/event-stream")
                .json(&body);
            if let Some(session) = session {
                request = request.header("mcp-session-id", session);
            }
            request.send()
        };
        let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let opened = post(init, None).await.unwrap();
        let session = opened.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        post(initialized, Some(session.clone())).await.unwrap();
        let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": name, "arguments": {}}});
        let text = post(call, Some(session)).await.unwrap().text().await.unwrap();
        // JSON, or an event stream whose data line carries the answer.
        let json = text
            .lines()
            .find_map(|line| line.strip_prefix("data:"))
            .unwrap_or(&text);
        serde_json::from_str(json.trim()).unwrap_or_else(|_| panic!("{text}"))
    })
}

fn post_json(url: &str, body: &str) -> (u16, Value) {
    runtime().block_on(async {
        let response = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    })
}

/// `mcp-gateway serve` on a free port with `config` (YAML) in `dir`, its log (default
/// filter, no colour settings from the caller's environment) in `dir/gateway.log`: the
/// process, its base URL and the log's path.
fn serve(dir: &std::path::Path, config: &str) -> (std::process::Child, String, std::path::PathBuf) {
    let port = mcp_gateway_testkit::free_port();
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let log = dir.join("gateway.log");
    let gateway = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&path)
        .env_remove("MCP_GATEWAY_MASTER_KEY")
        .env_remove("MCP_GATEWAY_LOG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("DATABASE_URL", format!("sqlite://{}/db", dir.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (gateway, format!("http://127.0.0.1:{port}"), log)
}

#[test]
fn a_server_that_is_down_is_explained_once_and_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let closed = mcp_gateway_testkit::free_port();
    let config = format!(
        "gateway:\n  startup_wait_secs: 0\nmcp_servers:\n  down:\n    url: http://127.0.0.1:{closed}/mcp\n    tools: [search]\n"
    );
    let (mut gateway, base, log) = serve(dir.path(), &config);
    // Several retries (backoff 0.25 s, 0.5 s, 1 s, 2 s …) within a bounded wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        if let Some(server) = get(&format!("{base}/mcp/servers/down"))
            && server["health"]["last_error"].is_string()
        {
            break server["health"].clone();
        }
        assert!(Instant::now() < deadline, "no health report");
        std::thread::sleep(Duration::from_millis(100));
    };
    let last_error = health["last_error"].as_str().unwrap();
    assert!(
        last_error.starts_with(&format!(
            "connection failed: connection refused by 127.0.0.1:{closed}"
        )),
        "{last_error}"
    );
    std::thread::sleep(Duration::from_secs(3)); // more retries, same cause

    // The allowlisted tool is listed (not available), and calling it names the server.
    let tools = get(&format!("{base}/mcp/tools")).unwrap();
    assert_eq!(tools["tools"][0]["name"], "down__search");
    assert_eq!(tools["tools"][0]["available"], false);
    let (status, error) = post_json(
        &format!("{base}/mcp/tools/call"),
        r#"{"name": "down__search", "arguments": {}}"#,
    );
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "upstream_unavailable");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("down"),
        "{error}"
    );
    let (status, _) = post_json(
        &format!("{base}/mcp/tools/call"),
        r#"{"name": "down__nothing", "arguments": {}}"#,
    );
    assert_eq!(status, 404);
    // The same on the MCP endpoint.
    let answer = mcp_tool_call(&base, "down__search");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"down\" is not connected"), "{answer}");
    let answer = mcp_tool_call(&base, "down__nothing");
    assert_eq!(
        answer["error"]["message"], "unknown tool: down__nothing",
        "{answer}"
    );

    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
    let said = log.matches("upstream unavailable").count();
    assert_eq!(said, 1, "the same failure logged {said} times:\n{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

/// A stdio server whose first start takes longer than rmcp's 10 s `server/discover` probe
/// (`npx` downloading its package) connects — the late answer to the probe no longer breaks
/// the handshake — and the wait is said once in the log; one that takes longer than
/// `gateway.upstream_handshake_timeout_secs` is reported as timed out.
#[test]
fn a_slow_first_start_is_just_slow() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = mcp_gateway_testkit::fixture_bin().display().to_string();
    let server = |delay: u32| {
        let script = format!("sleep {delay}; exec \"$0\" --legacy-only stdio");
        format!("    command: sh\n    args: [\"-c\", {script:?}, {fixture:?}]\n")
    };
    let config = format!(
        "gateway:\n  upstream_handshake_timeout_secs: 14\n  startup_wait_secs: 0\nmcp_servers:\n  slow:\n{}  hung:\n{}",
        server(11),
        server(120)
    );
    let (mut gateway, base, log) = serve(dir.path(), &config);
    let health = |id: &str| get(&format!("{base}/mcp/servers/{id}")).map(|s| s["health"].clone());
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (slow, hung) = (health("slow"), health("hung"));
        if let (Some(slow), Some(hung)) = (&slow, &hung)
            && slow["state"] == "healthy"
            && hung["state"] == "unhealthy"
        {
            let error = hung["last_error"].as_str().unwrap();
            assert_eq!(error, "timed out after 14s", "{hung}");
            break;
        }
        assert!(Instant::now() < deadline, "slow: {slow:?}, hung: {hung:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let tools = get(&format!("{base}/mcp/tools")).unwrap();
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "slow__echo"),
        "{tools}"
    );
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("uncorrelated"), "{log}");
    let waits = log
        .matches("has not completed its handshake after 10s")
        .count();
    assert!((1..=2).contains(&waits), "said {waits} times:\n{log}");
}

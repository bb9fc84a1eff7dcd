//! `STORE_MODEL_IN_DB=true`: an acknowledged registration survives `kill -9` and a restart,
//! on the embedded SQLite default and on PostgreSQL (127.0.0.1:5432).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const KEY: &str = "persist-key";

/// A gateway process; killed (SIGKILL) and reaped on drop.
struct Gateway {
    child: Child,
    base: String,
}

impl Gateway {
    fn spawn(database_url: Option<&str>, cwd: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(cwd)
            .env("STORE_MODEL_IN_DB", "true")
            .env("MCP_GATEWAY_MASTER_KEY", KEY)
            .env_remove("MCP_GATEWAY_CONFIG")
            .env_remove("DATABASE_URL")
            .env("MCP_GATEWAY_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log_file(cwd));
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        Self {
            child: cmd.spawn().expect("start mcp-gateway"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn start(database_url: Option<&str>, cwd: &Path) -> Self {
        let gateway = Self::spawn(database_url, cwd);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if get(&format!("{}/health/readiness", gateway.base)).is_some_and(|(s, _)| s == 200) {
                return gateway;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway at {} did not become ready", gateway.base);
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no chance to flush anything
        self.child.wait().unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway's log, appended across restarts, so a test can scan it for secrets.
fn log_file(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("gateway.log"))
        .unwrap()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn get(url: &str) -> Option<(u16, Value)> {
    block_on(async {
        let res = reqwest::Client::new()
            .get(url)
            .bearer_auth(KEY)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        Some((status, res.json().await.unwrap_or(Value::Null)))
    })
}

fn send(method: reqwest::Method, url: String, body: Option<Value>) -> u16 {
    block_on(async {
        let mut req = reqwest::Client::new().request(method, url).bearer_auth(KEY);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

fn register(base: &str, id: &str) -> u16 {
    let body = json!({
        "server_id": id, "name": format!("Server {id}"), "url": "http://127.0.0.1:9/mcp",
        "transport": "streamable_http", "tools": ["search"], "auth_type": "bearer_token",
        "auth_value": "upstream-secret", "metadata": {"version": "1.0.0"}
    });
    send(
        reqwest::Method::POST,
        format!("{base}/mcp/servers"),
        Some(body),
    )
}

fn stored_ids(base: &str) -> Vec<String> {
    let (status, body) = get(&format!("{base}/mcp/servers")).unwrap();
    assert_eq!(status, 200);
    let servers = body["servers"].as_array().unwrap();
    for s in servers {
        assert_eq!(s["source"], "api");
        assert_eq!(s["auth_configured"], true, "the secret was stored: {s}");
        assert_eq!(s["metadata"]["version"], "1.0.0");
    }
    servers
        .iter()
        .map(|s| s["server_id"].as_str().unwrap().to_owned())
        .collect()
}

fn survives_kill_9(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(database_url, dir.path());
    for id in ["alpha", "beta", "gamma"] {
        assert_eq!(register(&gateway.base, id), 201);
    }
    let removed = send(
        reqwest::Method::DELETE,
        format!("{}/mcp/servers/beta", gateway.base),
        None,
    );
    assert_eq!(removed, 200);
    gateway.kill_9();

    let gateway = Gateway::start(database_url, dir.path());
    assert_eq!(stored_ids(&gateway.base), ["alpha", "gamma"]);
    assert_eq!(
        register(&gateway.base, "alpha"),
        409,
        "still a duplicate after restart"
    );
    let log = std::fs::read_to_string(dir.path().join("gateway.log")).unwrap();
    assert!(log.contains("server registered"), "the log was captured");
    for secret in ["upstream-secret", KEY] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    if database_url.is_none() {
        assert!(
            dir.path().join("mcp-gateway.db").exists(),
            "default sqlite://mcp-gateway.db"
        );
    }
}

#[test]
fn sqlite_registrations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    survives_kill_9(Some(&url));
}

#[test]
fn default_store_is_sqlite_in_the_working_directory() {
    survives_kill_9(None);
}

#[test]
fn postgres_registrations_survive_kill_9() {
    if std::env::var("MCP_GATEWAY_SKIP_PG").is_ok_and(|v| v == "1") {
        eprintln!("MCP_GATEWAY_SKIP_PG=1: skipping the Postgres persistence test");
        return;
    }
    let db = format!("mcpgw_persist_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .expect(
                "psql runs (needs the PostgreSQL client; MCP_GATEWAY_SKIP_PG=1 skips this test)",
            );
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("DROP DATABASE IF EXISTS {db}"));
    psql(&format!("CREATE DATABASE {db}"));
    survives_kill_9(Some(&format!("postgres://postgres@127.0.0.1:5432/{db}")));
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

//! `STORE_MODEL_IN_DB=true`: an acknowledged registration survives `kill -9` and a restart,
//! on the embedded SQLite default and on PostgreSQL (127.0.0.1:5432).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const KEY: &str = "persist-key";
/// `MCP_GATEWAY_SECRET_KEY` of every gateway here: stored secrets are encrypted.
const SECRET_KEY: &str = "at-rest passphrase 7f3a9c";

/// A gateway process; killed (SIGKILL) and reaped on drop.
struct Gateway {
    child: Child,
    base: String,
}

impl Gateway {
    fn spawn(database_url: Option<&str>, cwd: &Path) -> Self {
        Self::spawn_with(database_url, cwd, Some(SECRET_KEY))
    }

    fn spawn_with(database_url: Option<&str>, cwd: &Path, secret_key: Option<&str>) -> Self {
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
        match secret_key {
            Some(key) => cmd.env("MCP_GATEWAY_SECRET_KEY", key),
            None => cmd.env_remove("MCP_GATEWAY_SECRET_KEY"),
        };
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
        "auth_value": "upstream-secret", "headers": {"X-Tenant": "header-secret"},
        "metadata": {"version": "1.0.0"}
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
    for secret in ["upstream-secret", "header-secret", KEY, SECRET_KEY] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }
    assert!(log.contains("stored secrets are encrypted"), "{log}");
    let audit = log
        .lines()
        .find(|l| l.contains("mcp_gateway::audit") && l.contains("\"alpha\""))
        .unwrap_or_else(|| panic!("no audit line for alpha:\n{log}"));
    assert!(
        // (Field names may be wrapped in ANSI colour codes.)
        audit.contains("\"master_key\"") && audit.contains("\"127.0.0.1:"),
        "{audit}"
    );
    if database_url.is_none() {
        assert!(
            dir.path().join("mcp-gateway.db").exists(),
            "default sqlite://mcp-gateway.db"
        );
    }
    let sqlite_dir = match database_url {
        None => Some(dir.path().to_owned()),
        Some(url) => url
            .strip_prefix("sqlite://")
            .map(|path| Path::new(path).parent().unwrap().to_owned()),
    };
    if let Some(db_dir) = sqlite_dir {
        let files = database_files(&db_dir);
        assert!(contains(&files, "alpha"), "the database was scanned");
        for secret in ["upstream-secret", "header-secret", SECRET_KEY] {
            assert!(!contains(&files, secret), "{secret} is stored in plaintext");
        }
    }
}

/// Every byte of the SQLite files (database, WAL, shared memory) in `dir`.
fn database_files(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".db") {
            all.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Encrypted rows and a missing or different key: the gateway refuses to start, with a
/// one-line reason naming the server and exit code 64, never printing a secret.
#[test]
fn encrypted_rows_need_the_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let gateway = Gateway::start(Some(&url), dir.path());
    assert_eq!(register(&gateway.base, "sealed"), 201);
    gateway.kill_9();

    for key in [None, Some("wrong-key-b71d")] {
        let mut gateway = Gateway::spawn_with(Some(&url), dir.path(), key);
        let status = wait_exit(&mut gateway.child, Duration::from_secs(20));
        assert_eq!(status.code(), Some(64), "key {key:?}");
    }
    let log = std::fs::read_to_string(dir.path().join("gateway.log")).unwrap();
    assert!(
        log.contains("\"sealed\"") && log.contains("MCP_GATEWAY_SECRET_KEY is not set"),
        "{log}"
    );
    assert!(log.contains("cannot be decrypted"), "{log}");
    for secret in [
        "upstream-secret",
        "header-secret",
        SECRET_KEY,
        "wrong-key-b71d",
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }
    // With the right key it starts and the server is there.
    let gateway = Gateway::start(Some(&url), dir.path());
    assert_eq!(stored_ids(&gateway.base), ["sealed"]);
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the gateway did not exit");
        std::thread::sleep(Duration::from_millis(50));
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

/// Runs `test` against a fresh Postgres database, dropped afterwards.
fn with_postgres(name: &str, test: impl FnOnce(&str)) {
    if std::env::var("MCP_GATEWAY_SKIP_PG").is_ok_and(|v| v == "1") {
        eprintln!("MCP_GATEWAY_SKIP_PG=1: skipping a Postgres persistence test");
        return;
    }
    let db = format!("mcpgw_{name}_{}", std::process::id());
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
    test(&format!("postgres://postgres@127.0.0.1:5432/{db}"));
    psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
}

#[test]
fn postgres_registrations_survive_kill_9() {
    with_postgres("persist", |url| survives_kill_9(Some(url)));
}

/// A registration, or `None` when the gateway did not answer (it was killed).
fn try_register(base: &str, id: &str) -> Option<u16> {
    let body = json!({
        "server_id": id, "url": "http://127.0.0.1:9/mcp", "auth_type": "bearer_token",
        "auth_value": "upstream-secret", "metadata": {"version": "1.0.0"}
    });
    block_on(async {
        let request = reqwest::Client::new()
            .post(format!("{base}/mcp/servers"))
            .bearer_auth(KEY)
            .json(&body)
            .timeout(std::time::Duration::from_secs(10));
        request.send().await.ok().map(|r| r.status().as_u16())
    })
}

/// Acknowledged registrations before the kill: eight clients, each with more in flight.
const STORM_ACKNOWLEDGED: usize = 16;

/// Eight clients register servers as fast as they can; the gateway is killed with
/// SIGKILL in the middle. After a restart every registration that was acknowledged
/// (201) is there, and what is stored loads whole.
fn registration_storm_survives_kill_9(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(Some(database_url), dir.path());
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (base, acknowledged, stop) =
                (gateway.base.clone(), acknowledged.clone(), stop.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("c{client}-{n}");
                    match try_register(&base, &id) {
                        Some(201) => acknowledged.lock().unwrap().push(id),
                        Some(_) => {}
                        None => break, // killed
                    }
                }
            })
        })
        .collect();
    // Killed mid-storm once enough registrations were acknowledged, however fast this
    // machine is (a fixed time let a loaded machine acknowledge too few).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < STORM_ACKNOWLEDGED
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    gateway.kill_9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= STORM_ACKNOWLEDGED,
        "the storm registered {} servers in 60 s",
        acknowledged.len()
    );

    let gateway = Gateway::start(Some(database_url), dir.path());
    let stored = stored_ids(&gateway.base);
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged registrations lost of {}: {missing:?}",
        missing.len(),
        acknowledged.len()
    );
    // Anything stored beyond them was in flight when the process died: whole, or absent.
    assert!(
        stored.len() <= acknowledged.len() + 8,
        "{} stored",
        stored.len()
    );
    eprintln!(
        "storm: {} acknowledged, {} stored after kill -9",
        acknowledged.len(),
        stored.len()
    );
}

#[test]
fn sqlite_registration_storm_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("storm.db").display());
    registration_storm_survives_kill_9(&url);
}

#[test]
fn postgres_registration_storm_survives_kill_9() {
    with_postgres("storm", registration_storm_survives_kill_9);
}

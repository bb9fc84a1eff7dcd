//! The admin subcommands end to end: the real `mcp-gateway` binary runs `serve` on a free
//! loopback port, and the same binary's `servers`, `tools`, `resources` and `prompts`
//! commands drive it. Every child process is bounded in time and killed on panic.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-gateway");
const KEY: &str = "test-key";
/// An upstream that refuses connections: registered servers stay connecting/unhealthy.
const CLOSED_UPSTREAM: &str = "http://127.0.0.1:9/mcp";
/// Variables of the developer's environment that would change what the binary does.
const SCRUBBED_ENV: &[&str] = &[
    "MCP_GATEWAY_URL",
    "MCP_GATEWAY_MASTER_KEY",
    "MCP_GATEWAY_CONFIG",
    "MCP_GATEWAY_LISTEN",
    "MCP_GATEWAY_ENABLED",
    "MCP_GATEWAY_LOG_FORMAT",
    "MCP_GATEWAY_WORKER_THREADS",
    "DATABASE_URL",
    "RUST_LOG",
];
const CLI_DEADLINE: Duration = Duration::from_secs(30);
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// A running `mcp-gateway serve`, killed when dropped (also when a test panics).
struct Gateway {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Gateway {
    fn start() -> Self {
        // A free port can be taken between probing and binding: retry on a new one.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("gateway.log")).expect("log file");
            let mut command = Command::new(BIN);
            scrub(&mut command);
            let child = command
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .current_dir(dir.path())
                .env("HOME", dir.path())
                .env("MCP_GATEWAY_MASTER_KEY", KEY)
                .env("STORE_MODEL_IN_DB", "false")
                .env("MCP_GATEWAY_LOG", "info")
                // Everything below also shows a one-thread runtime serves it all.
                .env("MCP_GATEWAY_WORKER_THREADS", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn mcp-gateway serve");
            let mut gateway = Gateway {
                child,
                url: format!("http://127.0.0.1:{port}"),
                dir,
            };
            if gateway.wait_ready(port) {
                return gateway;
            }
            let _ = gateway.child.kill();
            let _ = gateway.child.wait();
            eprintln!("gateway did not start on port {port}:\n{}", gateway.log());
        }
        panic!("the gateway did not become ready");
    }

    /// Polls `/health/readiness` until it answers 200, the process exits, or the deadline.
    fn wait_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                return false;
            }
            if http_status(port, "/health/readiness") == Some(200) {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// Runs an admin command against this gateway with the right key.
    fn cli(&self, args: &[&str]) -> Output {
        run(
            args,
            &[
                ("MCP_GATEWAY_URL", &self.url),
                ("MCP_GATEWAY_MASTER_KEY", KEY),
            ],
            None,
        )
    }

    /// Runs an admin command with `stdin` as standard input.
    fn cli_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run(
            args,
            &[
                ("MCP_GATEWAY_URL", &self.url),
                ("MCP_GATEWAY_MASTER_KEY", KEY),
            ],
            Some(stdin),
        )
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- gateway log ---\n{}", self.log());
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The status of `GET path` on 127.0.0.1:port, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

fn scrub(command: &mut Command) {
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
}

#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Asserts exit code 1 and the one-line `error: <code>: …` on stderr.
    #[track_caller]
    fn api_error(self, code: &str) -> Self {
        assert_eq!(self.code, 1, "{self:?}");
        assert!(
            self.stderr.starts_with(&format!("error: {code}: ")),
            "{self:?}"
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one line: {self:?}"
        );
        self
    }
}

/// Runs the binary with a clean environment plus `env`, bounded by [`CLI_DEADLINE`].
/// Also checks that the master key never appears in the output.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    scrub(&mut command);
    command
        .args(args)
        .envs(env.iter().copied())
        .env("MCP_GATEWAY_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn mcp-gateway");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CLI_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mcp-gateway {args:?} did not finish within {CLI_DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        code: status.code().expect("exit code, not a signal"),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    assert!(
        !output.stdout.contains(KEY) && !output.stderr.contains(KEY),
        "the master key was printed: {output:?}"
    );
    output
}

fn ids(servers: &Value) -> Vec<&str> {
    servers["servers"]
        .as_array()
        .expect("servers array")
        .iter()
        .map(|s| s["server_id"].as_str().expect("server_id"))
        .collect()
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

#[test]
fn admin_commands_against_a_running_gateway() {
    let gw = Gateway::start();

    // Nothing registered yet: empty stdout, a hint on stderr.
    let out = gw.cli(&["servers", "list"]).ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no servers registered"), "{out:?}");

    // Add from flags, with secrets that must never come back.
    let out = run(
        &[
            "servers",
            "add",
            "--id",
            "flagged",
            "--server-url",
            CLOSED_UPSTREAM,
            "--tool",
            "echo",
            "--auth-type",
            "bearer_token",
            "--auth-value-env",
            "MCPGW_TEST_TOKEN",
            "--header",
            "X-Team=header-secret",
            "--metadata",
            r#"{"team": "qa"}"#,
            "--timeout-secs",
            "5",
        ],
        &[
            ("MCP_GATEWAY_URL", &gw.url),
            ("MCP_GATEWAY_MASTER_KEY", KEY),
            ("MCPGW_TEST_TOKEN", "upstream-secret"),
        ],
        None,
    )
    .ok();
    assert!(
        out.stdout
            .starts_with("registered server flagged (streamable_http"),
        "{out:?}"
    );

    // Add from a file, and from standard input with --json.
    let record =
        format!(r#"{{"server_id": "filed", "name": "From file", "url": "{CLOSED_UPSTREAM}"}}"#);
    let file = write_file(gw.dir.path(), "record.json", &record);
    gw.cli(&["servers", "add", "--file", &file]).ok();
    let record =
        format!(r#"{{"server_id": "piped", "url": "{CLOSED_UPSTREAM}", "transport": "sse"}}"#);
    let answer = gw
        .cli_stdin(&["servers", "add", "--file", "-", "--json"], &record)
        .ok()
        .json();
    assert_eq!(answer["status"], "registered");
    assert_eq!(answer["server"]["transport"], "sse");

    // The gateway's refusals: exit 1 and `error: <code>: <message>` on one line.
    gw.cli(&[
        "servers",
        "add",
        "--id",
        "flagged",
        "--server-url",
        CLOSED_UPSTREAM,
    ])
    .api_error("server_exists");
    let bad = write_file(
        gw.dir.path(),
        "bad.json",
        r#"{"server_id": "a/b", "url": "http://127.0.0.1:9/"}"#,
    );
    let out = gw
        .cli(&["servers", "add", "--file", &bad])
        .api_error("invalid_field");
    assert!(out.stderr.contains("server_id"), "{out:?}");

    // list: a table with every server; --json parses.
    let out = gw.cli(&["servers", "list"]).ok();
    let mut lines = out.stdout.lines();
    let header = lines.next().expect("header");
    for column in [
        "ID",
        "NAME",
        "TRANSPORT",
        "SOURCE",
        "HEALTH",
        "TOOLS",
        "URL/COMMAND",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{out:?}");
    for id in ["flagged", "filed", "piped"] {
        let row = rows
            .iter()
            .find(|r| r.starts_with(id))
            .unwrap_or_else(|| panic!("{id} in {out:?}"));
        assert!(
            row.contains(CLOSED_UPSTREAM) && row.contains(" api "),
            "{row}"
        );
        assert!(
            row.contains("connecting") || row.contains("unhealthy"),
            "{row}"
        );
    }
    // Approving a tool that is not held changes nothing.
    gw.cli(&["tools", "approve", "filed", "echo"])
        .api_error("tool_not_held");

    // The summary: a row per server, then the totals.
    let out = gw.cli(&["status"]).ok();
    let header = out.stdout.lines().next().unwrap_or_default();
    for column in [
        "SERVER",
        "TRANSPORT",
        "HEALTH",
        "TOOLS",
        "CALLS/MIN",
        "LAST ERROR",
    ] {
        assert!(header.contains(column), "{out:?}");
    }
    assert!(out.stdout.contains("0/3 servers healthy"), "{out:?}");
    let status = gw.cli(&["status", "--json"]).ok().json();
    let servers = status["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3, "{status}");
    assert!(
        servers.iter().all(|s| s["requests_last_minute"] == 0.0),
        "{status}"
    );
    assert!(status["sessions"].is_object(), "{status}");

    let listed = gw.cli(&["servers", "list", "--json"]).ok().json();
    let mut listed_ids = ids(&listed);
    listed_ids.sort_unstable();
    assert_eq!(listed_ids, ["filed", "flagged", "piped"]);

    // get: key: value lines; secrets reduced to whether they are set.
    let out = gw.cli(&["servers", "get", "flagged"]).ok();
    for expected in [
        "server_id:",
        "flagged",
        "auth_type:",
        "bearer_token (credential set)",
        "X-Team",
        "tools:",
        "echo",
    ] {
        assert!(out.stdout.contains(expected), "{expected} in {out:?}");
    }
    let view = gw.cli(&["servers", "--json", "get", "flagged"]).ok().json();
    assert_eq!(view["server_id"], "flagged");
    assert_eq!(view["auth_configured"], true);
    assert_eq!(view["metadata"]["team"], "qa");
    for output in [&out.stdout, &view.to_string(), &listed.to_string()] {
        assert!(
            !output.contains("upstream-secret") && !output.contains("header-secret"),
            "{output}"
        );
    }
    gw.cli(&["servers", "get", "nope"])
        .api_error("server_not_found");

    // Catalogs: the allowlisted tool is listed as unavailable; nothing else was discovered.
    let out = gw.cli(&["tools", "list"]).ok();
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("flagged__echo"))
        .unwrap_or_else(|| panic!("{out:?}"));
    assert!(row.contains(" no "), "{row}");
    let tools = gw.cli(&["tools", "list", "--json"]).ok().json();
    let tools = tools["tools"].as_array().expect("tools array");
    assert!(tools.iter().all(|t| t["available"] == false), "{tools:?}");
    let out = gw.cli(&["tools", "list", "--server", "filed"]).ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no tools for server filed"), "{out:?}");
    gw.cli(&["resources", "list"]).ok();
    assert!(gw.cli(&["resources", "list", "--json"]).ok().json()["resources"].is_array());
    gw.cli(&["prompts", "list"]).ok();
    assert!(gw.cli(&["prompts", "list", "--json"]).ok().json()["prompts"].is_array());

    // tools call: an unknown tool is the gateway's error; bad --args never leave the CLI.
    gw.cli(&["tools", "call", "nope__nothing", "--args", r#"{"a": 1}"#])
        .api_error("tool_not_found");
    let out = gw.cli(&["tools", "call", "flagged__echo", "--args", "{not json"]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(out.stderr.starts_with("error: --args"), "{out:?}");
    let out = gw.cli_stdin(&["tools", "call", "flagged__echo", "--args", "-"], "[1, 2]");
    assert_eq!(out.code, 64, "{out:?}");

    // Authentication: a wrong key and no key are both refused.
    let out = run(
        &["servers", "list", "--key", "wrong-key"],
        &[("MCP_GATEWAY_URL", &gw.url)],
        None,
    )
    .api_error("unauthorized");
    assert!(out.stderr.contains("refused"), "{out:?}");
    let out = run(&["tools", "list", "--url", &gw.url], &[], None).api_error("unauthorized");
    assert!(out.stderr.contains("MCP_GATEWAY_MASTER_KEY"), "{out:?}");

    // update (PUT) replaces the whole record; the config file's servers are refused.
    let out = gw
        .cli(&[
            "servers",
            "update",
            "--id",
            "filed",
            "--name",
            "Renamed",
            "--server-url",
            CLOSED_UPSTREAM,
            "--tool",
            "search",
        ])
        .ok();
    assert!(out.stdout.starts_with("updated server filed"), "{out:?}");
    let filed = gw.cli(&["servers", "get", "filed", "--json"]).ok().json();
    assert_eq!(filed["name"], "Renamed");
    assert_eq!(filed["tools"], serde_json::json!(["search"]));
    gw.cli(&[
        "servers",
        "update",
        "--id",
        "nope",
        "--server-url",
        CLOSED_UPSTREAM,
    ])
    .api_error("server_not_found");

    // rm, then it is gone.
    let out = gw.cli(&["servers", "rm", "flagged"]).ok();
    assert_eq!(out.stdout.trim(), "unregistered server flagged");
    gw.cli(&["servers", "get", "flagged"])
        .api_error("server_not_found");
    gw.cli(&["servers", "rm", "flagged"])
        .api_error("server_not_found");
    let answer = gw.cli(&["servers", "rm", "piped", "--json"]).ok().json();
    assert_eq!(answer["status"], "unregistered");
    assert_eq!(
        ids(&gw.cli(&["servers", "list", "--json"]).ok().json()),
        ["filed"]
    );

    // The gateway goes away: exit 69, naming the URL and how to start one.
    let url = gw.url.clone();
    drop(gw);
    let out = run(
        &["servers", "list"],
        &[("MCP_GATEWAY_URL", &url), ("MCP_GATEWAY_MASTER_KEY", KEY)],
        None,
    );
    assert_eq!(out.code, 69, "{out:?}");
    assert!(
        out.stderr.contains(&url) && out.stderr.contains("mcp-gateway serve"),
        "{out:?}"
    );
}

#[test]
fn keys_and_policies_commands() {
    let gw = Gateway::start();
    let out = gw
        .cli(&[
            "policies",
            "create",
            "--name",
            "read-only",
            "--allow",
            "tool.annotations.readOnlyHint",
            "--description",
            "tools that change nothing",
        ])
        .ok();
    assert!(
        out.stdout.contains("read-only") && out.stdout.contains("allow"),
        "{out:?}"
    );
    gw.cli(&[
        "policies",
        "create",
        "--name",
        "bad",
        "--deny",
        "tool.name ==",
    ])
    .api_error("invalid_field");
    let out = gw.cli(&["policies", "list"]).ok();
    assert!(
        out.stdout.contains("tool.annotations.readOnlyHint"),
        "{out:?}"
    );

    let out = gw
        .cli(&[
            "keys",
            "create",
            "--json",
            "--name",
            "reader",
            "--policy",
            "read-only",
        ])
        .ok();
    let key = out.json();
    assert!(key["key"].as_str().unwrap().starts_with("mgw_"), "{out:?}");
    assert_eq!(key["policies"], serde_json::json!(["read-only"]));
    let key_id = key["key_id"].as_str().unwrap().to_owned();
    let out = gw.cli(&["keys", "get", &key_id]).ok();
    assert!(out.stdout.contains("read-only"), "{out:?}");
    gw.cli(&["policies", "rm", "read-only"])
        .api_error("policy_in_use");
    gw.cli(&["keys", "create", "--name", "x", "--policy", "nope"])
        .api_error("invalid_field");

    gw.cli(&["keys", "rm", &key_id]).ok();
    let out = gw
        .cli(&[
            "policies",
            "create",
            "--replace",
            "--name",
            "read-only",
            "--deny",
            "false",
        ])
        .ok();
    assert!(out.stdout.contains("deny"), "{out:?}");
    gw.cli(&["policies", "rm", "read-only"]).ok();
    gw.cli(&["policies", "get", "read-only"])
        .api_error("policy_not_found");
}

#[test]
fn an_unreachable_gateway_exits_69() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        &["servers", "list"][..],
        &["servers", "get", "x"],
        &["servers", "rm", "x"],
        &[
            "servers",
            "add",
            "--id",
            "x",
            "--server-url",
            CLOSED_UPSTREAM,
        ],
        &["tools", "list"],
        &["tools", "call", "x__y", "--args", "{}"],
        &["resources", "list"],
        &["prompts", "list", "--json"],
    ] {
        let out = run(
            args,
            &[("MCP_GATEWAY_URL", &url), ("MCP_GATEWAY_MASTER_KEY", KEY)],
            None,
        );
        assert_eq!(out.code, 69, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(
            out.stderr
                .starts_with("error: cannot reach the gateway at "),
            "{out:?}"
        );
        assert!(
            out.stderr.contains(&url) && out.stderr.contains("mcp-gateway serve"),
            "{out:?}"
        );
    }
}

#[test]
fn bad_input_exits_64_before_anything_is_sent() {
    // The URL has no listener, so a 64 proves the input was refused before connecting.
    let url = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("MCP_GATEWAY_URL", url.as_str()),
        ("MCP_GATEWAY_MASTER_KEY", KEY),
    ];
    for args in [
        &["tools", "call", "x__y", "--args", "{nope"][..],
        &["tools", "call", "x__y", "--args", "[1]"],
        &[
            "servers",
            "add",
            "--id",
            "x",
            "--server-url",
            CLOSED_UPSTREAM,
            "--metadata",
            "1",
        ],
        &[
            "servers",
            "add",
            "--id",
            "x",
            "--server-url",
            CLOSED_UPSTREAM,
            "--header",
            "nokey",
        ],
        &[
            "servers",
            "add",
            "--id",
            "x",
            "--server-url",
            CLOSED_UPSTREAM,
            "--auth-value",
            "t",
        ],
        &["servers", "add", "--id", "x", "--url", CLOSED_UPSTREAM],
        &["servers", "add", "--file", "/nonexistent/record.json"],
        &["servers", "list", "--url", "ftp://127.0.0.1/"],
    ] {
        let out = run(args, &env, None);
        assert_eq!(out.code, 64, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{out:?}");
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:?}");
    }
    let out = run(&["servers", "add", "--file", "-"], &env, Some("not json"));
    assert_eq!(out.code, 64, "{out:?}");
}

#[test]
fn a_bad_runtime_size_exits_64_naming_it() {
    let listen = format!("127.0.0.1:{}", free_port());
    for bad in ["0", "many"] {
        let out = run(
            &["serve", "--listen", &listen],
            &[("MCP_GATEWAY_WORKER_THREADS", bad)],
            None,
        );
        assert_eq!(out.code, 64, "{bad}: {out:?}");
        assert!(
            out.stderr.contains("MCP_GATEWAY_WORKER_THREADS"),
            "{bad}: {out:?}"
        );
    }
}

#[test]
fn a_bad_allowed_host_exits_64_naming_it() {
    let listen = format!("127.0.0.1:{}", free_port());
    let out = run(
        &["serve", "--listen", &listen],
        &[(
            "MCP_GATEWAY_ALLOWED_HOSTS",
            "gw.example.com,https://gw.example.com",
        )],
        None,
    );
    assert_eq!(out.code, 64, "{out:?}");
    assert!(
        out.stderr.contains("MCP_GATEWAY_ALLOWED_HOSTS[1]"),
        "{out:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, "gateway:\n  allowed_hosts: [\"*.example.com\"]\n").unwrap();
    let config = config.to_str().unwrap();
    let out = run(
        &["serve", "--listen", &listen, "--config", config],
        &[],
        None,
    );
    assert_eq!(out.code, 64, "{out:?}");
    assert!(out.stderr.contains("gateway.allowed_hosts[0]"), "{out:?}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:?}");
}

#[test]
fn every_command_has_help() {
    // The key is in the environment: help must not show it.
    let env = [("MCP_GATEWAY_MASTER_KEY", KEY)];
    for command in [
        &["servers"][..],
        &["servers", "list"],
        &["servers", "get"],
        &["servers", "add"],
        &["servers", "update"],
        &["servers", "rm"],
        &["keys"],
        &["keys", "create"],
        &["keys", "list"],
        &["policies"],
        &["policies", "create"],
        &["policies", "list"],
        &["policies", "rm"],
        &["tools"],
        &["tools", "list"],
        &["tools", "call"],
        &["tools", "approve"],
        &["resources"],
        &["resources", "list"],
        &["prompts"],
        &["prompts", "list"],
        &["health"],
        &["status"],
    ] {
        let out = run(&[command, &["--help"]].concat(), &env, None).ok();
        let usage = format!("Usage: mcp-gateway {}", command.join(" "));
        assert!(out.stdout.contains(&usage), "{usage} in {out:?}");
        for flag in ["--url", "--key", "--json"] {
            assert!(out.stdout.contains(flag), "{flag} in {command:?} help");
        }
    }
    let out = run(&["--help"], &[], None).ok();
    for command in [
        "servers",
        "tools",
        "resources",
        "prompts",
        "health",
        "status",
    ] {
        assert!(out.stdout.contains(command), "{out:?}");
    }
}

/// A stand-in for the gateway on a free port: answers every request with `status` and
/// `body`, and hands each request it read (head and body) to the returned receiver.
fn canned_gateway(
    status: &'static str,
    body: &'static str,
) -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head, then as much body as Content-Length announces.
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&request).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, rx)
}

#[test]
fn tool_results_are_printed_and_is_error_exits_1() {
    let result = r#"{"content": [{"type": "text", "text": "hello\nworld"}, {"type": "resource_link", "uri": "file:///x", "name": "x"}], "isError": false}"#;
    let (url, requests) = canned_gateway("200 OK", result);
    let env = [
        ("MCP_GATEWAY_URL", url.as_str()),
        ("MCP_GATEWAY_MASTER_KEY", KEY),
    ];
    let out = run(
        &["tools", "call", "s__echo", "--args", r#"{"message": "hi"}"#],
        &env,
        None,
    )
    .ok();
    assert_eq!(out.stdout, "hello\nworld\n[resource_link file:///x]\n");
    let request = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("request");
    assert!(request.starts_with("POST /mcp/tools/call "), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("authorization: bearer {KEY}")),
        "{request}"
    );
    let body: Value =
        serde_json::from_str(request.split("\r\n\r\n").nth(1).expect("body")).expect("JSON body");
    assert_eq!(
        body,
        serde_json::json!({"name": "s__echo", "arguments": {"message": "hi"}})
    );

    // isError: the content goes to stderr and the exit code is 1, also with --json.
    let failed = r#"{"content": [{"type": "text", "text": "boom"}], "isError": true}"#;
    let (url, _requests) = canned_gateway("200 OK", failed);
    let env = [
        ("MCP_GATEWAY_URL", url.as_str()),
        ("MCP_GATEWAY_MASTER_KEY", KEY),
    ];
    let out = run(&["tools", "call", "s__echo"], &env, None);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (1, "", "boom\n"),
        "{out:?}"
    );
    let out = run(&["tools", "call", "s__echo", "--json"], &env, None);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.json()["isError"], true);

    // Structured content only: printed as JSON.
    let structured = r#"{"content": [], "structuredContent": {"sum": 3}}"#;
    let (url, _requests) = canned_gateway("200 OK", structured);
    let out = run(&["tools", "call", "s__add", "--url", &url], &[], None).ok();
    assert_eq!(out.json(), serde_json::json!({"sum": 3}));
}

#[test]
fn answers_that_are_not_the_gateways_exit_1() {
    let (url, _requests) = canned_gateway("502 Bad Gateway", "<html>bad gateway</html>");
    let out = run(&["servers", "list", "--url", &url], &[], None).api_error("http_502");
    assert!(out.stderr.contains("bad gateway"), "{out:?}");
    let (url, _requests) = canned_gateway("200 OK", "<html>hello</html>");
    run(&["tools", "list", "--url", &url], &[], None).api_error("invalid_response");
}

#[test]
fn a_gateway_that_does_not_answer_times_out_with_69() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    // Accept connections and hold them open without answering.
    thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().filter_map(Result::ok).collect();
        drop(held);
    });
    let started = Instant::now();
    let out = run(
        &["servers", "list", "--url", &url, "--timeout", "1"],
        &[],
        None,
    );
    assert_eq!(out.code, 69, "{out:?}");
    assert!(out.stderr.contains("did not answer within 1s"), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

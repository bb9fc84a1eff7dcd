//! Helpers for tests: ports, readiness, and locating the real MCP servers CI installs.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

/// Environment variable that turns "peer not installed → skip" into "→ fail". CI sets it to
/// `1`; see `tests/interop/README.md`.
pub const REQUIRE_INTEROP_ENV: &str = "MCP_GATEWAY_REQUIRE_INTEROP";

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). Another process
/// may grab it before you bind it; prefer binding `127.0.0.1:0` yourself when you can.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Waits until `url` answers HTTP at all (any status counts: a 400/404/405 from an MCP
/// endpoint still means the server is up). Errors after `timeout`.
pub async fn wait_for_http(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        let last_error = match client.get(url).send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            anyhow::bail!("{url} did not answer within {timeout:?}: {last_error}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The repository root (found from this crate's `CARGO_MANIFEST_DIR`, `crates/testkit`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// `<repo>/tests/interop`: the pinned npm package set and Python requirements.
pub fn interop_dir() -> PathBuf {
    repo_root().join("tests").join("interop")
}

fn existing_file(path: PathBuf) -> Option<PathBuf> {
    path.is_file().then_some(path)
}

/// An npm-installed server binary, e.g. `mcp-server-everything`, from
/// `<repo>/tests/interop/node_modules/.bin/`. `None` if `npm ci` has not run there.
pub fn npm_bin(name: &str) -> Option<PathBuf> {
    existing_file(interop_dir().join("node_modules").join(".bin").join(name))
}

/// A PyPI-installed server binary, e.g. `mcp-server-time`, from `<repo>/.venv/bin/`.
/// `None` if the virtualenv is missing.
pub fn python_bin(name: &str) -> Option<PathBuf> {
    existing_file(repo_root().join(".venv").join("bin").join(name))
}

/// Whether missing interop peers must fail tests instead of skipping them
/// (`MCP_GATEWAY_REQUIRE_INTEROP` is set to anything but `""`, `0` or `false`).
pub fn interop_required() -> bool {
    std::env::var(REQUIRE_INTEROP_ENV).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The convention for interop tests: `Some(path)` if the peer is installed; otherwise skip
/// (print why and return `None`) — or panic when [`interop_required`].
///
/// ```no_run
/// # fn t() {
/// let Some(everything) = mcp_gateway_testkit::npm_bin_or_skip("mcp-server-everything") else {
///     return;
/// };
/// # }
/// ```
pub fn npm_bin_or_skip(name: &str) -> Option<PathBuf> {
    found_or_skip(name, npm_bin(name))
}

/// [`npm_bin_or_skip`] for [`python_bin`] peers.
pub fn python_bin_or_skip(name: &str) -> Option<PathBuf> {
    found_or_skip(name, python_bin(name))
}

fn found_or_skip(name: &str, found: Option<PathBuf>) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    let msg = format!("interop peer `{name}` is not installed (run scripts/setup-interop.sh)");
    if interop_required() {
        panic!("{msg}; {REQUIRE_INTEROP_ENV} is set, so this is an error");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Path of the `mcp-fixture` binary, for tests in *other* crates (inside this crate use
/// `env!("CARGO_BIN_EXE_mcp-fixture")`).
///
/// `$MCP_FIXTURE_BIN` if set; otherwise `cargo build -p mcp-gateway-testkit --bin mcp-fixture`
/// runs once per test process (a no-op when up to date) and the binary next to the running
/// test executable (`target/<profile>/mcp-fixture`) is used.
pub fn fixture_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(locate_fixture_bin).clone()
}

fn locate_fixture_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MCP_FIXTURE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test>-<hash>  →  target/<profile>
    let mut profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if profile_dir.ends_with("deps") {
        profile_dir.pop();
    }
    let candidate = profile_dir.join("mcp-fixture");
    // Always ask cargo (a no-op when up to date): testing one package does not rebuild
    // another package's binaries, and a stale fixture fails in confusing ways.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args([
        "build",
        "-p",
        "mcp-gateway-testkit",
        "--bin",
        "mcp-fixture",
    ]);
    if let Some(profile) = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .filter(|p| *p != "debug")
    {
        cmd.args(["--profile", profile]);
    }
    let status = cmd.status().expect("run cargo to build mcp-fixture");
    assert!(status.success(), "building mcp-fixture failed: {status}");
    assert!(
        candidate.is_file(),
        "mcp-fixture not found at {}",
        candidate.display()
    );
    candidate
}

//! Cross-talk: many concurrent clients share the gateway's upstream sessions, and every
//! server→client request (sampling, elicitation, roots) must reach the client whose call
//! caused it. server-everything sits behind the gateway over stdio, streamable HTTP and
//! HTTP+SSE (`ev_stdio`, `ev_http`, `ev_sse`); 8 clients of the official SDKs, each with
//! callbacks that answer with its own identity, call the sampling, elicitation and roots
//! tools at once (`tests/interop/clients/python_crosstalk.py`, `ts_crosstalk.mjs`).
//!
//! Each run prints a table of calls / ok / wrong client / failed / stray per server and
//! tool; any wrong, stray or failed call fails the test. The runs go one at a time, each
//! against a fresh gateway, so that no run sees state (e.g. cached roots) of another.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Output,
    time::Duration,
};

use common::*;
use mcp_gateway_testkit::{interop_dir, interop_required, npm_bin_or_skip, python_bin_or_skip};
use tokio::process::Command;

const SERVERS: [&str; 3] = ["ev_stdio", "ev_http", "ev_sse"];
/// Bound of one script run; the scripts bound themselves a little below it. Generous: a
/// 2026-07-28 client that can be asked gets a stdio process for each call to a session-era
/// stdio server, and a loaded 2-core machine starts node slowly.
const RUN_LIMIT: Duration = Duration::from_secs(240);
const SCRIPT_LIMIT_SECS: &str = "220";
/// Concurrent clients per run; `MCP_GATEWAY_CROSSTALK_CLIENTS=1` checks the scripts
/// themselves (with one client there is nobody to mix up).
const CLIENTS_ENV: &str = "MCP_GATEWAY_CROSSTALK_CLIENTS";

/// The runs share a 2-core budget: one at a time (under `cargo test`; nextest runs each test
/// in a process of its own and serialises them by its test group, `.config/nextest.toml`).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One face of the gateway and the script that drives it.
struct Face<'a> {
    program: &'a Path,
    script: &'a str,
    /// `/mcp` or `/sse`.
    path: &'a str,
    /// Arguments before the server ids (the Python script's MODE).
    args: &'a [&'a str],
}

/// Runs `face`'s script against the gateway at `addr` on every server, with `options`
/// after the server ids; prints its output (the figures) and returns it.
async fn run_script(
    addr: std::net::SocketAddr,
    face: &Face<'_>,
    options: &[&str],
) -> (Output, String) {
    let script: PathBuf = interop_dir().join("clients").join(face.script);
    let out = tokio::time::timeout(
        RUN_LIMIT,
        Command::new(face.program)
            .arg(&script)
            .arg(format!("http://{addr}{}", face.path))
            .args(face.args)
            .args(SERVERS)
            .args(["--timeout", SCRIPT_LIMIT_SECS])
            .args(options)
            .current_dir(interop_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} {:?} finished within {RUN_LIMIT:?}",
            face.script, face.args
        )
    })
    .expect("the cross-talk script runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}");
    (out, stdout)
}

/// The `ok …` / `FAIL …` lines of a script's output.
fn verdicts(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("FAIL") || l.starts_with("ok "))
        .collect()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts a fresh gateway in front of server-everything, runs `face`'s script with 8
/// concurrent clients (or `$MCP_GATEWAY_CROSSTALK_CLIENTS`) for 3 rounds, and asserts that
/// every call reached its own client.
async fn cross_talk(everything: &Path, face: Face<'_>) {
    let _one_at_a_time = SERIAL.lock().await;
    let setup = everything_gateway(everything).await;
    let clients = std::env::var(CLIENTS_ENV).unwrap_or_else(|_| "8".into());
    let (out, stdout) = run_script(
        setup.running.addr,
        &face,
        &["--clients", &clients, "--rounds", "3"],
    )
    .await;
    setup.running.shutdown().await.unwrap();
    let verdicts = verdicts(&stdout);
    assert!(
        out.status.success() && !stdout.contains("FAIL") && !verdicts.is_empty(),
        "cross-talk through {} ({} {:?}), figures above: some server→client requests did not \
         reach the client that caused them:\n{}\n{}",
        face.path,
        face.script,
        face.args,
        verdicts.join("\n"),
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    );
}

#[tokio::test]
async fn python_sdk_legacy_clients_over_mcp() {
    let Some((everything, python)) = python_peers() else {
        return;
    };
    let face = Face {
        program: &python,
        script: "python_crosstalk.py",
        path: "/mcp",
        args: &["legacy"],
    };
    cross_talk(&everything, face).await;
}

/// server-everything and the Python interpreter with the SDK, or `None` (the test skips).
fn python_peers() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    Some((
        npm_bin_or_skip("mcp-server-everything")?,
        python_bin_or_skip("python")?,
    ))
}

/// Whether the installed Python SDK speaks 2026-07-28 (`Client(mode="2026-07-28")`).
async fn python_has_2026_mode(python: &Path) -> bool {
    let probe = Command::new(python)
        .args([
            "-c",
            "import sys, mcp.client.client as c; sys.exit('2026-07-28' not in c.MODERN_PROTOCOL_VERSIONS)",
        ])
        .output()
        .await
        .expect("python runs");
    if !probe.status.success() {
        let msg = "the installed Python SDK has no 2026-07-28 mode";
        assert!(!interop_required(), "{msg} (run scripts/setup-interop.sh)");
        eprintln!("SKIPPED: {msg}");
    }
    probe.status.success()
}

/// 2026-07-28 clients have no sessions: the gateway turns the upstream's requests into
/// `input_required` answers of the call that caused them (era bridging).
#[tokio::test]
async fn python_sdk_2026_clients_over_mcp() {
    let Some((everything, python)) = python_peers() else {
        return;
    };
    if !python_has_2026_mode(&python).await {
        return;
    }
    let face = Face {
        program: &python,
        script: "python_crosstalk.py",
        path: "/mcp",
        args: &["2026-07-28"],
    };
    cross_talk(&everything, face).await;
}

#[tokio::test]
async fn python_sdk_clients_over_legacy_sse_face() {
    let Some((everything, python)) = python_peers() else {
        return;
    };
    let face = Face {
        program: &python,
        script: "python_crosstalk.py",
        path: "/sse",
        args: &["sse"],
    };
    cross_talk(&everything, face).await;
}

#[tokio::test]
async fn typescript_sdk_clients_over_mcp() {
    let Some(everything) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let face = Face {
        program: Path::new("node"),
        script: "ts_crosstalk.mjs",
        path: "/mcp",
        args: &[],
    };
    cross_talk(&everything, face).await;
}

/// The control of the checks themselves: one client (nobody to mix it up with) whose
/// callbacks answer as a client that does not exist (`--impostor`). Every script must call
/// every sampling and elicitation answer `wrong` and fail, so a passing cross-talk run
/// means the answers really came from the right client.
#[tokio::test]
async fn the_scripts_catch_an_answer_from_another_client() {
    let Some((everything, python)) = python_peers() else {
        return;
    };
    let modern = python_has_2026_mode(&python).await;
    let _one_at_a_time = SERIAL.lock().await;
    let setup = everything_gateway(&everything).await;
    let python_face = |path, mode| Face {
        program: &python,
        script: "python_crosstalk.py",
        path,
        args: mode,
    };
    let mut faces = vec![
        python_face("/mcp", &["legacy"]),
        python_face("/sse", &["sse"]),
        Face {
            program: Path::new("node"),
            script: "ts_crosstalk.mjs",
            path: "/mcp",
            args: &[],
        },
    ];
    if modern {
        faces.push(python_face("/mcp", &["2026-07-28"]));
    }
    for face in &faces {
        let options = ["--clients", "1", "--rounds", "1", "--impostor"];
        let (out, stdout) = run_script(setup.running.addr, face, &options).await;
        assert!(
            !out.status.success(),
            "an impostor's answers passed:\n{stdout}"
        );
        for server in SERVERS {
            let verdict = verdicts(&stdout)
                .into_iter()
                .find(|l| l.contains(&format!(" {server} cross-talk:")))
                .unwrap_or_else(|| panic!("no verdict for {server}:\n{stdout}"));
            assert!(
                verdict.starts_with("FAIL")
                    && verdict.contains("trigger-sampling-request: 1/1 wrong client")
                    && verdict.contains("trigger-elicitation-request: 1/1 wrong client"),
                "{} {:?} did not catch the impostor on {server}:\n{stdout}",
                face.script,
                face.args
            );
        }
    }
    setup.running.shutdown().await.unwrap();
}

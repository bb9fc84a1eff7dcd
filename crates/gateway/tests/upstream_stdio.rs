//! Stdio upstreams: calls, restart after a crash, and no child process left behind on
//! removal or shutdown (terminated and reaped, not a zombie).

mod common;

use std::time::Duration;

use common::*;
use mcp_gateway_testkit::fixture_bin;
use serde_json::json;

/// A stdio record that runs the fixture through `sh`, which writes its pid first (`exec`
/// keeps the pid), so the test can watch the process.
fn fixture_record(
    id: &str,
    pidfile: &std::path::Path,
    extra_args: &[&str],
) -> mcp_gateway::model::ServerRecord {
    let script = r#"echo $$ > "$PIDFILE"; exec "$0" "$@""#.to_owned();
    let mut args = vec!["-c".to_owned(), script, fixture_bin().display().to_string()];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    args.push("stdio".into());
    record(json!({
        "server_id": id, "transport": "stdio", "command": "sh", "args": args,
        "env": {"PIDFILE": pidfile.display().to_string()}
    }))
}

fn read_pid(pidfile: &std::path::Path) -> u32 {
    std::fs::read_to_string(pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn stdio_upstream_is_called_and_reaped_on_removal() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let gw = gateway().await;
    gw.register(fixture_record("local", &pidfile, &[]))
        .await
        .unwrap();
    wait_healthy(&gw, "local").await;
    assert_eq!(
        call_text(&gw, "local__echo", echo_args("over stdio")).await,
        "over stdio"
    );
    let pid = read_pid(&pidfile);
    assert!(process_exists(pid));

    gw.unregister("local").await.unwrap();
    eventually(
        Duration::from_secs(10),
        "the stdio child is gone and reaped",
        || async { !process_exists(pid) },
    )
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_terminates_and_reaps_every_child() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway().await;
    let mut pidfiles = Vec::new();
    for i in 0..3 {
        let pidfile = dir.path().join(format!("pid{i}"));
        gw.register(fixture_record(&format!("s{i}"), &pidfile, &[]))
            .await
            .unwrap();
        pidfiles.push(pidfile);
    }
    for i in 0..3 {
        wait_healthy(&gw, &format!("s{i}")).await;
    }
    let pids: Vec<u32> = pidfiles.iter().map(|p| read_pid(p)).collect();
    gw.shutdown().await;
    for pid in pids {
        assert!(
            !process_exists(pid),
            "child {pid} survived shutdown (or was not reaped)"
        );
    }
}

#[tokio::test]
async fn a_crashed_stdio_server_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let gw = gateway().await;
    gw.register(fixture_record("crashy", &pidfile, &["--crash-after", "1"]))
        .await
        .unwrap();
    wait_healthy(&gw, "crashy").await;
    let first_pid = read_pid(&pidfile);
    assert_eq!(
        call_text(&gw, "crashy__echo", echo_args("one")).await,
        "one"
    );

    let started = std::time::Instant::now();
    let err = gw
        .call_tool("crashy__echo", echo_args("two").as_object().cloned())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the failed call took {:?}",
        started.elapsed()
    );
    eprintln!("call during crash: {err}");

    eventually(
        Duration::from_secs(20),
        "restarted with a new process",
        || async {
            std::fs::read_to_string(&pidfile)
                .is_ok_and(|p| p.trim().parse::<u32>().ok() != Some(first_pid))
                && health(&gw, "crashy") == mcp_gateway::model::HealthState::Healthy
        },
    )
    .await;
    assert!(!process_exists(first_pid), "the crashed process was reaped");
    assert_eq!(
        call_text(&gw, "crashy__echo", echo_args("three")).await,
        "three"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_missing_command_is_unhealthy_with_a_clear_error() {
    let gw = gateway().await;
    gw.register(record(
        json!({"server_id": "ghost", "command": "/nonexistent/mcp-server"}),
    ))
    .await
    .unwrap();
    wait_unhealthy(&gw, "ghost").await;
    let error = gw
        .registry
        .get("ghost")
        .unwrap()
        .runtime
        .health()
        .last_error
        .unwrap();
    assert!(error.contains("/nonexistent/mcp-server"), "{error}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_child_does_not_inherit_gateway_secrets() {
    // SAFETY of the test: a variable name unique to this test; read only by the child.
    let gw = gateway().await;
    gw.register(record(json!({
        "server_id": "env", "transport": "stdio", "command": "sh",
        "args": ["-c", "env > \"$OUT\"; exec \"$0\" stdio", fixture_bin().display().to_string()],
        "env": {"OUT": std::env::temp_dir().join(format!("mcpgw-env-{}", std::process::id())).display().to_string(),
                "GIVEN": "yes"}
    })))
    .await
    .unwrap();
    wait_healthy(&gw, "env").await;
    let out = std::env::temp_dir().join(format!("mcpgw-env-{}", std::process::id()));
    let env = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(env.contains("GIVEN=yes"));
    assert!(env.contains("PATH="));
    for line in env.lines() {
        let key = line.split('=').next().unwrap_or_default();
        assert!(
            ![
                "CARGO_PKG_NAME",
                "DATABASE_URL",
                "MCP_GATEWAY_MASTER_KEY",
                "RUST_TEST_THREADS"
            ]
            .contains(&key),
            "leaked {key}"
        );
    }
    assert!(
        !env.contains("CARGO_MANIFEST_DIR"),
        "the test's environment leaked into the child"
    );
    gw.shutdown().await;
}

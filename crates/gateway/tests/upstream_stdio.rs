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
        .call_tool(
            "crashy__echo",
            echo_args("two").as_object().cloned(),
            &mcp_gateway::access::Access::EVERYTHING,
        )
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

#[tokio::test]
async fn a_stdio_server_killed_mid_call_fails_that_call_fast_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let running = started(mcp_gateway::config::Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(fixture_record("victim", &pidfile, &[]))
        .await
        .unwrap();
    wait_healthy(&gw, "victim").await;
    let url = format!("http://{}/mcp", running.addr);
    // Both paths: the direct lane on the shared process (a plain client), and a process of
    // its own (a client that can be asked for sampling; the fixture writes the pid of the
    // process started last).
    for asks in [false, true] {
        let capabilities = if asks {
            json!({"sampling": {}})
        } else {
            json!({})
        };
        let client = std::sync::Arc::new(raw::RawClient::session(&url, capabilities).await);
        let shared = read_pid(&pidfile);
        let caller = client.clone();
        let call = tokio::spawn(async move {
            let slow = json!({"ms": 20_000});
            caller.call(json!(1), "victim__slow", slow, json!({})).await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pid = read_pid(&pidfile);
        assert_eq!(
            pid != shared,
            asks,
            "a process of its own only for asks={asks}"
        );
        let killed_at = std::time::Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .expect("the call ends")
            .unwrap();
        assert!(
            killed_at.elapsed() < Duration::from_secs(1),
            "asks={asks}: the failed call took {:?}",
            killed_at.elapsed()
        );
        let message = answer.last()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.contains("victim"),
            "asks={asks}: {:?}",
            answer.messages
        );

        if !asks {
            eventually(Duration::from_secs(20), "restarted", || async {
                read_pid(&pidfile) != pid
                    && health(&gw, "victim") == mcp_gateway::model::HealthState::Healthy
            })
            .await;
        }
        eventually(Duration::from_secs(5), "reaped", || async {
            !process_exists(pid)
        })
        .await;
        let next = client
            .call(
                json!(2),
                "victim__echo",
                json!({"message": "again"}),
                json!({}),
            )
            .await;
        assert_eq!(
            next.last()["result"]["content"][0]["text"],
            "again",
            "asks={asks}"
        );
        // The client's own process was started anew for its next call.
        assert!(!asks || read_pid(&pidfile) != pid);
    }
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_that_crashes_in_a_loop_is_backed_off_and_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let gw = gateway().await; // backoff 50 ms doubling up to 400 ms (common::fast)
    let record = record(json!({
        "server_id": "crashloop", "transport": "stdio", "command": "sh",
        "args": ["-c", r#"echo start >> "$STARTS"; exit 3"#],
        "env": {"STARTS": starts.display().to_string()}
    }));
    gw.register(record).await.unwrap();
    let watched = Duration::from_secs(3);
    tokio::time::sleep(watched).await;
    let spawned = std::fs::read_to_string(&starts)
        .unwrap_or_default()
        .lines()
        .count();
    // Without backoff a crash loop would start it hundreds of times in 3 s; with
    // 50, 100, 200, 400, 400, … ms between attempts it is about ten.
    assert!(
        (2..=15).contains(&spawned),
        "started {spawned} times in {watched:?}"
    );
    assert_eq!(
        health(&gw, "crashloop"),
        mcp_gateway::model::HealthState::Unhealthy
    );
    let view = gw.registry.get("crashloop").unwrap().runtime.health();
    assert!(view.last_error.is_some_and(|e| !e.is_empty()));
    gw.shutdown().await;
}

/// A client that can be asked something gets a stdio process of its own (a plain client
/// shares the supervisor's), within the server's limit, reaped when its session ends and
/// when the server is removed.
#[tokio::test]
async fn clients_that_can_be_asked_get_processes_of_their_own_within_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let running = started(mcp_gateway::config::Settings {
        max_client_processes_per_server: 2,
        ..Default::default()
    })
    .await;
    let gw = running.gateway.clone();
    gw.register(fixture_record("own", &pidfile, &[]))
        .await
        .unwrap();
    wait_healthy(&gw, "own").await;
    let url = format!("http://{}/mcp", running.addr);
    let shared = read_pid(&pidfile);
    let owned = || {
        gw.registry
            .get("own")
            .unwrap()
            .runtime
            .client_sessions
            .current()
    };
    let echo = |text: &str| json!({"message": text});

    let a = raw::RawClient::session(&url, json!({"sampling": {}})).await;
    let answer = a.call(json!(1), "own__echo", echo("a"), json!({})).await;
    assert_eq!(answer.last()["result"]["content"][0]["text"], "a");
    let pid_a = read_pid(&pidfile);
    let b = raw::RawClient::session(&url, json!({"roots": {}})).await;
    b.call(json!(1), "own__echo", echo("b"), json!({})).await;
    let pid_b = read_pid(&pidfile);
    assert!(pid_a != shared && pid_b != shared && pid_a != pid_b);
    assert_eq!(owned(), 2);
    // A client's next calls reuse its process.
    a.call(json!(2), "own__echo", echo("a2"), json!({})).await;
    assert_eq!(read_pid(&pidfile), pid_b);

    // A third can be refused: the limit is 2. A plain client is not counted.
    let c = raw::RawClient::session(&url, json!({"elicitation": {}})).await;
    let refused = c.call(json!(1), "own__echo", echo("c"), json!({})).await;
    let message = refused.last()["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("max_client_processes_per_server"),
        "{:?}",
        refused.messages
    );
    let plain = raw::RawClient::session(&url, json!({})).await;
    let answer = plain
        .call(json!(1), "own__echo", echo("p"), json!({}))
        .await;
    assert_eq!(answer.last()["result"]["content"][0]["text"], "p");
    assert_eq!(read_pid(&pidfile), pid_b, "no process for a plain client");

    // Ending A's session ends (and reaps) its process and frees its place.
    let ended = a
        .http
        .delete(&url)
        .header("mcp-session-id", a.session.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    eventually(Duration::from_secs(10), "A's process reaped", || async {
        !process_exists(pid_a) && owned() == 1
    })
    .await;
    let answer = c.call(json!(2), "own__echo", echo("c"), json!({})).await;
    assert_eq!(answer.last()["result"]["content"][0]["text"], "c");

    // Removing the server ends every process of its clients.
    let pid_c = read_pid(&pidfile);
    gw.unregister("own").await.unwrap();
    eventually(Duration::from_secs(10), "every process reaped", || async {
        !process_exists(pid_b) && !process_exists(pid_c) && !process_exists(shared)
    })
    .await;
    running.shutdown().await.unwrap();
}

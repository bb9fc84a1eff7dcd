//! The official client SDKs drive `/mcp`, with server-everything behind the gateway over
//! each transport: the Python SDK (`mcp`, both `mode="legacy"` and `mode="2026-07-28"`) and
//! the TypeScript SDK. The scripts in `tests/interop/clients/` check tools, progress,
//! sampling, elicitation, roots, resources, prompts, completion, logging and ping.

mod common;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use common::*;
use mcp_gateway::{app, config::Settings};
use mcp_gateway_testkit::{interop_dir, npm_bin_or_skip, python_bin_or_skip};
use serde_json::json;
use tokio::process::Command;

/// Runs a client script; every line it prints is a check, and it exits non-zero on failure.
async fn run(program: &Path, script: &str, args: &[String]) {
    let script: PathBuf = interop_dir().join("clients").join(script);
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(program)
            .arg(&script)
            .args(args)
            .current_dir(interop_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("client script finished within 90 s")
    .expect("client script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[tokio::test]
async fn python_sdk_both_eras_over_every_upstream_transport() {
    let Some(everything) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let Some(python) = python_bin_or_skip("python") else {
        return;
    };
    let setup = everything_gateway(&everything).await;
    let url = format!("http://{}/mcp", setup.running.addr);
    for server in ["ev_stdio", "ev_http", "ev_sse"] {
        for mode in ["legacy", "2026-07-28"] {
            run(
                &python,
                "python_relay.py",
                &[url.clone(), mode.into(), server.into()],
            )
            .await;
        }
    }
    setup.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn typescript_sdk_over_every_upstream_transport() {
    let Some(everything) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let setup = everything_gateway(&everything).await;
    let addr = setup.running.addr;
    // Every server on its own endpoint; the aggregate with the server that its duplicated
    // resource URIs lead to (server-everything's are the same on each transport).
    for server in ["ev_stdio", "ev_http", "ev_sse"] {
        let own = format!("http://{addr}/mcp/servers/{server}/mcp");
        let args = [own, server.into(), "--own-endpoint".into()];
        run(Path::new("node"), "ts_relay.mjs", &args).await;
    }
    let aggregate = format!("http://{addr}/mcp");
    run(
        Path::new("node"),
        "ts_relay.mjs",
        &[aggregate, "ev_stdio".into()],
    )
    .await;
    setup.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn era_bridging_in_front_of_a_2026_upstream_that_needs_input() {
    let Some(python) = python_bin_or_skip("python") else {
        return;
    };
    let running = app::start(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_stdio_registration: true,
        ..Settings::default()
    })
    .await
    .unwrap();
    let server = interop_dir().join("servers").join("python_elicit.py");
    running
        .gateway
        .register(record(
            json!({"server_id": "elicit", "command": python.display().to_string(),
                                "args": [server.display().to_string()]}),
        ))
        .await
        .unwrap();
    wait_healthy(&running.gateway, "elicit").await;
    let url = format!("http://{}/mcp", running.addr);
    for mode in ["legacy", "2026-07-28"] {
        run(&python, "python_bridge.py", &[url.clone(), mode.into()]).await;
    }
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn inspector_cli_lists_and_calls_tools() {
    let Some(everything) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let Some(inspector) = npm_bin_or_skip("mcp-inspector") else {
        return;
    };
    let running = app::start(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        allow_stdio_registration: true,
        ..Settings::default()
    })
    .await
    .unwrap();
    running
        .gateway
        .register(record(json!({"server_id": "everything", "command": everything.display().to_string(), "args": ["stdio"]})))
        .await
        .unwrap();
    wait_healthy(&running.gateway, "everything").await;
    let url = format!("http://{}/mcp", running.addr);
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(&inspector);
        cmd.args(["--cli", &url, "--transport", "http"])
            .args(args)
            .kill_on_drop(true);
        cmd
    };
    let list = tokio::time::timeout(
        Duration::from_secs(60),
        cli(&["--method", "tools/list"]).output(),
    )
    .await
    .expect("inspector answers within 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success() && stdout.contains("everything__echo"),
        "{stdout}"
    );
    let call = tokio::time::timeout(
        Duration::from_secs(60),
        cli(&[
            "--method",
            "tools/call",
            "--tool-name",
            "everything__echo",
            "--tool-arg",
            "message=inspector",
        ])
        .output(),
    )
    .await
    .expect("inspector answers within 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&call.stdout);
    assert!(
        call.status.success() && stdout.contains("Echo: inspector"),
        "{stdout}"
    );
    running.shutdown().await.unwrap();
}

/// Each client is shown the tools the upstream would show it: server-everything lists
/// `trigger-sampling-request` only to clients that declared sampling, so a plain client
/// (and REST) neither sees nor can call it, while a client that can be asked sees and
/// calls it — on every transport, in both eras.
#[tokio::test]
async fn clients_are_shown_the_tools_the_upstream_would_show_them() {
    let Some(everything) = npm_bin_or_skip("mcp-server-everything") else {
        return;
    };
    let setup = everything_gateway(&everything).await;
    let gw = setup.running.gateway.clone();
    let url = format!("http://{}/mcp", setup.running.addr);
    let names = |answer: &common::raw::Answer| -> Vec<String> {
        answer.last()["result"]["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .map(|t| t["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let asking = json!({"sampling": {}, "elicitation": {}, "roots": {}});
    for stateless in [false, true] {
        let client = |caps: serde_json::Value| {
            let url = url.clone();
            async move {
                if stateless {
                    common::raw::RawClient::stateless(&url, caps)
                } else {
                    common::raw::RawClient::session(&url, caps).await
                }
            }
        };
        let plain = client(json!({})).await;
        let ide = client(asking.clone()).await;
        let ide_tools = names(&ide.list_tools(json!(1), None).await);
        let plain_tools = names(&plain.list_tools(json!(1), None).await);
        for server in ["ev_stdio", "ev_http", "ev_sse"] {
            let tool = format!("{server}__trigger-sampling-request");
            assert!(
                ide_tools.contains(&tool),
                "stateless={stateless}: {ide_tools:?}"
            );
            assert!(
                !plain_tools.contains(&tool),
                "stateless={stateless}: {plain_tools:?}"
            );
            assert!(plain_tools.contains(&format!("{server}__echo")));
            let refused = plain
                .call(json!(2), &tool, json!({"prompt": "hi"}), json!({}))
                .await;
            let message = refused.last()["error"]["message"]
                .as_str()
                .unwrap_or_default();
            assert!(message.contains("unknown tool"), "{:?}", refused.messages);
        }
    }
    // REST callers cannot be asked anything either.
    let rest = gw
        .call_tool(
            "ev_http__trigger-sampling-request",
            None,
            &mcp_gateway::access::Access::EVERYTHING,
        )
        .await;
    assert!(rest.is_err());
    setup.running.shutdown().await.unwrap();
}

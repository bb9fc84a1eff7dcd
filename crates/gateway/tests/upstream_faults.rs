//! An upstream that misbehaves (the test kit's faulty server: invalid JSON, a wrong id, an
//! HTML error page, a 500, a stream closed mid-answer, no answer at all) gets a clear
//! JSON-RPC error to the caller, within the server's timeout, on every path — the direct
//! lane, rmcp's relay and the REST API — and the gateway keeps serving: the next call
//! to the same server succeeds.

mod common;

use std::time::{Duration, Instant};

use common::{raw::*, *};
use mcp_gateway_testkit::{FAULTY_TOOLS, spawn_faulty};
use serde_json::json;

/// Seconds a call may take before the gateway gives up on it.
const TIMEOUT_SECS: u64 = 2;

#[tokio::test]
async fn every_fault_is_a_clear_error_and_the_gateway_keeps_serving() {
    let faulty = spawn_faulty().await;
    let running = started(mcp_gateway::config::Settings::default()).await;
    let bad = json!({"server_id": "bad", "url": faulty.url(), "timeout_secs": TIMEOUT_SECS});
    running.gateway.register(record(bad)).await.unwrap();
    wait_healthy(&running.gateway, "bad").await;
    let url = format!("http://{}/mcp", running.addr);

    for stateless in [false, true] {
        let (plain, asks) = pair(&url, stateless).await;
        for (path, client) in [("direct lane", &plain), ("relay", &asks)] {
            for tool in FAULTY_TOOLS.iter().filter(|t| **t != "ok") {
                let what = format!("{path} stateless={stateless} {tool}");
                let started_at = Instant::now();
                let answer = client
                    .call(json!(1), &format!("bad__{tool}"), json!({}), json!({}))
                    .await;
                let elapsed = started_at.elapsed();
                assert!(
                    elapsed < Duration::from_secs(TIMEOUT_SECS + 3),
                    "{what}: took {elapsed:?}"
                );
                assert!(answer.status.is_success(), "{what}: HTTP {}", answer.status);
                let error = &answer.last()["error"];
                let message = error["message"].as_str().unwrap_or_default();
                assert!(
                    !message.is_empty(),
                    "{what}: no error in {:?}",
                    answer.messages
                );
                assert!(message.contains("bad"), "{what}: {message}");
                assert!(!message.contains("rmcp::"), "{what}: {message}");
                let ok = client.call(json!(2), "bad__ok", json!({}), json!({})).await;
                assert_eq!(
                    ok.last()["result"]["content"][0]["text"],
                    "fine",
                    "{what}: the next call"
                );
            }
        }
    }

    // The REST API's tools/call, likewise.
    for tool in FAULTY_TOOLS.iter().filter(|t| **t != "ok") {
        let exposed = format!("bad__{tool}");
        let result = running
            .gateway
            .call_tool(&exposed, None, &mcp_gateway::access::Access::EVERYTHING)
            .await;
        let error = result.expect_err(tool).to_string();
        assert!(error.contains("bad"), "REST {tool}: {error}");
    }
    assert_eq!(
        call_text(&running.gateway, "bad__ok", json!({})).await,
        "fine"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn failing_calls_get_a_dead_upstream_withdrawn_at_once_until_it_is_back() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = |listener| {
        let stop = tokio_util::sync::CancellationToken::new();
        let server = mcp_gateway_testkit::FixtureServer::new(Default::default());
        let task = tokio::spawn(mcp_gateway_testkit::serve_http(
            listener,
            server,
            stop.clone(),
        ));
        (stop, task)
    };
    let (stop, task) = serve(listener);
    // The default health interval (15 s): only the failing calls can explain a fast
    // withdrawal.
    let running = started(mcp_gateway::config::Settings::default()).await;
    let gw = running.gateway.clone();
    gw.register(record(
        json!({"server_id": "up", "url": format!("http://{addr}/mcp")}),
    ))
    .await
    .unwrap();
    wait_healthy(&gw, "up").await;
    let url = format!("http://{}/mcp", running.addr);
    let (plain, _) = pair(&url, false).await;
    let echo = json!({"message": "hi"});
    assert!(
        plain
            .call(json!(1), "up__echo", echo.clone(), json!({}))
            .await
            .json
    );

    stop.cancel();
    let _ = task.await;
    let down_at = Instant::now();
    for n in 0..mcp_gateway::registry::FAILURES_TO_PROBE {
        let answer = plain
            .call(json!(n), "up__echo", echo.clone(), json!({}))
            .await;
        assert!(
            answer.last()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("up")
        );
    }
    eventually(
        Duration::from_secs(5),
        "withdrawn after failed calls",
        || async {
            health(&gw, "up") != mcp_gateway::model::HealthState::Healthy
                && gw.registry.snapshot().route_tool("up__echo").is_none()
        },
    )
    .await;
    assert!(down_at.elapsed() < Duration::from_secs(10));
    // Calls now fail fast, naming the tool as unknown (it is withdrawn).
    let started_at = Instant::now();
    let answer = plain
        .call(json!(9), "up__echo", echo.clone(), json!({}))
        .await;
    assert!(answer.last()["error"].is_object());
    assert!(started_at.elapsed() < Duration::from_millis(500));

    // Back on the same port: reconnected by itself, tools return.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (stop, _task) = serve(listener);
    wait_healthy(&gw, "up").await;
    let answer = plain.call(json!(10), "up__echo", echo, json!({})).await;
    assert_eq!(answer.last()["result"]["content"][0]["text"], "hi");
    stop.cancel();
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_upstream_blocks_nothing_else() {
    let slow = mcp_gateway_testkit::spawn_http(Default::default()).await;
    let other = mcp_gateway_testkit::spawn_http(Default::default()).await;
    let running = started(mcp_gateway::config::Settings::default()).await;
    for (id, url) in [("slow", slow.url()), ("other", other.url())] {
        let server = json!({"server_id": id, "url": url});
        running.gateway.register(record(server)).await.unwrap();
        wait_healthy(&running.gateway, id).await;
    }
    let url = format!("http://{}/mcp", running.addr);
    for stateless in [false, true] {
        let (plain, asks) = pair(&url, stateless).await;
        let (plain, asks) = (std::sync::Arc::new(plain), std::sync::Arc::new(asks));
        // Two calls that hang, on the lane and on the relay, on one upstream...
        let hung: Vec<_> = [plain.clone(), asks.clone()]
            .into_iter()
            .map(|client| {
                tokio::spawn(async move {
                    let args = json!({"ms": 5_000});
                    client.call(json!("h"), "slow__slow", args, json!({})).await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // ...and calls to the other upstream, and to the same one, go through meanwhile.
        let started_at = Instant::now();
        for client in [&plain, &asks] {
            for tool in ["other__echo", "slow__echo"] {
                let answer = client
                    .call(json!(1), tool, json!({"message": "m"}), json!({}))
                    .await;
                assert_eq!(answer.last()["result"]["content"][0]["text"], "m", "{tool}");
            }
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(2),
            "stateless={stateless}: took {:?} behind the hung calls",
            started_at.elapsed()
        );
        for call in hung {
            call.abort();
        }
    }
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_calls_in_flight_finish_and_refuses_new_connections() {
    let fixture = mcp_gateway_testkit::spawn_http(Default::default()).await;
    let running = started(mcp_gateway::config::Settings::default()).await;
    let fx = json!({"server_id": "fx", "url": fixture.url()});
    running.gateway.register(record(fx)).await.unwrap();
    wait_healthy(&running.gateway, "fx").await;
    let addr = running.addr;
    let url = format!("http://{addr}/mcp");
    let plain = std::sync::Arc::new(RawClient::session(&url, json!({})).await);
    let caller = plain.clone();
    let in_flight = tokio::spawn(async move {
        let args = json!({"ms": 800});
        caller.call(json!(1), "fx__slow", args, json!({})).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed at once"
    );
    let answer = in_flight.await.unwrap();
    assert_eq!(answer.last()["result"]["content"][0]["text"], "slept 800ms");
    stopping.await.unwrap().unwrap();
}

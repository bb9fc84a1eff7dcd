//! The direct lanes for `tools/call`, `prompts/get` and `resources/read` requests
//! (`downstream::direct`, `upstream::lane`) to streamable HTTP and stdio upstreams, spoken
//! to in raw HTTP so that the lane shows: it answers with JSON (or an event stream it writes
//! itself) where rmcp's relay answers with its own SSE framing. Each behaviour is checked
//! against the full relay, which requests the lane leaves to it get (here: those carrying
//! an `Origin`, and those of 2026-07-28 clients declaring `sampling`).

mod common;

use std::time::{Duration, Instant};

use common::{lane::*, raw::*, *};
use mcp_gateway_testkit::{
    FixtureOptions, FixtureServer, HIDDEN_URI, PRIVATE_COUNTER_URI, README_URI, fixture_bin,
    serve_http,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn plain_calls_take_the_lane_and_answer_as_the_relay_does() {
    for transport in TRANSPORTS {
        let (_upstream, running) = fixture_gateway(transport, 60).await;
        let url = format!("http://{}/mcp", running.addr);
        for stateless in [false, true] {
            calls_match_the_relay(
                &url,
                &format!("{transport} stateless={stateless}"),
                stateless,
            )
            .await;
        }
        // Unknown tools are left to rmcp's relay, which explains.
        let (plain, _) = pair(&url, false).await;
        let unknown = plain.call(json!(1), "fx__nope", json!({}), json!({})).await;
        assert!(!unknown.json);
        let message = unknown.last()["error"]["message"].as_str().unwrap();
        assert!(message.contains("unknown tool"), "{message}");
        running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn the_per_server_endpoint_forwards_unlisted_tools_unless_an_allowlist_refuses() {
    for transport in TRANSPORTS {
        let (upstream, running) = fixture_gateway(transport, 60).await;
        // The same upstream again, with an allowlist.
        let mut listed = match &upstream {
            Upstream::Http(fixture) => json!({"url": fixture.url()}),
            Upstream::Stdio => {
                json!({"command": fixture_bin().display().to_string(), "args": ["stdio"]})
            }
        };
        listed["server_id"] = json!("fx_listed");
        listed["tools"] = json!(["echo"]);
        running
            .gateway
            .register(common::record(listed))
            .await
            .unwrap();
        wait_healthy(&running.gateway, "fx_listed").await;
        let endpoint = |id: &str| format!("http://{}/mcp/servers/{id}/mcp", running.addr);
        for stateless in [false, true] {
            let what = format!("{transport} stateless={stateless}");
            // No allowlist: `hidden` is not listed, yet goes upstream, on the lane as
            // through the relay; so does a name the upstream does not know at all.
            let (plain, asks) = pair(&endpoint("fx"), stateless).await;
            for (tool, arguments) in [("hidden", json!({"message": "x"})), ("nope", json!({}))] {
                let direct = plain
                    .call(json!(1), tool, arguments.clone(), json!({}))
                    .await;
                let relayed = asks.call(json!(1), tool, arguments, json!({})).await;
                assert!(direct.json, "{what} {tool}: the lane answers");
                assert!(!relayed.json, "{what} {tool}: rmcp answers");
                let (d, r) = (direct.last(), relayed.last());
                if tool == "hidden" {
                    assert_eq!(d["result"]["content"][0]["text"], "hidden: x", "{what}");
                    assert_eq!(d["result"], r["result"], "{what}");
                } else {
                    // The upstream's own error (the gateway's would carry the name as data).
                    assert_eq!(d["error"]["message"], "unknown tool: nope", "{what}");
                    assert_eq!(d["error"].get("data"), None, "{what}");
                    assert_eq!(d["error"], r["error"], "{what}");
                }
            }
            // An allowlist: `hidden` is outside it and unknown, for the lane too.
            let (plain, _) = pair(&endpoint("fx_listed"), stateless).await;
            let refused = plain.call(json!(2), "hidden", json!({}), json!({})).await;
            assert!(!refused.json, "{what}: left to rmcp's relay");
            let error = &refused.last()["error"];
            assert_eq!(error["message"], "unknown tool: hidden", "{what}");
            assert_eq!(error["data"], json!({"tool": "hidden"}), "{what}");
            let allowed = plain
                .call(json!(3), "echo", json!({"message": "y"}), json!({}))
                .await;
            assert!(allowed.json, "{what}");
            assert_eq!(allowed.last()["result"]["content"][0]["text"], "y");
        }
        running.shutdown().await.unwrap();
    }
}

async fn calls_match_the_relay(url: &str, what: &str, stateless: bool) {
    let (plain, asks) = pair(url, stateless).await;
    let cases = [
        ("fx__echo", json!({"message": "hi"})),
        ("fx__fail", json!({"message": "broken"})),
        ("fx__echo", json!({})), // the upstream's own JSON-RPC error
    ];
    for (n, (tool, arguments)) in cases.into_iter().enumerate() {
        let id = json!(format!("call-{n}"));
        let direct = plain
            .call(id.clone(), tool, arguments.clone(), json!({}))
            .await;
        let relayed = asks.call(id.clone(), tool, arguments, json!({})).await;
        assert!(direct.json, "{what} {tool}: the lane answers");
        assert!(!relayed.json, "{what} {tool}: rmcp answers");
        assert_eq!(direct.status, relayed.status, "{what} {tool}");
        assert_eq!(direct.last()["id"], id);
        let (d, r) = (direct.last(), relayed.last());
        if r.get("error").is_some() {
            assert_eq!(d["error"]["code"], r["error"]["code"], "{what} {tool}");
            assert_eq!(
                d["error"]["message"], r["error"]["message"],
                "{what} {tool}"
            );
        } else {
            assert_eq!(d["result"], r["result"], "{what} {tool}");
        }
    }
    let answer = plain
        .call(json!(7), "fx__echo", json!({"message": "x"}), json!({}))
        .await;
    let result_type = answer.last()["result"].get("resultType").cloned();
    assert_eq!(
        result_type,
        stateless.then_some(json!("complete")),
        "{what}"
    );
}

#[tokio::test]
async fn prompts_and_reads_take_the_lane_and_answer_as_the_relay_does() {
    for_each_pair("/mcp", async |case, plain, asks| {
        let what = &case.what;
        let stateless = case.stateless;
        // A prompt (its name rewritten upstream), and the upstream's own error.
        for arguments in [json!({"name": "Ann"}), json!({})] {
            let direct = plain.get_prompt(json!("p"), "fx__greet", arguments.clone());
            let relayed = asks.get_prompt(json!("p"), "fx__greet", arguments.clone());
            let what = format!("{what} greet {arguments}");
            same_answer(&direct.await, &relayed.await, &what);
        }
        // A listed resource, and one of a template (the URI goes as it is).
        for uri in [README_URI, "fixture://items/7"] {
            let direct = plain.read_resource(json!(9), uri).await;
            let relayed = asks.read_resource(json!(9), uri).await;
            same_answer(&direct, &relayed, &format!("{what} {uri}"));
        }
        // Each era's shape: a 2026-07-28 result is typed, a read one has cache hints.
        let greeting = plain
            .get_prompt(json!(1), "fx__greet", json!({"name": "Bo"}))
            .await;
        let result = &greeting.last()["result"];
        assert_eq!(result["messages"][0]["content"]["text"], "Hello, Bo!");
        let typed = json!("complete");
        let complete = stateless.then_some(&typed);
        assert_eq!(result.get("resultType"), complete, "{what}");
        let item = plain.read_resource(json!(2), "fixture://items/3").await;
        let result = &item.last()["result"];
        assert_eq!(result["contents"][0]["text"], "item 3", "{what}");
        assert_eq!(result.get("resultType"), complete, "{what}");
        if stateless {
            assert_eq!(result["ttlMs"], 0, "{what}");
            assert_eq!(result["cacheScope"], "private", "{what}");
        }
        // Names and URIs the aggregate does not know are left to the relay.
        let cases = [
            (
                plain.get_prompt(json!(3), "fx__nope", json!({})).await,
                asks.get_prompt(json!(3), "fx__nope", json!({})).await,
                "unknown prompt: fx__nope",
            ),
            (
                plain.read_resource(json!(4), "fixture://nothing").await,
                asks.read_resource(json!(4), "fixture://nothing").await,
                "unknown resource: fixture://nothing",
            ),
        ];
        for (direct, relayed, message) in cases {
            assert!(!direct.json, "{what} {message}: rmcp answers");
            assert_eq!(direct.last(), relayed.last(), "{what}");
            assert_eq!(direct.last()["error"]["message"], message, "{what}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_per_server_endpoint_forwards_unlisted_prompts_and_uris() {
    for_each_pair("/mcp/servers/fx/mcp", async |case, plain, asks| {
        let what = &case.what;
        let transport = case.transport;
        let stateless = case.stateless;
        // Never listed: the upstream answers (a name it knows, one it does not), and
        // the gateway adds no error of its own.
        for name in ["hidden", "nope"] {
            let direct = plain.get_prompt(json!(1), name, json!({})).await;
            let relayed = asks.get_prompt(json!(1), name, json!({})).await;
            same_answer(&direct, &relayed, &format!("{what} {name}"));
            let answer = direct.last();
            if name == "hidden" {
                let text = &answer["result"]["messages"][0]["content"]["text"];
                assert_eq!(text, "hidden", "{what}");
            } else {
                assert_eq!(answer["error"]["message"], "unknown prompt: nope", "{what}");
                assert_eq!(answer["error"].get("data"), None, "{what}");
            }
        }
        for uri in [HIDDEN_URI, "fixture://nothing"] {
            let direct = plain.read_resource(json!(2), uri).await;
            let relayed = asks.read_resource(json!(2), uri).await;
            same_answer(&direct, &relayed, &format!("{what} {uri}"));
            let answer = direct.last();
            if uri == HIDDEN_URI {
                assert_eq!(answer["result"]["contents"][0]["text"], "hidden", "{what}");
            } else {
                let error = &answer["error"];
                let message = "no such resource: fixture://nothing";
                assert_eq!(error["message"], message, "{what}");
                // Resource-not-found (-32002) is invalid params (-32602) in the
                // 2026-07-28 revision: rmcp's server says so to a 2026-07-28 client,
                // the upstream to the relay's 2026-07-28 session.
                let legacy = !stateless && transport == "http-legacy";
                let code = if legacy { -32002 } else { -32602 };
                assert_eq!(error["code"], code, "{what}");
            }
        }
    })
    .await;
}

/// A structured result that is no JSON object is valid in 2026-07-28 only: a session-era
/// client gets it as rmcp's server gives it to older revisions (as text), whichever path
/// and whichever era the upstream session speaks.
#[tokio::test]
async fn structured_results_take_the_shape_of_the_clients_revision() {
    for_each_pair("/mcp/servers/fx/mcp", async |case, plain, asks| {
        let what = &case.what;
        let transport = case.transport;
        let stateless = case.stateless;
        for value in [json!(["a", "b"]), json!({"a": 1}), json!(7)] {
            let arguments = json!({"value": value});
            let direct = plain.call(json!(1), "structured", arguments.clone(), json!({}));
            let relayed = asks.call(json!(1), "structured", arguments, json!({}));
            let (direct, relayed) = (direct.await, relayed.await);
            let what = format!("{what} {value}");
            same_answer(&direct, &relayed, &what);
            let result = &direct.last()["result"];
            let structured = result.get("structuredContent");
            // A legacy upstream gives every client the older shape.
            let modern = stateless && transport != "http-legacy";
            if modern || value.is_object() {
                assert_eq!(structured, Some(&value), "{what}");
            } else {
                assert_eq!(structured, None, "{what}");
                assert_eq!(result["content"][0]["text"], value.to_string(), "{what}");
            }
        }
    })
    .await;
}

/// A result the upstream marks private and fresh is the caller's alone: no path of the
/// gateway serves it again, to that caller or another (rmcp's client would cache it on a
/// session every plain client shares).
#[tokio::test]
async fn private_results_are_never_served_from_a_cache() {
    for transport in ERAS_AND_TRANSPORTS {
        let (_upstream, running) = fixture_gateway(transport, 60).await;
        let url = format!("http://{}/mcp/servers/fx/mcp", running.addr);
        let mut seen = Vec::new();
        for stateless in [false, true] {
            let (plain, asks) = pair(&url, stateless).await;
            for client in [&plain, &asks, &plain.relayed(), &asks] {
                let answer = client.read_resource(json!(1), PRIVATE_COUNTER_URI).await;
                let text = answer.last()["result"]["contents"][0]["text"].clone();
                assert!(!seen.contains(&text), "{transport}: {text} served twice");
                seen.push(text);
            }
        }
        running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn progress_and_log_messages_stream_before_the_answer() {
    for transport in TRANSPORTS {
        let (_upstream, running) = fixture_gateway(transport, 60).await;
        let url = format!("http://{}/mcp", running.addr);
        for stateless in [false, true] {
            progress_streams(
                &url,
                &format!("{transport} stateless={stateless}"),
                stateless,
            )
            .await;
        }
        running.shutdown().await.unwrap();
    }
}

async fn progress_streams(url: &str, what: &str, stateless: bool) {
    let (plain, asks) = pair(url, stateless).await;
    let args = json!({"ms": 10, "ticks": 3});
    let token = json!({"progressToken": "p-1"});
    let answer = plain
        .call(json!(1), "fx__slow", args.clone(), token.clone())
        .await;
    assert!(
        !answer.json,
        "{what}: notifications turn the answer into a stream"
    );
    let methods =
        |a: &Answer| -> Vec<Value> { a.messages.iter().map(|m| m["method"].clone()).collect() };
    let progress: Vec<_> = answer
        .messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{what}: {:?}", methods(&answer));
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "p-1")
    );
    // Through the relay, the same (the fixture's log messages included, where rmcp lets
    // it send them; over stdio they go to the session, not the call).
    if !stateless && !what.starts_with("stdio") {
        let relayed = asks.call(json!(2), "fx__slow", args, token).await;
        assert_eq!(methods(&answer), methods(&relayed), "{what}");
    }
    assert_eq!(answer.last()["result"]["content"][0]["text"], "slept 10ms");
}

#[tokio::test]
async fn a_cancelled_or_timed_out_direct_call_is_cancelled_upstream() {
    for transport in TRANSPORTS {
        let (upstream, running) = fixture_gateway(transport, 2).await;
        let url = format!("http://{}/mcp", running.addr);
        let plain = std::sync::Arc::new(RawClient::session(&url, json!({})).await);

        let caller = plain.clone();
        let call = tokio::spawn(async move {
            let slow = json!({"ms": 20_000});
            caller
                .call(json!("slow-1"), "fx__slow", slow, json!({}))
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": "slow-1", "reason": "changed my mind"}});
        assert_eq!(plain.send(&cancel, None).await.status(), 202, "{transport}");
        let answer = tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .unwrap()
            .unwrap();
        let message = answer.last()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("cancelled"), "{transport}: {message}");
        if upstream.cancellations().is_some() {
            eventually(
                Duration::from_secs(5),
                "the upstream saw the cancel",
                || async { upstream.cancellations() == Some(1) },
            )
            .await;
        }

        let started_at = Instant::now();
        let answer = plain
            .call(json!(2), "fx__slow", json!({"ms": 20_000}), json!({}))
            .await;
        assert!(answer.json, "{transport}");
        let message = answer.last()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("did not answer within"),
            "{transport}: {message}"
        );
        assert!(started_at.elapsed() < Duration::from_secs(5));
        if upstream.cancellations().is_some() {
            eventually(
                Duration::from_secs(5),
                "the upstream saw the timeout",
                || async { upstream.cancellations() == Some(2) },
            )
            .await;
        }
        let next = plain
            .call(json!(3), "fx__echo", json!({"message": "next"}), json!({}))
            .await;
        assert_eq!(
            next.last()["result"]["content"][0]["text"],
            "next",
            "{transport}"
        );
        // A 2026-07-28 call has no session to send a cancel on: the gateway closes the
        // request's connection, which the upstream takes as one.
        let stateless = RawClient::stateless(&url, json!({}));
        let answer = stateless
            .call(json!(4), "fx__slow", json!({"ms": 20_000}), json!({}))
            .await;
        assert!(answer.json, "{transport}");
        let message = answer.last()["error"]["message"].as_str().unwrap();
        assert!(message.contains("did not answer within"), "{message}");
        if upstream.cancellations().is_some() {
            eventually(
                Duration::from_secs(5),
                "the upstream saw the stateless call end",
                || async { upstream.cancellations() == Some(3) },
            )
            .await;
        }
        running.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn the_lane_survives_an_upstream_restart_and_reports_an_outage() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let first = tokio::spawn(serve_http(
        listener,
        FixtureServer::new(FixtureOptions::default()),
        stop.clone(),
    ));
    let running = started(mcp_gateway::config::Settings::default()).await;
    let record = record(json!({"server_id": "re", "url": format!("http://{addr}/mcp")}));
    running.gateway.register(record).await.unwrap();
    wait_healthy(&running.gateway, "re").await;
    let url = format!("http://{}/mcp", running.addr);
    let plain = RawClient::session(&url, json!({})).await;
    let echo = |m: &str| json!({"message": m});
    let before = plain
        .call(json!(1), "re__echo", echo("before"), json!({}))
        .await;
    assert!(before.json);

    // Down: the call fails with an error naming the server, and nothing breaks.
    stop.cancel();
    let _ = first.await;
    let down = plain
        .call(json!(2), "re__echo", echo("down"), json!({}))
        .await;
    let message = down.last()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("\"re\""), "{message}");

    // Back on the same address with no sessions: the lane opens a new one by itself.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_http(
        listener,
        FixtureServer::new(FixtureOptions::default()),
        stop.clone(),
    ));
    wait_healthy(&running.gateway, "re").await;
    let after = plain
        .call(json!(3), "re__echo", echo("after"), json!({}))
        .await;
    assert!(after.json);
    assert_eq!(after.last()["result"]["content"][0]["text"], "after");
    stop.cancel();
    running.shutdown().await.unwrap();
}

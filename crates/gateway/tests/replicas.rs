//! Sessions are data (`downstream::session_store`): two gateways sharing one session
//! store serve each other's MCP sessions. A client opens its session on one and goes on
//! with the other, as it would behind a load balancer: the session's capabilities, log
//! level and end are the record's, not one process's.

mod common;

use common::{raw::*, *};
use mcp_gateway::{
    app,
    config::Settings,
    downstream::session_store::{MemorySessionStore, SessionStore},
};
use mcp_gateway_testkit::{FixtureOptions, README_URI};
use serde_json::json;

#[tokio::test]
async fn two_gateways_sharing_a_session_store_serve_each_others_sessions() {
    let bounded = tokio::time::timeout(std::time::Duration::from_secs(60), replicas_share());
    bounded.await.expect("the test finishes within a minute");
}

async fn replicas_share() {
    // Session-era only: `resources/subscribe` belongs to that era.
    let fixture = mcp_gateway_testkit::spawn_http(FixtureOptions::default().legacy_only()).await;
    let store = MemorySessionStore::new();
    let replicas = two_gateways(fixture.url(), &store, Settings::default()).await;
    let url = |n: usize| format!("http://{}/mcp", replicas[n].addr);

    // A plain session opened on the first gateway calls on the second.
    let plain = RawClient::session(&url(0), json!({})).await;
    let on_b = plain.at(&url(1));
    let echo = on_b
        .call(json!(1), "fx__echo", json!({"message": "b"}), json!({}))
        .await;
    assert!(echo.json, "the second gateway's lane answers");
    assert_eq!(echo.last()["result"]["content"][0]["text"], "b");

    // A client that can be asked things gets a session of its own upstream on each
    // gateway it reaches, declaring what its record says it declared.
    let ide = RawClient::session(&url(0), json!({"sampling": {}})).await;
    let ide_b = ide.at(&url(1));
    let a = ide.call(json!(2), "fx__whoami", json!({}), json!({})).await;
    let b = ide_b
        .call(json!(3), "fx__whoami", json!({}), json!({}))
        .await;
    assert!(a.json && b.json, "both lanes answer");
    let plain_session = plain
        .call(json!(4), "fx__whoami", json!({}), json!({}))
        .await
        .upstream_session();
    assert_ne!(a.upstream_session(), plain_session);
    assert_ne!(b.upstream_session(), plain_session);
    // rmcp on the second gateway takes the session over from the record (a list, which
    // the lane leaves to it for such a client).
    let listed = ide_b.list_tools(json!(5), None).await;
    assert!(
        listed.last()["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    // A log level set through one gateway is the session's: the other's calls, once the
    // plain client has one, go on a session of its own too.
    let set_level = json!({"jsonrpc": "2.0", "id": 6, "method": "logging/setLevel",
        "params": {"level": "error"}});
    assert!(plain.send(&set_level, None).await.status().is_success());
    let after = on_b
        .call(json!(7), "fx__whoami", json!({}), json!({}))
        .await;
    assert!(after.json);
    assert_ne!(
        after.upstream_session(),
        plain_session,
        "its own session on the second gateway"
    );
    assert_eq!(
        store
            .load(plain.session.as_deref().unwrap())
            .unwrap()
            .log_level,
        Some(mcp_gateway_logging_error())
    );

    // A resource followed through one gateway is followed through the other once that
    // one serves the session (a request rmcp answers there takes it over): the second
    // gateway subscribes upstream too, so `resources/updated` reaches the client there.
    let watcher = RawClient::session(&url(0), json!({})).await;
    let subscribe = json!({"jsonrpc": "2.0", "id": 9, "method": "resources/subscribe",
        "params": {"uri": README_URI}});
    let subscribed = Answer::of(watcher.send(&subscribe, None).await).await;
    assert_eq!(
        subscribed.last()["result"],
        json!({}),
        "{:?}",
        subscribed.messages
    );
    assert_eq!(fixture.server().subscriptions(), vec![README_URI]);
    let ping = json!({"jsonrpc": "2.0", "id": 10, "method": "ping"});
    let pinged = Answer::of(watcher.at(&url(1)).send(&ping, None).await).await;
    assert_eq!(pinged.last()["result"], json!({}), "{:?}", pinged.messages);
    eventually(
        std::time::Duration::from_secs(5),
        "the second gateway follows the resource upstream",
        || async { fixture.server().subscriptions() == vec![README_URI; 2] },
    )
    .await;

    // Ended on the second gateway, the session is gone from the first too.
    let deleted = on_b
        .http
        .delete(url(1))
        .header("mcp-session-id", plain.session.as_deref().unwrap())
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let gone = plain
        .send(&json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}), None)
        .await;
    assert_eq!(gone.status(), 404, "the first gateway no longer knows it");

    for running in replicas {
        running.shutdown().await.unwrap();
    }
}

/// Two gateways on loopback sharing `store`, each with the upstream at `url` as `fx`.
async fn two_gateways(
    url: &str,
    store: &std::sync::Arc<MemorySessionStore>,
    settings: Settings,
) -> Vec<app::Running> {
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..settings.clone()
        };
        let running = app::start_sharing(settings, store.clone()).await.unwrap();
        let server = json!({"server_id": "fx", "url": url});
        running.gateway.register(record(server)).await.unwrap();
        wait_healthy(&running.gateway, "fx").await;
        replicas.push(running);
    }
    replicas
}

#[allow(deprecated)] // logging is deprecated by SEP-2577 but still relayed
fn mcp_gateway_logging_error() -> rmcp::model::LoggingLevel {
    rmcp::model::LoggingLevel::Error
}

/// A session ends when no gateway has served it for the idle timeout: one that another
/// gateway serves is only dropped from this one's table (and rebuilt from its record if
/// it comes back), never ended.
#[tokio::test]
async fn a_session_another_gateway_serves_is_not_ended_as_idle() {
    let bounded = tokio::time::timeout(std::time::Duration::from_secs(60), idle_elsewhere());
    bounded.await.expect("the test finishes within a minute");
}

async fn idle_elsewhere() {
    use std::time::Duration;
    let fixture = mcp_gateway_testkit::spawn_http(FixtureOptions::default()).await;
    let store = MemorySessionStore::new();
    let settings = Settings {
        session_ttl: Duration::from_millis(400),
        ..Settings::default()
    };
    let replicas = two_gateways(fixture.url(), &store, settings).await;
    let url = |n: usize| format!("http://{}/mcp", replicas[n].addr);
    let client = RawClient::session(&url(0), json!({})).await;
    let id = client.session.clone().unwrap();
    let on_b = client.at(&url(1));
    // Served by the second gateway for three of the first one's idle timeouts.
    let until = std::time::Instant::now() + Duration::from_millis(1200);
    let mut n = 0;
    while std::time::Instant::now() < until {
        n += 1;
        let echo = on_b
            .call(json!(n), "fx__echo", json!({"message": "b"}), json!({}))
            .await;
        assert_eq!(echo.last()["result"]["content"][0]["text"], "b", "call {n}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.load(&id).is_some(), "the session lives on");
    // Back on the first gateway: served from its record.
    let back = client
        .call(json!(0), "fx__echo", json!({"message": "a"}), json!({}))
        .await;
    assert_eq!(back.last()["result"]["content"][0]["text"], "a");
    // Idle everywhere: ended, for both.
    eventually(Duration::from_secs(5), "the idle session ends", || async {
        store.load(&id).is_none()
    })
    .await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(on_b.send(&ping, None).await.status(), 404);
    for running in replicas {
        running.shutdown().await.unwrap();
    }
}

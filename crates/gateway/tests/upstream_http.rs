//! Streamable HTTP upstreams (rmcp fixture): discovery, calls, auth headers, allowlists,
//! pagination, list_changed in both eras, and an upstream that is down at registration.

mod common;

use std::time::Duration;

use common::*;
use mcp_gateway::model::HealthState;
use mcp_gateway_testkit::{FixtureOptions, FixtureServer, free_port, serve_http, spawn_http};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn discovers_and_calls_through_an_http_upstream() {
    let fixture = spawn_http(FixtureOptions::default()).await;
    let gw = gateway().await;
    gw.register(record(json!({"server_id": "fx", "url": fixture.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "fx").await;

    let entry = gw.registry.get("fx").unwrap();
    let names: Vec<_> = entry
        .catalog
        .tools
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(
        names.contains(&"echo".to_owned()) && names.contains(&"add".to_owned()),
        "{names:?}"
    );
    assert_eq!(entry.catalog.resources[0].uri, "fixture://readme");
    assert_eq!(
        entry.catalog.resource_templates[0].uri_template,
        "fixture://items/{id}"
    );
    assert_eq!(entry.catalog.prompts[0].name, "greet");

    assert_eq!(call_text(&gw, "fx__echo", echo_args("hi")).await, "hi");
    assert_eq!(
        call_text(&gw, "fx__add", json!({"a": 2, "b": 3})).await,
        "5"
    );
    let failed = gw
        .call_tool("fx__fail", None, &mcp_gateway::access::Access::EVERYTHING)
        .await
        .unwrap();
    assert_eq!(
        failed.is_error,
        Some(true),
        "a tool error is a result, not a gateway error"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_auth_headers_really_arrive() {
    let fixture = spawn_http(
        FixtureOptions::default().with_required_header("authorization", "Bearer s3cret"),
    )
    .await;
    let gw = gateway().await;
    gw.register(record(json!({
        "server_id": "bearer", "url": fixture.url(), "auth_type": "bearer_token", "auth_value": "s3cret",
        "headers": {"X-Tenant": "acme"}
    })))
    .await
    .unwrap();
    wait_healthy(&gw, "bearer").await;
    let seen = call_text(&gw, "bearer__whoami", json!({})).await;
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["authorization"], "Bearer s3cret");
    assert_eq!(seen["x-tenant"], "acme");

    // Wrong credential: the upstream answers 401, the server stays registered but unhealthy.
    gw.register(record(json!({
        "server_id": "wrong", "url": fixture.url(), "auth_type": "bearer_token", "auth_value": "nope"
    })))
    .await
    .unwrap();
    wait_unhealthy(&gw, "wrong").await;
    let error = gw
        .registry
        .get("wrong")
        .unwrap()
        .runtime
        .health()
        .last_error
        .unwrap();
    assert!(
        !error.contains("nope"),
        "the credential must not appear in errors: {error}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn api_key_and_basic_auth_headers() {
    let fixture =
        spawn_http(FixtureOptions::default().with_required_header("x-api-key", "k1")).await;
    let custom = spawn_http(FixtureOptions::default().with_required_header("x-token", "k2")).await;
    let basic = spawn_http(
        FixtureOptions::default().with_required_header("authorization", "Basic dTpwdw=="),
    )
    .await;
    let gw = gateway().await;
    for body in [
        json!({"server_id": "default_header", "url": fixture.url(), "auth_type": "api_key", "auth_value": "k1"}),
        json!({"server_id": "custom_header", "url": custom.url(), "auth_type": "api_key", "auth_value": "k2",
               "api_key_header": "X-Token"}),
        json!({"server_id": "basic", "url": basic.url(), "auth_type": "basic", "auth_value": "u:pw"}),
    ] {
        gw.register(record(body)).await.unwrap();
    }
    for id in ["default_header", "custom_header", "basic"] {
        wait_healthy(&gw, id).await;
        assert_eq!(
            call_text(&gw, &format!("{id}__echo"), echo_args(id)).await,
            id
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn allowlist_limits_what_is_exposed() {
    let fixture = spawn_http(FixtureOptions::default()).await;
    let gw = gateway().await;
    gw.register(record(json!({
        "server_id": "fx", "url": fixture.url(), "tools": ["echo", "not_there"], "resources": ["fixture://readme"]
    })))
    .await
    .unwrap();
    wait_healthy(&gw, "fx").await;
    let snapshot = gw.registry.snapshot();
    assert!(snapshot.route_tool("fx__echo").is_some());
    assert!(snapshot.route_tool("fx__add").is_none(), "not allowlisted");
    let entry = snapshot.servers.get("fx").unwrap();
    assert_eq!(entry.missing_tools().collect::<Vec<_>>(), ["not_there"]);
    assert_eq!(entry.allowed_resources().count(), 1);
    let err = gw
        .call_tool("fx__add", None, &mcp_gateway::access::Access::EVERYTHING)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no tool named"), "{err}");
    gw.shutdown().await;
}

#[tokio::test]
async fn every_page_is_discovered() {
    let fixture = spawn_http(
        FixtureOptions::default()
            .with_extra_tools(25)
            .with_page_size(4),
    )
    .await;
    let gw = gateway().await;
    gw.register(record(json!({"server_id": "paged", "url": fixture.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "paged").await;
    let tools = &gw.registry.get("paged").unwrap().catalog.tools;
    assert_eq!(
        tools.len(),
        6 + 25,
        "{:?}",
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    assert_eq!(
        call_text(&gw, "paged__extra_25", json!({})).await,
        "extra_25"
    );
    gw.shutdown().await;
}

async fn list_changed_is_followed(options: FixtureOptions) {
    let fixture = spawn_http(options).await;
    let gw = gateway().await;
    gw.register(record(json!({"server_id": "dyn", "url": fixture.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "dyn").await;
    assert!(gw.registry.snapshot().route_tool("dyn__fresh").is_none());
    fixture.server().add_tool(Some("fresh")).await;
    eventually(
        Duration::from_secs(10),
        "dyn__fresh routed after list_changed",
        || async { gw.registry.snapshot().route_tool("dyn__fresh").is_some() },
    )
    .await;
    assert_eq!(call_text(&gw, "dyn__fresh", json!({})).await, "fresh");
    gw.shutdown().await;
}

#[tokio::test]
async fn list_changed_from_a_legacy_upstream() {
    list_changed_is_followed(FixtureOptions::default().legacy_only()).await;
}

#[tokio::test]
async fn list_changed_from_a_2026_upstream_through_subscriptions_listen() {
    list_changed_is_followed(FixtureOptions::default()).await;
}

#[tokio::test]
async fn an_upstream_down_at_registration_becomes_usable_by_itself() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let gw = gateway().await;
    gw.register(record(
        json!({"server_id": "late", "url": url, "tools": ["echo"]}),
    ))
    .await
    .unwrap();
    wait_unhealthy(&gw, "late").await;
    let view = gw.registry.get("late").unwrap().view();
    assert!(view.health.last_error.is_some());
    assert!(gw.registry.snapshot().route_tool("late__echo").is_none());
    assert_eq!(
        gw.registry
            .get("late")
            .unwrap()
            .missing_tools()
            .collect::<Vec<_>>(),
        ["echo"]
    );
    assert_eq!(rest_echo_available(&gw).await, Some(false));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve_http(
        listener,
        FixtureServer::new(FixtureOptions::default()),
        stop.clone(),
    ));
    wait_healthy(&gw, "late").await;
    assert_eq!(call_text(&gw, "late__echo", echo_args("up")).await, "up");
    // GET /mcp/tools is cached per registry snapshot: it follows the upstream both ways.
    assert_eq!(rest_echo_available(&gw).await, Some(true));

    // And when it goes away again, its tools leave the routing table.
    stop.cancel();
    let _ = server.await;
    wait_unhealthy(&gw, "late").await;
    assert!(gw.registry.snapshot().route_tool("late__echo").is_none());
    assert_eq!(health(&gw, "late"), HealthState::Unhealthy);
    eventually(
        Duration::from_secs(5),
        "echo listed as unavailable",
        || async { rest_echo_available(&gw).await == Some(false) },
    )
    .await;
    gw.shutdown().await;
}

/// `available` of `late`'s `echo` in `GET /mcp/tools`.
async fn rest_echo_available(gw: &std::sync::Arc<mcp_gateway::gateway::Gateway>) -> Option<bool> {
    use tower::ServiceExt;
    let request = axum::http::Request::get("/mcp/tools")
        .header("host", "127.0.0.1:4000")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = mcp_gateway::front::router(gw.clone())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    answer["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["server_id"] == "late" && t["tool"] == "echo")
        .map(|t| t["available"].as_bool().unwrap())
}

#[tokio::test]
async fn replace_reconnects_and_remove_disconnects() {
    let a = spawn_http(FixtureOptions::default().with_prefix("a_")).await;
    let b = spawn_http(FixtureOptions::default().with_prefix("b_")).await;
    let gw = gateway().await;
    gw.register(record(json!({"server_id": "s", "url": a.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "s").await;
    assert!(gw.registry.snapshot().route_tool("s__a_echo").is_some());
    gw.update("s", record(json!({"url": b.url()})))
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "routes follow the new upstream",
        || async {
            let snap = gw.registry.snapshot();
            snap.route_tool("s__b_echo").is_some() && snap.route_tool("s__a_echo").is_none()
        },
    )
    .await;
    gw.unregister("s").await.unwrap();
    assert!(gw.registry.snapshot().route_tool("s__b_echo").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_forgot_our_session_is_reinitialised_transparently() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let first = tokio::spawn(serve_http(
        listener,
        FixtureServer::new(FixtureOptions::default().legacy_only()),
        stop.clone(),
    ));
    // Health probes far apart: only the 404-driven re-initialisation can save the call.
    let gw = mcp_gateway::gateway::Gateway::start_with(
        mcp_gateway::config::Settings::default(),
        mcp_gateway::upstream::supervisor::SupervisorConfig {
            health_interval: Duration::from_secs(600),
            ..fast()
        },
    )
    .await
    .unwrap();
    gw.register(record(
        json!({"server_id": "re", "url": format!("http://{addr}/mcp")}),
    ))
    .await
    .unwrap();
    wait_healthy(&gw, "re").await;
    assert_eq!(
        call_text(&gw, "re__echo", echo_args("before")).await,
        "before"
    );

    // The upstream restarts on the same address with an empty session table.
    stop.cancel();
    let _ = first.await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve_http(
        listener,
        FixtureServer::new(FixtureOptions::default().legacy_only()),
        stop.clone(),
    ));
    assert_eq!(
        call_text(&gw, "re__echo", echo_args("after")).await,
        "after"
    );
    stop.cancel();
    gw.shutdown().await;
}

/// Two fixtures offering the same tools (plus `extra_1` on `b`) under a naming policy;
/// the fixture handles are returned so that they live as long as the test.
async fn two_servers_with(
    policy: mcp_gateway::registry::NamePolicy,
) -> (
    std::sync::Arc<mcp_gateway::gateway::Gateway>,
    Vec<String>,
    [mcp_gateway_testkit::FixtureHandle; 2],
) {
    let a = spawn_http(FixtureOptions::default()).await;
    let b = spawn_http(FixtureOptions::default().with_extra_tools(1)).await;
    let gw = gateway_with(mcp_gateway::config::Settings {
        name_policy: policy,
        ..Default::default()
    })
    .await;
    gw.register(record(json!({"server_id": "a", "url": a.url()})))
        .await
        .unwrap();
    gw.register(record(json!({"server_id": "b", "url": b.url()})))
        .await
        .unwrap();
    wait_healthy(&gw, "a").await;
    wait_healthy(&gw, "b").await;
    let names = gw.registry.snapshot().tools.keys().cloned().collect();
    (gw, names, [a, b])
}

#[tokio::test]
async fn name_policy_prefix_on_conflict() {
    let (gw, names, _fixtures) =
        two_servers_with(mcp_gateway::registry::NamePolicy::PrefixOnConflict).await;
    assert!(
        names.contains(&"a__echo".to_owned()) && names.contains(&"b__echo".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"extra_1".to_owned()),
        "unique names stay bare: {names:?}"
    );
    assert_eq!(call_text(&gw, "extra_1", json!({})).await, "extra_1");
    gw.shutdown().await;
}

#[tokio::test]
async fn name_policy_reject_keeps_the_first_server() {
    let (gw, names, _fixtures) = two_servers_with(mcp_gateway::registry::NamePolicy::Reject).await;
    assert!(
        names.contains(&"echo".to_owned()) && names.contains(&"extra_1".to_owned()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("__")), "{names:?}");
    let snapshot = gw.registry.snapshot();
    let (owner, _) = snapshot.route_tool("echo").unwrap();
    assert_eq!(owner.record.server_id, "a");
    assert_eq!(snapshot.exposed_tool_name("b", "echo"), None);
    gw.shutdown().await;
}

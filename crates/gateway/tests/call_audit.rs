//! The audit of MCP calls and the tools' own limits, over real sockets: every request an
//! API key (or JWT caller) makes to an upstream — on `/mcp` through the direct lane and
//! the relay, on a session, on the REST call — is one `mcp_call` event on the audit target
//! naming who, which server and tool, the outcome and the duration (arguments only when
//! the operator turns them on); the operator's own calls are not recorded by default. A
//! server's `tool_limits` bound a tool for every caller together.

mod common;

use common::{bearer::Mcp, guarded::guarded, *};
use mcp_gateway::{access::AuditCalls, config::Settings};
use mcp_gateway_testkit::{CapturedLogs, FixtureOptions};
use serde_json::json;

const MASTER: &str = "call-audit-master-key";

#[tokio::test]
async fn calls_by_keys_are_audited_on_every_face_and_the_operators_are_not() {
    let (captured, _guard) = CapturedLogs::json(tracing::Level::INFO);

    let settings = Settings {
        audit_call_arguments: true,
        ..Settings::default()
    };
    let gw = guarded(settings, MASTER, false).await;
    let (base, http) = (&gw.base, &gw.http);
    let (key, key_id) = gw.key(json!({"name": "audited"})).await;
    let (key, principal) = (key.as_str(), format!("key:{key_id}"));

    // The key's calls: stateless (the direct lane), on a session, and over REST.
    let stateless = Mcp::new(http, &format!("{base}/mcp"), key);
    assert!(stateless.call("a__echo").await.get("result").is_some());
    let session = Mcp::new(http, &format!("{base}/mcp"), key).open().await;
    assert!(session.call("a__echo").await.get("result").is_some());
    let (status, _) = session
        .request(
            "prompts/get",
            json!({"name": "a__greet", "arguments": {"name": "x"}}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let rest = http
        .post(format!("{base}/mcp/tools/call"))
        .bearer_auth(key)
        .json(&json!({"name": "a__echo", "arguments": {"message": "rest"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    // Refused before reaching an upstream: nothing to audit.
    assert!(stateless.call("a__nope").await.get("error").is_some());
    // The operator's own call.
    let operator = Mcp::new(http, &format!("{base}/mcp"), MASTER);
    assert!(operator.call("a__echo").await.get("result").is_some());

    let calls = captured.events("mcp_call");
    assert_eq!(calls.len(), 4, "{calls:#?}");
    for call in &calls {
        assert_eq!(call["caller"], principal.as_str(), "{call}");
        assert_eq!(call["server_id"], "a", "{call}");
        assert_eq!(call["outcome"], "ok", "{call}");
        assert!(call["duration_ms"].as_f64().unwrap() >= 0.0, "{call}");
    }
    let methods: Vec<(&str, &str)> = calls
        .iter()
        .map(|c| (c["method"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        methods,
        [
            ("tools/call", "echo"),
            ("tools/call", "echo"),
            ("prompts/get", "greet"),
            ("tools/call", "echo"),
        ]
    );
    assert_eq!(calls[0]["arguments"], r#"{"message":"hi"}"#);
    assert_eq!(calls[3]["arguments"], r#"{"message":"rest"}"#);
}

#[tokio::test]
async fn without_arguments_on_they_are_never_recorded_and_all_covers_the_operator() {
    let (captured, _guard) = CapturedLogs::json(tracing::Level::INFO);
    let settings = Settings {
        audit_calls: AuditCalls::All,
        ..Settings::default()
    };
    let (_a, running) = with_fixture_in(settings, "a", FixtureOptions::default()).await;
    let answer = call_text(&running.gateway, "a__echo", echo_args("secret-ish")).await;
    assert_eq!(answer, "secret-ish");
    let calls = captured.events("mcp_call");
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0]["caller"], "operator");
    assert_eq!(calls[0]["arguments"], "-");
    assert!(!format!("{calls:?}").contains("secret-ish"));
}

#[tokio::test]
async fn a_tools_own_limit_holds_for_every_caller() {
    let (_a, running) = with_fixture("spare", FixtureOptions::default()).await;
    let limited = record(json!({"server_id": "limited", "url": _a.url(),
        "tool_limits": {"echo": {"requests_per_minute": 60, "burst": 2}}}));
    running.gateway.register(limited).await.unwrap();
    wait_healthy(&running.gateway, "limited").await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/mcp", running.addr);
    let client = Mcp::new(&http, &url, "");
    for _ in 0..2 {
        assert!(client.call("limited__echo").await.get("result").is_some());
    }
    let limited = client.call("limited__echo").await;
    assert_eq!(limited["error"]["code"], -32029, "{limited}");
    assert_eq!(limited["error"]["data"]["of"], "tool", "{limited}");
    assert!(
        limited["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the tool's requests_per_minute"),
        "{limited}"
    );
    // Another tool of the server, and the same tool of another server, are not limited.
    assert!(
        client
            .call("limited__add")
            .await
            .get("error")
            .is_some_and(|e| e["code"] != -32029)
    );
    assert!(client.call("spare__echo").await.get("result").is_some());

    // A bad limit is refused with the field named.
    let bad = record(json!({"server_id": "bad", "url": _a.url(),
        "tool_limits": {"echo": {"requests_per_minute": 0}}}));
    let error = running.gateway.register(bad).await.unwrap_err().to_string();
    assert!(
        error.contains("tool_limits.echo.rate_limit.requests_per_minute"),
        "{error}"
    );
}

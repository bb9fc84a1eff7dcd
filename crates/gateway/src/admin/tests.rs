//! Router tests without sockets: auth, input errors, CRUD and status codes.

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{admin::audit, config::Settings, front::router, gateway::Gateway};

const KEY: &str = "test-master-key";

async fn app_with(settings: Settings) -> Router {
    router(Gateway::start(settings).await.unwrap())
}

async fn app() -> Router {
    app_with(Settings {
        master_key: Some(crate::secret::Secret::new(KEY)),
        ..Settings::default()
    })
    .await
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<&str>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    // As a local client would send it (a keyless gateway answers to loopback names only).
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:4000");
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Body::from(body.unwrap_or_default().to_owned()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

const SEED_BODY: &str = r#"{
  "server_id": "my-mcp-server",
  "name": "My MCP Server",
  "url": "http://127.0.0.1:9/mcp",
  "transport": "streamable_http",
  "tools": ["search", "fetch", "write"],
  "resources": ["documents", "images"],
  "auth_type": "bearer_token",
  "metadata": {
    "version": "1.0.0"
  }
}"#;

#[tokio::test]
async fn seed_registration_round_trip() {
    let app = app().await;
    let (status, body) = send(
        &app,
        Method::POST,
        "/mcp/servers",
        Some(SEED_BODY),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "registered");
    assert_eq!(body["server_id"], "my-mcp-server");
    assert_eq!(body["server"]["metadata"]["version"], "1.0.0");

    let (status, body) = send(
        &app,
        Method::POST,
        "/mcp/servers",
        Some(SEED_BODY),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "server_exists");

    let (status, body) = send(&app, Method::GET, "/mcp/servers", None, Some(KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["servers"][0]["name"], "My MCP Server");
    assert_eq!(body["servers"][0]["source"], "api");

    // The upstream is down: declared tools are still listed, marked unavailable.
    let (status, body) = send(&app, Method::GET, "/mcp/tools", None, Some(KEY)).await;
    assert_eq!(status, StatusCode::OK);
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 3);
    assert_eq!(
        tools[0],
        json!({"server_id": "my-mcp-server", "server_name": "My MCP Server", "tool": "search",
               "name": "my-mcp-server__search", "available": false})
    );
    let (_, body) = send(&app, Method::GET, "/mcp/resources", None, Some(KEY)).await;
    assert_eq!(body["resources"][1]["resource"], "images");
    let (status, body) = send(&app, Method::GET, "/mcp/prompts", None, Some(KEY)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"prompts": []})));

    let (status, body) = send(
        &app,
        Method::GET,
        "/mcp/servers/my-mcp-server",
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["tools"], json!(["search", "fetch", "write"]));

    let (status, body) = send(
        &app,
        Method::DELETE,
        "/mcp/servers/my-mcp-server",
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"status": "unregistered", "server_id": "my-mcp-server"})
    );
    let (status, body) = send(
        &app,
        Method::DELETE,
        "/mcp/servers/my-mcp-server",
        None,
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "server_not_found");
}

#[tokio::test]
async fn put_replaces_and_checks_the_id() {
    let app = app().await;
    send(
        &app,
        Method::POST,
        "/mcp/servers",
        Some(SEED_BODY),
        Some(KEY),
    )
    .await;
    let body = r#"{"name": "Renamed", "url": "http://127.0.0.1:9/v2"}"#;
    let (status, res) = send(
        &app,
        Method::PUT,
        "/mcp/servers/my-mcp-server",
        Some(body),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["name"], "Renamed");
    assert_eq!(res["url"], "http://127.0.0.1:9/v2");
    let body = r#"{"server_id": "other", "url": "http://127.0.0.1:9/"}"#;
    let (status, res) = send(
        &app,
        Method::PUT,
        "/mcp/servers/my-mcp-server",
        Some(body),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res["error"]["field"], "server_id");
    let (status, _) = send(
        &app,
        Method::PUT,
        "/mcp/servers/nope",
        Some(body),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = r#"{"url": "http://127.0.0.1:9/"}"#;
    let (status, _) = send(
        &app,
        Method::PUT,
        "/mcp/servers/nope",
        Some(body),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn secrets_are_never_returned() {
    let app = app().await;
    let body = r#"{"server_id": "s", "url": "http://127.0.0.1:9/", "auth_type": "bearer_token",
                  "auth_value": "sekret-token-1", "headers": {"X-Extra": "sekret-header-2"}}"#;
    let (status, created) = send(&app, Method::POST, "/mcp/servers", Some(body), Some(KEY)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, listed) = send(&app, Method::GET, "/mcp/servers", None, Some(KEY)).await;
    let (_, one) = send(&app, Method::GET, "/mcp/servers/s", None, Some(KEY)).await;
    for v in [&created, &listed, &one] {
        let text = v.to_string();
        assert!(!text.contains("sekret"), "secret leaked: {text}");
    }
    assert_eq!(one["auth_configured"], true);
    assert_eq!(one["header_names"], json!(["X-Extra"]));
}

#[tokio::test]
async fn admin_routes_need_the_master_key() {
    let app = app().await;
    for key in [None, Some("wrong"), Some("")] {
        let (status, body) = send(&app, Method::GET, "/mcp/servers", None, key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, _) = send(&app, Method::GET, "/health/liveliness", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&app, Method::GET, "/health/readiness", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn bad_input_is_4xx_and_changes_nothing() {
    let app = app().await;
    let long_id = format!(
        r#"{{"server_id": "{}", "url": "http://h/"}}"#,
        "x".repeat(129)
    );
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "empty",
            String::new(),
            StatusCode::BAD_REQUEST,
            "empty_body",
        ),
        (
            "malformed",
            "{\"server_id\":".into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "array",
            "[]".into(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "wrong type",
            r#"{"server_id": 5, "url": "http://h/"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "tools type",
            r#"{"server_id": "a", "url": "http://h/", "tools": "x"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "transport",
            r#"{"server_id": "a", "url": "http://h/", "transport": "smoke"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "bad url",
            r#"{"server_id": "a", "url": "::nope"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "no url",
            r#"{"server_id": "a", "transport": "sse"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "slash id",
            r#"{"server_id": "a/b", "url": "http://h/"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "long id",
            long_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "no id",
            r#"{"url": "http://h/"}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "unknown key",
            r#"{"server_id": "a", "url": "http://h/", "tols": []}"#.into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "metadata",
            r#"{"server_id": "a", "url": "http://169.254.169.254/"}"#.into(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "stdio",
            r#"{"server_id": "a", "transport": "stdio", "command": "sh"}"#.into(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, res) = send(&app, Method::POST, "/mcp/servers", Some(&body), Some(KEY)).await;
        assert_eq!(got, status, "{name}: {res}");
        assert_eq!(res["error"]["code"], code, "{name}: {res}");
        assert!(
            res["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let (_, res) = send(
        &app,
        Method::POST,
        "/mcp/servers",
        Some(r#"{"server_id": 5}"#),
        Some(KEY),
    )
    .await;
    assert_eq!(res["error"]["field"], "server_id");
    let (_, list) = send(&app, Method::GET, "/mcp/servers", None, Some(KEY)).await;
    assert_eq!(list["servers"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn oversized_and_non_json_bodies() {
    let app = app().await;
    let huge = format!(
        r#"{{"server_id": "a", "url": "http://h/", "metadata": {{"x": "{}"}}}}"#,
        "a".repeat(12 << 20)
    );
    let (status, res) = send(&app, Method::POST, "/mcp/servers", Some(&huge), Some(KEY)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res["error"]["code"], "body_too_large");
    let req = Request::post("/mcp/servers")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "text/plain")
        .body(Body::from(SEED_BODY))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let app = app().await;
    let (status, res) = send(&app, Method::GET, "/nope", None, Some(KEY)).await;
    assert_eq!(
        (status, res["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, res) = send(&app, Method::PATCH, "/mcp/servers", None, Some(KEY)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn tools_call_errors() {
    let app = app().await;
    let (status, res) = send(
        &app,
        Method::POST,
        "/mcp/tools/call",
        Some(r#"{"name": "x__y"}"#),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(res["error"]["code"], "tool_not_found");
    let (status, res) = send(
        &app,
        Method::POST,
        "/mcp/tools/call",
        Some(r#"{"arguments": {}}"#),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(res["error"]["field"], "name");
}

#[tokio::test]
async fn disabled_gateway_answers_404_on_every_mcp_route() {
    let app = app_with(Settings {
        mcp_enabled: false,
        ..Settings::default()
    })
    .await;
    for (method, path) in [
        (Method::GET, "/mcp/servers"),
        (Method::POST, "/mcp/servers"),
        (Method::GET, "/mcp/tools"),
        (Method::DELETE, "/mcp/servers/x"),
        (Method::POST, "/mcp"),
    ] {
        let (status, res) = send(&app, method, path, Some(SEED_BODY), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res["error"]["code"], "mcp_gateway_disabled", "{path}");
    }
    let (status, _) = send(&app, Method::GET, "/health/readiness", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn config_servers_cannot_be_changed_through_the_api() {
    let mut server: crate::model::ServerRecord =
        serde_json::from_value(json!({"server_id": "cfg", "url": "http://127.0.0.1:9/"})).unwrap();
    server
        .validate(crate::model::RegistrationPolicy::TRUSTED)
        .unwrap();
    let app = app_with(Settings {
        servers: vec![server],
        ..Settings::default()
    })
    .await;
    let (status, res) = send(&app, Method::DELETE, "/mcp/servers/cfg", None, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(res["error"]["code"], "server_defined_in_config");
    let (status, _) = send(
        &app,
        Method::PUT,
        "/mcp/servers/cfg",
        Some(r#"{"url": "http://h/"}"#),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, res) = send(&app, Method::GET, "/mcp/servers/cfg", None, None).await;
    assert_eq!(res["source"], "config");
    let (status, _) = send(
        &app,
        Method::POST,
        "/mcp/servers",
        Some(r#"{"server_id": "cfg", "url": "http://h/"}"#),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

/// The CIDR lists and the stdio allowlist refuse API registrations and updates with 403
/// naming the field; config-file servers are not checked.
#[tokio::test]
async fn network_and_command_policies_answer_403() {
    let app = app_with(Settings {
        master_key: Some(crate::secret::Secret::new(KEY)),
        upstream_allow_cidrs: nets(&["127.0.0.0/8", "10.0.0.0/8"]),
        upstream_deny_cidrs: nets(&["10.66.0.0/16"]),
        allow_stdio_registration: true,
        stdio_allowed_commands: vec!["cat".into(), "/opt/mcp/server".into()],
        servers: vec![config_server("trusted", "http://192.0.2.1/mcp")],
        ..Settings::default()
    })
    .await;
    let refused = [
        (
            r#"{"server_id": "a", "url": "http://10.66.1.1/mcp"}"#,
            "url",
            "upstream_deny_cidrs",
        ),
        (
            r#"{"server_id": "a", "url": "http://192.0.2.7/mcp"}"#,
            "url",
            "upstream_allow_cidrs",
        ),
        (
            r#"{"server_id": "a", "url": "http://no-such-host.invalid/mcp"}"#,
            "url",
            "does not resolve",
        ),
        (
            r#"{"server_id": "a", "url": "http://169.254.169.254/"}"#,
            "url",
            "link-local",
        ),
        (
            r#"{"server_id": "a", "command": "/bin/sh"}"#,
            "command",
            "stdio_allowed_commands",
        ),
        (
            r#"{"server_id": "a", "command": "server"}"#,
            "command",
            "stdio_allowed_commands",
        ),
    ];
    for (body, field, says) in refused {
        let (status, res) = send(&app, Method::POST, "/mcp/servers", Some(body), Some(KEY)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {res}");
        assert_eq!(res["error"]["code"], "forbidden", "{res}");
        assert_eq!(res["error"]["field"], field, "{res}");
        let message = res["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    let accepted = [
        r#"{"server_id": "loop", "url": "http://127.0.0.1:9/mcp"}"#,
        r#"{"server_id": "named", "url": "http://localhost:9/mcp"}"#,
        r#"{"server_id": "ten", "url": "http://10.1.2.3:9/mcp"}"#,
        r#"{"server_id": "cat", "command": "/usr/bin/cat"}"#,
    ];
    for body in accepted {
        let (status, res) = send(&app, Method::POST, "/mcp/servers", Some(body), Some(KEY)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {res}");
    }
    // An update is checked as well, and leaves the server as it was.
    let (status, res) = send(
        &app,
        Method::PUT,
        "/mcp/servers/ten",
        Some(r#"{"url": "http://10.66.0.9/mcp"}"#),
        Some(KEY),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{res}");
    assert_eq!(res["error"]["field"], "url");
    let (_, ten) = send(&app, Method::GET, "/mcp/servers/ten", None, Some(KEY)).await;
    assert_eq!(ten["url"], "http://10.1.2.3:9/mcp");
    let (status, _) = send(&app, Method::GET, "/mcp/servers/trusted", None, Some(KEY)).await;
    assert_eq!(status, StatusCode::OK, "config-file servers are trusted");
}

fn config_server(id: &str, url: &str) -> crate::model::ServerRecord {
    let mut r: crate::model::ServerRecord =
        serde_json::from_value(json!({"server_id": id, "url": url})).unwrap();
    r.validate(crate::model::RegistrationPolicy::TRUSTED)
        .unwrap();
    r
}

/// Every admin change, accepted or refused, leaves one audit line with the action, the id
/// and the outcome, and none of the secrets it carried.
#[tokio::test]
async fn admin_changes_are_audited_without_secrets() {
    let (captured, _guard) = mcp_gateway_testkit::CapturedLogs::text(tracing::Level::TRACE);
    // While a single dispatcher is alive, tracing registers a callsite first hit on another
    // thread (another test's refused change) with that thread's interest, none, for good;
    // a second live dispatcher makes it ask every dispatcher instead.
    let _second = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .finish(),
    );

    let app = app_with(Settings {
        master_key: Some(crate::secret::Secret::new(KEY)),
        allow_stdio_registration: true,
        ..Settings::default()
    })
    .await;
    let secrets = [
        "auth-secret-91",
        "header-secret-92",
        "env-secret-93",
        "query-secret-94",
        "userinfo-secret-95",
        "presented-wrong-key-96",
        KEY,
    ];
    type Call<'a> = (
        Method,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        StatusCode,
    );
    let calls: [Call; 7] = [
        (
            Method::POST,
            "/mcp/servers",
            Some(
                r#"{"server_id": "audited", "url": "http://127.0.0.1:9/mcp?token=query-secret-94",
                   "auth_type": "bearer_token", "auth_value": "auth-secret-91",
                   "headers": {"X-Tenant": "header-secret-92"}}"#,
            ),
            Some(KEY),
            StatusCode::CREATED,
        ),
        (
            Method::POST,
            "/mcp/servers",
            Some(r#"{"server_id": "child", "command": "cat", "env": {"TOKEN": "env-secret-93"}}"#),
            Some(KEY),
            StatusCode::CREATED,
        ),
        (
            Method::PUT,
            "/mcp/servers/audited",
            Some(
                r#"{"url": "http://127.0.0.1:10/mcp", "auth_type": "bearer_token", "auth_value": "auth-secret-91"}"#,
            ),
            Some(KEY),
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/mcp/servers",
            Some(r#"{"server_id": "sneaky", "url": "http://169.254.169.254/latest"}"#),
            Some(KEY),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/mcp/servers",
            Some(r#"{"server_id": "creds", "url": "http://u:userinfo-secret-95@127.0.0.1/"}"#),
            Some(KEY),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::DELETE,
            "/mcp/servers/child",
            None,
            Some("presented-wrong-key-96"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::DELETE,
            "/mcp/servers/child",
            None,
            Some(KEY),
            StatusCode::OK,
        ),
    ];
    for (method, path, body, key, expected) in calls {
        let (status, res) = send(&app, method, path, body, key).await;
        assert_eq!(status, expected, "{path}: {res}");
    }
    // Reads are not changes.
    send(&app, Method::GET, "/mcp/servers", None, Some(KEY)).await;

    let out = captured.contents();
    let audit: Vec<&str> = out.lines().filter(|l| l.contains(audit::TARGET)).collect();
    assert_eq!(audit.len(), 7, "one line per change:\n{out}");
    let expect = [
        [
            "action=\"register\"",
            "server_id=\"audited\"",
            "outcome=\"ok\"",
            "status=201",
        ],
        [
            "action=\"register\"",
            "server_id=\"child\"",
            "transport=\"stdio\"",
            "outcome=\"ok\"",
        ],
        [
            "action=\"update\"",
            "server_id=\"audited\"",
            "outcome=\"ok\"",
            "status=200",
        ],
        [
            "action=\"register\"",
            "server_id=\"sneaky\"",
            "outcome=\"refused\"",
            "status=403",
        ],
        [
            "action=\"register\"",
            "server_id=\"creds\"",
            "error=\"invalid_field\"",
            "status=422",
        ],
        [
            "action=\"delete\"",
            "server_id=\"child\"",
            "caller=\"anonymous\"",
            "status=401",
        ],
        [
            "action=\"delete\"",
            "server_id=\"child\"",
            "caller=\"master_key\"",
            "status=200",
        ],
    ];
    for (line, wanted) in audit.iter().zip(expect) {
        for w in wanted {
            assert!(line.contains(w), "{w} missing in {line}");
        }
    }
    assert!(
        audit[0].contains("url=\"http://127.0.0.1:9/mcp\""),
        "the query is stripped: {}",
        audit[0]
    );
    for secret in secrets {
        assert!(
            !audit.iter().any(|l| l.contains(secret)),
            "{secret} reached the audit log:\n{out}"
        );
        // Upstream connection errors (reqwest's) quote the URL with its query; only that
        // one may show up outside the audit lines.
        if secret != "query-secret-94" {
            assert!(!out.contains(secret), "{secret} reached the log:\n{out}");
        }
    }
}

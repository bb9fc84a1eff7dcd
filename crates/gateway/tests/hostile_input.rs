//! Hostile and malformed input on every face of the gateway — `/mcp` (both eras), the
//! per-server endpoint, legacy `/sse` + `/messages`, and the REST API — one table: each
//! request gets the right HTTP status (and, where the answer is JSON-RPC, an error
//! object), never a 5xx or a hang, and the gateway keeps serving normal traffic after all
//! of them. Bodies are sent as raw bytes, so nothing is "fixed" by a client library.

mod common;

use std::time::Duration;

use common::*;
use mcp_gateway::config::Settings;
use mcp_gateway_testkit::FixtureOptions;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "sk-hostile-test";
const MAX_BODY: usize = 64 * 1024;

/// One hostile request and what it must get.
struct Case {
    name: &'static str,
    method: Method,
    /// `{session}` is replaced by a live session id, `{sse}` by a live legacy SSE session.
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expect: StatusCode,
}

/// The headers a well-behaved session-era client sends, plus the key.
fn session_headers() -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {KEY}")),
        ("content-type", "application/json".into()),
        ("accept", "application/json, text/event-stream".into()),
        ("mcp-session-id", "{session}".into()),
        ("mcp-protocol-version", "2025-11-25".into()),
    ]
}

fn without(mut headers: Vec<(&'static str, String)>, name: &str) -> Vec<(&'static str, String)> {
    headers.retain(|(k, _)| *k != name);
    headers
}

fn with(
    mut headers: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    headers.retain(|(k, _)| *k != name);
    headers.push((name, value.to_owned()));
    headers
}

fn rest_headers() -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {KEY}")),
        ("content-type", "application/json".into()),
    ]
}

fn call_body(id: Value, arguments: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "fx__echo", "arguments": arguments}})
    .to_string()
    .into_bytes()
}

fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

fn mcp(
    name: &'static str,
    headers: Vec<(&'static str, String)>,
    body: impl Into<Vec<u8>>,
    expect: StatusCode,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: "/mcp",
        headers,
        body: body.into(),
        expect,
    }
}

fn rest(
    name: &'static str,
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: impl Into<Vec<u8>>,
    expect: StatusCode,
) -> Case {
    Case {
        name,
        method,
        path,
        headers,
        body: body.into(),
        expect,
    }
}

fn cases() -> Vec<Case> {
    use StatusCode as S;
    let h = session_headers;
    let stateless = || {
        vec![
            ("authorization", format!("Bearer {KEY}")),
            ("content-type", "application/json".into()),
            ("accept", "application/json, text/event-stream".into()),
            ("mcp-protocol-version", "2026-07-28".into()),
            ("mcp-method", "tools/call".into()),
            ("mcp-name", "fx__echo".into()),
        ]
    };
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}});
    let stateless_body = |name: &str, meta: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": {"message": "x"}, "_meta": meta}})
        .to_string()
    };
    let ok_args = json!({"message": "x"});
    vec![
        // --- /mcp: framing and JSON
        mcp("truncated JSON", h(), "{\"jsonrpc\":\"2.0\",", S::BAD_REQUEST),
        mcp("empty body", h(), "", S::BAD_REQUEST),
        mcp("not JSON at all", h(), "hello", S::BAD_REQUEST),
        mcp("invalid UTF-8", h(), vec![0xff, 0xfe, 0x7b, 0x7d], S::BAD_REQUEST),
        mcp("JSON but not an object", h(), "42", S::BAD_REQUEST),
        mcp("a batch (not allowed since 2025-06-18)", h(), format!("[{}]", String::from_utf8(call_body(json!(1), ok_args.clone())).unwrap()), S::BAD_REQUEST),
        mcp("empty batch", h(), "[]", S::BAD_REQUEST),
        mcp("jsonrpc 1.0", h(), json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}).to_string(), S::BAD_REQUEST),
        mcp("jsonrpc missing", h(), json!({"id": 1, "method": "ping"}).to_string(), S::BAD_REQUEST),
        mcp("method not a string", h(), json!({"jsonrpc": "2.0", "id": 1, "method": 7}).to_string(), S::BAD_REQUEST),
        mcp("id null", h(), call_body(Value::Null, ok_args.clone()), S::BAD_REQUEST),
        mcp("id an object", h(), call_body(json!({"a": 1}), ok_args.clone()), S::BAD_REQUEST),
        mcp("id an array", h(), call_body(json!([1]), ok_args.clone()), S::BAD_REQUEST),
        mcp("id a boolean", h(), call_body(json!(true), ok_args.clone()), S::BAD_REQUEST),
        mcp("id a float", h(), call_body(json!(1.5), ok_args.clone()), S::BAD_REQUEST),
        mcp("id a huge string (accepted, echoed)", h(), call_body(json!("i".repeat(40_000)), ok_args.clone()), S::OK),
        mcp("id a huge integer", h(), b"{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"ping\"}".to_vec(), S::BAD_REQUEST),
        mcp("a huge string argument (under the limit)", h(), call_body(json!(1), json!({"message": "m".repeat(50_000)})), S::OK),
        mcp("a huge array argument", h(), call_body(json!(1), json!({"message": "x", "extra": vec![0; 20_000]})), S::OK),
        mcp("100-deep nesting in arguments", h(), format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"fx__echo","arguments":{{"message":"x","deep":{}}}}}}}"#, nested(100)), S::OK),
        mcp("10,000-deep nesting", h(), format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}}"#, nested(10_000)), S::BAD_REQUEST),
        mcp("arguments not an object", h(), call_body(json!(1), json!([1, 2])), S::OK),
        mcp("unknown method (JSON-RPC error)", h(), json!({"jsonrpc": "2.0", "id": 1, "method": "no/such"}).to_string(), S::OK),
        mcp("unknown tool (JSON-RPC error)", h(), json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}).to_string(), S::OK),
        mcp("oversized body", h(), call_body(json!(1), json!({"message": "m".repeat(MAX_BODY + 1)})), S::PAYLOAD_TOO_LARGE),
        // --- /mcp: headers
        mcp("content type text/plain", with(h(), "content-type", "text/plain"), call_body(json!(1), ok_args.clone()), S::UNSUPPORTED_MEDIA_TYPE),
        mcp("no content type", without(h(), "content-type"), call_body(json!(1), ok_args.clone()), S::UNSUPPORTED_MEDIA_TYPE),
        mcp("no Accept", without(h(), "accept"), call_body(json!(1), ok_args.clone()), S::NOT_ACCEPTABLE),
        mcp("Accept without event streams", with(h(), "accept", "application/json"), call_body(json!(1), ok_args.clone()), S::NOT_ACCEPTABLE),
        mcp("unknown protocol version header", with(h(), "mcp-protocol-version", "1999-01-01"), call_body(json!(1), ok_args.clone()), S::BAD_REQUEST),
        mcp("unknown session", with(h(), "mcp-session-id", "no-such-session"), call_body(json!(1), ok_args.clone()), S::NOT_FOUND),
        mcp("request without a session", without(h(), "mcp-session-id"), call_body(json!(1), ok_args.clone()), S::BAD_REQUEST),
        mcp("foreign Origin", with(h(), "origin", "https://evil.example"), call_body(json!(1), ok_args.clone()), S::FORBIDDEN),
        mcp("no key", without(h(), "authorization"), call_body(json!(1), ok_args.clone()), S::UNAUTHORIZED),
        mcp("wrong key", with(h(), "authorization", "Bearer nope"), call_body(json!(1), ok_args.clone()), S::UNAUTHORIZED),
        // --- /mcp: stateless 2026-07-28 requests
        mcp("stateless: Mcp-Name disagrees with the body", with(stateless(), "mcp-name", "other"), stateless_body("fx__echo", meta.clone()), S::BAD_REQUEST),
        mcp("stateless: Mcp-Method disagrees with the body", with(stateless(), "mcp-method", "tools/list"), stateless_body("fx__echo", meta.clone()), S::BAD_REQUEST),
        mcp("stateless: no protocol metadata", stateless(), stateless_body("fx__echo", json!({})), S::BAD_REQUEST),
        mcp("stateless: metadata version disagrees", stateless(), stateless_body("fx__echo", json!({"io.modelcontextprotocol/protocolVersion": "2025-11-25", "io.modelcontextprotocol/clientCapabilities": {}})), S::BAD_REQUEST),
        // --- other methods on /mcp
        Case { name: "PUT /mcp", method: Method::PUT, path: "/mcp", headers: h(), body: vec![], expect: S::METHOD_NOT_ALLOWED },
        Case { name: "DELETE an unknown session", method: Method::DELETE, path: "/mcp", headers: with(h(), "mcp-session-id", "no-such-session"), body: vec![], expect: S::NOT_FOUND },
        Case { name: "per-server endpoint of an unknown server", method: Method::POST, path: "/mcp/servers/nope/mcp", headers: h(), body: call_body(json!(1), ok_args.clone()), expect: S::NOT_FOUND },
        // --- legacy SSE face
        Case { name: "/messages without sessionId", method: Method::POST, path: "/messages", headers: rest_headers(), body: call_body(json!(1), ok_args.clone()), expect: S::BAD_REQUEST },
        Case { name: "/messages with an unknown sessionId", method: Method::POST, path: "/messages?sessionId=nope", headers: rest_headers(), body: call_body(json!(1), ok_args.clone()), expect: S::NOT_FOUND },
        Case { name: "/messages with bad JSON", method: Method::POST, path: "/messages?sessionId={sse}", headers: rest_headers(), body: b"{nope".to_vec(), expect: S::BAD_REQUEST },
        Case { name: "/messages oversized", method: Method::POST, path: "/messages?sessionId={sse}", headers: rest_headers(), body: call_body(json!(1), json!({"message": "m".repeat(MAX_BODY + 1)})), expect: S::PAYLOAD_TOO_LARGE },
        Case { name: "/sse with a foreign Origin", method: Method::GET, path: "/sse", headers: with(rest_headers(), "origin", "https://evil.example"), body: vec![], expect: S::FORBIDDEN },
        Case { name: "/sse without the key", method: Method::GET, path: "/sse", headers: vec![], body: vec![], expect: S::UNAUTHORIZED },
        // --- REST API
        rest("REST: bad JSON", Method::POST, "/mcp/servers", rest_headers(), "{", S::BAD_REQUEST),
        rest("REST: wrong content type", Method::POST, "/mcp/servers", with(rest_headers(), "content-type", "text/plain"), json!({"server_id": "x", "url": "http://127.0.0.1:1/mcp"}).to_string(), S::UNSUPPORTED_MEDIA_TYPE),
        rest("REST: no key", Method::POST, "/mcp/servers", without(rest_headers(), "authorization"), json!({"server_id": "x", "url": "http://127.0.0.1:1/mcp"}).to_string(), S::UNAUTHORIZED),
        rest("REST: oversized body", Method::POST, "/mcp/servers", rest_headers(), json!({"server_id": "x", "url": "http://127.0.0.1:1/mcp", "metadata": {"pad": "p".repeat(MAX_BODY + 1)}}).to_string(), S::PAYLOAD_TOO_LARGE),
        rest("REST: path traversal in server_id", Method::POST, "/mcp/servers", rest_headers(), json!({"server_id": "../etc", "url": "http://127.0.0.1:1/mcp"}).to_string(), S::UNPROCESSABLE_ENTITY),
        rest("REST: javascript: URL", Method::POST, "/mcp/servers", rest_headers(), json!({"server_id": "js", "url": "javascript:alert(1)"}).to_string(), S::UNPROCESSABLE_ENTITY),
        rest("REST: unknown transport", Method::POST, "/mcp/servers", rest_headers(), json!({"server_id": "t", "url": "http://127.0.0.1:1/mcp", "transport": "carrier-pigeon"}).to_string(), S::UNPROCESSABLE_ENTITY),
        rest("REST: wrong field type", Method::POST, "/mcp/servers", rest_headers(), json!({"server_id": 12, "url": "http://127.0.0.1:1/mcp"}).to_string(), S::UNPROCESSABLE_ENTITY),
        rest("REST: 10,000-deep metadata", Method::POST, "/mcp/servers", rest_headers(), format!(r#"{{"server_id":"d","url":"http://127.0.0.1:1/mcp","metadata":{{"x":{}}}}}"#, nested(10_000)), S::BAD_REQUEST),
        rest("REST: tools/call with arguments not an object", Method::POST, "/mcp/tools/call", rest_headers(), json!({"name": "fx__echo", "arguments": [1]}).to_string(), S::UNPROCESSABLE_ENTITY),
        rest("REST: unknown server", Method::GET, "/mcp/servers/%00nope", rest_headers(), "", S::NOT_FOUND),
    ]
}

#[tokio::test]
async fn every_hostile_request_gets_a_clear_answer_and_nothing_breaks() {
    let settings = Settings {
        master_key: Some(mcp_gateway::secret::Secret::new(KEY)),
        max_body_bytes: MAX_BODY,
        ..Settings::default()
    };
    let (_fixture, running) = with_fixture_in(settings, "fx", FixtureOptions::default()).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    // A live session and a live legacy SSE session for the cases that need one.
    let session = open_session(&http, &base).await;
    let (sse_session, _sse_stream) = open_sse(&http, &base).await;

    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let path = case.path.replace("{sse}", &sse_session);
        let mut request = http
            .request(case.method.clone(), format!("{base}{path}"))
            .body(case.body.clone());
        for (name, value) in &case.headers {
            request = request.header(*name, value.replace("{session}", &session));
        }
        let answer = tokio::time::timeout(Duration::from_secs(10), request.send()).await;
        let status = match answer {
            Ok(Ok(response)) => response.status(),
            Ok(Err(e)) => {
                failures.push(format!("{}: no answer: {e}", case.name));
                continue;
            }
            Err(_) => {
                failures.push(format!("{}: no answer within 10 s", case.name));
                continue;
            }
        };
        if status != case.expect {
            failures.push(format!(
                "{}: got {status}, expected {}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Still serving, on the same session.
    let ok = http
        .post(format!("{base}/mcp"))
        .headers(header_map(&session_headers(), &session))
        .body(call_body(json!(99), json!({"message": "still here"})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("still here"));
    running.shutdown().await.unwrap();
}

fn header_map(headers: &[(&'static str, String)], session: &str) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.replace("{session}", session).parse().unwrap());
    }
    map
}

async fn open_session(http: &reqwest::Client, base: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "hostile", "version": "1"}}});
    let headers = without(session_headers(), "mcp-session-id");
    let response = http
        .post(format!("{base}/mcp"))
        .headers(header_map(&headers, ""))
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let accepted = http
        .post(format!("{base}/mcp"))
        .headers(header_map(&session_headers(), &session))
        .body(initialized.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    session
}

/// Opens a legacy SSE session; returns its id and the open stream (kept alive).
async fn open_sse(http: &reqwest::Client, base: &str) -> (String, reqwest::Response) {
    let mut stream = http
        .get(format!("{base}/sse"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains("sessionId=") || !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the endpoint event")
            .unwrap()
            .expect("more of the stream");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let id = text
        .split("sessionId=")
        .nth(1)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == '&')
        .next()
        .unwrap()
        .to_owned();
    (id, stream)
}

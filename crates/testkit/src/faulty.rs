//! A streamable HTTP MCP server that misbehaves on purpose, one fault per tool, for the
//! gateway's fault tests. It speaks just enough MCP to be registered (`initialize`,
//! `tools/list`, `ping`; `server/discover` is refused so clients fall back to
//! `initialize`), then answers `tools/call` according to the tool:
//!
//! | tool | answer |
//! |---|---|
//! | `ok` | a normal text result |
//! | `invalid_json` | `200 application/json` with a body that is not JSON |
//! | `wrong_id` | a result for another request id |
//! | `html_error` | `502` with an HTML page |
//! | `status_500` | `500` with a JSON error body |
//! | `close_mid_stream` | an event stream that ends before the answer |
//! | `never` | an event stream that never answers (until the client gives up) |

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The tools, in the order `tools/list` gives them.
pub const FAULTY_TOOLS: [&str; 7] = [
    "ok",
    "invalid_json",
    "wrong_id",
    "html_error",
    "status_500",
    "close_mid_stream",
    "never",
];

/// A running faulty server; stops when dropped.
pub struct FaultyHandle {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl FaultyHandle {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for FaultyHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts the faulty server on a free loopback port.
pub async fn spawn_faulty() -> FaultyHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let stop = CancellationToken::new();
    let app = Router::new().route("/mcp", post(answer));
    let until = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await;
    });
    FaultyHandle { addr, stop }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn result(id: &Value, result: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

async fn answer(headers: HeaderMap, body: Bytes) -> Response {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let method = message["method"].as_str().unwrap_or_default();
    if id.is_null() {
        return StatusCode::ACCEPTED.into_response(); // notifications
    }
    match method {
        "initialize" => {
            let mut response = result(
                &id,
                json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                    "serverInfo": {"name": "faulty", "version": "1"}}),
            );
            let session = headers
                .get("mcp-session-id")
                .cloned()
                .unwrap_or_else(|| "faulty-session".parse().expect("valid header"));
            response.headers_mut().insert("mcp-session-id", session);
            response
        }
        "tools/list" => {
            let tools: Vec<Value> = FAULTY_TOOLS
                .iter()
                .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
                .collect();
            result(&id, json!({"tools": tools}))
        }
        "ping" => result(&id, json!({})),
        "tools/call" => call(&id, message["params"]["name"].as_str().unwrap_or_default()),
        _ => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("no method {method}")}}),
        ),
    }
}

fn call(id: &Value, tool: &str) -> Response {
    let event_stream =
        |body: Body| (StatusCode::OK, [(CONTENT_TYPE, "text/event-stream")], body).into_response();
    match tool {
        "ok" => result(id, json!({"content": [{"type": "text", "text": "fine"}]})),
        "invalid_json" => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            "{\"jsonrpc\": \"2.0\", \"id\"",
        )
            .into_response(),
        "wrong_id" => result(&json!("someone-else"), json!({"content": []})),
        "html_error" => (
            StatusCode::BAD_GATEWAY,
            [(CONTENT_TYPE, "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        "status_500" => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal failure"}),
        ),
        "close_mid_stream" => event_stream(Body::from(": started\n\ndata: {\"jsonrpc\":\"2.0\",")),
        "never" => {
            let stream = futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(": waiting\n\n")),
                    (),
                ))
            });
            event_stream(Body::from_stream(stream))
        }
        other => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32602, "message": format!("unknown tool {other}")}}),
        ),
    }
}

//! Raw MCP over streamable HTTP: the JSON-RPC bodies and headers the load generator sends,
//! and the parsing of the answer, which is either one JSON body or an SSE stream whose
//! `data:` lines carry JSON-RPC messages (priming events, notifications, then the response).

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// The protocol version a session-based client negotiates with `initialize`.
pub const SESSION_VERSION: &str = "2025-11-25";
/// The stateless revision: no `initialize`, per-request `_meta` and headers.
pub const STATELESS_VERSION: &str = "2026-07-28";

pub const HEADER_SESSION_ID: &str = "mcp-session-id";
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
pub const HEADER_METHOD: &str = "mcp-method";
pub const HEADER_NAME: &str = "mcp-name";
/// Every POST accepts both answer shapes, as the transport requires.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// Which protocol era a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `initialize` once, then requests carrying `Mcp-Session-Id` (2025-11-25).
    Session,
    /// 2026-07-28: no handshake; each request carries the protocol version, client info
    /// and capabilities in `_meta`, and `MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name`.
    Stateless,
}

impl Era {
    pub fn label(self) -> &'static str {
        match self {
            Era::Session => "session",
            Era::Stateless => "2026-07-28",
        }
    }

    pub fn protocol_version(self) -> &'static str {
        match self {
            Era::Session => SESSION_VERSION,
            Era::Stateless => STATELESS_VERSION,
        }
    }
}

fn client_info() -> Value {
    json!({"name": "mcp-bench", "version": env!("CARGO_PKG_VERSION")})
}

/// The `_meta` a 2026-07-28 request must carry.
pub fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientInfo": client_info(),
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// `initialize` (session era).
pub fn initialize_body(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": {},
            "clientInfo": client_info(),
        },
    })
    .to_string()
}

/// `notifications/initialized` (session era).
pub fn initialized_body() -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()
}

fn request_body(era: Era, id: u64, method: &str, mut params: Value) -> String {
    if era == Era::Stateless
        && let Some(params) = params.as_object_mut()
    {
        params.insert("_meta".into(), stateless_meta());
    }
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// `tools/call` of `tool` with `{"message": message}`.
pub fn call_body(era: Era, id: u64, tool: &str, message: &str) -> String {
    request_body(
        era,
        id,
        "tools/call",
        json!({"name": tool, "arguments": {"message": message}}),
    )
}

/// `tools/list`, from `cursor` if given.
pub fn list_tools_body(era: Era, id: u64, cursor: Option<&str>) -> String {
    let params = match cursor {
        Some(cursor) => json!({"cursor": cursor}),
        None => json!({}),
    };
    request_body(era, id, "tools/list", params)
}

/// The headers (besides `Content-Type`, `Accept` and the session id) a request of `era`
/// carries: the negotiated version, and for 2026-07-28 the SEP-2243 routing headers.
pub fn request_headers(era: Era, method: &str, name: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![(HEADER_PROTOCOL_VERSION, era.protocol_version().to_owned())];
    if era == Era::Stateless {
        headers.push((HEADER_METHOD, method.to_owned()));
        if let Some(name) = name {
            headers.push((HEADER_NAME, name.to_owned()));
        }
    }
    headers
}

/// Finds the JSON-RPC response to request `id` in an answer body: a JSON body (one
/// message, or a batch) or an SSE stream. Returns the response's `result`; a JSON-RPC
/// error becomes an `Err` with its code and message.
pub fn find_response(content_type: Option<&str>, body: &[u8], id: u64) -> anyhow::Result<Value> {
    let is_sse = match content_type {
        Some(ct) => ct
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream")),
        None => !matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')),
    };
    if is_sse {
        let text = std::str::from_utf8(body).context("SSE body is not UTF-8")?;
        for data in sse_data(text) {
            if data.trim().is_empty() {
                continue; // a priming event
            }
            let message: Value = serde_json::from_str(&data)
                .with_context(|| format!("SSE data is not JSON: {}", excerpt(&data)))?;
            if let Some(found) = response_for(message, id) {
                return found;
            }
        }
        bail!(
            "no response with id {id} in the SSE stream: {}",
            excerpt(text)
        );
    }
    let message: Value = serde_json::from_slice(body).with_context(|| {
        format!(
            "body is not JSON: {}",
            excerpt(&String::from_utf8_lossy(body))
        )
    })?;
    let candidates = match message {
        Value::Array(batch) => batch,
        single => vec![single],
    };
    for message in candidates {
        if let Some(found) = response_for(message, id) {
            return found;
        }
    }
    bail!(
        "no response with id {id} in the JSON body: {}",
        excerpt(&String::from_utf8_lossy(body))
    )
}

/// `Some` when `message` answers `id`: its `result`, or its `error` as an `Err`.
fn response_for(mut message: Value, id: u64) -> Option<anyhow::Result<Value>> {
    if message.get("id").and_then(Value::as_u64) != Some(id) || message.get("method").is_some() {
        return None; // a notification or a server-to-client request
    }
    if let Some(error) = message.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let text = error.get("message").and_then(Value::as_str).unwrap_or("");
        return Some(Err(anyhow!("JSON-RPC error {code}: {text}")));
    }
    Some(
        message
            .get_mut("result")
            .map(Value::take)
            .ok_or_else(|| anyhow!("response {id} has neither result nor error")),
    )
}

/// The data of each SSE event (its `data:` lines joined by newlines), in order. Comments
/// (`:` lines), `id:`, `event:` and `retry:` fields are skipped; `\r\n` is accepted.
pub fn sse_data(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if let Some(data) = current.take() {
                events.push(data);
            }
            continue;
        }
        let Some(value) = line.strip_prefix("data") else {
            continue;
        };
        let value = match value.strip_prefix(':') {
            Some(v) => v.strip_prefix(' ').unwrap_or(v),
            None if value.is_empty() => "",
            None => continue, // a field named e.g. `database`, not `data`
        };
        match &mut current {
            Some(data) => {
                data.push('\n');
                data.push_str(value);
            }
            None => current = Some(value.to_owned()),
        }
    }
    if let Some(data) = current {
        events.push(data);
    }
    events
}

/// Checks a `tools/call` result: not an error, and its first content block is the text
/// `expected`.
pub fn check_echo(result: &Value, expected: &str) -> anyhow::Result<()> {
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        bail!("tool error: {}", excerpt(&result.to_string()));
    }
    let text = result
        .pointer("/content/0/text")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("no text content in {}", excerpt(&result.to_string())))?;
    if text != expected {
        bail!("echoed {text:?}, expected {expected:?}");
    }
    Ok(())
}

/// A `tools/list` result: how many tools, and the next cursor.
pub fn tools_page(result: &Value) -> anyhow::Result<(usize, Option<String>)> {
    let tools = result
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("tools/list result without tools"))?;
    let next = result
        .get("nextCursor")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((tools.len(), next))
}

pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE_WITH_PRIMING: &str = "data: \nid: 0/0\nretry: 3000\n\n\
        data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}}\n\
        id: 7/0\n\n";

    #[test]
    fn sse_answer_after_priming_event_and_notification() {
        let body = format!(
            ": keep-alive\r\n\r\n\
             event: message\r\n\
             data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progressToken\":1,\"progress\":1}}}}\r\n\r\n\
             {SSE_WITH_PRIMING}"
        );
        let result = find_response(Some("text/event-stream"), body.as_bytes(), 7).unwrap();
        check_echo(&result, "hi").unwrap();
        assert!(check_echo(&result, "ho").is_err());
    }

    #[test]
    fn sse_data_joins_multiline_events_and_skips_other_fields() {
        let events = sse_data("id: 1\ndata: {\"a\":\ndata:1}\nevent: message\n\ndata\n\n:c\n");
        assert_eq!(events, vec!["{\"a\":\n1}".to_owned(), String::new()]);
    }

    #[test]
    fn json_answer_single_and_batch() {
        let single =
            br#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"x"}]}}"#;
        let result = find_response(Some("application/json"), single, 3).unwrap();
        check_echo(&result, "x").unwrap();
        let batch = br#"[{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"result":{"tools":[{},{}],"nextCursor":"c"}}]"#;
        let result = find_response(None, batch, 3).unwrap();
        assert_eq!(tools_page(&result).unwrap(), (2, Some("c".to_owned())));
    }

    #[test]
    fn errors_and_missing_answers_are_reported() {
        let error =
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unknown tool: x"}}"#;
        let e = find_response(Some("application/json"), error, 1).unwrap_err();
        assert!(e.to_string().contains("-32602"), "{e}");
        let e =
            find_response(Some("text/event-stream"), SSE_WITH_PRIMING.as_bytes(), 8).unwrap_err();
        assert!(e.to_string().contains("no response with id 8"), "{e}");
        let tool_error =
            serde_json::json!({"content": [{"type": "text", "text": "boom"}], "isError": true});
        assert!(check_echo(&tool_error, "boom").is_err());
        assert!(find_response(Some("application/json"), b"not json", 1).is_err());
    }

    #[test]
    fn stateless_requests_carry_meta_and_headers() {
        let body: Value = serde_json::from_str(&call_body(Era::Stateless, 5, "echo", "m")).unwrap();
        let meta = &body["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            STATELESS_VERSION
        );
        assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
        assert!(meta["io.modelcontextprotocol/clientInfo"]["name"].is_string());
        let headers = request_headers(Era::Stateless, "tools/call", Some("echo"));
        assert!(headers.contains(&(HEADER_METHOD, "tools/call".to_owned())));
        assert!(headers.contains(&(HEADER_NAME, "echo".to_owned())));
        let session: Value =
            serde_json::from_str(&call_body(Era::Session, 5, "echo", "m")).unwrap();
        assert!(session["params"].get("_meta").is_none());
        assert_eq!(
            request_headers(Era::Session, "tools/call", Some("echo")).len(),
            1
        );
    }
}

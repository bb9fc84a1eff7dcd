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

/// The capabilities IDE clients declare in `initialize`: they can be asked for their
/// roots (and say when those change), to sample and to elicit.
pub fn ide_capabilities() -> Value {
    json!({"roots": {"listChanged": true}, "sampling": {}, "elicitation": {}})
}

/// `initialize` (session era) declaring `capabilities` (`{}` for a plain client).
pub fn initialize_body(id: u64, capabilities: &Value) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": SESSION_VERSION,
            "capabilities": capabilities,
            "clientInfo": client_info(),
        },
    })
    .to_string()
}

/// `logging/setLevel` (session era).
pub fn set_level_body(id: u64, level: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "logging/setLevel", "params": {"level": level}})
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

/// `tools/call` of the echo tool with `{"message": message, "ask": "roots"}`: the echo
/// upstream asks the client for its roots before it answers (see `echo.rs`).
pub fn call_asking_roots_body(era: Era, id: u64, tool: &str, message: &str) -> String {
    request_body(
        era,
        id,
        "tools/call",
        json!({"name": tool, "arguments": {"message": message, "ask": "roots"}}),
    )
}

/// `resources/read` of `uri`.
pub fn read_body(era: Era, id: u64, uri: &str) -> String {
    request_body(era, id, "resources/read", json!({"uri": uri}))
}

/// `prompts/get` of `prompt` with `{"name": who}`.
pub fn prompt_body(era: Era, id: u64, prompt: &str, who: &str) -> String {
    request_body(
        era,
        id,
        "prompts/get",
        json!({"name": prompt, "arguments": {"name": who}}),
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
        Some(ct) => is_event_stream(ct),
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

/// Whether a `Content-Type` is `text/event-stream` (parameters aside).
pub fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
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

/// Checks a `resources/read` result: exactly one text content, of `uri`, reading `expected`.
pub fn check_read(result: &Value, uri: &str, expected: &str) -> anyhow::Result<()> {
    let contents = result
        .get("contents")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no contents in {}", excerpt(&result.to_string())))?;
    let [content] = contents.as_slice() else {
        bail!(
            "{} contents, expected 1: {}",
            contents.len(),
            excerpt(&result.to_string())
        );
    };
    let (got_uri, text) = (
        content.get("uri").and_then(Value::as_str),
        content.get("text").and_then(Value::as_str),
    );
    if got_uri != Some(uri) || text != Some(expected) {
        bail!("read {got_uri:?}: {text:?}, expected {uri:?}: {expected:?}");
    }
    Ok(())
}

/// Checks a `prompts/get` result: exactly one message, from the user, whose text is
/// `expected`.
pub fn check_prompt(result: &Value, expected: &str) -> anyhow::Result<()> {
    let messages = result
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no messages in {}", excerpt(&result.to_string())))?;
    let [message] = messages.as_slice() else {
        bail!(
            "{} messages, expected 1: {}",
            messages.len(),
            excerpt(&result.to_string())
        );
    };
    let role = message.get("role").and_then(Value::as_str);
    let text = message.pointer("/content/text").and_then(Value::as_str);
    if role != Some("user") || text != Some(expected) {
        bail!("prompt message {role:?}: {text:?}, expected \"user\": {expected:?}");
    }
    Ok(())
}

/// A server-initiated request found on a response stream: what the client sends back (a
/// JSON-RPC response, as a body to POST). `None` if `message` is no request.
///
/// Answers are those of a client with the capabilities of [`ide_capabilities`] that has
/// nothing to share: no roots, `ping` answered, elicitations declined, sampling refused.
pub fn client_reply(message: &Value) -> Option<(String, String)> {
    let method = message.get("method").and_then(Value::as_str)?;
    let id = message.get("id").filter(|id| !id.is_null())?;
    let outcome = match method {
        "roots/list" => Ok(json!({"roots": []})),
        "ping" => Ok(json!({})),
        "elicitation/create" => Ok(json!({"action": "decline"})),
        "sampling/createMessage" => Err((-1, "mcp-bench does not sample")),
        _ => Err((-32601, "method not found")),
    };
    let reply = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, text)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": text}})
        }
    };
    Some((method.to_owned(), reply.to_string()))
}

/// What one SSE event or JSON message of an answer is, to a client reading it as it comes.
#[derive(Debug)]
pub enum Incoming {
    /// The response to the request (its `result`, or its error).
    Response(anyhow::Result<Value>),
    /// A request of the server's: the method, and the body of the client's reply.
    Request { method: String, reply: String },
    /// A notification, a priming event, or a message for another request.
    Other,
}

/// Classifies one JSON-RPC message (the data of one SSE event) for request `id`.
pub fn classify(data: &str, id: u64) -> anyhow::Result<Incoming> {
    if data.trim().is_empty() {
        return Ok(Incoming::Other); // a priming event
    }
    let message: Value = serde_json::from_str(data)
        .with_context(|| format!("SSE data is not JSON: {}", excerpt(data)))?;
    if let Some((method, reply)) = client_reply(&message) {
        return Ok(Incoming::Request { method, reply });
    }
    Ok(match response_for(message, id) {
        Some(found) => Incoming::Response(found),
        None => Incoming::Other,
    })
}

/// Splits an SSE stream that arrives in pieces into the data of its events, each as soon
/// as the blank line that ends it has arrived.
#[derive(Debug, Default)]
pub struct SseSplitter {
    buffer: Vec<u8>,
    /// Where to look for the next line end.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
}

impl SseSplitter {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The data of the next complete event, if one has arrived (events without `data`
    /// lines, e.g. comments alone, are skipped).
    pub fn next_event(&mut self) -> anyhow::Result<Option<String>> {
        while let Some(offset) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let end = self.scanned + offset;
            let line = &self.buffer[self.line_start..end];
            let blank = line.is_empty() || line == b"\r";
            self.scanned = end + 1;
            self.line_start = end + 1;
            if blank {
                let block: Vec<u8> = self.buffer.drain(..end + 1).collect();
                self.scanned = 0;
                self.line_start = 0;
                let text = std::str::from_utf8(&block).context("SSE event is not UTF-8")?;
                if let Some(data) = sse_data(text).into_iter().next() {
                    return Ok(Some(data));
                }
            }
        }
        Ok(None)
    }

    /// The data of a last event not ended by a blank line, at the end of the stream.
    pub fn finish(&mut self) -> anyhow::Result<Option<String>> {
        let block = std::mem::take(&mut self.buffer);
        self.scanned = 0;
        self.line_start = 0;
        let text = std::str::from_utf8(&block).context("SSE event is not UTF-8")?;
        Ok(sse_data(text).into_iter().next())
    }
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
    fn sse_splitter_gives_each_event_when_its_blank_line_arrives() {
        let stream = format!(
            ": comment\r\n\r\n\
             data: {{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"roots/list\"}}\r\n\r\n\
             {SSE_WITH_PRIMING}"
        );
        // Fed one byte at a time, then all at once: the same events.
        let mut events = SseSplitter::default();
        let mut one_by_one = Vec::new();
        for byte in stream.as_bytes() {
            events.push(std::slice::from_ref(byte));
            while let Some(data) = events.next_event().unwrap() {
                one_by_one.push(data);
            }
        }
        assert_eq!(events.finish().unwrap(), None);
        let mut whole = SseSplitter::default();
        whole.push(stream.as_bytes());
        let mut at_once = Vec::new();
        while let Some(data) = whole.next_event().unwrap() {
            at_once.push(data);
        }
        assert_eq!(one_by_one, at_once);
        assert_eq!(one_by_one.len(), 3, "{one_by_one:?}");
        assert!(matches!(
            classify(&one_by_one[0], 7).unwrap(),
            Incoming::Request { ref method, .. } if method == "roots/list"
        ));
        assert!(matches!(
            classify(&one_by_one[1], 7).unwrap(),
            Incoming::Other
        ));
        match classify(&one_by_one[2], 7).unwrap() {
            Incoming::Response(result) => check_echo(&result.unwrap(), "hi").unwrap(),
            other => panic!("not the response: {other:?}"),
        }
        // A last event without its blank line is found at the end of the stream.
        let mut unterminated = SseSplitter::default();
        unterminated.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
        assert_eq!(unterminated.next_event().unwrap(), None);
        assert!(unterminated.finish().unwrap().is_some());
    }

    #[test]
    fn server_requests_get_the_replies_of_a_client_with_nothing_to_share() {
        let reply = |request: Value| -> Value {
            let (_, body) = client_reply(&request).expect("a request");
            serde_json::from_str(&body).unwrap()
        };
        let roots = reply(json!({"jsonrpc": "2.0", "id": "r1", "method": "roots/list"}));
        assert_eq!(
            roots,
            json!({"jsonrpc": "2.0", "id": "r1", "result": {"roots": []}})
        );
        let ping = reply(json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}));
        assert_eq!(ping["result"], json!({}));
        let elicit =
            reply(json!({"jsonrpc": "2.0", "id": 5, "method": "elicitation/create", "params": {}}));
        assert_eq!(elicit["result"]["action"], "decline");
        let sampling = reply(
            json!({"jsonrpc": "2.0", "id": 6, "method": "sampling/createMessage", "params": {}}),
        );
        assert!(sampling["error"]["code"].is_i64());
        let unknown = reply(json!({"jsonrpc": "2.0", "id": 7, "method": "x/y"}));
        assert_eq!(unknown["error"]["code"], -32601);
        // Notifications and responses are not requests.
        assert!(
            client_reply(&json!({"jsonrpc": "2.0", "method": "notifications/message"})).is_none()
        );
        assert!(client_reply(&json!({"jsonrpc": "2.0", "id": 1, "result": {}})).is_none());
    }

    #[test]
    fn read_and_prompt_answers_are_checked() {
        let read =
            json!({"contents": [{"uri": "bench://x", "mimeType": "text/plain", "text": "t"}]});
        check_read(&read, "bench://x", "t").unwrap();
        assert!(check_read(&read, "bench://x", "other").is_err());
        assert!(check_read(&read, "bench://y", "t").is_err());
        assert!(check_read(&json!({"contents": []}), "bench://x", "t").is_err());
        let prompt = json!({"messages": [{"role": "user", "content": {"type": "text", "text": "Hello, a!"}}]});
        check_prompt(&prompt, "Hello, a!").unwrap();
        assert!(check_prompt(&prompt, "Hello, b!").is_err());
        let assistant = json!({"messages": [{"role": "assistant", "content": {"type": "text", "text": "Hello, a!"}}]});
        assert!(check_prompt(&assistant, "Hello, a!").is_err());
        let body: Value = serde_json::from_str(&initialize_body(1, &ide_capabilities())).unwrap();
        assert_eq!(body["params"]["capabilities"]["roots"]["listChanged"], true);
        assert!(body["params"]["capabilities"]["sampling"].is_object());
        assert!(body["params"]["capabilities"]["elicitation"].is_object());
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

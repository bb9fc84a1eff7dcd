//! A raw streamable HTTP MCP client, for tests that must see exactly what the gateway
//! answers (JSON or an event stream, statuses, headers).

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// A raw streamable HTTP client of the gateway.
pub struct RawClient {
    pub http: reqwest::Client,
    pub url: String,
    /// `None` for a 2026-07-28 client.
    pub session: Option<String>,
    capabilities: Value,
    /// Sent as `Origin` when set.
    origin: Option<String>,
}

/// What one POST got back.
pub struct Answer {
    pub status: reqwest::StatusCode,
    /// The lane answers plain calls with JSON; rmcp always with an event stream.
    pub json: bool,
    pub messages: Vec<Value>,
}

impl Answer {
    pub fn last(&self) -> &Value {
        self.messages.last().expect("an answer")
    }

    /// The upstream session a fixture `whoami` call ran on (the fixture answers with the
    /// request's headers).
    pub fn upstream_session(&self) -> String {
        let text = self.last()["result"]["content"][0]["text"]
            .as_str()
            .unwrap();
        let headers: Value = serde_json::from_str(text).unwrap();
        headers["mcp-session-id"].as_str().unwrap().to_owned()
    }
}

impl RawClient {
    pub async fn session(url: &str, capabilities: Value) -> Self {
        let mut client = Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session: None,
            capabilities,
            origin: None,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": client.capabilities,
            "clientInfo": {"name": "raw", "version": "1"}}});
        let response = client.send(&init, None).await;
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        client.session = Some(id);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(client.send(&initialized, None).await.status(), 202);
        client
    }

    pub fn stateless(url: &str, capabilities: Value) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            session: None,
            capabilities,
            origin: None,
        }
    }

    pub async fn send(&self, body: &Value, tool: Option<&str>) -> reqwest::Response {
        self.send_as(body, "tools/call", tool).await
    }

    /// POSTs a message; a stateless client names `method` (and `name`) in headers.
    pub async fn send_as(
        &self,
        body: &Value,
        method: &str,
        name: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        match (&self.session, name) {
            (Some(session), _) => {
                request = request
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25");
            }
            (None, name) if name.is_some() || method != "tools/call" => {
                request = request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", method);
                if let Some(name) = name {
                    request = request.header("mcp-name", name);
                }
            }
            (None, _) => {}
        }
        request.send().await.expect("the gateway answers")
    }

    /// `_meta` with the protocol keys a stateless client must send, plus `extra`.
    fn meta(&self, extra: Value) -> serde_json::Map<String, Value> {
        let mut meta = extra.as_object().cloned().unwrap_or_default();
        if self.session.is_none() {
            meta.insert(
                "io.modelcontextprotocol/protocolVersion".into(),
                json!("2026-07-28"),
            );
            meta.insert(
                "io.modelcontextprotocol/clientCapabilities".into(),
                self.capabilities.clone(),
            );
        }
        meta
    }

    /// Calls a tool, with extra `_meta` keys.
    pub async fn call(&self, id: Value, tool: &str, arguments: Value, meta: Value) -> Answer {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": self.meta(meta)}});
        Answer::of(self.send_as(&body, "tools/call", Some(tool)).await).await
    }

    /// Gets a prompt.
    pub async fn get_prompt(&self, id: Value, name: &str, arguments: Value) -> Answer {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "prompts/get",
            "params": {"name": name, "arguments": arguments, "_meta": self.meta(json!({}))}});
        Answer::of(self.send_as(&body, "prompts/get", Some(name)).await).await
    }

    /// Reads a resource.
    pub async fn read_resource(&self, id: Value, uri: &str) -> Answer {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "resources/read",
            "params": {"uri": uri, "_meta": self.meta(json!({}))}});
        Answer::of(self.send_as(&body, "resources/read", Some(uri)).await).await
    }

    /// One `tools/list` page.
    pub async fn list_tools(&self, id: Value, cursor: Option<&str>) -> Answer {
        let mut params = json!({"_meta": self.meta(json!({}))});
        if let Some(cursor) = cursor {
            params["cursor"] = json!(cursor);
        }
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
        Answer::of(self.send_as(&body, "tools/list", None).await).await
    }

    /// Every request from now on carries this `Origin` (which keeps it off the direct lane).
    pub fn with_origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_owned());
        self
    }

    /// The same client (and session) talking to another gateway at `url`.
    pub fn at(&self, url: &str) -> Self {
        Self {
            http: self.http.clone(),
            url: url.to_owned(),
            session: self.session.clone(),
            capabilities: self.capabilities.clone(),
            origin: self.origin.clone(),
        }
    }

    /// The same client (and session), its requests carrying an allowed `Origin`: the
    /// direct lane leaves them to rmcp's relay.
    pub fn relayed(&self) -> Self {
        Self {
            http: self.http.clone(),
            url: self.url.clone(),
            session: self.session.clone(),
            capabilities: self.capabilities.clone(),
            origin: Some("http://localhost:1".to_owned()),
        }
    }
}

impl Answer {
    pub async fn of(response: reqwest::Response) -> Self {
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        let json = content_type.starts_with("application/json");
        let messages = if json {
            vec![serde_json::from_str(&text).unwrap()]
        } else {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter(|d| !d.trim().is_empty())
                .map(|d| serde_json::from_str(d.trim()).unwrap())
                .collect()
        };
        Answer {
            status,
            json,
            messages,
        }
    }
}

/// The plain client and one whose requests rmcp's relay answers on the same upstream
/// session, in one era: a 2026-07-28 client that can be asked things (the lane leaves its
/// requests to rmcp), or a plain session-era client whose requests carry an `Origin`.
pub async fn pair(url: &str, stateless: bool) -> (RawClient, RawClient) {
    if stateless {
        (
            RawClient::stateless(url, json!({})),
            RawClient::stateless(url, json!({"sampling": {}})),
        )
    } else {
        (
            RawClient::session(url, json!({})).await,
            RawClient::session(url, json!({})).await.relayed(),
        )
    }
}

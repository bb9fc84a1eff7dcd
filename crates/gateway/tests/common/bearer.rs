//! An MCP client over streamable HTTP that presents a bearer token (an API key, a JWT),
//! in either era, for the access-control tests.

use serde_json::{Value, json};

use super::raw::Answer;

const ACCEPT: &str = "application/json, text/event-stream";

/// An MCP client over streamable HTTP with a bearer key (none if empty), in either era.
pub struct Mcp {
    http: reqwest::Client,
    pub url: String,
    pub key: String,
    /// `None`: a 2026-07-28 (stateless) client.
    pub session: Option<String>,
}

impl Mcp {
    pub fn new(http: &reqwest::Client, url: &str, key: &str) -> Self {
        Self {
            http: http.clone(),
            url: url.to_owned(),
            key: key.to_owned(),
            session: None,
        }
    }

    pub async fn open(mut self) -> Self {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "keys", "version": "1"}}});
        let response = self.post(&init, "initialize", None).await;
        assert_eq!(response.status(), 200);
        self.session = Some(
            response.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(self.post(&initialized, "", None).await.status(), 202);
        self
    }

    pub async fn post(&self, body: &Value, method: &str, name: Option<&str>) -> reqwest::Response {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", ACCEPT)
            .json(body);
        if !self.key.is_empty() {
            request = request.bearer_auth(&self.key);
        }
        match &self.session {
            Some(session) => {
                request = request
                    .header("mcp-session-id", session)
                    .header("mcp-protocol-version", "2025-11-25");
            }
            // A session-era `initialize` carries no protocol headers.
            None if method == "initialize" => {}
            None => {
                request = request
                    .header("mcp-protocol-version", "2026-07-28")
                    .header("mcp-method", method);
                if let Some(name) = name {
                    request = request.header("mcp-name", name);
                }
            }
        }
        request.send().await.unwrap()
    }

    pub async fn request(&self, method: &str, params: Value, name: Option<&str>) -> (u16, Value) {
        let mut params = params;
        if self.session.is_none() {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        let answer = Answer::of(self.post(&body, method, name).await).await;
        let status = answer.status.as_u16();
        (
            status,
            answer.messages.last().cloned().unwrap_or(Value::Null),
        )
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let (status, answer) = self.request("tools/list", json!({}), None).await;
        assert_eq!(status, 200, "{answer}");
        names(&answer["result"]["tools"])
    }

    pub async fn call(&self, tool: &str) -> Value {
        let params = json!({"name": tool, "arguments": {"message": "hi"}});
        self.request("tools/call", params, Some(tool)).await.1
    }
}

pub fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The JSON-RPC error of an answer with the name it is about replaced, so that the
/// answers for two names can be compared.
pub fn error_shape(answer: &Value, name: &str) -> Value {
    let error = answer
        .get("error")
        .unwrap_or_else(|| panic!("an error: {answer}"));
    let text = error.to_string().replace(name, "<NAME>");
    serde_json::from_str(&text).unwrap()
}

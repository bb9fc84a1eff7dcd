//! Direct lanes: `tools/call`, `prompts/get` and `resources/read` to an upstream as raw
//! JSON, beside its rmcp client session.
//!
//! The server's rmcp session carries everything that needs it — discovery, `list_changed`,
//! the upstream's own requests (sampling, elicitation, roots). Most requests need none of
//! that, and for them rmcp's per-request machinery (on both sides of the gateway) costs
//! several times what the upstream spends on them. A lane writes the request as JSON
//! with only its id, tool or prompt name and progress token changed, and hands the
//! answer's `result` or `error` back untouched:
//! * [`HttpLane`]: a second, capability-less session with a streamable HTTP upstream;
//! * [`StdioLane`]: requests interleaved on the stdio server's own pipes, their answers
//!   picked out of its output before rmcp sees it.

mod http;
mod pool;
pub(crate) mod wire;

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::sync::mpsc;

pub use self::http::{Asks, HttpLane};
use super::UpstreamError;
pub use super::stdio::StdioLane;
use crate::protocol::meta::PROGRESS_TOKEN;

/// Why a call did not complete on a lane.
#[derive(Debug)]
pub enum LaneError {
    /// Nothing was sent: the call may take the rmcp session instead.
    Unusable,
    /// The call was sent (or may have been) and failed.
    Failed(UpstreamError),
}

/// The JSON-RPC `result` or `error` member of the answer, as sent.
#[derive(Debug)]
pub enum Outcome {
    Result(Box<RawValue>),
    Error(Box<RawValue>),
}

impl Outcome {
    /// The JSON-RPC error code of an error.
    pub fn error_code(&self) -> Option<rmcp::model::ErrorCode> {
        match self {
            Outcome::Error(error) => error_code(error),
            Outcome::Result(_) => None,
        }
    }
}

impl Outcome {
    /// How the answer counts in the metrics: a JSON-RPC error, a tool's `isError`
    /// result (looked for in `tools/call` answers only), or a result.
    pub fn metered_as(&self, tool_call: bool) -> crate::metrics::Outcome {
        #[derive(serde::Deserialize)]
        struct ToolResult {
            #[serde(rename = "isError", default)]
            is_error: Option<bool>,
        }
        match self {
            Outcome::Error(_) => crate::metrics::Outcome::UpstreamError,
            Outcome::Result(result)
                if tool_call
                    && serde_json::from_str::<ToolResult>(result.get())
                        .is_ok_and(|r| r.is_error == Some(true)) =>
            {
                crate::metrics::Outcome::ToolError
            }
            Outcome::Result(_) => crate::metrics::Outcome::Ok,
        }
    }
}

/// The code of a JSON-RPC `error` member.
pub fn error_code(error: &RawValue) -> Option<rmcp::model::ErrorCode> {
    #[derive(serde::Deserialize)]
    struct Code {
        code: rmcp::model::ErrorCode,
    }
    serde_json::from_str::<Code>(error.get())
        .ok()
        .map(|c| c.code)
}

/// Any JSON-RPC message an upstream sends on a lane; members kept raw.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub id: Option<Box<RawValue>>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub params: Option<Box<RawValue>>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<Box<RawValue>>,
}

impl Message {
    /// The answer this message carries, if it is one (exactly one of `result`, `error`).
    pub fn into_outcome(self) -> Option<Outcome> {
        match (self.result, self.error) {
            (Some(result), None) => Some(Outcome::Result(result)),
            (None, Some(error)) => Some(Outcome::Error(error)),
            _ => None,
        }
    }
}

/// A lane to one server.
#[derive(Debug, Clone)]
pub enum Lane {
    Http(Arc<HttpLane>),
    Stdio(Arc<StdioLane>),
}

impl Lane {
    /// Sends a request. Notifications the upstream sends about it (progress, log
    /// messages on an HTTP request's stream) go to `notify` as they come. Dropping the
    /// future before the answer cancels the request upstream.
    pub async fn request(
        self,
        request: LaneRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        match self {
            Lane::Http(lane) => lane.request(request, notify).await,
            Lane::Stdio(lane) => lane.request(request, notify).await,
        }
    }

    /// Whether the upstream speaks the stateless 2026-07-28 revision on this lane (its
    /// results carry `resultType`).
    pub fn stateless(&self) -> bool {
        match self {
            Lane::Http(_) => false,
            Lane::Stdio(lane) => lane.stateless(),
        }
    }
}

/// The methods a lane carries: requests about one named tool, prompt or resource whose
/// params go upstream as the client wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    CallTool,
    GetPrompt,
    ReadResource,
}

impl Method {
    pub fn from_name(method: &str) -> Option<Self> {
        match method {
            "tools/call" => Some(Self::CallTool),
            "prompts/get" => Some(Self::GetPrompt),
            "resources/read" => Some(Self::ReadResource),
            _ => None,
        }
    }

    /// The JSON-RPC method.
    pub fn name(self) -> &'static str {
        match self {
            Self::CallTool => "tools/call",
            Self::GetPrompt => "prompts/get",
            Self::ReadResource => "resources/read",
        }
    }

    /// The params member naming what the request is about (also what a 2026-07-28
    /// request repeats in `Mcp-Name`).
    pub fn target_member(self) -> &'static str {
        match self {
            Self::CallTool | Self::GetPrompt => "name",
            Self::ReadResource => "uri",
        }
    }
}

/// A request to send on a lane.
#[derive(Debug)]
pub struct LaneRequest {
    pub method: Method,
    /// The upstream's name for the tool or prompt, or the resource's URI.
    pub target: Arc<str>,
    /// A JSON object, as the client sent it (tools and prompts).
    pub arguments: Option<Box<RawValue>>,
    /// The client's progress token, as sent.
    pub progress_token: Option<Box<RawValue>>,
    /// The client's other `_meta` members, as `"key":value` pairs joined by commas.
    pub meta: String,
}

impl LaneRequest {
    /// The JSON-RPC request. `id`, `protocol` (members for the `_meta` of a 2026-07-28
    /// request) and `progress_token` are JSON text.
    pub(crate) fn body(
        &self,
        id: &str,
        protocol: Option<&str>,
        progress_token: Option<&str>,
    ) -> Vec<u8> {
        let arguments = self.arguments.as_deref().map(RawValue::get);
        let size = 128 + self.target.len() + arguments.map_or(0, str::len) + self.meta.len();
        let mut body = Vec::with_capacity(size);
        body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(br#","method":""#);
        body.extend_from_slice(self.method.name().as_bytes());
        body.extend_from_slice(br#"","params":{""#);
        body.extend_from_slice(self.method.target_member().as_bytes());
        body.extend_from_slice(br#"":"#);
        serde_json::to_writer(&mut body, &*self.target).expect("a string serialises");
        if let Some(arguments) = arguments {
            body.extend_from_slice(br#","arguments":"#);
            body.extend_from_slice(arguments.as_bytes());
        }
        let token = progress_token.map(|t| format!(r#""{PROGRESS_TOKEN}":{t}"#));
        let members = [protocol, token.as_deref(), Some(self.meta.as_str())];
        let mut first = true;
        for member in members.into_iter().flatten().filter(|m| !m.is_empty()) {
            body.extend_from_slice(if first { br#","_meta":{"# } else { b"," });
            body.extend_from_slice(member.as_bytes());
            first = false;
        }
        if !first {
            body.push(b'}');
        }
        body.extend_from_slice(b"}}");
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_keeps_arguments_uri_and_meta_as_sent() {
        let call = LaneRequest {
            method: Method::CallTool,
            target: "echo\"x".into(),
            arguments: Some(RawValue::from_string(r#"{"message":"hi \"you\""}"#.into()).unwrap()),
            progress_token: None,
            meta: r#""k":1"#.into(),
        };
        let body = |protocol, token| -> serde_json::Value {
            serde_json::from_slice(&call.body("7", protocol, token)).unwrap()
        };
        assert_eq!(
            body(None, None),
            serde_json::json!({"jsonrpc":"2.0","id":7,"method":"tools/call",
                "params":{"name":"echo\"x","arguments":{"message":"hi \"you\""},"_meta":{"k":1}}})
        );
        let with_all = body(Some(r#""p":"v""#), Some(r#""t-1""#));
        assert_eq!(
            with_all["params"]["_meta"],
            serde_json::json!({"p":"v","progressToken":"t-1","k":1})
        );
        let bare = |method, target: &str| LaneRequest {
            method,
            target: target.into(),
            arguments: None,
            progress_token: None,
            meta: String::new(),
        };
        let text = |request: LaneRequest| String::from_utf8(request.body("1", None, None));
        assert_eq!(
            text(bare(Method::CallTool, "a")).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}"#
        );
        assert_eq!(
            text(bare(Method::GetPrompt, "greet")).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}"#
        );
        assert_eq!(
            text(bare(Method::ReadResource, "file:///a \"b\"")).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a \"b\""}}"#
        );
    }
}

//! Direct lanes: `tools/call` to an upstream as raw JSON, beside its rmcp client session.
//!
//! The server's rmcp session carries everything that needs it — discovery, `list_changed`,
//! the upstream's own requests (sampling, elicitation, roots). Most calls need none of
//! that, and for them rmcp's per-request machinery (on both sides of the gateway) costs
//! several times what the upstream spends on the call. A lane writes the call as JSON
//! with only its id, tool name and progress token changed, and hands the answer's
//! `result` or `error` back untouched:
//! * [`HttpLane`]: a second, capability-less session with a streamable HTTP upstream;
//! * [`StdioLane`]: calls interleaved on the stdio server's own pipes, their answers
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
    /// Calls a tool. Notifications the upstream sends about the call (progress, log
    /// messages on an HTTP call's stream) go to `notify` as they come. Dropping the future
    /// before the answer cancels the call upstream.
    pub async fn call_tool(
        self,
        call: CallRequest,
        notify: mpsc::Sender<Box<RawValue>>,
    ) -> Result<Outcome, LaneError> {
        match self {
            Lane::Http(lane) => lane.call_tool(call, notify).await,
            Lane::Stdio(lane) => lane.call_tool(call, notify).await,
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

/// A `tools/call` to send on a lane.
#[derive(Debug)]
pub struct CallRequest {
    /// The upstream's name for the tool.
    pub name: Arc<str>,
    /// A JSON object, as the client sent it.
    pub arguments: Option<Box<RawValue>>,
    /// The client's progress token, as sent.
    pub progress_token: Option<Box<RawValue>>,
    /// The client's other `_meta` members, as `"key":value` pairs joined by commas.
    pub meta: String,
}

impl CallRequest {
    /// The JSON-RPC request. `id`, `protocol` (members for the `_meta` of a 2026-07-28
    /// request) and `progress_token` are JSON text.
    pub(crate) fn body(
        &self,
        id: &str,
        protocol: Option<&str>,
        progress_token: Option<&str>,
    ) -> Vec<u8> {
        let arguments = self.arguments.as_deref().map(RawValue::get);
        let size = 128 + self.name.len() + arguments.map_or(0, str::len) + self.meta.len();
        let mut body = Vec::with_capacity(size);
        body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(br#","method":"tools/call","params":{"name":"#);
        serde_json::to_writer(&mut body, &*self.name).expect("a string serialises");
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
    fn the_body_keeps_arguments_and_meta_as_sent() {
        let call = CallRequest {
            name: "echo\"x".into(),
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
        let bare = CallRequest {
            name: "a".into(),
            arguments: None,
            progress_token: None,
            meta: String::new(),
        };
        assert_eq!(
            String::from_utf8(bare.body("1", None, None)).unwrap(),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}"#
        );
    }
}

//! MCP protocol facts the gateway relies on in more than one place: which revisions are
//! which era, HTTP header and `_meta` names, what a client declares that lets a server
//! ask it things, and the `resultType` each era expects on a final result.
//!
//! Where rmcp exports a fact it is used, not restated: revisions are
//! [`ProtocolVersion`] constants, JSON-RPC error codes [`rmcp::model::ErrorCode`]
//! constants, result types [`ResultType`] constants. What is here is what rmcp keeps
//! private (the `_meta` keys), spells in a form the gateway cannot use (header names, which
//! `http` wants in lower case), or what the gateway writes as raw JSON on its direct lanes.

use rmcp::model::{ClientCapabilities, ErrorCode, ProtocolVersion, ResultType};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The stateless revision: no session and no `initialize`, protocol metadata on every
/// request, `resultType` on every result.
pub const STATELESS_VERSION: ProtocolVersion = ProtocolVersion::V_2026_07_28;

/// The revision the gateway asks for when it opens a session itself: the newest one
/// with an `initialize` handshake.
pub const SESSION_VERSION: ProtocolVersion = ProtocolVersion::LATEST_WITH_INITIALIZE;

/// The JSON-RPC error code of a request refused by its API key's rate limit or
/// concurrency cap (implementation-defined server error range; `data.retry_after_ms`
/// says when to try again).
pub const RATE_LIMITED: ErrorCode = ErrorCode(-32029);

/// Whether `version` names a known session-era revision (2024-11-05 … 2025-11-25).
pub fn is_session_version(version: &str) -> bool {
    has_initialize(version)
        && ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|known| known.as_str() == version)
}

/// Whether a negotiated revision still has the `initialize` handshake (and so sessions);
/// the text form of [`ProtocolVersion::has_initialize`] (revisions are dated, so they
/// compare as text).
pub fn has_initialize(version: &str) -> bool {
    version < ProtocolVersion::NO_INITIALIZE.as_str()
}

/// Header names of the streamable HTTP transport, in the lower case `http` wants for
/// static names (rmcp's `http_header` constants are mixed case).
pub mod header {
    pub const SESSION_ID: &str = "mcp-session-id";
    pub const PROTOCOL_VERSION: &str = "mcp-protocol-version";
    /// 2026-07-28: the body's method, repeated for routing.
    pub const METHOD: &str = "mcp-method";
    /// 2026-07-28: the tool, prompt or resource a request names.
    pub const NAME: &str = "mcp-name";
    /// 2026-07-28: a request parameter mirrored into a header.
    pub const PARAM_PREFIX: &str = "mcp-param-";
    /// 2026-07-28: how a value that cannot be a header as it is begins once wrapped in
    /// Base64 (`=?base64?…?=`).
    pub const BASE64_PREFIX: &str = "=?base64?";
    const BASE64_SUFFIX: &str = "?=";

    /// `value` as a 2026-07-28 header value (`Mcp-Name`, `Mcp-Param-*`): as it is, or
    /// wrapped in Base64 when it could not travel as it is (space or tab at either end,
    /// a control or non-ASCII character, or a value that looks wrapped already).
    pub fn encode_value(value: &str) -> http::HeaderValue {
        use base64::{Engine, prelude::BASE64_STANDARD};
        let edge = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
        let bytes = value.as_bytes();
        let wrap = edge(bytes.first())
            || edge(bytes.last())
            || value.chars().any(|c| !(' '..='~').contains(&c))
            || (value.starts_with(BASE64_PREFIX) && value.ends_with(BASE64_SUFFIX));
        let text = if wrap {
            format!(
                "{BASE64_PREFIX}{}{BASE64_SUFFIX}",
                BASE64_STANDARD.encode(value)
            )
        } else {
            value.to_owned()
        };
        http::HeaderValue::try_from(text).expect("visible ASCII is a header value")
    }
}

/// `_meta` members.
pub mod meta {
    /// The progress token of a request (also the member of `notifications/progress`
    /// params that names it).
    pub const PROGRESS_TOKEN: &str = "progressToken";
    /// Keys under this prefix are reserved for the protocol.
    pub const PROTOCOL_PREFIX: &str = "io.modelcontextprotocol/";
    /// 2026-07-28 request metadata, on every request.
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

    /// Whether a `_meta` key belongs to the protocol rather than to the client.
    pub fn is_protocol_key(key: &str) -> bool {
        key.starts_with(PROTOCOL_PREFIX)
    }

    /// The `_meta` members (JSON text, without braces) a 2026-07-28 request of the
    /// gateway's carries: the revision `version`, no client capabilities, and the
    /// gateway as the client.
    pub fn gateway_client(version: &str) -> String {
        format!(
            r#""{PROTOCOL_VERSION}":{},"{CLIENT_CAPABILITIES}":{{}},"{CLIENT_INFO}":{}"#,
            serde_json::Value::from(version),
            super::CLIENT_INFO_JSON
        )
    }
}

/// The gateway as an MCP client (`clientInfo`), as JSON text.
pub const CLIENT_INFO_JSON: &str = concat!(
    r#"{"name":"mcp-gateway","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// Client capabilities that let a server send the client requests of its own.
pub const ASKING_CAPABILITIES: [&str; 3] = ["sampling", "elicitation", "roots"];

/// Whether a client declared something a server may ask it for (sampling, elicitation or
/// roots: [`ASKING_CAPABILITIES`]).
#[allow(deprecated)] // sampling and roots are deprecated by SEP-2577 but still relayed
pub fn can_be_asked(capabilities: &ClientCapabilities) -> bool {
    capabilities.sampling.is_some()
        || capabilities.elicitation.is_some()
        || capabilities.roots.is_some()
}

/// What of a client's capabilities the gateway passes upstream: those that let a server
/// ask (sampling, elicitation, roots), which the gateway relays to that client.
pub fn relayable(capabilities: &ClientCapabilities) -> ClientCapabilities {
    let mut declared = ClientCapabilities::default();
    declared.roots = capabilities.roots.clone();
    declared.sampling = capabilities.sampling.clone();
    declared.elicitation = capabilities.elicitation.clone();
    declared
}

/// The HTTP status of a 2026-07-28 answer carrying a JSON-RPC error with `code`: the
/// errors that say the request itself was malformed for the revision are 400, an unknown
/// method 404, every other error is in-band (200). Session-era answers are always 200.
/// (rmcp's server maps its own answers the same way.)
pub fn stateless_error_status(code: ErrorCode) -> http::StatusCode {
    match code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => http::StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => http::StatusCode::NOT_FOUND,
        _ => http::StatusCode::OK,
    }
}

/// `notifications/cancelled` for the request with id `request_id` (JSON text), sent
/// upstream when the gateway abandons a call.
pub fn cancelled_notification(request_id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{request_id},"reason":"mcp-gateway: the call was abandoned"}}}}"#
    )
}

// A final result's `resultType`: every 2026-07-28 result has one, session-era results
// have none. rmcp strips `"complete"` for session-era peers itself; below are the
// fix-ups for results from an upstream of the other era, and for raw results that pass
// the gateway without rmcp's model.

const RESULT_TYPE: &str = "resultType";
/// `"resultType":"complete"`, as written into a raw result.
const COMPLETE_MEMBER: &str = r#""resultType":"complete""#;

/// A final result from a session-era upstream, for a 2026-07-28 client: typed results get
/// `resultType: complete` when they have none.
pub fn mark_complete(result_type: &mut Option<ResultType>) {
    result_type.get_or_insert(ResultType::COMPLETE);
}

/// [`mark_complete`] for a raw result: `result` written to `out` with
/// `"resultType":"complete"` first unless it has a `resultType` already.
pub fn with_result_type(result: &RawValue, out: &mut Vec<u8>) {
    #[derive(Deserialize)]
    struct Typed {
        #[serde(rename = "resultType")]
        result_type: Option<serde::de::IgnoredAny>,
    }
    let text = result.get();
    let typed = serde_json::from_str::<Typed>(text).is_ok_and(|t| t.result_type.is_some());
    match text.strip_prefix('{') {
        Some(rest) if !typed => {
            out.push(b'{');
            out.extend_from_slice(COMPLETE_MEMBER.as_bytes());
            if !rest.trim_start().starts_with('}') {
                out.push(b',');
            }
            out.extend_from_slice(rest.as_bytes());
        }
        _ => out.extend_from_slice(text.as_bytes()),
    }
}

/// A raw result for a session-era client: `result` written to `out` without the
/// `resultType` a 2026-07-28 upstream adds (as rmcp's relay strips it).
pub fn without_result_type(result: &RawValue, out: &mut Vec<u8>) {
    type Members = indexmap::IndexMap<String, Box<RawValue>>;
    if let Ok(mut members) = serde_json::from_str::<Members>(result.get())
        && members.shift_remove(RESULT_TYPE).is_some()
        && let Ok(stripped) = serde_json::to_vec(&members)
    {
        out.extend_from_slice(&stripped);
        return;
    }
    out.extend_from_slice(result.get().as_bytes());
}

/// [`without_result_type`] for a `tools/call` result, also as rmcp's server shapes one for
/// a session-era peer: a `structuredContent` that is not a JSON object (valid from
/// 2026-07-28 only) gives way to a text block holding it
/// (`strip_non_object_output_for_legacy_peer`, rmcp's own rule, applied to the typed result
/// in that rare case only).
pub fn without_result_type_for_call(result: &RawValue, out: &mut Vec<u8>) {
    type Members = indexmap::IndexMap<String, Box<RawValue>>;
    let text = result.get();
    let non_object = || {
        serde_json::from_str::<Members>(text).is_ok_and(|members| {
            members
                .get(STRUCTURED_CONTENT)
                .is_some_and(|v| !v.get().trim_start().starts_with('{'))
        })
    };
    if text.contains(STRUCTURED_CONTENT) && non_object() {
        let typed = serde_json::from_str::<rmcp::model::CallToolResult>(text).map(|call| {
            let mut result = rmcp::model::ServerResult::CallToolResult(call);
            result.strip_result_type_for_legacy_peer();
            result.strip_non_object_output_for_legacy_peer();
            result
        });
        if let Ok(shaped) = typed.and_then(|r| serde_json::to_vec(&r)) {
            out.extend_from_slice(&shaped);
            return;
        }
    }
    without_result_type(result, out);
}

const STRUCTURED_CONTENT: &str = "structuredContent";

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.into()).unwrap()
    }

    fn typed(result: &str) -> String {
        let mut out = Vec::new();
        with_result_type(&raw(result), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn untyped(result: &str) -> String {
        let mut out = Vec::new();
        without_result_type(&raw(result), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn stateless_errors_have_the_status_of_their_kind() {
        let status = |code| stateless_error_status(code).as_u16();
        assert_eq!(status(ErrorCode::HEADER_MISMATCH), 400);
        assert_eq!(status(ErrorCode::UNSUPPORTED_PROTOCOL_VERSION), 400);
        assert_eq!(status(ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY), 400);
        assert_eq!(status(ErrorCode::METHOD_NOT_FOUND), 404);
        assert_eq!(status(ErrorCode::INVALID_PARAMS), 200);
        assert_eq!(status(ErrorCode::INTERNAL_ERROR), 200);
    }

    #[test]
    fn header_values_are_wrapped_only_when_they_must_be() {
        for plain in ["echo", "fx__echo", "file:///a b.txt", ""] {
            assert_eq!(header::encode_value(plain), plain);
        }
        for (odd, wrapped) in [
            (" lead", "=?base64?IGxlYWQ=?="),
            ("café", "=?base64?Y2Fmw6k=?="),
            ("=?base64?eA==?=", "=?base64?PT9iYXNlNjQ/ZUE9PT89?="),
        ] {
            assert_eq!(header::encode_value(odd), wrapped, "{odd}");
        }
    }

    #[test]
    fn eras_are_told_apart_as_before() {
        for v in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] {
            assert!(is_session_version(v), "{v}");
            assert!(has_initialize(v), "{v}");
        }
        for v in ["2026-07-28", "2099-01-01", "2025-11-26", ""] {
            assert!(!is_session_version(v), "{v}");
        }
        assert!(!has_initialize("2026-07-28"));
        assert!(!has_initialize("2027-01-01"));
        assert_eq!(STATELESS_VERSION.as_str(), "2026-07-28");
        assert_eq!(SESSION_VERSION.as_str(), "2025-11-25");
    }

    #[test]
    fn asking_capabilities_are_the_typed_ones() {
        let declared = |json: serde_json::Value| {
            can_be_asked(&serde_json::from_value::<ClientCapabilities>(json).unwrap())
        };
        for name in ASKING_CAPABILITIES {
            assert!(declared(serde_json::json!({ name: {} })), "{name}");
        }
        assert!(!declared(
            serde_json::json!({"experimental": {}, "extensions": {}})
        ));
    }

    #[test]
    fn the_complete_member_is_what_rmcp_writes() {
        let member = serde_json::json!({ RESULT_TYPE: ResultType::COMPLETE.as_str() });
        assert_eq!(format!("{{{COMPLETE_MEMBER}}}"), member.to_string());
    }

    #[test]
    fn stateless_results_get_a_result_type_once() {
        assert_eq!(typed("{}"), r#"{"resultType":"complete"}"#);
        assert_eq!(
            typed(r#"{"content":[]}"#),
            r#"{"resultType":"complete","content":[]}"#
        );
        assert_eq!(
            typed(r#"{"resultType":"input_required"}"#),
            r#"{"resultType":"input_required"}"#
        );
        assert_eq!(typed(r#"{ }"#), r#"{"resultType":"complete" }"#);
    }

    #[test]
    fn session_era_results_lose_their_result_type() {
        assert_eq!(
            untyped(r#"{"resultType":"complete","content":[]}"#),
            r#"{"content":[]}"#
        );
        assert_eq!(untyped(r#"{"content": []}"#), r#"{"content": []}"#);
    }

    #[test]
    fn gateway_metadata_is_one_json_object() {
        let members = meta::gateway_client("2026-07-28");
        let object: serde_json::Value = serde_json::from_str(&format!("{{{members}}}")).unwrap();
        assert_eq!(object[meta::PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(object[meta::CLIENT_CAPABILITIES], serde_json::json!({}));
        assert_eq!(object[meta::CLIENT_INFO]["name"], "mcp-gateway");
        let cancelled: serde_json::Value =
            serde_json::from_str(&cancelled_notification(r#""gw-lane-1""#)).unwrap();
        assert_eq!(cancelled["params"]["requestId"], "gw-lane-1");
    }
}

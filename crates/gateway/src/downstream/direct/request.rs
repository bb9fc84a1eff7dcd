//! Which POSTs the direct lane may take: a single, plain `tools/call`, `prompts/get` or
//! `resources/read` whose headers and body need none of rmcp's checks to be answered
//! correctly. Anything unusual — other methods, batches, `Origin`, odd `Accept` values,
//! MRTR retries, protocol metadata or `Mcp-*` headers that do not match — takes the
//! general path, whose framing (rmcp's) validates it and answers with the right error.

use std::borrow::Cow;

use http::{HeaderMap, header};
use indexmap::IndexMap;
use rmcp::model::ErrorCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    protocol::{self, STATELESS_VERSION, meta},
    upstream::lane::Method,
};

/// How a request identifies its client.
#[derive(Debug, PartialEq, Eq)]
pub enum Caller<'a> {
    /// A session-era client, by `Mcp-Session-Id`.
    Session(&'a str),
    /// A 2026-07-28 client: no session.
    Stateless,
}

/// A POST the direct lane may read: [`acceptable_media`], and no `Origin` (a browser's
/// request, checked by the front door already, takes the relay's general path).
pub fn plain_post(headers: &HeaderMap) -> bool {
    acceptable_media(headers) && !headers.contains_key(header::ORIGIN)
}

/// A POST whose media types pass the streamable HTTP transport's checks, by rmcp's rules
/// (which answers 406 or 415 otherwise): a JSON body, and both JSON and event streams
/// accepted (weights of zero exclude a type; wildcards do not count).
pub fn acceptable_media(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_json);
    let (mut json, mut sse) = (false, false);
    for essence in accepted_media_types(headers) {
        json |= essence.eq_ignore_ascii_case("application/json");
        sse |= essence.eq_ignore_ascii_case("text/event-stream");
    }
    content_type && json && sse
}

/// The media types `Accept` lists with a weight other than zero.
fn accepted_media_types(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| split_unquoted(value, ','))
        .filter_map(|entry| {
            let mut parts = split_unquoted(entry, ';');
            let essence = parts.next()?.trim();
            parts
                .all(|parameter| match parameter.split_once('=') {
                    Some((name, value)) => {
                        !name.trim().eq_ignore_ascii_case("q") || weighs(value.trim())
                    }
                    None => true,
                })
                .then_some(essence)
        })
}

/// Splits at `delimiter` outside double quotes.
fn split_unquoted(value: &str, delimiter: char) -> impl Iterator<Item = &str> {
    let (mut quoted, mut escaped) = (false, false);
    value.split(move |c| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && c == delimiter {
            return true;
        }
        false
    })
}

/// Whether a weight (RFC 9110 §12.4.2) keeps its media range: only an explicit zero
/// excludes it; a malformed weight is ignored.
fn weighs(quality: &str) -> bool {
    let (whole, fraction) = quality.split_once('.').unwrap_or((quality, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|digit| digit.is_ascii_digit()) {
        return true;
    }
    whole != "0" || fraction.bytes().any(|digit| digit != b'0')
}

/// How a [`plain_post`] identifies its client, when the direct lane may take it.
pub fn caller(headers: &HeaderMap) -> Option<Caller<'_>> {
    let version = optional(headers, protocol::header::PROTOCOL_VERSION)?;
    match optional(headers, protocol::header::SESSION_ID)? {
        Some(session) => {
            let known = version.is_none_or(protocol::is_session_version);
            let method = headers.contains_key(protocol::header::METHOD);
            (known && !method).then_some(Caller::Session(session))
        }
        None => {
            let method = optional(headers, protocol::header::METHOD)?;
            let lane_method = |m| m == "tools/list" || Method::from_name(m).is_some();
            let stateless = version == Some(STATELESS_VERSION.as_str())
                && method.is_some_and(lane_method)
                && !headers
                    .keys()
                    .any(|k| k.as_str().starts_with(protocol::header::PARAM_PREFIX));
            stateless.then_some(Caller::Stateless)
        }
    }
}

/// `Some(None)` when the header is absent, `Some(Some(v))` for one text value, `None`
/// for several values or a non-text one.
fn optional<'h>(headers: &'h HeaderMap, name: &str) -> Option<Option<&'h str>> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Some(None);
    };
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok().map(Some)
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().eq_ignore_ascii_case("application/json")
}

/// A request the direct lane can relay ([`Method`]).
#[derive(Debug)]
pub struct LaneCall<'a> {
    pub method: Method,
    /// The client's request id, as sent.
    pub id: &'a RawValue,
    /// The tool's or prompt's name, or the resource's URI.
    pub target: Cow<'a, str>,
    /// A JSON object, as sent (tools and prompts).
    pub arguments: Option<&'a RawValue>,
    /// The client's progress token, as sent.
    pub progress_token: Option<&'a RawValue>,
    /// The client's other `_meta` members to send upstream (not protocol metadata), as
    /// `"key":value` pairs joined by commas.
    pub meta: String,
}

/// One JSON-RPC request or notification, its members borrowed from the body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<'a> {
    jsonrpc: &'a str,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: &'a str,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// The params of `tools/call` and `prompts/get`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedParams<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// The params of `resources/read`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UriParams<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// A request message: its method, id and params, if the body is one plain request. Parsed
/// once per POST; the functions below look at it.
pub fn envelope(body: &[u8]) -> Option<Envelope<'_>> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    (envelope.jsonrpc == "2.0").then_some(envelope)
}

/// The message as a request for the direct lane, if it is one.
pub fn lane_call<'a>(
    envelope: &Envelope<'a>,
    caller: &Caller<'_>,
    headers: &HeaderMap,
) -> Option<LaneCall<'a>> {
    let method = Method::from_name(envelope.method)?;
    if !method_header_agrees(caller, headers, method.name()) {
        return None;
    }
    let id = envelope.id.filter(|id| plain_id(id.get()))?;
    let params = envelope.params?.get();
    let (target, arguments, meta) = match method {
        Method::CallTool | Method::GetPrompt => {
            let params: NamedParams = serde_json::from_str(params).ok()?;
            (params.name, params.arguments, params.meta)
        }
        Method::ReadResource => {
            let params: UriParams = serde_json::from_str(params).ok()?;
            (params.uri, None, params.meta)
        }
    };
    if arguments.is_some_and(|a| !a.get().starts_with('{')) {
        return None;
    }
    if *caller == Caller::Stateless && !name_header_agrees(headers, &target) {
        return None;
    }
    let (progress_token, meta) = match meta {
        Some(meta) => forwarded_meta(meta, caller)?,
        None if *caller == Caller::Stateless => return None, // rmcp explains what is missing
        None => (None, String::new()),
    };
    Some(LaneCall {
        method,
        id,
        target,
        arguments,
        progress_token,
        meta,
    })
}

/// A stateless request's `Mcp-Name` is the name or URI in its body, written plainly (rmcp
/// decodes a Base64-wrapped one).
fn name_header_agrees(headers: &HeaderMap, target: &str) -> bool {
    optional(headers, protocol::header::NAME)
        .flatten()
        .is_some_and(|name| name == target && !name.starts_with(protocol::header::BASE64_PREFIX))
}

/// A stateless request's `Mcp-Method` names the body's method.
fn method_header_agrees(caller: &Caller<'_>, headers: &HeaderMap, method: &str) -> bool {
    *caller != Caller::Stateless
        || optional(headers, protocol::header::METHOD) == Some(Some(method))
}

/// A `tools/list` the direct lane can answer from the snapshot's serialised pages.
#[derive(Debug)]
pub struct ToolsList<'a> {
    /// The client's request id, as sent.
    pub id: &'a RawValue,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams<'a> {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(borrow, default, rename = "_meta")]
    meta: Option<&'a RawValue>,
}

/// The message as a `tools/list` whose metadata needs nothing from rmcp, if it is one.
pub fn tools_list<'a>(
    envelope: &Envelope<'a>,
    caller: &Caller<'_>,
    headers: &HeaderMap,
) -> Option<ToolsList<'a>> {
    if envelope.method != "tools/list" || !method_header_agrees(caller, headers, "tools/list") {
        return None;
    }
    let id = envelope.id.filter(|id| plain_id(id.get()))?;
    let params: Option<ListParams> = match envelope.params {
        Some(params) => Some(serde_json::from_str(params.get()).ok()?),
        None => None,
    };
    let (cursor, meta) = params.map_or((None, None), |p| (p.cursor, p.meta));
    match meta {
        // Metadata is checked as for calls; a list forwards none of it.
        Some(meta) => {
            forwarded_meta(meta, caller)?;
        }
        None if *caller == Caller::Stateless => return None,
        None => {}
    }
    Some(ToolsList { id, cursor })
}

/// A string or an integer: what rmcp accepts as a request id.
fn plain_id(id: &str) -> bool {
    id.starts_with('"') || (!id.contains(['.', 'e', 'E']) && id.parse::<i64>().is_ok())
}

/// The `_meta` keys to pass upstream (a progress token among them: the upstream's progress
/// comes back on the call's own stream), or `None` when the metadata needs rmcp: protocol
/// keys a session client should not send, or a stateless client's keys that are missing,
/// disagree with its headers, or let the server ask it things.
fn forwarded_meta<'a>(
    meta: &'a RawValue,
    caller: &Caller<'_>,
) -> Option<(Option<&'a RawValue>, String)> {
    let meta: IndexMap<String, &RawValue> = serde_json::from_str(meta.get()).ok()?;
    let mut version = false;
    let mut capabilities = false;
    let mut progress_token = None;
    let mut forwarded = String::new();
    for (key, value) in &meta {
        match key.as_str() {
            meta::PROGRESS_TOKEN => progress_token = Some(*value),
            key if meta::is_protocol_key(key) && *caller != Caller::Stateless => return None,
            meta::PROTOCOL_VERSION => version = is_json_string(value, STATELESS_VERSION.as_str()),
            meta::CLIENT_CAPABILITIES => capabilities = cannot_be_asked(value)?,
            meta::CLIENT_INFO => {}
            key if meta::is_protocol_key(key) => return None,
            _ => {
                if !forwarded.is_empty() {
                    forwarded.push(',');
                }
                forwarded.push_str(&serde_json::to_string(key).ok()?);
                forwarded.push(':');
                forwarded.push_str(value.get());
            }
        }
    }
    if *caller == Caller::Stateless && !(version && capabilities) {
        return None;
    }
    Some((progress_token, forwarded))
}

/// Whether `value` is the JSON string `text` written without escapes.
fn is_json_string(value: &RawValue, text: &str) -> bool {
    let quoted = value
        .get()
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'));
    quoted == Some(text)
}

/// Declared client capabilities that give the server nothing to ask the client.
fn cannot_be_asked(capabilities: &RawValue) -> Option<bool> {
    let declared: IndexMap<String, serde::de::IgnoredAny> =
        serde_json::from_str(capabilities.get()).ok()?;
    Some(
        !protocol::ASKING_CAPABILITIES
            .iter()
            .any(|c| declared.contains_key(*c)),
    )
}

/// Why a body is not one JSON-RPC message a client may send, as the JSON-RPC error code
/// and a reason; `None` when it is one.
pub fn invalid_message(body: &[u8]) -> Option<(ErrorCode, String)> {
    use rmcp::model::ClientJsonRpcMessage;
    let error = serde_json::from_slice::<ClientJsonRpcMessage>(body).err()?;
    Some(
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Err(syntax) => (ErrorCode::PARSE_ERROR, format!("Parse error: {syntax}")),
            Ok(_) => (
                ErrorCode::INVALID_REQUEST,
                format!("Invalid Request: {error}"),
            ),
        },
    )
}

/// The JSON-RPC error that answers a message which could not be read (so its id is
/// unknown: null).
pub fn unreadable_message(code: ErrorCode, reason: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": null,
        "error": {"code": code, "message": reason}})
    .to_string()
}

/// A client's answer to a request relayed to it: its id and its `result` or `error`
/// member (name and value, as sent).
#[derive(Debug)]
pub struct Reply<'a> {
    pub id: &'a RawValue,
    pub member: &'static str,
    pub value: &'a RawValue,
}

/// The message as a JSON-RPC response, if it is one.
pub fn reply(body: &[u8]) -> Option<Reply<'_>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Message<'a> {
        jsonrpc: &'a str,
        #[serde(borrow)]
        id: &'a RawValue,
        #[serde(borrow, default)]
        result: Option<&'a RawValue>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }
    let message: Message = serde_json::from_slice(body).ok()?;
    if message.jsonrpc != "2.0" {
        return None;
    }
    let (member, value) = match (message.result, message.error) {
        (Some(result), None) => ("result", result),
        (None, Some(error)) => ("error", error),
        _ => return None,
    };
    Some(Reply {
        id: message.id,
        member,
        value,
    })
}

/// Whether the message is a notification (it has no id).
pub fn is_notification(envelope: &Envelope<'_>) -> bool {
    envelope.id.is_none()
}

#[cfg(test)]
mod tests;

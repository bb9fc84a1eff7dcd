//! Entry points for the fuzz targets in `fuzz/` — not an API. Each feeds arbitrary input
//! to a parser that faces the network or the operator; none may panic, whatever the input.

use bytes::Bytes;
use http::HeaderMap;

use crate::{
    config::{Settings, env::MapEnv},
    downstream::direct::request,
    model::ServerRecord,
    protocol::header,
    upstream::{sse, sse_decode::Decoder},
};

/// A POST body on `/mcp`: the direct lane's parsers (both eras), then the check that
/// answers malformed messages.
pub fn mcp_post_body(data: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert(header::NAME, http::HeaderValue::from_static("echo"));
    headers.insert(header::METHOD, http::HeaderValue::from_static("tools/call"));
    let envelope = request::envelope(data);
    for caller in [request::Caller::Session("s"), request::Caller::Stateless] {
        let Some(envelope) = &envelope else { break };
        let _ = request::tools_list(envelope, &caller, &HeaderMap::new());
        let _ = request::is_notification(envelope);
        if let Some(call) = request::lane_call(envelope, &caller, &headers) {
            // What the lane would send upstream must itself be valid JSON text (checked as
            // text: numbers such as 1e760283310 are valid JSON that no f64 can hold).
            let meta = (!call.meta.is_empty()).then(|| format!("{{{}}}", call.meta));
            if let Some(meta) = meta {
                assert!(serde_json::from_str::<&serde_json::value::RawValue>(&meta).is_ok());
            }
        }
    }
    // What the lane hands the relay as a notification.
    let _ = serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(data);
    let _ = request::invalid_message(data);
}

/// An upstream's SSE body, fed in two chunks split at `data[0]`: the SSE decoder (with a
/// small size cap) and the legacy SSE client's reading of each event.
pub fn sse_body(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (first, second) = rest.split_at(split);
    let mut decoder = Decoder::new(1024);
    for chunk in [first, second] {
        decoder.push(Bytes::copy_from_slice(chunk));
        loop {
            match decoder.next() {
                Ok(true) => {
                    let event = decoder.event();
                    assert!(event.data.len() <= 1024);
                    let _ = sse::decode(event);
                }
                Ok(false) => break,
                Err(_) => return,
            }
        }
    }
}

/// A config file's text.
pub fn config_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = MapEnv::new([("HOME", "/home/fuzz"), ("TOKEN", "t")]);
    let _ = crate::config::file::parse(text, "fuzz.yaml", &env);
}

/// A registration body (`POST /mcp/servers`), then its validation for the API.
pub fn registration(data: &[u8]) {
    let Ok(mut record) = crate::admin::parse_body::<ServerRecord>(data) else {
        return;
    };
    let _ = record.validate(Settings::default().api_policy());
    let _ = crate::upstream::upstream_headers(&record);
}

//! Entry points for the fuzz targets in `fuzz/` — not an API. Each feeds arbitrary input
//! to a parser that faces the network or the operator; none may panic, whatever the input.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::HeaderMap;

use crate::{
    config::{Settings, env::MapEnv},
    downstream::direct::request,
    model::ServerRecord,
    upstream::{lane::wire, sse},
};

/// A POST body on `/mcp`: the direct lane's parsers (both eras), then the check that
/// answers malformed messages.
pub fn mcp_post_body(data: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert("mcp-name", http::HeaderValue::from_static("echo"));
    headers.insert("mcp-method", http::HeaderValue::from_static("tools/call"));
    let envelope = request::envelope(data);
    for caller in [request::Caller::Session("s"), request::Caller::Stateless] {
        let Some(envelope) = &envelope else { break };
        let _ = request::tools_list(envelope, &caller, &HeaderMap::new());
        let _ = request::is_initialized(envelope);
        if let Some(call) = request::tool_call(envelope, &caller, &headers) {
            // What the lane would send upstream must itself be valid JSON text (checked as
            // text: numbers such as 1e760283310 are valid JSON that no f64 can hold).
            let meta = (!call.meta.is_empty()).then(|| format!("{{{}}}", call.meta));
            if let Some(meta) = meta {
                assert!(serde_json::from_str::<&serde_json::value::RawValue>(&meta).is_ok());
            }
        }
    }
    if let Some(envelope) = &envelope {
        let _ = request::cancelled_request(envelope);
    }
    let _ = request::invalid_message(data);
}

/// An upstream's SSE body, fed in two chunks split at `data[0]`: the HTTP lane's event
/// reader, and the legacy SSE client's parser and size cap.
pub fn sse_body(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let (first, second) = rest.split_at(split);
    let mut buffer = BytesMut::new();
    for chunk in [first, second] {
        buffer.extend_from_slice(chunk);
        while let Some(event) = wire::take_event(&mut buffer) {
            let _ = serde_json::from_slice::<serde_json::Value>(&event);
        }
    }
    let mut limit = sse::limit::EventSizeLimit::new(1024);
    let chunks: Vec<Result<Bytes, std::io::Error>> = [first, second]
        .iter()
        .map(|chunk| {
            limit
                .observe(chunk)
                .map(|()| Bytes::copy_from_slice(chunk))
                .map_err(std::io::Error::other)
        })
        .collect();
    let events = sse_stream::SseStream::from_bytes_stream(futures::stream::iter(chunks));
    futures::executor::block_on(events.for_each(|event| {
        if let Ok(event) = event {
            let _ = sse::decode(event);
        }
        futures::future::ready(())
    }));
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

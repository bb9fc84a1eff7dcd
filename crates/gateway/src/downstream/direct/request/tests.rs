use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_static(v));
    }
    map
}

const BASE: [(&str, &str); 3] = [
    ("host", "127.0.0.1:4000"),
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
];

fn with(extra: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut all = BASE.to_vec();
    all.extend_from_slice(extra);
    headers(&all)
}

#[test]
fn plain_session_and_stateless_requests_qualify() {
    let h = with(&[
        ("mcp-session-id", "abc"),
        ("mcp-protocol-version", "2025-11-25"),
    ]);
    assert!(plain_post(&h));
    assert_eq!(caller(&h), Some(Caller::Session("abc")));
    let h = with(&[
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
    ]);
    assert!(plain_post(&h));
    assert_eq!(caller(&h), Some(Caller::Stateless));
}

#[test]
fn unusual_headers_are_left_to_rmcp() {
    let cases: &[&[(&'static str, &'static str)]] = &[
        &[("mcp-session-id", "a"), ("origin", "http://localhost:1")],
        &[("mcp-session-id", "a"), ("mcp-session-id", "b")],
        &[
            ("mcp-session-id", "a"),
            ("mcp-protocol-version", "2099-01-01"),
        ],
        &[("mcp-session-id", "a"), ("mcp-method", "tools/call")],
        &[("mcp-protocol-version", "2025-11-25")],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "resources/list"),
        ],
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-param-x", "1"),
        ],
    ];
    for extra in cases {
        let h = with(extra);
        let direct = plain_post(&h) && caller(&h).is_some();
        assert!(!direct, "{extra:?}");
    }
    let mut h = with(&[("mcp-session-id", "a")]);
    assert!(plain_post(&h));
    h.insert("accept", HeaderValue::from_static("application/json"));
    assert!(!plain_post(&h));
    h.insert("accept", HeaderValue::from_static("*/*"));
    assert!(!plain_post(&h));
    h.insert(
        "accept",
        HeaderValue::from_static("application/json;q=0, text/event-stream"),
    );
    assert!(!plain_post(&h));
}

#[test]
fn media_types_are_read_as_the_transport_reads_them() {
    let mut h = with(&[("mcp-session-id", "a"), ("origin", "http://localhost:1")]);
    assert!(
        acceptable_media(&h) && !plain_post(&h),
        "a browser's request"
    );
    h.insert(
        "accept",
        HeaderValue::from_static("application/json;q=0.9, text/event-stream;q=0.5"),
    );
    assert!(acceptable_media(&h));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    assert!(acceptable_media(&h));
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    assert!(!acceptable_media(&h));
}

fn session_call(body: &str) -> Option<LaneCall<'_>> {
    lane_call(
        &envelope(body.as_bytes())?,
        &Caller::Session("s"),
        &HeaderMap::new(),
    )
}

#[test]
fn plain_calls_qualify_with_meta_filtered() {
    let call = session_call(
        r#"{"jsonrpc":"2.0","id":"x1","method":"tools/call","params":{"name":"a__echo","arguments":{"m":1},"_meta":{"trace":"t","progressToken":5}}}"#,
    )
    .unwrap();
    assert_eq!(call.id.get(), r#""x1""#);
    assert_eq!(call.method, Method::CallTool);
    assert_eq!(call.target, "a__echo");
    assert_eq!(call.arguments.unwrap().get(), r#"{"m":1}"#);
    assert_eq!(call.meta, r#""trace":"t""#);
    assert_eq!(call.progress_token.unwrap().get(), "5");

    let stateless = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{},
        "io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}}}"#;
    let h = headers(&[("mcp-name", "echo"), ("mcp-method", "tools/call")]);
    let call = lane_call(
        &envelope(stateless.as_bytes()).unwrap(),
        &Caller::Stateless,
        &h,
    )
    .unwrap();
    assert_eq!(call.meta, "");
    let h = headers(&[("mcp-name", "other"), ("mcp-method", "tools/call")]);
    assert!(
        lane_call(
            &envelope(stateless.as_bytes()).unwrap(),
            &Caller::Stateless,
            &h
        )
        .is_none()
    );
}

#[test]
fn prompts_and_resource_reads_qualify_like_calls() {
    let prompt = session_call(
        r#"{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"fx__greet","arguments":{"name":"Ann"},"_meta":{"k":[1],"progressToken":"p"}}}"#,
    )
    .unwrap();
    assert_eq!(prompt.method, Method::GetPrompt);
    assert_eq!(prompt.target, "fx__greet");
    assert_eq!(prompt.arguments.unwrap().get(), r#"{"name":"Ann"}"#);
    assert_eq!(prompt.meta, r#""k":[1]"#);
    assert_eq!(prompt.progress_token.unwrap().get(), r#""p""#);
    let read = session_call(
        r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"fixture://items/\u0031"}}"#,
    )
    .unwrap();
    assert_eq!(read.method, Method::ReadResource);
    assert_eq!(read.target, "fixture://items/1");
    assert!(read.arguments.is_none() && read.progress_token.is_none());
    assert_eq!(read.meta, "");

    // Stateless: `Mcp-Method` names the method, `Mcp-Name` the prompt or the URI.
    let protocol = r#""io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{}"#;
    let prompt = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"prompts/get","params":{{"name":"greet","_meta":{{{protocol}}}}}}}"#
    );
    let read = format!(
        r#"{{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{{"uri":"fixture://readme","_meta":{{{protocol}}}}}}}"#
    );
    let stateless = |body: &str, h: &[(&'static str, &'static str)]| {
        let h = with(h);
        let direct = caller(&h) == Some(Caller::Stateless);
        direct && lane_call(&envelope(body.as_bytes()).unwrap(), &Caller::Stateless, &h).is_some()
    };
    let version = ("mcp-protocol-version", "2026-07-28");
    let get = ("mcp-method", "prompts/get");
    let read_method = ("mcp-method", "resources/read");
    assert!(stateless(&prompt, &[version, get, ("mcp-name", "greet")]));
    assert!(stateless(
        &read,
        &[version, read_method, ("mcp-name", "fixture://readme")]
    ));
    for (body, headers) in [
        (&prompt, &[version, get, ("mcp-name", "other")]),
        (&prompt, &[version, read_method, ("mcp-name", "greet")]),
        (
            &prompt,
            &[version, ("mcp-method", "tools/call"), ("mcp-name", "greet")],
        ),
        (
            &read,
            &[version, read_method, ("mcp-name", "fixture://other")],
        ),
        (&read, &[version, get, ("mcp-name", "fixture://readme")]),
        // rmcp decodes a Base64-wrapped name.
        (
            &read,
            &[
                version,
                read_method,
                ("mcp-name", "=?base64?Zml4dHVyZTovL3JlYWRtZQ==?="),
            ],
        ),
    ] {
        assert!(!stateless(body, headers), "{body} {headers:?}");
    }
    assert!(!stateless(&prompt, &[version, get]));
}

#[test]
fn unusual_prompts_and_reads_are_left_to_rmcp() {
    for body in [
        // MRTR retries, members of another method, odd arguments, a missing target.
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"a","requestState":"s"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"a","uri":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"a","arguments":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x","inputResponses":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":7}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read"}"#,
        r#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x","_meta":{"io.modelcontextprotocol/clientInfo":{}}}}"#,
    ] {
        assert!(session_call(body).is_none(), "{body}");
    }
}

#[test]
fn unusual_bodies_are_left_to_rmcp() {
    for body in [
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}]"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"a"}}"#,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"a"}}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"a"}}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"a"}}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{"name":"a"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","task":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"extra":1}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        "not json",
    ] {
        assert!(session_call(body).is_none(), "{body}");
    }
    let asks = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}}}"#;
    let h = headers(&[("mcp-name", "echo")]);
    assert!(lane_call(&envelope(asks.as_bytes()).unwrap(), &Caller::Stateless, &h).is_none());
}

#[test]
fn invalid_bodies_are_classified() {
    assert_eq!(invalid_message(b"{").unwrap().0, ErrorCode::PARSE_ERROR);
    assert_eq!(invalid_message(&[0xff]).unwrap().0, ErrorCode::PARSE_ERROR);
    assert_eq!(
        invalid_message(b"[]").unwrap().0,
        ErrorCode::INVALID_REQUEST
    );
    assert_eq!(
        invalid_message(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#)
            .unwrap()
            .0,
        ErrorCode::INVALID_REQUEST
    );
    assert!(invalid_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_none());
}

#[test]
fn replies_are_told_from_requests() {
    let r = reply(br#"{"jsonrpc":"2.0","id":"gw-ask-1","result":{"roots":[]}}"#).unwrap();
    assert_eq!(
        (r.id.get(), r.member, r.value.get()),
        (r#""gw-ask-1""#, "result", r#"{"roots":[]}"#)
    );
    let r = reply(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#).unwrap();
    assert_eq!(r.member, "error");
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
        r#"{"jsonrpc":"2.0","id":1}"#,
        r#"{"jsonrpc":"1.0","id":1,"result":{}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#,
    ] {
        assert!(reply(body.as_bytes()).is_none(), "{body}");
    }
}

#[test]
fn notifications_are_told_from_requests() {
    let body = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1","reason":"x"}}"#;
    assert!(is_notification(&envelope(body.as_bytes()).unwrap()));
    assert!(is_notification(
        &envelope(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap()
    ));
    assert!(!is_notification(
        &envelope(br#"{"jsonrpc":"2.0","id":"r1","method":"ping"}"#).unwrap()
    ));
}

//! API keys over real sockets: created and managed with the master key only, stored as a
//! hash, and a scoped key sees and reaches only what it grants — on the REST catalog, on
//! `/mcp` in both eras, on one server's endpoint and on the legacy `/sse` face — with
//! anything else answered exactly as a name that does not exist. Deleting, expiring or
//! narrowing a key takes effect on sessions already open; a session belongs to the key
//! that opened it.

mod common;

use std::time::Duration;

use common::{
    bearer::{error_shape, names},
    guarded::{Guarded, guarded},
    *,
};
use mcp_gateway::{config::Settings, secret::Secret};
use mcp_gateway_testkit::README_URI;
use serde_json::{Value, json};

const MASTER: &str = "api-keys-master-key";

type Setup = Guarded;

/// A gateway with a master key and two fixture upstreams: `a` (tools `echo`, `whoami`,
/// …) and `b` (the same tools as `b_echo`, …).
async fn setup(settings: Settings) -> Setup {
    guarded(settings, MASTER, true).await
}

#[tokio::test]
async fn keys_are_managed_with_the_master_key_and_never_shown_again() {
    let s = setup(Settings::default()).await;
    let (key, id) = s
        .key(json!({"name": "ci", "servers": ["a"], "metadata": {"team": "infra"}}))
        .await;
    assert!(key.starts_with("mgw_") && key.len() >= 47, "{key}");

    let (status, list) = s
        .rest(reqwest::Method::GET, "/mcp/keys", MASTER, None)
        .await;
    assert_eq!(status, 200);
    let listed = list.to_string();
    assert!(
        listed.contains(&id) && !listed.contains(&key[4..]),
        "{listed}"
    );
    assert!(!listed.contains("hash"), "{listed}");
    let (_, one) = s
        .rest(
            reqwest::Method::GET,
            &format!("/mcp/keys/{id}"),
            MASTER,
            None,
        )
        .await;
    assert_eq!(one["servers"], json!(["a"]));
    assert_eq!(one["metadata"]["team"], "infra");
    assert_eq!(one["source"], "api");

    // An API key changes nothing and reads no admin data.
    for (method, path, body) in [
        (reqwest::Method::GET, "/mcp/keys".to_owned(), None),
        (
            reqwest::Method::POST,
            "/mcp/keys".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (reqwest::Method::DELETE, format!("/mcp/keys/{id}"), None),
        (reqwest::Method::GET, "/mcp/servers".to_owned(), None),
        (
            reqwest::Method::POST,
            "/mcp/servers".to_owned(),
            Some(json!({"server_id": "c", "url": "http://127.0.0.1:9/mcp"})),
        ),
        (reqwest::Method::DELETE, "/mcp/servers/a".to_owned(), None),
    ] {
        let (status, body) = s.rest(method.clone(), &path, &key, body).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    assert!(s.running.gateway.registry.get("a").is_some());

    // Bad input names the field and creates nothing.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "tools": ["a["]}), "tools"),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (status, answer) = s
            .rest(reqwest::Method::POST, "/mcp/keys", MASTER, Some(body))
            .await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["field"], field);
    }
    let (status, _) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/keys",
            MASTER,
            Some(json!({"name": "x", "key": "mine"})),
        )
        .await;
    assert!(status == 400 || status == 422, "{status}");
    assert_eq!(s.running.gateway.keys.list().len(), 1);

    // A wrong or missing token is 401, on MCP and REST alike.
    for token in ["mgw_not-a-key", &key[..key.len() - 1]] {
        let (status, _) = s
            .rest(reqwest::Method::GET, "/mcp/tools", token, None)
            .await;
        assert_eq!(status, 401);
    }
    let (status, _) = s
        .rest(reqwest::Method::DELETE, "/mcp/keys/key_nope", MASTER, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = s
        .rest(
            reqwest::Method::DELETE,
            &format!("/mcp/keys/{id}"),
            MASTER,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s.rest(reqwest::Method::GET, "/mcp/tools", &key, None).await;
    assert_eq!(status, 401, "a deleted key");
}

#[tokio::test]
async fn a_scoped_key_sees_and_calls_only_its_tools_on_every_face_and_era() {
    let s = setup(Settings::default()).await;
    let (key, _) = s
        .key(json!({"name": "scoped", "servers": ["a"], "tools": ["a__echo", "a__add*"]}))
        .await;

    // REST.
    let (status, tools) = s.rest(reqwest::Method::GET, "/mcp/tools", &key, None).await;
    assert_eq!(status, 200);
    let exposed: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        exposed.contains(&"a__echo")
            && exposed
                .iter()
                .all(|n| *n == "a__echo" || n.starts_with("a__add")),
        "{exposed:?}"
    );
    let (_, prompts) = s
        .rest(reqwest::Method::GET, "/mcp/prompts", &key, None)
        .await;
    assert!(
        prompts["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["server_id"] == "a"),
        "{prompts}"
    );
    let call = |name: &str| json!({"name": name, "arguments": {"message": "hi"}});
    let (status, _) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/tools/call",
            &key,
            Some(call("a__echo")),
        )
        .await;
    assert_eq!(status, 200);
    let (hidden_status, hidden) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/tools/call",
            &key,
            Some(call("b__b_echo")),
        )
        .await;
    let (absent_status, absent) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/tools/call",
            &key,
            Some(call("b__b_nope")),
        )
        .await;
    assert_eq!((hidden_status, absent_status), (404, 404));
    assert_eq!(hidden["error"]["code"], absent["error"]["code"]);
    let (status, _) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/tools/call",
            &key,
            Some(call("a__whoami")),
        )
        .await;
    assert_eq!(
        status, 404,
        "a tool of an allowed server outside the key's tools"
    );
    // The operator still sees everything.
    let (_, all) = s
        .rest(reqwest::Method::GET, "/mcp/tools", MASTER, None)
        .await;
    assert!(all.to_string().contains("b__b_echo"));

    // MCP, both eras, on the aggregate endpoint.
    for session in [true, false] {
        let client = s.mcp("/mcp", &key);
        let client = if session { client.open().await } else { client };
        let era = if session { "session" } else { "2026-07-28" };
        let tools = client.tool_names().await;
        assert!(tools.contains(&"a__echo".to_owned()), "{era}: {tools:?}");
        assert!(
            tools
                .iter()
                .all(|n| n == "a__echo" || n.starts_with("a__add")),
            "{era}: {tools:?}"
        );
        let answer = client.call("a__echo").await;
        assert_eq!(
            answer["result"]["content"][0]["text"], "hi",
            "{era}: {answer}"
        );
        for hidden in ["b__b_echo", "a__whoami"] {
            let refused = client.call(hidden).await;
            let unknown = client.call("a__no_such_tool").await;
            assert_eq!(
                error_shape(&refused, hidden),
                error_shape(&unknown, "a__no_such_tool"),
                "{era}: {hidden} is answered as a tool that does not exist"
            );
        }
        let (_, prompts) = client.request("prompts/list", json!({}), None).await;
        assert_eq!(
            names(&prompts["result"]["prompts"]),
            vec!["a__greet"],
            "{era}"
        );
        let (_, refused) = client
            .request(
                "prompts/get",
                json!({"name": "b__b_greet", "arguments": {"name": "x"}}),
                Some("b__b_greet"),
            )
            .await;
        let (_, unknown) = client
            .request(
                "prompts/get",
                json!({"name": "b__nope", "arguments": {"name": "x"}}),
                Some("b__nope"),
            )
            .await;
        assert_eq!(
            error_shape(&refused, "b__b_greet"),
            error_shape(&unknown, "b__nope"),
            "{era}"
        );
    }

    // A key for `b` only cannot read the resource `a` serves, nor list it.
    let (b_key, _) = s.key(json!({"name": "b-only", "servers": ["b"]})).await;
    let client = s.mcp("/mcp", &b_key).open().await;
    let (_, listed) = client.request("resources/list", json!({}), None).await;
    assert!(!listed.to_string().contains("\"a\""), "{listed}");
    let (_, refused) = client
        .request(
            "resources/read",
            json!({"uri": README_URI}),
            Some(README_URI),
        )
        .await;
    let (_, unknown) = client
        .request(
            "resources/read",
            json!({"uri": "fixture://nothing"}),
            Some("fixture://nothing"),
        )
        .await;
    assert_eq!(
        error_shape(&refused, README_URI),
        error_shape(&unknown, "fixture://nothing")
    );
    assert_eq!(
        client.call("b__b_echo").await["result"]["content"][0]["text"],
        "hi"
    );

    // One server's endpoint: a server the key does not reach shows nothing and runs nothing.
    let client = s.mcp("/mcp/servers/b/mcp", &key).open().await;
    assert!(client.tool_names().await.is_empty());
    assert!(client.call("b_echo").await.get("error").is_some());
    let client = s.mcp("/mcp/servers/a/mcp", &key).open().await;
    assert!(client.tool_names().await.contains(&"echo".to_owned()));
    assert!(client.call("whoami").await.get("error").is_some());
}

#[tokio::test]
async fn the_legacy_sse_face_is_scoped_and_bound_to_its_key() {
    let s = setup(Settings::default()).await;
    let (key, _) = s.key(json!({"name": "sse", "tools": ["a__echo"]})).await;
    let (other, _) = s.key(json!({"name": "other"})).await;
    let response = s
        .http
        .get(format!("{}/sse", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let (mut events, endpoint) = common::sse::EventStream::open(response).await;
    let post = |token: &str, body: Value| {
        s.http
            .post(format!("{}{endpoint}", s.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "sse", "version": "1"}}});
    assert_eq!(post(&key, init).await.unwrap().status(), 202);
    events.next_block().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&key, initialized).await.unwrap().status(), 202);
    // Another key (and the master key) cannot post to this session.
    for token in [other.as_str(), MASTER] {
        let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
        assert_eq!(post(token, list).await.unwrap().status(), 404);
    }
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(&key, list).await.unwrap().status(), 202);
    let answer = events.message().await;
    assert_eq!(
        names(&answer["result"]["tools"]),
        vec!["a__echo"],
        "{answer}"
    );
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "b__b_echo", "arguments": {"message": "x"}}});
    assert_eq!(post(&key, call).await.unwrap().status(), 202);
    let answer = events.message().await;
    assert!(answer.get("error").is_some(), "{answer}");
}

#[tokio::test]
async fn deleting_narrowing_or_expiring_a_key_acts_on_open_sessions() {
    let s = setup(Settings::default()).await;
    let (key, id) = s.key(json!({"name": "live"})).await;
    let client = s.mcp("/mcp", &key).open().await;
    assert!(client.tool_names().await.contains(&"b__b_echo".to_owned()));

    let (status, _) = s
        .rest(
            reqwest::Method::PATCH,
            &format!("/mcp/keys/{id}"),
            MASTER,
            Some(json!({"servers": ["a"]})),
        )
        .await;
    assert_eq!(status, 200);
    let tools = client.tool_names().await;
    assert!(
        !tools.iter().any(|t| t.starts_with("b__")),
        "narrowed at once: {tools:?}"
    );
    assert!(client.call("b__b_echo").await.get("error").is_some());

    let (status, _) = s
        .rest(
            reqwest::Method::DELETE,
            &format!("/mcp/keys/{id}"),
            MASTER,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = client.request("tools/list", json!({}), None).await;
    assert_eq!(status, 401, "deleted: the open session stops working");

    let expires = chrono::Utc::now() + chrono::Duration::seconds(2);
    let (key, _) = s.key(json!({"name": "short", "expires_at": expires})).await;
    let client = s.mcp("/mcp", &key).open().await;
    assert_eq!(
        client.call("a__echo").await["result"]["content"][0]["text"],
        "hi"
    );
    let wait = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    let (status, _) = client.request("tools/list", json!({}), None).await;
    assert_eq!(status, 401, "expired");
    let (_, listed) = s
        .rest(reqwest::Method::GET, "/mcp/keys", MASTER, None)
        .await;
    assert_eq!(listed["keys"][0]["expired"], true, "{listed}");
}

#[tokio::test]
async fn a_session_is_used_only_with_the_key_that_opened_it() {
    let s = setup(Settings::default()).await;
    let (first, _) = s.key(json!({"name": "first"})).await;
    let (second, _) = s.key(json!({"name": "second"})).await;
    let owner = s.mcp("/mcp", &first).open().await;
    let session = owner.session.clone().unwrap();
    let unknown = |token: &str, id: &str| {
        let mut client = s.mcp("/mcp", token);
        client.session = Some(id.to_owned());
        client
    };
    let (status, body) = unknown(&first, "no-such-session")
        .request("tools/list", json!({}), None)
        .await;
    for token in [second.as_str(), MASTER] {
        let (other_status, other_body) = unknown(token, &session)
            .request("tools/list", json!({}), None)
            .await;
        assert_eq!(
            (other_status, &other_body),
            (status, &body),
            "as for a session that does not exist"
        );
        let get = s
            .http
            .get(format!("{}/mcp", s.base))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), 404);
        let delete = s
            .http
            .delete(format!("{}/mcp", s.base))
            .bearer_auth(token)
            .header("mcp-session-id", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), 404);
    }
    assert_eq!(status, 404);
    assert!(
        owner.tool_names().await.contains(&"a__echo".to_owned()),
        "the owner's session lives on"
    );
}

#[tokio::test]
async fn keys_are_stored_as_hashes_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let settings = || Settings {
        store_model_in_db: true,
        database_url: Secret::new(format!("sqlite://{}", path.display())),
        master_key: Some(Secret::new(MASTER)),
        ..Settings::default()
    };
    let running = started(settings()).await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("http://{}/mcp/keys", running.addr))
        .bearer_auth(MASTER)
        .json(&json!({"name": "kept", "tools": ["x__*"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    running.shutdown().await.unwrap();
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        // (A WAL file may go away between the listing and the read: the store closing.)
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("kept"),
        "the key's record is in the database"
    );
    assert!(!stored.contains(&key[4..]), "the key itself is not");

    let running = started(settings()).await;
    let status = http
        .get(format!("http://{}/mcp/tools", running.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the key works after a restart");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_limits_answer_with_a_retry_hint_on_mcp_and_rest() {
    let s = setup(Settings::default()).await;
    let (key, id) = s
        .key(json!({"name": "metered", "rate_limit": {"requests_per_minute": 60, "burst": 2}}))
        .await;
    for session in [true, false] {
        let client = s.mcp("/mcp", &key);
        let client = if session { client.open().await } else { client };
        // Lists are the gateway's own answers: they do not count.
        for _ in 0..5 {
            assert!(client.tool_names().await.contains(&"a__echo".to_owned()));
        }
        // A burst of 2, then one a second: a few calls in a row run out (a slow machine
        // may earn a token back between two of them).
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(client.call("a__echo").await);
        }
        assert!(
            answers[..2].iter().all(|a| a.get("result").is_some()),
            "{answers:?}"
        );
        let refused = answers
            .iter()
            .find(|a| a.get("error").is_some())
            .unwrap_or_else(|| panic!("the bucket of 2 ran out: {answers:?}"));
        assert_eq!(refused["error"]["code"], -32029, "{refused}");
        let retry = refused["error"]["data"]["retry_after_ms"].as_u64().unwrap();
        assert!(retry > 0 && retry <= 1000, "{refused}");
        // When it says, the bucket holds a token again.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            client.call("a__echo").await["result"]["content"][0]["text"],
            "hi"
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }
    let call = json!({"name": "a__echo", "arguments": {"message": "hi"}});
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let response = s
            .http
            .post(format!("{}/mcp/tools/call", s.base))
            .bearer_auth(&key)
            .json(&call)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let after = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            limited = Some((after, body));
        }
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let (after, body) = limited.unwrap();
    assert_eq!(after, "1");
    assert_eq!(body["error"]["code"], "rate_limited");
    // The operator has no limit; lifting the key's limit lifts it at once.
    let (status, _) = s
        .rest(
            reqwest::Method::PATCH,
            &format!("/mcp/keys/{id}"),
            MASTER,
            Some(json!({"rate_limit": null})),
        )
        .await;
    assert_eq!(status, 200);
    let client = s.mcp("/mcp", &key).open().await;
    for _ in 0..5 {
        assert_eq!(
            client.call("a__echo").await["result"]["content"][0]["text"],
            "hi"
        );
    }
}

#[tokio::test]
async fn the_concurrency_cap_counts_calls_in_flight() {
    let s = setup(Settings::default()).await;
    let (key, _) = s
        .key(json!({"name": "one-at-a-time", "rate_limit": {"max_concurrent": 1}}))
        .await;
    let slow = s.mcp("/mcp", &key).open().await;
    let quick = s.mcp("/mcp", &key).open().await;
    let params = json!({"name": "a__slow", "arguments": {"ms": 800}});
    let running =
        tokio::spawn(async move { slow.request("tools/call", params, Some("a__slow")).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = quick.call("a__echo").await;
    assert_eq!(refused["error"]["code"], -32029, "{refused}");
    assert_eq!(refused["error"]["data"]["limit"], "max_concurrent");
    let (_, done) = running.await.unwrap();
    assert!(done.get("result").is_some(), "{done}");
    assert_eq!(
        quick.call("a__echo").await["result"]["content"][0]["text"],
        "hi",
        "the place was freed"
    );
}

#[tokio::test]
async fn the_typescript_sdk_sees_and_calls_only_what_a_key_grants() {
    let s = setup(Settings::default()).await;
    if mcp_gateway_testkit::npm_bin_or_skip("mcp-server-everything").is_none() {
        return; // the npm peers (and the SDK with them) are not installed
    }
    let (key, _) = s
        .key(json!({"name": "ts", "tools": ["a__echo", "b__b_*"]}))
        .await;
    let expected = json!([
        "a__echo",
        "b__b_add",
        "b__b_add_tool",
        "b__b_echo",
        "b__b_fail",
        "b__b_slow",
        "b__b_whoami"
    ]);
    let script = mcp_gateway_testkit::interop_dir()
        .join("clients")
        .join("ts_scoped.mjs");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(&script)
            .args([&s.base, &key, &expected.to_string(), "a__echo", "a__add"])
            .current_dir(mcp_gateway_testkit::interop_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script finished within 60 s")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("FAIL"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok")).count(),
        7,
        "{stdout}"
    );
}

#[tokio::test]
async fn batches_encodings_and_case_do_not_widen_a_grant() {
    let s = setup(Settings::default()).await;
    let (key, _) = s.key(json!({"name": "narrow", "tools": ["a__echo"]})).await;
    let client = s.mcp("/mcp", &key);
    let unknown = client.call("a__nope").await;
    for name in ["A__ECHO", "a__Echo", "a%5F%5Fecho", "a__add"] {
        let refused = client.call(name).await;
        assert_eq!(
            error_shape(&refused, name),
            error_shape(&unknown, "a__nope"),
            "{name}"
        );
    }
    // A batch is no way around it: batches are not taken at all.
    let call = |id: u64, name: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": name, "arguments": {"message": "hi"},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}})
    };
    let batch = json!([call(1, "a__echo"), call(2, "a__add")]);
    let answer = client.post(&batch, "tools/call", Some("a__echo")).await;
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(!text.contains("result"), "{text}");
    // A server's endpoint under a percent-encoded id is the same server, the same grant.
    let encoded = s.mcp("/mcp/servers/%61/mcp", &key);
    let refused = encoded.call("add").await;
    let missing = encoded.call("nope").await;
    assert_eq!(error_shape(&refused, "add"), error_shape(&missing, "nope"));
    assert_eq!(
        encoded.call("echo").await["result"]["content"][0]["text"],
        "hi"
    );
}

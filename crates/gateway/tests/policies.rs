//! Named policies over real sockets: managed at `/mcp/policies` with the master key
//! (checked when written: CEL that parses, names only `caller`, `server` and `tool`, and
//! gives true or false), named by API keys and JWT grants, and deciding on every face
//! and era which tools a caller sees and calls — by tool annotations, names, server and
//! the caller's claims. A tool a policy hides is answered as one that does not exist; a
//! policy change acts on the next request; a policy a key names cannot be deleted.

mod common;

use common::{
    bearer::{Mcp, error_shape},
    guarded::{Guarded, guarded},
};
use mcp_gateway::{
    access::{
        jwt::JwtAuth,
        policy::{Policy, PolicySource, PolicySpec},
    },
    config::Settings,
};
use mcp_gateway_testkit::idp::{IdpKey, TestIdp};
use serde_json::{Value, json};

const MASTER: &str = "policies-master-key";

/// A gateway with a master key and a fixture upstream `a`: `echo`, `add` and `whoami`
/// are annotated read-only, the others carry no annotations (destructive, by the spec).
async fn setup(settings: Settings) -> Guarded {
    guarded(settings, MASTER, false).await
}

#[tokio::test]
async fn policies_are_managed_with_the_master_key_and_checked_when_written() {
    let s = setup(Settings::default()).await;
    let read_only = json!({"name": "read-only", "effect": "allow",
        "when": "tool.annotations.readOnlyHint", "description": "only tools that change nothing"});
    let (status, created) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/policies",
            MASTER,
            Some(read_only.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "read-only");
    assert_eq!(created["effect"], "allow");
    assert_eq!(created["source"], "api");

    for (body, code, field) in [
        (read_only.clone(), "policy_exists", None),
        (
            json!({"name": "x", "effect": "deny", "when": "tool.name =="}),
            "invalid_field",
            Some("when"),
        ),
        (
            json!({"name": "x", "effect": "deny", "when": "request.path == '/'"}),
            "invalid_field",
            Some("when"),
        ),
        (
            json!({"name": "x", "effect": "deny", "when": "tool.name"}),
            "invalid_field",
            Some("when"),
        ),
        (
            json!({"name": "bad name", "effect": "deny", "when": "true"}),
            "invalid_field",
            Some("name"),
        ),
        (
            json!({"name": "x", "effect": "maybe", "when": "true"}),
            "invalid_field",
            Some("effect"),
        ),
    ] {
        let (status, answer) = s
            .rest(
                reqwest::Method::POST,
                "/mcp/policies",
                MASTER,
                Some(body.clone()),
            )
            .await;
        assert!(status == 409 || status == 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        }
    }
    let (_, list) = s
        .rest(reqwest::Method::GET, "/mcp/policies", MASTER, None)
        .await;
    assert_eq!(list["policies"].as_array().unwrap().len(), 1, "{list}");

    // A key may name only policies that exist; a policy a key names stays.
    let (status, refused) = s
        .rest(
            reqwest::Method::POST,
            "/mcp/keys",
            MASTER,
            Some(json!({"name": "k", "policies": ["nope"]})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "policies");
    let (key, _) = s.key(json!({"name": "k", "policies": ["read-only"]})).await;
    let (status, in_use) = s
        .rest(
            reqwest::Method::DELETE,
            "/mcp/policies/read-only",
            MASTER,
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(in_use["error"]["code"], "policy_in_use");

    // Only the operator manages policies.
    let response = s
        .http
        .get(format!("{}/mcp/policies", s.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // Replace and get; an unknown name is 404.
    let (status, replaced) = s
        .rest(reqwest::Method::PUT, "/mcp/policies/read-only", MASTER, Some(json!({"effect": "allow", "when": "tool.annotations.readOnlyHint && server.id == 'a'"})),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["created_at"], created["created_at"]);
    let (status, _) = s
        .rest(reqwest::Method::GET, "/mcp/policies/nope", MASTER, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn policies_decide_what_a_key_sees_and_calls_on_every_face() {
    let s = setup(Settings::default()).await;
    for body in [
        json!({"name": "read-only", "effect": "allow", "when": "tool.annotations.readOnlyHint"}),
        json!({"name": "no-headers", "effect": "deny", "when": "tool.name == 'whoami'"}),
    ] {
        let (status, answer) = s
            .rest(reqwest::Method::POST, "/mcp/policies", MASTER, Some(body))
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    let (key, _) = s
        .key(json!({"name": "reader", "policies": ["read-only", "no-headers"]}))
        .await;

    for path in ["/mcp", "/mcp/servers/a/mcp"] {
        let prefix = if path == "/mcp" { "a__" } else { "" };
        for session in [false, true] {
            let mut client = Mcp::new(&s.http, &format!("{}{path}", s.base), &key);
            if session {
                client = client.open().await;
            }
            let names = client.tool_names().await;
            assert_eq!(
                names,
                vec![format!("{prefix}add"), format!("{prefix}echo")],
                "{path} session={session}"
            );
            let echo = client.call(&format!("{prefix}echo")).await;
            assert_eq!(echo["result"]["content"][0]["text"], "hi", "{echo}");
            for hidden in ["fail", "whoami"] {
                let refused = client.call(&format!("{prefix}{hidden}")).await;
                let unknown = client.call(&format!("{prefix}no_such_tool")).await;
                assert_eq!(
                    error_shape(&refused, &format!("{prefix}{hidden}")),
                    error_shape(&unknown, &format!("{prefix}no_such_tool")),
                    "{path} {hidden}"
                );
            }
        }
    }
    // The REST catalog and call.
    let response = s
        .http
        .post(format!("{}/mcp/tools/call", s.base))
        .bearer_auth(&key)
        .json(&json!({"name": "a__fail", "arguments": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // A change to a policy acts on the next request.
    let (status, _) = s
        .rest(
            reqwest::Method::PUT,
            "/mcp/policies/no-headers",
            MASTER,
            Some(json!({"effect": "deny", "when": "tool.name == 'add'"})),
        )
        .await;
    assert_eq!(status, 200);
    let client = Mcp::new(&s.http, &format!("{}/mcp", s.base), &key);
    assert_eq!(client.tool_names().await, vec!["a__echo", "a__whoami"]);
    let now_refused = client.call("a__add").await;
    let unknown = client.call("a__no_such_tool").await;
    assert_eq!(
        error_shape(&now_refused, "a__add"),
        error_shape(&unknown, "a__no_such_tool"),
        "decisions made before the change are not reused"
    );
    let now_allowed = client.call("a__whoami").await;
    assert!(now_allowed.get("result").is_some(), "{now_allowed}");
}

#[tokio::test]
async fn jwt_grants_name_policies_that_see_the_claims() {
    let idp = TestIdp::start().await;
    let policies: std::sync::Arc<mcp_gateway::access::policy::PolicyTable> = Default::default();
    let spec: PolicySpec = serde_json::from_value(json!({
        "effect": "deny",
        "when": "'interns' in caller.groups && tool.annotations.destructiveHint",
    }))
    .unwrap();
    let record = spec
        .record("no-destructive-for-interns".into(), None)
        .unwrap();
    policies.put(Policy::new(record, PolicySource::Config).unwrap());
    let config = json!({"issuer": idp.issuer, "jwks_url": idp.jwks_url,
        "grants": [{"policies": ["no-destructive-for-interns"]}]});
    let auth = JwtAuth::new(serde_json::from_value(config).unwrap(), &policies).unwrap();
    let s = setup(Settings {
        jwt: Some(auth.into()),
        policies,
        ..Settings::default()
    })
    .await;
    let token = |groups: Value| {
        let mut claims = idp.claims("ann", &format!("{}/mcp", s.base));
        claims["groups"] = groups;
        idp.sign(IdpKey::Ec, &claims)
    };
    let intern = Mcp::new(
        &s.http,
        &format!("{}/mcp", s.base),
        &token(json!(["interns"])),
    );
    assert_eq!(
        intern.tool_names().await,
        vec!["a__add", "a__echo", "a__whoami"]
    );
    let staff = Mcp::new(
        &s.http,
        &format!("{}/mcp", s.base),
        &token(json!(["staff"])),
    );
    assert_eq!(staff.tool_names().await.len(), 6);

    // Config policies are the file's: the API cannot change or delete them.
    let (status, answer) = s
        .rest(
            reqwest::Method::DELETE,
            "/mcp/policies/no-destructive-for-interns",
            MASTER,
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(answer["error"]["code"], "policy_defined_in_config");
}

//! JWT bearer tokens over real sockets, signed by keys a test identity provider publishes
//! as a JWK Set over HTTP: good tokens (RS256 and ES256) are accepted on every face; an
//! expired one, one not yet valid, one for another audience or issuer, one signed by a
//! key the provider does not publish, `alg: none`, HS256 signed with the public key, a
//! tampered one, one without a subject, one only in the query string are refused with a
//! `WWW-Authenticate` challenge that says why; one without the required scope gets 403
//! `insufficient_scope`. A key rotation is picked up on the first token that names the
//! new key. Claims map to grants (what the token sees and calls), audiences are the
//! endpoint's canonical URI (RFC 8707), each subject has its own rate limit, sessions
//! belong to the subject that opened them, and the caller's token never goes upstream.

mod common;

use std::time::Duration;

use common::{
    bearer::{error_shape, names},
    guarded::{Guarded, guarded},
    *,
};
use mcp_gateway::{access::jwt::JwtAuth, config::Settings};
use mcp_gateway_testkit::idp::{IdpKey, TestIdp, hs256_token, now, unsigned_token};
use serde_json::{Value, json};

const MASTER: &str = "jwt-master-key";

struct Setup {
    idp: TestIdp,
    gw: Guarded,
}

impl std::ops::Deref for Setup {
    type Target = Guarded;
    fn deref(&self) -> &Guarded {
        &self.gw
    }
}

/// A gateway with a master key, JWTs of a test provider (`jwt` is merged into the
/// `gateway.auth.jwt` block), and two fixture upstreams `a` and `b` (tools `b_echo`, …).
async fn setup(jwt: Value) -> Setup {
    let idp = TestIdp::start().await;
    let mut config = json!({"issuer": idp.issuer, "jwks_url": idp.jwks_url});
    config
        .as_object_mut()
        .unwrap()
        .extend(jwt.as_object().unwrap().clone());
    let policies = Default::default();
    let auth = JwtAuth::new(serde_json::from_value(config).unwrap(), &policies).unwrap();
    let settings = Settings {
        jwt: Some(auth.into()),
        policies,
        ..Settings::default()
    };
    let gw = guarded(settings, MASTER, true).await;
    Setup { idp, gw }
}

impl Setup {
    /// A token for `subject`, for the aggregate endpoint, with `extra` claims.
    fn token(&self, key: IdpKey, subject: &str, extra: Value) -> String {
        let mut claims = self.idp.claims(subject, &format!("{}/mcp", self.base));
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.idp.sign(key, &claims)
    }

    /// `GET /mcp/tools` with `token`: status, `WWW-Authenticate`, body.
    async fn tools(&self, token: &str) -> (u16, String, Value) {
        let response = self
            .http
            .get(format!("{}/mcp/tools", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, challenge, response.json().await.unwrap())
    }
}

#[tokio::test]
async fn tokens_are_verified_and_refusals_say_why() {
    let s = setup(json!({"required_scopes": ["mcp"]})).await;
    let scoped = json!({"scope": "mcp other"});
    for key in [IdpKey::Rsa, IdpKey::Ec] {
        let (status, _, body) = s.tools(&s.token(key, "alice", scoped.clone())).await;
        assert_eq!(status, 200, "{key:?}: {body}");
    }

    let good = s.token(IdpKey::Ec, "alice", scoped.clone());
    let [header, payload, signature]: [&str; 3] =
        good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let mut forged_claims = s.idp.claims("mallory", &format!("{}/mcp", s.base));
    forged_claims["scope"] = json!("mcp");
    let forged_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_claims.to_string())
    };
    let claims = |extra: Value| {
        let mut claims = s.idp.claims("alice", &format!("{}/mcp", s.base));
        claims["scope"] = json!("mcp");
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            s.idp
                .sign(IdpKey::Rsa, &claims(json!({"exp": now() - 120}))),
            "expired",
        ),
        (
            "not yet valid",
            s.idp
                .sign(IdpKey::Rsa, &claims(json!({"nbf": now() + 300}))),
            "not valid yet",
        ),
        (
            "another audience",
            s.idp
                .sign(IdpKey::Rsa, &claims(json!({"aud": "http://elsewhere/mcp"}))),
            "audience",
        ),
        (
            "another issuer",
            s.idp
                .sign(IdpKey::Rsa, &claims(json!({"iss": "http://evil.example"}))),
            "issuer",
        ),
        (
            "no subject",
            s.idp.sign(IdpKey::Ec, &{
                let mut c = claims(json!({}));
                c.as_object_mut().unwrap().remove("sub");
                c
            }),
            "\\\"sub\\\"",
        ),
        (
            "a key the provider does not publish",
            s.idp.sign(IdpKey::EcRotated, &claims(json!({}))),
            "signing key",
        ),
        (
            "alg none",
            unsigned_token(&claims(json!({}))),
            "not a well-formed JWT",
        ),
        (
            "HS256 signed with the public key",
            hs256_token(
                IdpKey::Rsa.public_text().as_bytes(),
                IdpKey::Rsa.kid(),
                &claims(json!({})),
            ),
            "algorithm",
        ),
        (
            "a payload swapped under a signature",
            format!("{header}.{forged_payload}.{signature}"),
            "signature",
        ),
        (
            "a truncated signature",
            format!("{header}.{payload}.{}", &signature[..10]),
            "",
        ),
    ];
    for (what, token, why) in cases {
        let (status, challenge, body) = s.tools(&token).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#)
                && challenge.contains(why)
                && challenge.contains(&format!(
                    r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
                    s.base
                )),
            "{what}: {challenge}"
        );
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
    }

    // Without the required scope: 403, and the scope to ask for.
    let (status, challenge, body) = s.tools(&s.token(IdpKey::Rsa, "alice", json!({}))).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.contains(r#"scope="mcp""#),
        "{challenge}"
    );

    // No token: the challenge points at the metadata, which names the provider.
    let response = s.http.post(format!("{}/mcp", s.base)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        format!(
            r#"Bearer scope="mcp", resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#,
            s.base
        )
    );
    // A token in the query string is no token.
    let response = s
        .http
        .get(format!("{}/mcp/tools?access_token={good}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // The provider's keys were fetched at start and on the unknown key, not per token.
    assert!(s.idp.fetches() <= 2, "{} fetches", s.idp.fetches());
}

#[tokio::test]
async fn protected_resource_metadata_names_each_endpoint_and_the_provider() {
    let s = setup(
        json!({"required_scopes": ["mcp"], "grants": [{"scopes": ["tools:a"], "servers": ["a"]}]}),
    )
    .await;
    for suffix in ["", "/mcp", "/mcp/servers/a/mcp", "/sse"] {
        let url = format!("{}/.well-known/oauth-protected-resource{suffix}", s.base);
        let metadata: Value = s.http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(metadata["resource"], format!("{}{suffix}", s.base), "{url}");
        assert_eq!(metadata["authorization_servers"], json!([s.idp.issuer]));
        assert_eq!(metadata["scopes_supported"], json!(["mcp", "tools:a"]));
        assert_eq!(metadata["bearer_methods_supported"], json!(["header"]));
    }
    let url = format!("{}/.well-known/oauth-protected-resource/elsewhere", s.base);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), 404);

    // A token is for the endpoint it names (or the gateway as a whole).
    let for_a = s.idp.sign(IdpKey::Ec, &{
        let mut c = s
            .idp
            .claims("alice", &format!("{}/mcp/servers/a/mcp", s.base));
        c["scope"] = json!("mcp tools:a");
        c
    });
    let a = s.mcp("/mcp/servers/a/mcp", &for_a);
    assert!(a.tool_names().await.contains(&"echo".to_owned()));
    let (status, _) = s
        .mcp("/mcp", &for_a)
        .request("tools/list", json!({}), None)
        .await;
    assert_eq!(status, 401, "a token for server a is not one for /mcp");
    let whole = s.idp.sign(IdpKey::Ec, &{
        let mut c = s.idp.claims("alice", &s.base);
        c["scope"] = json!("mcp tools:a");
        c
    });
    assert_eq!(
        s.mcp("/mcp", &whole).tool_names().await,
        vec![
            "a__add",
            "a__add_tool",
            "a__echo",
            "a__fail",
            "a__slow",
            "a__whoami"
        ]
    );
}

#[tokio::test]
async fn claims_map_to_what_a_token_sees_and_calls() {
    let s = setup(json!({
        "grants": [
            {"scopes": ["echo"], "tools": ["a__echo"]},
            {"groups": ["b-team"], "servers": ["b"]},
            {"subjects": ["root"]},
        ],
    }))
    .await;
    let echo_only = s.token(IdpKey::Rsa, "ann", json!({"scope": "echo"}));
    let both = s.token(
        IdpKey::Ec,
        "ben",
        json!({"scope": "echo", "groups": ["b-team"]}),
    );
    let root = s.token(IdpKey::Ec, "root", json!({}));
    let nobody = s.token(IdpKey::Ec, "nobody", json!({"scope": "other"}));

    for session in [false, true] {
        let open = |token: &str| {
            let client = s.mcp("/mcp", token);
            async move { if session { client.open().await } else { client } }
        };
        let ann = open(&echo_only).await;
        assert_eq!(ann.tool_names().await, vec!["a__echo"]);
        assert_eq!(
            ann.call("a__echo").await["result"]["content"][0]["text"],
            "hi"
        );
        let refused = ann.call("b__b_echo").await;
        let unknown = ann.call("b__nothing").await;
        assert_eq!(
            error_shape(&refused, "b__b_echo"),
            error_shape(&unknown, "b__nothing")
        );
        let ben = open(&both).await;
        let tools = ben.tool_names().await;
        assert!(
            tools.contains(&"a__echo".to_owned())
                && tools.contains(&"b__b_echo".to_owned())
                && !tools.contains(&"a__add".to_owned()),
            "{tools:?}"
        );
        let all = open(&root).await.tool_names().await;
        assert!(all.contains(&"a__add".to_owned()) && all.contains(&"b__b_add".to_owned()));
        assert!(open(&nobody).await.tool_names().await.is_empty());
    }
    // The REST catalog too.
    let (status, _, tools) = s.tools(&echo_only).await;
    assert_eq!(status, 200);
    assert_eq!(names(&tools["tools"]), vec!["a__echo"]);
}

#[tokio::test]
async fn subjects_have_their_own_limits_and_sessions_and_tokens_stay_here() {
    let s = setup(json!({"rate_limit": {"requests_per_minute": 60, "burst": 2}})).await;
    let alice_1 = s.token(IdpKey::Rsa, "alice", json!({}));
    let alice_2 = s.token(IdpKey::Ec, "alice", json!({"jti": "second"}));
    let bob = s.token(IdpKey::Ec, "bob", json!({}));

    // Two tokens of one subject share its bucket; another subject has its own.
    assert!(
        s.mcp("/mcp", &alice_1)
            .call("a__echo")
            .await
            .get("result")
            .is_some()
    );
    assert!(
        s.mcp("/mcp", &alice_2)
            .call("a__echo")
            .await
            .get("result")
            .is_some()
    );
    let limited = s.mcp("/mcp", &alice_1).call("a__echo").await;
    assert_eq!(limited["error"]["code"], -32029, "{limited}");
    assert!(
        s.mcp("/mcp", &bob)
            .call("a__echo")
            .await
            .get("result")
            .is_some()
    );

    // A session belongs to its subject, whichever of its tokens comes next.
    let mut session = s.mcp("/mcp", &bob).open().await;
    session.key = bob.clone();
    let (status, _) = session.request("tools/list", json!({}), None).await;
    assert_eq!(status, 200);
    session.key = alice_2.clone();
    let (status, _) = session.request("tools/list", json!({}), None).await;
    assert_eq!(status, 404, "alice cannot use bob's session");
    session.key = s.token(IdpKey::Rsa, "bob", json!({"jti": "renewed"}));
    let (status, _) = session.request("tools/list", json!({}), None).await;
    assert_eq!(status, 200, "bob's renewed token can");

    // The caller's token is not what reaches the upstream.
    let seen = session.call("a__whoami").await;
    let headers = seen["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        !headers.contains(&session.key) && !headers.contains("authorization"),
        "{headers}"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_first_names_it() {
    let s = setup(json!({})).await;
    let rotated = s.token(IdpKey::EcRotated, "alice", json!({}));
    assert_eq!(s.tools(&rotated).await.0, 401, "not published yet");
    s.idp.publish(IdpKey::EcRotated);
    // Refetches are at most one per few seconds, however many tokens name unknown keys.
    eventually(
        Duration::from_secs(20),
        "the rotated key is accepted",
        || async { s.tools(&rotated).await.0 == 200 },
    )
    .await;
    assert!(s.idp.fetches() <= 4, "{} fetches", s.idp.fetches());
    // Old keys still work.
    assert_eq!(
        s.tools(&s.token(IdpKey::Rsa, "alice", json!({}))).await.0,
        200
    );
}

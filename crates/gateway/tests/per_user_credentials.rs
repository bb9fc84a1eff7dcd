//! Per-user upstream credentials over real sockets: on a server marked
//! `credentials: per_user`, each API key stores its own credential, and its requests reach
//! the upstream with it — never with another caller's, under concurrency, whichever face
//! and era they take — while the operator's requests (and discovery) use the record's
//! own. A caller without a credential is told how to add one; a credential is never shown
//! back, and deleting it takes effect on the next request.

mod common;

use common::{bearer::Mcp, guarded::guarded, *};
use mcp_gateway::config::Settings;
use serde_json::{Value, json};

const MASTER: &str = "per-user-master-key";

/// The `authorization` header the fixture's upstream saw for a `whoami` call's answer.
fn authorization(answer: &Value) -> String {
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a whoami result: {answer}"));
    let headers: Value = serde_json::from_str(text).unwrap();
    headers["authorization"].as_str().unwrap_or("-").to_owned()
}

#[tokio::test]
async fn each_caller_reaches_the_upstream_with_its_own_credential() {
    let gw = guarded(Settings::default(), MASTER, false).await;
    let record = record(json!({"server_id": "a2", "url": gw.fixtures[0].url(),
        "auth_type": "bearer_token", "auth_value": "service-token", "credentials": "per_user"}));
    gw.running.gateway.register(record).await.unwrap();
    wait_healthy(&gw.running.gateway, "a2").await;
    let (base, http) = (&gw.base, &gw.http);
    let mut keys = Vec::new();
    for name in ["alice", "bob", "carol"] {
        keys.push(gw.key(json!({"name": name})).await.0);
    }
    let (alice, bob, carol) = (&keys[0], &keys[1], &keys[2]);
    let credentials = "/mcp/servers/a2/credentials";
    for (key, token) in [(alice, "alice-token"), (bob, "bob-token")] {
        let (status, stored) = gw
            .rest(
                reqwest::Method::PUT,
                credentials,
                key,
                Some(json!({"auth_value": token})),
            )
            .await;
        assert_eq!(status, 200, "{stored}");
        assert!(!stored.to_string().contains(token), "never shown back");
    }
    let (status, state) = gw
        .rest(reqwest::Method::GET, credentials, alice, None)
        .await;
    assert_eq!((status, state["stored"].clone()), (200, json!(true)));
    assert!(!state.to_string().contains("alice-token"));
    let (_, state) = gw
        .rest(reqwest::Method::GET, credentials, carol, None)
        .await;
    assert_eq!(state["stored"], false);

    // Refused: the master key (the operator uses the record's), an unknown server, a
    // body with something else.
    for (path, key, body, status, code) in [
        (
            credentials,
            MASTER,
            json!({"auth_value": "x"}),
            422,
            "invalid_field",
        ),
        (
            "/mcp/servers/nope/credentials",
            alice.as_str(),
            json!({"auth_value": "x"}),
            404,
            "server_not_found",
        ),
        (
            credentials,
            alice.as_str(),
            json!({"auth_value": "x", "user": "y"}),
            422,
            "invalid_field",
        ),
    ] {
        let (got, answer) = gw.rest(reqwest::Method::PUT, path, key, Some(body)).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {answer}"
        );
    }

    // Many calls at once, on every face: each reaches the upstream with its own.
    let mut calls = tokio::task::JoinSet::new();
    for round in 0..4 {
        for (key, token) in [(alice, "alice-token"), (bob, "bob-token")] {
            let (http, base, key) = (http.clone(), base.to_owned(), key.clone());
            let want = format!("Bearer {token}");
            calls.spawn(async move {
                let stateless = Mcp::new(&http, &format!("{base}/mcp"), &key);
                assert_eq!(
                    authorization(&stateless.call("a2__whoami").await),
                    want,
                    "{round}"
                );
                let session = Mcp::new(&http, &format!("{base}/mcp"), &key).open().await;
                assert_eq!(authorization(&session.call("a2__whoami").await), want);
                let own = Mcp::new(&http, &format!("{base}/mcp/servers/a2/mcp"), &key);
                assert_eq!(authorization(&own.call("whoami").await), want);
                let rest: Value = http
                    .post(format!("{base}/mcp/tools/call"))
                    .bearer_auth(&key)
                    .json(&json!({"name": "a2__whoami", "arguments": {}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let rest = json!({"result": rest});
                assert_eq!(authorization(&rest), want);
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }

    // The operator's requests carry the record's credential.
    let operator = Mcp::new(http, &format!("{base}/mcp"), MASTER);
    assert_eq!(
        authorization(&operator.call("a2__whoami").await),
        "Bearer service-token"
    );

    // A caller without one is told how to add it.
    let refused = Mcp::new(http, &format!("{base}/mcp"), carol)
        .call("a2__whoami")
        .await;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("PUT /mcp/servers/a2/credentials"),
        "{refused}"
    );
    assert_eq!(refused["error"]["data"]["reason"], "credential_required");
    let (status, rest) = gw
        .rest(
            reqwest::Method::POST,
            "/mcp/tools/call",
            carol,
            Some(json!({"name": "a2__whoami", "arguments": {}})),
        )
        .await;
    assert_eq!(
        (status, rest["error"]["code"].as_str()),
        (403, Some("credential_required"))
    );

    // Deleted: the next request has none.
    let (status, _) = gw
        .rest(reqwest::Method::DELETE, credentials, alice, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = gw
        .rest(reqwest::Method::DELETE, credentials, alice, None)
        .await;
    assert_eq!(status, 404);
    let after = Mcp::new(http, &format!("{base}/mcp"), alice)
        .call("a2__whoami")
        .await;
    assert_eq!(
        after["error"]["data"]["reason"], "credential_required",
        "{after}"
    );
}

#[tokio::test]
async fn a_jwt_callers_token_is_exchanged_for_the_upstream_and_never_forwarded() {
    use mcp_gateway::access::jwt::JwtAuth;
    use mcp_gateway_testkit::idp::{IdpKey, STS_CLIENT_ID, STS_CLIENT_SECRET, TestIdp};
    let idp = TestIdp::start().await;
    let policies = Default::default();
    let config = json!({"issuer": idp.issuer, "jwks_url": idp.jwks_url});
    let auth = JwtAuth::new(serde_json::from_value(config).unwrap(), &policies).unwrap();
    let settings = Settings {
        jwt: Some(auth.into()),
        policies,
        ..Settings::default()
    };
    let gw = guarded(settings, MASTER, false).await;
    let record = record(json!({"server_id": "x", "url": gw.fixtures[0].url(),
        "auth_type": "token_exchange",
        "token_exchange": {"token_endpoint": idp.token_endpoint(), "client_id": STS_CLIENT_ID,
            "client_secret": STS_CLIENT_SECRET, "audience": "fixture-api"}}));
    gw.running.gateway.register(record).await.unwrap();
    wait_healthy(&gw.running.gateway, "x").await;
    let (base, http) = (&gw.base, &gw.http);
    let token = |subject: &str| {
        let claims = idp.claims(subject, &format!("{base}/mcp"));
        idp.sign(IdpKey::Ec, &claims)
    };

    let mut calls = tokio::task::JoinSet::new();
    for round in 0..3 {
        for subject in ["alice", "bob"] {
            let (http, url, jwt) = (http.clone(), format!("{base}/mcp"), token(subject));
            calls.spawn(async move {
                let stateless = Mcp::new(&http, &url, &jwt);
                let seen = authorization(&stateless.call("x__whoami").await);
                assert!(
                    seen.starts_with(&format!("Bearer xchg-{subject}-")),
                    "{round}: {seen}"
                );
                let session = Mcp::new(&http, &url, &jwt).open().await;
                let answer = session.call("x__whoami").await;
                assert!(
                    !answer.to_string().contains(&jwt),
                    "the caller's token went upstream"
                );
                assert!(authorization(&answer).starts_with(&format!("Bearer xchg-{subject}-")));
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    // One exchange per caller (kept until it expires), for the configured audience.
    let mut exchanges = idp.exchanges();
    exchanges.sort();
    assert_eq!(
        exchanges,
        [
            ("alice".to_owned(), "fixture-api".to_owned()),
            ("bob".to_owned(), "fixture-api".to_owned())
        ]
    );

    // An API key has no token to exchange; the operator's requests carry the record's
    // credential (none here).
    let (key, _) = gw.key(json!({"name": "k"})).await;
    let refused = gw.mcp("/mcp", &key).call("x__whoami").await;
    assert_eq!(
        refused["error"]["data"]["reason"], "token_required",
        "{refused}"
    );
    let operator = Mcp::new(http, &format!("{base}/mcp"), MASTER);
    assert_eq!(authorization(&operator.call("x__whoami").await), "-");

    // The record shows the exchange without its client secret.
    let view: Value = http
        .get(format!("{base}/mcp/servers/x"))
        .bearer_auth(MASTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["token_exchange"]["client_secret_configured"], true,
        "{view}"
    );
    assert!(!view.to_string().contains(STS_CLIENT_SECRET));
}

//! A test identity provider: signs JWTs with fixed test keys (`idp_keys/`, made for these
//! tests and used nowhere else) and publishes their JWK Set over HTTP on loopback,
//! counting how often it is fetched. What is published can change (a key rotation).
//!
//! It is also a security token service (OAuth 2.0 Token Exchange, RFC 8693) at
//! `POST /token`: for client [`STS_CLIENT_ID`] / [`STS_CLIENT_SECRET`] (HTTP Basic), it
//! verifies the `subject_token`'s signature against its own keys and answers a token
//! `xchg-<sub>-<n>` for the `audience` asked, valid for five minutes.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Json, Router, extract::State, routing::get};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

/// A signing key of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpKey {
    /// RSA 2048, RS256, kid `rsa-1`.
    Rsa,
    /// P-256, ES256, kid `ec-1`.
    Ec,
    /// Another P-256 key, kid `ec-2`: not published until [`TestIdp::publish`].
    EcRotated,
}

impl IdpKey {
    pub fn kid(self) -> &'static str {
        match self {
            IdpKey::Rsa => "rsa-1",
            IdpKey::Ec => "ec-1",
            IdpKey::EcRotated => "ec-2",
        }
    }

    pub fn alg(self) -> Algorithm {
        match self {
            IdpKey::Rsa => Algorithm::RS256,
            IdpKey::Ec | IdpKey::EcRotated => Algorithm::ES256,
        }
    }

    fn pem(self) -> &'static [u8] {
        match self {
            IdpKey::Rsa => include_bytes!("idp_keys/rsa.pem"),
            IdpKey::Ec => include_bytes!("idp_keys/ec.pem"),
            IdpKey::EcRotated => include_bytes!("idp_keys/ec-rotated.pem"),
        }
    }

    pub fn encoding_key(self) -> EncodingKey {
        match self {
            IdpKey::Rsa => EncodingKey::from_rsa_pem(self.pem()),
            IdpKey::Ec | IdpKey::EcRotated => EncodingKey::from_ec_pem(self.pem()),
        }
        .expect("a test key")
    }

    /// The public key as a JWK (`kid`, `alg`, `use: sig`).
    pub fn jwk(self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.encoding_key(), self.alg()).expect("a public key");
        let mut jwk = serde_json::to_value(jwk).expect("JSON");
        jwk["kid"] = json!(self.kid());
        jwk["use"] = json!("sig");
        jwk
    }

    /// The public key's modulus or point, PEM-free: the bytes an HS256 forger would use
    /// as the "secret" (the JWK's JSON text).
    pub fn public_text(self) -> String {
        self.jwk().to_string()
    }
}

pub const STS_CLIENT_ID: &str = "gateway";
pub const STS_CLIENT_SECRET: &str = "gateway-sts-secret";

struct Published {
    keys: Mutex<Vec<IdpKey>>,
    fetches: AtomicUsize,
    /// Token exchanges made: (subject, audience).
    exchanges: Mutex<Vec<(String, String)>>,
}

/// The provider, serving `GET /jwks.json` until dropped.
pub struct TestIdp {
    pub issuer: String,
    pub jwks_url: String,
    published: Arc<Published>,
    task: JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIdp {
    /// Starts a provider publishing [`IdpKey::Rsa`] and [`IdpKey::Ec`].
    pub async fn start() -> Self {
        let published = Arc::new(Published {
            keys: Mutex::new(vec![IdpKey::Rsa, IdpKey::Ec]),
            fetches: AtomicUsize::new(0),
            exchanges: Mutex::default(),
        });
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/token", axum::routing::post(token_exchange))
            .with_state(published.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer: format!("http://{addr}/realm"),
            jwks_url: format!("http://{addr}/jwks.json"),
            published,
            task,
        }
    }

    /// Publishes `key` too (a rotation).
    pub fn publish(&self, key: IdpKey) {
        self.published.keys.lock().unwrap().push(key);
    }

    /// The token endpoint (RFC 8693).
    pub fn token_endpoint(&self) -> String {
        self.jwks_url.replace("/jwks.json", "/token")
    }

    /// The exchanges made so far: (subject, audience).
    pub fn exchanges(&self) -> Vec<(String, String)> {
        self.published.exchanges.lock().unwrap().clone()
    }

    /// How often the JWK Set was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// Claims of a token for `subject`, issued by this provider for `audience`, valid for
    /// ten minutes.
    pub fn claims(&self, subject: &str, audience: &str) -> Value {
        let now = now();
        json!({"iss": self.issuer, "sub": subject, "aud": audience, "iat": now, "exp": now + 600})
    }

    /// A token of `claims` signed with `key` (its kid in the header).
    pub fn sign(&self, key: IdpKey, claims: &Value) -> String {
        let mut header = Header::new(key.alg());
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding_key()).expect("signed")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A token with `alg: none` and no signature.
pub fn unsigned_token(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// A token signed with HMAC-SHA256 under `secret`, naming `kid`.
pub fn hs256_token(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret).expect("a secret"),
    )
    .expect("signed")
}

async fn jwks(State(published): State<Arc<Published>>) -> Json<Value> {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Value> = published
        .keys
        .lock()
        .unwrap()
        .iter()
        .map(|k| k.jwk())
        .collect();
    Json(json!({ "keys": keys }))
}

/// `POST /token`: RFC 8693 token exchange, answering as RFC 6749 §5 says.
async fn token_exchange(
    State(published): State<Arc<Published>>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> (axum::http::StatusCode, Json<Value>) {
    use axum::http::StatusCode;
    use base64::Engine;
    let refuse = |status, error: &str| (status, Json(json!({ "error": error })));
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{STS_CLIENT_ID}:{STS_CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:token-exchange")
    {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(subject_token) = form.get("subject_token") else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request");
    };
    // The subject token must be one of ours: its signature checked with our key.
    let keys: Vec<IdpKey> = published.keys.lock().unwrap().clone();
    let subject = jsonwebtoken::decode_header(subject_token)
        .ok()
        .and_then(|header| {
            let key = keys
                .iter()
                .find(|k| Some(k.kid()) == header.kid.as_deref())?;
            let jwk: Jwk = serde_json::from_value(key.jwk()).ok()?;
            let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
            let mut validation = jsonwebtoken::Validation::new(key.alg());
            validation.validate_aud = false;
            jsonwebtoken::decode::<Value>(subject_token, &decoding, &validation).ok()
        })
        .and_then(|data| data.claims["sub"].as_str().map(str::to_owned));
    let Some(subject) = subject else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let audience = form.get("audience").cloned().unwrap_or_default();
    let n = {
        let mut exchanges = published.exchanges.lock().unwrap();
        exchanges.push((subject.clone(), audience));
        exchanges.len()
    };
    (
        StatusCode::OK,
        Json(json!({
            "access_token": format!("xchg-{subject}-{n}"),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 300,
        })),
    )
}

//! Authentication: who a request comes from ([`Identity`]), from its
//! `Authorization: Bearer <token>` header (and nowhere else: not a query parameter, not
//! a cookie): the master key (compared in constant time), an API key in force (found by
//! the SHA-256 of the token), or a JWT of the configured identity provider
//! ([`crate::access::jwt`]). Without a configured master key or JWTs, a request that
//! presents no token is the operator as `loopback` (the gateway then binds loopback only,
//! and the Host rule keeps browsers on other sites out); a token that is presented must
//! be valid either way. The caller's token is never sent upstream: upstream requests
//! carry only the credentials of the server's record.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, Uri, header},
    middleware::Next,
    response::Response,
};

use super::{ApiError, resource};
use crate::{
    access::{Identity, jwt::TokenError},
    admin::audit,
    gateway::Gateway,
    secret::keys_match,
};

/// Marks the request with who authenticated (its [`Identity`], for the routes, the relay
/// and the audit log), or answers 401 (audited when the request was an admin change).
pub(crate) async fn require_key(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let who = match authenticate(&gateway, request.uri(), request.headers()).await {
        Ok(who) => who,
        Err(error) => {
            audit::refused(&request, &error);
            return Err(error);
        }
    };
    request.extensions_mut().insert(who);
    Ok(next.run(request).await)
}

/// Lets only the operator through (admin routes: servers and keys); an API key gets 403.
pub(crate) async fn require_operator(request: Request, next: Next) -> Result<Response, ApiError> {
    let operator = request
        .extensions()
        .get::<Identity>()
        .is_some_and(Identity::is_operator);
    if !operator {
        let error = ApiError::operator_only();
        audit::refused(&request, &error);
        return Err(error);
    }
    Ok(next.run(request).await)
}

/// Lets through who may read `/metrics`: the scrape token (`gateway.metrics.
/// scrape_token`, good for nothing else), or the operator — anyone on a gateway without
/// a master key or JWTs, else the master key.
pub(crate) async fn require_scraper(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let scraper = match (&gateway.settings.metrics.scrape_token, presented) {
        (Some(token), Some(presented)) => keys_match(presented, token),
        _ => false,
    };
    if !scraper {
        let who = authenticate(&gateway, request.uri(), request.headers()).await?;
        if !who.is_operator() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "/metrics needs the master key or the metrics scrape token",
            ));
        }
    }
    Ok(next.run(request).await)
}

/// Who the caller is, or 401: a missing token on a gateway with a master key or JWTs
/// configured, or a token that is neither the master key, nor an API key in force
/// (unknown, deleted, expired), nor a valid JWT of the configured provider issued for
/// this endpoint. A JWT without the required scopes gets 403 `insufficient_scope`.
pub(crate) async fn authenticate(
    gateway: &Gateway,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Identity, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(bearer_token));
    let settings = &gateway.settings;
    let token = match presented {
        None if settings.master_key.is_none() && settings.jwt.is_none() => {
            return Ok(Identity::Loopback);
        }
        None => return Err(refuse(gateway, uri, headers, Refusal::NoToken)),
        Some(None) => {
            let why = "the Authorization header is not `Bearer <token>`";
            return Err(refuse(gateway, uri, headers, Refusal::BadToken(why.into())));
        }
        Some(Some(token)) => token,
    };
    if settings
        .master_key
        .as_ref()
        .is_some_and(|key| keys_match(token, key))
    {
        return Ok(Identity::Master);
    }
    if let Some(key) = gateway.keys.find(token) {
        return Ok(Identity::Key(key));
    }
    let Some(jwt) = settings.jwt.as_deref().filter(|_| token.contains('.')) else {
        return Err(ApiError::unauthorized());
    };
    let bad = |e: TokenError| refuse(gateway, uri, headers, Refusal::BadToken(e.to_string()));
    let caller = jwt.verify(token).await.map_err(bad)?;
    let base = resource::base_url(settings, headers);
    let [endpoint, root] = resource::audiences_for(&base, uri.path());
    if !jwt.accepts_audience(&caller, &[&endpoint, &root]) {
        return Err(bad(TokenError::Audience));
    }
    if let Some(scopes) = jwt.missing_scopes(&caller) {
        let scopes = scopes.join(" ");
        return Err(refuse(gateway, uri, headers, Refusal::Scope(scopes)));
    }
    Ok(Identity::Token(caller))
}

enum Refusal {
    NoToken,
    BadToken(String),
    /// The scopes the token lacks (space-separated).
    Scope(String),
}

/// The refusal, with the `WWW-Authenticate` challenge the MCP authorization spec asks
/// for when JWTs are configured: where the resource's metadata is, the scopes to ask
/// for, and why a token was refused (RFC 6750).
fn refuse(gateway: &Gateway, uri: &Uri, headers: &HeaderMap, refusal: Refusal) -> ApiError {
    let Some(jwt) = gateway.settings.jwt.as_deref() else {
        return ApiError::unauthorized();
    };
    let mut params = Vec::new();
    let mut error = match &refusal {
        Refusal::NoToken => ApiError::unauthorized(),
        Refusal::BadToken(why) => {
            params.push(r#"error="invalid_token""#.to_owned());
            params.push(format!(r#"error_description="{}""#, quoted(why)));
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why.clone())
        }
        Refusal::Scope(scopes) => {
            params.push(r#"error="insufficient_scope""#.to_owned());
            ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks the scopes {scopes:?}"),
            )
        }
    };
    let scopes = jwt.required_scopes().join(" ");
    if !scopes.is_empty() {
        params.push(format!(r#"scope="{}""#, quoted(&scopes)));
    }
    let base = resource::base_url(&gateway.settings, headers);
    let metadata = resource::metadata_url(&base, uri.path());
    params.push(format!(r#"resource_metadata="{}""#, quoted(&metadata)));
    error.challenge = Some(format!("Bearer {}", params.join(", ")));
    error
}

/// `value` inside a quoted-string of an HTTP header.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The identity `require_key` established (a route without it refuses with 401).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

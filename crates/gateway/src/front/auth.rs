//! Authentication: who a request comes from ([`Identity`]), from its
//! `Authorization: Bearer <token>` header: the master key (compared in constant time), or
//! an API key in force (found by the SHA-256 of the token). Without a configured master
//! key, a request that presents no token is the operator as `loopback` (the gateway then
//! binds loopback only, and the Host rule keeps browsers on other sites out); a token
//! that is presented must be valid either way.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};

use super::ApiError;
use crate::{access::Identity, admin::audit, gateway::Gateway, secret::keys_match};

/// Marks the request with who authenticated (its [`Identity`], for the routes, the relay
/// and the audit log), or answers 401 (audited when the request was an admin change).
pub(crate) async fn require_key(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let who = match authenticate(&gateway, request.headers()) {
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

/// Who the caller is, or 401: a missing token on a gateway with a master key, or a token
/// that is neither the master key nor an API key in force (unknown, deleted, expired).
pub(crate) fn authenticate(gateway: &Gateway, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().ok().and_then(bearer_token));
    let master = gateway.settings.master_key.as_ref();
    match (presented, master) {
        (None, None) => Ok(Identity::Loopback),
        (None, Some(_)) | (Some(None), _) => Err(ApiError::unauthorized()),
        (Some(Some(token)), master) => {
            if master.is_some_and(|key| keys_match(token, key)) {
                return Ok(Identity::Master);
            }
            match gateway.keys.find(token) {
                Some(key) => Ok(Identity::Key(key)),
                None => Err(ApiError::unauthorized()),
            }
        }
    }
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

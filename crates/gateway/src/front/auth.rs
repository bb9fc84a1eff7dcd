//! Authentication: `Authorization: Bearer <master_key>`, compared in constant time. Without
//! a configured key every caller is let in as `loopback` (the gateway then binds loopback
//! only, and the Host rule keeps browsers on other sites out).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::Response,
};

use super::ApiError;
use crate::{admin::audit, gateway::Gateway, secret::keys_match};

/// Marks the request with who authenticated (`master_key` / `loopback`) for the audit log,
/// or answers 401 (audited when the request was an admin change).
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
    request.extensions_mut().insert(audit::Authenticated(who));
    Ok(next.run(request).await)
}

/// Who the caller is (`master_key`, or `loopback` on a keyless gateway), or 401.
pub(crate) fn authenticate(
    gateway: &Gateway,
    headers: &HeaderMap,
) -> Result<&'static str, ApiError> {
    let Some(key) = &gateway.settings.master_key else {
        return Ok("loopback");
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    if presented.is_some_and(|p| keys_match(p, key)) {
        Ok("master_key")
    } else {
        Err(ApiError::unauthorized())
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

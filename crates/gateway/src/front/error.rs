//! The error answer of every route (REST, MCP endpoints, legacy SSE, the front door's own
//! refusals): JSON with a stable code, a message and, for bad input, the offending field.
//! This is the one place gateway errors become HTTP statuses.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{gateway::GatewayError, store::StoreError, upstream::UpstreamError};

/// An error answer: `{"error": {"code": …, "message": …, "field": …}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, sent as `Retry-After` (429).
    pub retry_after: Option<u64>,
    /// The `WWW-Authenticate` challenge of a 401 or 403 (a 401 without one says `Bearer`).
    pub challenge: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            challenge: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs Authorization: Bearer <master_key> (or an API key in force)",
        )
    }

    /// An API key on a route only the operator may use.
    pub fn operator_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route needs the master key; API keys cannot change the gateway",
        )
    }

    pub fn disabled() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "mcp_gateway_disabled",
            "the MCP gateway is disabled (MCP_GATEWAY_ENABLED=false)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        let challenge = match self.challenge.map(HeaderValue::try_from) {
            Some(Ok(challenge)) => Some(challenge),
            _ if self.status == StatusCode::UNAUTHORIZED => {
                Some(HeaderValue::from_static("Bearer"))
            }
            _ => None,
        };
        if let Some(challenge) = challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let message = e.to_string();
        match e {
            GatewayError::Invalid(field) => {
                let (status, code) = if field.forbidden {
                    (StatusCode::FORBIDDEN, "forbidden")
                } else {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
                };
                Self::new(status, code, message).with_field(field.field)
            }
            GatewayError::Duplicate(_) => Self::new(StatusCode::CONFLICT, "server_exists", message),
            GatewayError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "server_not_found", message)
            }
            GatewayError::ConfigDefined(_) => {
                Self::new(StatusCode::CONFLICT, "server_defined_in_config", message)
            }
            GatewayError::RateLimited(limited) => {
                let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
                Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .with_retry_after(seconds)
            }
            GatewayError::KeyNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "key_not_found", message)
            }
            GatewayError::KeyConfigDefined(_) => {
                Self::new(StatusCode::CONFLICT, "key_defined_in_config", message)
            }
            GatewayError::PolicyNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "policy_not_found", message)
            }
            GatewayError::PolicyExists(_) => {
                Self::new(StatusCode::CONFLICT, "policy_exists", message)
            }
            GatewayError::PolicyConfigDefined(_) => {
                Self::new(StatusCode::CONFLICT, "policy_defined_in_config", message)
            }
            GatewayError::PolicyInUse { .. } => {
                Self::new(StatusCode::CONFLICT, "policy_in_use", message)
            }
            GatewayError::CredentialRequired(_) => {
                Self::new(StatusCode::FORBIDDEN, "credential_required", message)
            }
            GatewayError::CredentialNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "credential_not_found", message)
            }
            GatewayError::ToolNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "tool_not_found", message)
            }
            GatewayError::ToolHeld { .. } => Self::new(StatusCode::CONFLICT, "tool_held", message),
            GatewayError::ToolNotHeld { .. } => {
                Self::new(StatusCode::NOT_FOUND, "tool_not_held", message)
            }
            GatewayError::Upstream(_, UpstreamError::Unavailable) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
                message,
            ),
            GatewayError::Upstream(_, UpstreamError::Timeout(_)) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", message)
            }
            GatewayError::Upstream(..) => {
                Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
            }
            GatewayError::Store(e) => e.into(),
            GatewayError::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the server store is unavailable; nothing was changed",
        )
    }
}

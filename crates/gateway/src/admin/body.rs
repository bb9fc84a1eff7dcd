//! A JSON body extractor whose every rejection is an [`ApiError`]: empty, oversized,
//! malformed, wrongly typed and unknown-field bodies each get a clear code and the field.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Keys the API returns on a server that a client may send back unchanged (GET → PUT);
/// they are read-only and ignored on input.
const READ_ONLY_KEYS: &[&str] = &[
    "status",
    "source",
    "health",
    "discovered",
    "auth_configured",
    "header_names",
    "env_names",
    "server",
];

/// A JSON request body deserialised into `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !(ct.starts_with("application/json") || ct.contains("+json")) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!("expected Content-Type: application/json, got {ct:?}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body: syntax first (400), then shape (422 naming the field).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the request body is empty; send a JSON object",
        ));
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let Some(object) = value.as_object_mut() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body must be a JSON object",
        ));
    };
    for key in READ_ONLY_KEYS {
        object.remove(*key);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // An unknown field is reported on its parent; name the field itself.
        let field = match unknown_field_name(&inner) {
            Some(name) if path == "." => name.to_owned(),
            Some(name) if !path.ends_with(name) => format!("{path}.{name}"),
            _ => path,
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: {inner}"),
        )
        .with_field(field)
    })
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

pub(crate) fn body_error(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "body_too_large",
            "the request body is larger than the gateway accepts",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            rejection.body_text(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerRecord;

    #[test]
    fn errors_name_the_field() {
        let e = parse::<ServerRecord>(br#"{"server_id": "a", "tools": "x"}"#)
            .err()
            .unwrap();
        assert_eq!(e.field.as_deref(), Some("tools"));
        let e = parse::<ServerRecord>(br#"{"server_id": "a", "transport": "pigeon"}"#)
            .err()
            .unwrap();
        assert_eq!(e.field.as_deref(), Some("transport"));
        let e = parse::<ServerRecord>(br#"{"server_id": "a", "colour": 1}"#)
            .err()
            .unwrap();
        assert_eq!(e.field.as_deref(), Some("colour"));
        let e = parse::<ServerRecord>(b"  ").err().unwrap();
        assert_eq!(e.code, "empty_body");
        let e = parse::<ServerRecord>(b"{nope").err().unwrap();
        assert_eq!(e.code, "invalid_json");
        let e = parse::<ServerRecord>(b"[1]").err().unwrap();
        assert_eq!(e.code, "invalid_json");
    }

    #[test]
    fn read_only_keys_are_ignored() {
        let r: ServerRecord = parse(
            br#"{"server_id": "a", "url": "http://h/", "status": "registered", "health": {}}"#,
        )
        .unwrap();
        assert_eq!(r.server_id, "a");
    }
}

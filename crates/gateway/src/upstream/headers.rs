//! The HTTP headers a record asks the gateway to send upstream (auth and extras).

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use http::{HeaderMap, HeaderName, HeaderValue, header::AUTHORIZATION};

use crate::model::{AuthType, DEFAULT_API_KEY_HEADER, ServerRecord};

/// Builds the upstream headers of a validated record: `auth_type`/`auth_value` first, then
/// the extra `headers` (which may not override the credential header).
pub fn upstream_headers(record: &ServerRecord) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    if let Some(value) = record
        .auth_value
        .as_ref()
        .map(|v| v.expose())
        .filter(|v| !v.is_empty())
    {
        let (name, value) = match record.auth_type {
            AuthType::None => return Err("auth_value is set but auth_type is none".into()),
            AuthType::BearerToken | AuthType::Oauth2 | AuthType::TokenExchange => {
                (AUTHORIZATION, format!("Bearer {value}"))
            }
            AuthType::Basic => (
                AUTHORIZATION,
                format!("Basic {}", BASE64.encode(value.as_bytes())),
            ),
            AuthType::ApiKey => {
                let name = record
                    .api_key_header
                    .as_deref()
                    .unwrap_or(DEFAULT_API_KEY_HEADER);
                let name = HeaderName::try_from(name)
                    .map_err(|_| format!("invalid api_key_header {name:?}"))?;
                (name, value.to_owned())
            }
        };
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| "auth_value is not a valid header value".to_string())?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    for (name, value) in &record.headers {
        let name = HeaderName::try_from(name.as_str())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        if map.contains_key(&name) {
            continue;
        }
        let mut value = HeaderValue::try_from(value.expose())
            .map_err(|_| format!("invalid value for header {name}"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn record(auth_type: AuthType, value: &str) -> ServerRecord {
        let mut r: ServerRecord =
            serde_json::from_value(serde_json::json!({"server_id": "s", "url": "http://h/"}))
                .unwrap();
        r.auth_type = auth_type;
        r.auth_value = Some(Secret::new(value));
        r
    }

    #[test]
    fn each_auth_type_sets_its_header() {
        let h = upstream_headers(&record(AuthType::BearerToken, "tok")).unwrap();
        assert_eq!(h["authorization"], "Bearer tok");
        let h = upstream_headers(&record(AuthType::Basic, "Aladdin:open sesame")).unwrap();
        assert_eq!(h["authorization"], "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        let h = upstream_headers(&record(AuthType::ApiKey, "k")).unwrap();
        assert_eq!(h["x-api-key"], "k");
        let mut r = record(AuthType::ApiKey, "k");
        r.api_key_header = Some("X-Custom".into());
        r.headers.insert("X-Extra".into(), Secret::new("e"));
        let h = upstream_headers(&r).unwrap();
        assert_eq!(h["x-custom"], "k");
        assert_eq!(h["x-extra"], "e");
    }
}

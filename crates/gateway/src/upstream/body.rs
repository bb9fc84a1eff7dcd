//! Reading HTTP answers from upstreams: content types, error bodies, error causes.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, header::CONTENT_TYPE};
use http_body_util::BodyExt;

/// How much of an error body is quoted in an error, and how long we wait for it.
const ERROR_BODY_LEN: usize = 256;
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(2);

/// The start of an error response's body, made printable, for the error message.
pub async fn error_body(response: reqwest::Response) -> String {
    error_text(http::Response::from(response).into_body()).await
}

/// [`error_body`] for any body.
pub async fn error_text<B>(body: B) -> String
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut body = body;
    let mut text = Vec::new();
    let read = async {
        while text.len() < ERROR_BODY_LEN {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        text.extend_from_slice(data);
                    }
                }
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIMEOUT, read).await;
    printable(&text)
}

/// The start of an error body, made printable.
pub fn printable(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_LEN)]);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text.trim().to_owned()
}

/// Whether the answer's media type (parameters aside) is `expected`.
pub fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    let value = headers.get(CONTENT_TYPE);
    let value = value.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case(expected)
}

/// A reqwest error with its causes (which say *why*, e.g. "connection refused") but
/// without its URL, whose query may carry a credential.
pub fn describe(error: reqwest::Error) -> String {
    describe_error(&error.without_url())
}

/// An error with its causes.
pub fn describe_error(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

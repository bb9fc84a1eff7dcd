//! The HTTP client of the admin commands: one request, one JSON answer, and every way that
//! can fail turned into a [`Failure`] with the right exit code and a one-line message.

use std::{net::IpAddr, time::Duration};

use reqwest::{Method, StatusCode, Url, header};
use serde_json::Value;

use super::{Connection, Failure, render::clean};

/// How long to wait for the TCP (and TLS) connection, whatever the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for one gateway.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// The base URL as shown in messages.
    shown: String,
    key: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for the gateway named by `conn`; `default_timeout` applies unless
    /// `--timeout` is given.
    pub fn new(conn: &Connection, default_timeout: Duration) -> Result<Self, Failure> {
        let base = parse_base_url(&conn.url)?;
        let timeout = conn.timeout.map_or(default_timeout, Duration::from_secs);
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("mcp-gateway-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            // A redirect could carry the master key to another host; report it instead.
            .redirect(reqwest::redirect::Policy::none());
        if is_loopback(&base) {
            // A proxy from the environment cannot reach this machine's loopback interface.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| {
            Failure::unavailable(format!("cannot set up the HTTP client: {}", root_cause(&e)))
        })?;
        let key = conn
            .key
            .as_ref()
            .map(|k| k.expose().to_owned())
            .filter(|k| !k.is_empty());
        let shown = base.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            base,
            shown,
            key,
            timeout,
        })
    }

    pub async fn get(&self, path: &[&str]) -> Result<Value, Failure> {
        self.send(Method::GET, path, None).await
    }

    /// A route that answers text (`/metrics`).
    pub async fn get_text(&self, path: &[&str]) -> Result<String, Failure> {
        let bytes = self.exchange(Method::GET, path, None, "text/plain").await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            let message = format!("{} answered with text that is not UTF-8", self.shown);
            Failure::api("invalid_response", &message)
        })
    }

    pub async fn post(&self, path: &[&str], body: &Value) -> Result<Value, Failure> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &[&str], body: &Value) -> Result<Value, Failure> {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &[&str]) -> Result<Value, Failure> {
        self.send(Method::DELETE, path, None).await
    }

    /// The URL of `path` (each element one percent-encoded segment) under the base URL.
    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        let bytes = self
            .exchange(method, path, body, "application/json")
            .await?;
        serde_json::from_slice(&bytes).map_err(|_| {
            Failure::api(
                "invalid_response",
                &format!(
                    "{} answered with a body that is not JSON; is --url the gateway's address?",
                    self.shown
                ),
            )
        })
    }

    /// One request; the body of a successful answer.
    async fn exchange(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
        accept: &str,
    ) -> Result<bytes::Bytes, Failure> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .header(header::ACCEPT, accept);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_failure(&e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_failure(&e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(self.error_answer(status, &bytes))
    }

    /// The gateway's `{"error": {"code", "message", "field"}}`, or a description of
    /// whatever else answered.
    fn error_answer(&self, status: StatusCode, bytes: &[u8]) -> Failure {
        let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
        let error = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .filter(|e| e.is_object());
        let (code, mut message) = match error {
            Some(error) => {
                let code = error
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_owned();
                let mut message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(field) = error.get("field").and_then(Value::as_str)
                    && !message.contains(field)
                {
                    message = format!("{field}: {message}");
                }
                (code, message)
            }
            None => {
                let body = String::from_utf8_lossy(bytes);
                let body = body.trim();
                let mut message = format!(
                    "{} answered {status} without a gateway error body",
                    self.shown
                );
                if status.is_redirection() {
                    message.push_str(
                        "; redirects are not followed, so give the final address with --url",
                    );
                } else if !body.is_empty() {
                    message.push_str(&format!(": {}", super::render::truncate(body, 200)));
                }
                (format!("http_{}", status.as_u16()), message)
            }
        };
        if status == StatusCode::UNAUTHORIZED {
            message.push_str(if self.key.is_some() {
                " (the key given was refused)"
            } else {
                " (no key given: set MCP_GATEWAY_MASTER_KEY or pass --key)"
            });
        }
        Failure::api(&clean(&code), &clean(&message))
    }

    /// A request that got no answer: exit 69, naming the gateway URL.
    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        let base = &self.shown;
        if e.is_timeout() && !e.is_connect() {
            return Failure::unavailable(format!(
                "the gateway at {base} did not answer within {}s (raise it with --timeout)",
                self.timeout.as_secs()
            ));
        }
        Failure::unavailable(format!(
            "cannot reach the gateway at {base}: {}; is it running? Start it with `mcp-gateway serve`, \
             or point --url (MCP_GATEWAY_URL) at it",
            clean(&root_cause(e))
        ))
    }
}

/// The gateway's base URL: http or https, with any path prefix of a reverse proxy.
fn parse_base_url(raw: &str) -> Result<Url, Failure> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        Failure::usage(format!(
            "--url {raw:?} is not a valid URL: {e}; expected e.g. http://127.0.0.1:4000"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host().is_none() {
        return Err(Failure::usage(format!(
            "--url {raw:?} must be an http:// or https:// address, e.g. http://127.0.0.1:4000"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Failure::usage(
            "--url must not contain credentials; give the master key with MCP_GATEWAY_MASTER_KEY or --key",
        ));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The innermost cause of an error ("Connection refused (os error 111)" rather than
/// "error sending request for url …").
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str) -> Client {
        let conn = Connection {
            url: url.into(),
            key: None,
            json: false,
            timeout: None,
        };
        Client::new(&conn, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn paths_are_joined_under_the_base_and_encoded() {
        let c = client("http://127.0.0.1:4000");
        assert_eq!(
            c.url(&["mcp", "servers"]).as_str(),
            "http://127.0.0.1:4000/mcp/servers"
        );
        let c = client("https://gw.example/prefix/?q=1");
        assert_eq!(
            c.url(&["mcp", "servers", "a b/c"]).as_str(),
            "https://gw.example/prefix/mcp/servers/a%20b%2Fc"
        );
    }

    #[test]
    fn bad_base_urls_are_usage_errors() {
        for url in ["nope", "ftp://h/", "http://user:pw@h/", "mailto:x@y"] {
            let conn = Connection {
                url: url.into(),
                key: None,
                json: false,
                timeout: None,
            };
            let failure = Client::new(&conn, Duration::from_secs(1)).err().unwrap();
            assert_eq!(failure.exit, super::super::EXIT_USAGE, "{url}");
        }
    }

    #[test]
    fn error_answers_become_one_line() {
        let c = client("http://127.0.0.1:4000");
        let f = c.error_answer(
            StatusCode::NOT_FOUND,
            br#"{"error": {"code": "tool_not_found", "message": "no tool\nnamed x"}}"#,
        );
        assert_eq!(
            f.message.as_deref(),
            Some("tool_not_found: no tool named x")
        );
        let f = c.error_answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"error": {"code": "invalid_field", "message": "bad", "field": "url"}}"#,
        );
        assert_eq!(f.message.as_deref(), Some("invalid_field: url: bad"));
        let f = c.error_answer(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert!(f.message.unwrap().starts_with("http_502: "));
        let f = c.error_answer(
            StatusCode::UNAUTHORIZED,
            br#"{"error": {"code": "unauthorized", "message": "m"}}"#,
        );
        assert!(f.message.unwrap().contains("MCP_GATEWAY_MASTER_KEY"));
    }
}

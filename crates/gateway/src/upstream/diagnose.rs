//! Why an HTTP upstream could not be reached, in an operator's words. The errors of the
//! HTTP stack reach us with their cause cut off ("Send message error …: Client error:
//! error sending request for url (…)"): when a connection attempt fails, the name is
//! resolved and a TCP connection tried here, which tells a DNS failure, a refused
//! connection and an unreachable host apart.

use std::time::Duration;

use tokio::net::{TcpStream, lookup_host};

use super::UpstreamError;
use crate::model::{ServerRecord, TransportKind};

/// How long the diagnosis may take (each of the lookup and the connection).
const DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(3);

/// `error` with its cause first, for an HTTP or SSE upstream whose connection failed; any
/// other error is returned as it is.
pub async fn with_cause(record: &ServerRecord, error: UpstreamError) -> UpstreamError {
    let UpstreamError::Connect(message) = &error else {
        return error;
    };
    if record.transport_kind() == TransportKind::Stdio {
        return error;
    }
    let Some((host, port)) = record.url.as_deref().and_then(host_and_port) else {
        return error;
    };
    match cause(&host, port).await {
        Some(cause) => UpstreamError::Connect(format!("{cause} ({message})")),
        None => error,
    }
}

/// The cause of an unreachable `host:port`, or `None` when it accepts connections (the
/// failure is then above TCP: TLS, an HTTP status, the protocol — rmcp's message says it).
async fn cause(host: &str, port: u16) -> Option<String> {
    let target = format!("{host}:{port}");
    let addresses = match tokio::time::timeout(DIAGNOSIS_TIMEOUT, lookup_host(&target)).await {
        Err(_) => return Some(format!("DNS lookup of {host} timed out")),
        Ok(Err(e)) => return Some(format!("DNS lookup of {host} failed: {e}")),
        Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
    };
    let Some(address) = addresses.first() else {
        return Some(format!("DNS lookup of {host} found no address"));
    };
    match tokio::time::timeout(DIAGNOSIS_TIMEOUT, TcpStream::connect(address)).await {
        Err(_) => Some(format!(
            "no TCP connection to {target} ({address}) within {}s",
            DIAGNOSIS_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(format!("connection refused by {target} ({address})"))
        }
        Ok(Err(e)) => Some(format!("cannot connect to {target} ({address}): {e}")),
        Ok(Ok(_)) => None,
    }
}

fn host_and_port(url: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(url).ok()?;
    let host = match url.host()? {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        host => host.to_string(),
    };
    Some((host, url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(url: &str) -> ServerRecord {
        serde_json::from_value(serde_json::json!({"server_id": "s", "url": url})).unwrap()
    }

    #[tokio::test]
    async fn a_refused_connection_and_a_missing_name_are_told_apart() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = with_cause(
            &record(&format!("http://127.0.0.1:{port}/mcp")),
            UpstreamError::Connect("error sending request".into()),
        )
        .await;
        let text = refused.to_string();
        assert!(text.contains("connection refused by 127.0.0.1:"), "{text}");
        assert!(text.contains("error sending request"), "{text}");

        let missing = with_cause(
            &record("http://no-such-host.invalid/mcp"),
            UpstreamError::Connect("error sending request".into()),
        )
        .await;
        assert!(
            missing
                .to_string()
                .contains("DNS lookup of no-such-host.invalid"),
            "{missing}"
        );
    }

    #[tokio::test]
    async fn a_listening_upstream_keeps_the_message_it_had() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let error = with_cause(
            &record(&format!("http://127.0.0.1:{port}/mcp")),
            UpstreamError::Connect("HTTP 401".into()),
        )
        .await;
        assert_eq!(error.to_string(), "connection failed: HTTP 401");
        let other = with_cause(&record("http://x/mcp"), UpstreamError::Unavailable).await;
        assert!(matches!(other, UpstreamError::Unavailable));
    }
}

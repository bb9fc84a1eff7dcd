//! `mcp-gateway status`: one table of a running gateway — each server's transport,
//! health, tools and requests in the last minute — and its sessions, from
//! `GET /mcp/servers` and `GET /metrics` (both need the master key when one is set).

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::{Value, json};

use super::{
    Connection, DEFAULT_TIMEOUT, Failure, Outcome,
    client::Client,
    render::{self, items, str_at},
};

/// What `/metrics` says of the servers and sessions.
#[derive(Debug, Default)]
struct Counts {
    /// Requests routed to each server that ended in the last minute.
    last_minute: BTreeMap<String, f64>,
    /// Sessions by face (`mcp`, `server`, `sse`), all eras together.
    sessions: BTreeMap<String, f64>,
}

fn counts(text: &str) -> Result<Counts, Failure> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| Failure::api("invalid_response", &format!("/metrics: {e}")))?;
    let mut counts = Counts::default();
    for sample in scrape.samples {
        let value = match sample.value {
            Sample::Gauge(v) | Sample::Untyped(v) => v,
            _ => continue,
        };
        let (table, label) = match sample.metric.as_str() {
            "mcp_gateway_upstream_requests_last_minute" => (&mut counts.last_minute, "server"),
            "mcp_gateway_sessions" => (&mut counts.sessions, "face"),
            _ => continue,
        };
        if let Some(key) = sample.labels.get(label) {
            *table.entry(key.to_owned()).or_default() += value;
        }
    }
    Ok(counts)
}

pub async fn run(conn: &Connection) -> Outcome {
    let client = Client::new(conn, DEFAULT_TIMEOUT)?;
    let servers = client.get(&["mcp", "servers"]).await?;
    let counts = counts(&client.get_text(&["metrics"]).await?)?;
    let servers = items(&servers, "servers");
    if conn.json {
        let servers: Vec<Value> = servers
            .iter()
            .map(|s| {
                let id = str_at(s, "server_id");
                json!({
                    "server_id": id,
                    "transport": s.get("transport"),
                    "health": s.pointer("/health/state"),
                    "last_error": s.pointer("/health/last_error"),
                    "tools": s.pointer("/discovered/tools"),
                    "requests_last_minute": counts.last_minute.get(id).copied().unwrap_or(0.0),
                })
            })
            .collect();
        render::json(&json!({"servers": servers, "sessions": counts.sessions}));
        return Ok(());
    }
    let rows = servers
        .iter()
        .map(|s| {
            let id = str_at(s, "server_id");
            let calls = counts.last_minute.get(id).copied().unwrap_or(0.0);
            [
                id.to_owned(),
                str_at(s, "transport").to_owned(),
                render::scalar(s.pointer("/health/state")),
                render::scalar(s.pointer("/discovered/tools")),
                format!("{calls:.0}"),
                render::truncate(
                    s.pointer("/health/last_error")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    60,
                ),
            ]
        })
        .collect();
    let header = [
        "SERVER",
        "TRANSPORT",
        "HEALTH",
        "TOOLS",
        "CALLS/MIN",
        "LAST ERROR",
    ];
    render::out(&render::table(header, rows));
    let healthy = servers
        .iter()
        .filter(|s| s.pointer("/health/state").and_then(Value::as_str) == Some("healthy"))
        .count();
    let sessions: f64 = counts.sessions.values().sum();
    let faces: Vec<String> = counts
        .sessions
        .iter()
        .map(|(face, n)| format!("{face} {n:.0}"))
        .collect();
    let calls: f64 = counts.last_minute.values().sum();
    render::out(&format!(
        "{healthy}/{} servers healthy · {sessions:.0} sessions{} · {calls:.0} calls in the last minute",
        servers.len(),
        if faces.is_empty() {
            String::new()
        } else {
            format!(" ({})", faces.join(", "))
        },
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::counts;

    #[test]
    fn sums_sessions_by_face_and_reads_each_servers_last_minute() {
        let text = "\
# TYPE mcp_gateway_sessions gauge
mcp_gateway_sessions{face=\"mcp\",era=\"2025-11-25\"} 2
mcp_gateway_sessions{face=\"mcp\",era=\"2025-06-18\"} 1
mcp_gateway_sessions{face=\"sse\",era=\"2024-11-05\"} 4
# TYPE mcp_gateway_upstream_requests_last_minute gauge
mcp_gateway_upstream_requests_last_minute{server=\"a\"} 12
";
        let counts = counts(text).unwrap();
        assert_eq!(counts.sessions["mcp"], 3.0);
        assert_eq!(counts.sessions["sse"], 4.0);
        assert_eq!(counts.last_minute["a"], 12.0);
    }
}

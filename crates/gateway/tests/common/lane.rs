//! Helpers of the direct-lane tests: the fixture behind a gateway over each transport,
//! and the check that the lane answered as the relay does.

use mcp_gateway_testkit::{FixtureHandle, FixtureOptions, fixture_bin};
use serde_json::json;

use super::{
    raw::{Answer, RawClient, pair},
    started, wait_healthy,
};

pub const TRANSPORTS: [&str; 2] = ["http", "stdio"];
/// Also a session-era HTTP upstream: the relay's session with it is session-era too (with
/// the others it is 2026-07-28, the HTTP lane's session being session-era).
pub const ERAS_AND_TRANSPORTS: [&str; 3] = ["http", "http-legacy", "stdio"];

/// The fixture behind the gateway as `fx`.
pub enum Upstream {
    Http(FixtureHandle),
    /// A child process of the gateway: a 2026-07-28 session, so the stdio lane adds and
    /// strips protocol metadata.
    Stdio,
}

impl Upstream {
    /// Cancellations the fixture received, where the test can see them (not in the
    /// stdio child).
    pub fn cancellations(&self) -> Option<u64> {
        match self {
            Upstream::Http(fixture) => Some(fixture.server().cancellations()),
            Upstream::Stdio => None,
        }
    }
}

/// A gateway with the fixture as `fx` over `transport`, with a per-call timeout.
pub async fn fixture_gateway(
    transport: &str,
    timeout_secs: u64,
) -> (Upstream, mcp_gateway::app::Running) {
    let running = started(mcp_gateway::config::Settings::default()).await;
    let (upstream, record) = if transport == "stdio" {
        let command = fixture_bin().display().to_string();
        let record = json!({"server_id": "fx", "command": command, "args": ["stdio"],
            "timeout_secs": timeout_secs});
        (Upstream::Stdio, record)
    } else {
        let options = FixtureOptions::default();
        let legacy = transport == "http-legacy";
        let options = if legacy {
            options.legacy_only()
        } else {
            options
        };
        let fixture = mcp_gateway_testkit::spawn_http(options).await;
        let record = json!({"server_id": "fx", "url": fixture.url(), "timeout_secs": timeout_secs});
        (Upstream::Http(fixture), record)
    };
    running
        .gateway
        .register(super::record(record))
        .await
        .unwrap();
    wait_healthy(&running.gateway, "fx").await;
    (upstream, running)
}

/// The lane's answer (JSON: the lane took the request) is the relay's (an event stream:
/// rmcp answered), as JSON values.
pub fn same_answer(direct: &Answer, relayed: &Answer, what: &str) {
    assert!(
        direct.json,
        "{what}: the lane answers: {:?}",
        direct.messages
    );
    assert!(!relayed.json, "{what}: rmcp answers");
    assert_eq!(direct.status, relayed.status, "{what}");
    assert_eq!(direct.last(), relayed.last(), "{what}");
}

/// One gateway per transport of [`ERAS_AND_TRANSPORTS`], and in front of each, for both
/// eras, a client the lane serves and one the relay serves (see [`pair`]) at `path`
/// (`/mcp` or `/mcp/servers/fx/mcp`): `check` runs with each such pair.
pub async fn for_each_pair(path: &str, check: impl AsyncFn(&Case, &RawClient, &RawClient)) {
    for transport in ERAS_AND_TRANSPORTS {
        let (_upstream, running) = fixture_gateway(transport, 60).await;
        let url = format!("http://{}{path}", running.addr);
        for stateless in [false, true] {
            let what = format!("{transport} stateless={stateless}");
            let (plain, relayed) = pair(&url, stateless).await;
            let case = Case {
                transport,
                stateless,
                what,
            };
            check(&case, &plain, &relayed).await;
        }
        running.shutdown().await.unwrap();
    }
}

/// Which gateway and client era a check of [`for_each_pair`] runs with.
pub struct Case {
    pub transport: &'static str,
    pub stateless: bool,
    /// Both, for messages.
    pub what: String,
}

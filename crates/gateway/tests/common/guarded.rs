//! A gateway with a master key and fixture upstreams, and a REST client for it: the setup
//! of the access-control tests (keys, tokens, policies, credentials, the call audit).

use mcp_gateway::{app::Running, config::Settings, secret::Secret};
use mcp_gateway_testkit::{FixtureHandle, FixtureOptions};
use serde_json::{Value, json};

use super::bearer::Mcp;

pub struct Guarded {
    pub running: Running,
    pub fixtures: Vec<FixtureHandle>,
    /// `http://<address>`.
    pub base: String,
    pub http: reqwest::Client,
    master: String,
}

/// A gateway with `master` as its master key and a fixture upstream `a` (tools `echo`,
/// `whoami`, …); with `and_b`, a second one `b` (the same tools as `b_echo`, …).
pub async fn guarded(settings: Settings, master: &str, and_b: bool) -> Guarded {
    let settings = Settings {
        master_key: Some(Secret::new(master)),
        ..settings
    };
    let (a, running) = super::with_fixture_in(settings, "a", FixtureOptions::default()).await;
    let mut fixtures = vec![a];
    if and_b {
        let b = mcp_gateway_testkit::spawn_http(FixtureOptions {
            tools_prefix: "b_".into(),
            ..FixtureOptions::default()
        })
        .await;
        let record = super::record(json!({"server_id": "b", "url": b.url()}));
        running.gateway.register(record).await.unwrap();
        super::wait_healthy(&running.gateway, "b").await;
        fixtures.push(b);
    }
    let base = format!("http://{}", running.addr);
    Guarded {
        running,
        fixtures,
        base,
        http: reqwest::Client::new(),
        master: master.to_owned(),
    }
}

impl Guarded {
    /// A REST request with `key` as the bearer: the status and the JSON answer (or its
    /// text as a string).
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates an API key with the master key: (the key, its id).
    pub async fn key(&self, spec: Value) -> (String, String) {
        let (status, body) = self
            .rest(reqwest::Method::POST, "/mcp/keys", &self.master, Some(spec))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["key"].as_str().unwrap().to_owned(),
            body["key_id"].as_str().unwrap().to_owned(),
        )
    }

    /// An MCP client of the endpoint at `path` presenting `key`.
    pub fn mcp(&self, path: &str, key: &str) -> Mcp {
        Mcp::new(&self.http, &format!("{}{path}", self.base), key)
    }
}

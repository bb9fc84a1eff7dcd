//! `GET /metrics` over real sockets, read with a Prometheus exposition-format parser after
//! known calls: calls by server, tool and outcome on every face and path (the direct
//! lane, the relay for a client that can be asked things, REST), their latency and the
//! gateway's share of it, requests by method, sessions, list changes, upstream state, the
//! store and the process. Label values come only from registered servers and discovered
//! tools; who may scrape is the operator or the scrape token.

mod common;

use std::time::Duration;

use common::{bearer::Mcp, guarded::guarded, raw::RawClient, *};
use mcp_gateway::{
    config::{MetricsSettings, Settings},
    secret::Secret,
};
use mcp_gateway_testkit::FixtureOptions;
use prometheus_parse::{Sample, Scrape, Value as Metric};
use serde_json::json;

/// A scrape, parsed.
struct Scraped(Vec<Sample>);

impl Scraped {
    async fn of(http: &reqwest::Client, base: &str, key: Option<&str>) -> Self {
        let mut request = http.get(format!("{base}/metrics"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        let text = response.text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}: {text}"));
        Self(scrape.samples)
    }

    /// The value of the one sample of `name` with (at least) these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .0
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert!(
            matching.len() <= 1,
            "{name} {labels:?}: {} samples",
            matching.len()
        );
        matching.first().map(|s| match &s.value {
            Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
            Metric::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Metric::Summary(_) => panic!("no summaries here"),
        })
    }

    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
    }

    /// Every value `label` takes on samples of `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .0
            .iter()
            .filter(|s| s.metric == name)
            .filter_map(|s| s.labels.get(label).map(str::to_owned))
            .collect();
        values.sort();
        values.dedup();
        values
    }
}

const TOOL_CALLS: &str = "mcp_gateway_tool_calls_total";

#[tokio::test]
async fn calls_are_counted_by_server_tool_and_outcome_on_every_face() {
    let (fixture, running) = with_fixture("a", FixtureOptions::default()).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let mcp = format!("{base}/mcp");

    // The direct lane: stateless, and on a session.
    let stateless = Mcp::new(&http, &mcp, "");
    for _ in 0..3 {
        assert!(stateless.call("a__echo").await.get("result").is_some());
    }
    let session = Mcp::new(&http, &mcp, "").open().await;
    for _ in 0..2 {
        assert!(session.call("a__echo").await.get("result").is_some());
    }
    // The relay: a client that can be asked things, with a tool error among its calls.
    let asking = RawClient::session(&mcp, json!({"sampling": {}, "roots": {}})).await;
    let answer = asking
        .call(json!(1), "a__echo", echo_args("relay"), json!({}))
        .await;
    assert!(
        answer.last().get("result").is_some(),
        "{:?}",
        answer.messages
    );
    let failed = asking.call(json!(2), "a__fail", json!({}), json!({})).await;
    assert_eq!(failed.last()["result"]["isError"], true);
    // REST, and a prompt.
    let rest = http
        .post(format!("{base}/mcp/tools/call"))
        .json(&json!({"name": "a__echo", "arguments": {"message": "rest"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    let (status, _) = session
        .request(
            "prompts/get",
            json!({"name": "a__greet", "arguments": {"name": "x"}}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // The single-server endpoint passes an unlisted name to the server, which refuses it.
    let single = Mcp::new(&http, &format!("{base}/mcp/servers/a/mcp"), "");
    let unlisted = single.call("not-a-listed-tool").await;
    assert!(unlisted.get("error").is_some(), "{unlisted}");
    // Refused before routing: a name no server has is no label.
    assert!(
        stateless
            .call("a__no-such-tool")
            .await
            .get("error")
            .is_some()
    );
    // A key allowed one call a minute: the second is refused.
    let key = http
        .post(format!("{base}/mcp/keys"))
        .json(&json!({"name": "metered", "rate_limit": {"requests_per_minute": 1, "burst": 1}}))
        .send()
        .await
        .unwrap();
    let key: serde_json::Value = key.json().await.unwrap();
    let limited = Mcp::new(&http, &mcp, key["key"].as_str().unwrap());
    assert!(limited.call("a__echo").await.get("result").is_some());
    assert!(limited.call("a__echo").await.get("error").is_some());

    let scraped = Scraped::of(&http, &base, None).await;
    let echo = [("server", "a"), ("tool", "echo")];
    let ok = [echo[0], echo[1], ("outcome", "ok")];
    assert_eq!(
        scraped.count(TOOL_CALLS, &ok),
        8.0,
        "3 + 2 direct, 1 relayed, 1 REST, 1 key"
    );
    let rate_limited = [echo[0], echo[1], ("outcome", "rate_limited")];
    assert_eq!(scraped.count(TOOL_CALLS, &rate_limited), 1.0);
    let tool_error = [("server", "a"), ("tool", "fail"), ("outcome", "tool_error")];
    assert_eq!(scraped.count(TOOL_CALLS, &tool_error), 1.0);
    let unlisted = [
        ("server", "a"),
        ("tool", "(unlisted)"),
        ("outcome", "upstream_error"),
    ];
    assert_eq!(scraped.count(TOOL_CALLS, &unlisted), 1.0);
    let tools = scraped.label_values(TOOL_CALLS, "tool");
    assert!(
        tools
            .iter()
            .all(|t| t != "no-such-tool" && t != "a__no-such-tool"),
        "{tools:?}"
    );
    assert!(
        tools.contains(&"add".to_owned()),
        "every discovered tool has a series: {tools:?}"
    );

    // Every call ended: its time observed, in total and the gateway's share.
    let timed = |name: &str| {
        scraped.count(
            &format!("mcp_gateway_tool_call_{name}_seconds_count"),
            &echo,
        )
    };
    assert_eq!(timed("duration"), 8.0);
    assert_eq!(timed("overhead"), 8.0);
    let total = scraped.count("mcp_gateway_tool_call_duration_seconds_sum", &echo);
    let own = scraped.count("mcp_gateway_tool_call_overhead_seconds_sum", &echo);
    assert!(
        own > 0.0 && own < total,
        "the gateway's share {own} of {total}"
    );
    assert_eq!(
        scraped.count("mcp_gateway_tool_calls_in_flight", &echo),
        0.0
    );

    let prompts = [
        ("server", "a"),
        ("method", "prompts/get"),
        ("outcome", "ok"),
    ];
    assert_eq!(
        scraped.count("mcp_gateway_upstream_requests_total", &prompts),
        1.0
    );
    let calls = [("server", "a"), ("method", "tools/call"), ("outcome", "ok")];
    assert_eq!(
        scraped.count("mcp_gateway_upstream_requests_total", &calls),
        8.0
    );

    // 8 + 2 tool calls, the unlisted one, the prompt: `mcp-gateway status`'s calls/min.
    let recent = scraped.count(
        "mcp_gateway_upstream_requests_last_minute",
        &[("server", "a")],
    );
    assert_eq!(recent, 11.0);
    let sessions = [("face", "mcp"), ("era", "2025-11-25")];
    assert_eq!(scraped.count("mcp_gateway_sessions", &sessions), 2.0);
    assert_eq!(
        scraped.count("mcp_gateway_upstream_up", &[("server", "a")]),
        1.0
    );
    let healthy = [("server", "a"), ("state", "healthy")];
    assert_eq!(
        scraped.count("mcp_gateway_upstream_health_state", &healthy),
        1.0
    );
    assert_eq!(
        scraped.count("mcp_gateway_upstream_connects_total", &[("server", "a")]),
        1.0
    );
    let items = [("server", "a"), ("kind", "tools")];
    assert_eq!(scraped.count("mcp_gateway_catalog_items", &items), 6.0);
    assert!(scraped.count("process_resident_memory_bytes", &[]) > 0.0);
    assert!(scraped.count("process_open_fds", &[]) > 0.0);

    // A tool added upstream: the sessions are told, and the new tool has its series.
    fixture.server().add_tool(Some("fresh")).await;
    eventually(Duration::from_secs(10), "the list change is sent", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let scraped = Scraped::of(&http, &base, None).await;
            let sent = scraped.value("mcp_gateway_list_changed_sent_total", &[("list", "tools")]);
            sent.is_some_and(|n| n >= 2.0)
        }
    })
    .await;
    let scraped = Scraped::of(&http, &base, None).await;
    assert!(
        scraped
            .label_values(TOOL_CALLS, "tool")
            .contains(&"fresh".to_owned())
    );

    // A removed server leaves the output with its series.
    running.gateway.unregister("a").await.unwrap();
    let scraped = Scraped::of(&http, &base, None).await;
    assert!(scraped.label_values(TOOL_CALLS, "server").is_empty());
    assert!(
        scraped
            .value("mcp_gateway_upstream_up", &[("server", "a")])
            .is_none()
    );
}

#[tokio::test]
async fn with_a_master_key_only_the_operator_and_the_scrape_token_may_scrape() {
    const MASTER: &str = "metrics-master-key";
    const SCRAPER: &str = "metrics-scrape-token-0123";
    let settings = Settings {
        metrics: MetricsSettings {
            enabled: true,
            scrape_token: Some(Secret::new(SCRAPER)),
        },
        store_model_in_db: false,
        ..Settings::default()
    };
    let gw = guarded(settings, MASTER, false).await;
    let (key, _) = gw.key(json!({"name": "not-a-scraper"})).await;
    let status = |key: Option<&str>| {
        let mut request = gw.http.get(format!("{}/metrics", gw.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some("wrong")).await, 401);
    assert_eq!(status(Some(&key)).await, 403, "an API key is no scraper");
    assert_eq!(status(Some(MASTER)).await, 200);
    assert_eq!(status(Some(SCRAPER)).await, 200);
    // The scrape token reads /metrics and nothing else.
    assert_eq!(
        gw.rest(reqwest::Method::GET, "/mcp/servers", SCRAPER, None)
            .await
            .0,
        401
    );
    assert!(
        gw.mcp("/mcp", SCRAPER)
            .call("a__echo")
            .await
            .get("result")
            .is_none()
    );

    // The store's operations are timed (the key was stored).
    let scraped = Scraped::of(&gw.http, &gw.base, Some(SCRAPER)).await;
    let stored = [("operation", "insert_key")];
    assert_eq!(
        scraped.count(
            "mcp_gateway_store_operation_duration_seconds_count",
            &stored
        ),
        1.0
    );

    // OpenMetrics on request.
    let response = gw
        .http
        .get(format!("{}/metrics", gw.base))
        .bearer_auth(SCRAPER)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(response.text().await.unwrap().ends_with("# EOF\n"));
}

#[tokio::test]
async fn metrics_off_keeps_the_call_meters_still() {
    let settings = Settings {
        metrics: MetricsSettings {
            enabled: false,
            scrape_token: None,
        },
        ..Settings::default()
    };
    let (_fixture, running) = with_fixture_in(settings, "a", FixtureOptions::default()).await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let client = Mcp::new(&http, &format!("{base}/mcp"), "");
    assert!(client.call("a__echo").await.get("result").is_some());
    let scraped = Scraped::of(&http, &base, None).await;
    let ok = [("server", "a"), ("tool", "echo"), ("outcome", "ok")];
    assert_eq!(scraped.count(TOOL_CALLS, &ok), 0.0);
    // The rest is still there.
    assert_eq!(
        scraped.count("mcp_gateway_upstream_up", &[("server", "a")]),
        1.0
    );
}

#[tokio::test]
async fn timeouts_and_cancellations_are_told_apart_and_legacy_sessions_counted() {
    let fixture = mcp_gateway_testkit::spawn_http(FixtureOptions::default()).await;
    let running = started(Settings::default()).await;
    let record = record(json!({"server_id": "fx", "url": fixture.url(), "timeout_secs": 1}));
    running.gateway.register(record).await.unwrap();
    wait_healthy(&running.gateway, "fx").await;
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let mcp = format!("{base}/mcp");
    let slow = |ms: u64| json!({"name": "fx__slow", "arguments": {"ms": ms}});

    // Longer than the server's timeout_secs: the gateway gives up.
    let client = Mcp::new(&http, &mcp, "");
    let (_, answer) = client
        .request("tools/call", slow(5_000), Some("fx__slow"))
        .await;
    assert!(answer.get("error").is_some(), "{answer}");
    // The client goes away first: the call is cancelled.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "fx__slow", "arguments": {"ms": 800},
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                  "io.modelcontextprotocol/clientCapabilities": {}}}});
    let sent = impatient
        .post(&mcp)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "fx__slow")
        .json(&body)
        .send()
        .await;
    assert!(sent.is_err_and(|e| e.is_timeout()));
    // A legacy SSE session, open.
    let sse = http.get(format!("{base}/sse")).send().await.unwrap();
    assert_eq!(sse.status(), 200);

    let slow_tool = [("server", "fx"), ("tool", "slow")];
    eventually(Duration::from_secs(10), "the cancelled call ends", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let scraped = Scraped::of(&http, &base, None).await;
            let cancelled = [slow_tool[0], slow_tool[1], ("outcome", "cancelled")];
            scraped.value(TOOL_CALLS, &cancelled) == Some(1.0)
        }
    })
    .await;
    let scraped = Scraped::of(&http, &base, None).await;
    let timeout = [slow_tool[0], slow_tool[1], ("outcome", "timeout")];
    assert_eq!(scraped.count(TOOL_CALLS, &timeout), 1.0);
    let legacy = [("face", "sse"), ("era", "2024-11-05")];
    assert_eq!(scraped.count("mcp_gateway_sessions", &legacy), 1.0);
    drop(sse);
    eventually(Duration::from_secs(10), "the legacy session ends", || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let scraped = Scraped::of(&http, &base, None).await;
            scraped.value("mcp_gateway_sessions", &legacy) == Some(0.0)
        }
    })
    .await;
}

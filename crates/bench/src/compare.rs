//! `mcp-bench compare`: the scenarios, direct and through the gateway, in one run.
//!
//! * call rows: `tools/call` (`http-session`, `http-stateless`, `stdio-session`,
//!   `stdio-stateless`), the client shapes of `tools/call` (`http-ide`: the capabilities
//!   IDE clients declare; `http-loglevel`: a session with a log level set), and other
//!   requests of a plain session client (`http-read`: `resources/read`; `http-prompt`:
//!   `prompts/get`). For each concurrency, `rounds` rounds of a direct run, a run through
//!   a bare TCP relay (HTTP upstreams) and a gateway run of the same length; the tables
//!   show the median of each metric, and each shape's gateway throughput against the
//!   plain session client's.
//! * `catalog`: N servers × T tools registered through `POST /mcp/servers` (the rate),
//!   then `tools/list` through every page on `/mcp` (both eras) and `GET /mcp/tools`.
//! * `memory`: RSS of an idle gateway, then with S idle sessions.
//! * `startup`: from spawn to `/health/readiness` 200 (and to every server healthy) with
//!   M servers in the config file.
//!
//! The upstream is `mcp-bench-echo`; the catalog registers one echo process under N
//! server ids (N processes would measure the machine, not the gateway).

use std::{
    fmt::Write as _,
    future::Future,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{
    echo,
    load::{self, HttpTarget, LoadResult, McpHttp, Operation, Profile, StdioClient, Window},
    procs::{self, Binaries, EchoHttp, GatewayProc, Relay},
    wire::Era,
};

/// What `compare` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// tools/call, streamable HTTP upstream, session-based client
    HttpSession,
    /// tools/call, streamable HTTP upstream, 2026-07-28 (stateless) client
    HttpStateless,
    /// tools/call, streamable HTTP upstream, session client declaring roots (listChanged),
    /// sampling and elicitation, as IDE clients do; answers the server's requests
    HttpIde,
    /// tools/call, streamable HTTP upstream, session client that has sent logging/setLevel (info)
    HttpLoglevel,
    /// resources/read of the echo upstream's resource, streamable HTTP, session client
    HttpRead,
    /// prompts/get of the echo upstream's prompt, streamable HTTP, session client
    HttpPrompt,
    /// tools/call, stdio upstream, session-based client (direct: rmcp client with initialize)
    StdioSession,
    /// tools/call, stdio upstream, 2026-07-28 client (direct: rmcp client with server/discover)
    StdioStateless,
    /// registration rate, tools/list through every page, GET /mcp/tools on a big catalog
    Catalog,
    /// idle RSS and RSS per idle session
    Memory,
    /// start to ready with many configured servers
    Startup,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::HttpSession,
        Scenario::HttpStateless,
        Scenario::HttpIde,
        Scenario::HttpLoglevel,
        Scenario::HttpRead,
        Scenario::HttpPrompt,
        Scenario::StdioSession,
        Scenario::StdioStateless,
        Scenario::Catalog,
        Scenario::Memory,
        Scenario::Startup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::HttpSession => "http-session",
            Scenario::HttpStateless => "http-stateless",
            Scenario::HttpIde => "http-ide",
            Scenario::HttpLoglevel => "http-loglevel",
            Scenario::HttpRead => "http-read",
            Scenario::HttpPrompt => "http-prompt",
            Scenario::StdioSession => "stdio-session",
            Scenario::StdioStateless => "stdio-stateless",
            Scenario::Catalog => "catalog",
            Scenario::Memory => "memory",
            Scenario::Startup => "startup",
        }
    }

    /// For the call rows: the upstream, the client and what it asks.
    fn call_row(self) -> Option<Shape> {
        let http = |era, profile, op| Shape {
            stdio: false,
            era,
            profile,
            op,
        };
        let stdio = |era| Shape {
            stdio: true,
            era,
            profile: Profile::Plain,
            op: Operation::CallTool,
        };
        match self {
            Scenario::HttpSession => Some(http(Era::Session, Profile::Plain, Operation::CallTool)),
            Scenario::HttpStateless => {
                Some(http(Era::Stateless, Profile::Plain, Operation::CallTool))
            }
            Scenario::HttpIde => Some(http(Era::Session, Profile::Ide, Operation::CallTool)),
            Scenario::HttpLoglevel => {
                Some(http(Era::Session, Profile::LogLevel, Operation::CallTool))
            }
            Scenario::HttpRead => Some(http(Era::Session, Profile::Plain, Operation::ReadResource)),
            Scenario::HttpPrompt => Some(http(Era::Session, Profile::Plain, Operation::GetPrompt)),
            Scenario::StdioSession => Some(stdio(Era::Session)),
            Scenario::StdioStateless => Some(stdio(Era::Stateless)),
            _ => None,
        }
    }

    /// The rows compared with the plain session client through the gateway (`http-session`)
    /// in the shapes table, with its targets.
    fn is_client_shape(self) -> bool {
        matches!(
            self,
            Scenario::HttpIde | Scenario::HttpLoglevel | Scenario::HttpRead | Scenario::HttpPrompt
        )
    }
}

/// What a call row runs: the upstream (stdio or streamable HTTP), the client's era and
/// profile, and the request each call makes.
#[derive(Debug, Clone, Copy)]
struct Shape {
    stdio: bool,
    era: Era,
    profile: Profile,
    op: Operation,
}

impl Shape {
    /// What the calls name: directly (or through the relay) and through the gateway,
    /// where the HTTP upstream is `echo` and the stdio one `stdio` (tools and prompts are
    /// prefixed with the server id; resource URIs are the upstream's own).
    fn names(self) -> (String, String) {
        match self.op {
            Operation::CallTool if self.stdio => ("echo".into(), "stdio__echo".into()),
            Operation::CallTool => ("echo".into(), "echo__echo".into()),
            Operation::ReadResource => (echo::RESOURCE_URI.into(), echo::RESOURCE_URI.into()),
            Operation::GetPrompt => (echo::PROMPT.into(), gateway_prompt()),
        }
    }
}

/// The gateway's name of the echo HTTP upstream's prompt.
fn gateway_prompt() -> String {
    format!("echo__{}", echo::PROMPT)
}

/// Everything a comparison needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub smoke: bool,
    pub window: Window,
    pub rounds: usize,
    pub concurrency: Vec<usize>,
    pub scenarios: Vec<Scenario>,
    pub catalog_servers: usize,
    pub catalog_tools: usize,
    /// Full `tools/list` listings and `GET /mcp/tools` requests in the catalog scenario.
    pub catalog_iterations: usize,
    pub sessions: usize,
    pub startup_servers: usize,
    pub startup_repeats: usize,
    /// Also run each HTTP call row through a second gateway with its metrics off
    /// (`gateway.metrics.enabled: false`): what metering costs, side by side.
    pub metrics_off: bool,
}

impl Options {
    /// The full run documented in `docs/BENCHMARKS.md`.
    pub fn full() -> Self {
        Self {
            smoke: false,
            window: Window {
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(10),
            },
            rounds: 3,
            concurrency: vec![1, 16, 64],
            scenarios: Scenario::ALL.to_vec(),
            catalog_servers: 500,
            catalog_tools: 20,
            catalog_iterations: 20,
            sessions: 10_000,
            startup_servers: 100,
            startup_repeats: 5,
            metrics_off: false,
        }
    }

    /// Every scenario, briefly (CI): correctness and plumbing, not numbers.
    pub fn smoke() -> Self {
        Self {
            smoke: true,
            window: Window {
                warmup: Duration::from_millis(50),
                duration: Duration::from_millis(150),
            },
            rounds: 1,
            concurrency: vec![1, 16, 64],
            scenarios: Scenario::ALL.to_vec(),
            catalog_servers: 50,
            catalog_tools: 20,
            catalog_iterations: 3,
            sessions: 1_000,
            startup_servers: 20,
            startup_repeats: 1,
            metrics_off: true,
        }
    }
}

/// The outcome: the Markdown report, and how many errors were seen (a run with errors is
/// not a valid measurement).
#[derive(Debug)]
pub struct Report {
    pub markdown: String,
    pub errors: u64,
}

/// CPU time used during a run, per completed call, in microseconds.
#[derive(Debug, Clone, Copy, Default)]
struct CpuPerCall {
    client: f64,
    /// The gateway, or the relay.
    middle: Option<f64>,
    upstream: Option<f64>,
}

/// Processes whose CPU time a run samples (the bench process itself is always sampled).
#[derive(Debug, Clone, Copy, Default)]
struct Watched {
    /// The gateway, or the relay.
    middle: Option<u32>,
    upstream: Option<u32>,
}

impl Watched {
    fn sample(&self) -> [Option<Duration>; 3] {
        [
            procs::cpu_time(std::process::id()),
            self.middle.and_then(procs::cpu_time),
            self.upstream.and_then(procs::cpu_time),
        ]
    }

    async fn measure<F>(&self, run: F) -> anyhow::Result<(LoadResult, CpuPerCall)>
    where
        F: Future<Output = anyhow::Result<LoadResult>>,
    {
        let before = self.sample();
        let result = run.await?;
        let after = self.sample();
        let calls = result.calls.max(1) as f64;
        let per_call = |i: usize| match (before[i], after[i]) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64() * 1e6 / calls),
            _ => None,
        };
        let cpu = CpuPerCall {
            client: per_call(0).unwrap_or(0.0),
            middle: per_call(1),
            upstream: per_call(2),
        };
        Ok((result, cpu))
    }
}

/// One side (direct, relay or gateway) of a call row, over its rounds.
#[derive(Default)]
struct Side {
    runs: Vec<(LoadResult, CpuPerCall)>,
}

impl Side {
    fn median(&self, f: impl Fn(&(LoadResult, CpuPerCall)) -> Option<f64>) -> Option<f64> {
        let mut values: Vec<f64> = self.runs.iter().filter_map(f).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Some(if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        })
    }

    fn rps(&self) -> f64 {
        self.median(|(r, _)| Some(r.rps())).unwrap_or(0.0)
    }

    fn p50(&self) -> f64 {
        self.median(|(r, _)| (r.ok > 0).then(|| r.p50_us()))
            .unwrap_or(f64::NAN)
    }

    fn p99(&self) -> f64 {
        self.median(|(r, _)| (r.ok > 0).then(|| r.p99_us()))
            .unwrap_or(f64::NAN)
    }

    fn errors(&self) -> u64 {
        self.runs.iter().map(|(r, _)| r.errors).sum()
    }

    fn first_error(&self) -> Option<&str> {
        self.runs.iter().find_map(|(r, _)| r.first_error.as_deref())
    }
}

struct CallRow {
    scenario: Scenario,
    concurrency: usize,
    direct: Side,
    gateway: Side,
    /// Through the bare TCP relay (HTTP upstreams only).
    relay: Side,
    /// Through a gateway with its metrics off (`Options::metrics_off`, HTTP upstreams).
    unmetered: Side,
}

impl CallRow {
    fn errors(&self) -> u64 {
        self.direct.errors() + self.gateway.errors() + self.relay.errors() + self.unmetered.errors()
    }

    fn ratio(&self) -> f64 {
        self.gateway.rps() / self.direct.rps()
    }

    fn added_p50(&self) -> f64 {
        self.gateway.p50() - self.direct.p50()
    }

    fn relay_ratio(&self) -> f64 {
        self.relay.rps() / self.direct.rps()
    }

    fn relay_added_p50(&self) -> f64 {
        self.relay.p50() - self.direct.p50()
    }

    /// The target for this row, and whether it is met.
    fn target(&self) -> (String, bool) {
        let stdio = self.scenario.call_row().is_some_and(|shape| shape.stdio);
        if stdio {
            ("ratio ≥ 0.90".into(), self.ratio() >= 0.9)
        } else if self.concurrency == 1 {
            ("added p50 ≤ 50 µs".into(), self.added_p50() <= 50.0)
        } else {
            ("ratio ≥ 0.80".into(), self.ratio() >= 0.8)
        }
    }
}

/// A line of the catalog / memory / start-up table.
struct Metric {
    scenario: &'static str,
    metric: String,
    value: String,
    target: String,
}

impl Metric {
    fn new(scenario: Scenario, metric: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            scenario: scenario.name(),
            metric: metric.into(),
            value: value.into(),
            target: String::new(),
        }
    }

    fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }
}

/// Errors of the scenarios without call rows (and of call rows that could not run).
#[derive(Default)]
struct Errors {
    count: u64,
    messages: Vec<String>,
}

impl Errors {
    fn add(&mut self, context: &str, e: impl std::fmt::Display) {
        self.count += 1;
        if self.messages.len() < 10 {
            self.messages.push(format!("{context}: {e}"));
        }
    }
}

struct Progress(Instant);

impl Progress {
    fn say(&self, message: impl std::fmt::Display) {
        let t = self.0.elapsed().as_secs();
        eprintln!("[{:>2}:{:02}] {message}", t / 60, t % 60);
    }
}

/// Runs the selected scenarios and builds the report.
pub async fn run(bins: &Binaries, options: &Options) -> anyhow::Result<Report> {
    let progress = Progress(Instant::now());
    let mut rows = Vec::new();
    let mut metrics = Vec::new();
    let mut errors = Errors::default();

    let call_scenarios: Vec<Scenario> = options
        .scenarios
        .iter()
        .copied()
        .filter(|s| s.call_row().is_some())
        .collect();
    if !call_scenarios.is_empty() {
        match call_rows(bins, options, &call_scenarios, &progress).await {
            Ok(done) => rows = done,
            Err(e) => errors.add("call scenarios", format!("{e:#}")),
        }
    }
    for scenario in options.scenarios.iter().copied() {
        let result = match scenario {
            Scenario::Catalog => catalog(bins, options, &progress, &mut metrics, &mut errors).await,
            Scenario::Memory => memory(bins, options, &progress, &mut metrics, &mut errors).await,
            Scenario::Startup => startup(bins, options, &progress, &mut metrics).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            errors.add(scenario.name(), format!("{e:#}"));
        }
    }
    let call_errors: u64 = rows.iter().map(CallRow::errors).sum();
    let markdown = render(options, bins, &rows, &metrics, &errors);
    Ok(Report {
        markdown,
        errors: call_errors + errors.count,
    })
}

/// The call rows: one echo HTTP upstream (with its resource, prompt and logging), one bare
/// relay in front of it, and one gateway (with the echo upstream and a stdio echo server
/// registered) serve every round.
async fn call_rows(
    bins: &Binaries,
    options: &Options,
    scenarios: &[Scenario],
    progress: &Progress,
) -> anyhow::Result<Vec<CallRow>> {
    // With its resource, prompt and logging for the http-read, http-prompt and
    // http-loglevel rows (the gateway discovers them once, at start).
    let echo = EchoHttp::start_with(bins, 1, true).await?;
    let echo_bin = bins.echo.to_string_lossy().into_owned();
    let config = json!({
        "mcp_servers": {
            "echo": {"url": echo.url, "transport": "streamable_http"},
            "stdio": {"transport": "stdio", "command": echo_bin, "args": ["stdio"]},
        }
    });
    let relay = Relay::start(bins, &echo).await?;
    let gateway = ready_gateway(bins, &config).await?;
    let unmetered = match options.metrics_off {
        true => {
            let mut config = config.clone();
            config["gateway"] = json!({"metrics": {"enabled": false}});
            Some(ready_gateway(bins, &config).await?)
        }
        false => None,
    };
    let gateway_pid = gateway.proc.pid();
    let stdio_child = gateway_pid.and_then(|pid| {
        procs::children_of(pid)
            .into_iter()
            .find(|(_, comm)| comm.starts_with("mcp-bench-echo"))
            .map(|(child, _)| child)
    });
    progress.say(format!(
        "gateway up at {} (pid {gateway_pid:?}, stdio upstream pid {stdio_child:?}); echo upstream at {}",
        gateway.base, echo.url
    ));

    let mut rows = Vec::new();
    for &scenario in scenarios {
        let shape = scenario.call_row().expect("a call scenario");
        let (direct_name, gateway_name) = shape.names();
        for &concurrency in &options.concurrency {
            let mut row = CallRow {
                scenario,
                concurrency,
                direct: Side::default(),
                gateway: Side::default(),
                relay: Side::default(),
                unmetered: Side::default(),
            };
            for round in 1..=options.rounds {
                let say = |side: &str, r: &LoadResult| {
                    say_run(
                        progress,
                        scenario,
                        concurrency,
                        round,
                        options.rounds,
                        side,
                        r,
                    );
                };
                // A run whose clients cannot even be set up is a run with an error, not
                // the end of every row.
                let http_run = |url: &str, name: &str, middle: Option<u32>, upstream| {
                    let target = HttpTarget {
                        url: url.to_owned(),
                        name: name.to_owned(),
                        op: shape.op,
                        era: shape.era,
                        profile: shape.profile,
                        bearer: None,
                    };
                    async move {
                        let watched = Watched { middle, upstream };
                        let run = async {
                            Ok(load::run_http(&target, concurrency, options.window)
                                .await
                                .unwrap_or_else(|e| {
                                    LoadResult::failed(
                                        concurrency,
                                        options.window.duration,
                                        format!("{e:#}"),
                                    )
                                }))
                        };
                        watched.measure(run).await
                    }
                };
                // Direct.
                let direct = if shape.stdio {
                    let client = StdioClient::spawn(&bins.echo, &["stdio"], shape.era).await?;
                    let watched = Watched {
                        middle: None,
                        upstream: client.pid(),
                    };
                    let run = watched
                        .measure(async {
                            Ok(load::run_stdio(&client, concurrency, options.window).await)
                        })
                        .await;
                    client.shutdown().await;
                    run?
                } else {
                    http_run(&echo.url, &direct_name, None, echo.proc.pid()).await?
                };
                say("direct", &direct.0);
                row.direct.runs.push(direct);
                // Through the bare relay: what any proxy costs at least.
                if !shape.stdio {
                    let relayed =
                        http_run(&relay.url, &direct_name, relay.proc.pid(), echo.proc.pid())
                            .await?;
                    say("relay", &relayed.0);
                    row.relay.runs.push(relayed);
                }
                // Through the gateway.
                let upstream = if shape.stdio {
                    stdio_child
                } else {
                    echo.proc.pid()
                };
                let through =
                    http_run(&gateway.mcp_url(), &gateway_name, gateway_pid, upstream).await?;
                say("gateway", &through.0);
                row.gateway.runs.push(through);
                if let Some(unmetered) = unmetered.as_ref().filter(|_| !shape.stdio) {
                    let pid = unmetered.proc.pid();
                    let url = unmetered.mcp_url();
                    let through = http_run(&url, &gateway_name, pid, upstream).await?;
                    say("gateway (metrics off)", &through.0);
                    row.unmetered.runs.push(through);
                }
            }
            rows.push(row);
        }
    }
    let log_lines = std::fs::read_to_string(&gateway.log)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    progress.say(format!("gateway log: {log_lines} lines"));
    gateway.proc.shutdown().await;
    if let Some(unmetered) = unmetered {
        unmetered.proc.shutdown().await;
    }
    relay.proc.shutdown().await;
    echo.proc.shutdown().await;
    Ok(rows)
}

/// A gateway on `config` (the call rows' two upstreams), ready: both healthy, their tools,
/// resource and prompt discovered.
async fn ready_gateway(bins: &Binaries, config: &serde_json::Value) -> anyhow::Result<GatewayProc> {
    let mut gateway = GatewayProc::spawn(bins, config)?;
    gateway.wait_ready(Duration::from_secs(30)).await?;
    gateway.wait_healthy(2, Duration::from_secs(30)).await?;
    gateway
        .wait_tools(2, &["echo__echo", "stdio__echo"], Duration::from_secs(30))
        .await?;
    let resources = [echo::RESOURCE_URI];
    gateway
        .wait_listed("resources", "uri", &resources, Duration::from_secs(30))
        .await?;
    let prompts = [gateway_prompt()];
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();
    gateway
        .wait_listed("prompts", "name", &prompts, Duration::from_secs(30))
        .await?;
    Ok(gateway)
}

fn say_run(
    progress: &Progress,
    scenario: Scenario,
    concurrency: usize,
    round: usize,
    rounds: usize,
    side: &str,
    r: &LoadResult,
) {
    let mut line = format!(
        "{} c={concurrency} round {round}/{rounds} {side:<7}: {:>8.0} req/s  p50 {:>7.1} µs  p99 {:>8.1} µs  errors {}",
        scenario.name(),
        r.rps(),
        r.p50_us(),
        r.p99_us(),
        r.errors
    );
    if r.server_requests > 0 {
        let _ = write!(line, "  server requests answered {}", r.server_requests);
    }
    if let Some(e) = &r.first_error {
        let _ = write!(line, " (first: {e})");
    }
    progress.say(line);
}

/// Quantile of a nanosecond histogram, in milliseconds.
fn ms(histogram: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1e6
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn catalog(
    bins: &Binaries,
    options: &Options,
    progress: &Progress,
    metrics: &mut Vec<Metric>,
    errors: &mut Errors,
) -> anyhow::Result<()> {
    let s = Scenario::Catalog;
    let (servers, tools) = (options.catalog_servers, options.catalog_tools);
    let expected = servers * tools;
    let echo = EchoHttp::start(bins, tools).await?;
    let mut gateway = GatewayProc::spawn(bins, &json!({}))?;
    gateway.wait_ready(Duration::from_secs(30)).await?;
    settle().await;
    let idle = gateway.proc.rss_kib()?;
    metrics.push(Metric::new(s, "gateway RSS, idle, no servers", mib(idle)));

    // Registration, one request at a time over one connection.
    progress.say(format!("catalog: registering {servers} servers"));
    let mut each = load::new_histogram();
    let started = Instant::now();
    for i in 0..servers {
        let t = Instant::now();
        match gateway.register(&format!("srv{i:04}"), &echo.url).await {
            Ok(()) => load::record(&mut each, t.elapsed()),
            Err(e) => errors.add("POST /mcp/servers", format!("{e:#}")),
        }
    }
    let took = started.elapsed();
    metrics.push(Metric::new(
        s,
        format!("register {servers} servers (POST /mcp/servers, sequential)"),
        format!(
            "{:.0} servers/s ({:.2} s; p50 {:.2} ms, p99 {:.2} ms)",
            servers as f64 / took.as_secs_f64(),
            took.as_secs_f64(),
            ms(&each, 0.5),
            ms(&each, 0.99)
        ),
    ));
    let registered = Instant::now();
    gateway
        .wait_healthy(servers, Duration::from_secs(300))
        .await?;
    gateway
        .wait_tools(expected, &[], Duration::from_secs(300))
        .await?;
    metrics.push(Metric::new(
        s,
        format!("all {expected} tools routable, after the last registration"),
        format!("{:.2} s", registered.elapsed().as_secs_f64()),
    ));
    settle().await;
    let full = gateway.proc.rss_kib()?;
    metrics.push(Metric::new(
        s,
        format!("gateway RSS with {servers} servers × {tools} tools"),
        mib(full),
    ));

    // tools/list through every page, in both eras.
    for era in [Era::Session, Era::Stateless] {
        progress.say(format!("catalog: tools/list, {} client", era.label()));
        let mut client = McpHttp::new(&gateway.mcp_url(), era)?;
        client.open().await?;
        let (mut pages, mut listings) = (load::new_histogram(), load::new_histogram());
        let mut parsed_listings = load::new_histogram();
        let mut page_count = 0;
        for _ in 0..options.catalog_iterations {
            let listing = Instant::now();
            let mut answered = Duration::ZERO;
            let (mut cursor, mut total, mut count) = (None::<String>, 0, 0);
            let complete = loop {
                match client.list_tools_page(cursor.as_deref()).await {
                    Ok((n, next, page_time)) => {
                        load::record(&mut pages, page_time);
                        answered += page_time;
                        total += n;
                        count += 1;
                        match next {
                            Some(next) => cursor = Some(next),
                            None => break true,
                        }
                    }
                    Err(e) => {
                        errors.add("tools/list", format!("{e:#}"));
                        break false;
                    }
                }
            };
            if !complete {
                continue;
            }
            if total != expected {
                errors.add(
                    "tools/list",
                    format!("listed {total} tools, expected {expected}"),
                );
                continue;
            }
            load::record(&mut listings, answered);
            load::record(&mut parsed_listings, listing.elapsed());
            page_count = count;
        }
        client.close().await;
        metrics.push(Metric::new(
            s,
            format!("tools/list page on /mcp ({} client)", era.label()),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms",
                ms(&pages, 0.5),
                ms(&pages, 0.99)
            ),
        ));
        // As GET /mcp/tools below: request to last byte of each answer, summed; the
        // client's own JSON parsing of the pages is shown apart.
        metrics.push(
            Metric::new(
                s,
                format!(
                    "tools/list, all {page_count} pages ({} client)",
                    era.label()
                ),
                format!(
                    "p50 {:.1} ms, p99 {:.1} ms (with the client's parsing: p50 {:.1} ms)",
                    ms(&listings, 0.5),
                    ms(&listings, 0.99),
                    ms(&parsed_listings, 0.5)
                ),
            )
            .target("p50 ≤ 5 ms"),
        );
    }

    // The REST list.
    progress.say("catalog: GET /mcp/tools");
    let mut times = load::new_histogram();
    let mut size = 0;
    for _ in 0..options.catalog_iterations {
        let t = Instant::now();
        let answer = gateway.http().get("/mcp/tools").await;
        let elapsed = t.elapsed();
        let check = answer.and_then(|answer| {
            if !answer.status.is_success() {
                bail!("GET /mcp/tools answered {}", answer.status);
            }
            let body = answer.body;
            size = body.len();
            let value: Value = serde_json::from_slice(&body)?;
            let n = value["tools"].as_array().map_or(0, Vec::len);
            if n != expected {
                bail!("GET /mcp/tools listed {n} tools, expected {expected}");
            }
            Ok(())
        });
        match check {
            Ok(()) => load::record(&mut times, elapsed),
            Err(e) => errors.add("GET /mcp/tools", format!("{e:#}")),
        }
    }
    metrics.push(
        Metric::new(
            s,
            format!(
                "GET /mcp/tools ({expected} tools, {:.1} MB)",
                size as f64 / 1e6
            ),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms",
                ms(&times, 0.5),
                ms(&times, 0.99)
            ),
        )
        .target("p50 ≤ 5 ms"),
    );
    gateway.proc.shutdown().await;
    echo.proc.shutdown().await;
    Ok(())
}

/// Connections the memory scenario opens and closes sessions over.
const OPENERS: usize = 16;

/// Clients, each with the session ids it opened.
type Opened = Vec<(McpHttp, Vec<http::HeaderValue>)>;

/// Opens `sessions` sessions (`initialize` + `notifications/initialized`) over
/// [`OPENERS`] connections.
async fn open_sessions(url: &str, sessions: usize, errors: &mut Errors) -> anyhow::Result<Opened> {
    let tasks: Vec<_> = (0..OPENERS)
        .map(|opener| {
            let url = url.to_owned();
            let count = sessions / OPENERS + usize::from(opener < sessions % OPENERS);
            tokio::spawn(async move {
                let mut client = McpHttp::new(&url, Era::Session)?;
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    client.open().await?;
                    ids.extend(client.session().cloned());
                }
                anyhow::Ok((client, ids))
            })
        })
        .collect();
    let mut opened = Vec::with_capacity(OPENERS);
    for task in tasks {
        match task.await.context("opener panicked")? {
            Ok(done) => opened.push(done),
            Err(e) => errors.add("opening sessions", format!("{e:#}")),
        }
    }
    Ok(opened)
}

/// Ends every session (`DELETE`).
async fn close_sessions(opened: Opened) {
    let closers: Vec<_> = opened
        .into_iter()
        .map(|(mut client, ids)| {
            tokio::spawn(async move {
                for id in ids {
                    client.set_session(Some(id));
                    client.close().await;
                }
            })
        })
        .collect();
    for closer in closers {
        let _ = closer.await;
    }
}

async fn memory(
    bins: &Binaries,
    options: &Options,
    progress: &Progress,
    metrics: &mut Vec<Metric>,
    errors: &mut Errors,
) -> anyhow::Result<()> {
    let s = Scenario::Memory;
    let sessions = options.sessions;
    let echo = EchoHttp::start(bins, 1).await?;
    let config = json!({
        "gateway": {"max_sessions": sessions + 100},
        "mcp_servers": {"echo": {"url": echo.url, "transport": "streamable_http"}},
    });
    let mut gateway = GatewayProc::spawn(bins, &config)?;
    gateway.wait_ready(Duration::from_secs(30)).await?;
    gateway.wait_healthy(1, Duration::from_secs(30)).await?;
    gateway
        .wait_tools(1, &["echo__echo"], Duration::from_secs(30))
        .await?;
    settle().await;
    let idle = gateway.proc.rss_kib()?;
    metrics.push(Metric::new(s, "gateway RSS, idle, 1 server", mib(idle)));

    progress.say(format!("memory: opening {sessions} idle sessions"));
    let url = gateway.mcp_url();
    let started = Instant::now();
    let mut opened = open_sessions(&url, sessions, errors).await?;
    let took = started.elapsed();
    let count: usize = opened.iter().map(|(_, ids)| ids.len()).sum();
    metrics.push(Metric::new(
        s,
        format!("open {count} sessions (initialize + initialized, {OPENERS} connections)"),
        format!(
            "{:.2} s ({:.0} sessions/s)",
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64()
        ),
    ));
    // The sessions work: one call on the first session opened.
    if let Some((client, ids)) = opened.first_mut() {
        client.set_session(ids.first().cloned());
        if let Err(e) = client.call_echo("echo__echo", "still here").await {
            errors.add("call on an idle session", format!("{e:#}"));
        }
        client.set_session(None);
    }
    settle().await;
    let loaded = gateway.proc.rss_kib()?;
    metrics.push(Metric::new(
        s,
        format!("gateway RSS with {count} idle sessions"),
        mib(loaded),
    ));
    metrics.push(Metric::new(
        s,
        "RSS per idle session",
        format!(
            "{:.1} KiB",
            loaded.saturating_sub(idle) as f64 / count.max(1) as f64
        ),
    ));
    progress.say("memory: closing the sessions, then a second open/close cycle");
    close_sessions(opened).await;
    settle().await;
    metrics.push(Metric::new(
        s,
        "gateway RSS after closing them",
        mib(gateway.proc.rss_kib()?),
    ));
    // A second cycle shows whether that memory is reused (allocator) or lost (a leak).
    let again = open_sessions(&url, sessions, errors).await?;
    close_sessions(again).await;
    settle().await;
    metrics.push(Metric::new(
        s,
        "gateway RSS after a second open + close cycle",
        mib(gateway.proc.rss_kib()?),
    ));
    gateway.proc.shutdown().await;
    echo.proc.shutdown().await;
    Ok(())
}

async fn startup(
    bins: &Binaries,
    options: &Options,
    progress: &Progress,
    metrics: &mut Vec<Metric>,
) -> anyhow::Result<()> {
    let s = Scenario::Startup;
    let count = options.startup_servers;
    let echo = EchoHttp::start(bins, 1).await?;
    let servers: serde_json::Map<String, Value> = (0..count)
        .map(|i| {
            (
                format!("srv{i:03}"),
                json!({"url": echo.url, "transport": "streamable_http"}),
            )
        })
        .collect();
    let config = json!({"mcp_servers": servers});
    let (mut ready, mut healthy, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for repeat in 1..=options.startup_repeats {
        let mut gateway = GatewayProc::spawn(bins, &config)?;
        let (_, to_ready) = gateway.wait_ready(Duration::from_secs(60)).await?;
        let to_healthy = gateway
            .wait_healthy(count, Duration::from_secs(120))
            .await?;
        progress.say(format!(
            "startup {repeat}/{}: ready after {:.1} ms, {count} servers healthy after {:.1} ms",
            options.startup_repeats,
            to_ready.as_secs_f64() * 1e3,
            to_healthy.as_secs_f64() * 1e3
        ));
        ready.push(to_ready.as_secs_f64() * 1e3);
        healthy.push(to_healthy.as_secs_f64() * 1e3);
        rss.push(gateway.proc.rss_kib()?);
        gateway.proc.shutdown().await;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let runs = format!("median of {}", options.startup_repeats);
    metrics.push(Metric::new(
        s,
        format!("spawn → /health/readiness 200, {count} configured servers"),
        format!("{:.1} ms ({runs})", median(&mut ready)),
    ));
    metrics.push(Metric::new(
        s,
        format!("spawn → all {count} servers healthy"),
        format!("{:.1} ms ({runs})", median(&mut healthy)),
    ));
    rss.sort_unstable();
    metrics.push(Metric::new(
        s,
        format!("gateway RSS just after, {count} servers"),
        mib(rss[rss.len() / 2]),
    ));
    echo.proc.shutdown().await;
    Ok(())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(
            || "unknown memory".into(),
            |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
        );
    format!("{cores} cores ({model}), {memory}")
}

fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.3}", d.as_secs_f64())
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
            + " s"
    }
}

fn us(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.0}")
    }
}

/// The floor: what a bare TCP relay in the gateway's place costs, beside what the gateway
/// costs. A proxy that parses and routes MCP cannot cost less than one that copies bytes.
fn render_floor(md: &mut String, rows: &[CallRow]) {
    let relayed: Vec<&CallRow> = rows.iter().filter(|r| !r.relay.runs.is_empty()).collect();
    if relayed.is_empty() {
        return;
    }
    md.push_str(
        "\nThe floor: the same client and upstream with a bare TCP relay (`mcp-bench-echo relay`, \
         bytes copied both ways, no parsing) in the gateway's place:\n\n\
         | scenario | c | relay req/s | relay ratio | relay added p50 (µs) | gateway ratio | gateway added p50 (µs) | gateway req/s ÷ relay req/s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in relayed {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.2} | {:+.0} | {:.2} | {:+.0} | {:.2} |",
            row.scenario.name(),
            row.concurrency,
            row.relay.rps(),
            row.relay_ratio(),
            row.relay_added_p50(),
            row.ratio(),
            row.added_p50(),
            row.gateway.rps() / row.relay.rps(),
        );
    }
}

/// Each client shape through the gateway against the plain session client through the
/// gateway (`http-session`, same run and concurrency), and its added p50 against the bare
/// relay's for the same shape (the target is judged at c = 1).
fn render_shapes(md: &mut String, rows: &[CallRow], smoke: bool) {
    /// Gateway throughput of a shape ÷ that of the plain session client.
    const THROUGHPUT_TARGET: f64 = 0.95;
    /// Gateway p50 − relay p50 at c = 1.
    const OVER_RELAY_TARGET_US: f64 = 30.0;
    let shapes: Vec<&CallRow> = rows
        .iter()
        .filter(|r| {
            !r.relay.runs.is_empty()
                && (r.scenario.is_client_shape() || r.scenario == Scenario::HttpSession)
        })
        .collect();
    if !shapes.iter().any(|r| r.scenario.is_client_shape()) {
        return;
    }
    md.push_str(
        "\nClient shapes through the gateway: each shape's gateway req/s ÷ the plain session \
         client's (`http-session`) gateway req/s at the same concurrency, in the same run \
         (target ≥ 0.95); and its added p50 beside the bare relay's for the same shape \
         (gateway p50 − relay p50; target ≤ 30 µs at c = 1):\n\n\
         | scenario | c | gateway req/s | ÷ http-session gateway req/s | target | added p50 (µs) | relay added p50 (µs) | gateway − relay p50 (µs) | target (c = 1) |\n\
         |---|---:|---:|---:|---|---:|---:|---:|---|\n",
    );
    let errors = CallRow::errors;
    let verdict = |errors: u64, target: &str, met: bool| verdict(errors, smoke, target, met);
    for row in shapes {
        let plain = rows
            .iter()
            .find(|r| r.scenario == Scenario::HttpSession && r.concurrency == row.concurrency);
        let (vs_plain, throughput_target) = match plain {
            _ if row.scenario == Scenario::HttpSession => ("1.00".into(), "reference".into()),
            Some(plain) => {
                let ratio = row.gateway.rps() / plain.gateway.rps();
                let met = ratio >= THROUGHPUT_TARGET;
                let target = verdict(errors(row) + errors(plain), "≥ 0.95", met);
                (format!("{ratio:.2}"), target)
            }
            None => ("–".into(), "– (run with http-session)".into()),
        };
        let over_relay = row.gateway.p50() - row.relay.p50();
        let latency_target = if row.concurrency == 1 {
            verdict(errors(row), "≤ +30 µs", over_relay <= OVER_RELAY_TARGET_US)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {} | {} | {:+.0} | {:+.0} | {:+.0} | {} |",
            row.scenario.name(),
            row.concurrency,
            row.gateway.rps(),
            vs_plain,
            throughput_target,
            row.added_p50(),
            row.relay_added_p50(),
            over_relay,
            latency_target,
        );
    }
    // What the IDE clients were asked while they were answered.
    let asked: Vec<String> = rows
        .iter()
        .filter(|r| r.scenario == Scenario::HttpIde)
        .map(|row| {
            let answered =
                |side: &Side| -> u64 { side.runs.iter().map(|(r, _)| r.server_requests).sum() };
            format!(
                "c = {}: direct {}, relay {}, gateway {}",
                row.concurrency,
                answered(&row.direct),
                answered(&row.relay),
                answered(&row.gateway)
            )
        })
        .collect();
    if !asked.is_empty() {
        let _ = writeln!(
            md,
            "\n`http-ide`: requests of the server's answered by the clients on a call's response \
             stream (each session's first call, checked and not measured, has the upstream ask \
             for the client's roots; through the gateway, which speaks 2026-07-28 upstream, the \
             upstream's `input_required` becomes the gateway's own `roots/list` to the client): \
             {}.",
            asked.join("; ")
        );
    }
}

/// What metering costs: each HTTP row's gateway against the same gateway with its metrics
/// off, both against the bare relay, in the same run (target: the gateway ÷ relay ratio
/// drops by ≤ 2 %).
fn render_metrics_cost(md: &mut String, rows: &[CallRow], smoke: bool) {
    const DROP_TARGET: f64 = 0.02;
    let rows: Vec<&CallRow> = rows
        .iter()
        .filter(|r| !r.unmetered.runs.is_empty() && !r.relay.runs.is_empty())
        .collect();
    if rows.is_empty() {
        return;
    }
    md.push_str(
        "\nMetrics on and off (`gateway.metrics.enabled`), two gateways side by side in the same \
         rounds: each one's req/s ÷ the bare relay's, and how much metering lowers that ratio \
         (target ≤ 2 %):\n\n\
         | scenario | c | metrics on req/s | metrics off req/s | on ÷ relay | off ÷ relay | drop | on p50 / off p50 (µs) | gateway CPU µs/call on / off | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let on = row.gateway.rps() / row.relay.rps();
        let off = row.unmetered.rps() / row.relay.rps();
        let drop = 1.0 - on / off;
        let verdict = verdict(row.errors(), smoke, "≤ 2 %", drop <= DROP_TARGET);
        let cpu = |side: &Side| opt_us(side.median(|(_, c)| c.middle));
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:+.1} % | {} / {} | {} / {} | {} |",
            row.scenario.name(),
            row.concurrency,
            row.gateway.rps(),
            row.unmetered.rps(),
            on,
            off,
            drop * 100.0,
            us(row.gateway.p50()),
            us(row.unmetered.p50()),
            cpu(&row.gateway),
            cpu(&row.unmetered),
            verdict,
        );
    }
}

/// A row's target and whether it was met: not judged in a smoke run, invalid with errors.
fn verdict(errors: u64, smoke: bool, target: &str, met: bool) -> String {
    if errors > 0 {
        "invalid (errors)".to_owned()
    } else if smoke {
        format!("{target} (smoke: not judged)")
    } else {
        format!("{target} {}", if met { "✓" } else { "✗" })
    }
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

fn render(
    options: &Options,
    bins: &Binaries,
    rows: &[CallRow],
    metrics: &[Metric],
    errors: &Errors,
) -> String {
    let mut md = String::new();
    let w = options.window;
    let _ = writeln!(
        md,
        "## mcp-bench compare{}\n\nMachine: {}.{} Each call cell: median of {} round(s); \
         a round is a direct run, a relay run (HTTP upstreams) and a gateway run, each {} measured \
         after {} of warm-up.\n",
        if options.smoke { " --smoke" } else { "" },
        machine(),
        bins.gateway_workers.map_or_else(String::new, |n| format!(
            " Gateway runtime: {n} worker thread(s) (`--gateway-workers`)."
        )),
        options.rounds,
        human(w.duration),
        human(w.warmup)
    );
    if !rows.is_empty() {
        md.push_str(
            "| scenario | c | direct req/s | gateway req/s | ratio | direct p50 / p99 (µs) | gateway p50 / p99 (µs) | added p50 (µs) | errors | target |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        );
        for row in rows {
            let errors = row.errors();
            let (target, met) = row.target();
            let verdict = verdict(errors, options.smoke, &target, met);
            let _ = writeln!(
                md,
                "| {} | {} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} | {:+.0} | {} | {} |",
                row.scenario.name(),
                row.concurrency,
                row.direct.rps(),
                row.gateway.rps(),
                row.ratio(),
                us(row.direct.p50()),
                us(row.direct.p99()),
                us(row.gateway.p50()),
                us(row.gateway.p99()),
                row.added_p50(),
                errors,
                verdict
            );
        }
        render_floor(&mut md, rows);
        render_shapes(&mut md, rows, options.smoke);
        render_metrics_cost(&mut md, rows, options.smoke);
        md.push_str(
            "\nCPU time per call (µs; median of rounds; the bench client, the gateway or relay, the upstream):\n\n\
             | scenario | c | direct: client | direct: upstream | gateway: client | gateway: gateway | gateway: upstream | relay: relay |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in rows {
            let d = |f: fn(&CpuPerCall) -> Option<f64>| row.direct.median(|(_, c)| f(c));
            let g = |f: fn(&CpuPerCall) -> Option<f64>| row.gateway.median(|(_, c)| f(c));
            let r = |f: fn(&CpuPerCall) -> Option<f64>| row.relay.median(|(_, c)| f(c));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.scenario.name(),
                row.concurrency,
                opt_us(d(|c| Some(c.client))),
                opt_us(d(|c| c.upstream)),
                opt_us(g(|c| Some(c.client))),
                opt_us(g(|c| c.middle)),
                opt_us(g(|c| c.upstream)),
                opt_us(r(|c| c.middle)),
            );
        }
        md.push('\n');
    }
    if !metrics.is_empty() {
        md.push_str("| scenario | metric | value | target |\n|---|---|---|---|\n");
        for m in metrics {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                m.scenario, m.metric, m.value, m.target
            );
        }
        md.push('\n');
    }
    let mut first_errors: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                ("direct", &r.direct),
                ("gateway", &r.gateway),
                ("relay", &r.relay),
            ]
            .into_iter()
            .filter_map(move |(side, s)| {
                s.first_error()
                    .map(|e| format!("{} c={} {side}: {e}", r.scenario.name(), r.concurrency))
            })
        })
        .collect();
    first_errors.extend(errors.messages.iter().cloned());
    if first_errors.is_empty() {
        md.push_str("Every answer was verified; no errors.\n");
    } else {
        md.push_str("**ERRORS — this run is not a valid measurement:**\n\n");
        for e in first_errors {
            let _ = writeln!(md, "* {e}");
        }
    }
    md
}

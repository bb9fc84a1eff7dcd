//! The load generator: `concurrency` workers, each with its own client, call `tools/call`
//! in a closed loop for a fixed time; every answer is checked; latencies go to an HDR
//! histogram.
//!
//! * [`McpHttp`]: MCP streamable HTTP by hand over one HTTP/1.1 keep-alive connection per
//!   worker ([`HttpConn`]), raw JSON-RPC bodies, JSON or SSE answers.
//! * [`run_http`]: workers of either era against one URL.
//! * [`run_stdio_direct`]: the stdio baseline, an rmcp client that spawns the stdio server
//!   and sends `tools/call` over its pipes (the workers share that one connection, as the
//!   gateway's clients share its one upstream connection).

use std::{
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{
    HeaderMap, HeaderValue, Method,
    header::{ACCEPT, CONTENT_TYPE},
};
use rmcp::{
    RoleClient,
    model::{CallToolRequestParams, JsonObject, ProtocolVersion},
    service::{ClientLifecycleMode, ClientServiceExt, Peer, RunningService},
    transport::async_rw::AsyncRwTransport,
};
use serde_json::Value;
use tokio::sync::Barrier;

use crate::{
    conn::{Answer, HttpConn},
    wire::{self, Era},
};

/// Where a run's workers send their calls.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The MCP endpoint, e.g. `http://127.0.0.1:4000/mcp`.
    pub url: String,
    /// The tool to call with `{"message": …}`; it must answer with the message.
    pub tool: String,
    pub era: Era,
}

/// The timing of a run: a warm-up whose answers are checked but not measured, then the
/// measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub duration: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub concurrency: usize,
    /// Correct answers completed inside the measured window.
    pub ok: u64,
    /// Every completed call, warm-up and failures included (for CPU per call).
    pub calls: u64,
    /// Failed or wrong answers, warm-up included.
    pub errors: u64,
    pub first_error: Option<String>,
    pub window: Duration,
    /// Latency of the measured calls, in nanoseconds.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    fn new(concurrency: usize, window: Duration) -> Self {
        Self {
            concurrency,
            ok: 0,
            calls: 0,
            errors: 0,
            first_error: None,
            window,
            latency: new_histogram(),
        }
    }

    /// Calls per second in the measured window.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }

    /// Latency quantile in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    pub fn p50_us(&self) -> f64 {
        self.quantile_us(0.5)
    }

    pub fn p99_us(&self) -> f64 {
        self.quantile_us(0.99)
    }

    fn merge(&mut self, worker: WorkerStats) {
        self.ok += worker.ok;
        self.calls += worker.calls;
        self.errors += worker.errors;
        if self.first_error.is_none() {
            self.first_error = worker.first_error;
        }
        self.latency
            .add(&worker.latency)
            .expect("histograms share their bounds");
    }
}

/// A histogram of nanoseconds from 100 ns to 60 s, three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(100, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Records `elapsed` (clamped to the histogram's range).
pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    histogram.saturating_record(nanos.max(100));
}

struct WorkerStats {
    ok: u64,
    calls: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
}

/// One worker's way of making a call; `seq` makes each echoed message unique.
pub(crate) trait Caller: Send + 'static {
    fn call(&mut self, seq: u64) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The closed loop: wait for every worker to be ready, warm up, then measure until the
/// window ends. A call that completes after the window is not measured.
async fn drive<C: Caller>(mut caller: C, start: Arc<Barrier>, window: Window) -> (C, WorkerStats) {
    let mut stats = WorkerStats {
        ok: 0,
        calls: 0,
        errors: 0,
        first_error: None,
        latency: new_histogram(),
    };
    start.wait().await;
    let measure_from = Instant::now() + window.warmup;
    let end = measure_from + window.duration;
    let mut seq = 0u64;
    loop {
        let started = Instant::now();
        if started >= end {
            break;
        }
        let result = caller.call(seq).await;
        let done = Instant::now();
        seq += 1;
        stats.calls += 1;
        match result {
            Ok(()) if started >= measure_from && done <= end => {
                stats.ok += 1;
                record(&mut stats.latency, done - started);
            }
            Ok(()) => {}
            Err(e) => {
                stats.errors += 1;
                if stats.first_error.is_none() {
                    stats.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
    (caller, stats)
}

/// Runs already set-up callers together and merges what they measured.
pub(crate) async fn run_callers<C: Caller>(
    callers: Vec<C>,
    window: Window,
) -> (Vec<C>, LoadResult) {
    let concurrency = callers.len();
    let start = Arc::new(Barrier::new(concurrency));
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|caller| tokio::spawn(drive(caller, start.clone(), window)))
        .collect();
    let mut result = LoadResult::new(concurrency, window.duration);
    let mut callers = Vec::with_capacity(concurrency);
    for task in tasks {
        match task.await {
            Ok((caller, stats)) => {
                callers.push(caller);
                result.merge(stats);
            }
            Err(e) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    (callers, result)
}

/// An MCP client over streamable HTTP, written out by hand: one keep-alive HTTP/1.1
/// connection ([`HttpConn`]), raw JSON-RPC bodies.
pub struct McpHttp {
    conn: HttpConn,
    path: String,
    era: Era,
    session: Option<HeaderValue>,
    next_id: u64,
}

impl McpHttp {
    pub fn new(url: &str, era: Era) -> anyhow::Result<Self> {
        let (conn, path) = HttpConn::for_url(url)?;
        Ok(Self {
            conn,
            path,
            era,
            session: None,
            next_id: 1,
        })
    }

    /// The session id, once open (session era).
    pub fn session(&self) -> Option<&HeaderValue> {
        self.session.as_ref()
    }

    /// Switches to another session (or none), e.g. to open or close many sessions over
    /// this one connection.
    pub fn set_session(&mut self, session: Option<HeaderValue>) {
        self.session = session;
    }

    /// Session era: `initialize` (keeping the `Mcp-Session-Id`) and
    /// `notifications/initialized`. Stateless: nothing to do.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        if self.era == Era::Stateless {
            return Ok(());
        }
        self.session = None;
        let id = self.take_id();
        let answer = self
            .post(HeaderMap::new(), wire::initialize_body(id))
            .await
            .context("initialize")?;
        let session = answer.headers.get(wire::HEADER_SESSION_ID).cloned();
        let result = Self::result(&answer, id).context("initialize")?;
        let session = session.ok_or_else(|| anyhow!("initialize answered without a session id"))?;
        let version = result.get("protocolVersion").and_then(Value::as_str);
        if version != Some(wire::SESSION_VERSION) {
            bail!(
                "initialize negotiated {version:?}, expected {}",
                wire::SESSION_VERSION
            );
        }
        self.session = Some(session);
        let headers = self.headers("notifications/initialized", None)?;
        let answer = self
            .post(headers, wire::initialized_body())
            .await
            .context("notifications/initialized")?;
        if !answer.status.is_success() {
            bail!("notifications/initialized answered {}", answer.status);
        }
        Ok(())
    }

    /// Ends the session (`DELETE`); errors are ignored.
    pub async fn close(&mut self) {
        if let Some(session) = self.session.take() {
            let mut headers = HeaderMap::new();
            headers.insert(wire::HEADER_SESSION_ID, session);
            headers.insert(
                wire::HEADER_PROTOCOL_VERSION,
                HeaderValue::from_static(wire::SESSION_VERSION),
            );
            let _ = self
                .conn
                .send(Method::DELETE, &self.path, headers, Bytes::new())
                .await;
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn headers(&self, method: &str, name: Option<&str>) -> anyhow::Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Some(session) = &self.session {
            headers.insert(wire::HEADER_SESSION_ID, session.clone());
        }
        for (key, value) in wire::request_headers(self.era, method, name) {
            headers.insert(key, HeaderValue::from_str(&value)?);
        }
        Ok(headers)
    }

    async fn post(&mut self, mut headers: HeaderMap, body: String) -> anyhow::Result<Answer> {
        headers.insert(ACCEPT, HeaderValue::from_static(wire::ACCEPT));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.conn
            .send(Method::POST, &self.path, headers, Bytes::from(body))
            .await
    }

    fn result(answer: &Answer, id: u64) -> anyhow::Result<Value> {
        if !answer.status.is_success() {
            bail!(
                "HTTP {}: {}",
                answer.status,
                wire::excerpt(&String::from_utf8_lossy(&answer.body))
            );
        }
        wire::find_response(answer.content_type(), &answer.body, id)
    }

    /// Sends one request and returns its `result`.
    pub async fn request(
        &mut self,
        method: &str,
        name: Option<&str>,
        body: impl FnOnce(Era, u64) -> String,
    ) -> anyhow::Result<Value> {
        let id = self.take_id();
        let headers = self.headers(method, name)?;
        let answer = self.post(headers, body(self.era, id)).await?;
        Self::result(&answer, id)
    }

    /// `tools/call` of `tool` with `message`, checking the echo.
    pub async fn call_echo(&mut self, tool: &str, message: &str) -> anyhow::Result<()> {
        let result = self
            .request("tools/call", Some(tool), |era, id| {
                wire::call_body(era, id, tool, message)
            })
            .await?;
        wire::check_echo(&result, message)
    }

    /// One `tools/list` page: the number of tools, the next cursor, and the time from
    /// sending the request to the answer's last byte (the page is parsed after that).
    pub async fn list_tools_page(
        &mut self,
        cursor: Option<&str>,
    ) -> anyhow::Result<(usize, Option<String>, Duration)> {
        let id = self.take_id();
        let headers = self.headers("tools/list", None)?;
        let started = Instant::now();
        let answer = self
            .post(headers, wire::list_tools_body(self.era, id, cursor))
            .await?;
        let answered = started.elapsed();
        let (tools, next) = wire::tools_page(&Self::result(&answer, id)?)?;
        Ok((tools, next, answered))
    }
}

struct HttpCaller {
    client: McpHttp,
    tool: String,
    worker: usize,
    message: String,
}

impl Caller for HttpCaller {
    async fn call(&mut self, seq: u64) -> anyhow::Result<()> {
        use std::fmt::Write;
        self.message.clear();
        let _ = write!(self.message, "w{}-{seq}", self.worker);
        self.client.call_echo(&self.tool, &self.message).await
    }
}

/// `concurrency` workers against `target` for `window`. Sessions are opened before and
/// closed after the measurement.
pub async fn run_http(
    target: &HttpTarget,
    concurrency: usize,
    window: Window,
) -> anyhow::Result<LoadResult> {
    let mut setups = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let target = target.clone();
        setups.push(tokio::spawn(async move {
            let mut client = McpHttp::new(&target.url, target.era)?;
            client.open().await?;
            anyhow::Ok(HttpCaller {
                client,
                tool: target.tool,
                worker,
                message: String::new(),
            })
        }));
    }
    let mut callers = Vec::with_capacity(concurrency);
    for setup in setups {
        callers.push(setup.await.context("worker setup panicked")??);
    }
    let (callers, result) = run_callers(callers, window).await;
    for mut caller in callers {
        caller.client.close().await;
    }
    Ok(result)
}

/// An rmcp client connected to a child process over its pipes.
pub struct StdioClient {
    running: RunningService<RoleClient, ()>,
    child: tokio::process::Child,
}

impl StdioClient {
    /// Spawns `program args…` and runs the handshake of `era`: `initialize` (session) or
    /// `server/discover` (2026-07-28).
    pub async fn spawn(program: &Path, args: &[&str], era: Era) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", program.display()))?;
        let stdin = child.stdin.take().context("no stdin pipe")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let transport = AsyncRwTransport::new_client(stdout, stdin);
        let lifecycle = match era {
            Era::Session => ClientLifecycleMode::Initialize,
            Era::Stateless => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        };
        let running =
            ().serve_with_lifecycle(transport, lifecycle)
                .await
                .context("stdio handshake")?;
        Ok(Self { running, child })
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn peer(&self) -> Peer<RoleClient> {
        self.running.peer().clone()
    }

    /// Closes the connection (the server exits on end of input) and reaps the child.
    pub async fn shutdown(mut self) {
        let _ = self
            .running
            .close_with_timeout(Duration::from_secs(2))
            .await;
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

struct StdioCaller {
    peer: Peer<RoleClient>,
    worker: usize,
}

impl Caller for StdioCaller {
    async fn call(&mut self, seq: u64) -> anyhow::Result<()> {
        let message = format!("w{}-{seq}", self.worker);
        let mut arguments = JsonObject::new();
        arguments.insert("message".into(), Value::String(message.clone()));
        let result = self
            .peer
            .call_tool(CallToolRequestParams::new("echo").with_arguments(arguments))
            .await?;
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.as_str());
        if result.is_error == Some(true) || text != Some(message.as_str()) {
            bail!("unexpected echo result: {result:?}");
        }
        Ok(())
    }
}

/// The direct stdio baseline over an open client: `concurrency` workers share its one
/// connection and call the server's `echo` tool.
pub async fn run_stdio(client: &StdioClient, concurrency: usize, window: Window) -> LoadResult {
    let callers = (0..concurrency)
        .map(|worker| StdioCaller {
            peer: client.peer(),
            worker,
        })
        .collect();
    run_callers(callers, window).await.1
}

/// [`run_stdio`] with a client spawned for the run (`program args…`) and stopped after it.
pub async fn run_stdio_direct(
    program: &Path,
    args: &[&str],
    era: Era,
    concurrency: usize,
    window: Window,
) -> anyhow::Result<LoadResult> {
    let client = StdioClient::spawn(program, args, era).await?;
    let result = run_stdio(&client, concurrency, window).await;
    client.shutdown().await;
    Ok(result)
}

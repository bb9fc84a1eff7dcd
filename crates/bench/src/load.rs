//! The load generator: `concurrency` workers, each with its own client, call `tools/call`
//! in a closed loop for a fixed time; every answer is checked; latencies go to an HDR
//! histogram.
//!
//! * [`McpHttp`]: MCP streamable HTTP by hand over one HTTP/1.1 keep-alive connection per
//!   worker ([`HttpConn`]), raw JSON-RPC bodies, JSON or SSE answers; a session client
//!   may present itself as a plain client, as an IDE does (roots, sampling, elicitation;
//!   it answers the server's requests on a response stream as they arrive), or with a log
//!   level set ([`Profile`]).
//! * [`run_http`]: workers of either era against one URL, each call a `tools/call`,
//!   `resources/read` or `prompts/get` ([`Operation`]).
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
    conn::{self, Answer, HttpConn},
    echo,
    wire::{self, Era, Incoming, SseSplitter},
};

/// What each call of a run asks; every answer is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `tools/call` of an echo tool with `{"message": …}` (unique per call); the answer
    /// must be the message.
    CallTool,
    /// `resources/read` of the echo upstream's resource ([`echo::RESOURCE_URI`]); the
    /// answer must be its text.
    ReadResource,
    /// `prompts/get` of the echo upstream's prompt with `{"name": …}` (unique per call);
    /// the answer must be the greeting ([`echo::greeting`]).
    GetPrompt,
}

/// How a session-era client presents itself (a 2026-07-28 client is always plain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// No capabilities; nothing sent after `notifications/initialized`.
    #[default]
    Plain,
    /// The capabilities IDE clients declare ([`wire::ide_capabilities`]: roots with
    /// `listChanged`, sampling, elicitation). Every answer is read as it arrives, and the
    /// server's requests on it (e.g. `roots/list`) are answered on a second connection
    /// before the response comes.
    Ide,
    /// `logging/setLevel` (`info`) right after the handshake.
    LogLevel,
}

impl Profile {
    fn capabilities(self) -> Value {
        match self {
            Profile::Ide => wire::ide_capabilities(),
            Profile::Plain | Profile::LogLevel => Value::Object(Default::default()),
        }
    }
}

/// The level a [`Profile::LogLevel`] client sets.
pub const LOG_LEVEL: &str = "info";

/// Where a run's workers send their calls, and what they ask.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    /// The MCP endpoint, e.g. `http://127.0.0.1:4000/mcp`.
    pub url: String,
    /// The tool ([`Operation::CallTool`]), resource URI ([`Operation::ReadResource`]) or
    /// prompt ([`Operation::GetPrompt`]).
    pub name: String,
    pub op: Operation,
    pub era: Era,
    pub profile: Profile,
    /// `Authorization: Bearer <token>` on every request (an API key, a JWT).
    pub bearer: Option<String>,
}

impl HttpTarget {
    /// `tools/call` of `tool` by plain clients of `era`.
    pub fn tool(url: impl Into<String>, tool: impl Into<String>, era: Era) -> Self {
        Self {
            url: url.into(),
            name: tool.into(),
            op: Operation::CallTool,
            era,
            profile: Profile::Plain,
            bearer: None,
        }
    }
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
    /// Requests of the server's that the clients answered (an IDE client's `roots/list`).
    pub server_requests: u64,
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
            server_requests: 0,
        }
    }

    /// A run that could not take place (e.g. its clients could not be set up): one error.
    pub fn failed(concurrency: usize, window: Duration, error: String) -> Self {
        let mut result = Self::new(concurrency, window);
        result.errors = 1;
        result.first_error = Some(error);
        result
    }

    /// Counts an error found outside the measured loop (e.g. while setting a client up).
    fn add_error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
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
    url: String,
    path: String,
    era: Era,
    profile: Profile,
    /// The second connection an IDE client answers the server's requests on (opened when
    /// the first one comes): the first is busy with the response stream they came on.
    replies: Option<HttpConn>,
    /// Requests of the server's answered so far.
    answered: u64,
    session: Option<HeaderValue>,
    next_id: u64,
    bearer: Option<HeaderValue>,
}

impl McpHttp {
    pub fn new(url: &str, era: Era) -> anyhow::Result<Self> {
        let (conn, path) = HttpConn::for_url(url)?;
        Ok(Self {
            conn,
            url: url.to_owned(),
            path,
            era,
            profile: Profile::Plain,
            replies: None,
            answered: 0,
            session: None,
            next_id: 1,
            bearer: None,
        })
    }

    /// A client presenting `token` as its bearer credential.
    pub fn with_bearer(mut self, token: Option<&str>) -> anyhow::Result<Self> {
        self.bearer = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()?;
        Ok(self)
    }

    /// A client presenting itself as `profile` (session era).
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Requests of the server's this client has answered.
    pub fn server_requests(&self) -> u64 {
        self.answered
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

    /// Session era: `initialize` (keeping the `Mcp-Session-Id`, declaring the profile's
    /// capabilities), `notifications/initialized`, and `logging/setLevel` for
    /// [`Profile::LogLevel`]. Stateless: nothing to do.
    pub async fn open(&mut self) -> anyhow::Result<()> {
        if self.era == Era::Stateless {
            return Ok(());
        }
        self.session = None;
        let id = self.take_id();
        let answer = self
            .post(
                HeaderMap::new(),
                wire::initialize_body(id, &self.profile.capabilities()),
            )
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
        if self.profile == Profile::LogLevel {
            let result = self
                .request("logging/setLevel", None, |_, id| {
                    wire::set_level_body(id, LOG_LEVEL)
                })
                .await
                .context("logging/setLevel")?;
            if !result.is_object() {
                bail!("logging/setLevel answered {result}, expected {{}}");
            }
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
        if let Some(bearer) = &self.bearer {
            headers.insert(http::header::AUTHORIZATION, bearer.clone());
        }
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
        let body = body(self.era, id);
        if self.profile == Profile::Ide && self.era == Era::Session {
            return self.request_reading_as_it_comes(headers, body, id).await;
        }
        let answer = self.post(headers, body).await?;
        Self::result(&answer, id)
    }

    /// [`McpHttp::request`] for a client the server may ask things while it answers: an
    /// SSE answer is read event by event, each request of the server's on it is answered
    /// at once (on the second connection), and the response is taken when it comes.
    async fn request_reading_as_it_comes(
        &mut self,
        mut headers: HeaderMap,
        body: String,
        id: u64,
    ) -> anyhow::Result<Value> {
        headers.insert(ACCEPT, HeaderValue::from_static(wire::ACCEPT));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let exchange = async {
            let (parts, mut body) = self
                .conn
                .start(Method::POST, &self.path, headers, Bytes::from(body))
                .await?;
            let is_sse = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(wire::is_event_stream);
            if !parts.status.is_success() || !is_sse {
                let mut whole = Vec::new();
                while let Some(chunk) = body.chunk().await? {
                    whole.extend_from_slice(&chunk);
                }
                let answer = Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body: Bytes::from(whole),
                };
                return Self::result(&answer, id);
            }
            let mut events = SseSplitter::default();
            let mut response = None;
            let mut arrived = Vec::new();
            loop {
                let chunk = body.chunk().await?;
                let ended = chunk.is_none();
                match chunk {
                    Some(chunk) => {
                        events.push(&chunk);
                        while let Some(data) = events.next_event()? {
                            arrived.push(data);
                        }
                    }
                    None => arrived.extend(events.finish()?),
                }
                for data in arrived.drain(..) {
                    match wire::classify(&data, id)? {
                        Incoming::Response(result) => {
                            response.get_or_insert(result);
                        }
                        Incoming::Request { method, reply } => {
                            self.reply(reply)
                                .await
                                .with_context(|| format!("answering the server's {method}"))?;
                        }
                        Incoming::Other => {}
                    }
                }
                if ended {
                    break;
                }
            }
            response.unwrap_or_else(|| Err(anyhow!("no response with id {id} in the SSE stream")))
        };
        let result = tokio::time::timeout(conn::REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(anyhow!("no answer within {:?}", conn::REQUEST_TIMEOUT)));
        if result.is_err() {
            // The body may not have been read to its end.
            self.conn.reset();
        }
        result
    }

    /// POSTs the client's reply to a request of the server's, on the second connection.
    async fn reply(&mut self, reply: String) -> anyhow::Result<()> {
        let mut headers = HeaderMap::new();
        if let Some(session) = &self.session {
            headers.insert(wire::HEADER_SESSION_ID, session.clone());
        }
        headers.insert(
            wire::HEADER_PROTOCOL_VERSION,
            HeaderValue::from_static(wire::SESSION_VERSION),
        );
        headers.insert(ACCEPT, HeaderValue::from_static(wire::ACCEPT));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let replies = match &mut self.replies {
            Some(replies) => replies,
            None => self.replies.insert(HttpConn::for_url(&self.url)?.0),
        };
        let answer = replies
            .send(Method::POST, &self.path, headers, Bytes::from(reply))
            .await?;
        if !answer.status.is_success() {
            bail!(
                "HTTP {}: {}",
                answer.status,
                wire::excerpt(&String::from_utf8_lossy(&answer.body))
            );
        }
        self.answered += 1;
        Ok(())
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

    /// `tools/call` of the echo upstream's `tool` asking it to ask the client for its roots
    /// first (`"ask": "roots"`): the upstream's `roots/list` must reach this client on the
    /// call's response stream (directly, or relayed by a gateway) and be answered before
    /// the echo comes back.
    pub async fn call_echo_asking_roots(
        &mut self,
        tool: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        let before = self.answered;
        let result = self
            .request("tools/call", Some(tool), |era, id| {
                wire::call_asking_roots_body(era, id, tool, message)
            })
            .await?;
        wire::check_echo(&result, message)?;
        if self.answered == before {
            bail!("the echo came back without a roots/list request on the call's stream");
        }
        Ok(())
    }

    /// `resources/read` of `uri`, checking the text against the echo upstream's resource.
    pub async fn read_resource(&mut self, uri: &str) -> anyhow::Result<()> {
        let result = self
            .request("resources/read", Some(uri), |era, id| {
                wire::read_body(era, id, uri)
            })
            .await?;
        wire::check_read(&result, uri, echo::RESOURCE_TEXT)
    }

    /// `prompts/get` of `prompt` for `who`, checking the greeting.
    pub async fn get_prompt(&mut self, prompt: &str, who: &str) -> anyhow::Result<()> {
        let result = self
            .request("prompts/get", Some(prompt), |era, id| {
                wire::prompt_body(era, id, prompt, who)
            })
            .await?;
        wire::check_prompt(&result, &echo::greeting(who))
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
    op: Operation,
    /// The tool, resource URI or prompt.
    name: String,
    worker: usize,
    message: String,
}

impl Caller for HttpCaller {
    async fn call(&mut self, seq: u64) -> anyhow::Result<()> {
        use std::fmt::Write;
        match self.op {
            Operation::CallTool => {
                self.message.clear();
                let _ = write!(self.message, "w{}-{seq}", self.worker);
                self.client.call_echo(&self.name, &self.message).await
            }
            Operation::ReadResource => self.client.read_resource(&self.name).await,
            Operation::GetPrompt => {
                self.message.clear();
                let _ = write!(self.message, "w{}-{seq}", self.worker);
                self.client.get_prompt(&self.name, &self.message).await
            }
        }
    }
}

/// How long the roots probe of an IDE client's setup may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// `concurrency` workers against `target` for `window`. Sessions are opened before and
/// closed after the measurement. An IDE client calling tools first makes one call (checked,
/// not measured) whose upstream asks it for its roots on the call's response stream (see
/// [`McpHttp::call_echo_asking_roots`]); a failed probe counts as an error of the run.
pub async fn run_http(
    target: &HttpTarget,
    concurrency: usize,
    window: Window,
) -> anyhow::Result<LoadResult> {
    let mut setups = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let target = target.clone();
        setups.push(tokio::spawn(async move {
            let mut client = McpHttp::new(&target.url, target.era)?
                .with_profile(target.profile)
                .with_bearer(target.bearer.as_deref())?;
            client.open().await?;
            let mut probe_error = None;
            if target.profile == Profile::Ide
                && target.era == Era::Session
                && target.op == Operation::CallTool
            {
                let message = format!("w{worker}-roots");
                let probe = tokio::time::timeout(
                    PROBE_TIMEOUT,
                    client.call_echo_asking_roots(&target.name, &message),
                )
                .await
                .unwrap_or_else(|_| Err(anyhow!("no answer within {PROBE_TIMEOUT:?}")));
                if let Err(e) = probe {
                    probe_error = Some(format!("roots probe (setup, not measured): {e:#}"));
                }
            }
            anyhow::Ok((
                HttpCaller {
                    client,
                    op: target.op,
                    name: target.name,
                    worker,
                    message: String::new(),
                },
                probe_error,
            ))
        }));
    }
    let mut callers = Vec::with_capacity(concurrency);
    let mut setup_errors = Vec::new();
    for setup in setups {
        let (caller, probe_error) = setup.await.context("worker setup panicked")??;
        callers.push(caller);
        setup_errors.extend(probe_error);
    }
    let (callers, mut result) = run_callers(callers, window).await;
    for error in setup_errors {
        result.add_error(error);
    }
    for mut caller in callers {
        result.server_requests += caller.client.server_requests();
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

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::echo::{self, EchoServer};

    /// The echo server with its extras, in process; its MCP URL.
    async fn echo_server(stop: &CancellationToken) -> String {
        let (listener, url) = echo::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let server = EchoServer::new(1).with_extras();
        tokio::spawn(echo::serve_http(listener, server, stop.clone()));
        url
    }

    const SHORT: Window = Window {
        warmup: Duration::from_millis(10),
        duration: Duration::from_millis(50),
    };

    #[tokio::test]
    async fn ide_client_answers_roots_on_the_call_stream_and_keeps_working() {
        let stop = CancellationToken::new();
        let url = echo_server(&stop).await;
        let mut client = McpHttp::new(&url, Era::Session)
            .unwrap()
            .with_profile(Profile::Ide);
        client.open().await.unwrap();
        client
            .call_echo_asking_roots("echo", "first")
            .await
            .unwrap();
        assert_eq!(client.server_requests(), 1);
        client.call_echo("echo", "then plain").await.unwrap();
        client
            .call_echo_asking_roots("echo", "again")
            .await
            .unwrap();
        assert_eq!(client.server_requests(), 2);
        assert!(client.call_echo("echo", "x").await.is_ok());
        client.close().await;

        // A plain client declares no roots: the server does not ask, the call fails.
        let mut plain = McpHttp::new(&url, Era::Session).unwrap();
        plain.open().await.unwrap();
        let e = tokio::time::timeout(
            Duration::from_secs(10),
            plain.call_echo_asking_roots("echo", "no"),
        )
        .await
        .expect("an answer at once")
        .unwrap_err();
        assert!(e.to_string().contains("no roots capability"), "{e}");
        plain.close().await;

        let target = HttpTarget {
            profile: Profile::Ide,
            ..HttpTarget::tool(&url, "echo", Era::Session)
        };
        let result = run_http(&target, 2, SHORT).await.unwrap();
        assert_eq!(result.errors, 0, "{:?}", result.first_error);
        assert!(result.ok > 0);
        assert_eq!(result.server_requests, 2, "one roots probe per worker");
        stop.cancel();
    }

    #[tokio::test]
    async fn every_operation_and_profile_is_checked() {
        let stop = CancellationToken::new();
        let url = echo_server(&stop).await;
        let mut client = McpHttp::new(&url, Era::Session)
            .unwrap()
            .with_profile(Profile::LogLevel);
        client.open().await.unwrap();
        client.read_resource(echo::RESOURCE_URI).await.unwrap();
        client.get_prompt(echo::PROMPT, "bench").await.unwrap();
        assert!(client.read_resource("bench://echo/none").await.is_err());
        assert!(client.get_prompt("nope", "bench").await.is_err());
        client.close().await;

        for (op, name, profile) in [
            (Operation::CallTool, "echo", Profile::LogLevel),
            (Operation::ReadResource, echo::RESOURCE_URI, Profile::Plain),
            (Operation::GetPrompt, echo::PROMPT, Profile::Plain),
            (Operation::GetPrompt, echo::PROMPT, Profile::Ide),
        ] {
            let target = HttpTarget {
                url: url.clone(),
                name: name.to_owned(),
                op,
                era: Era::Session,
                profile,
                bearer: None,
            };
            let result = run_http(&target, 2, SHORT).await.unwrap();
            assert_eq!(result.errors, 0, "{op:?}: {:?}", result.first_error);
            assert!(result.ok > 0, "{op:?}");
        }
        // A wrong answer is an error of the run.
        let wrong = HttpTarget {
            url: url.clone(),
            name: "bench://echo/none".into(),
            op: Operation::ReadResource,
            era: Era::Session,
            profile: Profile::Plain,
            bearer: None,
        };
        let result = run_http(&wrong, 1, SHORT).await.unwrap();
        assert!(result.errors > 0 && result.ok == 0);
        stop.cancel();
    }

    #[tokio::test]
    async fn without_extras_the_echo_server_offers_only_tools() {
        let stop = CancellationToken::new();
        let (listener, url) = echo::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        tokio::spawn(echo::serve_http(listener, EchoServer::new(1), stop.clone()));
        let mut client = McpHttp::new(&url, Era::Session).unwrap();
        client.open().await.unwrap();
        let e = client.read_resource(echo::RESOURCE_URI).await.unwrap_err();
        assert!(e.to_string().contains("-32601"), "{e}");
        client.call_echo("echo", "still echoes").await.unwrap();
        client.close().await;
        stop.cancel();
    }
}

//! The fixture MCP server: a small, deterministic [`ServerHandler`] whose behaviour tests can
//! predict and steer (slow calls, failing calls, tool-list changes, header echo).

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler,
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        DiscoverRequestMethod, DiscoverResult, GetPromptRequestParams, GetPromptResponse,
        GetPromptResult, Implementation, InitializeRequestParams, InitializeResult, JsonObject,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptArgument, PromptMessage,
        ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
        SubscribeRequestParams, SubscriptionFilter, Tool, ToolAnnotations,
        UnsubscribeRequestParams,
    },
    service::{Peer, RequestContext, SubscriptionContext},
};
use serde_json::{Value, json};
use tokio::sync::watch;

/// URI of the fixture's one static resource.
pub const README_URI: &str = "fixture://readme";
/// URI template of the fixture's one resource template.
pub const ITEM_URI_TEMPLATE: &str = "fixture://items/{id}";
const ITEM_URI_PREFIX: &str = "fixture://items/";
/// URI of a resource that is never listed (and matches no template), yet can be read.
pub const HIDDEN_URI: &str = "fixture://hidden";
/// URI of an unlisted resource whose text counts the reads of it (`read <n>`, across all
/// sessions), each result marked private and fresh for a minute: a relay that caches it
/// shows one caller's result to another.
pub const PRIVATE_COUNTER_URI: &str = "fixture://private-counter";

/// Called with the 1-based number of the tool call (counted across all sessions of the
/// server) and the requested tool name, before the call is handled.
pub type CallHook = Arc<dyn Fn(u64, &str) + Send + Sync>;

/// How a [`FixtureServer`] looks and behaves. `FixtureOptions::default()` gives the plain
/// fixture: tools `echo`, `add`, `slow`, `fail`, `whoami`, `add_tool`; resource
/// `fixture://readme`; template `fixture://items/{id}`; prompt `greet`.
#[derive(Clone)]
pub struct FixtureOptions {
    /// `serverInfo.name` (default `mcp-fixture`); also quoted in the readme resource.
    pub name: String,
    /// Prepended to every tool and prompt name (`a_` → `a_echo`, `a_greet`), so several
    /// instances behind one gateway expose different names.
    pub tools_prefix: String,
    /// Adds `extra_1` … `extra_N`, each answering with its own name (big catalogs).
    pub extra_tools: usize,
    /// When set, `tools/list` is paginated with this page size (opaque numeric cursors).
    pub page_size: Option<usize>,
    /// Behave like a server that predates 2026-07-28: `server/discover` fails with -32601
    /// (method not found), so clients fall back to `initialize` (≤ 2025-11-25).
    pub legacy_only: bool,
    /// `instructions` returned by the handshake.
    pub instructions: Option<String>,
    /// HTTP only: every request must carry this header with exactly this value, otherwise
    /// it gets `401` with a JSON body. The name is case-insensitive.
    pub require_header: Option<(String, String)>,
    /// Runs before every tool call (the `mcp-fixture` binary uses it for `--crash-after`).
    pub on_call: Option<CallHook>,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        Self {
            name: "mcp-fixture".into(),
            tools_prefix: String::new(),
            extra_tools: 0,
            page_size: None,
            legacy_only: false,
            instructions: None,
            require_header: None,
            on_call: None,
        }
    }
}

impl FixtureOptions {
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tools_prefix = prefix.into();
        self
    }

    pub fn with_extra_tools(mut self, count: usize) -> Self {
        self.extra_tools = count;
        self
    }

    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = Some(page_size.max(1));
        self
    }

    pub fn with_required_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.require_header = Some((name.into(), value.into()));
        self
    }

    /// Sets [`FixtureOptions::legacy_only`]: no `server/discover`, like an older server.
    pub fn legacy_only(mut self) -> Self {
        self.legacy_only = true;
        self
    }

    pub fn with_on_call(mut self, hook: impl Fn(u64, &str) + Send + Sync + 'static) -> Self {
        self.on_call = Some(Arc::new(hook));
        self
    }
}

impl fmt::Debug for FixtureOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureOptions")
            .field("name", &self.name)
            .field("tools_prefix", &self.tools_prefix)
            .field("extra_tools", &self.extra_tools)
            .field("page_size", &self.page_size)
            .field("legacy_only", &self.legacy_only)
            .field("instructions", &self.instructions)
            .field(
                "require_header",
                &self.require_header.as_ref().map(|(k, _)| (k, "<redacted>")),
            )
            .field("on_call", &self.on_call.is_some())
            .finish()
    }
}

/// State shared by every session of one fixture (HTTP creates a handler per session or per
/// stateless request; they all see the same dynamic tools and counters).
struct State {
    options: FixtureOptions,
    /// Unprefixed names of tools added at runtime.
    dynamic_tools: Mutex<Vec<String>>,
    /// Descriptions changed at runtime, by unprefixed tool name.
    descriptions: Mutex<std::collections::HashMap<String, String>>,
    next_dynamic: AtomicU64,
    calls: AtomicU64,
    /// Reads of [`PRIVATE_COUNTER_URI`].
    private_reads: AtomicU64,
    /// `slow` calls that ended by `notifications/cancelled` instead of finishing.
    cancelled: AtomicU64,
    /// Resource URIs currently subscribed to (`resources/subscribe`), with repeats.
    subscriptions: Mutex<Vec<String>>,
    /// Headers of every HTTP request that reached the server (filled by the HTTP front).
    seen_headers: Mutex<Vec<http::HeaderMap>>,
    /// Sessions that used the `initialize` handshake: they get unsolicited `list_changed`.
    legacy_peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Bumped on every tool-list change; 2026-07-28 `subscriptions/listen` streams watch it.
    generation: watch::Sender<u64>,
    /// Generations taken when listen requests were accepted, i.e. before rmcp sends the
    /// acknowledgment (after which the client may change the list at once, but before
    /// [`ServerHandler::listen`] runs). See [`FixtureServer::take_listen_snapshot`].
    listen_snapshots: Mutex<Vec<u64>>,
}

/// The fixture MCP server. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct FixtureServer {
    state: Arc<State>,
}

impl fmt::Debug for FixtureServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixtureServer")
            .field("options", &self.state.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("tool schemas are objects"),
    }
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

impl FixtureServer {
    pub fn new(options: FixtureOptions) -> Self {
        Self {
            state: Arc::new(State {
                options,
                dynamic_tools: Mutex::new(Vec::new()),
                descriptions: Mutex::default(),
                next_dynamic: AtomicU64::new(1),
                calls: AtomicU64::new(0),
                private_reads: AtomicU64::new(0),
                cancelled: AtomicU64::new(0),
                subscriptions: Mutex::new(Vec::new()),
                seen_headers: Mutex::new(Vec::new()),
                legacy_peers: Mutex::new(Vec::new()),
                generation: watch::Sender::new(0),
                listen_snapshots: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn options(&self) -> &FixtureOptions {
        &self.state.options
    }

    /// Number of `tools/call` requests received so far (all sessions).
    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// The resource URIs subscribed to right now (one entry per `resources/subscribe` not
    /// yet undone by `resources/unsubscribe`).
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.state.subscriptions).clone()
    }

    /// How many `slow` calls were cancelled by the client before they finished.
    pub fn cancellations(&self) -> u64 {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// Headers of every HTTP request received so far, oldest first (empty over stdio).
    pub fn seen_headers(&self) -> Vec<http::HeaderMap> {
        lock(&self.state.seen_headers).clone()
    }

    pub(crate) fn record_headers(&self, headers: &http::HeaderMap) {
        lock(&self.state.seen_headers).push(headers.clone());
    }

    /// The full (prefixed) names `tools/list` currently returns, in order.
    pub fn tool_names(&self) -> Vec<String> {
        self.tools()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect()
    }

    /// Adds a tool at runtime and announces `notifications/tools/list_changed` to every
    /// connected client (legacy sessions directly, 2026-07-28 clients through their
    /// `subscriptions/listen` stream). `name = None` picks `dynamic_N`. Returns the full
    /// (prefixed) name. The new tool answers like `echo` and reports its name.
    pub async fn add_tool(&self, name: Option<&str>) -> String {
        let name = match name {
            Some(n) => n.to_string(),
            None => format!(
                "dynamic_{}",
                self.state.next_dynamic.fetch_add(1, Ordering::SeqCst)
            ),
        };
        {
            let mut tools = lock(&self.state.dynamic_tools);
            if !tools.contains(&name) {
                tools.push(name.clone());
            }
        }
        self.notify_tools_changed().await;
        format!("{}{}", self.state.options.tools_prefix, name)
    }

    /// Changes a tool's description (`name` unprefixed) and announces the change as
    /// [`Self::add_tool`] does: what a "rug pull" looks like from the client's side.
    pub async fn set_description(&self, name: &str, description: &str) {
        lock(&self.state.descriptions).insert(name.to_owned(), description.to_owned());
        self.notify_tools_changed().await;
    }

    /// Sends `notifications/tools/list_changed` to every connected client.
    pub async fn notify_tools_changed(&self) {
        self.state.generation.send_modify(|g| *g += 1);
        let peers: Vec<_> = {
            let mut peers = lock(&self.state.legacy_peers);
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "could not notify a legacy session");
            }
        }
    }

    /// The generation a starting `listen` counts changes from. Listens of concurrent sessions
    /// can't be told apart here, so take the oldest pending snapshot (never later than this
    /// listen's own; at worst a harmless extra notification) and drop the newest one, which
    /// keeps that true for the listens still pending.
    fn take_listen_snapshot(&self) -> u64 {
        let mut snapshots = lock(&self.state.listen_snapshots);
        let oldest = snapshots.iter().copied().min();
        if let Some(newest) = snapshots
            .iter()
            .enumerate()
            .max_by_key(|(_, g)| **g)
            .map(|(i, _)| i)
        {
            snapshots.swap_remove(newest);
        }
        oldest.unwrap_or_else(|| *self.state.generation.borrow())
    }

    fn prefixed(&self, name: &str) -> String {
        format!("{}{}", self.state.options.tools_prefix, name)
    }

    fn tools(&self) -> Vec<Tool> {
        let p = |n: &str| self.prefixed(n);
        let mut tools = vec![
            Tool::new(
                p("echo"),
                "Returns the message unchanged.",
                schema(json!({
                    "type": "object",
                    "properties": {"message": {"type": "string", "description": "Text to echo back."}},
                    "required": ["message"]
                })),
            )
            .annotate(ToolAnnotations::new().read_only(true).destructive(false)),
            Tool::new(
                p("add"),
                "Adds two numbers and returns the sum as text.",
                schema(json!({
                    "type": "object",
                    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                    "required": ["a", "b"]
                })),
            )
            .annotate(ToolAnnotations::new().read_only(true).destructive(false)),
            Tool::new(
                p("slow"),
                "Sleeps for `ms` milliseconds, then answers; with `ticks`, sends that many \
                 progress notifications (when asked for progress) and log messages first.",
                schema(json!({
                    "type": "object",
                    "properties": {
                        "ms": {"type": "integer", "minimum": 0},
                        "ticks": {"type": "integer", "minimum": 0}
                    },
                    "required": ["ms"]
                })),
            ),
            Tool::new(
                p("fail"),
                "Always fails with a tool error (isError: true).",
                schema(json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}}
                })),
            ),
            Tool::new(
                p("whoami"),
                "Returns the HTTP request headers the server saw, as a JSON object (empty over stdio).",
                schema(json!({"type": "object", "properties": {}})),
            )
            .annotate(ToolAnnotations::new().read_only(true).destructive(false)),
            Tool::new(
                p("add_tool"),
                "Adds a tool (default name dynamic_N) and sends notifications/tools/list_changed.",
                schema(json!({
                    "type": "object",
                    "properties": {"name": {"type": "string"}}
                })),
            ),
        ];
        for i in 1..=self.state.options.extra_tools {
            tools.push(Tool::new(
                p(&format!("extra_{i}")),
                format!("Extra tool number {i}; answers with its name."),
                schema(json!({"type": "object", "properties": {}})),
            ));
        }
        for name in lock(&self.state.dynamic_tools).iter() {
            tools.push(Tool::new(
                p(name),
                "A tool added at runtime; answers with its name and the message, if any.",
                schema(json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}}
                })),
            ));
        }
        let descriptions = lock(&self.state.descriptions);
        for tool in &mut tools {
            let name = tool.name.strip_prefix(&self.state.options.tools_prefix);
            if let Some(description) = name.and_then(|n| descriptions.get(n)) {
                tool.description = Some(description.clone().into());
            }
        }
        tools
    }

    fn prompts(&self) -> Vec<Prompt> {
        vec![Prompt::new(
            self.prefixed("greet"),
            Some("Greets someone by name."),
            Some(vec![
                PromptArgument::new("name")
                    .with_description("Who to greet.")
                    .with_required(true),
            ]),
        )]
    }

    /// Progress (if the caller asked for it) and a log message, `ticks` times.
    #[allow(deprecated)] // logging is deprecated by SEP-2577 but still relayed
    async fn tick(&self, ticks: u64, context: &RequestContext<RoleServer>) {
        for tick in 1..=ticks {
            if let Some(token) = context.meta.get_progress_token() {
                let progress =
                    ProgressNotificationParam::new(token, tick as f64).with_total(ticks as f64);
                let _ = context.peer.notify_progress(progress).await;
            }
            let log = rmcp::model::LoggingMessageNotificationParam::new(
                rmcp::model::LoggingLevel::Info,
                json!(format!("tick {tick}")),
            );
            let _ = context.peer.notify_logging_message(log).await;
        }
    }

    async fn run_tool(
        &self,
        name: &str,
        args: &JsonObject,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let Some(base) = name.strip_prefix(self.state.options.tools_prefix.as_str()) else {
            return Err(unknown_tool(name));
        };
        match base {
            "echo" => Ok(text(str_arg(args, "message")?)),
            "add" => {
                let (a, b) = (num_arg(args, "a")?, num_arg(args, "b")?);
                let sum = match (a.as_i64(), b.as_i64()) {
                    (Some(a), Some(b)) => a.checked_add(b).map(|s| s.to_string()),
                    _ => None,
                };
                let sum = sum.unwrap_or_else(|| {
                    let s = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
                    s.to_string()
                });
                Ok(text(sum))
            }
            "slow" => {
                let ms = args.get("ms").and_then(Value::as_u64).ok_or_else(|| {
                    McpError::invalid_params("`ms` must be a non-negative integer", None)
                })?;
                let ticks = args.get("ticks").and_then(Value::as_u64).unwrap_or(0);
                self.tick(ticks, context).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => Ok(text(format!("slept {ms}ms"))),
                    _ = context.ct.cancelled() => {
                        self.state.cancelled.fetch_add(1, Ordering::SeqCst);
                        Err(McpError::internal_error("cancelled", None))
                    }
                }
            }
            "fail" => {
                let message = args
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the fixture tool failed");
                Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
            }
            "whoami" => {
                let mut headers: BTreeMap<String, String> = BTreeMap::new();
                if let Some(parts) = context.extensions.get::<http::request::Parts>() {
                    for (k, v) in &parts.headers {
                        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                        headers
                            .entry(k.as_str().to_string())
                            .and_modify(|existing| {
                                existing.push_str(", ");
                                existing.push_str(&v);
                            })
                            .or_insert(v);
                    }
                }
                let body = serde_json::to_string(&headers)
                    .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                Ok(text(body))
            }
            "add_tool" => {
                let requested = args.get("name").and_then(Value::as_str);
                let added = self.add_tool(requested).await;
                Ok(text(added))
            }
            // Never listed either: its structured result is whatever JSON `value` is (any
            // value in 2026-07-28; older revisions want an object, see rmcp's
            // `strip_non_object_output_for_legacy_peer`).
            "structured" => Ok(CallToolResult::structured(
                args.get("value").cloned().unwrap_or(Value::Null),
            )),
            // Never listed, yet callable: whether a name exists is the server's to say.
            "hidden" => Ok(match args.get("message").and_then(Value::as_str) {
                Some(m) => text(format!("hidden: {m}")),
                None => text("hidden"),
            }),
            other => {
                if let Some(i) = other
                    .strip_prefix("extra_")
                    .and_then(|i| i.parse::<usize>().ok())
                    && (1..=self.state.options.extra_tools).contains(&i)
                {
                    return Ok(text(name));
                }
                if lock(&self.state.dynamic_tools).iter().any(|d| d == other) {
                    return Ok(match args.get("message").and_then(Value::as_str) {
                        Some(m) => text(format!("{name}: {m}")),
                        None => text(name),
                    });
                }
                Err(unknown_tool(name))
            }
        }
    }
}

fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("unknown tool: {name}"), None)
}

fn str_arg<'a>(args: &'a JsonObject, key: &str) -> Result<&'a str, McpError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params(format!("`{key}` must be a string"), None))
}

fn num_arg<'a>(args: &'a JsonObject, key: &str) -> Result<&'a serde_json::Number, McpError> {
    match args.get(key) {
        Some(Value::Number(n)) => Ok(n),
        _ => Err(McpError::invalid_params(
            format!("`{key}` must be a number"),
            None,
        )),
    }
}

/// `tools/list` cursors are the decimal offset of the next page.
fn page<T: Clone>(
    items: Vec<T>,
    page_size: Option<usize>,
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<String>), McpError> {
    let Some(size) = page_size else {
        return Ok((items, None));
    };
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= items.len())
            .ok_or_else(|| McpError::invalid_params("invalid cursor", None))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

impl ServerHandler for FixtureServer {
    fn get_info(&self) -> ServerConfig {
        let mut config = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            self.state.options.name.clone(),
            env!("CARGO_PKG_VERSION"),
        ));
        if let Some(instructions) = &self.state.options.instructions {
            config = config.with_instructions(instructions.clone());
        }
        config
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        if self.state.options.legacy_only {
            return Err(McpError::method_not_found::<DiscoverRequestMethod>());
        }
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    /// Registers the session for unsolicited `list_changed` here rather than on
    /// `notifications/initialized`: that notification is handled concurrently with the
    /// client's first requests, the `initialize` response is not.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        let result = self.negotiate_initialize(&request)?;
        let mut peers = lock(&self.state.legacy_peers);
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
        Ok(result)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Called right before rmcp acknowledges the subscription; `listen` runs after.
        lock(&self.state.listen_snapshots).push(*self.state.generation.borrow());
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut generation = self.state.generation.subscribe();
        let mut seen = self.take_listen_snapshot();
        if context.accepted().tools_list_changed != Some(true) {
            context.cancelled().await;
            return Ok(());
        }
        loop {
            let current = *generation.borrow_and_update();
            if current > seen {
                seen = current;
                if context.sink().notify_tool_list_changed().await.is_err() {
                    return Ok(());
                }
                continue;
            }
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = generation.changed() => if changed.is_err() {
                    return Ok(());
                },
            }
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let cursor = request.as_ref().and_then(|r| r.cursor.as_deref());
        let (tools, next) = page(self.tools(), self.state.options.page_size, cursor)?;
        let mut result = ListToolsResult::with_all_items(tools);
        result.next_cursor = next;
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let n = self.state.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(hook) = &self.state.options.on_call {
            hook(n, &request.name);
        }
        let args = request.arguments.unwrap_or_default();
        self.run_tool(&request.name, &args, &context)
            .await
            .map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(README_URI, "readme")
                .with_description("A short text about the fixture.")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(ITEM_URI_TEMPLATE, "item")
                .with_description("Item `id`; its text is `item <id>`.")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        lock(&self.state.subscriptions).push(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let mut subscriptions = lock(&self.state.subscriptions);
        if let Some(i) = subscriptions.iter().position(|uri| *uri == request.uri) {
            subscriptions.remove(i);
        }
        Ok(())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        if uri == PRIVATE_COUNTER_URI {
            let read = self.state.private_reads.fetch_add(1, Ordering::Relaxed) + 1;
            let result =
                ReadResourceResult::new(vec![ResourceContents::text(format!("read {read}"), uri)])
                    .with_ttl_ms(60_000)
                    .with_cache_scope(CacheScope::Private);
            return Ok(result.into());
        }
        let body = if uri == README_URI {
            format!(
                "This is {}, the mcp-gateway test fixture.",
                self.state.options.name
            )
        } else if uri == HIDDEN_URI {
            "hidden".to_owned()
        } else if let Some(id) = uri
            .strip_prefix(ITEM_URI_PREFIX)
            .filter(|id| !id.is_empty() && !id.contains('/'))
        {
            format!("item {id}")
        } else {
            return Err(McpError::resource_not_found(
                format!("no such resource: {uri}"),
                None,
            ));
        };
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(body, uri).with_mime_type("text/plain"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(self.prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name == self.prefixed("hidden") {
            let text = PromptMessage::new_text(Role::User, "hidden");
            return Ok(GetPromptResult::new(vec![text]).into());
        }
        if request.name != self.prefixed("greet") {
            return Err(McpError::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let name = str_arg(&args, "name")?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Hello, {name}!"),
        )])
        .with_description("A greeting.")
        .into())
    }
}

//! The benchmark upstream: a minimal rmcp server whose `echo` tool returns its `message`,
//! plus `tool_2` … `tool_N` (each answers with its own name) for catalog scenarios, and,
//! with [`EchoServer::with_extras`] (`mcp-bench-echo --extras`), one resource
//! ([`RESOURCE_URI`], a fixed text), one prompt ([`PROMPT`], a greeting of its `name`
//! argument) and logging (`logging/setLevel` accepted; nothing is ever logged).
//!
//! `echo` with `"ask": "roots"` asks the client for its roots before it answers: with a
//! server-initiated `roots/list` on the call's response stream (session era), or with an
//! `input_required` result whose retry carries the client's answer (2026-07-28). It checks
//! the client's answer and echoes the message. The benchmark's IDE clients use it once per
//! session, unmeasured, to check they answer what the server asks while it answers them.
//!
//! It is deliberately thin: the tool list is built once, a call does no locking, and
//! nothing is recorded per request (the test kit's `mcp-fixture` keeps every request's
//! headers for its tests, which grows without bound under load). Served with rmcp's
//! default streamable HTTP settings (both protocol eras, SSE answers), like any rmcp server.

// Roots and logging are deprecated by SEP-2577 but still part of every protocol revision
// clients and the gateway use.
#![allow(deprecated)]

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, serve::ListenerExt};
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, InputRequest,
        InputRequests, InputRequiredResult, JsonObject, ListPromptsResult, ListResourcesResult,
        ListRootsRequest, ListRootsResult, ListToolsResult, PaginatedRequestParams, Prompt,
        PromptArgument, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, Role,
        ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The path the echo server serves MCP on.
pub const MCP_PATH: &str = "/mcp";

/// The resource of a server with extras.
pub const RESOURCE_URI: &str = "bench://echo/greeting";
/// Its text.
pub const RESOURCE_TEXT: &str = "Hello from mcp-bench-echo.";
/// The prompt of a server with extras; its `name` argument is required.
pub const PROMPT: &str = "greet";

/// The one message of [`PROMPT`] for `name` (the user's).
pub fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

/// The key of the `roots/list` input request in an `input_required` result.
const ROOTS_KEY: &str = "roots";

/// The echo server. Cheap to clone (rmcp builds one per session or stateless request).
#[derive(Clone)]
pub struct EchoServer {
    tools: Arc<Vec<Tool>>,
    /// A resource, a prompt and logging as well.
    extras: bool,
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

impl EchoServer {
    /// `echo` and `tool_2` … `tool_{tools}` (`tools` is at least 1).
    pub fn new(tools: usize) -> Self {
        let mut list = vec![Tool::new(
            "echo",
            "Returns the message unchanged.",
            object(json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "Text to echo back."}},
                "required": ["message"]
            })),
        )];
        for i in 2..=tools.max(1) {
            list.push(Tool::new(
                format!("tool_{i}"),
                format!("Benchmark tool number {i}; answers with its name."),
                object(json!({"type": "object", "properties": {}})),
            ));
        }
        Self {
            tools: Arc::new(list),
            extras: false,
        }
    }

    /// Also offers [`RESOURCE_URI`], [`PROMPT`] and logging.
    pub fn with_extras(mut self) -> Self {
        self.extras = true;
        self
    }

    /// Without extras, their methods are unknown (as for any server without them).
    fn no_extras<M: rmcp::model::ConstString>(&self) -> Result<(), McpError> {
        if self.extras {
            Ok(())
        } else {
            Err(McpError::method_not_found::<M>())
        }
    }
}

fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

/// `echo` with `"ask": "roots"`: the client's roots first (any list will do, as long as it
/// is one), then the echo.
async fn echo_after_roots(
    message: &str,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
) -> Result<CallToolResponse, McpError> {
    let offers_roots = context
        .client_capabilities()
        .is_some_and(|c| c.roots.is_some());
    if !offers_roots {
        return Err(McpError::invalid_params(
            "the client declared no roots capability: it cannot be asked for roots",
            None,
        ));
    }
    // 2026-07-28: the retry carries the client's answer.
    if let Some(responses) = &request.input_responses {
        let answer = responses.get(ROOTS_KEY).ok_or_else(|| {
            McpError::invalid_params(format!("inputResponses has no {ROOTS_KEY:?}"), None)
        })?;
        serde_json::from_value::<ListRootsResult>(answer.clone()).map_err(|e| {
            McpError::invalid_params(format!("the client's roots are no roots list: {e}"), None)
        })?;
        return Ok(text(message));
    }
    let stateless = context
        .protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
    if stateless {
        let requests = InputRequests::from([(
            ROOTS_KEY.to_owned(),
            InputRequest::ListRoots(ListRootsRequest::default()),
        )]);
        return Ok(CallToolResponse::InputRequired(InputRequiredResult::new(
            Some(requests),
            Some(ROOTS_KEY.to_owned()),
        )));
    }
    // Session era: a request on this call's response stream.
    context
        .peer
        .list_roots()
        .await
        .map_err(|e| McpError::internal_error(format!("roots/list failed: {e}"), None))?;
    Ok(text(message))
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = if self.extras {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .enable_logging()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        ServerConfig::new(capabilities).with_server_info(Implementation::new(
            "mcp-bench-echo",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tools.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name == "echo" {
            let arguments = request.arguments.as_ref();
            let message = arguments
                .and_then(|a| a.get("message"))
                .and_then(Value::as_str)
                .ok_or_else(|| McpError::invalid_params("`message` must be a string", None))?;
            return match arguments.and_then(|a| a.get("ask")) {
                None => Ok(text(message)),
                Some(ask) if ask == ROOTS_KEY => {
                    echo_after_roots(message, &request, &context).await
                }
                Some(other) => Err(McpError::invalid_params(
                    format!("`ask` must be \"roots\", not {other}"),
                    None,
                )),
            };
        }
        if self.tools.iter().any(|t| t.name == request.name) {
            return Ok(text(request.name.into_owned()));
        }
        Err(McpError::invalid_params(
            format!("unknown tool: {}", request.name),
            None,
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.no_extras::<rmcp::model::ListResourcesRequestMethod>()?;
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(RESOURCE_URI, "greeting")
                .with_description("A fixed greeting.")
                .with_mime_type("text/plain"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.no_extras::<rmcp::model::ReadResourceRequestMethod>()?;
        if request.uri != RESOURCE_URI {
            return Err(McpError::resource_not_found(
                format!("no such resource: {}", request.uri),
                None,
            ));
        }
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(RESOURCE_TEXT, RESOURCE_URI).with_mime_type("text/plain"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.no_extras::<rmcp::model::ListPromptsRequestMethod>()?;
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            PROMPT,
            Some("Greets someone by name."),
            Some(vec![
                PromptArgument::new("name")
                    .with_description("Who to greet.")
                    .with_required(true),
            ]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.no_extras::<rmcp::model::GetPromptRequestMethod>()?;
        if request.name != PROMPT {
            return Err(McpError::invalid_params(
                format!("unknown prompt: {}", request.name),
                None,
            ));
        }
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::invalid_params("`name` must be a string", None))?;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, greeting(name))]).into())
    }

    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.no_extras::<rmcp::model::SetLevelRequestMethod>()
    }
}

/// The axum router: rmcp's streamable HTTP service at [`MCP_PATH`], default settings
/// except host validation (off, so any address works) and the cancellation token.
pub fn router(server: EchoServer, ct: CancellationToken) -> Router {
    let service: StreamableHttpService<EchoServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(server.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .disable_allowed_hosts()
                .with_cancellation_token(ct),
        );
    Router::new().nest_service(MCP_PATH, service)
}

/// Serves over streamable HTTP until `ct` is cancelled. Accepted sockets get `TCP_NODELAY`
/// (as the gateway's do), so small answers never wait for Nagle's algorithm.
pub async fn serve_http(
    listener: TcpListener,
    server: EchoServer,
    ct: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(server, ct.child_token());
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { ct.cancelled_owned().await })
        .await?;
    Ok(())
}

/// Serves over stdin/stdout until the client closes stdin.
pub async fn serve_stdio(server: EchoServer) -> anyhow::Result<()> {
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// Binds `listen` and returns the listener with the URL it serves MCP on.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, format!("http://{addr}{MCP_PATH}")))
}

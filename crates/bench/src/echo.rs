//! The benchmark upstream: a minimal rmcp server whose `echo` tool returns its `message`,
//! plus `tool_2` … `tool_N` (each answers with its own name) for catalog scenarios.
//!
//! It is deliberately thin: the tool list is built once, a call does no locking, and
//! nothing is recorded per request (the test kit's `mcp-fixture` keeps every request's
//! headers for its tests, which grows without bound under load). Served with rmcp's
//! default streamable HTTP settings (both protocol eras, SSE answers), like any rmcp server.

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, serve::ListenerExt};
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
        JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
        Tool,
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

/// The echo server. Cheap to clone (rmcp builds one per session or stateless request).
#[derive(Clone)]
pub struct EchoServer {
    tools: Arc<Vec<Tool>>,
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
        }
    }
}

fn text(s: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(s)]).into()
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("mcp-bench-echo", env!("CARGO_PKG_VERSION")),
        )
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name == "echo" {
            let message = request
                .arguments
                .as_ref()
                .and_then(|a| a.get("message"))
                .and_then(Value::as_str)
                .ok_or_else(|| McpError::invalid_params("`message` must be a string", None))?;
            return Ok(text(message));
        }
        if self.tools.iter().any(|t| t.name == request.name) {
            return Ok(text(request.name.into_owned()));
        }
        Err(McpError::invalid_params(
            format!("unknown tool: {}", request.name),
            None,
        ))
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

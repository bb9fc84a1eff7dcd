//! The conformance fixture: an MCP server with exactly the tools, resources and prompts that
//! the server scenarios of the official conformance suite (`@modelcontextprotocol/conformance`,
//! pinned in `tests/conformance/package.json`) call, answering the way they check.
//! `tests/conformance/run.sh` puts it behind the gateway; the suite talks to the gateway.
//!
//! It mirrors the suite's reference server (`examples/servers/typescript/everything-server.ts`
//! of the conformance repository):
//!
//! | kind | name | behaviour |
//! |------|------|-----------|
//! | tool | `test_simple_text` | one text block |
//! | tool | `test_image_content` / `test_audio_content` | one image (PNG) / audio (WAV) block |
//! | tool | `test_embedded_resource` | one embedded text resource `test://embedded-resource` |
//! | tool | `test_multiple_content_types` | text, image and an embedded JSON resource |
//! | tool | `test_tool_with_logging` | three `notifications/message` (info), 50 ms apart |
//! | tool | `test_tool_with_progress` | progress 0, 50, 100 of 100 (50 ms apart) for the request's token; text = the token |
//! | tool | `test_error_handling` | `isError: true` with a message |
//! | tool | `test_reconnection` | text after 100 ms (the reference closes the SSE stream first; rmcp's handlers cannot) |
//! | tool | `test_sampling {prompt}` | `sampling/createMessage` to the client; text `LLM response: …` |
//! | tool | `test_elicitation {message}` | `elicitation/create` (one required string); text `User response: …` |
//! | tool | `test_elicitation_sep1034_defaults` | elicitation whose fields carry defaults (SEP-1034) |
//! | tool | `test_elicitation_sep1330_enums` | elicitation with the five enum shapes (SEP-1330) |
//! | tool | `json_schema_2020_12_tool` | input schema with `$schema`, `$defs`, `additionalProperties` (SEP-1613) |
//! | resource | `test://static-text`, `test://static-binary`, `test://watched-resource` | text / PNG blob / text |
//! | template | `test://template/{id}/data` | JSON text naming `id` |
//! | prompt | `test_simple_prompt`, `test_prompt_with_arguments {arg1, arg2}`, `test_prompt_with_embedded_resource {resourceUri}`, `test_prompt_with_image` | |
//!
//! Also `logging/setLevel` (messages below the level are not sent), `completion/complete`
//! (prefix matches for the prompt arguments), `resources/subscribe` / `unsubscribe`
//! (`test://watched-resource` gets one `notifications/resources/updated` right after a
//! subscription) and `ping`.
//!
//! Like the reference server (built on an SDK of the 2025-11-25 era, which the suite targets)
//! it is a legacy server: `server/discover` is -32601 (method not found), so clients use
//! `initialize`, and its sampling and elicitation are requests to the client, which the
//! 2026-07-28 revision no longer has. With [`ConformanceServer::strict_versions`] it
//! instead declares only the revisions up to 2025-11-25, so rmcp answers `server/discover`
//! with -32022 (unsupported protocol version) and the list of those revisions, as any rmcp
//! server limited that way does (`tests/conformance/README.md` tells why that matters).
//!
//! Served by `mcp-fixture conformance [--strict-versions] (stdio | http --listen ADDR)`
//! (streamable HTTP at `/mcp`, stateful sessions, `Host` limited to loopback names).

// Sampling, elicitation and logging are deprecated by SEP-2577 but are what the suite tests.
#![allow(deprecated)]

use std::{
    borrow::Cow,
    collections::BTreeSet,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::Router;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
        CompleteResult, CompletionInfo, ContentBlock, CreateMessageRequestParams,
        DiscoverRequestMethod, DiscoverResult, ElicitRequestParams, GetPromptRequestParams,
        GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
        LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
        ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
        Reference, ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
        SetLevelRequestParams, SubscribeRequestParams, UnsubscribeRequestParams,
    },
    service::{Peer, RequestContext},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `serverInfo.name` of the conformance fixture.
pub const CONFORMANCE_SERVER_NAME: &str = "mcp-conformance-fixture";

/// A 1×1 red PNG (the suite's test image).
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file (the suite's test audio).
const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE_URI: &str = "test://template/{id}/data";
const LOGGER: &str = "conformance-test-server";
/// Delay between the notifications of the logging and progress tools.
const STEP: Duration = Duration::from_millis(50);

/// What one client session set: its log level and its resource subscriptions.
#[derive(Default)]
struct Session {
    level: Option<LoggingLevel>,
    subscriptions: BTreeSet<String>,
}

/// The conformance fixture server. Clones share one session's state; rmcp's HTTP service
/// builds one handler per session (see [`conformance_router`]), stdio serves one.
#[derive(Clone, Default)]
pub struct ConformanceServer {
    session: Arc<Mutex<Session>>,
    strict_versions: bool,
}

impl std::fmt::Debug for ConformanceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConformanceServer").finish_non_exhaustive()
    }
}

fn from_json<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, McpError> {
    serde_json::from_value(value).map_err(|e| {
        McpError::internal_error(format!("conformance fixture: bad {what}: {e}"), None)
    })
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s)])
}

/// Severity rank of a level, lowest first.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn str_arg<'a>(args: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str, McpError> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| McpError::invalid_params(format!("`{key}` must be a string"), None))
}

/// `tools/list`, as JSON: every tool has a description and an input schema.
fn tools_json() -> Value {
    let none = json!({ "type": "object", "properties": {} });
    let simple = |name: &str, description: &str| json!({ "name": name, "description": description, "inputSchema": none });
    json!({ "tools": [
        simple("test_simple_text", "Tests simple text content response"),
        simple("test_image_content", "Tests image content response"),
        simple("test_audio_content", "Tests audio content response"),
        simple("test_embedded_resource", "Tests embedded resource content response"),
        simple(
            "test_multiple_content_types",
            "Tests response with multiple content types (text, image, resource)",
        ),
        simple("test_tool_with_logging", "Tests tool that emits log messages during execution"),
        simple("test_tool_with_progress", "Tests tool that reports progress notifications"),
        simple("test_error_handling", "Tests error response handling"),
        simple(
            "test_reconnection",
            "Tests SSE stream disconnection and client reconnection (SEP-1699); \
             this fixture cannot close the stream, it answers after 100 ms",
        ),
        {
            "name": "test_sampling",
            "description": "Tests server-initiated sampling (LLM completion request)",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "prompt": { "type": "string", "description": "The prompt to send to the LLM" }
                },
                "required": ["prompt"]
            }
        },
        {
            "name": "test_elicitation",
            "description": "Tests server-initiated elicitation (user input request)",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "message": { "type": "string", "description": "The message to show the user" }
                },
                "required": ["message"]
            }
        },
        simple(
            "test_elicitation_sep1034_defaults",
            "Tests elicitation with default values per SEP-1034",
        ),
        simple(
            "test_elicitation_sep1330_enums",
            "Tests elicitation with enum schema improvements per SEP-1330",
        ),
        {
            "name": "json_schema_2020_12_tool",
            "description": "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {
                            "street": { "type": "string" },
                            "city": { "type": "string" }
                        }
                    }
                },
                "properties": {
                    "name": { "type": "string" },
                    "address": { "$ref": "#/$defs/address" }
                },
                "additionalProperties": false
            }
        }
    ]})
}

fn resources_json() -> Value {
    json!({ "resources": [
        {
            "uri": STATIC_TEXT_URI, "name": "static-text", "title": "Static Text Resource",
            "description": "A static text resource for testing", "mimeType": "text/plain"
        },
        {
            "uri": STATIC_BINARY_URI, "name": "static-binary", "title": "Static Binary Resource",
            "description": "A static binary resource (image) for testing", "mimeType": "image/png"
        },
        {
            "uri": WATCHED_URI, "name": "watched-resource", "title": "Watched Resource",
            "description": "A resource that can be subscribed to", "mimeType": "text/plain"
        }
    ]})
}

fn templates_json() -> Value {
    json!({ "resourceTemplates": [{
        "uriTemplate": TEMPLATE_URI, "name": "template", "title": "Resource Template",
        "description": "A resource template with parameter substitution",
        "mimeType": "application/json"
    }]})
}

fn prompts_json() -> Value {
    json!({ "prompts": [
        {
            "name": "test_simple_prompt", "title": "Simple Test Prompt",
            "description": "A simple prompt without arguments"
        },
        {
            "name": "test_prompt_with_arguments", "title": "Prompt With Arguments",
            "description": "A prompt with required arguments",
            "arguments": [
                { "name": "arg1", "description": "First test argument", "required": true },
                { "name": "arg2", "description": "Second test argument", "required": true }
            ]
        },
        {
            "name": "test_prompt_with_embedded_resource", "title": "Prompt With Embedded Resource",
            "description": "A prompt that includes an embedded resource",
            "arguments": [
                { "name": "resourceUri", "description": "URI of the resource to embed", "required": true }
            ]
        },
        {
            "name": "test_prompt_with_image", "title": "Prompt With Image",
            "description": "A prompt that includes image content"
        }
    ]})
}

/// Values `completion/complete` offers for a prompt argument.
fn completions_for(prompt: &str, argument: &str) -> &'static [&'static str] {
    match (prompt, argument) {
        ("test_prompt_with_arguments", "arg1" | "arg2") => &["paris", "park", "party"],
        ("test_prompt_with_embedded_resource", "resourceUri") => {
            &[STATIC_TEXT_URI, STATIC_BINARY_URI, WATCHED_URI]
        }
        _ => &[],
    }
}

fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string", "description": "User status",
                "enum": ["active", "inactive", "pending"], "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verification status", "default": true }
        },
        "required": []
    })
}

fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string", "description": "Select one option",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string", "description": "Select one option with titles",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string", "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array", "description": "Select multiple options",
                "minItems": 1, "maxItems": 3,
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array", "description": "Select multiple options with titles",
                "minItems": 1, "maxItems": 3,
                "items": { "anyOf": [
                    { "const": "value1", "title": "First Choice" },
                    { "const": "value2", "title": "Second Choice" },
                    { "const": "value3", "title": "Third Choice" }
                ]}
            }
        },
        "required": []
    })
}

impl ConformanceServer {
    /// A legacy server: `server/discover` is -32601.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares only the protocol revisions up to 2025-11-25 instead of answering
    /// `server/discover` with -32601: rmcp then answers it with -32022 and that list.
    pub fn strict_versions(mut self) -> Self {
        self.strict_versions = true;
        self
    }

    /// The same server with a fresh session state.
    fn fresh(&self) -> Self {
        Self {
            session: Arc::default(),
            strict_versions: self.strict_versions,
        }
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends `notifications/message` unless the session's level filters it out.
    async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, data: Value) {
        let wanted = self.session().level;
        if wanted.is_some_and(|min| rank(level) < rank(min)) {
            return;
        }
        let params = LoggingMessageNotificationParam::new(level, data).with_logger(LOGGER);
        if let Err(e) = peer.notify_logging_message(params).await {
            tracing::debug!(error = %e, "log message not sent");
        }
    }

    async fn elicit(
        &self,
        peer: &Peer<RoleServer>,
        message: &str,
        schema: Value,
        label: &str,
    ) -> Result<CallToolResult, McpError> {
        let params: ElicitRequestParams = from_json(
            "elicitation request",
            json!({ "mode": "form", "message": message, "requestedSchema": schema }),
        )?;
        Ok(match peer.create_elicitation(params).await {
            Ok(result) => {
                let action = serde_json::to_value(result.action).unwrap_or(Value::Null);
                let action = action.as_str().unwrap_or("?").to_string();
                let content = result.content.unwrap_or_else(|| json!({}));
                text(format!("{label}: action={action}, content={content}"))
            }
            Err(e) => text(format!("Elicitation not supported or error: {e}")),
        })
    }

    async fn run_tool(
        &self,
        name: &str,
        args: &serde_json::Map<String, Value>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let peer = &context.peer;
        match name {
            "test_simple_text" => Ok(text("This is a simple text response for testing.")),
            "test_image_content" => Ok(CallToolResult::success(vec![ContentBlock::image(
                PNG_BASE64,
                "image/png",
            )])),
            "test_audio_content" => Ok(CallToolResult::success(vec![ContentBlock::audio(
                WAV_BASE64,
                "audio/wav",
            )])),
            "test_embedded_resource" => from_json(
                "tool result",
                json!({ "content": [{
                    "type": "resource",
                    "resource": {
                        "uri": "test://embedded-resource",
                        "mimeType": "text/plain",
                        "text": "This is an embedded resource content."
                    }
                }]}),
            ),
            "test_multiple_content_types" => from_json(
                "tool result",
                json!({ "content": [
                    { "type": "text", "text": "Multiple content types test:" },
                    { "type": "image", "data": PNG_BASE64, "mimeType": "image/png" },
                    {
                        "type": "resource",
                        "resource": {
                            "uri": "test://mixed-content-resource",
                            "mimeType": "application/json",
                            "text": json!({ "test": "data", "value": 123 }).to_string()
                        }
                    }
                ]}),
            ),
            "test_tool_with_logging" => {
                let steps = [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ];
                for (i, step) in steps.into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(STEP).await;
                    }
                    self.log(peer, LoggingLevel::Info, json!(step)).await;
                }
                Ok(text("Tool with logging executed successfully"))
            }
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(STEP).await;
                    }
                    if let Some(token) = &token {
                        let params = ProgressNotificationParam::new(token.clone(), progress)
                            .with_total(100.0)
                            .with_message(format!("Completed step {progress} of 100"));
                        if let Err(e) = peer.notify_progress(params).await {
                            tracing::debug!(error = %e, "progress not sent");
                        }
                    }
                }
                let token = match token {
                    Some(t) => serde_json::to_value(&t)
                        .map(|v| match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        })
                        .unwrap_or_default(),
                    None => "0".into(),
                };
                Ok(text(token))
            }
            "test_error_handling" => Ok(CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )])),
            "test_reconnection" => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(text(
                    "Reconnection test completed successfully. If you received this, the client \
                     properly reconnected after stream closure.",
                ))
            }
            "test_sampling" => {
                let prompt = str_arg(args, "prompt")?;
                let params: CreateMessageRequestParams = from_json(
                    "sampling request",
                    json!({
                        "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
                        "maxTokens": 100
                    }),
                )?;
                Ok(match peer.create_message(params).await {
                    Ok(result) => {
                        let value = serde_json::to_value(&result).unwrap_or(Value::Null);
                        let answer = value
                            .pointer("/content/text")
                            .or_else(|| value.pointer("/content/0/text"))
                            .and_then(Value::as_str)
                            .unwrap_or("No response");
                        text(format!("LLM response: {answer}"))
                    }
                    Err(e) => text(format!("Sampling not supported or error: {e}")),
                })
            }
            "test_elicitation" => {
                let message = str_arg(args, "message")?;
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "response": { "type": "string", "description": "User's response" }
                    },
                    "required": ["response"]
                });
                self.elicit(peer, message, schema, "User response").await
            }
            "test_elicitation_sep1034_defaults" => {
                self.elicit(
                    peer,
                    "Please review and update the form fields with defaults",
                    sep1034_schema(),
                    "Elicitation completed",
                )
                .await
            }
            "test_elicitation_sep1330_enums" => {
                self.elicit(
                    peer,
                    "Please select options from the enum fields",
                    sep1330_schema(),
                    "Elicitation completed",
                )
                .await
            }
            "json_schema_2020_12_tool" => Ok(text(format!(
                "JSON Schema 2020-12 tool called with: {}",
                Value::Object(args.clone())
            ))),
            other => Err(McpError::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
        }
    }

    fn prompt(
        &self,
        name: &str,
        args: &serde_json::Map<String, Value>,
    ) -> Result<GetPromptResult, McpError> {
        let arg = |key: &str| -> Result<String, McpError> {
            args.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    McpError::invalid_params(format!("missing prompt argument `{key}`"), None)
                })
        };
        let result = match name {
            "test_simple_prompt" => json!({ "messages": [
                { "role": "user", "content": { "type": "text", "text": "This is a simple prompt for testing." } }
            ]}),
            "test_prompt_with_arguments" => {
                let (arg1, arg2) = (arg("arg1")?, arg("arg2")?);
                json!({ "messages": [{ "role": "user", "content": {
                    "type": "text",
                    "text": format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")
                }}]})
            }
            "test_prompt_with_embedded_resource" => {
                let uri = arg("resourceUri")?;
                json!({ "messages": [
                    { "role": "user", "content": { "type": "resource", "resource": {
                        "uri": uri, "mimeType": "text/plain",
                        "text": "Embedded resource content for testing."
                    }}},
                    { "role": "user", "content": { "type": "text", "text": "Please process the embedded resource above." } }
                ]})
            }
            "test_prompt_with_image" => json!({ "messages": [
                { "role": "user", "content": { "type": "image", "data": PNG_BASE64, "mimeType": "image/png" } },
                { "role": "user", "content": { "type": "text", "text": "Please analyze the image above." } }
            ]}),
            other => {
                return Err(McpError::invalid_params(
                    format!("unknown prompt: {other}"),
                    None,
                ));
            }
        };
        from_json("prompt", result)
    }
}

/// The id of `test://template/{id}/data`.
fn template_id(uri: &str) -> Option<&str> {
    uri.strip_prefix("test://template/")?
        .strip_suffix("/data")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_resources_list_changed()
                .enable_prompts()
                .enable_prompts_list_changed()
                .enable_logging()
                .enable_completions()
                .build(),
        )
        .with_server_info(Implementation::new(
            CONFORMANCE_SERVER_NAME,
            env!("CARGO_PKG_VERSION"),
        ))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        if self.strict_versions {
            Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
        } else {
            Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        Err(McpError::method_not_found::<DiscoverRequestMethod>())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        from_json("tools", tools_json())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
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
        from_json("resources", resources_json())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        from_json("resource templates", templates_json())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri.as_str();
        let contents = match uri {
            STATIC_TEXT_URI => json!({
                "uri": uri, "mimeType": "text/plain",
                "text": "This is the content of the static text resource."
            }),
            STATIC_BINARY_URI => json!({ "uri": uri, "mimeType": "image/png", "blob": PNG_BASE64 }),
            WATCHED_URI => json!({
                "uri": uri, "mimeType": "text/plain", "text": "Watched resource content"
            }),
            _ => match template_id(uri) {
                Some(id) => json!({
                    "uri": uri, "mimeType": "application/json",
                    "text": json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") }).to_string()
                }),
                None => {
                    return Err(McpError::resource_not_found(
                        format!("no such resource: {uri}"),
                        Some(json!({ "uri": uri })),
                    ));
                }
            },
        };
        let result: ReadResourceResult =
            from_json("resource contents", json!({ "contents": [contents] }))?;
        Ok(result.into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri;
        self.session().subscriptions.insert(uri.clone());
        self.log(
            &context.peer,
            LoggingLevel::Info,
            json!(format!("Subscribed to resource: {uri}")),
        )
        .await;
        if uri == WATCHED_URI {
            // The watched resource "changes" once per subscription, after the answer.
            let peer = context.peer.clone();
            let session = self.session.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STEP).await;
                let subscribed = session
                    .lock()
                    .is_ok_and(|s| s.subscriptions.contains(WATCHED_URI));
                if subscribed {
                    let _ = peer
                        .notify_resource_updated(ResourceUpdatedNotificationParam::new(WATCHED_URI))
                        .await;
                }
            });
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri;
        self.session().subscriptions.remove(&uri);
        self.log(
            &context.peer,
            LoggingLevel::Info,
            json!(format!("Unsubscribed from resource: {uri}")),
        )
        .await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        from_json("prompts", prompts_json())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        self.prompt(&request.name, &args).map(Into::into)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session().level = Some(request.level);
        let name = serde_json::to_value(request.level).unwrap_or(Value::Null);
        let name = name.as_str().unwrap_or("?").to_string();
        self.log(
            &context.peer,
            LoggingLevel::Info,
            json!(format!("Log level set to: {name}")),
        )
        .await;
        Ok(())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let candidates: &[&str] = match &request.r#ref {
            Reference::Prompt(prompt) => completions_for(&prompt.name, &request.argument.name),
            _ => &[],
        };
        let prefix = request.argument.value.as_str();
        let values: Vec<String> = candidates
            .iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| c.to_string())
            .collect();
        let info = CompletionInfo::with_all_values(values)
            .map_err(|e| McpError::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }
}

/// The axum router of the HTTP mode: rmcp's streamable HTTP service at `/mcp`, stateful
/// sessions (server-to-client requests need them), `Host` limited to `localhost`,
/// `127.0.0.1` and `::1` (the suite's DNS-rebinding scenario checks that).
pub fn conformance_router(server: ConformanceServer, ct: CancellationToken) -> Router {
    let service: StreamableHttpService<ConformanceServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(server.fresh()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_sse_keep_alive(Some(Duration::from_secs(5)))
                .with_cancellation_token(ct),
        );
    Router::new().nest_service(crate::MCP_PATH, service)
}

/// Serves the conformance fixture over streamable HTTP on `listener` until `ct` is cancelled.
pub async fn serve_conformance_http(
    listener: TcpListener,
    server: ConformanceServer,
    ct: CancellationToken,
) -> anyhow::Result<()> {
    let app = conformance_router(server, ct.child_token());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { ct.cancelled_owned().await })
        .await?;
    Ok(())
}

/// Serves the conformance fixture over stdin/stdout until the client closes stdin.
pub async fn serve_conformance_stdio(server: ConformanceServer) -> anyhow::Result<()> {
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

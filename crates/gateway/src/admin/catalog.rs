//! `/mcp/tools`, `/mcp/resources`, `/mcp/prompts` (what the upstreams offer, with the seed's
//! keys `server_id`, `server_name`, `tool`/`resource`/`prompt`) and `POST /mcp/tools/call`.
//!
//! Allowlisted names that were not discovered are listed with `"available": false`.

use std::sync::{Arc, OnceLock};

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use rmcp::model::{CallToolResult, JsonObject, PromptArgument, ToolAnnotations};
use serde::{Deserialize, Serialize};

use super::{ApiError, JsonBody};
use crate::{
    access::{Access, Identity},
    gateway::Gateway,
    registry::Snapshot,
};

pub async fn tools(State(gateway): State<Arc<Gateway>>, who: Identity) -> Response {
    let snapshot = gateway.registry.snapshot();
    let access = who.access();
    cached(&snapshot.rest.tools, &access, || {
        tools_json(&snapshot, &access)
    })
}

pub async fn resources(State(gateway): State<Arc<Gateway>>, who: Identity) -> Response {
    let snapshot = gateway.registry.snapshot();
    let access = who.access();
    cached(&snapshot.rest.resources, &access, || {
        resources_json(&snapshot, &access)
    })
}

pub async fn prompts(State(gateway): State<Arc<Gateway>>, who: Identity) -> Response {
    let snapshot = gateway.registry.snapshot();
    let access = who.access();
    cached(&snapshot.rest.prompts, &access, || {
        prompts_json(&snapshot, &access)
    })
}

/// The operator's answer serialised once per snapshot (an API key's is built for it). Everything these lists show (records,
/// allowlists, discovered catalogs, naming) lives in the immutable snapshot, and an upstream
/// that is lost has its catalog cleared, which publishes a new snapshot: so a snapshot's
/// answer never goes stale, and a new snapshot starts with an empty cache.
fn cached(cell: &OnceLock<Bytes>, access: &Access, build: impl FnOnce() -> Vec<u8>) -> Response {
    let body = if access.is_everything() {
        cell.get_or_init(|| Bytes::from(build())).clone()
    } else {
        Bytes::from(build())
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("catalog items serialise")
}

// Every listed item starts with the seed's ownership keys `server_id` and `server_name`.

#[derive(Serialize)]
struct ToolItem<'a> {
    server_id: &'a str,
    server_name: &'a str,
    tool: &'a str,
    /// None: hidden by the `reject` naming policy (another server owns the name).
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_schema: Option<&'a JsonObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_schema: Option<&'a JsonObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a ToolAnnotations>,
    available: bool,
}

fn tools_json(snapshot: &Snapshot, access: &Access) -> Vec<u8> {
    let mut tools = Vec::with_capacity(snapshot.tool_count());
    for entry in snapshot.servers.values() {
        let id = &entry.record.server_id;
        // Tools listed only to clients that can be asked something are not for REST callers.
        let for_rest = entry.allowed_tools().filter(|t| {
            !entry.catalog.asking_only.contains(&*t.name)
                && access.allows_tool(snapshot, id, &t.name)
        });
        for tool in for_rest {
            let exposed = snapshot.exposed_tool_name(&entry.record.server_id, &tool.name);
            tools.push(ToolItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                tool: &tool.name,
                available: exposed.is_some(),
                name: exposed,
                title: tool.title.as_ref(),
                description: tool.description.as_deref(),
                input_schema: Some(&tool.input_schema),
                output_schema: tool.output_schema.as_deref(),
                annotations: tool.annotations.as_ref(),
            });
        }
        for name in entry
            .missing_tools()
            .filter(|name| access.allows_tool(snapshot, id, name))
        {
            tools.push(ToolItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                tool: name,
                name: snapshot.exposed_tool_name(&entry.record.server_id, name),
                title: None,
                description: None,
                input_schema: None,
                output_schema: None,
                annotations: None,
                available: false,
            });
        }
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        tools: Vec<ToolItem<'a>>,
    }
    to_json(&Answer { tools })
}

#[derive(Serialize)]
struct ResourceItem<'a> {
    server_id: &'a str,
    server_name: &'a str,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    available: bool,
}

#[derive(Serialize)]
struct TemplateItem<'a> {
    server_id: &'a str,
    server_name: &'a str,
    resource_template: &'a str,
    uri_template: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<&'a String>,
}

fn resources_json(snapshot: &Snapshot, access: &Access) -> Vec<u8> {
    let mut resources = Vec::new();
    let mut templates = Vec::new();
    let reached =
        |e: &&Arc<crate::registry::ServerEntry>| access.allows_server(&e.record.server_id);
    for entry in snapshot.servers.values().filter(reached) {
        for resource in entry.allowed_resources() {
            resources.push(ResourceItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                resource: &resource.name,
                uri: Some(&resource.uri),
                title: resource.title.as_ref(),
                description: resource.description.as_ref(),
                mime_type: resource.mime_type.as_ref(),
                size: resource.size,
                available: true,
            });
        }
        for name in entry.missing_resources() {
            resources.push(ResourceItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                resource: name,
                uri: None,
                title: None,
                description: None,
                mime_type: None,
                size: None,
                available: false,
            });
        }
        for template in &entry.catalog.resource_templates {
            templates.push(TemplateItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                resource_template: &template.name,
                uri_template: &template.uri_template,
                title: template.title.as_ref(),
                description: template.description.as_ref(),
                mime_type: template.mime_type.as_ref(),
            });
        }
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        resources: Vec<ResourceItem<'a>>,
        resource_templates: Vec<TemplateItem<'a>>,
    }
    to_json(&Answer {
        resources,
        resource_templates: templates,
    })
}

#[derive(Serialize)]
struct PromptItem<'a> {
    server_id: &'a str,
    server_name: &'a str,
    prompt: &'a str,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Vec<PromptArgument>>,
}

fn prompts_json(snapshot: &Snapshot, access: &Access) -> Vec<u8> {
    let mut prompts = Vec::new();
    let reached =
        |e: &&Arc<crate::registry::ServerEntry>| access.allows_server(&e.record.server_id);
    for entry in snapshot.servers.values().filter(reached) {
        for prompt in entry.prompts() {
            prompts.push(PromptItem {
                server_id: &entry.record.server_id,
                server_name: &entry.record.name,
                prompt: &prompt.name,
                name: snapshot.exposed_prompt_name(&entry.record.server_id, &prompt.name),
                title: prompt.title.as_ref(),
                description: prompt.description.as_ref(),
                arguments: prompt.arguments.as_ref(),
            });
        }
    }
    #[derive(Serialize)]
    struct Answer<'a> {
        prompts: Vec<PromptItem<'a>>,
    }
    to_json(&Answer { prompts })
}

/// `POST /mcp/tools/call`: `{"name": "<server_id>__<tool>", "arguments": {…}}`, or
/// `{"server_id": …, "tool": …, "arguments": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    server_id: Option<String>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    arguments: Option<JsonObject>,
}

pub async fn call_tool(
    State(gateway): State<Arc<Gateway>>,
    who: Identity,
    JsonBody(call): JsonBody<ToolCall>,
) -> Result<Json<CallToolResult>, ApiError> {
    let snapshot = gateway.registry.snapshot();
    let exposed = match (call.name, call.server_id, call.tool) {
        (Some(name), None, None) => name,
        (None, Some(server_id), Some(tool)) => {
            snapshot.exposed_tool_name(&server_id, &tool).ok_or(
                crate::gateway::GatewayError::ToolNotFound(format!("{server_id}/{tool}")),
            )?
        }
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                "name: give either \"name\" (the exposed tool name) or both \"server_id\" and \"tool\"",
            )
            .with_field("name"));
        }
    };
    let access = who.access();
    Ok(Json(
        gateway.call_tool(&exposed, call.arguments, &access).await?,
    ))
}

//! `/mcp/tools`, `/mcp/resources`, `/mcp/prompts` (what the upstreams offer, with the seed's
//! keys `server_id`, `server_name`, `tool`/`resource`/`prompt`) and `POST /mcp/tools/call`.
//!
//! Allowlisted names that were not discovered are listed with `"available": false`.

use std::sync::Arc;

use axum::{Json, extract::State};
use rmcp::model::{CallToolResult, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, JsonBody};
use crate::{gateway::Gateway, registry::ServerEntry};

pub async fn tools(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let snapshot = gateway.registry.snapshot();
    let mut tools = Vec::with_capacity(snapshot.tool_count());
    for entry in snapshot.servers.values() {
        for tool in entry.allowed_tools() {
            let mut item = owner(entry);
            // None: hidden by the `reject` naming policy (another server owns the name).
            let exposed = snapshot.exposed_tool_name(&entry.record.server_id, &tool.name);
            item.insert("tool".into(), json!(tool.name));
            item.insert("name".into(), json!(exposed));
            insert_some(&mut item, "title", &tool.title);
            insert_some(&mut item, "description", &tool.description);
            item.insert("input_schema".into(), json!(tool.input_schema));
            insert_some(&mut item, "output_schema", &tool.output_schema);
            insert_some(&mut item, "annotations", &tool.annotations);
            item.insert("available".into(), json!(exposed.is_some()));
            tools.push(Value::Object(item));
        }
        for name in entry.missing_tools() {
            let mut item = owner(entry);
            item.insert("tool".into(), json!(name));
            let exposed = snapshot.exposed_tool_name(&entry.record.server_id, name);
            item.insert("name".into(), json!(exposed));
            item.insert("available".into(), json!(false));
            tools.push(Value::Object(item));
        }
    }
    Json(json!({ "tools": tools }))
}

pub async fn resources(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let snapshot = gateway.registry.snapshot();
    let mut resources = Vec::new();
    let mut templates = Vec::new();
    for entry in snapshot.servers.values() {
        for resource in entry.allowed_resources() {
            let mut item = owner(entry);
            item.insert("resource".into(), json!(resource.name));
            item.insert("uri".into(), json!(resource.uri));
            insert_some(&mut item, "title", &resource.title);
            insert_some(&mut item, "description", &resource.description);
            insert_some(&mut item, "mime_type", &resource.mime_type);
            insert_some(&mut item, "size", &resource.size);
            item.insert("available".into(), json!(true));
            resources.push(Value::Object(item));
        }
        for name in entry.missing_resources() {
            let mut item = owner(entry);
            item.insert("resource".into(), json!(name));
            item.insert("available".into(), json!(false));
            resources.push(Value::Object(item));
        }
        for template in &entry.catalog.resource_templates {
            let mut item = owner(entry);
            item.insert("resource_template".into(), json!(template.name));
            item.insert("uri_template".into(), json!(template.uri_template));
            insert_some(&mut item, "title", &template.title);
            insert_some(&mut item, "description", &template.description);
            insert_some(&mut item, "mime_type", &template.mime_type);
            templates.push(Value::Object(item));
        }
    }
    Json(json!({ "resources": resources, "resource_templates": templates }))
}

pub async fn prompts(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let snapshot = gateway.registry.snapshot();
    let mut prompts = Vec::new();
    for entry in snapshot.servers.values() {
        for prompt in entry.prompts() {
            let mut item = owner(entry);
            item.insert("prompt".into(), json!(prompt.name));
            item.insert(
                "name".into(),
                json!(snapshot.exposed_prompt_name(&entry.record.server_id, &prompt.name)),
            );
            insert_some(&mut item, "title", &prompt.title);
            insert_some(&mut item, "description", &prompt.description);
            insert_some(&mut item, "arguments", &prompt.arguments);
            prompts.push(Value::Object(item));
        }
    }
    Json(json!({ "prompts": prompts }))
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
    Ok(Json(gateway.call_tool(&exposed, call.arguments).await?))
}

/// The seed's ownership keys of every listed item.
fn owner(entry: &ServerEntry) -> serde_json::Map<String, Value> {
    let mut item = serde_json::Map::new();
    item.insert("server_id".into(), json!(entry.record.server_id));
    item.insert("server_name".into(), json!(entry.record.name));
    item
}

fn insert_some<T: serde::Serialize>(
    item: &mut serde_json::Map<String, Value>,
    key: &str,
    value: &Option<T>,
) {
    if let Some(value) = value {
        item.insert(key.into(), json!(value));
    }
}

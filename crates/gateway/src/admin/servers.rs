//! `/mcp/servers` and `/mcp/servers/{server_id}`: register, list, get, replace, remove.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    ApiError, JsonBody,
    audit::{Caller, Pending, Target},
};
use crate::{
    gateway::{Gateway, GatewayError},
    model::{ServerRecord, ServerView},
};

/// A change's answer: `status`, the record's fields at the top level (so `server_id` is
/// there), and the same record under `server`.
#[derive(Serialize)]
pub struct Changed {
    status: &'static str,
    #[serde(flatten)]
    view: ServerView,
    server: ServerView,
}

impl Changed {
    fn new(status: &'static str, view: ServerView) -> Self {
        Self {
            status,
            server: view.clone(),
            view,
        }
    }
}

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    body: Result<JsonBody<ServerRecord>, ApiError>,
) -> Result<(StatusCode, Json<Changed>), ApiError> {
    let target = body.as_ref().map(|b| Target::of(&b.0)).unwrap_or_default();
    let audit = Pending::new(caller, "register", target);
    let result = async {
        let JsonBody(record) = body?;
        Ok(gateway.register(record).await?)
    }
    .await;
    audit.conclude(result, StatusCode::CREATED).map(|entry| {
        (
            StatusCode::CREATED,
            Json(Changed::new("registered", entry.view())),
        )
    })
}

pub async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let snapshot = gateway.registry.snapshot();
    let servers: Vec<ServerView> = snapshot.servers.values().map(|e| e.view()).collect();
    Json(json!({ "servers": servers }))
}

pub async fn get(
    State(gateway): State<Arc<Gateway>>,
    Path(server_id): Path<String>,
) -> Result<Json<ServerView>, ApiError> {
    let entry = gateway
        .registry
        .get(&server_id)
        .ok_or(GatewayError::NotFound(server_id))?;
    Ok(Json(entry.view()))
}

pub async fn replace(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(server_id): Path<String>,
    body: Result<JsonBody<ServerRecord>, ApiError>,
) -> Result<Json<Changed>, ApiError> {
    let target = body.as_ref().map(|b| Target::of(&b.0)).unwrap_or_default();
    let target = Target {
        server_id: Some(server_id.clone()),
        ..target
    };
    let audit = Pending::new(caller, "update", target);
    let result = async {
        let JsonBody(record) = body?;
        Ok(gateway.update(&server_id, record).await?)
    }
    .await;
    audit
        .conclude(result, StatusCode::OK)
        .map(|entry| Json(Changed::new("updated", entry.view())))
}

/// `POST /mcp/servers/{server_id}/tools/{tool}/approve`: lets a tool held for approval
/// through (`tool_changes: hold`).
pub async fn approve_tool(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path((server_id, tool)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let audit = Pending::new(caller, "approve_tool", Target::tool(&server_id, &tool));
    let result = gateway.approve_tool(&server_id, &tool).await;
    let held = audit.conclude(result.map_err(ApiError::from), StatusCode::OK)?;
    Ok(Json(json!({
        "status": "approved",
        "server_id": server_id,
        "tool": tool,
        "change": held.change,
        "fingerprint": held.fingerprint,
    })))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(server_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let target = match gateway.registry.get(&server_id) {
        Some(entry) => Target::of(&entry.record),
        None => Target::id(&server_id),
    };
    let audit = Pending::new(caller, "delete", target);
    let result = gateway.unregister(&server_id).await.map_err(ApiError::from);
    audit.conclude(result, StatusCode::OK)?;
    Ok(Json(
        json!({"status": "unregistered", "server_id": server_id}),
    ))
}

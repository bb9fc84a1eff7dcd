//! `/mcp/servers` and `/mcp/servers/{server_id}`: register, list, get, replace, remove.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiError, JsonBody};
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
    JsonBody(record): JsonBody<ServerRecord>,
) -> Result<(StatusCode, Json<Changed>), ApiError> {
    let entry = gateway.register(record).await?;
    Ok((
        StatusCode::CREATED,
        Json(Changed::new("registered", entry.view())),
    ))
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
    Path(server_id): Path<String>,
    JsonBody(record): JsonBody<ServerRecord>,
) -> Result<Json<Changed>, ApiError> {
    let entry = gateway.update(&server_id, record).await?;
    Ok(Json(Changed::new("updated", entry.view())))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    Path(server_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    gateway.unregister(&server_id).await?;
    Ok(Json(
        json!({"status": "unregistered", "server_id": server_id}),
    ))
}

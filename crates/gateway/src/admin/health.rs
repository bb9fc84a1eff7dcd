//! `/health/liveliness` (the process answers) and `/health/readiness` (the store answers).
//! Neither needs auth, and both stay up when `MCP_GATEWAY_ENABLED=false`.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::{gateway::Gateway, model::HealthState};

pub async fn liveliness() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

pub async fn readiness(State(gateway): State<Arc<Gateway>>) -> (StatusCode, Json<Value>) {
    let snapshot = gateway.registry.snapshot();
    let (mut healthy, mut connecting, mut unhealthy) = (0, 0, 0);
    for entry in snapshot.servers.values() {
        match entry.runtime.health().state {
            HealthState::Healthy => healthy += 1,
            HealthState::Connecting => connecting += 1,
            HealthState::Unhealthy => unhealthy += 1,
        }
    }
    let servers = json!({
        "total": snapshot.servers.len(),
        "healthy": healthy,
        "connecting": connecting,
        "unhealthy": unhealthy,
    });
    // Live tasks: a number that must come back down after load (leak checks).
    let runtime = json!({"tasks": tokio::runtime::Handle::current().metrics().num_alive_tasks()});
    match gateway.store_ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"status": "ready", "store": "ok", "mcp_gateway_enabled": gateway.settings.mcp_enabled, "servers": servers, "runtime": runtime}),
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "store": "unavailable", "servers": servers})),
            )
        }
    }
}

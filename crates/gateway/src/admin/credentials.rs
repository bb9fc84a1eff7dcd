//! `/mcp/servers/{server_id}/credentials`: a caller's own credential for a server marked
//! `credentials: per_user` — stored with the caller's API key or token (not the master
//! key's: the operator's requests use the record's `auth_value`), never shown again.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, JsonBody};
use crate::{
    access::Identity,
    gateway::{Gateway, GatewayError},
};

/// The body of `PUT`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    /// Sent upstream as the record's `auth_type` says (a bearer token, an API key, …).
    auth_value: String,
}

pub async fn put(
    State(gateway): State<Arc<Gateway>>,
    who: Identity,
    Path(server_id): Path<String>,
    body: Result<JsonBody<CredentialBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let JsonBody(body) = body?;
    let access = who.access();
    gateway
        .put_credential(&server_id, &access, body.auth_value)
        .await?;
    Ok(Json(answer(&server_id, &who, json!({"stored": true}))))
}

pub async fn get(
    State(gateway): State<Arc<Gateway>>,
    who: Identity,
    Path(server_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let stored = gateway.has_credential(&server_id, &who.access())?;
    Ok(Json(answer(&server_id, &who, json!({"stored": stored}))))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    who: Identity,
    Path(server_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !gateway.delete_credential(&server_id, &who.access()).await? {
        return Err(GatewayError::CredentialNotFound(server_id).into());
    }
    Ok(Json(answer(&server_id, &who, json!({"status": "deleted"}))))
}

fn answer(server_id: &str, who: &Identity, mut fields: Value) -> Value {
    fields["server_id"] = json!(server_id);
    fields["principal"] = json!(who.principal());
    fields
}

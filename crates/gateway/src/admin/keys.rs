//! `/mcp/keys` and `/mcp/keys/{key_id}`: create, list, get, change and delete API keys
//! (the master key only: the front door lets no API key here). The key itself is in the
//! answer to its creation and nowhere else, ever.

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
    access::keys::{KeyPatch, KeyView, NewKey},
    gateway::{Gateway, GatewayError},
};

/// The answer to `POST /mcp/keys`: the key (shown once) and its view.
#[derive(Serialize)]
pub struct Created {
    key: String,
    #[serde(flatten)]
    view: KeyView,
}

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    body: Result<JsonBody<NewKey>, ApiError>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let audit = Pending::new(caller, "create_key", Target::default());
    let result = async {
        let JsonBody(spec) = body?;
        Ok(gateway.create_key(spec).await?)
    }
    .await;
    let result = audit.conclude(result, StatusCode::CREATED);
    let (key, secret) = result?;
    let view = key.view();
    Ok((StatusCode::CREATED, Json(Created { key: secret, view })))
}

pub async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let keys: Vec<KeyView> = gateway.keys.list().iter().map(|k| k.view()).collect();
    Json(json!({ "keys": keys }))
}

pub async fn get(
    State(gateway): State<Arc<Gateway>>,
    Path(key_id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let key = gateway
        .keys
        .get(&key_id)
        .ok_or(GatewayError::KeyNotFound(key_id))?;
    Ok(Json(key.view()))
}

pub async fn update(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(key_id): Path<String>,
    body: Result<JsonBody<KeyPatch>, ApiError>,
) -> Result<Json<KeyView>, ApiError> {
    let audit = Pending::new(caller, "update_key", Target::key(&key_id));
    let result = async {
        let JsonBody(patch) = body?;
        Ok(gateway.update_key(&key_id, patch).await?)
    }
    .await;
    let result = audit.conclude(result, StatusCode::OK);
    Ok(Json(result?.view()))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let audit = Pending::new(caller, "delete_key", Target::key(&key_id));
    let result = gateway.delete_key(&key_id).await.map_err(ApiError::from);
    let result = audit.conclude(result, StatusCode::OK);
    result?;
    Ok(Json(json!({ "status": "deleted", "key_id": key_id })))
}

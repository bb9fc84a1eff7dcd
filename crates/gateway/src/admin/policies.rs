//! `/mcp/policies` and `/mcp/policies/{name}`: create, list, get, replace and delete named
//! policies (the master key only). See [`crate::access::policy`] for what they decide.

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
    access::policy::{Policy, PolicyRecord, PolicySource, PolicySpec},
    gateway::{Gateway, GatewayError},
};

/// A policy as the API shows it.
#[derive(Serialize)]
pub struct PolicyView {
    #[serde(flatten)]
    record: PolicyRecord,
    source: PolicySource,
}

fn view(policy: &Policy) -> PolicyView {
    PolicyView {
        record: policy.record.clone(),
        source: policy.source,
    }
}

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    body: Result<JsonBody<PolicySpec>, ApiError>,
) -> Result<(StatusCode, Json<PolicyView>), ApiError> {
    let mut target = Target::default();
    if let Ok(JsonBody(spec)) = &body {
        target.policy = spec.name.clone();
    }
    let audit = Pending::new(caller, "create_policy", target);
    let result = async {
        let JsonBody(spec) = body?;
        Ok(gateway.put_policy(None, spec).await?)
    }
    .await;
    let result = audit.conclude(result, StatusCode::CREATED);
    Ok((StatusCode::CREATED, Json(view(&result?.0))))
}

pub async fn list(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let policies: Vec<PolicyView> = gateway
        .settings
        .policies
        .list()
        .iter()
        .map(|p| view(p))
        .collect();
    Json(json!({ "policies": policies }))
}

pub async fn get(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let policy = gateway
        .settings
        .policies
        .get(&name)
        .ok_or(GatewayError::PolicyNotFound(name))?;
    Ok(Json(view(&policy)))
}

pub async fn replace(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<JsonBody<PolicySpec>, ApiError>,
) -> Result<Json<PolicyView>, ApiError> {
    let audit = Pending::new(caller, "replace_policy", Target::policy(&name));
    let result = async {
        let JsonBody(spec) = body?;
        Ok(gateway.put_policy(Some(&name), spec).await?)
    }
    .await;
    let result = audit.conclude(result, StatusCode::OK);
    Ok(Json(view(&result?.0)))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let audit = Pending::new(caller, "delete_policy", Target::policy(&name));
    let result = gateway.delete_policy(&name).await.map_err(ApiError::from);
    let result = audit.conclude(result, StatusCode::OK);
    result?;
    Ok(Json(json!({ "status": "deleted", "name": name })))
}

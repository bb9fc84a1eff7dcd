//! `GET /metrics`: the gateway's metrics for Prometheus (text format 0.0.4), or
//! OpenMetrics 1.0 when the scraper's `Accept` asks for `application/openmetrics-text`.
//! Who may read it is the front door's business (`front::auth::require_scraper`).

use std::sync::Arc;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{front::ApiError, gateway::Gateway, metrics::Format};

pub async fn scrape(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    match gateway.metrics.encode(format) {
        Ok(text) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the metrics could not be encoded",
        )
        .into_response(),
    }
}

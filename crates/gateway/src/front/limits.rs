//! Time limits on requests (`gateway.request_timeout_secs`, default 30 s). Size limits
//! are `gateway.max_body_bytes` on every route (axum's `DefaultBodyLimit` for extractors,
//! rmcp's own limit and the direct lane's for the MCP endpoints).
//!
//! * [`body_deadline`], on every route: the whole request body must have arrived within
//!   the timeout of the request reaching the router; later, the request is answered
//!   `408 request_timeout` (a slow or stalled upload cannot hold a connection and a
//!   buffer). Requests without a body are untouched.
//! * [`handler_timeout`], on the REST routes that answer from the gateway itself (server
//!   CRUD, catalog lists, health): the answer must be ready within the timeout, else
//!   `503 timeout`. An admin change that is abandoned this way still completes or fails
//!   as a whole (see `Gateway::register`).
//!
//! Not under a whole-request timeout, because their answers are long by design: the MCP
//! endpoints (`/mcp`, `/mcp/servers/{id}/mcp`, `GET /sse`), whose responses are event
//! streams that live as long as the session, and `POST /mcp/tools/call`, bounded by the
//! server's own `timeout_secs`.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, HttpBody},
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body::Frame;

use super::ApiError;

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// See the module documentation.
pub async fn body_deadline(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (request, expired) = with_deadline(request, timeout);
    let response = next.run(request).await;
    unless_expired(expired.as_deref(), timeout, response)
}

/// Puts the body of `request` under a deadline `timeout` from now (see [`DeadlineBody`]);
/// the flag, for [`unless_expired`], is `None` for a request without a body.
pub fn with_deadline(request: Request, timeout: Duration) -> (Request, Option<Arc<AtomicBool>>) {
    if request.body().is_end_stream() {
        return (request, None);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = DeadlineBody {
        inner: body,
        deadline: tokio::time::Instant::now() + timeout,
        timeout,
        sleep: None,
        expired: expired.clone(),
    };
    (Request::from_parts(parts, Body::new(body)), Some(expired))
}

/// `response`, unless the request's body missed its deadline: whatever the route made of
/// the failed read, the reason is the deadline (408).
pub fn unless_expired(
    expired: Option<&AtomicBool>,
    timeout: Duration,
    response: Response,
) -> Response {
    if expired.is_some_and(|e| e.load(Ordering::Relaxed)) {
        return request_timeout(timeout).into_response();
    }
    response
}

/// A request body that fails with [`BodyTimedOut`] once its deadline has passed. The timer
/// is armed only when the body makes its reader wait: a body that arrived with the
/// request's head (most do) costs none.
struct DeadlineBody {
    inner: Body,
    deadline: tokio::time::Instant,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimedOut(this.timeout).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// See the module documentation.
pub async fn handler_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the gateway did not answer within {}s (gateway.request_timeout_secs); retry later",
                timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

fn request_timeout(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request body did not arrive within {}s (gateway.request_timeout_secs)",
            timeout.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, middleware, routing::post};
    use tower::ServiceExt;

    async fn echo_len(body: axum::body::Bytes) -> String {
        body.len().to_string()
    }

    fn app(timeout: Duration) -> Router {
        Router::new()
            .route("/echo", post(echo_len))
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                })
                .route_layer(middleware::from_fn_with_state(timeout, handler_timeout)),
            )
            .layer(middleware::from_fn_with_state(timeout, body_deadline))
    }

    async fn status_and_code(res: Response) -> (StatusCode, serde_json::Value) {
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_gets_408() {
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        use futures::SinkExt;
        tx.send(Ok(b"partial".to_vec())).await.unwrap();
        // The sender stays open and sends nothing more.
        let req = Request::post("/echo").body(Body::from_stream(rx)).unwrap();
        let res = app(Duration::from_secs(5)).oneshot(req).await.unwrap();
        let (status, body) = status_and_code(res).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "request_timeout");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_passes() {
        let req = Request::post("/echo").body(Body::from("12345")).unwrap();
        let res = app(Duration::from_secs(5)).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(res.into_body(), 100).await.unwrap();
        assert_eq!(&bytes[..], b"5");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_handler_gets_503() {
        let req = Request::post("/slow").body(Body::empty()).unwrap();
        let res = app(Duration::from_secs(5)).oneshot(req).await.unwrap();
        let (status, body) = status_and_code(res).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["code"], "timeout");
    }
}

//! The upstream's requests during a direct call of a client that can be asked: they come
//! on the call's own response stream from the client's own upstream session, so they are
//! that call's — routed by construction. Each goes to the client on the call's response
//! stream with an id of the gateway's; the client's answer (a POST of a JSON-RPC response
//! with that id, on the same MCP session) is sent back on the upstream session that asked,
//! with the upstream's id.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::value::RawValue;

use super::request::Reply;
use crate::{
    downstream::owned::ClientSession,
    upstream::{
        lane::{Asks, HttpLane},
        seen_session::SessionHeaders,
    },
};

/// The requests relayed to clients and not answered yet, by MCP session and gateway id.
#[derive(Default)]
pub struct PendingAsks {
    next: AtomicU64,
    table: Mutex<HashMap<(String, String), Asked>>,
}

/// Where the answer to one relayed request goes.
struct Asked {
    lane: Arc<HttpLane>,
    session: Arc<SessionHeaders>,
    upstream_id: Box<RawValue>,
}

impl PendingAsks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Asked>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a client's answer to the upstream that asked; `None` if it answers nothing
    /// relayed here (rmcp's own requests to the client, say).
    pub async fn answer(&self, session: &str, reply: &Reply<'_>) -> Option<Response> {
        let key = (session.to_owned(), reply.id.get().to_owned());
        let asked = self.lock().remove(&key)?;
        if let Err(e) = asked
            .lane
            .answer_upstream(
                &asked.session,
                &asked.upstream_id,
                reply.member,
                reply.value,
            )
            .await
        {
            tracing::debug!(error = %e, "a client's answer did not reach the upstream");
        }
        Some(StatusCode::ACCEPTED.into_response())
    }
}

/// The upstream's requests during one call of one client; what is still unanswered when
/// the call ends is forgotten.
pub struct CallAsks {
    pending: Arc<PendingAsks>,
    /// The MCP session of the client whose call this is.
    session: String,
    client: Arc<ClientSession>,
    lane: Arc<HttpLane>,
    upstream_session: Arc<SessionHeaders>,
    issued: Mutex<Vec<String>>,
}

impl CallAsks {
    pub fn new(
        pending: Arc<PendingAsks>,
        session: &str,
        client: Arc<ClientSession>,
        lane: Arc<HttpLane>,
        upstream_session: Arc<SessionHeaders>,
    ) -> Self {
        Self {
            pending,
            session: session.to_owned(),
            client,
            lane,
            upstream_session,
            issued: Mutex::default(),
        }
    }
}

impl Asks for CallAsks {
    fn forward(
        &self,
        method: &str,
        id: &RawValue,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, String> {
        if !self.client.may_be_asked(method) {
            return Err("the client declared no such capability".to_owned());
        }
        let n = self.pending.next.fetch_add(1, Ordering::Relaxed);
        let gateway_id = format!(r#""gw-ask-{n}""#);
        let mut message = format!(r#"{{"jsonrpc":"2.0","id":{gateway_id},"method":"#);
        message.push_str(&serde_json::to_string(method).map_err(|e| e.to_string())?);
        if let Some(params) = params {
            message.push_str(r#","params":"#);
            message.push_str(params.get());
        }
        message.push('}');
        let message = RawValue::from_string(message).map_err(|e| e.to_string())?;
        let asked = Asked {
            lane: self.lane.clone(),
            session: self.upstream_session.clone(),
            upstream_id: id.to_owned(),
        };
        self.pending
            .lock()
            .insert((self.session.clone(), gateway_id.clone()), asked);
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(gateway_id);
        Ok(message)
    }
}

impl Drop for CallAsks {
    fn drop(&mut self) {
        let issued = std::mem::take(self.issued.get_mut().unwrap_or_else(|p| p.into_inner()));
        if issued.is_empty() {
            return;
        }
        let mut table = self.pending.lock();
        for id in issued {
            table.remove(&(self.session.clone(), id));
        }
    }
}

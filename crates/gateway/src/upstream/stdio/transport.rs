//! The rmcp transport over a stdio server's pipes: newline-delimited JSON-RPC, with the
//! direct lane's lines picked out of the server's output (see [`StdioLane::take`]).
//!
//! rmcp's handshake probes with `server/discover` and, when no answer comes within 10 s,
//! sends `initialize` on the same pipe. A server that was only slow to start (`npx`
//! downloading its package) then answers the probe first; rmcp would take that answer as
//! one to `initialize` and fail the handshake ("uncorrelated error response"). The probe
//! was given up, so its late answer is dropped here.

use std::sync::Arc;

use futures::StreamExt;
use rmcp::{
    RoleClient,
    model::{ClientRequest, JsonRpcMessage, RequestId},
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::process::ChildStdout;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use super::{closable::ClosableStdin, lane::StdioLane};
use crate::upstream::sse::MAX_EVENT_SIZE;

/// The client side of a stdio session.
pub struct StdioTransport {
    lines: FramedRead<ChildStdout, LinesCodec>,
    stdin: ClosableStdin,
    lane: Arc<StdioLane>,
    server_id: String,
    /// The `server/discover` probe sent, until the handshake moves on.
    probe: Option<RequestId>,
    /// A probe given up for `initialize`: its answer, if it still comes, is dropped.
    abandoned_probe: Option<RequestId>,
}

impl StdioTransport {
    pub(super) fn new(
        stdout: ChildStdout,
        stdin: ClosableStdin,
        lane: Arc<StdioLane>,
        server_id: String,
    ) -> Self {
        Self {
            lines: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_EVENT_SIZE)),
            stdin,
            lane,
            server_id,
            probe: None,
            abandoned_probe: None,
        }
    }

    /// Notes the handshake's requests: the probe, and `initialize` sent after it.
    fn note_handshake(&mut self, item: &TxJsonRpcMessage<RoleClient>) {
        let JsonRpcMessage::Request(request) = item else {
            return;
        };
        match &request.request {
            ClientRequest::DiscoverRequest(_) => self.probe = Some(request.id.clone()),
            ClientRequest::InitializeRequest(_) => self.abandoned_probe = self.probe.take(),
            _ => self.probe = None,
        }
    }

    /// Whether `message` is the late answer to an abandoned probe.
    fn answers_abandoned_probe(&mut self, message: &RxJsonRpcMessage<RoleClient>) -> bool {
        let id = match message {
            JsonRpcMessage::Response(response) => &response.id,
            JsonRpcMessage::Error(error) => match &error.id {
                Some(id) => id,
                None => return false,
            },
            _ => return false,
        };
        if self.probe.as_ref() == Some(id) {
            self.probe = None; // answered in time
            return false;
        }
        if self.abandoned_probe.as_ref() != Some(id) {
            return false;
        }
        self.abandoned_probe = None;
        tracing::debug!(upstream = %self.server_id, "dropped the late answer to server/discover, given up for initialize");
        true
    }
}

impl Drop for StdioTransport {
    fn drop(&mut self) {
        self.lane.close();
    }
}

impl Transport<RoleClient> for StdioTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.note_handshake(&item);
        let stdin = self.stdin.clone();
        async move {
            let mut line = serde_json::to_vec(&item)?;
            line.push(b'\n');
            stdin.write_line(&line).await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let line = match self.lines.next().await {
                Some(Ok(line)) => line,
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    tracing::warn!(upstream = %self.server_id, max = MAX_EVENT_SIZE, "skipping an over-long line from the stdio server");
                    continue;
                }
                Some(Err(LinesCodecError::Io(e))) => {
                    tracing::info!(upstream = %self.server_id, error = %e, "reading from the stdio server failed");
                    self.lane.close();
                    return None;
                }
                None => {
                    self.lane.close();
                    return None;
                }
            };
            if line.trim().is_empty() || self.lane.take(&line) {
                continue;
            }
            match serde_json::from_str(&line) {
                Ok(message) if self.answers_abandoned_probe(&message) => {}
                Ok(message) => return Some(message),
                Err(e) => {
                    let shown: String = line.chars().take(200).collect();
                    tracing::warn!(upstream = %self.server_id, error = %e, line = %shown, "skipping a line from the stdio server that is not a JSON-RPC message");
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.lane.close();
        Ok(())
    }
}

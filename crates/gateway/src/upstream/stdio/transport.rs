//! The rmcp transport over a stdio server's pipes: newline-delimited JSON-RPC, with the
//! direct lane's lines picked out of the server's output (see [`StdioLane::take`]).

use std::sync::Arc;

use futures::StreamExt;
use rmcp::{
    RoleClient,
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
        }
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

//! The legacy HTTP+SSE client transport (protocol revision 2024-11-05). Being written.

use http::HeaderMap;
use rmcp::{
    RoleClient,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};

/// Errors of the SSE transport.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("not implemented yet")]
    Unimplemented,
}

/// Client side of the legacy SSE transport.
pub struct SseClientTransport;

impl SseClientTransport {
    pub async fn connect(
        _client: reqwest::Client,
        _url: &str,
        _headers: HeaderMap,
    ) -> Result<Self, SseError> {
        Err(SseError::Unimplemented)
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn send(
        &mut self,
        _item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        std::future::ready(Err(SseError::Unimplemented))
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        None
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

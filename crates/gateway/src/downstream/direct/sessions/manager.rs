//! The session table as rmcp's session manager: rmcp's streamable HTTP framing checks a
//! request's headers and body, then hands the message here, and it goes to the session's
//! [`Relay`](crate::downstream::relay::Relay) — rmcp runs no server of its own for these
//! sessions. Sessions are opened by the gateway (the direct lane answers every
//! `initialize`), never by rmcp.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures::Stream;
use rmcp::{
    model::GetExtensions,
    model::{ClientJsonRpcMessage, ClientRequest, JsonRpcRequest, RequestId, ServerJsonRpcMessage},
    transport::streamable_http_server::session::{
        ServerSseMessage, SessionId, SessionManager, never::NeverTransport,
    },
};
use tokio::sync::mpsc;

use super::{SessionInfo, TrackedSessions};
use crate::{
    client_peer::{ClientPeer, Message, RequestStream},
    downstream::relay::Call,
};

/// Why the session table could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such MCP session (it may have ended or expired)")]
    NotFound,
    #[error("MCP sessions are opened by the gateway's own initialize handling")]
    NotOpenedHere,
    #[error("this gateway keeps no event history to resume a stream from")]
    NoResumption,
    #[error("a request was sent where only a notification or a response fits")]
    NotARequest,
}

impl TrackedSessions {
    fn session(&self, id: &SessionId) -> Result<Arc<SessionInfo>, SessionError> {
        self.touch(id).ok_or(SessionError::NotFound)
    }
}

impl SessionManager for TrackedSessions {
    type Error = SessionError;
    type Transport = NeverTransport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        Err(SessionError::NotOpenedHere)
    }

    async fn initialize_session(
        &self,
        _id: &SessionId,
        _message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Err(SessionError::NotOpenedHere)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.touch(id).is_some())
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.end(id);
        Ok(())
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let info = self.session(id)?;
        let ClientJsonRpcMessage::Request(request) = message else {
            return Err(SessionError::NotARequest);
        };
        Ok(serve(info, request))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        let info = self.session(id)?;
        match message {
            ClientJsonRpcMessage::Notification(notification) => {
                info.relay()
                    .notified(notification.notification, info.outbox())
                    .await;
            }
            ClientJsonRpcMessage::Response(response) => {
                info.outbox().answer(&response.id, Ok(response.result));
            }
            ClientJsonRpcMessage::Error(error) => {
                if let Some(asked) = &error.id {
                    info.outbox().answer(asked, Err(error.error));
                }
            }
            ClientJsonRpcMessage::Request(_) => return Err(SessionError::NotARequest),
        }
        Ok(())
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let info = self.session(id)?;
        Ok(Messages {
            receiver: info.outbox().open_stream(),
            last: None,
            done: false,
        })
    }

    async fn resume(
        &self,
        _id: &SessionId,
        _last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Err::<Messages, _>(SessionError::NoResumption)
    }
}

/// Serves one request of a session in a task of its own; its response stream carries
/// what the relay sends the client while serving it, then the answer. The request is
/// cancelled by the client's `notifications/cancelled`, by the end of the session, or
/// by the client's leaving (the stream dropped).
fn serve(info: Arc<SessionInfo>, request: JsonRpcRequest<ClientRequest>) -> Messages {
    let (stream, receiver) = info.outbox().request_stream();
    let stream = Arc::new(stream);
    let peer = ClientPeer::Request(stream.clone());
    let access = crate::downstream::relay::access_of(request.request.extensions());
    let (call, in_flight) = Call::in_session(info.outbox(), &request, peer, access);
    let id = request.id;
    let answered = id.clone();
    tokio::spawn(async move {
        let _in_flight = in_flight;
        // A request that ends without its answer (a bug: a panic) still gets one.
        let mut unanswered = Unanswered(Some((stream.clone(), id.clone())));
        let relay = info.relay();
        let served = relay.serve(request.request, &call, info.revision());
        let result = tokio::select! {
            result = served => result,
            () = stream.closed() => {
                unanswered.0 = None;
                return;
            }
        };
        unanswered.0 = None;
        let message = match result {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        stream.finish(message).await;
    });
    Messages {
        receiver,
        last: Some(answered),
        done: false,
    }
}

/// The answer a request owes its client until it is given.
struct Unanswered(Option<(Arc<RequestStream>, RequestId)>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((stream, id)) = self.0.take() {
            let error = rmcp::ErrorData::internal_error("mcp-gateway: the request failed", None);
            stream.try_finish(ServerJsonRpcMessage::error(error, Some(id)));
        }
    }
}

/// A stream of messages for the client, as rmcp's framing writes them; a request's ends
/// with its answer (what else holds its sender — a call lingering for late
/// notifications — cannot keep it open).
pub struct Messages {
    receiver: mpsc::Receiver<Message>,
    /// The request whose answer ends the stream.
    last: Option<RequestId>,
    /// The answer went out.
    done: bool,
}

impl Stream for Messages {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let message = match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(message)) => message,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let answers = match (&*message, &self.last) {
            (ServerJsonRpcMessage::Response(response), Some(last)) => response.id == *last,
            (ServerJsonRpcMessage::Error(error), Some(last)) => error.id.as_ref() == Some(last),
            _ => false,
        };
        if answers {
            // Nothing after the answer: the stream ends with it.
            self.receiver.close();
            self.done = true;
        }
        let mut event = ServerSseMessage::default();
        event.message = Some(message);
        Poll::Ready(Some(event))
    }
}

//! The streams of a session the gateway serves itself (streamable HTTP, session era): the
//! session's own stream (its `GET`), each request's response stream, the questions asked
//! on them until the client answers, and the requests in flight until they end.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::{
    ErrorData as McpError,
    model::{
        ClientCapabilities, ClientResult, RequestId, ServerJsonRpcMessage, ServerNotification,
        ServerRequest,
    },
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ClientGone;

/// Messages a slow client has not read yet, per stream, before senders wait.
const STREAM_BUFFER: usize = 16;
/// How long a sender waits for a client that reads none of its stream: then the message
/// is dropped, and a session's own stream is closed (the client opens another).
const STREAM_STALL: Duration = Duration::from_secs(30);

/// A client's answer to a question the gateway relayed.
type Answer = Result<ClientResult, McpError>;

/// A message on a stream, shared: a channel's slots stay small (a message is ~500 bytes
/// and a channel allocates its slots up front), and rmcp's framing takes it as it is.
pub type Message = Arc<ServerJsonRpcMessage>;

/// One session's ways to its client.
#[derive(Debug)]
pub struct Outbox {
    /// What the client declared in its `initialize`.
    capabilities: ClientCapabilities,
    /// The session's own stream, while the client holds one open.
    stream: Mutex<Option<mpsc::Sender<Message>>>,
    /// Questions asked and not answered yet, by the gateway's id for them.
    asks: Mutex<HashMap<RequestId, oneshot::Sender<Answer>>>,
    next_ask: AtomicU64,
    /// The session's requests in flight, by id.
    in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    /// Cancelled when the session ends.
    ended: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is one map or slot operation: a poisoned lock is intact.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Outbox {
    pub fn new(capabilities: ClientCapabilities) -> Arc<Self> {
        Arc::new(Self {
            capabilities,
            stream: Mutex::default(),
            asks: Mutex::default(),
            next_ask: AtomicU64::new(0),
            in_flight: Mutex::default(),
            ended: CancellationToken::new(),
        })
    }

    /// What the client declared.
    pub fn capabilities(&self) -> &ClientCapabilities {
        &self.capabilities
    }

    /// The session's own stream, opened by the client's `GET`: what reaches the session
    /// outside its requests goes there from now on. While one is open, another `GET`
    /// gets a stream that carries nothing (two would each miss half the messages) and
    /// ends with the session.
    pub fn open_stream(&self) -> mpsc::Receiver<Message> {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let mut slot = lock(&self.stream);
        if slot.as_ref().is_some_and(|open| !open.is_closed()) {
            let ended = self.ended.clone();
            tokio::spawn(async move {
                // Holding the sender keeps the idle stream open until the session ends.
                tokio::select! {
                    () = ended.cancelled() => {}
                    () = sender.closed() => {}
                }
            });
        } else {
            *slot = Some(sender);
        }
        receiver
    }

    /// The response stream of one request: what belongs to the request goes there.
    pub fn request_stream(self: &Arc<Self>) -> (RequestStream, mpsc::Receiver<Message>) {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let stream = RequestStream {
            sender,
            session: self.clone(),
        };
        (stream, receiver)
    }

    /// Ends the session: its streams close and unanswered questions fail.
    pub fn end(&self) {
        self.ended.cancel();
        lock(&self.stream).take();
        lock(&self.asks).clear();
        for (_, request) in lock(&self.in_flight).drain() {
            request.cancel();
        }
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
    }

    /// Registers a request in flight, cancelled by the client's `notifications/cancelled`
    /// or when the session ends; forgotten when the returned guard drops.
    pub fn begin(self: &Arc<Self>, id: RequestId) -> InFlight {
        // A token of its own (`end` cancels every request in flight): no link to the
        // session's token to set up and take down on every request.
        let cancelled = CancellationToken::new();
        lock(&self.in_flight).insert(id.clone(), cancelled.clone());
        if self.is_ended() {
            cancelled.cancel(); // the session ended meanwhile
        }
        InFlight {
            outbox: self.clone(),
            id,
            cancelled,
        }
    }

    /// Cancels the request `id`; false if none is in flight.
    pub fn cancel(&self, id: &RequestId) -> bool {
        match lock(&self.in_flight).remove(id) {
            Some(request) => {
                request.cancel();
                true
            }
            None => false,
        }
    }

    /// Hands the client's answer to the question it answers; false if none waits for it.
    pub fn answer(&self, id: &RequestId, answer: Answer) -> bool {
        match lock(&self.asks).remove(id) {
            Some(waiting) => {
                let _ = waiting.send(answer);
                true
            }
            None => false,
        }
    }

    /// Sends a message on the session's own stream (a transport with one stream for
    /// everything, like the legacy SSE one, answers requests there too).
    pub async fn deliver(&self, message: ServerJsonRpcMessage) -> Result<(), ClientGone> {
        let sender = lock(&self.stream).clone();
        match sender {
            Some(sender) => {
                let sent = send_within(&sender, message).await;
                if sent.is_err() {
                    // A stalled stream is closed: the client reconnects with a new `GET`.
                    let mut slot = lock(&self.stream);
                    if slot.as_ref().is_some_and(|open| open.same_channel(&sender)) {
                        slot.take();
                    }
                }
                sent
            }
            // Nobody listens: dropped, as a server without the stream would.
            None if !self.is_ended() => Ok(()),
            None => Err(ClientGone),
        }
    }

    /// Asks the client on `stream` (or the session's own stream) and waits for its answer
    /// (or the end of the session).
    async fn ask(&self, stream: Option<&mpsc::Sender<Message>>, request: ServerRequest) -> Answer {
        let no_stream = || {
            McpError::internal_error(
                "mcp-gateway: the client has no stream open to be asked on",
                None,
            )
        };
        let session_stream;
        let stream = match stream {
            Some(stream) => stream,
            None => {
                session_stream = lock(&self.stream).clone().ok_or_else(no_stream)?;
                &session_stream
            }
        };
        let n = self.next_ask.fetch_add(1, Ordering::Relaxed);
        // Its own prefix: the direct lane numbers the questions it relays as `gw-ask-…`.
        let id = RequestId::String(format!("gw-session-ask-{n}").into());
        let (waiting, answer) = oneshot::channel();
        lock(&self.asks).insert(id.clone(), waiting);
        // However this ends (answered, refused, the asking call dropped), the question is
        // forgotten.
        let _asked = Asked {
            outbox: self,
            id: &id,
        };
        let message = ServerJsonRpcMessage::request(request, id.clone());
        if send_within(stream, message).await.is_err() {
            return Err(no_stream());
        }
        let gone = || McpError::internal_error("mcp-gateway: the client's session ended", None);
        tokio::select! {
            answer = answer => answer.unwrap_or_else(|_| Err(gone())),
            () = self.ended.cancelled() => Err(gone()),
        }
    }
}

/// Sends on a stream, giving up on a client that reads nothing for [`STREAM_STALL`].
async fn send_within(
    stream: &mpsc::Sender<Message>,
    message: ServerJsonRpcMessage,
) -> Result<(), ClientGone> {
    match tokio::time::timeout(STREAM_STALL, stream.send(Arc::new(message))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ClientGone),
        Err(_) => {
            tracing::info!(timeout = ?STREAM_STALL, "a client read nothing of its stream: message dropped");
            Err(ClientGone)
        }
    }
}

/// A question waiting for the client's answer; forgotten when dropped.
struct Asked<'a> {
    outbox: &'a Outbox,
    id: &'a RequestId,
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        lock(&self.outbox.asks).remove(self.id);
    }
}

/// One request of a session, in flight.
#[derive(Debug)]
pub struct InFlight {
    outbox: Arc<Outbox>,
    id: RequestId,
    cancelled: CancellationToken,
}

impl InFlight {
    /// Cancelled when the client cancels the request or its session ends.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancelled
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.outbox.in_flight).remove(&self.id);
    }
}

/// The response stream of one request.
#[derive(Debug)]
pub struct RequestStream {
    sender: mpsc::Sender<Message>,
    session: Arc<Outbox>,
}

impl RequestStream {
    /// Sends the request's final message (its answer).
    pub async fn finish(&self, message: ServerJsonRpcMessage) {
        let _ = self.sender.send(Arc::new(message)).await;
    }

    /// [`Self::finish`] without waiting (from a `Drop`): lost if the client's buffer is
    /// full.
    pub fn try_finish(&self, message: ServerJsonRpcMessage) {
        let _ = self.sender.try_send(Arc::new(message));
    }

    /// Resolves when the client stopped reading the stream.
    pub async fn closed(&self) {
        self.sender.closed().await
    }

    pub(super) fn session(&self) -> &Arc<Outbox> {
        &self.session
    }

    pub(super) fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub(super) async fn notify(&self, notification: ServerNotification) -> Result<(), ClientGone> {
        let notification = ServerJsonRpcMessage::notification(notification);
        send_within(&self.sender, notification).await
    }

    pub(super) async fn ask(&self, request: ServerRequest) -> Answer {
        self.session.ask(Some(&self.sender), request).await
    }
}

impl Outbox {
    pub(super) async fn notify(&self, notification: ServerNotification) -> Result<(), ClientGone> {
        self.deliver(ServerJsonRpcMessage::notification(notification))
            .await
    }

    pub(super) async fn ask_session(&self, request: ServerRequest) -> Answer {
        self.ask(None, request).await
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{ListRootsRequest, ToolListChangedNotification};

    use super::*;

    fn changed() -> ServerJsonRpcMessage {
        ServerJsonRpcMessage::notification(ServerNotification::ToolListChangedNotification(
            ToolListChangedNotification::default(),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_nobody_reads_is_closed_and_its_messages_dropped() {
        let outbox = Outbox::new(ClientCapabilities::default());
        let stream = outbox.open_stream();
        for _ in 0..STREAM_BUFFER {
            outbox.deliver(changed()).await.unwrap();
        }
        // The client reads nothing: the next message waits its limit, then gives up.
        assert!(outbox.deliver(changed()).await.is_err());
        // The stream is closed; what comes next reaches nobody until another GET.
        assert!(lock(&outbox.stream).is_none());
        outbox.deliver(changed()).await.unwrap();
        drop(stream);
        let mut again = outbox.open_stream();
        outbox.deliver(changed()).await.unwrap();
        assert!(again.recv().await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn questions_are_forgotten_however_they_end() {
        let outbox = Outbox::new(ClientCapabilities::default());
        let mut stream = outbox.open_stream();
        let roots = || ServerRequest::ListRootsRequest(ListRootsRequest::default());
        // Answered.
        let asking = outbox.ask_session(roots());
        let answering = async {
            let asked = stream
                .recv()
                .await
                .expect("a question on the session's stream");
            let ServerJsonRpcMessage::Request(asked) = &*asked else {
                panic!("a question on the session's stream");
            };
            assert!(outbox.answer(&asked.id, Ok(ClientResult::empty(()))));
        };
        let (answer, ()) = tokio::join!(asking, answering);
        assert!(answer.is_ok());
        // Dropped by its asker before the answer (the upstream cancelled it).
        {
            let asking = outbox.ask_session(roots());
            let _ = tokio::time::timeout(Duration::from_millis(10), asking).await;
        }
        assert!(lock(&outbox.asks).is_empty());
        // The session ended.
        let asking = outbox.ask_session(roots());
        let ending = async { outbox.end() };
        let (answer, ()) = tokio::join!(asking, ending);
        assert!(answer.is_err());
        assert!(lock(&outbox.asks).is_empty());
    }
}

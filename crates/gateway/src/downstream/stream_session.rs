//! A session over one stream of messages each way — the legacy SSE face (posted messages
//! in, its event stream out) and the stdio face (stdin, stdout) — served by the relay: the
//! client's `initialize` is answered here, then each message goes to the session's
//! [`Relay`], and every message for the client — answers, notifications, the upstreams'
//! questions — is written to the session's one stream (its [`Outbox`]).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorCode, ErrorData as McpError, JsonRpcRequest,
    ProtocolVersion, ServerJsonRpcMessage, ServerResult,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    client_peer::{ClientPeer, Message, Outbox},
    downstream::{
        direct::request::{invalid_message, unreadable_message},
        owned::ClientSession,
        relay::{Call, Relay},
        view::Scope,
    },
    gateway::Gateway,
};

/// A session after its `initialize`: its relay, its streams, the negotiated revision.
type Opened = (Relay, Arc<Outbox>, mpsc::Receiver<Message>, ProtocolVersion);

/// One session over a stream each way, and what it needs while it runs.
pub(crate) struct StreamSession {
    pub gateway: Arc<Gateway>,
    /// The session's name in logs.
    pub id: String,
    /// Who opened it (see [`crate::access::Identity::principal`]): its requests reach
    /// what that identity may reach at the time of each request.
    pub owner: String,
    pub inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    /// The stream's side: JSON-encoded messages.
    pub outbound: mpsc::Sender<String>,
    pub limits: StreamLimits,
    /// Cancelled to end the session (the stream dropped, the gateway stopping).
    pub ct: CancellationToken,
}

/// The timeouts of a [`StreamSession`].
#[derive(Debug, Clone)]
pub(crate) struct StreamLimits {
    /// How long the client may take to send `initialize`.
    pub init_timeout: Duration,
    /// How long the stream may refuse a message (a client that stopped reading) before
    /// the session ends.
    pub stall_timeout: Duration,
    /// How long the session may go without a message either way, and the activity that
    /// tells (`None`: no limit).
    pub idle: Option<(Arc<Activity>, Duration)>,
}

impl StreamSession {
    /// Serves the session until the client leaves, stalls or idles, or the gateway stops.
    pub async fn run(mut self) {
        let Some(request) = self.initialize_request().await else {
            return;
        };
        let Some((relay, outbox, mut stream, revision)) = self.open(request).await else {
            return;
        };
        loop {
            tokio::select! {
                message = self.inbound.recv() => match message {
                    Some(message) => self.take(&relay, &outbox, &revision, message).await,
                    None => break,
                },
                message = stream.recv() => match message {
                    Some(message) => if !self.write(&message).await { break },
                    None => break,
                },
                () = self.ct.cancelled() => break,
                () = idle(&self.limits.idle) => {
                    tracing::info!(session = %self.id, "closing an idle session");
                    break;
                }
            }
        }
        outbox.end();
    }

    /// Waits for the client's `initialize` (answering pings meanwhile, as the protocol
    /// allows before initialization); `None` if the session ends first.
    async fn initialize_request(&mut self) -> Option<JsonRpcRequest<ClientRequest>> {
        let deadline = tokio::time::Instant::now() + self.limits.init_timeout;
        loop {
            let message = tokio::select! {
                message = tokio::time::timeout_at(deadline, self.inbound.recv()) => message,
                () = self.ct.cancelled() => return None,
            };
            match message {
                Err(_) => {
                    tracing::info!(session = %self.id, timeout = ?self.limits.init_timeout, "closing a session that sent no initialize");
                    return None;
                }
                Ok(None) => return None,
                Ok(Some(ClientJsonRpcMessage::Request(request))) => {
                    if !matches!(request.request, ClientRequest::PingRequest(_)) {
                        return Some(request);
                    }
                    let pong = ServerJsonRpcMessage::response(ServerResult::empty(()), request.id);
                    if !self.write(&pong).await {
                        return None;
                    }
                }
                // Nothing to act on before the handshake.
                Ok(Some(_)) => {}
            }
        }
    }

    /// Answers the session's first request, which must be `initialize`: the session's
    /// relay and streams from then on.
    async fn open(&self, request: JsonRpcRequest<ClientRequest>) -> Option<Opened> {
        let ClientRequest::InitializeRequest(initialize) = &request.request else {
            tracing::debug!(session = %self.id, "session ended: its first request was not initialize");
            let refusal = McpError::invalid_request("send initialize first", None);
            let _ = self
                .write(&ServerJsonRpcMessage::error(refusal, Some(request.id)))
                .await;
            return None;
        };
        let params = &initialize.params;
        let client = Arc::new(ClientSession::new(params.capabilities.clone()));
        let outbox = Outbox::new(params.capabilities.clone());
        let stream = outbox.open_stream();
        client.attach(&ClientPeer::Session(outbox.clone()));
        let relay = Relay::for_client(self.gateway.clone(), Scope::All, client);
        let (answer, revision) = match relay.negotiate(params) {
            Ok(result) => {
                let revision = result.protocol_version.clone();
                let result = ServerResult::InitializeResult(result);
                (ServerJsonRpcMessage::response(result, request.id), revision)
            }
            Err(error) => {
                let _ = self
                    .write(&ServerJsonRpcMessage::error(error, Some(request.id)))
                    .await;
                return None;
            }
        };
        self.write(&answer)
            .await
            .then_some((relay, outbox, stream, revision))
    }

    /// One posted message.
    async fn take(
        &self,
        relay: &Relay,
        outbox: &Arc<Outbox>,
        revision: &ProtocolVersion,
        message: ClientJsonRpcMessage,
    ) {
        match message {
            ClientJsonRpcMessage::Request(request) => {
                let peer = ClientPeer::Session(outbox.clone());
                let access = self.gateway.access_of(&self.owner);
                let (call, in_flight) = Call::in_session(outbox, &request, peer, access);
                let (relay, outbox, revision) = (relay.clone(), outbox.clone(), revision.clone());
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    let id = request.id;
                    let served = relay.serve(request.request, &call, &revision).await;
                    let answer = match served {
                        Ok(result) => ServerJsonRpcMessage::response(result, id),
                        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
                    };
                    let _ = outbox.deliver(answer).await;
                });
            }
            ClientJsonRpcMessage::Notification(notification) => {
                relay.notified(notification.notification, outbox).await;
            }
            ClientJsonRpcMessage::Response(response) => {
                outbox.answer(&response.id, Ok(response.result));
            }
            ClientJsonRpcMessage::Error(error) => {
                if let Some(asked) = &error.id {
                    outbox.answer(asked, Err(error.error));
                }
            }
        }
    }

    /// Writes a message to the stream; false once the session must end (the client left,
    /// or stopped reading for the stall timeout).
    async fn write(&self, message: &ServerJsonRpcMessage) -> bool {
        let json = match serde_json::to_string(message) {
            Ok(json) => json,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "a server message could not be encoded");
                return true;
            }
        };
        let stall = self.limits.stall_timeout;
        match tokio::time::timeout(stall, self.outbound.send(json)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::warn!(session = %self.id, timeout = ?stall, "closing a session whose client stopped reading");
                false
            }
        }
    }
}

/// Resolves once the session has been idle for its limit; never without one.
async fn idle(limit: &Option<(Arc<Activity>, Duration)>) {
    match limit {
        Some((activity, limit)) => activity.idle(*limit).await,
        None => std::future::pending().await,
    }
}

/// When a session last carried a message, for the idle limit.
#[derive(Debug)]
pub(crate) struct Activity {
    since: Instant,
    /// Milliseconds after `since`.
    last: AtomicU64,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            since: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    pub fn touch(&self) {
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    /// Resolves once no message has passed for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.since + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// How long the stdio face waits for the client's `initialize` (the client spawned the
/// gateway to talk to it, but may be slow to start).
const STDIO_INIT_TIMEOUT: Duration = Duration::from_secs(600);
/// Messages waiting to be read from stdin or written to stdout.
const STDIO_QUEUE: usize = 64;

/// Serves one session over newline-delimited JSON-RPC on `input` and `output` (the stdio
/// face: stdin and stdout) until the client closes `input` or `shutdown` resolves. A line
/// longer than `max_line` bytes, or one that is no JSON-RPC message, is answered with a
/// JSON-RPC error and skipped.
pub(crate) async fn serve_lines(
    gateway: Arc<Gateway>,
    input: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: impl tokio::io::AsyncWrite + Unpin + Send + 'static,
    max_line: usize,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;

    let (inbound, inbound_rx) = mpsc::channel(STDIO_QUEUE);
    let (outbound, mut outbound_rx) = mpsc::channel::<String>(STDIO_QUEUE);
    let ct = gateway.shutdown_token().child_token();
    let refusals = outbound.clone();
    let reader = tokio::spawn(async move {
        let mut input = tokio::io::BufReader::new(input);
        loop {
            let refusal = match read_line(&mut input, max_line).await {
                Ok(Line::End) | Err(_) => return,
                Ok(Line::TooLong) => unreadable_message(
                    ErrorCode::INVALID_REQUEST,
                    &format!("message longer than {max_line} bytes"),
                ),
                Ok(Line::Text(line)) if line.trim().is_empty() => continue,
                Ok(Line::Text(line)) => match serde_json::from_str(&line) {
                    Ok(message) => {
                        if inbound.send(message).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // Why not, in the lane's words: a parse error or an invalid request.
                    Err(_) => match invalid_message(line.as_bytes()) {
                        Some((code, reason)) => unreadable_message(code, &reason),
                        None => continue,
                    },
                },
            };
            if refusals.send(refusal).await.is_err() {
                return;
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = outbound_rx.recv().await {
            line.push('\n');
            output.write_all(line.as_bytes()).await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let session = StreamSession {
        gateway,
        id: "stdio".to_owned(),
        owner: crate::access::Identity::Local.principal().to_owned(),
        inbound: inbound_rx,
        outbound,
        limits: StreamLimits {
            init_timeout: STDIO_INIT_TIMEOUT,
            stall_timeout: Duration::from_secs(60),
            idle: None,
        },
        ct: ct.clone(),
    };
    tokio::select! {
        () = session.run() => {}
        () = shutdown => ct.cancel(),
    }
    reader.abort();
    // Everything written so far reaches the client before the process exits.
    writer.await.unwrap_or(Ok(()))
}

/// One line of input.
enum Line {
    Text(String),
    /// Longer than allowed: skipped up to its end.
    TooLong,
    /// The input is closed.
    End,
}

/// Reads one line of at most `max` bytes; a longer one is skipped to its end, never held.
async fn read_line(
    input: &mut (impl tokio::io::AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Line> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            // A last line without its newline still counts.
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Text(String::from_utf8_lossy(&line).into_owned()),
            });
        }
        let (chunk, ends) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        if line.len() + chunk.len() > max {
            too_long = true;
            line.clear();
        } else if !too_long {
            line.extend_from_slice(chunk);
        }
        let consumed = ends.unwrap_or(available.len());
        input.consume(consumed);
        if ends.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Text(String::from_utf8_lossy(&line).into_owned())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::config::Settings;

    #[tokio::test]
    async fn the_stdio_face_answers_bad_lines_and_serves_on() {
        let gateway = Gateway::start(Settings::default()).await.unwrap();
        let (mut client_in, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, client_out) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve_lines(
            gateway.clone(),
            server_in,
            server_out,
            256,
            std::future::pending(),
        ));
        let mut answers = BufReader::new(client_out).lines();
        let mut next = async || -> Value {
            let line = answers.next_line().await.unwrap().expect("an answer line");
            serde_json::from_str(&line).unwrap()
        };
        let mut send = async |line: String| {
            client_in
                .write_all(format!("{line}\n").as_bytes())
                .await
                .unwrap();
        };

        send(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.into()).await;
        assert_eq!(
            next().await,
            json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        );
        send("{not json".into()).await;
        assert_eq!(next().await["error"]["code"], -32700);
        send(format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"ping","params":{{"x":"{}"}}}}"#,
            "y".repeat(300)
        ))
        .await;
        assert_eq!(next().await["error"]["code"], -32600);
        send(json!({"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).to_string()).await;
        let initialized = next().await;
        assert_eq!(initialized["id"], 3);
        assert_eq!(initialized["result"]["protocolVersion"], "2024-11-05");
        send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.into()).await;
        send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#.into()).await;
        assert_eq!(
            next().await,
            json!({"jsonrpc": "2.0", "id": 4, "result": {"tools": []}})
        );

        // The client closing its side ends the session.
        drop(client_in);
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the session ends with its input")
            .unwrap()
            .unwrap();
        gateway.shutdown().await;
    }
}

//! Plain-HTTP connections to one upstream, each driven by the task that is using it.
//!
//! hyper's pooled client runs every connection in a task of its own: a call hands its
//! request to that task and waits to be woken with the answer, two task switches (often
//! across threads) per call. Here the caller polls the connection itself, alongside its
//! request and the answer's body, so the socket wakes the caller directly. Between calls
//! a connection sits idle in the pool, polled by no one; one the upstream closed meanwhile
//! is noticed at the next use (a request it never took is sent again on another).

use std::{
    future::poll_fn,
    pin::{Pin, pin},
    sync::{Arc, Mutex, Weak},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, Uri, header::HOST};
use http_body::{Body as _, Frame};
use http_body_util::Full;
use hyper::{
    body::Incoming,
    client::conn::http1::{Connection, SendRequest},
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::wire::BoxError;
use crate::upstream::body::describe_error;

/// How long an idle connection is kept.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the rest of an answered stream may take to end before its connection is
/// closed instead of reused.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept at most (a burst of concurrent calls opens many).
const MAX_IDLE: usize = 64;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often idle connections are looked at while there are any.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One HTTP/1.1 connection: the request side and the connection future driving it.
struct Driven {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once the connection has finished (closed, or failed). Dropping it tells the
    /// sender and any answer in progress, which would otherwise wait for it forever.
    /// Boxed: hyper's connection state is large, and a `Driven` moves with each answer.
    conn: Option<Box<Conn>>,
}

impl Driven {
    /// Lets the connection read and write what it can.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(conn) = &mut self.conn
            && Pin::new(&mut **conn).poll(cx).is_ready()
        {
            self.conn = None;
        }
    }

    fn is_open(&self) -> bool {
        self.conn.is_some() && !self.sender.is_closed()
    }
}

/// An answer still streaming when its call no longer needed it: reused once it ends.
struct Draining {
    body: Incoming,
    conn: Driven,
    until: Instant,
}

impl Draining {
    /// Reads what has arrived; `Some` with the connection once the body has ended,
    /// `None` to drop it (failed, or the deadline passed). `Err` gives it back.
    fn settle(mut self, cx: &mut Context<'_>, now: Instant) -> Result<Option<Driven>, Self> {
        loop {
            self.conn.drive(cx);
            match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(None) => return Ok(Some(self.conn)),
                Poll::Ready(Some(Err(_))) => return Ok(None),
                Poll::Pending if now >= self.until => return Ok(None),
                Poll::Pending => return Err(self),
            }
        }
    }
}

#[derive(Default)]
struct Idle {
    ready: Vec<(Driven, Instant)>,
    draining: Vec<Draining>,
    /// A sweeper task is running.
    sweeping: bool,
}

impl Idle {
    /// Moves the drains whose answer has ended to the ready connections (read without
    /// waiting), and drops those that failed or ran out of time.
    fn settle_drains(&mut self) {
        if self.draining.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for draining in std::mem::take(&mut self.draining) {
            match draining.settle(&mut cx, now) {
                Ok(Some(conn)) => self.ready.push((conn, now)),
                Ok(None) => {}
                Err(still) => self.draining.push(still),
            }
        }
    }
}

/// The connections to one plain-HTTP upstream.
pub struct ConnPool {
    /// `host:port`, for connecting.
    address: String,
    host: HeaderValue,
    /// The request target (origin form: path and query).
    target: Uri,
    idle: Mutex<Idle>,
}

impl std::fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPool")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl ConnPool {
    /// The pool for an `http://` URI.
    pub fn new(uri: &Uri) -> Result<Self, String> {
        let authority = uri.authority().ok_or("the URL has no host")?;
        let port = authority.port_u16().unwrap_or(80);
        let address = format!("{}:{port}", authority.host());
        // Never the URL's user information: it is no part of `Host` (and a credential).
        let host = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        let host = HeaderValue::from_str(&host).map_err(|e| e.to_string())?;
        let target = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        Ok(Self {
            address,
            host,
            target,
            idle: Mutex::new(Idle::default()),
        })
    }

    /// `http://host:port`, for logs.
    pub fn origin(&self) -> String {
        format!("http://{}", self.host.to_str().unwrap_or("?"))
    }

    /// POSTs `body`; the answer's body drives the connection while it is read and puts it
    /// back in the pool at its end.
    pub async fn post(
        self: &Arc<Self>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<PooledBody>, String> {
        let mut request = Request::post(self.target.clone())
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *request.headers_mut() = headers.clone();
        request.headers_mut().insert(HOST, self.host.clone());
        loop {
            let (mut conn, reused) = match self.take() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            let ready = poll_fn(|cx| {
                conn.drive(cx);
                conn.sender.poll_ready(cx)
            })
            .await;
            if let Err(e) = ready {
                if reused {
                    continue; // closed while idle
                }
                return Err(describe_error(&e));
            }
            let mut sent = pin!(conn.sender.try_send_request(request));
            let answer = poll_fn(|cx| {
                conn.drive(cx);
                sent.as_mut().poll(cx)
            })
            .await;
            match answer {
                Ok(response) => {
                    return Ok(response.map(|body| PooledBody {
                        body,
                        conn: Some(conn),
                        pool: Arc::downgrade(self),
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the connection had closed. Once more on another.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(describe_error(e.error())),
                },
            }
        }
    }

    async fn connect(&self) -> Result<Driven, String> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| format!("tcp connect error: {e}"))?;
        // Small requests and answers: never wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| describe_error(&e))?;
        Ok(Driven {
            sender,
            conn: Some(Box::new(conn)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used idle connection still open, if any.
    fn take(&self) -> Option<Driven> {
        let mut idle = self.lock();
        while let Some((conn, since)) = idle.ready.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.is_open() {
                return Some(conn);
            }
        }
        idle.settle_drains();
        idle.ready.pop().map(|(conn, _)| conn)
    }

    /// Keeps a connection whose last answer has ended.
    fn put(self: &Arc<Self>, conn: Driven) {
        if !conn.is_open() {
            return;
        }
        let mut idle = self.lock();
        if idle.ready.len() < MAX_IDLE {
            idle.ready.push((conn, Instant::now()));
            self.sweep_later(&mut idle);
        }
    }

    /// Keeps a connection whose answer is still streaming, to reuse once it ends.
    fn park(self: &Arc<Self>, draining: Draining) {
        let mut idle = self.lock();
        if idle.draining.len() < MAX_IDLE {
            idle.draining.push(draining);
            self.sweep_later(&mut idle);
        }
    }

    /// Starts the task that closes connections idle too long, unless it runs already. It
    /// ends when nothing is left idle, or with the pool.
    fn sweep_later(self: &Arc<Self>, idle: &mut Idle) {
        if idle.sweeping {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        idle.sweeping = true;
        let pool = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                if !sweep(&pool) {
                    break;
                }
            }
        });
    }
}

/// Closes what has been idle too long and settles ended drains; `false` when nothing is
/// left to look after (the sweeper then ends).
fn sweep(pool: &Weak<ConnPool>) -> bool {
    let Some(pool) = pool.upgrade() else {
        return false;
    };
    let mut idle = pool.lock();
    idle.ready
        .retain(|(conn, since)| since.elapsed() < IDLE_TIMEOUT && conn.is_open());
    idle.settle_drains();
    let busy = !idle.ready.is_empty() || !idle.draining.is_empty();
    idle.sweeping = busy;
    busy
}

/// An answer's body from a pooled connection. Reading it drives the connection; at its
/// end the connection goes back to the pool. Dropped before its end, it closes the
/// connection (the upstream sees the call abandoned), unless [`PooledBody::release`]
/// handed it to the pool to finish.
pub struct PooledBody {
    body: Incoming,
    conn: Option<Driven>,
    pool: Weak<ConnPool>,
}

impl PooledBody {
    /// The answer is complete as far as the caller is concerned: the rest of the body is
    /// read in the pool and its connection reused once it ends.
    pub fn release(self) {
        let Self { body, conn, pool } = self;
        let (Some(conn), Some(pool)) = (conn, pool.upgrade()) else {
            return;
        };
        let now = Instant::now();
        let draining = Draining {
            body,
            conn,
            until: now + DRAIN_TIMEOUT,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match draining.settle(&mut cx, now) {
            Ok(Some(conn)) => pool.put(conn),
            Ok(None) => {}
            Err(still) => pool.park(still),
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(conn) = &mut this.conn {
            conn.drive(cx);
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                if let (Some(conn), Some(pool)) = (this.conn.take(), this.pool.upgrade()) {
                    pool.put(conn);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.conn = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_target_come_from_the_url_without_user_information() {
        let pool = ConnPool::new(
            &"http://user:secret@example.com:8080/a/mcp?x=1"
                .parse()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pool.host, "example.com:8080");
        assert_eq!(pool.address, "example.com:8080");
        assert_eq!(pool.target, "/a/mcp?x=1");
        assert_eq!(pool.origin(), "http://example.com:8080");
        let pool = ConnPool::new(&"http://[::1]/mcp".parse().unwrap()).unwrap();
        assert_eq!(
            (pool.host.to_str().unwrap(), &*pool.address),
            ("[::1]", "[::1]:80")
        );
    }

    #[tokio::test]
    async fn a_connection_is_reused_and_one_closed_while_idle_is_replaced() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Answers one request per connection read, counting connections; closes the
        // first connection after its first answer.
        let server = tokio::spawn(async move {
            let mut accepted = 0;
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                accepted += 1;
                let close_after_one = accepted == 1;
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(answer).await.is_err() || close_after_one {
                            return;
                        }
                    }
                });
                if accepted == 2 {
                    return accepted;
                }
            }
        });
        let pool = Arc::new(ConnPool::new(&format!("http://{addr}/mcp").parse().unwrap()).unwrap());
        for _ in 0..3 {
            let response = pool
                .post(&HeaderMap::new(), Bytes::from_static(b"{}"))
                .await
                .unwrap();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap();
            assert_eq!(&body.to_bytes()[..], b"{}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The first connection closed after one answer: the second call noticed and used a
        // new one, which the third call reused.
        assert_eq!(server.await.unwrap(), 2);
    }
}

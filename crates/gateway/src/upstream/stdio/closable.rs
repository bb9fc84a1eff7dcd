//! The child's stdin, closable from outside the transport that writes to it.
//!
//! The MCP stdio shutdown sequence starts by closing the server's input. rmcp owns the
//! transport (and so the pipe) until its service task ends, which can take seconds after a
//! cancel; this handle lets the supervisor close the pipe at once.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::{io::AsyncWrite, process::ChildStdin};

/// Writer half given to the transport.
#[derive(Debug, Clone)]
pub struct ClosableStdin(Arc<Mutex<Option<ChildStdin>>>);

impl ClosableStdin {
    pub fn new(stdin: ChildStdin) -> Self {
        Self(Arc::new(Mutex::new(Some(stdin))))
    }

    /// Closes the pipe (the child reads EOF); later writes fail with `BrokenPipe`.
    pub fn close(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ChildStdin>> {
        // Held only for one non-blocking poll; a poisoned lock still guards a valid Option.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn poll_with<T>(
        &self,
        f: impl FnOnce(Pin<&mut ChildStdin>) -> Poll<io::Result<T>>,
        if_closed: io::Result<T>,
    ) -> Poll<io::Result<T>> {
        match self.lock().as_mut() {
            Some(stdin) => f(Pin::new(stdin)),
            None => Poll::Ready(if_closed),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "stdin of the stdio server was closed",
    )
}

impl AsyncWrite for ClosableStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_with(|w| w.poll_write(cx, buf), Err(closed()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(|w| w.poll_flush(cx), Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_with(|w| w.poll_shutdown(cx), Ok(()))
    }
}

//! The child's stdin, closable from outside the transport that writes to it.
//!
//! The MCP stdio shutdown sequence starts by closing the server's input. rmcp owns the
//! transport (and so the pipe) until its service task ends, which can take seconds after a
//! cancel; this handle lets the supervisor close the pipe at once.

use std::{
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::Poll,
};

use tokio::{io::AsyncWrite, process::ChildStdin};

/// The child's stdin, shared by the rmcp transport and the direct lane.
#[derive(Debug, Clone)]
pub struct ClosableStdin {
    pipe: Arc<Mutex<Option<ChildStdin>>>,
    /// Held while one message is written, so that messages never interleave.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl ClosableStdin {
    pub fn new(stdin: ChildStdin) -> Self {
        Self {
            pipe: Arc::new(Mutex::new(Some(stdin))),
            writing: Arc::default(),
        }
    }

    /// Closes the pipe (the child reads EOF); later writes fail with `BrokenPipe`.
    pub fn close(&self) {
        self.lock().take();
    }

    /// Writes one whole message (a line), after any message being written.
    pub async fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let _writing = self.writing.lock().await;
        let mut written = 0;
        while written < line.len() {
            let rest = &line[written..];
            let n = std::future::poll_fn(|cx| {
                self.poll_with(|w| w.poll_write(cx, rest), Err(closed()))
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += n;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ChildStdin>> {
        // Held only for one non-blocking poll; a poisoned lock still guards a valid Option.
        self.pipe.lock().unwrap_or_else(|p| p.into_inner())
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

//! A stdio upstream: a child process speaking newline-delimited JSON-RPC.
//!
//! The child runs in its own process group so that terminating it also ends whatever it
//! spawned (`npx` → `node`, `uvx` → `python`). Its stderr goes to the gateway's log.
//! Termination closes stdin, waits, then sends SIGTERM and finally SIGKILL to the group,
//! and always reaps the child: no zombies, no survivors.

use std::{process::Stdio, sync::Arc, time::Duration};

use futures::StreamExt;
use nix::{sys::signal::Signal, unistd::Pid};
use tokio::process::{Child, Command};
use tokio_util::codec::{FramedRead, LinesCodec};

mod closable;
mod lane;
mod transport;

use self::closable::ClosableStdin;
pub use self::{lane::StdioLane, transport::StdioTransport};
use super::UpstreamError;
use crate::model::ServerRecord;

/// Variables a child inherits from the gateway; everything else (the master key, the
/// database URL, cloud credentials) stays out unless the record's `env` passes it.
const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
    "TMPDIR",
];

/// Longest stderr line logged as one entry.
const MAX_STDERR_LINE: usize = 8 * 1024;
/// How long a child gets after stdin closes, and again after SIGTERM.
const GRACE: Duration = Duration::from_secs(2);

/// A running stdio server process.
#[derive(Debug)]
pub struct StdioChild {
    child: Child,
    stdin: ClosableStdin,
    /// Direct calls on the same pipes (see [`StdioLane`]).
    pub lane: Arc<StdioLane>,
    server_id: String,
}

impl StdioChild {
    /// Starts the record's command and returns the process and the transport over its pipes.
    pub fn spawn(record: &ServerRecord) -> Result<(Self, StdioTransport), UpstreamError> {
        let program = record
            .command
            .as_deref()
            .ok_or_else(|| UpstreamError::Config("command is missing".into()))?;
        let mut cmd = Command::new(program);
        cmd.args(&record.args)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
            )
            .envs(record.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // Backstop only: terminate() is the real shutdown path.
            .kill_on_drop(true);
        if let Some(cwd) = &record.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| UpstreamError::Spawn(format!("{program}: {e}")))?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| UpstreamError::Spawn("no stdin pipe".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| UpstreamError::Spawn("no stdout pipe".into()))?;
        if let Some(stderr) = child.stderr.take() {
            let server_id = record.server_id.clone();
            tokio::spawn(async move {
                let mut lines =
                    FramedRead::new(stderr, LinesCodec::new_with_max_length(MAX_STDERR_LINE));
                while let Some(line) = lines.next().await {
                    match line {
                        Ok(line) => {
                            tracing::info!(upstream = %server_id, stderr = %line, "upstream stderr")
                        }
                        Err(e) => {
                            tracing::debug!(upstream = %server_id, error = %e, "upstream stderr")
                        }
                    }
                }
            });
        }
        tracing::info!(upstream = %record.server_id, pid = child.id(), command = program, "started stdio server");
        let stdin = ClosableStdin::new(stdin);
        let lane = StdioLane::new(stdin.clone());
        let transport = StdioTransport::new(
            stdout,
            stdin.clone(),
            lane.clone(),
            record.server_id.clone(),
        );
        Ok((
            Self {
                child,
                stdin,
                lane,
                server_id: record.server_id.clone(),
            },
            transport,
        ))
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Closes stdin, waits for a voluntary exit, then signals the process group (SIGTERM,
    /// then SIGKILL) and reaps the child.
    pub async fn terminate(mut self) {
        self.stdin.close();
        let pid = self.child.id();
        if let Ok(Ok(status)) = tokio::time::timeout(GRACE, self.child.wait()).await {
            tracing::info!(upstream = %self.server_id, %status, "stdio server exited");
            signal_group(pid, Signal::SIGKILL); // grandchildren left behind, if any
            return;
        }
        signal_group(pid, Signal::SIGTERM);
        if let Ok(Ok(status)) = tokio::time::timeout(GRACE, self.child.wait()).await {
            tracing::info!(upstream = %self.server_id, %status, "stdio server terminated");
            signal_group(pid, Signal::SIGKILL);
            return;
        }
        signal_group(pid, Signal::SIGKILL);
        match self.child.wait().await {
            Ok(status) => {
                tracing::warn!(upstream = %self.server_id, %status, "stdio server killed")
            }
            Err(e) => {
                tracing::warn!(upstream = %self.server_id, error = %e, "cannot reap stdio server")
            }
        }
    }
}

/// Signals the process group led by `pid` (the child is its leader: `process_group(0)`).
fn signal_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH (already gone) is the expected outcome once the group has exited.
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), signal);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn record(command: &str, args: &[&str]) -> ServerRecord {
        serde_json::from_value(
            serde_json::json!({"server_id": "t", "command": command, "args": args}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn closing_stdin_lets_the_child_exit_at_once() {
        let (child, transport) = StdioChild::spawn(&record("cat", &[])).unwrap();
        let started = Instant::now();
        child.terminate().await;
        drop(transport);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_child_ignoring_eof_and_sigterm_is_killed_and_reaped() {
        let (child, _transport) = StdioChild::spawn(&record(
            "sh",
            &["-c", "trap '' TERM; while :; do sleep 1; done"],
        ))
        .unwrap();
        let pid = child.id().unwrap();
        child.terminate().await;
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "not reaped"
        );
    }
}

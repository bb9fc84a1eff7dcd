//! The processes a comparison runs: the echo upstream and gateways, found next to the
//! `mcp-bench` binary; their start, readiness, memory and shutdown.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use crate::conn::HttpConn;
use anyhow::{Context, anyhow, bail};
use nix::{sys::signal::Signal, unistd::Pid};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// The binaries a comparison needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub gateway: PathBuf,
    pub echo: PathBuf,
    /// `MCP_GATEWAY_WORKER_THREADS` for every gateway started (default: the gateway's own).
    pub gateway_workers: Option<usize>,
}

impl Binaries {
    /// `mcp-gateway` and `mcp-bench-echo` in `dir` (by default the directory of the running
    /// `mcp-bench`, i.e. `target/release`).
    pub fn locate(dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => std::env::current_exe()
                .context("locating mcp-bench")?
                .parent()
                .context("mcp-bench has no parent directory")?
                .to_path_buf(),
        };
        let found = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(anyhow!(
                    "{} not found; build it first: cargo build --release -p mcp-gateway -p mcp-gateway-bench",
                    path.display()
                ))
            }
        };
        Ok(Self {
            gateway: found("mcp-gateway")?,
            echo: found("mcp-bench-echo")?,
            gateway_workers: None,
        })
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped or shut down.
pub struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn new(name: impl Into<String>, child: Child) -> Self {
        Self {
            name: name.into(),
            child,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resident set size in KiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow!("{} has exited", self.name))?;
        rss_kib(pid)
    }

    /// SIGTERM, up to 10 s for a graceful exit, then SIGKILL; always reaped.
    pub async fn shutdown(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
            eprintln!(
                "mcp-bench: {} did not stop on SIGTERM; killing it",
                self.name
            );
        }
        let _ = self.child.kill().await;
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// The echo upstream over streamable HTTP.
pub struct EchoHttp {
    pub proc: Proc,
    pub url: String,
}

impl EchoHttp {
    /// Starts `mcp-bench-echo --tools N http` on a free loopback port.
    pub async fn start(bins: &Binaries, tools: usize) -> anyhow::Result<Self> {
        Self::start_with(bins, tools, false).await
    }

    /// [`EchoHttp::start`], with `--extras` (a resource, a prompt and logging) if `extras`.
    pub async fn start_with(bins: &Binaries, tools: usize, extras: bool) -> anyhow::Result<Self> {
        let tools = tools.to_string();
        let mut args = vec!["--tools", &tools];
        if extras {
            args.push("--extras");
        }
        args.extend(["http", "--listen", "127.0.0.1:0"]);
        let (proc, url) = spawn_announcing(bins, &args).await?;
        Ok(Self { proc, url })
    }
}

/// A bare TCP relay in front of the echo upstream (`mcp-bench-echo relay`): the floor of
/// any proxy's cost.
pub struct Relay {
    pub proc: Proc,
    /// The echo upstream's MCP endpoint, through the relay.
    pub url: String,
}

impl Relay {
    /// Starts a relay on a free loopback port to the upstream of `echo`.
    pub async fn start(bins: &Binaries, echo: &EchoHttp) -> anyhow::Result<Self> {
        let (authority, path) = echo
            .url
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| anyhow!("unexpected echo upstream URL: {}", echo.url))?;
        let (proc, addr) = spawn_announcing(
            bins,
            &["relay", "--listen", "127.0.0.1:0", "--to", authority],
        )
        .await?;
        Ok(Self {
            proc,
            url: format!("http://{addr}/{path}"),
        })
    }
}

/// Spawns `mcp-bench-echo ARGS` and waits for its `listening on WHERE` line.
async fn spawn_announcing(bins: &Binaries, args: &[&str]) -> anyhow::Result<(Proc, String)> {
    let mut child = Command::new(&bins.echo)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", bins.echo.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("mcp-bench-echo did not announce its address")??
        .context("mcp-bench-echo exited before listening")?;
    let announced = line
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow!("unexpected first line from mcp-bench-echo: {line}"))?
        .to_owned();
    Ok((Proc::new("mcp-bench-echo", child), announced))
}

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A gateway process serving on a loopback port, with its config and log in a temporary
/// directory.
pub struct GatewayProc {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// When the process was spawned.
    pub spawned: Instant,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
    /// A connection for the REST API and health checks.
    http: HttpConn,
}

impl GatewayProc {
    /// Writes `config` (YAML; JSON is YAML) and spawns `mcp-gateway serve`. Its stderr (the
    /// log, at the default level) goes to a file. Returns at once; see
    /// [`GatewayProc::wait_ready`].
    pub fn spawn(bins: &Binaries, config: &Value) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("mcp-bench-").tempdir()?;
        let config_path = dir.path().join("gateway.yaml");
        std::fs::write(&config_path, serde_json::to_string_pretty(config)?)?;
        let log = dir.path().join("gateway.log");
        let port = free_port()?;
        let mut command = Command::new(&bins.gateway);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        // The gateway's own defaults, whatever this shell has set.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("MCP_GATEWAY_")
                || matches!(
                    key.as_ref(),
                    "DATABASE_URL" | "STORE_MODEL_IN_DB" | "RUST_LOG"
                )
            {
                command.env_remove(key.as_ref());
            }
        }
        if let Some(threads) = bins.gateway_workers {
            command.env("MCP_GATEWAY_WORKER_THREADS", threads.to_string());
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("spawning {}", bins.gateway.display()))?;
        Ok(Self {
            proc: Proc::new("mcp-gateway", child),
            base: format!("http://127.0.0.1:{port}"),
            spawned,
            log,
            _dir: dir,
            http: HttpConn::for_url(&format!("http://127.0.0.1:{port}/"))?.0,
        })
    }

    /// The aggregate MCP endpoint.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// Polls `/health/readiness` every 2 ms until it answers 200; returns its body and the
    /// time since spawn.
    pub async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<(Value, Duration)> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(answer) = self.http.get("/health/readiness").await
                && answer.status.is_success()
            {
                let elapsed = self.spawned.elapsed();
                let body = serde_json::from_slice(&answer.body)?;
                return Ok((body, elapsed));
            }
            if let Ok(Some(status)) = self.proc.child.try_wait() {
                bail!(
                    "mcp-gateway exited with {status} before it was ready; log: {}",
                    tail(&self.log)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "mcp-gateway not ready after {limit:?}; log: {}",
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Polls readiness until `expected` servers are healthy; returns the time since spawn.
    pub async fn wait_healthy(
        &mut self,
        expected: usize,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let deadline = Instant::now() + limit;
        let mut last = Value::Null;
        loop {
            if let Ok(answer) = self.http.get("/health/readiness").await
                && answer.status.is_success()
            {
                last = serde_json::from_slice(&answer.body)?;
                let healthy = last["servers"]["healthy"].as_u64().unwrap_or(0);
                if healthy as usize >= expected {
                    return Ok(self.spawned.elapsed());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{expected} servers not healthy after {limit:?}: {last}; log: {}",
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `GET /mcp/tools`: the exposed names that are available.
    pub async fn available_tools(&mut self) -> anyhow::Result<Vec<String>> {
        self.available("tools", "name").await
    }

    /// `GET /mcp/{kind}` (`tools`, `resources`, `prompts`): the `key` (`name`, or `uri`
    /// for resources) of every item that is available.
    pub async fn available(&mut self, kind: &str, key: &str) -> anyhow::Result<Vec<String>> {
        let answer = self.http.get(&format!("/mcp/{kind}")).await?;
        if !answer.status.is_success() {
            bail!("GET /mcp/{kind} answered {}", answer.status);
        }
        let body: Value = serde_json::from_slice(&answer.body)?;
        let items = body[kind]
            .as_array()
            .ok_or_else(|| anyhow!("GET /mcp/{kind} without {kind}"))?;
        Ok(items
            .iter()
            .filter(|t| t["available"].as_bool() != Some(false))
            .filter_map(|t| t[key].as_str().map(str::to_owned))
            .collect())
    }

    /// Polls `GET /mcp/{kind}` until every one of `wanted` is available (see
    /// [`GatewayProc::available`]).
    pub async fn wait_listed(
        &mut self,
        kind: &str,
        key: &str,
        wanted: &[&str],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let items = self.available(kind, key).await.unwrap_or_default();
            if wanted.iter().all(|w| items.iter().any(|i| i == w)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{wanted:?} not among the available {kind} after {limit:?} ({items:?}); log: {}",
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls `GET /mcp/tools` until at least `count` tools are available, and every one of
    /// `names` among them.
    pub async fn wait_tools(
        &mut self,
        count: usize,
        names: &[&str],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let tools = self.available_tools().await.unwrap_or_default();
            if tools.len() >= count && names.iter().all(|n| tools.iter().any(|t| t == n)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {count} tools available after {limit:?} (want {names:?}); log: {}",
                    tools.len(),
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /mcp/servers` for a streamable HTTP server.
    pub async fn register(&mut self, server_id: &str, url: &str) -> anyhow::Result<()> {
        let body = json!({"server_id": server_id, "url": url, "transport": "streamable_http"});
        let answer = self.http.post_json("/mcp/servers", &body).await?;
        if answer.status != http::StatusCode::CREATED {
            bail!(
                "registering {server_id}: HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        Ok(())
    }

    /// The connection to the REST API.
    pub fn http(&mut self) -> &mut HttpConn {
        &mut self.http
    }
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(10);
    format!("{}:\n{}", path.display(), lines[start..].join("\n"))
}

/// CPU time (user + system) a process has used so far, all its threads included, from
/// `/proc/<pid>/stat` (clock ticks of 10 ms: Linux reports them at USER_HZ = 100).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after its closing `)` do not.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // After `)`: state (field 3 of stat(5)), …, utime (14), stime (15).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The processes whose parent is `pid`, with their command names.
pub fn children_of(pid: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push((child, comm));
        }
    }
    children
}

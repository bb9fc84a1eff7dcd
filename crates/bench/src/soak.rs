//! `mcp-bench soak`: many concurrent downstream sessions doing mixed calls through the
//! gateway for a fixed time, against three upstreams (two echo servers over streamable
//! HTTP, one over stdio). Every answer is checked. Reported: calls, errors, latency, peak
//! RSS, RSS per idle session, and open file descriptors, threads and live tasks before
//! the sessions and after they ended (a leak shows as counts that stay up).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::{Value, json};

use crate::{
    load::{Caller, McpHttp, Window, run_callers},
    procs::{Binaries, EchoHttp, GatewayProc, rss_kib},
    wire::Era,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub sessions: usize,
    pub duration: Duration,
}

/// The tools the workers rotate through, one per upstream.
const TOOLS: [&str; 3] = ["a__echo", "b__echo", "s__echo"];

/// Descriptors and tasks that may come and go (a few pooled connections, timers); a leak
/// is one per session or per call.
const SLACK: usize = 16;
/// How long the counts may take to come back after the sessions end.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// Counts of the gateway process at one moment.
#[derive(Debug, Clone, Copy)]
struct Counts {
    rss_kib: u64,
    fds: usize,
    threads: usize,
    tasks: u64,
}

async fn counts(gateway: &mut GatewayProc, pid: u32) -> anyhow::Result<Counts> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .context("listing the gateway's file descriptors")?
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let (readiness, _) = gateway.wait_ready(Duration::from_secs(10)).await?;
    let tasks = tasks_of(&readiness).unwrap_or(0);
    Ok(Counts {
        rss_kib: rss_kib(pid)?,
        fds,
        threads,
        tasks,
    })
}

/// One session: echo calls rotating over the three upstreams, and every tenth call a
/// `tools/list` page.
struct Mixed {
    client: McpHttp,
    worker: usize,
    message: String,
}

impl Caller for Mixed {
    async fn call(&mut self, seq: u64) -> anyhow::Result<()> {
        if seq % 10 == 9 {
            let (tools, _, _) = self.client.list_tools_page(None).await?;
            anyhow::ensure!(tools > 0, "tools/list returned no tools");
            return Ok(());
        }
        use std::fmt::Write;
        self.message.clear();
        let _ = write!(self.message, "s{}-{seq}", self.worker);
        let tool = TOOLS[(self.worker + seq as usize) % TOOLS.len()];
        self.client.call_echo(tool, &self.message).await
    }
}

/// Runs the soak and returns the Markdown report and whether it passed (no failed call,
/// no leak).
pub async fn run(bins: &Binaries, options: &SoakOptions) -> anyhow::Result<(String, bool)> {
    let a = EchoHttp::start(bins, 1).await?;
    let b = EchoHttp::start(bins, 5).await?;
    let echo_bin = bins.echo.to_string_lossy().into_owned();
    let config = json!({
        "gateway": {"max_sessions": options.sessions + 100},
        "mcp_servers": {
            "a": {"url": a.url, "transport": "streamable_http"},
            "b": {"url": b.url, "transport": "streamable_http"},
            "s": {"transport": "stdio", "command": echo_bin, "args": ["stdio"]},
        }
    });
    let mut gateway = GatewayProc::spawn(bins, &config)?;
    gateway.wait_ready(Duration::from_secs(30)).await?;
    gateway.wait_healthy(3, Duration::from_secs(30)).await?;
    gateway
        .wait_tools(7, &TOOLS, Duration::from_secs(30))
        .await?;
    let pid = gateway.proc.pid().context("the gateway exited")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = counts(&mut gateway, pid).await?;

    eprintln!("soak: opening {} sessions", options.sessions);
    let url = gateway.mcp_url();
    let mut setups = Vec::with_capacity(options.sessions);
    for worker in 0..options.sessions {
        let url = url.clone();
        // One client in ten speaks the stateless 2026-07-28 revision.
        let era = if worker % 10 == 0 {
            Era::Stateless
        } else {
            Era::Session
        };
        setups.push(tokio::spawn(async move {
            let mut client = McpHttp::new(&url, era)?;
            client.open().await?;
            anyhow::Ok(Mixed {
                client,
                worker,
                message: String::new(),
            })
        }));
    }
    let mut callers = Vec::with_capacity(options.sessions);
    for setup in setups {
        callers.push(setup.await.context("session setup panicked")??);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(pid)?;

    let peak = Arc::new(AtomicU64::new(idle));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    eprintln!(
        "soak: {} sessions calling for {:?}",
        options.sessions, options.duration
    );
    let started = Instant::now();
    let window = Window {
        warmup: Duration::ZERO,
        duration: options.duration,
    };
    let (callers, result) = run_callers(callers, window).await;
    let elapsed = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;

    eprintln!("soak: closing the sessions");
    let closers: Vec<_> = callers
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.client.close().await }))
        .collect();
    for closer in closers {
        let _ = closer.await;
    }
    // Idle upstream connections (the gateway keeps them 10 s) close by themselves; wait
    // for the counts to come back, up to a deadline.
    let ended = Instant::now();
    let mut after = counts(&mut gateway, pid).await?;
    while (after.fds > before.fds + SLACK || after.tasks > before.tasks + SLACK as u64)
        && ended.elapsed() < SETTLE_LIMIT
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = counts(&mut gateway, pid).await?;
    }
    let settled_in = ended.elapsed();
    gateway.proc.shutdown().await;
    a.proc.shutdown().await;
    b.proc.shutdown().await;

    let leaked_fds = after.fds > before.fds + SLACK;
    let leaked_tasks = after.tasks > before.tasks + SLACK as u64;
    let passed = result.errors == 0 && !leaked_fds && !leaked_tasks;
    let per_session = idle.saturating_sub(before.rss_kib) as f64 / options.sessions as f64;
    let row = |name: &str, value: String| format!("| {name} | {value} |\n");
    let mut report = String::from("## mcp-bench soak\n\n| metric | value |\n|---|---|\n");
    report += &row(
        "sessions (1 in 10 stateless 2026-07-28)",
        options.sessions.to_string(),
    );
    report += &row(
        "upstreams",
        "a, b: echo over streamable HTTP; s: echo over stdio".into(),
    );
    report += &row(
        "calls (echo on a/b/s in turn, every 10th a tools/list page)",
        format!(
            "{} in {:.1} s ({:.0}/s)",
            result.calls,
            elapsed.as_secs_f64(),
            result.calls as f64 / elapsed.as_secs_f64()
        ),
    );
    report += &row("failed calls", result.errors.to_string());
    if let Some(first) = &result.first_error {
        report += &row("first failure", first.replace('|', "\\|"));
    }
    report += &row(
        "latency p50 / p99",
        format!(
            "{:.1} / {:.1} ms",
            result.p50_us() / 1000.0,
            result.p99_us() / 1000.0
        ),
    );
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    report += &row("RSS before", mib(before.rss_kib));
    report += &row(
        "RSS with the sessions idle",
        format!("{} ({per_session:.1} KiB per session)", mib(idle)),
    );
    report += &row("peak RSS under load", mib(peak.load(Ordering::Relaxed)));
    report += &row("RSS after the sessions ended", mib(after.rss_kib));
    let pair = |b: String, a: String, leak: bool| {
        format!("{b} → {a}{}", if leak { " **leak**" } else { "" })
    };
    report += &row(
        "open file descriptors before → after",
        pair(before.fds.to_string(), after.fds.to_string(), leaked_fds),
    );
    report += &row(
        "live tasks before → after",
        pair(
            before.tasks.to_string(),
            after.tasks.to_string(),
            leaked_tasks,
        ),
    );
    report += &row(
        "threads before → after",
        format!("{} → {}", before.threads, after.threads),
    );
    report += &row(
        "counts back within (idle upstream connections close after 10 s)",
        format!("{:.1} s", settled_in.as_secs_f64()),
    );
    report += &format!(
        "\n{}\n",
        if passed {
            "Every answer was verified; no failed call, no leak."
        } else {
            "**FAILED**: see failed calls and leaks above."
        }
    );
    Ok((report, passed))
}

/// Live tasks, from the gateway's readiness document.
fn tasks_of(readiness: &Value) -> Option<u64> {
    readiness["runtime"]["tasks"].as_u64()
}

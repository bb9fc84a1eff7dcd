//! `mcp-bench`: the load generator and the direct-vs-gateway scenario runner
//! (see `docs/BENCHMARKS.md`).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_bench::{
    compare::{self, Options, Scenario},
    load::{self, HttpTarget, Window},
    procs::Binaries,
    soak::{self, SoakOptions},
    wire::Era,
};

#[derive(Parser)]
#[command(
    name = "mcp-bench",
    about = "MCP load generator and mcp-gateway benchmark runner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the scenarios directly and through the gateway, side by side, and print a
    /// Markdown table (exit status 1 if any answer was wrong or failed)
    Compare(CompareArgs),
    /// Load one MCP endpoint with tools/call and print what was measured
    Load(LoadArgs),
    /// Many sessions doing mixed calls through the gateway against three upstreams;
    /// reports failures, memory and leaks (exit status 1 on a failed call or a leak)
    Soak(SoakArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// 100 sessions for 5 s (CI)
    #[arg(long)]
    smoke: bool,
    /// Concurrent sessions [default: 1000; smoke 100]
    #[arg(long)]
    sessions: Option<usize>,
    /// How long they call [default: 60s; smoke 5s]
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Where mcp-gateway and mcp-bench-echo are [default: the directory of mcp-bench]
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Also write the Markdown report to this file
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    /// Every scenario, briefly (CI): 150 ms rounds, 50×20 catalog, 1,000 sessions, 20 servers at start
    #[arg(long)]
    smoke: bool,
    /// Measured time of each run [default: 10s; smoke 150ms]
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Warm-up before each measured run [default: 1s; smoke 50ms]
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// Rounds (a direct run, a relay run for HTTP upstreams, then a gateway run) per cell; the median is reported [default: 3; smoke 1]
    #[arg(long)]
    rounds: Option<usize>,
    /// Concurrency levels of the call scenarios (tools/call, resources/read, prompts/get)
    #[arg(long, value_delimiter = ',')]
    concurrency: Option<Vec<usize>>,
    /// Scenarios to run [default: all]
    #[arg(long, value_delimiter = ',', value_enum)]
    scenarios: Option<Vec<Scenario>>,
    /// Servers registered in the catalog scenario [default: 500; smoke 50]
    #[arg(long)]
    catalog_servers: Option<usize>,
    /// Tools per catalog server [default: 20]
    #[arg(long)]
    catalog_tools: Option<usize>,
    /// Idle sessions opened in the memory scenario [default: 10000; smoke 1000]
    #[arg(long)]
    sessions: Option<usize>,
    /// Servers in the config file of the start-up scenario [default: 100; smoke 20]
    #[arg(long)]
    startup_servers: Option<usize>,
    /// Threads of the gateway's runtime (`MCP_GATEWAY_WORKER_THREADS`) [default: the gateway's own, one per CPU]
    #[arg(long)]
    gateway_workers: Option<usize>,
    /// Also run each HTTP call row through a second gateway with its metrics off, and report what metering costs [default: off; smoke on]
    #[arg(long)]
    metrics_off: bool,
    /// Where mcp-gateway and mcp-bench-echo are [default: the directory of mcp-bench]
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Also write the Markdown report to this file
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum EraArg {
    /// initialize, then Mcp-Session-Id on every request
    Session,
    /// 2026-07-28: no initialize, per-request _meta and headers
    Stateless,
}

#[derive(Args)]
struct LoadArgs {
    /// The MCP endpoint, e.g. http://127.0.0.1:4000/mcp
    #[arg(long)]
    url: String,
    /// Tool to call with {"message": …}; it must answer with the message
    #[arg(long, default_value = "echo")]
    tool: String,
    #[arg(long, value_enum, default_value = "session")]
    era: EraArg,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Send `Authorization: Bearer <token>` (an API key, a JWT, the master key)
    #[arg(long, env = "MCP_BENCH_BEARER", hide_env_values = true)]
    bearer: Option<String>,
}

/// `10s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {s:?}; use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

fn options(args: &CompareArgs) -> Options {
    let mut o = if args.smoke {
        Options::smoke()
    } else {
        Options::full()
    };
    if let Some(d) = args.duration {
        o.window.duration = d;
    }
    if let Some(w) = args.warmup {
        o.window.warmup = w;
    }
    if let Some(r) = args.rounds {
        o.rounds = r.max(1);
    }
    if let Some(c) = &args.concurrency {
        o.concurrency = c.iter().copied().filter(|&c| c > 0).collect();
    }
    if let Some(s) = &args.scenarios {
        o.scenarios = s.clone();
    }
    if let Some(n) = args.catalog_servers {
        o.catalog_servers = n.max(1);
    }
    if let Some(n) = args.catalog_tools {
        o.catalog_tools = n.max(1);
    }
    if let Some(n) = args.sessions {
        o.sessions = n.max(1);
    }
    if let Some(n) = args.startup_servers {
        o.startup_servers = n.max(1);
    }
    o.metrics_off |= args.metrics_off;
    o
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compare(args) => run_compare(args).await,
        Command::Load(args) => run_load(args).await,
        Command::Soak(args) => run_soak(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcp-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let mut bins = Binaries::locate(args.bin_dir.as_deref())?;
    bins.gateway_workers = args.gateway_workers;
    let options = options(&args);
    let report = compare::run(&bins, &options).await?;
    println!("{}", report.markdown);
    if let Some(path) = &args.output {
        std::fs::write(path, &report.markdown)?;
    }
    if report.errors > 0 {
        eprintln!("mcp-bench: {} error(s); see the report", report.errors);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_soak(args: SoakArgs) -> anyhow::Result<ExitCode> {
    let bins = Binaries::locate(args.bin_dir.as_deref())?;
    let options = SoakOptions {
        sessions: args.sessions.unwrap_or(if args.smoke { 100 } else { 1000 }),
        duration: args
            .duration
            .unwrap_or(Duration::from_secs(if args.smoke { 5 } else { 60 })),
    };
    let (report, passed) = soak::run(&bins, &options).await?;
    println!("{report}");
    if let Some(path) = &args.output {
        std::fs::write(path, &report)?;
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let era = match args.era {
        EraArg::Session => Era::Session,
        EraArg::Stateless => Era::Stateless,
    };
    let target = HttpTarget {
        bearer: args.bearer,
        ..HttpTarget::tool(args.url, args.tool, era)
    };
    let window = Window {
        warmup: args.warmup,
        duration: args.duration,
    };
    let r = load::run_http(&target, args.concurrency, window).await?;
    println!(
        "{} c={}: {:.0} req/s, p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs; {} ok, {} errors",
        era.label(),
        args.concurrency,
        r.rps(),
        r.p50_us(),
        r.quantile_us(0.9),
        r.p99_us(),
        r.latency.max() as f64 / 1e3,
        r.ok,
        r.errors
    );
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
    Ok(if r.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
    }
}

//! `mcp-gateway`: run the gateway, or administer a running one.

mod admin;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use mcp_gateway::config::{Overrides, ProcessEnv, Settings};

// jemalloc, with background threads that return unused memory to the system: glibc's
// malloc kept what 10,000 closed MCP sessions had used, and fragmented further on every
// open/close cycle (docs/BENCHMARKS.md, "Optimisations"). The decay time is set at build
// time (.cargo/config.toml) and background threads are enabled again at start-up.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code for bad configuration (EX_USAGE from sysexits.h).
const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "One MCP endpoint in front of many MCP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// YAML configuration file (`gateway:` and `mcp_servers:` blocks).
        #[arg(long, env = "MCP_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:4000].
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve the aggregated gateway over stdio, for MCP clients that spawn their servers
    /// (stdout carries only the protocol; logs go to stderr).
    Stdio {
        /// YAML configuration file (`gateway:` and `mcp_servers:` blocks).
        #[arg(long, env = "MCP_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    // Also set at build time; enabled here too for builds without the workspace config.
    #[cfg(feature = "jemalloc")]
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "cannot start jemalloc's background threads; freed memory is returned to the system later");
    }
    match cli.command {
        Command::Serve { config, listen } => match load(config, listen) {
            Ok(settings) => run(settings, async |s| {
                mcp_gateway::app::run(s, shutdown_signal()).await
            }),
            Err(code) => code,
        },
        Command::Stdio { config } => match load(config, None) {
            Ok(settings) => run(settings, async |s| {
                mcp_gateway::app::serve_stdio(s, shutdown_signal()).await
            }),
            Err(code) => code,
        },
        Command::Admin(command) => match runtime(None) {
            Ok(runtime) => runtime.block_on(admin::run(command)),
            Err(code) => code,
        },
    }
}

/// The async runtime: `worker_threads` threads, or one per CPU.
fn runtime(worker_threads: Option<usize>) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads {
        builder.worker_threads(threads);
    }
    builder.enable_all().build().map_err(|e| {
        eprintln!("mcp-gateway: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

fn load(config: Option<PathBuf>, listen: Option<String>) -> Result<Settings, ExitCode> {
    Settings::load(config.as_deref(), &Overrides { listen }, &ProcessEnv).map_err(|e| {
        eprintln!("mcp-gateway: bad configuration: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Runs the gateway (`serve` or `stdio`) on a runtime sized by its settings.
fn run(
    settings: Settings,
    app: impl AsyncFnOnce(Settings) -> Result<(), mcp_gateway::app::AppError>,
) -> ExitCode {
    match runtime(settings.worker_threads) {
        Ok(rt) => exit_code(rt.block_on(app(settings))),
        Err(code) => code,
    }
}

fn exit_code(result: Result<(), mcp_gateway::app::AppError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(mcp_gateway::app::AppError::Store(e)) => {
            eprintln!("mcp-gateway: bad configuration: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            eprintln!("mcp-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The default log filter. rmcp's own log lines are off: the gateway reports every upstream
/// failure itself, with its cause, once per change, where rmcp would add an ERROR line to
/// each retry (`MCP_GATEWAY_LOG=info,rmcp=debug` shows them).
const DEFAULT_LOG_FILTER: &str = "info,rmcp=off";

/// Logs go to stderr (stdout is for command output and, in stdio mode, the protocol).
fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_env("MCP_GATEWAY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only for a person at a terminal: never in a file, a pipe or a log collector,
    // and not with NO_COLOR set (https://no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    if std::env::var("MCP_GATEWAY_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

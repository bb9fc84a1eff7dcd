//! `mcp-fixture`: the test-kit fixture MCP server as a process, over stdio or streamable HTTP.
//! Logs go to stderr only (stdout is the protocol channel in stdio mode).

use std::{io::Write, net::SocketAddr};

use clap::{Args, Parser, Subcommand};
use mcp_gateway_testkit::{
    FixtureOptions, FixtureServer, MCP_PATH, conformance, serve_http, serve_stdio,
};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "mcp-fixture",
    about = "Fixture MCP server for mcp-gateway tests"
)]
struct Cli {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args)]
struct Options {
    /// serverInfo.name
    #[arg(long, global = true, default_value = "mcp-fixture")]
    name: String,
    /// Prefix for every tool and prompt name
    #[arg(long, global = true, default_value = "")]
    prefix: String,
    /// Add tools extra_1 … extra_N
    #[arg(long, global = true, default_value_t = 0)]
    extra_tools: usize,
    /// Paginate tools/list with this page size
    #[arg(long, global = true)]
    page_size: Option<usize>,
    /// Answer server/discover with -32601 like a pre-2026-07-28 server (clients fall back to initialize)
    #[arg(long, global = true)]
    legacy_only: bool,
    /// Answer N tool calls, then exit with status 1 when the next call arrives
    #[arg(long, global = true, value_name = "N")]
    crash_after: Option<u64>,
    /// `instructions` for the handshake
    #[arg(long, global = true)]
    instructions: Option<String>,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve on stdin/stdout
    Stdio,
    /// Serve streamable HTTP at http://LISTEN/mcp
    Http {
        /// Address to listen on (port 0 picks a free port)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Reject requests without this header (`K=V`) with 401
        #[arg(long, value_name = "K=V", value_parser = parse_header)]
        require_header: Option<(String, String)>,
    },
    /// Serve the conformance fixture (what the official MCP conformance suite calls; the
    /// options above do not apply), over stdio or streamable HTTP
    Conformance {
        /// Declare only protocol versions up to 2025-11-25 (server/discover then fails
        /// with -32022 and that list) instead of answering server/discover with -32601
        #[arg(long)]
        strict_versions: bool,
        #[command(subcommand)]
        mode: ConformanceMode,
    },
}

#[derive(Subcommand)]
enum ConformanceMode {
    /// Serve on stdin/stdout
    Stdio,
    /// Serve streamable HTTP at http://LISTEN/mcp
    Http {
        /// Address to listen on (port 0 picks a free port)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected K=V")?;
    if k.trim().is_empty() {
        return Err("the header name is empty".into());
    }
    Ok((k.trim().to_string(), v.to_string()))
}

fn options(cli: &Options) -> FixtureOptions {
    let mut options = FixtureOptions::default()
        .with_name(cli.name.clone())
        .with_prefix(cli.prefix.clone())
        .with_extra_tools(cli.extra_tools);
    if let Some(size) = cli.page_size {
        options = options.with_page_size(size);
    }
    if cli.legacy_only {
        options = options.legacy_only();
    }
    options.instructions = cli.instructions.clone();
    if let Some(limit) = cli.crash_after {
        options = options.with_on_call(move |n, tool| {
            if n > limit {
                eprintln!("mcp-fixture: crashing on tool call #{n} ({tool}) as asked by --crash-after {limit}");
                std::process::exit(1);
            }
        });
    }
    options
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_FIXTURE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    let mut options = options(&cli.options);
    match cli.mode {
        Mode::Stdio
        | Mode::Conformance {
            mode: ConformanceMode::Stdio,
            ..
        } => {
            let result = match cli.mode {
                Mode::Conformance {
                    strict_versions, ..
                } => {
                    conformance::serve_conformance_stdio(conformance_server(strict_versions)).await
                }
                _ => serve_stdio(FixtureServer::new(options)).await,
            };
            if let Err(e) = &result {
                eprintln!("mcp-fixture: {e:#}");
            }
            // A pending blocking read on stdin would keep the runtime alive; leave now.
            std::process::exit(if result.is_ok() { 0 } else { 1 });
        }
        Mode::Http {
            listen,
            require_header,
        } => {
            options.require_header = require_header;
            let (listener, ct) = listen_http(listen).await?;
            serve_http(listener, FixtureServer::new(options), ct).await
        }
        Mode::Conformance {
            strict_versions,
            mode: ConformanceMode::Http { listen },
        } => {
            let (listener, ct) = listen_http(listen).await?;
            let server = conformance_server(strict_versions);
            conformance::serve_conformance_http(listener, server, ct).await
        }
    }
}

fn conformance_server(strict_versions: bool) -> conformance::ConformanceServer {
    let server = conformance::ConformanceServer::new();
    if strict_versions {
        server.strict_versions()
    } else {
        server
    }
}

/// Binds, announces `listening on http://ADDR/mcp` (stdout and stderr), and gives a token
/// cancelled on Ctrl-C.
async fn listen_http(
    listen: SocketAddr,
) -> anyhow::Result<(tokio::net::TcpListener, CancellationToken)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let line = format!("listening on http://{addr}{MCP_PATH}");
    println!("{line}");
    std::io::stdout().flush()?;
    eprintln!("{line}");
    let ct = CancellationToken::new();
    let stop = ct.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    Ok((listener, ct))
}

//! `mcp-bench-echo`: the benchmark upstream (an rmcp server with an `echo` tool, and with
//! `--extras` a resource, a prompt and logging) over
//! streamable HTTP or stdio. Logs go to stderr only (stdout is the protocol in stdio mode).

use std::{io::Write, net::SocketAddr};

use clap::{Parser, Subcommand};
use mcp_bench::{
    echo::{self, EchoServer},
    relay,
};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "mcp-bench-echo",
    about = "Minimal MCP echo server for mcp-gateway benchmarks"
)]
struct Cli {
    /// Number of tools: `echo`, then `tool_2` … `tool_N`
    #[arg(long, global = true, default_value_t = 1)]
    tools: usize,
    /// Also offer a resource (bench://echo/greeting), a prompt (greet) and logging
    #[arg(long, global = true)]
    extras: bool,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve on stdin/stdout
    Stdio,
    /// Serve streamable HTTP at http://LISTEN/mcp; prints `listening on URL` on stdout
    Http {
        /// Address to listen on (port 0 picks a free port)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Relay TCP connections to another address, byte for byte (no MCP server); prints
    /// `listening on ADDR` on stdout
    Relay {
        /// Address to listen on (port 0 picks a free port)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where every connection goes
        #[arg(long)]
        to: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MCP_BENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    let mut server = EchoServer::new(cli.tools);
    if cli.extras {
        server = server.with_extras();
    }
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    match cli.mode {
        Mode::Stdio => {
            let result = echo::serve_stdio(server).await;
            if let Err(e) = &result {
                eprintln!("mcp-bench-echo: {e:#}");
            }
            // A pending blocking read on stdin would keep the runtime alive; leave now.
            std::process::exit(if result.is_ok() { 0 } else { 1 });
        }
        Mode::Http { listen } => {
            let (listener, url) = echo::bind(listen).await?;
            println!("listening on {url}");
            std::io::stdout().flush()?;
            echo::serve_http(listener, server, stop).await
        }
        Mode::Relay { listen, to } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("listening on {}", listener.local_addr()?);
            std::io::stdout().flush()?;
            relay::serve(listener, to, stop).await
        }
    }
}

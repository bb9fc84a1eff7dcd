//! Admin subcommands that talk to a running gateway's REST API: `servers`, `keys`,
//! `policies`, `tools`, `resources`, `prompts`, `health` and `status`.
//!
//! Every command takes `--url` (`MCP_GATEWAY_URL`), `--key` (`MCP_GATEWAY_MASTER_KEY`),
//! `--json` and `--timeout`, before or after the leaf subcommand. Exit codes: 0 success;
//! 1 an error answer from the gateway (or a tool result with `isError`); 64 bad input on
//! the command line; 69 the gateway cannot be reached. (Errors clap itself detects, such
//! as a missing argument, exit with clap's code 2.)

mod catalog;
mod client;
mod keys;
mod policies;
mod render;
mod servers;
mod status;

use std::{fmt, process::ExitCode, str::FromStr, time::Duration};

use clap::{Args, Subcommand};

/// The gateway answered with an error (or the tool reported one).
const EXIT_ERROR: u8 = 1;
/// Bad command-line input (EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// The gateway cannot be reached (EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

/// The default request timeout of every command except `tools call`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default request timeout of `tools call` (upstream calls default to 60 s each).
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Register, list, inspect and remove upstream MCP servers of a running gateway.
    Servers(ServersArgs),
    /// Create, list and delete API keys (scoped credentials for MCP clients).
    Keys(KeysArgs),
    /// Create, list, replace and delete named policies (CEL rules over callers and tools).
    Policies(PoliciesArgs),
    /// List the tools a running gateway exposes, or call one.
    Tools(ToolsArgs),
    /// List the resources and resource templates a running gateway exposes.
    Resources(ResourcesArgs),
    /// List the prompts a running gateway exposes.
    Prompts(PromptsArgs),
    /// Check that a running gateway is alive (`GET /health/liveliness`), or with `--ready`
    /// ready to serve (`GET /health/readiness`: its store answers); exit 0 if so, 1 if not,
    /// 69 if it cannot be reached. For container health checks.
    Health(HealthArgs),
    /// A summary of a running gateway: each server's transport, health, tools and calls
    /// in the last minute, and its sessions (`GET /mcp/servers` and `GET /metrics`).
    Status(StatusArgs),
}

/// How to reach the gateway, and how to print its answers. Global: accepted before or
/// after the subcommand (`mcp-gateway servers --json list` or `… servers list --json`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Gateway connection")]
pub struct Connection {
    /// Base URL of the running gateway.
    #[arg(
        long,
        global = true,
        env = "MCP_GATEWAY_URL",
        default_value = "http://127.0.0.1:4000",
        value_name = "URL"
    )]
    pub url: String,
    /// The gateway's master key, sent as `Authorization: Bearer <KEY>`. Prefer the
    /// environment variable: command-line flags are visible to other local users.
    #[arg(
        long,
        global = true,
        env = "MCP_GATEWAY_MASTER_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub key: Option<MasterKey>,
    /// Print the gateway's JSON answer as is instead of a table or a summary.
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the gateway's answer [default: 30; 120 for `tools call`].
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

/// The master key. Its `Debug` output is `***`, so it cannot leak through a debug print.
#[derive(Clone)]
pub struct MasterKey(String);

impl MasterKey {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for MasterKey {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, Args)]
pub struct ServersArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: servers::ServersCommand,
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: keys::KeysCommand,
}

#[derive(Debug, Args)]
pub struct PoliciesArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: policies::PoliciesCommand,
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: catalog::ToolsCommand,
}

#[derive(Debug, Args)]
pub struct ResourcesArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: catalog::ResourcesCommand,
}

#[derive(Debug, Args)]
pub struct PromptsArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: catalog::PromptsCommand,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    conn: Connection,
    /// Check readiness (the store answers) instead of liveness.
    #[arg(long)]
    ready: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    conn: Connection,
}

/// An id or name that goes into a URL path must be one segment of it.
fn check_segment(id: &str, what: &str) -> Result<(), Failure> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') {
        return Err(Failure::usage(format!("{id:?} is not a {what}")));
    }
    Ok(())
}

async fn health(args: &HealthArgs) -> Outcome {
    let client = client::Client::new(&args.conn, DEFAULT_TIMEOUT)?;
    let route = if args.ready {
        "readiness"
    } else {
        "liveliness"
    };
    let answer = client.get(&["health", route]).await?;
    if args.conn.json {
        render::json(&answer);
    } else {
        let status = answer.get("status").and_then(serde_json::Value::as_str);
        render::out(status.unwrap_or("ok"));
    }
    Ok(())
}

pub async fn run(command: AdminCommand) -> ExitCode {
    let result = match command {
        AdminCommand::Health(args) => health(&args).await,
        AdminCommand::Status(args) => status::run(&args.conn).await,
        AdminCommand::Servers(args) => servers::run(&args.conn, args.command).await,
        AdminCommand::Keys(args) => keys::run(&args.conn, args.command).await,
        AdminCommand::Policies(args) => policies::run(&args.conn, args.command).await,
        AdminCommand::Tools(args) => catalog::run_tools(&args.conn, args.command).await,
        AdminCommand::Resources(args) => catalog::run_resources(&args.conn, args.command).await,
        AdminCommand::Prompts(args) => catalog::run_prompts(&args.conn, args.command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = &failure.message {
                render::error_line(message);
            }
            ExitCode::from(failure.exit)
        }
    }
}

/// Why a command failed: the exit code and the one line (after `error: `) for stderr.
#[derive(Debug)]
pub struct Failure {
    exit: u8,
    message: Option<String>,
}

impl Failure {
    /// Bad command-line input (exit 64).
    fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: EXIT_USAGE,
            message: Some(message.into()),
        }
    }

    /// The gateway cannot be reached (exit 69).
    fn unavailable(message: impl Into<String>) -> Self {
        Self {
            exit: EXIT_UNAVAILABLE,
            message: Some(message.into()),
        }
    }

    /// The gateway answered with an error (exit 1): `<code>: <message>`.
    fn api(code: &str, message: &str) -> Self {
        Self {
            exit: EXIT_ERROR,
            message: Some(format!("{code}: {message}")),
        }
    }

    /// Exit 1 with nothing more to print (the output already explains it).
    fn quiet() -> Self {
        Self {
            exit: EXIT_ERROR,
            message: None,
        }
    }
}

type Outcome = Result<(), Failure>;

/// Reads a command-line value that may be `-` for standard input.
fn read_arg_or_stdin(value: &str, what: &str) -> Result<String, Failure> {
    if value != "-" {
        return Ok(value.to_owned());
    }
    std::io::read_to_string(std::io::stdin())
        .map_err(|e| Failure::usage(format!("cannot read {what} from standard input: {e}")))
}

/// Parses a JSON object given on the command line (exit 64 when it is not one).
fn parse_json_object(
    text: &str,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Failure> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(Failure::usage(format!(
            "{what} must be a JSON object such as {{\"key\": \"value\"}}, not {}",
            json_kind(&other)
        ))),
        Err(e) => Err(Failure::usage(format!("{what} is not valid JSON: {e}"))),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AdminCommand,
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_flags_are_accepted_before_and_after_the_leaf() {
        for argv in [
            &["x", "servers", "--json", "--url", "http://h:1", "list"][..],
            &["x", "servers", "list", "--json", "--url", "http://h:1"][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let AdminCommand::Servers(args) = cli.command else {
                panic!()
            };
            assert!(args.conn.json, "{argv:?}");
            assert_eq!(args.conn.url, "http://h:1", "{argv:?}");
        }
    }

    #[test]
    fn the_key_does_not_show_in_debug_output() {
        let cli = Cli::try_parse_from(["x", "tools", "list", "--key", "hunter2"]).unwrap();
        assert!(!format!("{cli:?}").contains("hunter2"));
    }

    #[test]
    fn json_objects_are_checked() {
        assert!(parse_json_object(r#"{"a": 1}"#, "--args").is_ok());
        let e = parse_json_object("[1]", "--args").unwrap_err();
        assert_eq!(e.exit, EXIT_USAGE);
        assert!(e.message.unwrap().contains("an array"));
        assert_eq!(
            parse_json_object("{nope", "--args").unwrap_err().exit,
            EXIT_USAGE
        );
    }
}

//! `mcp-gateway servers list | get | add | update | rm`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use super::{
    Connection, DEFAULT_TIMEOUT, Failure, Outcome, check_segment,
    client::Client,
    parse_json_object, read_arg_or_stdin,
    render::{self, items, scalar, str_at},
};

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// List the registered servers with their health and discovered tool count.
    #[command(visible_alias = "ls")]
    List,
    /// Show one server: its registration (without secrets), health and discovery counts.
    Get {
        /// The server's id.
        id: String,
    },
    /// Register a server, from flags or from a JSON record (`--file`).
    #[command(after_help = ADD_EXAMPLES)]
    Add(Box<AddArgs>),
    /// Replace a server's registration (`PUT`) and reconnect it: the whole record, from
    /// flags or `--file`, as for `add` (fields not given take their defaults).
    #[command(after_help = UPDATE_EXAMPLES)]
    Update(Box<AddArgs>),
    /// Unregister a server added through the API (servers from the config file stay).
    #[command(visible_alias = "remove")]
    Rm {
        /// The server's id.
        id: String,
    },
}

const ADD_EXAMPLES: &str = "\
Examples:
  mcp-gateway servers add --id everything --server-url http://127.0.0.1:3001/mcp
  GITHUB_TOKEN=… mcp-gateway servers add --id github --server-url https://api.example/mcp \\
      --auth-type bearer_token --auth-value-env GITHUB_TOKEN --tool search_issues
  mcp-gateway servers add --id files --command npx --arg -y \\
      --arg @modelcontextprotocol/server-filesystem --arg /srv/data
  mcp-gateway servers add --file server.json      (or --file - to read standard input)

--url is the gateway's own address; the upstream's address is --server-url.";

const UPDATE_EXAMPLES: &str = "\
Examples:
  mcp-gateway servers update --id everything --server-url http://127.0.0.1:3002/mcp --tool echo
  mcp-gateway servers update --file server.json      (the whole record, as for add)

The record replaces the old one: give every field again, secrets included (they are
write-only, so `servers get` cannot return them). Servers from the gateway's config file
cannot be changed through the API (409).";

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Read the whole server record from FILE (JSON, the body of `POST /mcp/servers`);
    /// `-` reads standard input.
    #[arg(
        long,
        short = 'f',
        value_name = "FILE",
        conflicts_with = "record_flags"
    )]
    file: Option<String>,
    #[command(flatten)]
    record: RecordFlags,
}

/// The server record as flags; only the flags given are sent, so the gateway's defaults
/// apply to the rest.
#[derive(Debug, Args)]
#[group(id = "record_flags", multiple = true)]
pub struct RecordFlags {
    /// Unique id; also the prefix of the exposed tool names (`<ID>__<tool>`).
    #[arg(long, value_name = "ID", required_unless_present = "file")]
    id: Option<String>,
    /// Human-readable name [default: the id].
    #[arg(long)]
    name: Option<String>,
    /// The upstream server's URL (streamable_http and sse). (`--url` is the gateway's.)
    #[arg(long, value_name = "URL", visible_alias = "upstream-url")]
    server_url: Option<String>,
    /// How the gateway talks to the upstream [default: stdio with --command, else
    /// streamable_http].
    #[arg(long, value_enum)]
    transport: Option<Transport>,
    /// Expose only this tool (repeatable); without it every discovered tool is exposed.
    #[arg(long = "tool", value_name = "NAME")]
    tools: Vec<String>,
    /// Expose only this resource, by name or URI (repeatable).
    #[arg(long = "resource", value_name = "NAME_OR_URI")]
    resources: Vec<String>,
    /// How the gateway authenticates to the upstream.
    #[arg(long, value_enum)]
    auth_type: Option<AuthType>,
    /// The upstream credential (token, API key, or user:password for basic). It ends up in
    /// your shell history; prefer --auth-value-env.
    #[arg(long, value_name = "SECRET", conflicts_with = "auth_value_env")]
    auth_value: Option<String>,
    /// Read the upstream credential from this environment variable.
    #[arg(long, value_name = "VAR")]
    auth_value_env: Option<String>,
    /// The header carrying the key for --auth-type api_key [default: X-API-Key].
    #[arg(long, value_name = "HEADER")]
    api_key_header: Option<String>,
    /// Extra header sent to the upstream, as NAME=VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// stdio: the program to run.
    #[arg(long, value_name = "PROGRAM")]
    command: Option<String>,
    /// stdio: one argument of the program (repeatable, in order).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// stdio: environment variable of the program, as NAME=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// stdio: the program's working directory.
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
    /// Per-call timeout of requests to this upstream, in seconds [default: 60].
    #[arg(long, value_name = "SECS")]
    timeout_secs: Option<u64>,
    /// Free-form operator data, a JSON object stored with the server.
    #[arg(long, value_name = "JSON")]
    metadata: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum Transport {
    StreamableHttp,
    Sse,
    Stdio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum AuthType {
    None,
    BearerToken,
    ApiKey,
    Basic,
    Oauth2,
}

fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

pub async fn run(conn: &Connection, command: ServersCommand) -> Outcome {
    // Local input is checked before anything is sent.
    let client = || Client::new(conn, DEFAULT_TIMEOUT);
    match command {
        ServersCommand::List => list(conn, &client()?).await,
        ServersCommand::Get { id } => {
            check_segment(&id, "server id")?;
            get(conn, &client()?, &id).await
        }
        ServersCommand::Add(args) => {
            let record = args.to_record()?;
            add(conn, &client()?, record).await
        }
        ServersCommand::Update(args) => {
            let record = args.to_record()?;
            update(conn, &client()?, record).await
        }
        ServersCommand::Rm { id } => {
            check_segment(&id, "server id")?;
            rm(conn, &client()?, &id).await
        }
    }
}

async fn list(conn: &Connection, client: &Client) -> Outcome {
    let answer = client.get(&["mcp", "servers"]).await?;
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    let servers = items(&answer, "servers");
    if servers.is_empty() {
        render::note("no servers registered; add one with `mcp-gateway servers add`");
        return Ok(());
    }
    let rows = servers
        .iter()
        .map(|s| {
            [
                str_at(s, "server_id").to_owned(),
                str_at(s, "name").to_owned(),
                str_at(s, "transport").to_owned(),
                str_at(s, "source").to_owned(),
                scalar(s.pointer("/health/state")),
                tool_count(s),
                target(s),
            ]
        })
        .collect();
    render::out(&render::table(
        [
            "ID",
            "NAME",
            "TRANSPORT",
            "SOURCE",
            "HEALTH",
            "TOOLS",
            "URL/COMMAND",
        ],
        rows,
    ));
    Ok(())
}

/// The tools a server exposes, and how many it offers when the allowlist hides some.
fn tool_count(server: &Value) -> String {
    let exposed = server.pointer("/exposed/tools").and_then(Value::as_u64);
    let discovered = server.pointer("/discovered/tools").and_then(Value::as_u64);
    match (exposed, discovered) {
        (Some(exposed), Some(discovered)) if exposed != discovered => {
            format!("{exposed} of {discovered}")
        }
        (Some(count), _) | (None, Some(count)) => count.to_string(),
        (None, None) => "-".into(),
    }
}

/// The URL of an HTTP server, or the command line of a stdio one.
fn target(server: &Value) -> String {
    if let Some(url) = server.get("url").and_then(Value::as_str) {
        return url.to_owned();
    }
    let mut line = str_at(server, "command").to_owned();
    for arg in server
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        line.push(' ');
        line.push_str(arg.as_str().unwrap_or_default());
    }
    if line.is_empty() { "-".into() } else { line }
}

async fn get(conn: &Connection, client: &Client, id: &str) -> Outcome {
    let server = client.get(&["mcp", "servers", id]).await?;
    if conn.json {
        render::json(&server);
    } else {
        render::out(&describe(&server));
    }
    Ok(())
}

/// A server view as `key: value` lines: the well-known keys in a fixed order, then any
/// others the gateway added.
fn describe(server: &Value) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut push = |key: &str, value: String| pairs.push((key.to_owned(), value));
    let at = |key: &str| server.get(key);
    push("server_id", scalar(at("server_id")));
    push("name", scalar(at("name")));
    push("transport", scalar(at("transport")));
    push("source", scalar(at("source")));
    if at("url").is_some() {
        push("url", scalar(at("url")));
    }
    for key in ["command", "args", "cwd", "env_names"] {
        if at(key).is_some() {
            push(key, scalar(at(key)));
        }
    }
    if let Some(health) = at("health") {
        push("health", scalar(health.get("state")));
        push("health.since", scalar(health.get("since")));
        push("health.last_seen", scalar(health.get("last_seen")));
        if health.get("last_error").is_some() {
            push("health.last_error", scalar(health.get("last_error")));
        }
    }
    for key in ["discovered", "exposed"] {
        if let Some(Value::Object(counts)) = at(key) {
            let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
            push(key, counts.join(" "));
        }
    }
    let allowlist = |key: &str| match at(key).and_then(Value::as_array) {
        Some(names) if !names.is_empty() => scalar(at(key)),
        _ => "(all discovered)".into(),
    };
    push("tools", allowlist("tools"));
    push("resources", allowlist("resources"));
    let auth = scalar(at("auth_type"));
    let configured = match at("auth_configured") {
        Some(Value::Bool(true)) => " (credential set)",
        Some(Value::Bool(false)) if auth != "none" => " (no credential set)",
        _ => "",
    };
    push("auth_type", format!("{auth}{configured}"));
    for key in ["api_key_header", "header_names", "timeout_secs"] {
        if at(key).is_some() {
            push(key, scalar(at(key)));
        }
    }
    match at("metadata") {
        Some(Value::Object(m)) if m.is_empty() => {}
        None => {}
        Some(metadata) => push("metadata", metadata.to_string()),
    }
    const SHOWN: &[&str] = &[
        "server_id",
        "name",
        "transport",
        "source",
        "url",
        "command",
        "args",
        "cwd",
        "env_names",
        "health",
        "discovered",
        "exposed",
        "tools",
        "resources",
        "auth_type",
        "auth_configured",
        "api_key_header",
        "header_names",
        "timeout_secs",
        "metadata",
    ];
    if let Some(object) = server.as_object() {
        for (key, value) in object.iter().filter(|(k, _)| !SHOWN.contains(&k.as_str())) {
            push(key, scalar(Some(value)));
        }
    }
    render::key_values(&pairs)
}

async fn add(conn: &Connection, client: &Client, record: Map<String, Value>) -> Outcome {
    let answer = client
        .post(&["mcp", "servers"], &Value::Object(record))
        .await?;
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    let server = answer.get("server").unwrap_or(&answer);
    render::out(&format!(
        "registered server {} ({}, {}); see it with `mcp-gateway servers get {}`",
        render::clean(str_at(server, "server_id")),
        render::clean(str_at(server, "transport")),
        render::clean(&scalar(server.pointer("/health/state"))),
        render::clean(str_at(server, "server_id")),
    ));
    Ok(())
}

async fn update(conn: &Connection, client: &Client, record: Map<String, Value>) -> Outcome {
    let id = record
        .get("server_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    check_segment(&id, "server id")?;
    let answer = client
        .put(&["mcp", "servers", &id], &Value::Object(record))
        .await?;
    if conn.json {
        render::json(&answer);
    } else {
        render::out(&format!(
            "updated server {}; see it with `mcp-gateway servers get {}`",
            render::clean(&id),
            render::clean(&id),
        ));
    }
    Ok(())
}

async fn rm(conn: &Connection, client: &Client, id: &str) -> Outcome {
    let answer = client.delete(&["mcp", "servers", id]).await?;
    if conn.json {
        render::json(&answer);
    } else {
        render::out(&format!("unregistered server {}", render::clean(id)));
    }
    Ok(())
}

impl AddArgs {
    /// The JSON record to send, from `--file` or from the flags.
    fn to_record(&self) -> Result<Map<String, Value>, Failure> {
        match &self.file {
            Some(file) => read_record_file(file),
            None => self.record.to_record(),
        }
    }
}

fn read_record_file(file: &str) -> Result<Map<String, Value>, Failure> {
    let text = if file == "-" {
        read_arg_or_stdin("-", "the server record")?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Failure::usage(format!("cannot read --file {file}: {e}")))?
    };
    let what = if file == "-" {
        "the record on standard input".to_owned()
    } else {
        format!("--file {file}")
    };
    parse_json_object(&text, &what)
}

impl RecordFlags {
    fn to_record(&self) -> Result<Map<String, Value>, Failure> {
        let mut record = Map::new();
        let id = self.id.clone().unwrap_or_default();
        check_segment(&id, "server id")?;
        record.insert("server_id".into(), json!(id));
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                record.insert(key.into(), value);
            }
        };
        put("name", self.name.as_ref().map(|v| json!(v)));
        put("url", self.server_url.as_ref().map(|v| json!(v)));
        put("transport", self.transport.map(|v| json!(value_name(v))));
        put("tools", (!self.tools.is_empty()).then(|| json!(self.tools)));
        put(
            "resources",
            (!self.resources.is_empty()).then(|| json!(self.resources)),
        );
        put("auth_type", self.auth_type.map(|v| json!(value_name(v))));
        put("auth_value", self.auth_value()?.map(|v| json!(v)));
        put(
            "api_key_header",
            self.api_key_header.as_ref().map(|v| json!(v)),
        );
        put("headers", pairs(&self.headers, "--header")?);
        put("command", self.command.as_ref().map(|v| json!(v)));
        put("args", (!self.args.is_empty()).then(|| json!(self.args)));
        put("env", pairs(&self.env, "--env")?);
        put("cwd", self.cwd.as_ref().map(|v| json!(v)));
        put("timeout_secs", self.timeout_secs.map(|v| json!(v)));
        let metadata = match &self.metadata {
            Some(text) => Some(Value::Object(parse_json_object(text, "--metadata")?)),
            None => None,
        };
        put("metadata", metadata);
        let stdio = matches!(self.transport, Some(Transport::Stdio))
            || (self.transport.is_none() && self.command.is_some());
        if !stdio && self.server_url.is_none() {
            // Catch `--url <upstream>` here: it would send the request (and the master key)
            // to the upstream instead of the gateway.
            return Err(Failure::usage(
                "give the upstream's address with --server-url (or a program with --command); \
                 --url is the gateway's own address",
            ));
        }
        Ok(record)
    }

    fn auth_value(&self) -> Result<Option<String>, Failure> {
        let value = match (&self.auth_value, &self.auth_value_env) {
            (Some(value), _) => Some(value.clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                Failure::usage(format!(
                    "--auth-value-env {var}: the environment variable {var} is not set"
                ))
            })?),
            (None, None) => None,
        };
        if value.is_some() && matches!(self.auth_type, None | Some(AuthType::None)) {
            return Err(Failure::usage(
                "--auth-value needs --auth-type (bearer_token, api_key, basic or oauth2)",
            ));
        }
        Ok(value)
    }
}

/// `NAME=VALUE` flags as a JSON object (exit 64 on a malformed one).
fn pairs(values: &[String], flag: &str) -> Result<Option<Value>, Failure> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut map = Map::new();
    for item in values {
        let Some((name, value)) = item
            .split_once('=')
            .filter(|(name, _)| !name.trim().is_empty())
        else {
            return Err(Failure::usage(format!(
                "{flag} expects NAME=VALUE, got {:?}",
                redact(item)
            )));
        };
        map.insert(name.trim().to_owned(), json!(value));
    }
    Ok(Some(Value::Object(map)))
}

/// A malformed `NAME=VALUE` may hold a secret: show only its start.
fn redact(item: &str) -> String {
    let shown: String = item.chars().take(3).collect();
    if shown.len() < item.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ServersCommand,
    }

    fn record(argv: &[&str]) -> Result<Map<String, Value>, Failure> {
        let cli = Cli::try_parse_from([&["x", "add"][..], argv].concat()).unwrap();
        let ServersCommand::Add(add) = cli.command else {
            panic!()
        };
        add.to_record()
    }

    #[test]
    fn flags_become_a_record_with_only_what_was_given() {
        let r = record(&[
            "--id",
            "s1",
            "--server-url",
            "http://h/mcp",
            "--tool",
            "a",
            "--tool",
            "b",
            "--header",
            "X-A=1=2",
            "--transport",
            "streamable_http",
            "--metadata",
            r#"{"team": "x"}"#,
            "--auth-type",
            "bearer_token",
            "--auth-value",
            "tok",
        ])
        .unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"server_id": "s1", "url": "http://h/mcp", "transport": "streamable_http", "tools": ["a", "b"],
                   "auth_type": "bearer_token", "auth_value": "tok", "headers": {"X-A": "1=2"},
                   "metadata": {"team": "x"}})
        );
        let r = record(&[
            "--id",
            "p",
            "--command",
            "npx",
            "--arg",
            "-y",
            "--arg",
            "pkg",
            "--env",
            "A=b",
        ])
        .unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"server_id": "p", "command": "npx", "args": ["-y", "pkg"], "env": {"A": "b"}})
        );
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        for argv in [
            &[
                "--id",
                "s",
                "--server-url",
                "http://h/",
                "--header",
                "novalue",
            ][..],
            &[
                "--id",
                "s",
                "--server-url",
                "http://h/",
                "--metadata",
                "[1]",
            ][..],
            &[
                "--id",
                "s",
                "--server-url",
                "http://h/",
                "--auth-value",
                "t",
            ][..],
            &[
                "--id",
                "s",
                "--server-url",
                "http://h/",
                "--auth-type",
                "api_key",
                "--auth-value-env",
                "MCPGW_TEST_UNSET_VAR",
            ][..],
            &["--id", "s"][..],
            &["--id", "..", "--server-url", "http://h/"][..],
        ] {
            let failure = record(argv).unwrap_err();
            assert_eq!(failure.exit, super::super::EXIT_USAGE, "{argv:?}");
        }
    }

    #[test]
    fn file_conflicts_with_record_flags() {
        assert!(Cli::try_parse_from(["x", "add", "--file", "r.json", "--name", "n"]).is_err());
        assert!(Cli::try_parse_from(["x", "add", "--file", "r.json"]).is_ok());
        assert!(
            Cli::try_parse_from(["x", "add", "--name", "n"]).is_err(),
            "--id is required without --file"
        );
    }

    #[test]
    fn describe_lists_known_keys_first() {
        let text = describe(&json!({
            "server_id": "s1", "name": "s1", "url": "http://h/", "transport": "sse", "tools": [],
            "resources": [], "auth_type": "none", "auth_configured": false, "metadata": {},
            "source": "api", "health": {"state": "unhealthy", "last_error": "refused", "since": "t"},
            "discovered": {"prompts": 0, "tools": 2}, "exposed": {"prompts": 0, "tools": 1},
            "extra": 5
        }));
        assert!(text.starts_with("server_id:"), "{text}");
        assert!(text.contains("health.last_error: refused"), "{text}");
        assert!(
            text.contains("discovered:        prompts=0 tools=2"),
            "{text}"
        );
        assert!(
            text.contains("exposed:           prompts=0 tools=1"),
            "{text}"
        );
        assert_eq!(
            tool_count(&json!({"discovered": {"tools": 9}, "exposed": {"tools": 3}})),
            "3 of 9"
        );
        assert_eq!(
            tool_count(&json!({"discovered": {"tools": 4}, "exposed": {"tools": 4}})),
            "4"
        );
        assert!(
            text.contains("tools:             (all discovered)"),
            "{text}"
        );
        assert!(text.ends_with("extra:             5"), "{text}");
    }
}

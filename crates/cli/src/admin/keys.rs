//! `mcp-gateway keys create | list | get | rm | generate`.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::{
    Connection, DEFAULT_TIMEOUT, Outcome, check_segment,
    client::Client,
    parse_json_object, read_arg_or_stdin,
    render::{self, items, scalar, str_at},
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key (needs the master key). The key is printed once: keep it.
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// What the key is for (shown in lists and in the audit log).
        #[arg(long)]
        name: String,
        /// Reach only this server (a server id or a glob such as `github-*`;
        /// repeatable). Without it: every server.
        #[arg(long = "server", value_name = "ID_OR_GLOB")]
        servers: Vec<String>,
        /// List and call only this tool (`<server_id>__<tool>` or a glob such as
        /// `github__*`; repeatable). Without it: every tool of the servers it reaches.
        #[arg(long = "tool", value_name = "NAME_OR_GLOB")]
        tools: Vec<String>,
        /// Subject the key's tools to this named policy too (repeatable; see
        /// `mcp-gateway policies`).
        #[arg(long = "policy", value_name = "NAME")]
        policies: Vec<String>,
        /// When the key stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// Free-form metadata, a JSON object (`-` reads standard input).
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        /// Rate limit: requests to upstreams per minute (a token bucket).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        requests_per_minute: Option<u32>,
        /// Rate limit: how many may come at once above the steady rate.
        #[arg(long, value_name = "N", requires = "requests_per_minute", value_parser = clap::value_parser!(u32).range(1..))]
        burst: Option<u32>,
        /// Requests to upstreams in flight at once.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        max_concurrent: Option<u32>,
    },
    /// List the API keys (never the keys themselves).
    #[command(visible_alias = "ls")]
    List,
    /// Show one API key's settings.
    Get {
        /// The key's id (`key_…`).
        key_id: String,
    },
    /// Delete an API key: it stops working at once, on sessions already open too.
    #[command(visible_alias = "remove")]
    Rm {
        /// The key's id (`key_…`).
        key_id: String,
    },
    /// Print a new random key for the config file's `keys:` block (talks to no gateway).
    Generate,
}

const CREATE_EXAMPLES: &str = "\
Examples:
  mcp-gateway keys create --name ci-bot --server github --tool 'github__search_*'
  mcp-gateway keys create --name nightly --expires-at 2027-01-31T00:00:00Z
  mcp-gateway keys create --name agent --requests-per-minute 120 --burst 20 --max-concurrent 4
  mcp-gateway keys create --name reader --policy read-only

Clients send the key as `Authorization: Bearer <key>`; it reaches only what it grants, and
answers as for a name that does not exist for anything else.";

pub async fn run(conn: &Connection, command: KeysCommand) -> Outcome {
    let client = || Client::new(conn, DEFAULT_TIMEOUT);
    match command {
        KeysCommand::Create {
            name,
            servers,
            tools,
            policies,
            expires_at,
            metadata,
            requests_per_minute,
            burst,
            max_concurrent,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            if !servers.is_empty() {
                body.insert("servers".into(), json!(servers));
            }
            if !tools.is_empty() {
                body.insert("tools".into(), json!(tools));
            }
            if !policies.is_empty() {
                body.insert("policies".into(), json!(policies));
            }
            if let Some(at) = expires_at {
                body.insert("expires_at".into(), json!(at));
            }
            let mut limit = Map::new();
            for (name, value) in [
                ("requests_per_minute", requests_per_minute),
                ("burst", burst),
                ("max_concurrent", max_concurrent),
            ] {
                if let Some(value) = value {
                    limit.insert(name.into(), json!(value));
                }
            }
            if !limit.is_empty() {
                body.insert("rate_limit".into(), Value::Object(limit));
            }
            if let Some(metadata) = metadata {
                let text = read_arg_or_stdin(&metadata, "--metadata")?;
                let object = parse_json_object(&text, "--metadata")?;
                body.insert("metadata".into(), Value::Object(object));
            }
            create(conn, &client()?, Value::Object(body)).await
        }
        KeysCommand::List => list(conn, &client()?).await,
        KeysCommand::Get { key_id } => {
            check_segment(&key_id, "key id")?;
            let answer = client()?.get(&["mcp", "keys", &key_id]).await?;
            if conn.json {
                render::json(&answer);
            } else {
                render::out(&render::key_values(&fields(&answer)));
            }
            Ok(())
        }
        KeysCommand::Rm { key_id } => {
            check_segment(&key_id, "key id")?;
            let answer = client()?.delete(&["mcp", "keys", &key_id]).await?;
            if conn.json {
                render::json(&answer);
            } else {
                render::out(&format!("deleted key {}", render::clean(&key_id)));
            }
            Ok(())
        }
        KeysCommand::Generate => {
            render::out(&mcp_gateway::access::keys::generate());
            Ok(())
        }
    }
}

async fn create(conn: &Connection, client: &Client, body: Value) -> Outcome {
    let answer = client.post(&["mcp", "keys"], &body).await?;
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    render::out(&render::key_values(&fields(&answer)));
    render::out(&format!("key: {}", str_at(&answer, "key")));
    render::note("the key is shown this once; the gateway keeps only its hash");
    Ok(())
}

async fn list(conn: &Connection, client: &Client) -> Outcome {
    let answer = client.get(&["mcp", "keys"]).await?;
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    let rows = items(&answer, "keys")
        .iter()
        .map(|key| {
            [
                render::clean(str_at(key, "key_id")),
                render::clean(str_at(key, "name")),
                render::clean(str_at(key, "prefix")),
                allowlist(key.get("servers")),
                allowlist(key.get("tools")),
                expiry(key),
                render::clean(str_at(key, "source")),
            ]
        })
        .collect();
    render::out(&render::table(
        [
            "ID", "NAME", "PREFIX", "SERVERS", "TOOLS", "EXPIRES", "SOURCE",
        ],
        rows,
    ));
    Ok(())
}

fn fields(key: &Value) -> Vec<(String, String)> {
    vec![
        ("key_id".into(), render::clean(str_at(key, "key_id"))),
        ("name".into(), render::clean(str_at(key, "name"))),
        ("prefix".into(), render::clean(str_at(key, "prefix"))),
        ("servers".into(), allowlist(key.get("servers"))),
        ("tools".into(), allowlist(key.get("tools"))),
        ("policies".into(), names(key.get("policies"))),
        ("expires".into(), expiry(key)),
        ("rate_limit".into(), rate_limit(key.get("rate_limit"))),
        ("created_at".into(), scalar(key.get("created_at"))),
        ("source".into(), render::clean(str_at(key, "source"))),
    ]
}

/// `all`, or the patterns.
fn allowlist(value: Option<&Value>) -> String {
    match value.and_then(Value::as_array) {
        None => "all".into(),
        Some(list) if list.is_empty() => "none".into(),
        Some(list) => render::clean(
            &list
                .iter()
                .map(|p| p.as_str().unwrap_or("?"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}

/// The names, or `none`.
fn names(value: Option<&Value>) -> String {
    match value.and_then(Value::as_array) {
        Some(list) if !list.is_empty() => allowlist(value),
        _ => "none".into(),
    }
}

fn rate_limit(value: Option<&Value>) -> String {
    let Some(limit) = value.and_then(Value::as_object) else {
        return "none".into();
    };
    let parts: Vec<String> = [
        ("requests_per_minute", "/min"),
        ("burst", " burst"),
        ("max_concurrent", " in flight"),
    ]
    .iter()
    .filter_map(|(name, unit)| limit.get(*name)?.as_u64().map(|n| format!("{n}{unit}")))
    .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn expiry(key: &Value) -> String {
    let at = key.get("expires_at").and_then(Value::as_str);
    match (at, key.get("expired").and_then(Value::as_bool)) {
        (None, _) => "never".into(),
        (Some(at), Some(true)) => format!("{} (expired)", render::clean(at)),
        (Some(at), _) => render::clean(at),
    }
}

//! `mcp-gateway policies create | list | get | rm`.

use clap::{ArgGroup, Subcommand};
use serde_json::{Map, Value, json};

use super::{
    Connection, DEFAULT_TIMEOUT, Outcome, check_segment,
    client::Client,
    render::{self, items, scalar, str_at},
};

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Create a named policy (needs the master key), or replace one with `--replace`.
    #[command(after_help = CREATE_EXAMPLES)]
    #[command(group(ArgGroup::new("effect").required(true).args(["allow", "deny"])))]
    Create {
        /// The policy's name (A-Z a-z 0-9 - _ .), what keys and JWT grants name.
        #[arg(long)]
        name: String,
        /// Let a tool through only when the expression holds (with other allow
        /// policies of the same key: when any of them holds).
        #[arg(long, value_name = "CEL")]
        allow: Option<String>,
        /// Hide a tool when the expression holds.
        #[arg(long, value_name = "CEL")]
        deny: Option<String>,
        /// What the policy is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Replace the policy of this name (`PUT`) instead of creating one.
        #[arg(long)]
        replace: bool,
    },
    /// List the policies.
    #[command(visible_alias = "ls")]
    List,
    /// Show one policy.
    Get { name: String },
    /// Delete a policy (refused while a key names it).
    #[command(visible_alias = "remove")]
    Rm { name: String },
}

const CREATE_EXAMPLES: &str = "\
Examples:
  mcp-gateway policies create --name read-only --allow 'tool.annotations.readOnlyHint'
  mcp-gateway policies create --name no-destructive-for-interns \\
      --deny \"'interns' in caller.groups && tool.annotations.destructiveHint\"
  mcp-gateway keys create --name reader --policy read-only

A policy sees `caller` (principal, kind, id, name, subject, groups, scopes, claims,
metadata), `server` (id) and `tool` (name, exposed_name, title, description, annotations).";

pub async fn run(conn: &Connection, command: PoliciesCommand) -> Outcome {
    let client = Client::new(conn, DEFAULT_TIMEOUT)?;
    let answer = match command {
        PoliciesCommand::Create {
            name,
            allow,
            deny,
            description,
            replace,
        } => {
            let (effect, when) = match (allow, deny) {
                (Some(when), _) => ("allow", when),
                (None, Some(when)) => ("deny", when),
                (None, None) => unreachable!("clap requires --allow or --deny"),
            };
            let mut body = Map::new();
            body.insert("effect".into(), json!(effect));
            body.insert("when".into(), json!(when));
            body.insert("description".into(), json!(description));
            if replace {
                check_segment(&name, "policy name")?;
                client
                    .put(&["mcp", "policies", &name], &Value::Object(body))
                    .await?
            } else {
                body.insert("name".into(), json!(name));
                client
                    .post(&["mcp", "policies"], &Value::Object(body))
                    .await?
            }
        }
        PoliciesCommand::List => {
            let answer = client.get(&["mcp", "policies"]).await?;
            if !conn.json {
                let rows = items(&answer, "policies")
                    .iter()
                    .map(|p| {
                        [
                            render::clean(str_at(p, "name")),
                            render::clean(str_at(p, "effect")),
                            render::clean(str_at(p, "when")),
                            render::clean(str_at(p, "source")),
                        ]
                    })
                    .collect();
                render::out(&render::table(["NAME", "EFFECT", "WHEN", "SOURCE"], rows));
                return Ok(());
            }
            answer
        }
        PoliciesCommand::Get { name } => {
            check_segment(&name, "policy name")?;
            client.get(&["mcp", "policies", &name]).await?
        }
        PoliciesCommand::Rm { name } => {
            check_segment(&name, "policy name")?;
            let answer = client.delete(&["mcp", "policies", &name]).await?;
            if !conn.json {
                render::out(&format!("deleted policy {}", render::clean(&name)));
                return Ok(());
            }
            answer
        }
    };
    if conn.json {
        render::json(&answer);
    } else {
        render::out(&render::key_values(&fields(&answer)));
    }
    Ok(())
}

fn fields(policy: &Value) -> Vec<(String, String)> {
    ["name", "effect", "when", "description", "source"]
        .iter()
        .map(|field| (field.to_string(), render::clean(str_at(policy, field))))
        .chain([
            ("created_at".into(), scalar(policy.get("created_at"))),
            ("updated_at".into(), scalar(policy.get("updated_at"))),
        ])
        .collect()
}

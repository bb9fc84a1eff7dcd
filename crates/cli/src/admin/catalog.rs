//! `mcp-gateway tools list | call | approve`, `resources list`, `prompts list`.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{
    Connection, DEFAULT_CALL_TIMEOUT, DEFAULT_TIMEOUT, Failure, Outcome,
    client::Client,
    parse_json_object, read_arg_or_stdin,
    render::{self, items, scalar, str_at, truncate},
};

/// Longest description shown in a table.
const DESCRIPTION_WIDTH: usize = 60;

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List the exposed tools (allowlisted but undiscovered ones show as not available).
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Call a tool by its exposed name and print its text content.
    #[command(
        after_help = "Examples:\n  mcp-gateway tools call everything__echo --args '{\"message\": \"hi\"}'\n  \
                            echo '{\"a\": 1, \"b\": 2}' | mcp-gateway tools call everything__get-sum --args -\n\n\
                            Exit code 1 when the tool reports an error (isError); its content goes to stderr."
    )]
    Call(CallArgs),
    /// Approve a tool held because its definition changed or it is new
    /// (`tool_changes: hold`; `mcp-gateway servers get <ID>` lists `held_tools`).
    Approve(ApproveArgs),
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The server's id.
    server_id: String,
    /// The tool's name on that server (not the exposed `<server_id>__<tool>`).
    tool: String,
}

#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// List the exposed resources and resource templates.
    #[command(visible_alias = "ls")]
    List(ListArgs),
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// List the exposed prompts.
    #[command(visible_alias = "ls")]
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the items of this server.
    #[arg(long, value_name = "ID")]
    server: Option<String>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The tool's exposed name, `<server_id>__<tool>` (see `mcp-gateway tools list`).
    name: String,
    /// The tool's arguments as a JSON object; `-` reads them from standard input.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
}

impl ListArgs {
    fn keep(&self, item: &Value) -> bool {
        self.server
            .as_deref()
            .is_none_or(|s| str_at(item, "server_id") == s)
    }

    /// With `--server`, the answer's arrays reduced to that server's items.
    fn filter(&self, mut answer: Value, keys: &[&str]) -> Value {
        if self.server.is_some() {
            for key in keys {
                if let Some(Value::Array(list)) = answer.get_mut(*key) {
                    list.retain(|item| self.keep(item));
                }
            }
        }
        answer
    }
}

pub async fn run_tools(conn: &Connection, command: ToolsCommand) -> Outcome {
    match command {
        ToolsCommand::List(list) => {
            let client = Client::new(conn, DEFAULT_TIMEOUT)?;
            let answer = list.filter(client.get(&["mcp", "tools"]).await?, &["tools"]);
            if conn.json {
                render::json(&answer);
                return Ok(());
            }
            let tools = items(&answer, "tools");
            if tools.is_empty() {
                render::note(&format!("no tools{}", for_server(&list)));
                return Ok(());
            }
            let rows = tools
                .iter()
                .map(|t| {
                    [
                        str_at(t, "name").to_owned(),
                        str_at(t, "server_id").to_owned(),
                        scalar(t.get("available")),
                        description(t),
                    ]
                })
                .collect();
            render::out(&render::table(
                ["NAME", "SERVER", "AVAILABLE", "DESCRIPTION"],
                rows,
            ));
            Ok(())
        }
        ToolsCommand::Approve(approve) => {
            super::check_segment(&approve.server_id, "server id")?;
            super::check_segment(&approve.tool, "tool name")?;
            let client = Client::new(conn, DEFAULT_TIMEOUT)?;
            let path = [
                "mcp",
                "servers",
                &approve.server_id,
                "tools",
                &approve.tool,
                "approve",
            ];
            let answer = client.post(&path, &json!({})).await?;
            if conn.json {
                render::json(&answer);
            } else {
                render::out(&format!(
                    "approved tool {} of server {} ({} tool)",
                    approve.tool,
                    approve.server_id,
                    str_at(&answer, "change")
                ));
            }
            Ok(())
        }
        ToolsCommand::Call(call) => {
            let arguments = match &call.args {
                Some(args) => {
                    let text = read_arg_or_stdin(args, "--args")?;
                    Some(parse_json_object(&text, "--args")?)
                }
                None => None,
            };
            let client = Client::new(conn, DEFAULT_CALL_TIMEOUT)?;
            let mut body = json!({ "name": call.name });
            if let Some(arguments) = arguments {
                body["arguments"] = Value::Object(arguments);
            }
            let result = client.post(&["mcp", "tools", "call"], &body).await?;
            let is_error = result
                .get("isError")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if conn.json {
                render::json(&result);
            } else {
                print_result(&result, is_error);
            }
            if is_error {
                Err(Failure::quiet())
            } else {
                Ok(())
            }
        }
    }
}

/// The content of a `CallToolResult`: text as is, other kinds as a one-line summary; the
/// structured content when there is no content. On stderr when the tool reported an error.
fn print_result(result: &Value, is_error: bool) {
    let content = items(result, "content");
    for item in content {
        match str_at(item, "type") {
            "text" => render::raw(str_at(item, "text"), is_error),
            "resource" => match item.pointer("/resource/text").and_then(Value::as_str) {
                Some(text) => render::raw(text, is_error),
                None => render::raw(&summary(item), is_error),
            },
            _ => render::raw(&summary(item), is_error),
        }
    }
    if content.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        let text =
            serde_json::to_string_pretty(structured).unwrap_or_else(|_| structured.to_string());
        render::raw(&text, is_error);
    }
}

/// `[image image/png, 1234 bytes]`, `[resource_link file:///x]`, …
fn summary(item: &Value) -> String {
    let kind = render::clean(str_at(item, "type"));
    let size = |data: &str| data.len() / 4 * 3;
    match kind.as_str() {
        "image" | "audio" => format!(
            "[{kind} {}, {} bytes; use --json for the data]",
            render::clean(str_at(item, "mimeType")),
            size(str_at(item, "data"))
        ),
        "resource" => {
            let resource = item.get("resource").unwrap_or(&Value::Null);
            format!(
                "[resource {} {}, {} bytes; use --json for the data]",
                render::clean(str_at(resource, "uri")),
                render::clean(str_at(resource, "mimeType")),
                size(str_at(resource, "blob"))
            )
        }
        "resource_link" => format!("[resource_link {}]", render::clean(str_at(item, "uri"))),
        _ => format!("[{kind}] {}", render::clean(&item.to_string())),
    }
}

pub async fn run_resources(conn: &Connection, command: ResourcesCommand) -> Outcome {
    let ResourcesCommand::List(list) = command;
    let client = Client::new(conn, DEFAULT_TIMEOUT)?;
    let answer = list.filter(
        client.get(&["mcp", "resources"]).await?,
        &["resources", "resource_templates"],
    );
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    let resources = items(&answer, "resources");
    let templates = items(&answer, "resource_templates");
    if resources.is_empty() && templates.is_empty() {
        render::note(&format!("no resources{}", for_server(&list)));
        return Ok(());
    }
    let mut sections = Vec::new();
    if !resources.is_empty() {
        let rows = resources
            .iter()
            .map(|r| {
                [
                    scalar(r.get("uri")),
                    str_at(r, "resource").to_owned(),
                    str_at(r, "server_id").to_owned(),
                    scalar(r.get("mime_type")),
                    scalar(r.get("available")),
                ]
            })
            .collect();
        sections.push(render::table(
            ["URI", "NAME", "SERVER", "MIME TYPE", "AVAILABLE"],
            rows,
        ));
    }
    if !templates.is_empty() {
        let rows = templates
            .iter()
            .map(|t| {
                [
                    str_at(t, "uri_template").to_owned(),
                    str_at(t, "resource_template").to_owned(),
                    str_at(t, "server_id").to_owned(),
                    description(t),
                ]
            })
            .collect();
        sections.push(render::table(
            ["URI TEMPLATE", "NAME", "SERVER", "DESCRIPTION"],
            rows,
        ));
    }
    render::out(&sections.join("\n\n"));
    Ok(())
}

pub async fn run_prompts(conn: &Connection, command: PromptsCommand) -> Outcome {
    let PromptsCommand::List(list) = command;
    let client = Client::new(conn, DEFAULT_TIMEOUT)?;
    let answer = list.filter(client.get(&["mcp", "prompts"]).await?, &["prompts"]);
    if conn.json {
        render::json(&answer);
        return Ok(());
    }
    let prompts = items(&answer, "prompts");
    if prompts.is_empty() {
        render::note(&format!("no prompts{}", for_server(&list)));
        return Ok(());
    }
    let rows = prompts
        .iter()
        .map(|p| {
            [
                str_at(p, "name").to_owned(),
                str_at(p, "server_id").to_owned(),
                prompt_arguments(p),
                description(p),
            ]
        })
        .collect();
    render::out(&render::table(
        ["NAME", "SERVER", "ARGUMENTS", "DESCRIPTION"],
        rows,
    ));
    Ok(())
}

/// Argument names, optional ones in brackets: `topic, [style]`.
fn prompt_arguments(prompt: &Value) -> String {
    let names: Vec<String> = items(prompt, "arguments")
        .iter()
        .map(|a| {
            let name = str_at(a, "name");
            if a.get("required").and_then(Value::as_bool).unwrap_or(false) {
                name.to_owned()
            } else {
                format!("[{name}]")
            }
        })
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}

fn description(item: &Value) -> String {
    match item.get("description").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() => truncate(d, DESCRIPTION_WIDTH),
        _ => "-".into(),
    }
}

fn for_server(list: &ListArgs) -> String {
    list.server
        .as_deref()
        .map(|s| format!(" for server {}", render::clean(s)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_name_the_kind() {
        assert_eq!(
            summary(&json!({"type": "image", "mimeType": "image/png", "data": "AAAA"})),
            "[image image/png, 3 bytes; use --json for the data]"
        );
        assert_eq!(
            summary(&json!({"type": "resource_link", "uri": "file:///x"})),
            "[resource_link file:///x]"
        );
    }

    #[test]
    fn prompt_arguments_mark_optional_ones() {
        let p = json!({"arguments": [{"name": "topic", "required": true}, {"name": "style"}]});
        assert_eq!(prompt_arguments(&p), "topic, [style]");
        assert_eq!(prompt_arguments(&json!({})), "-");
    }

    #[test]
    fn server_filter() {
        let list = ListArgs {
            server: Some("a".into()),
        };
        let answer = list.filter(
            json!({"tools": [{"server_id": "a"}, {"server_id": "b"}]}),
            &["tools"],
        );
        assert_eq!(answer, json!({"tools": [{"server_id": "a"}]}));
    }
}

//! One allowlist: the servers and tools a key, or one grant of a JWT's claims, reaches.

use super::patterns::Patterns;
use crate::{model::FieldError, registry::Snapshot};

const MAX_PATTERNS: usize = 256;

/// Server ids and tool names (globs); `None` reaches every one.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    servers: Option<Patterns>,
    tools: Option<Patterns>,
}

impl Allow {
    /// Compiles the `servers` and `tools` lists; the error names the field.
    pub fn new(servers: Option<&[String]>, tools: Option<&[String]>) -> Result<Self, FieldError> {
        Ok(Self {
            servers: compile("servers", servers)?,
            tools: compile("tools", tools)?,
        })
    }

    /// Whether `server_id` is reached at all (its tools, resources, prompts).
    pub fn server(&self, server_id: &str) -> bool {
        self.servers.as_ref().is_none_or(|p| p.matches(server_id))
    }

    /// Whether `server_id`'s tool `name` (the upstream's name) may be listed and called.
    /// The tool patterns match `<server_id><sep><name>` or the name the tool is exposed
    /// under at `/mcp`, whichever face the request came in on.
    pub fn tool(&self, snapshot: &Snapshot, server_id: &str, name: &str) -> bool {
        if !self.server(server_id) {
            return false;
        }
        let Some(tools) = &self.tools else {
            return true;
        };
        let qualified = snapshot.qualified_tool_name(server_id, name);
        tools.matches(&qualified)
            || snapshot
                .exposed_tool_name(server_id, name)
                .is_some_and(|exposed| exposed != qualified && tools.matches(&exposed))
    }
}

fn compile(field: &str, patterns: Option<&[String]>) -> Result<Option<Patterns>, FieldError> {
    let Some(patterns) = patterns else {
        return Ok(None);
    };
    if patterns.len() > MAX_PATTERNS {
        return Err(FieldError::invalid(
            field,
            format!("has {} patterns; at most {MAX_PATTERNS}", patterns.len()),
        ));
    }
    Patterns::new(patterns)
        .map(Some)
        .map_err(|e| FieldError::invalid(field, e))
}

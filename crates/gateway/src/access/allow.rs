//! One allowlist: the servers and tools a key, or one grant of a JWT's claims, reaches,
//! and the policies ([`super::policy`]) its tools are also subject to.

use std::sync::Arc;

use super::{
    patterns::Patterns,
    policy::{Decision, PolicyTable},
};
use crate::{model::FieldError, registry::Snapshot};

const MAX_PATTERNS: usize = 256;

/// Server ids and tool names (globs; `None` reaches every one), and policy names.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    servers: Option<Patterns>,
    tools: Option<Patterns>,
    policies: Vec<String>,
    /// Where the named policies are looked up at each decision (they can change).
    table: Arc<PolicyTable>,
}

impl Allow {
    /// Compiles the `servers` and `tools` lists; the error names the field. `policies`
    /// are looked up in `table` when a tool is decided on.
    pub fn new(
        servers: Option<&[String]>,
        tools: Option<&[String]>,
        policies: &[String],
        table: &Arc<PolicyTable>,
    ) -> Result<Self, FieldError> {
        Ok(Self {
            servers: compile("servers", servers)?,
            tools: compile("tools", tools)?,
            policies: policies.to_vec(),
            table: table.clone(),
        })
    }

    /// Whether `server_id` is reached at all (its tools, resources, prompts).
    pub fn server(&self, server_id: &str) -> bool {
        self.servers.as_ref().is_none_or(|p| p.matches(server_id))
    }

    /// The generation of the policies this allowlist names (`None`: it names none), for
    /// remembering its decisions.
    pub fn policies_generation(&self) -> Option<u64> {
        (!self.policies.is_empty()).then(|| self.table.generation())
    }

    /// Whether `server_id`'s tool `name` (the upstream's name) may be listed and called
    /// by `caller` (its facts, as policies see them). The tool patterns match
    /// `<server_id><sep><name>` or the name the tool is exposed under at `/mcp`,
    /// whichever face the request came in on; then the policies decide.
    pub fn tool(
        &self,
        snapshot: &Snapshot,
        server_id: &str,
        name: &str,
        caller: &cel::Value,
    ) -> bool {
        if !self.server(server_id) {
            return false;
        }
        let qualified = snapshot.qualified_tool_name(server_id, name);
        let listed = self.tools.as_ref().is_none_or(|tools| {
            tools.matches(&qualified)
                || snapshot
                    .exposed_tool_name(server_id, name)
                    .is_some_and(|exposed| exposed != qualified && tools.matches(&exposed))
        });
        if !listed || self.policies.is_empty() {
            return listed;
        }
        let tool = snapshot
            .servers
            .get(server_id)
            .and_then(|entry| entry.catalog.tools.iter().find(|t| t.name == name));
        tool.is_some_and(|tool| {
            let decision = Decision::new(caller, server_id, tool, &qualified);
            self.table.permit(&self.policies, &decision)
        })
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

//! Changed tools held for approval (`gateway.tool_changes`, or a server's own
//! `tool_changes`): the "rug pull" defence. Each tool's definition — description, input
//! and output schema, annotations — is fingerprinted when first seen and the fingerprint
//! kept as approved (in the store, so it outlives restarts). When a re-discovery finds a
//! tool whose fingerprint differs, or a new tool on a server whose tools were approved:
//! `allow` approves it; `warn` (the default) logs and counts it, then approves it; `hold`
//! withholds it — not listed, and a call is refused naming the change — until an operator
//! approves it (`POST /mcp/servers/{id}/tools/{tool}/approve`).
//!
//! A server seen for the first time (no approvals at all) is trusted as it is.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use rmcp::model::Tool;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    metrics::Metrics,
    model::{ServerRecord, ToolChanges},
    store::{ServerStore, ToolApproval},
};

/// How a held tool differs from what was approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A tool the server did not offer when its tools were approved.
    New,
    /// Its definition changed since it was approved.
    Changed,
}

/// A tool withheld until approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldTool {
    pub change: Change,
    /// The definition's fingerprint, which approving it approves.
    pub fingerprint: String,
}

/// The fingerprint of what a client trusts in a tool: SHA-256 (hex) of its description,
/// title, input and output schema and annotations, as canonical JSON (keys sorted).
pub fn fingerprint(tool: &Tool) -> String {
    let definition = serde_json::json!({
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "annotations": tool.annotations,
    });
    let mut canonical = String::new();
    write_canonical(&definition, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// JSON with every object's keys sorted (the order an upstream sends them in is no change).
fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The approved fingerprints, by server and tool, and where they are kept.
pub struct Approvals {
    default: ToolChanges,
    approved: Mutex<HashMap<String, HashMap<String, String>>>,
    store: Arc<dyn ServerStore>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approvals")
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}

impl Approvals {
    pub fn new(default: ToolChanges, store: Arc<dyn ServerStore>, metrics: Arc<Metrics>) -> Self {
        Self {
            default,
            approved: Mutex::default(),
            store,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, String>>> {
        // Every change leaves the map consistent, so a poisoned lock is still usable.
        self.approved.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in the stored approvals (at start).
    pub fn load(&self, approvals: Vec<ToolApproval>) {
        let mut approved = self.lock();
        for a in approvals {
            approved
                .entry(a.server_id)
                .or_default()
                .insert(a.tool, a.fingerprint);
        }
    }

    /// Reviews a newly discovered catalog's tools: approves what needs no operator
    /// (stored in the background) and answers the tools to withhold.
    pub fn review(&self, record: &ServerRecord, tools: &[Tool]) -> BTreeMap<String, HeldTool> {
        let server = &record.server_id;
        let mode = record.tool_changes.unwrap_or(self.default);
        let mut held = BTreeMap::new();
        let mut newly_approved = Vec::new();
        {
            let mut approved = self.lock();
            let approved = approved.entry(server.clone()).or_default();
            let first_sight = approved.is_empty();
            for tool in tools {
                let name = tool.name.as_ref();
                let fingerprint = fingerprint(tool);
                let change = match approved.get(name) {
                    Some(known) if *known == fingerprint => continue,
                    Some(_) => Change::Changed,
                    None if first_sight => {
                        approved.insert(name.to_owned(), fingerprint.clone());
                        newly_approved.push((name.to_owned(), fingerprint));
                        continue;
                    }
                    None => Change::New,
                };
                let what = match change {
                    Change::New => "a new tool",
                    Change::Changed => "a changed tool definition",
                };
                match mode {
                    ToolChanges::Allow => {
                        tracing::info!(server = %server, tool = name, "{what} approved (tool_changes: allow)");
                        self.metrics.tool_change(server, "allowed");
                    }
                    ToolChanges::Warn => {
                        tracing::warn!(server = %server, tool = name, "{what} approved without review (tool_changes: warn); set tool_changes: hold to hold such changes for approval");
                        self.metrics.tool_change(server, "warned");
                    }
                    ToolChanges::Hold => {
                        tracing::warn!(server = %server, tool = name, "{what} is held until an operator approves it (POST /mcp/servers/{server}/tools/{name}/approve)");
                        self.metrics.tool_change(server, "held");
                        held.insert(
                            name.to_owned(),
                            HeldTool {
                                change,
                                fingerprint,
                            },
                        );
                        continue;
                    }
                }
                approved.insert(name.to_owned(), fingerprint.clone());
                newly_approved.push((name.to_owned(), fingerprint));
            }
        }
        self.persist(server, newly_approved);
        held
    }

    /// Stores approvals made without an operator, off the discovery path. A failure is
    /// logged: the approval holds in memory, and the tool is reviewed again after a restart.
    fn persist(&self, server: &str, approvals: Vec<(String, String)>) {
        if approvals.is_empty() {
            return;
        }
        let store = self.store.clone();
        let server = server.to_owned();
        tokio::spawn(async move {
            for (tool, fingerprint) in approvals {
                let approval = ToolApproval {
                    server_id: server.clone(),
                    tool,
                    fingerprint,
                };
                if let Err(error) = store.save_tool_approval(&approval).await {
                    tracing::error!(server = %server, tool = %approval.tool, %error, "tool approval not stored");
                }
            }
        });
    }

    /// An operator approved `tool` of `server` as `fingerprint` (stored by the caller).
    pub fn approve(&self, server: &str, tool: &str, fingerprint: &str) {
        self.lock()
            .entry(server.to_owned())
            .or_default()
            .insert(tool.to_owned(), fingerprint.to_owned());
        self.metrics.tool_change(server, "approved");
    }

    /// The server was removed: a server registered again under its id is new.
    pub fn forget(&self, server: &str) {
        self.lock().remove(server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(description: &str) -> Tool {
        let schema = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let serde_json::Value::Object(schema) = schema else {
            unreachable!()
        };
        Tool::new("t", description.to_owned(), Arc::new(schema))
    }

    #[test]
    fn the_fingerprint_follows_the_definition_not_the_key_order() {
        let a = tool("Reads a file.");
        let mut b = a.clone();
        let mut reordered = serde_json::Map::new();
        for (k, v) in a.input_schema.iter().rev() {
            reordered.insert(k.clone(), v.clone());
        }
        b.input_schema = Arc::new(reordered);
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(
            fingerprint(&a),
            fingerprint(&tool("Reads a file, then mails it."))
        );
        assert_eq!(fingerprint(&a).len(), 64);
    }
}

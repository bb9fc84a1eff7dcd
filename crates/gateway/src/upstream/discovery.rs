//! Discovery: what one upstream offers (every page of tools, resources, resource templates
//! and prompts), fetched after connecting and again on `list_changed`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::{UpstreamError, UpstreamPeer};

/// Everything one upstream offers, as last discovered.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub resource_templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    /// When this catalog was fetched; `None` for a server never discovered.
    pub fetched_at: Option<DateTime<Utc>>,
    /// Tools the upstream lists only to clients that can be asked something (sampling,
    /// elicitation, roots): `tools` holds them too, and only such clients are shown them.
    pub asking_only: BTreeSet<String>,
    /// Whether `asking_only` was looked for (see [`discover_asking_tools`]).
    pub asking_discovered: bool,
    /// Tools withheld until an operator approves them (`tools` holds them too; see
    /// `registry::approvals`): set by the registry when it takes the catalog in.
    pub held: BTreeMap<String, crate::registry::HeldTool>,
}

impl Catalog {
    /// Whether it lists nothing at all.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
            && self.resources.is_empty()
            && self.resource_templates.is_empty()
            && self.prompts.is_empty()
    }

    /// Whether both list the same items (when they were fetched aside).
    pub fn same_content(&self, other: &Catalog) -> bool {
        self.asking_only == other.asking_only
            && self.asking_discovered == other.asking_discovered
            && self.tools == other.tools
            && self.resources == other.resources
            && self.resource_templates == other.resource_templates
            && self.prompts == other.prompts
    }

    /// Item counts for the REST API's server view.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("tools", self.tools.len()),
            ("resources", self.resources.len()),
            ("resource_templates", self.resource_templates.len()),
            ("prompts", self.prompts.len()),
        ])
    }
}

/// Fetches every list the upstream advertises in its capabilities. A list the server does
/// not advertise is left empty rather than asked for (and failing).
pub async fn discover(peer: &UpstreamPeer) -> Result<Catalog, UpstreamError> {
    let caps = peer
        .peer_info()
        .map(|info| info.capabilities.clone())
        .unwrap_or_default();
    let tools = match caps.tools {
        Some(_) => peer.list_all_tools().await?,
        None => Vec::new(),
    };
    let (resources, resource_templates) = match caps.resources {
        Some(_) => (
            peer.list_all_resources().await?,
            // Some servers offer resources but not templates; treat "method not found" as none.
            peer.list_all_resource_templates()
                .await
                .or_else(empty_if_unsupported)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let prompts = match caps.prompts {
        Some(_) => peer.list_all_prompts().await?,
        None => Vec::new(),
    };
    Ok(Catalog {
        tools,
        resources,
        resource_templates,
        prompts,
        fetched_at: Some(Utc::now()),
        ..Catalog::default()
    })
}

impl Catalog {
    /// Adds the tools an upstream lists to a client that can be asked everything
    /// (`asking_tools`, listed on a session declaring sampling, elicitation and roots) but
    /// not to one that can be asked nothing (this catalog's).
    pub fn with_asking_tools(mut self, asking_tools: Vec<Tool>) -> Self {
        let plain: BTreeSet<String> = self.tools.iter().map(|t| t.name.to_string()).collect();
        for tool in asking_tools {
            if !plain.contains(&*tool.name) && self.asking_only.insert(tool.name.to_string()) {
                self.tools.push(tool);
            }
        }
        self.asking_discovered = true;
        self
    }
}

/// Every tool an upstream lists on `peer`, a session declaring every client capability.
pub async fn discover_asking_tools(peer: &UpstreamPeer) -> Result<Vec<Tool>, UpstreamError> {
    let offers_tools = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.tools.is_some());
    if !offers_tools {
        return Ok(Vec::new());
    }
    Ok(peer.list_all_tools().await?)
}

fn empty_if_unsupported<T>(e: rmcp::ServiceError) -> Result<Vec<T>, UpstreamError> {
    match e {
        rmcp::ServiceError::McpError(ref m)
            if m.code == rmcp::model::ErrorCode::METHOD_NOT_FOUND =>
        {
            Ok(Vec::new())
        }
        other => Err(other.into()),
    }
}

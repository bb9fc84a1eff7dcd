//! Discovery: what one upstream offers (every page of tools, resources, resource templates
//! and prompts), fetched after connecting and again on `list_changed`.

use std::collections::BTreeMap;

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
        self.tools == other.tools
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
    })
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

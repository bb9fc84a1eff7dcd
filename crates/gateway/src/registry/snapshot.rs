//! One immutable view of the registry: servers in registration order, their catalogs, and
//! the routing tables from exposed names to (server, upstream name).

use std::{collections::HashMap, sync::Arc};

use indexmap::IndexMap;
use rmcp::model::{Prompt, Resource, Tool};

use super::ServerRuntime;
use crate::{
    model::{ServerRecord, ServerView, Source},
    upstream::Catalog,
};

/// A registered server as of one snapshot.
#[derive(Debug)]
pub struct ServerEntry {
    pub record: Arc<ServerRecord>,
    pub source: Source,
    pub catalog: Arc<Catalog>,
    pub runtime: Arc<ServerRuntime>,
}

impl ServerEntry {
    pub(super) fn new(record: ServerRecord, source: Source) -> Self {
        Self {
            record: Arc::new(record),
            source,
            catalog: Arc::new(Catalog::default()),
            runtime: Arc::new(ServerRuntime::default()),
        }
    }

    pub(super) fn with_catalog(&self, catalog: Catalog) -> Self {
        Self {
            record: self.record.clone(),
            source: self.source,
            catalog: Arc::new(catalog),
            runtime: self.runtime.clone(),
        }
    }

    /// The REST API's view of this server.
    pub fn view(&self) -> ServerView {
        ServerView::new(
            &self.record,
            self.source,
            self.runtime.health(),
            self.catalog.counts(),
        )
    }

    /// Discovered tools that pass the allowlist.
    pub fn allowed_tools(&self) -> impl Iterator<Item = &Tool> {
        self.catalog
            .tools
            .iter()
            .filter(|t| self.record.allows_tool(&t.name))
    }

    /// Discovered resources that pass the allowlist.
    pub fn allowed_resources(&self) -> impl Iterator<Item = &Resource> {
        self.catalog
            .resources
            .iter()
            .filter(|r| self.record.allows_resource(&r.name, &r.uri))
    }

    /// Discovered prompts (the registration has no prompt allowlist).
    pub fn prompts(&self) -> impl Iterator<Item = &Prompt> {
        self.catalog.prompts.iter()
    }

    /// Allowlisted tool names that were not discovered (upstream down, or no such tool).
    pub fn missing_tools(&self) -> impl Iterator<Item = &str> {
        self.record
            .tools
            .iter()
            .filter(|name| !self.catalog.tools.iter().any(|t| t.name == name.as_str()))
            .map(String::as_str)
    }

    /// Allowlisted resources that match no discovered resource by name or URI.
    pub fn missing_resources(&self) -> impl Iterator<Item = &str> {
        self.record
            .resources
            .iter()
            .filter(|want| {
                !self
                    .catalog
                    .resources
                    .iter()
                    .any(|r| &r.name == *want || &r.uri == *want)
            })
            .map(String::as_str)
    }
}

/// Where an exposed name leads.
#[derive(Debug, Clone)]
pub struct Route {
    pub server_id: Arc<str>,
    /// The name the upstream knows the item by.
    pub upstream_name: Arc<str>,
}

/// The registry at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub servers: IndexMap<String, Arc<ServerEntry>>,
    separator: String,
    tools: HashMap<String, Route>,
    prompts: HashMap<String, Route>,
    /// Resource URI → server; the first registered server wins a duplicated URI.
    resources: HashMap<String, Arc<str>>,
}

impl Snapshot {
    pub(super) fn build(servers: IndexMap<String, Arc<ServerEntry>>, separator: &str) -> Self {
        let mut tools = HashMap::new();
        let mut prompts = HashMap::new();
        let mut resources = HashMap::new();
        for (id, entry) in &servers {
            let server_id: Arc<str> = Arc::from(id.as_str());
            for tool in entry.allowed_tools() {
                tools.insert(
                    exposed_name(id, separator, &tool.name),
                    route(&server_id, &tool.name),
                );
            }
            for prompt in entry.prompts() {
                prompts.insert(
                    exposed_name(id, separator, &prompt.name),
                    route(&server_id, &prompt.name),
                );
            }
            for resource in entry.allowed_resources() {
                resources
                    .entry(resource.uri.clone())
                    .or_insert_with(|| server_id.clone());
            }
        }
        Self {
            servers,
            separator: separator.to_owned(),
            tools,
            prompts,
            resources,
        }
    }

    /// The name a server's item is exposed under.
    pub fn exposed_name(&self, server_id: &str, name: &str) -> String {
        exposed_name(server_id, &self.separator, name)
    }

    /// Resolves an exposed tool name.
    pub fn route_tool(&self, exposed: &str) -> Option<(&Arc<ServerEntry>, &Route)> {
        let route = self.tools.get(exposed)?;
        Some((self.servers.get(&*route.server_id)?, route))
    }

    /// Resolves an exposed prompt name.
    pub fn route_prompt(&self, exposed: &str) -> Option<(&Arc<ServerEntry>, &Route)> {
        let route = self.prompts.get(exposed)?;
        Some((self.servers.get(&*route.server_id)?, route))
    }

    /// The server that offers a resource URI.
    pub fn route_resource(&self, uri: &str) -> Option<&Arc<ServerEntry>> {
        self.servers.get(&**self.resources.get(uri)?)
    }

    /// Number of routable tools.
    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}

fn exposed_name(server_id: &str, separator: &str, name: &str) -> String {
    let mut out = String::with_capacity(server_id.len() + separator.len() + name.len());
    out.push_str(server_id);
    out.push_str(separator);
    out.push_str(name);
    out
}

fn route(server_id: &Arc<str>, name: &str) -> Route {
    Route {
        server_id: server_id.clone(),
        upstream_name: Arc::from(name),
    }
}

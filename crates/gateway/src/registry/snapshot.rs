//! One immutable view of the registry: servers in registration order, their catalogs, and
//! the routing tables from exposed names to (server, upstream name).

use std::{
    collections::BTreeMap,
    sync::{Arc, OnceLock},
};

use bytes::Bytes;

use indexmap::IndexMap;
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use super::{
    ServerRuntime,
    approvals::HeldTool,
    naming::{NamePolicy, Naming, Owners},
};
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
    /// The state of the record's `tool_limits`, by tool name.
    pub tool_limits: Arc<std::collections::HashMap<String, Arc<crate::access::Limits>>>,
    /// Content hashes of what this server exposes, to tell real list changes from refreshes.
    pub fingerprint: Fingerprint,
    /// This entry's routes, built once and shared by every snapshot that holds the entry.
    routes: OnceLock<EntryRoutes>,
}

/// The routes one entry contributes to the aggregate: tools and prompts as exposed under
/// the `prefix_always` policy (the names of the others depend on the other servers), and
/// resources and templates, whose keys never depend on other servers.
#[derive(Debug)]
struct EntryRoutes {
    tools: Vec<(String, Route<Tool>)>,
    prompts: Vec<(String, Route<Prompt>)>,
    resources: Vec<(String, Route<Resource>)>,
    templates: Vec<(String, TemplateRoute)>,
}

/// Content hashes of the exposed tools, prompts and resources (templates included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    pub tools: u64,
    pub prompts: u64,
    pub resources: u64,
}

impl Fingerprint {
    fn of(entry: &ServerEntry) -> Self {
        Self {
            tools: hash_items(entry.allowed_tools()),
            prompts: hash_items(entry.prompts()),
            resources: combine(
                hash_items(entry.allowed_resources()),
                hash_items(entry.catalog.resource_templates.iter()),
            ),
        }
    }
}

/// Two list hashes as one; 0 only when both lists are empty.
fn combine(a: u64, b: u64) -> u64 {
    if a == 0 && b == 0 {
        0
    } else {
        (a.rotate_left(1) ^ b) | 1
    }
}

/// A content hash of a list; 0 for an empty list.
fn hash_items<'a, T: serde::Serialize + 'a>(items: impl Iterator<Item = &'a T>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut any = false;
    for item in items {
        any = true;
        serde_json::to_vec(item)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    if any { hasher.finish() | 1 } else { 0 }
}

impl ServerEntry {
    pub(super) fn new(record: ServerRecord, source: Source) -> Self {
        // The record was validated: its limits are well-formed.
        let tool_limits = record
            .tool_limits
            .iter()
            .filter_map(|(tool, limit)| {
                let limits = crate::access::Limits::new(Some(limit)).ok()?;
                Some((tool.clone(), Arc::new(limits)))
            })
            .collect();
        Self {
            tool_limits: Arc::new(tool_limits),
            record: Arc::new(record),
            source,
            catalog: Arc::new(Catalog::default()),
            runtime: Arc::new(ServerRuntime::default()),
            fingerprint: Fingerprint::default(),
            routes: OnceLock::new(),
        }
        .fingerprinted()
    }

    pub(super) fn with_catalog(&self, catalog: Catalog) -> Self {
        Self {
            record: self.record.clone(),
            source: self.source,
            catalog: Arc::new(catalog),
            runtime: self.runtime.clone(),
            tool_limits: self.tool_limits.clone(),
            fingerprint: Fingerprint::default(),
            routes: OnceLock::new(),
        }
        .fingerprinted()
    }

    /// This server as one caller reaches it: the record with the caller's own
    /// credential in place of its `auth_value` (servers with `credentials: per_user`).
    pub fn for_caller(&self, credential: crate::secret::Secret) -> Self {
        let mut record = ServerRecord::clone(&self.record);
        record.auth_value = Some(credential);
        Self {
            record: Arc::new(record),
            source: self.source,
            catalog: self.catalog.clone(),
            runtime: self.runtime.clone(),
            tool_limits: self.tool_limits.clone(),
            fingerprint: self.fingerprint,
            routes: OnceLock::new(),
        }
    }

    fn fingerprinted(mut self) -> Self {
        self.fingerprint = Fingerprint::of(&self);
        self
    }

    /// This entry's routes (see [`EntryRoutes`]); `naming` is the registry's, which never
    /// changes, so they are built once.
    fn routes(&self, naming: &Naming) -> &EntryRoutes {
        self.routes.get_or_init(|| {
            let id = self.record.server_id.as_str();
            let server_id: Arc<str> = Arc::from(id);
            let (mut tools, mut prompts) = (Vec::new(), Vec::new());
            if naming.policy == NamePolicy::PrefixAlways {
                for tool in self.allowed_tools() {
                    let exposed = naming.prefixed(id, &tool.name);
                    let mut renamed = tool.clone();
                    renamed.name = exposed.clone().into();
                    tools.push((exposed, route(&server_id, &tool.name, renamed)));
                }
                for prompt in self.prompts() {
                    let exposed = naming.prefixed(id, &prompt.name);
                    let mut renamed = prompt.clone();
                    renamed.name = exposed.clone();
                    prompts.push((exposed, route(&server_id, &prompt.name, renamed)));
                }
            }
            let resources = self
                .allowed_resources()
                .map(|r| (r.uri.clone(), route(&server_id, &r.name, r.clone())))
                .collect();
            let templates = self
                .catalog
                .resource_templates
                .iter()
                .map(|t| {
                    let key = format!("{id} {}", t.uri_template);
                    let route = TemplateRoute {
                        server_id: server_id.clone(),
                        template: Arc::new(t.clone()),
                    };
                    (key, route)
                })
                .collect();
            EntryRoutes {
                tools,
                prompts,
                resources,
                templates,
            }
        })
    }

    /// The REST API's view of this server.
    pub fn view(&self) -> ServerView {
        let mut view = ServerView::new(
            &self.record,
            self.source,
            self.runtime.health(),
            self.catalog.counts(),
            BTreeMap::from([
                ("tools", self.allowed_tools().count()),
                ("resources", self.allowed_resources().count()),
                ("resource_templates", self.catalog.resource_templates.len()),
                ("prompts", self.prompts().count()),
            ]),
        );
        view.held_tools = self.catalog.held.clone();
        view
    }

    /// Discovered tools that pass the allowlist and are not held for approval.
    pub fn allowed_tools(&self) -> impl Iterator<Item = &Tool> {
        self.catalog.tools.iter().filter(|t| {
            self.record.allows_tool(&t.name) && !self.catalog.held.contains_key(&*t.name)
        })
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

/// Where an exposed name leads, and the item as exposed (renamed for the aggregate).
#[derive(Debug, Clone)]
pub struct Route<T> {
    pub server_id: Arc<str>,
    /// The name the upstream knows the item by.
    pub upstream_name: Arc<str>,
    /// The item with its exposed name.
    pub item: Arc<T>,
}

/// A resource template and the server that offers it.
#[derive(Debug, Clone)]
pub struct TemplateRoute {
    pub server_id: Arc<str>,
    pub template: Arc<ResourceTemplate>,
}

/// The registry at one moment. The exposed catalogs are ordered maps so that pagination
/// can resume after the last key it returned: every item is listed exactly once even if
/// the registry changes between pages.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Different for every snapshot built (0 only for the empty default): what caches of
    /// decisions about a snapshot's contents are keyed by.
    pub generation: u64,
    pub servers: IndexMap<String, Arc<ServerEntry>>,
    naming: Naming,
    // The routing tables, each shared with the previous snapshot when no server that
    // offers anything changed (a server registered or removed before its first discovery).
    /// Upstream tool name → servers offering it (for the naming policies other than
    /// `prefix_always`, which leaves it empty).
    tool_owners: Arc<Owners>,
    /// Upstream prompt name → servers offering it (likewise).
    prompt_owners: Arc<Owners>,
    /// Exposed tool name → route.
    pub tools: Arc<BTreeMap<String, Route<Tool>>>,
    /// Exposed prompt name → route.
    pub prompts: Arc<BTreeMap<String, Route<Prompt>>>,
    /// Resource URI → route; the first registered server wins a duplicated URI.
    pub resources: Arc<BTreeMap<String, Route<Resource>>>,
    /// `<server_id> <uri_template>` → template; URIs are not renamed, so a template is
    /// matched against a URI when reading.
    pub templates: Arc<BTreeMap<String, TemplateRoute>>,
    /// The REST lists of this snapshot, serialised on first use (see `admin::catalog`).
    pub rest: RestCache,
}

/// The tables of a [`Snapshot`] as built (the fields mean the same there).
#[derive(Debug, Default)]
struct Tables {
    tool_owners: Owners,
    prompt_owners: Owners,
    tools: BTreeMap<String, Route<Tool>>,
    prompts: BTreeMap<String, Route<Prompt>>,
    resources: BTreeMap<String, Route<Resource>>,
    templates: BTreeMap<String, TemplateRoute>,
}

/// The JSON answers of `GET /mcp/tools`, `/mcp/resources` and `/mcp/prompts`, which are
/// functions of the snapshot alone, kept with it so each is built once per registry change.
#[derive(Debug, Default)]
pub struct RestCache {
    pub tools: OnceLock<Bytes>,
    pub resources: OnceLock<Bytes>,
    pub prompts: OnceLock<Bytes>,
    /// The `/mcp` `tools/list` pages of the aggregate, serialised on first use (see
    /// `downstream::direct`).
    pub mcp_tool_pages: OnceLock<SerializedPages>,
}

/// A paginated list, each page's result serialised for both protocol eras, found by the
/// cursor that asks for it (`None` for the first page).
#[derive(Debug, Default)]
pub struct SerializedPages {
    /// (session-era form, 2026-07-28 form) of each page's result.
    pub pages: Vec<(Bytes, Bytes)>,
    pub by_cursor: std::collections::HashMap<Option<String>, usize>,
}

fn next_generation() -> u64 {
    static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Snapshot {
    /// The snapshot of `servers`, reusing `previous`'s tables when the servers that offer
    /// anything are the same, in the same order, with the same records and catalogs.
    pub(super) fn build(
        servers: IndexMap<String, Arc<ServerEntry>>,
        previous: &Snapshot,
        naming: &Naming,
    ) -> Self {
        let offering = |s: &IndexMap<String, Arc<ServerEntry>>| {
            s.values()
                .filter(|e| !e.catalog.is_empty())
                .map(|e| (Arc::as_ptr(&e.record), Arc::as_ptr(&e.catalog)))
                .collect::<Vec<_>>()
        };
        if offering(&servers) == offering(&previous.servers) {
            return Self {
                generation: next_generation(),
                servers,
                naming: naming.clone(),
                tool_owners: previous.tool_owners.clone(),
                prompt_owners: previous.prompt_owners.clone(),
                tools: previous.tools.clone(),
                prompts: previous.prompts.clone(),
                resources: previous.resources.clone(),
                templates: previous.templates.clone(),
                rest: RestCache::default(),
            };
        }
        let tables = Tables::build(&servers, naming);
        Self {
            generation: next_generation(),
            servers,
            naming: naming.clone(),
            tool_owners: Arc::new(tables.tool_owners),
            prompt_owners: Arc::new(tables.prompt_owners),
            tools: Arc::new(tables.tools),
            prompts: Arc::new(tables.prompts),
            resources: Arc::new(tables.resources),
            templates: Arc::new(tables.templates),
            rest: RestCache::default(),
        }
    }

    /// The name a server's tool is exposed under at `/mcp`, or `None` when the naming
    /// policy hides it (a rejected conflict).
    pub fn exposed_tool_name(&self, server_id: &str, name: &str) -> Option<String> {
        self.naming.expose(&self.tool_owners, server_id, name)
    }

    /// `<server_id><sep><name>`, whatever the naming policy exposes (what API keys' tool
    /// patterns are written against).
    pub fn qualified_tool_name(&self, server_id: &str, name: &str) -> String {
        self.naming.prefixed(server_id, name)
    }

    /// [`Self::exposed_tool_name`] for prompts.
    pub fn exposed_prompt_name(&self, server_id: &str, name: &str) -> Option<String> {
        self.naming.expose(&self.prompt_owners, server_id, name)
    }

    /// Whether a tool is listed only to clients that can be asked something (see
    /// [`crate::upstream::Catalog::asking_only`]).
    pub fn asking_only(&self, route: &Route<Tool>) -> bool {
        self.servers
            .get(&*route.server_id)
            .is_some_and(|e| e.catalog.asking_only.contains(&*route.upstream_name))
    }

    /// Whether any server lists tools only to clients that can be asked something.
    pub fn has_asking_only_tools(&self) -> bool {
        self.servers
            .values()
            .any(|e| !e.catalog.asking_only.is_empty())
    }

    /// Resolves an exposed tool name.
    pub fn route_tool(&self, exposed: &str) -> Option<(&Arc<ServerEntry>, &Route<Tool>)> {
        let route = self.tools.get(exposed)?;
        Some((self.servers.get(&*route.server_id)?, route))
    }

    /// The server of an allowlisted tool listed (as not available) under `exposed` because
    /// that server is down: a call to it is told the server is unavailable, not that the
    /// tool does not exist (REST and MCP faces alike).
    /// Only a tool `access` allows: for any other the name is unknown.
    pub fn down_server_of_listed_tool(
        &self,
        exposed: &str,
        access: &crate::access::Access,
    ) -> Option<&Arc<ServerEntry>> {
        self.servers.values().find(|entry| {
            let id = &entry.record.server_id;
            entry.runtime.peer().is_none()
                && entry.missing_tools().any(|name| {
                    self.exposed_tool_name(id, name).as_deref() == Some(exposed)
                        && access.allows_tool(self, id, name)
                })
        })
    }

    /// The tool held for approval that `exposed` names, with its server and its name
    /// there: why a call of it is refused.
    pub fn held_tool(&self, exposed: &str) -> Option<(&Arc<ServerEntry>, &str, &HeldTool)> {
        self.servers.values().find_map(|entry| {
            let id = &entry.record.server_id;
            entry
                .catalog
                .held
                .iter()
                .find(|(name, _)| {
                    name.as_str() == exposed || self.qualified_tool_name(id, name) == exposed
                })
                .map(|(name, held)| (entry, name.as_str(), held))
        })
    }

    /// Resolves an exposed prompt name.
    pub fn route_prompt(&self, exposed: &str) -> Option<(&Arc<ServerEntry>, &Route<Prompt>)> {
        let route = self.prompts.get(exposed)?;
        Some((self.servers.get(&*route.server_id)?, route))
    }

    /// The server that offers a resource URI: a listed resource, else the first server
    /// with a template that matches the URI.
    pub fn route_resource(&self, uri: &str) -> Option<&Arc<ServerEntry>> {
        if let Some(route) = self.resources.get(uri) {
            return self.servers.get(&*route.server_id);
        }
        self.servers.values().find(|entry| {
            entry
                .catalog
                .resource_templates
                .iter()
                .any(|t| template_matches(&t.uri_template, uri))
        })
    }

    /// Number of routable tools.
    pub fn tool_count(&self) -> usize {
        self.tools.len()
    }
}

/// Whether `uri` can be produced by the RFC 6570 template `template`: literal parts must
/// match in order, each `{…}` expression matches any (possibly empty) run of characters.
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return template == uri,
        }
    }
    let tail = rest;
    if literals.is_empty() {
        return template == uri;
    }
    let Some(mut remaining) = uri.strip_prefix(literals[0]) else {
        return false;
    };
    for literal in &literals[1..] {
        if literal.is_empty() {
            continue;
        }
        match remaining.find(literal) {
            Some(at) => remaining = &remaining[at + literal.len()..],
            None => return false,
        }
    }
    // The last expression takes everything up to the trailing literal.
    tail.is_empty() || (remaining.ends_with(tail))
}

impl Tables {
    fn build(servers: &IndexMap<String, Arc<ServerEntry>>, naming: &Naming) -> Self {
        let mut tables = Self::default();
        // Under `prefix_always` a name never depends on the other servers: the entries'
        // prebuilt routes are merged as they are (the first registered server keeps a
        // duplicated key). The other policies need every server's names first.
        let prefix_always = naming.policy == NamePolicy::PrefixAlways;
        if !prefix_always {
            for (id, entry) in servers {
                let server_id: Arc<str> = Arc::from(id.as_str());
                for tool in entry.allowed_tools() {
                    tables
                        .tool_owners
                        .entry(tool.name.to_string())
                        .or_default()
                        .push(server_id.clone());
                }
                for prompt in entry.prompts() {
                    tables
                        .prompt_owners
                        .entry(prompt.name.clone())
                        .or_default()
                        .push(server_id.clone());
                }
            }
        }
        if prefix_always {
            tables.tools = merged(servers.values().map(|e| &e.routes(naming).tools[..]));
            tables.prompts = merged(servers.values().map(|e| &e.routes(naming).prompts[..]));
        } else {
            for (id, entry) in servers {
                let server_id: Arc<str> = Arc::from(id.as_str());
                for tool in entry.allowed_tools() {
                    let Some(exposed) = naming.expose(&tables.tool_owners, id, &tool.name) else {
                        continue;
                    };
                    let mut renamed = tool.clone();
                    renamed.name = exposed.clone().into();
                    let route = route(&server_id, &tool.name, renamed);
                    tables.tools.entry(exposed).or_insert(route);
                }
                for prompt in entry.prompts() {
                    let Some(exposed) = naming.expose(&tables.prompt_owners, id, &prompt.name)
                    else {
                        continue;
                    };
                    let mut renamed = prompt.clone();
                    renamed.name = exposed.clone();
                    let route = route(&server_id, &prompt.name, renamed);
                    tables.prompts.entry(exposed).or_insert(route);
                }
            }
        }
        tables.resources = merged(servers.values().map(|e| &e.routes(naming).resources[..]));
        for entry in servers.values() {
            for (key, route) in &entry.routes(naming).templates {
                tables.templates.insert(key.clone(), route.clone());
            }
        }
        tables
    }
}

/// The union of the servers' keyed routes, in registration order; the first server keeps
/// a key that several produce. Sorting (stable, so registration order stays among equal
/// keys) and building the map from sorted input costs far less than inserting each key
/// into a tree, and the input is mostly sorted already.
fn merged<'a, V: Clone + 'a>(
    parts: impl Iterator<Item = &'a [(String, V)]>,
) -> BTreeMap<String, V> {
    let mut all: Vec<&(String, V)> = parts.flatten().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|later, earlier| later.0 == earlier.0);
    all.into_iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn route<T>(server_id: &Arc<str>, name: &str, item: T) -> Route<T> {
    Route {
        server_id: server_id.clone(),
        upstream_name: Arc::from(name),
        item: Arc::new(item),
    }
}

#[cfg(test)]
mod tests {
    use super::template_matches;

    #[test]
    fn templates_match_uris() {
        assert!(template_matches(
            "fixture://items/{id}",
            "fixture://items/42"
        ));
        assert!(template_matches("file:///{path}", "file:///a/b.txt"));
        assert!(template_matches(
            "db://{table}/rows/{id}.json",
            "db://users/rows/7.json"
        ));
        assert!(!template_matches(
            "db://{table}/rows/{id}.json",
            "db://users/cols/7.json"
        ));
        assert!(!template_matches(
            "fixture://items/{id}",
            "other://items/42"
        ));
        assert!(template_matches("plain://uri", "plain://uri"));
        assert!(!template_matches("plain://uri", "plain://other"));
    }
}

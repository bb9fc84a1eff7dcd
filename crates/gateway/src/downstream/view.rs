//! What one MCP endpoint shows: the aggregate of every server (`/mcp`, prefixed names) or
//! one server (`/mcp/servers/{id}/mcp`, upstream names), as ordered maps, and the
//! gateway's own opaque pagination cursors over them.

use std::{borrow::Cow, collections::BTreeMap, ops::Bound, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};

use crate::registry::{Fingerprint, Route, ServerEntry, Snapshot, TemplateRoute, template_matches};

/// Items per page of a list result. Large: clients read every page anyway, and each page
/// is a round trip (10,000 tools: 10 pages of about 220 KB).
pub const PAGE_SIZE: usize = 1000;

/// Which servers an endpoint exposes.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Every server; names are `<server_id><sep><name>`.
    All,
    /// One server; names are the upstream's own.
    Server(Arc<str>),
}

/// The lists an endpoint serves, keyed by the name (or URI) clients see. The aggregate
/// borrows the snapshot's maps; a single server's view is built per request.
pub struct View<'a> {
    pub tools: Cow<'a, BTreeMap<String, Route<Tool>>>,
    pub prompts: Cow<'a, BTreeMap<String, Route<Prompt>>>,
    pub resources: Cow<'a, BTreeMap<String, Route<Resource>>>,
    pub templates: Cow<'a, BTreeMap<String, TemplateRoute>>,
}

impl Scope {
    /// The view of this scope in a snapshot. The aggregate is prebuilt in the snapshot;
    /// a single server's view is built from its entry (small).
    pub fn view<'a>(&self, snapshot: &'a Snapshot) -> View<'a> {
        match self {
            Scope::All => View {
                tools: Cow::Borrowed(&snapshot.tools),
                prompts: Cow::Borrowed(&snapshot.prompts),
                resources: Cow::Borrowed(&snapshot.resources),
                templates: Cow::Borrowed(&snapshot.templates),
            },
            Scope::Server(id) => single(id, snapshot.servers.get(&**id).map(|e| &**e)),
        }
    }

    /// Where a `tools/call` of `name` goes. At `/mcp`, a listed (prefixed) name only. On
    /// one server's endpoint, any name its allowlist lets through, listed or not: with no
    /// allowlist the upstream decides whether the tool exists, as when it is called
    /// directly; a name outside the allowlist is unknown. A tool the upstream lists only
    /// to clients that can be asked something is unknown to others (`asks`: whether the
    /// caller can be).
    pub fn tool(&self, snapshot: &Snapshot, name: &str, asks: bool) -> Option<Target> {
        match self {
            Scope::All => snapshot
                .tools
                .get(name)
                .filter(|route| asks || !snapshot.asking_only(route))
                .map(Target::of),
            Scope::Server(id) => {
                let entry = snapshot.servers.get(&**id)?;
                let shown = asks || !entry.catalog.asking_only.contains(name);
                let held = entry.catalog.held.contains_key(name);
                (shown && !held && entry.record.allows_tool(name)).then(|| Target::named(id, name))
            }
        }
    }

    /// Where a request for the prompt `name` goes (`prompts/get`, completion of its
    /// arguments): as [`Scope::tool`]; prompts have no allowlist, so on one server's
    /// endpoint every name goes to its upstream.
    pub fn prompt(&self, snapshot: &Snapshot, name: &str) -> Option<Target> {
        match self {
            Scope::All => snapshot.prompts.get(name).map(Target::of),
            Scope::Server(id) => {
                snapshot.servers.get(&**id)?;
                Some(Target::named(id, name))
            }
        }
    }

    /// The server that answers for a resource URI (`resources/read`, `subscribe`, …): a
    /// listed resource that passes the allowlist, else a server with a resource template
    /// that matches the URI. On one server's endpoint also any other URI the allowlist
    /// lets through (with no allowlist, every URI: the upstream decides).
    pub fn resource_server(&self, snapshot: &Snapshot, uri: &str) -> Option<Arc<str>> {
        match self {
            Scope::All => {
                if let Some(route) = snapshot.resources.get(uri) {
                    return Some(route.server_id.clone());
                }
                snapshot
                    .templates
                    .values()
                    .find(|t| template_matches(&t.template.uri_template, uri))
                    .map(|t| t.server_id.clone())
            }
            Scope::Server(id) => {
                let entry = snapshot.servers.get(&**id)?;
                // The allowlist names a resource by its name or its URI.
                let name = entry
                    .catalog
                    .resources
                    .iter()
                    .find(|r| r.uri == uri)
                    .map_or(uri, |r| r.name.as_str());
                let by_template = || {
                    entry
                        .catalog
                        .resource_templates
                        .iter()
                        .any(|t| template_matches(&t.uri_template, uri))
                };
                (entry.record.allows_resource(name, uri) || by_template()).then(|| id.clone())
            }
        }
    }

    /// A value that changes when what this scope exposes changes.
    pub fn fingerprint(&self, snapshot: &Snapshot) -> Vec<(String, Fingerprint)> {
        let servers = snapshot.servers.iter().filter(|(id, _)| match self {
            Scope::All => true,
            Scope::Server(wanted) => id.as_str() == &**wanted,
        });
        servers.map(|(id, e)| (id.clone(), e.fingerprint)).collect()
    }
}

/// Where a request for one name goes: the server, and the name its upstream knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server_id: Arc<str>,
    pub upstream_name: Arc<str>,
}

impl Target {
    fn of<T>(route: &Route<T>) -> Self {
        Self {
            server_id: route.server_id.clone(),
            upstream_name: route.upstream_name.clone(),
        }
    }

    fn named(server_id: &Arc<str>, name: &str) -> Self {
        Self {
            server_id: server_id.clone(),
            upstream_name: Arc::from(name),
        }
    }
}

fn single(id: &Arc<str>, entry: Option<&ServerEntry>) -> View<'static> {
    let route = |name: &str| (id.clone(), Arc::<str>::from(name));
    let (mut tools, mut prompts, mut resources, mut templates) = (
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let Some(entry) = entry else {
        return View {
            tools: Cow::Owned(tools),
            prompts: Cow::Owned(prompts),
            resources: Cow::Owned(resources),
            templates: Cow::Owned(templates),
        };
    };
    for tool in entry.allowed_tools() {
        let (server_id, upstream_name) = route(&tool.name);
        let item = Arc::new(tool.clone());
        tools.insert(
            tool.name.to_string(),
            Route {
                server_id,
                upstream_name,
                item,
            },
        );
    }
    for prompt in entry.prompts() {
        let (server_id, upstream_name) = route(&prompt.name);
        let item = Arc::new(prompt.clone());
        prompts.insert(
            prompt.name.clone(),
            Route {
                server_id,
                upstream_name,
                item,
            },
        );
    }
    for resource in entry.allowed_resources() {
        let (server_id, upstream_name) = route(&resource.name);
        let item = Arc::new(resource.clone());
        resources.insert(
            resource.uri.clone(),
            Route {
                server_id,
                upstream_name,
                item,
            },
        );
    }
    for template in &entry.catalog.resource_templates {
        templates.insert(
            template.uri_template.clone(),
            TemplateRoute {
                server_id: id.clone(),
                template: Arc::new(template.clone()),
            },
        );
    }
    View {
        tools: Cow::Owned(tools),
        prompts: Cow::Owned(prompts),
        resources: Cow::Owned(resources),
        templates: Cow::Owned(templates),
    }
}

/// A cursor that was not issued by this gateway (or is damaged).
#[derive(Debug, thiserror::Error)]
#[error("invalid pagination cursor")]
pub struct BadCursor;

/// One page of the items of `map` that `keep` accepts after the cursor's key, and the
/// cursor for the next page. The cursor is the last key returned, so items added or
/// removed between pages never make another item repeat or vanish, and pages stay exact
/// whatever is skipped.
pub fn page_where<V, T>(
    map: &BTreeMap<String, V>,
    cursor: Option<&str>,
    keep: impl Fn(&V) -> bool,
    item: impl Fn(&V) -> T,
) -> Result<(Vec<T>, Option<String>), BadCursor> {
    let after = match cursor {
        None => None,
        Some(c) => Some(decode(c)?),
    };
    let start = match &after {
        Some(key) => Bound::Excluded(key.as_str()),
        None => Bound::Unbounded,
    };
    let mut items = Vec::with_capacity(PAGE_SIZE.min(map.len()));
    let mut last = None;
    for (key, value) in map
        .range::<str, _>((start, Bound::Unbounded))
        .filter(|(_, v)| keep(v))
        .take(PAGE_SIZE)
    {
        items.push(item(value));
        last = Some(key);
    }
    let more = last.is_some_and(|k| {
        map.range::<str, _>((Bound::Excluded(k.as_str()), Bound::Unbounded))
            .any(|(_, v)| keep(v))
    });
    Ok((items, last.filter(|_| more).map(|k| encode(k))))
}

fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{key}"))
}

fn decode(cursor: &str) -> Result<String, BadCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
    text.strip_prefix("v1:").map(str::to_owned).ok_or(BadCursor)
}

/// The template's item as listed.
pub fn template_item(route: &TemplateRoute) -> ResourceTemplate {
    (*route.template).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_item_once_even_when_the_map_changes() {
        let n = 2 * PAGE_SIZE + 50;
        let mut map: BTreeMap<String, u32> =
            (0..n as u32).map(|i| (format!("k{i:05}"), i)).collect();
        let (first, cursor) = page_where(&map, None, |_| true, |v| *v).unwrap();
        assert_eq!(first.len(), PAGE_SIZE);
        // Between pages: one already-listed item goes, a new one arrives after the cursor.
        map.remove("k00000");
        map.insert(format!("k{:05}x", PAGE_SIZE + 50), u32::MAX);
        let (second, cursor) = page_where(&map, cursor.as_deref(), |_| true, |v| *v).unwrap();
        let (third, end) = page_where(&map, cursor.as_deref(), |_| true, |v| *v).unwrap();
        assert!(end.is_none());
        let mut all: Vec<u32> = first.into_iter().chain(second).chain(third).collect();
        assert_eq!(all.len(), n + 1);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n + 1, "no item twice");
    }

    #[test]
    fn foreign_cursors_are_refused() {
        let map: BTreeMap<String, u32> = BTreeMap::new();
        assert!(page_where(&map, Some("not-ours"), |_| true, |v| *v).is_err());
        assert!(
            page_where(
                &map,
                Some(&URL_SAFE_NO_PAD.encode("v2:x")),
                |_| true,
                |v| *v
            )
            .is_err()
        );
        assert!(
            page_where(&map, None, |_| true, |v| *v)
                .unwrap()
                .1
                .is_none()
        );
    }
}

//! The registry: every registered server with its discovered catalog and the routing table,
//! as one immutable [`Snapshot`] swapped atomically on every change. Readers (the request
//! path) load the current snapshot without locks; writers are serialised and never hold a
//! lock across `.await`.

mod approvals;
mod naming;
mod runtime;
mod snapshot;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::{
    model::{ServerRecord, Source},
    upstream::Catalog,
};

pub use approvals::{Approvals, Change, HeldTool, fingerprint};
pub use naming::{NamePolicy, Naming};
pub use runtime::{FAILURES_TO_PROBE, ServerRuntime};
pub use snapshot::{
    Fingerprint, Route, SerializedPages, ServerEntry, Snapshot, TemplateRoute, template_matches,
};

/// A registry change that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("server {0:?} is already registered")]
    Duplicate(String),
    #[error("server {0:?} is not registered")]
    NotFound(String),
}

/// The set of registered servers.
pub struct Registry {
    current: ArcSwap<Snapshot>,
    /// Serialises writers so that no update is lost between load and store.
    write: Mutex<()>,
    naming: Naming,
    /// Bumped after every published change; MCP sessions watch it for list_changed.
    generation: tokio::sync::watch::Sender<u64>,
    /// Reviews each new catalog's tools (`gateway.tool_changes`); set at start.
    approvals: std::sync::OnceLock<Arc<Approvals>>,
}

impl Registry {
    /// An empty registry naming exposed items by `naming`.
    pub fn new(naming: Naming) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot::build(
                Default::default(),
                &Snapshot::default(),
                &naming,
            )),
            write: Mutex::new(()),
            naming,
            generation: tokio::sync::watch::Sender::new(0),
            approvals: std::sync::OnceLock::new(),
        }
    }

    /// From now on each new catalog's tools are reviewed by `approvals`.
    pub fn review_tools_with(&self, approvals: Arc<Approvals>) {
        let _ = self.approvals.set(approvals);
    }

    /// The current snapshot. Cheap; hold it for the duration of one request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A receiver that wakes after every registry change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// One server, if registered.
    pub fn get(&self, server_id: &str) -> Option<Arc<ServerEntry>> {
        self.current.load().servers.get(server_id).cloned()
    }

    /// Adds a server with a fresh runtime (health `connecting`, empty catalog).
    pub fn insert(
        &self,
        record: ServerRecord,
        source: Source,
    ) -> Result<Arc<ServerEntry>, RegistryError> {
        self.update(|servers| {
            if servers.contains_key(&record.server_id) {
                return Err(RegistryError::Duplicate(record.server_id.clone()));
            }
            let entry = Arc::new(ServerEntry::new(record, source));
            servers.insert(entry.record.server_id.clone(), entry.clone());
            Ok(entry)
        })
    }

    /// Replaces a server's record, keeping its position. The new entry gets a fresh runtime;
    /// the old entry is returned so the caller can stop its supervisor.
    pub fn replace(
        &self,
        record: ServerRecord,
        source: Source,
    ) -> Result<(Arc<ServerEntry>, Arc<ServerEntry>), RegistryError> {
        self.update(|servers| {
            let Some(slot) = servers.get_mut(&record.server_id) else {
                return Err(RegistryError::NotFound(record.server_id.clone()));
            };
            let entry = Arc::new(ServerEntry::new(record, source));
            let old = std::mem::replace(slot, entry.clone());
            Ok((old, entry))
        })
    }

    /// Removes a server, returning its entry so the caller can stop its supervisor.
    pub fn remove(&self, server_id: &str) -> Result<Arc<ServerEntry>, RegistryError> {
        self.update(|servers| {
            servers
                .shift_remove(server_id)
                .ok_or_else(|| RegistryError::NotFound(server_id.to_owned()))
        })
    }

    /// Records a newly discovered catalog, unless the server was replaced or removed since
    /// `runtime` was current (a stale supervisor must not overwrite its successor's data).
    /// A catalog with the same content as the current one (a periodic refresh, a lost
    /// upstream that had nothing) publishes nothing: readers, caches and list_changed
    /// watchers keep the current snapshot.
    pub fn set_catalog(
        &self,
        server_id: &str,
        runtime: &Arc<ServerRuntime>,
        mut catalog: Catalog,
    ) -> bool {
        self.update_if(|servers| {
            let Some(slot) = servers.get_mut(server_id) else {
                return Err(RegistryError::NotFound(server_id.to_owned()));
            };
            if !Arc::ptr_eq(&slot.runtime, runtime) {
                return Err(RegistryError::NotFound(server_id.to_owned()));
            }
            if slot.catalog.same_content(&catalog) {
                return Ok(((), Publish::No));
            }
            if let Some(approvals) = self.approvals.get() {
                catalog.held = approvals.review(&slot.record, &catalog.tools);
            }
            let tools = catalog.tools.iter().map(|tool| tool.name.as_ref());
            slot.runtime.meters.listed_tools(tools);
            *slot = Arc::new(slot.with_catalog(catalog));
            Ok(((), Publish::Yes))
        })
        .is_ok()
    }

    /// An operator approved the held tool `tool` of `server_id` as `fingerprint`: it is
    /// listed and callable from now on. `false`: it is not held (any more), or held with
    /// another definition (it changed again meanwhile: that one is not approved).
    pub fn release_held(&self, server_id: &str, tool: &str, fingerprint: &str) -> bool {
        self.update_if(|servers| {
            let Some(slot) = servers.get_mut(server_id) else {
                return Err(RegistryError::NotFound(server_id.to_owned()));
            };
            let held = slot.catalog.held.get(tool);
            if held.is_none_or(|held| held.fingerprint != fingerprint) {
                return Ok((false, Publish::No));
            }
            let mut catalog = Catalog::clone(&slot.catalog);
            catalog.held.remove(tool);
            *slot = Arc::new(slot.with_catalog(catalog));
            Ok((true, Publish::Yes))
        })
        .unwrap_or(false)
    }

    /// Applies `change` to a copy of the server map and publishes the rebuilt snapshot if
    /// it succeeds. Never awaits while holding the writer lock.
    fn update<T>(
        &self,
        change: impl FnOnce(
            &mut indexmap::IndexMap<String, Arc<ServerEntry>>,
        ) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        self.update_if(|servers| change(servers).map(|out| (out, Publish::Yes)))
    }

    /// [`Self::update`] for a change that may turn out to change nothing.
    fn update_if<T>(
        &self,
        change: impl FnOnce(
            &mut indexmap::IndexMap<String, Arc<ServerEntry>>,
        ) -> Result<(T, Publish), RegistryError>,
    ) -> Result<T, RegistryError> {
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.current.load_full();
        let mut servers = current.servers.clone();
        let (out, publish) = change(&mut servers)?;
        if publish == Publish::Yes {
            self.current
                .store(Arc::new(Snapshot::build(servers, &current, &self.naming)));
            self.generation.send_modify(|g| *g += 1);
        }
        Ok(out)
    }
}

/// Whether a change is worth a new snapshot.
#[derive(Debug, PartialEq, Eq)]
enum Publish {
    Yes,
    No,
}

#[cfg(test)]
mod tests;

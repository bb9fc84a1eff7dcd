//! Downstream sessions as data. A session is a small serialisable [`SessionRecord`]:
//! what the client declared at `initialize`, its log level, its resource subscriptions and
//! the upstream sessions it owns. Everything else a gateway process holds for a session
//! (connections to upstreams, its relay, streams) is rebuilt from the record on
//! demand, so a process that finds the record in a [`SessionStore`] it shares with others
//! can serve the session: upstream sessions of the client's own are opened again there,
//! declaring the same capabilities and told the same level.
//!
//! The store is in memory for now ([`MemorySessionStore`]), shared by every endpoint of a
//! gateway; a store several replicas share is the next step.

// Logging is deprecated by SEP-2577 but still relayed (a session's level is its own).
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams, LoggingLevel};
use serde::{Deserialize, Serialize};

/// One downstream MCP session, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// `Mcp-Session-Id`.
    pub id: String,
    /// The endpoint it was opened on: `None` for `/mcp`, else the server of
    /// `/mcp/servers/{id}/mcp` (a session id is valid on its own endpoint only).
    pub endpoint: Option<String>,
    /// The negotiated protocol revision (session era: 2024-11-05 … 2025-11-25).
    pub protocol_version: String,
    /// Who opened it ([`crate::access::Identity::principal`]): only they may use it.
    #[serde(default)]
    pub owner: String,
    pub capabilities: ClientCapabilities,
    pub client_info: Implementation,
    /// Set by `logging/setLevel`: upstream sessions of the client's own are told it.
    pub log_level: Option<LoggingLevel>,
    /// Resource URIs it subscribed to.
    pub subscriptions: Vec<String>,
    /// The upstream sessions it owns, by server.
    pub owned: Vec<OwnedSessionRecord>,
}

/// An upstream session one downstream session owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedSessionRecord {
    pub server_id: String,
    /// The upstream's `Mcp-Session-Id`, when it gave one (streamable HTTP).
    pub upstream_session_id: Option<String>,
}

impl SessionRecord {
    /// The record of a session opened by `initialize` with `params`.
    pub fn opened(
        id: String,
        endpoint: Option<String>,
        protocol_version: String,
        params: &InitializeRequestParams,
        owner: String,
    ) -> Self {
        Self {
            id,
            endpoint,
            protocol_version,
            owner,
            capabilities: params.capabilities.clone(),
            client_info: params.client_info.clone(),
            log_level: None,
            subscriptions: Vec::new(),
            owned: Vec::new(),
        }
    }
}

/// Where session records live. Every method is cheap and never waits on the network.
pub trait SessionStore: Send + Sync + 'static {
    fn load(&self, id: &str) -> Option<SessionRecord>;
    /// The record's version, which every change bumps (`None`: no such session): a
    /// process holding a copy of a session checks it on each request.
    fn version(&self, id: &str) -> Option<u64>;
    /// Stores the record; returns its version.
    fn save(&self, record: SessionRecord) -> u64;
    /// Applies `change` to the record with this id, if there is one.
    fn update(&self, id: &str, change: &mut dyn FnMut(&mut SessionRecord));
    fn remove(&self, id: &str);
    /// Notes that a process served the session at `at` (milliseconds since the Unix
    /// epoch). Activity is no change of the record: its version stays. Processes note it
    /// seldom (a few times per idle timeout), so that one does not end a session as
    /// idle that another is serving.
    fn mark_active(&self, id: &str, at: u64);
    /// When a process last noted the session active (`None`: no such session).
    fn last_active(&self, id: &str) -> Option<u64>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Session records in this process's memory, each with its version and last noted
/// activity.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    records: RwLock<HashMap<String, Stored>>,
    /// The last version given out (versions never repeat, even across removals).
    versions: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Stored {
    record: SessionRecord,
    version: u64,
    active: u64,
}

/// Now, in milliseconds since the Unix epoch (the time every process of a store shares).
pub fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

impl MemorySessionStore {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Stored>> {
        // Every write leaves the map consistent, so a poisoned lock is still usable.
        self.records.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Stored>> {
        self.records.write().unwrap_or_else(|p| p.into_inner())
    }

    fn next_version(&self) -> u64 {
        self.versions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }
}

impl SessionStore for MemorySessionStore {
    fn load(&self, id: &str) -> Option<SessionRecord> {
        self.read().get(id).map(|stored| stored.record.clone())
    }

    fn version(&self, id: &str) -> Option<u64> {
        self.read().get(id).map(|stored| stored.version)
    }

    fn save(&self, record: SessionRecord) -> u64 {
        let version = self.next_version();
        let active = now_millis();
        let id = record.id.clone();
        let stored = Stored {
            record,
            version,
            active,
        };
        self.write().insert(id, stored);
        version
    }

    fn update(&self, id: &str, change: &mut dyn FnMut(&mut SessionRecord)) {
        let version = self.next_version();
        if let Some(stored) = self.write().get_mut(id) {
            change(&mut stored.record);
            stored.version = version;
        }
    }

    fn mark_active(&self, id: &str, at: u64) {
        if let Some(stored) = self.write().get_mut(id) {
            stored.active = stored.active.max(at);
        }
    }

    fn last_active(&self, id: &str) -> Option<u64> {
        self.read().get(id).map(|stored| stored.active)
    }

    fn remove(&self, id: &str) {
        let mut records = self.write();
        records.remove(id);
        // A map keeps its largest size; give memory back once most of it is unused.
        if records.capacity() > 1024 && records.len() * 4 < records.capacity() {
            let keep = records.len() * 2;
            records.shrink_to(keep);
        }
    }

    fn len(&self) -> usize {
        self.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SessionRecord {
        let params: InitializeRequestParams = serde_json::from_value(serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {"listChanged": true}, "sampling": {}},
            "clientInfo": {"name": "ide", "version": "1.2"}
        }))
        .unwrap();
        SessionRecord::opened(
            "s-1".into(),
            None,
            "2025-06-18".into(),
            &params,
            "master_key".into(),
        )
    }

    #[test]
    fn a_record_is_small_serialisable_data() {
        let mut record = record();
        record.log_level = Some(LoggingLevel::Warning);
        record.subscriptions.push("file:///a".into());
        record.owned.push(OwnedSessionRecord {
            server_id: "fs".into(),
            upstream_session_id: Some("u-9".into()),
        });
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.len() < 512, "{} bytes: {json}", json.len());
        let back: SessionRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn the_memory_store_keeps_updates_and_forgets_removals() {
        let store = MemorySessionStore::new();
        store.save(record());
        store.update("s-1", &mut |r| r.log_level = Some(LoggingLevel::Error));
        let before = store.version("s-1").unwrap();
        store.update("nope", &mut |r| r.log_level = Some(LoggingLevel::Debug));
        assert_eq!(store.version("s-1"), Some(before));
        store.update("s-1", &mut |r| r.subscriptions.push("u".into()));
        assert!(store.version("s-1").unwrap() > before);
        assert_eq!(
            store.load("s-1").unwrap().log_level,
            Some(LoggingLevel::Error)
        );
        assert_eq!(store.len(), 1);
        store.remove("s-1");
        assert!(store.load("s-1").is_none() && store.is_empty());
        assert_eq!(store.version("s-1"), None);
    }
}

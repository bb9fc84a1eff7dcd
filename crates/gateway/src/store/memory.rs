//! The in-memory store (`STORE_MODEL_IN_DB=false`): registrations last until the process ends.

use std::sync::Mutex;

use indexmap::IndexMap;

use super::{ServerStore, StoreError, StoredCredential, ToolApproval};

/// A map of the store (a panic while holding it cannot leave a half-written map: every
/// write is one insert or remove, so a poisoned lock is still usable).
fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}
use crate::{
    access::{keys::KeyRecord, policy::PolicyRecord},
    model::ServerRecord,
};

#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<IndexMap<String, ServerRecord>>,
    keys: Mutex<IndexMap<String, KeyRecord>>,
    policies: Mutex<IndexMap<String, PolicyRecord>>,
    credentials: Mutex<IndexMap<(String, String), StoredCredential>>,
    tool_approvals: Mutex<IndexMap<(String, String), ToolApproval>>,
}

impl MemoryStore {
    fn records(&self) -> std::sync::MutexGuard<'_, IndexMap<String, ServerRecord>> {
        lock(&self.records)
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, IndexMap<String, KeyRecord>> {
        lock(&self.keys)
    }

    fn policies(&self) -> std::sync::MutexGuard<'_, IndexMap<String, PolicyRecord>> {
        lock(&self.policies)
    }
}

#[async_trait::async_trait]
impl ServerStore for MemoryStore {
    async fn load_all(&self) -> Result<Vec<ServerRecord>, StoreError> {
        Ok(self.records().values().cloned().collect())
    }

    async fn insert(&self, record: &ServerRecord) -> Result<(), StoreError> {
        let mut records = self.records();
        if records.contains_key(&record.server_id) {
            return Err(StoreError::Duplicate(record.server_id.clone()));
        }
        records.insert(record.server_id.clone(), record.clone());
        Ok(())
    }

    async fn replace(&self, record: &ServerRecord) -> Result<(), StoreError> {
        match self.records().get_mut(&record.server_id) {
            Some(slot) => {
                *slot = record.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound(record.server_id.clone())),
        }
    }

    async fn delete(&self, server_id: &str) -> Result<bool, StoreError> {
        Ok(self.records().shift_remove(server_id).is_some())
    }

    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        Ok(self.keys().values().cloned().collect())
    }

    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.keys();
        let hash_taken = keys.values().any(|k| k.key_hash == record.key_hash);
        if hash_taken || keys.contains_key(&record.key_id) {
            return Err(StoreError::DuplicateKey(record.key_id.clone()));
        }
        keys.insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    async fn replace_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        match self.keys().get_mut(&record.key_id) {
            Some(slot) => {
                *slot = record.clone();
                Ok(())
            }
            None => Err(StoreError::KeyNotFound(record.key_id.clone())),
        }
    }

    async fn delete_key(&self, key_id: &str) -> Result<bool, StoreError> {
        Ok(self.keys().shift_remove(key_id).is_some())
    }

    async fn load_policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        Ok(self.policies().values().cloned().collect())
    }

    async fn save_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        self.policies().insert(record.name.clone(), record.clone());
        Ok(())
    }

    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.policies().shift_remove(name).is_some())
    }

    async fn load_credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        Ok(lock(&self.credentials).values().cloned().collect())
    }

    async fn save_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        let at = (credential.server_id.clone(), credential.principal.clone());
        lock(&self.credentials).insert(at, credential.clone());
        Ok(())
    }

    async fn delete_credential(
        &self,
        server_id: &str,
        principal: &str,
    ) -> Result<bool, StoreError> {
        let at = (server_id.to_owned(), principal.to_owned());
        Ok(lock(&self.credentials).shift_remove(&at).is_some())
    }

    async fn load_tool_approvals(&self) -> Result<Vec<ToolApproval>, StoreError> {
        Ok(lock(&self.tool_approvals).values().cloned().collect())
    }

    async fn save_tool_approval(&self, approval: &ToolApproval) -> Result<(), StoreError> {
        let at = (approval.server_id.clone(), approval.tool.clone());
        lock(&self.tool_approvals).insert(at, approval.clone());
        Ok(())
    }

    async fn delete_tool_approvals(&self, server_id: &str) -> Result<(), StoreError> {
        lock(&self.tool_approvals).retain(|(server, _), _| server != server_id);
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "memory (registrations are lost on restart; set STORE_MODEL_IN_DB=true to keep them)".into()
    }
}

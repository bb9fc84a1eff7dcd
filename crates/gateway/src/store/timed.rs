//! Any store, with the time each operation takes counted in the metrics
//! (`mcp_gateway_store_operation_duration_seconds{operation}`).

use std::{future::Future, sync::Arc, time::Instant};

use super::{KeyRecord, PolicyRecord, ServerStore, StoreError, StoredCredential, ToolApproval};
use crate::{metrics::Metrics, model::ServerRecord};

pub struct TimedStore {
    inner: Arc<dyn ServerStore>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn wrap(inner: Arc<dyn ServerStore>, metrics: Arc<Metrics>) -> Arc<dyn ServerStore> {
        Arc::new(Self { inner, metrics })
    }

    async fn timed<T>(&self, operation: &'static str, run: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = run.await;
        self.metrics.store_operation(operation, started.elapsed());
        out
    }
}

#[async_trait::async_trait]
impl ServerStore for TimedStore {
    async fn load_all(&self) -> Result<Vec<ServerRecord>, StoreError> {
        self.timed("load_servers", self.inner.load_all()).await
    }
    async fn insert(&self, record: &ServerRecord) -> Result<(), StoreError> {
        self.timed("insert_server", self.inner.insert(record)).await
    }
    async fn replace(&self, record: &ServerRecord) -> Result<(), StoreError> {
        self.timed("replace_server", self.inner.replace(record))
            .await
    }
    async fn delete(&self, server_id: &str) -> Result<bool, StoreError> {
        self.timed("delete_server", self.inner.delete(server_id))
            .await
    }
    async fn load_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.timed("load_keys", self.inner.load_keys()).await
    }
    async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.timed("insert_key", self.inner.insert_key(record))
            .await
    }
    async fn replace_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        self.timed("replace_key", self.inner.replace_key(record))
            .await
    }
    async fn delete_key(&self, key_id: &str) -> Result<bool, StoreError> {
        self.timed("delete_key", self.inner.delete_key(key_id))
            .await
    }
    async fn load_policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.timed("load_policies", self.inner.load_policies())
            .await
    }
    async fn save_policy(&self, record: &PolicyRecord) -> Result<(), StoreError> {
        self.timed("save_policy", self.inner.save_policy(record))
            .await
    }
    async fn delete_policy(&self, name: &str) -> Result<bool, StoreError> {
        self.timed("delete_policy", self.inner.delete_policy(name))
            .await
    }
    async fn load_credentials(&self) -> Result<Vec<StoredCredential>, StoreError> {
        self.timed("load_credentials", self.inner.load_credentials())
            .await
    }
    async fn save_credential(&self, credential: &StoredCredential) -> Result<(), StoreError> {
        self.timed("save_credential", self.inner.save_credential(credential))
            .await
    }
    async fn delete_credential(
        &self,
        server_id: &str,
        principal: &str,
    ) -> Result<bool, StoreError> {
        let run = self.inner.delete_credential(server_id, principal);
        self.timed("delete_credential", run).await
    }
    async fn load_tool_approvals(&self) -> Result<Vec<ToolApproval>, StoreError> {
        self.timed("load_tool_approvals", self.inner.load_tool_approvals())
            .await
    }
    async fn save_tool_approval(&self, approval: &ToolApproval) -> Result<(), StoreError> {
        let run = self.inner.save_tool_approval(approval);
        self.timed("save_tool_approval", run).await
    }
    async fn delete_tool_approvals(&self, server_id: &str) -> Result<(), StoreError> {
        let run = self.inner.delete_tool_approvals(server_id);
        self.timed("delete_tool_approvals", run).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

//! The gateway's access control, as the operator changes it: API keys and named
//! policies, each stored (durably) first and then put in force, under the admin mutex.

use std::sync::Arc;

use super::{Gateway, GatewayError};
use crate::{
    access::{
        Access, Admission, Called, Limited,
        keys::{ActiveKey, KeyPatch, KeySource, NewKey},
        policy::{Policy, PolicySource, PolicySpec},
    },
    metrics::{Metering, Outcome},
    model::FieldError,
    registry::ServerEntry,
    store::StoreError,
};

impl Gateway {
    pub(super) async fn load_keys(&self) -> Result<(), StoreError> {
        for record in &self.settings.keys {
            match ActiveKey::new(record.clone(), KeySource::Config, &self.settings.policies) {
                Ok(key) => _ = self.keys.put(key),
                Err(e) => tracing::error!(key = %record.key_id, error = %e, "config key skipped"),
            }
        }
        for record in self.store.load_keys().await? {
            let id = record.key_id.clone();
            if self.keys.get(&id).is_some() {
                tracing::warn!(key = %id, "stored key has the id of a config-file key; the config file wins");
                continue;
            }
            match ActiveKey::new(record, KeySource::Api, &self.settings.policies) {
                Ok(key) => _ = self.keys.put(key),
                Err(e) => tracing::error!(key = %id, error = %e, "stored key skipped"),
            }
        }
        Ok(())
    }

    /// The stored policies join the config file's (which win a name they share).
    pub(super) async fn load_policies(&self) -> Result<(), StoreError> {
        let table = &self.settings.policies;
        for record in self.store.load_policies().await? {
            let name = record.name.clone();
            if table.get(&name).is_some() {
                tracing::warn!(policy = %name, "stored policy has the name of a config-file policy; the config file wins");
                continue;
            }
            match Policy::new(record, PolicySource::Api) {
                Ok(policy) => table.put(policy),
                Err(e) => {
                    tracing::error!(policy = %name, error = %e, "stored policy skipped (keys naming it reach none of their tools)")
                }
            }
        }
        Ok(())
    }

    /// Creates an API key: stored (durably), then in force. The key itself is returned
    /// once and kept nowhere.
    pub async fn create_key(
        self: &Arc<Self>,
        spec: NewKey,
    ) -> Result<(Arc<ActiveKey>, String), GatewayError> {
        let minted = spec.mint(chrono::Utc::now())?;
        self.check_policies_exist(&minted.record.policies)?;
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.store.insert_key(&minted.record).await?;
            let key = this.keys.put(ActiveKey::new(
                minted.record,
                KeySource::Api,
                &this.settings.policies,
            )?);
            tracing::info!(key = %key.record.key_id, name = %key.record.name, "API key created");
            Ok((key, minted.key))
        })
        .await
    }

    /// Changes an API key's name, expiry, allowlists or metadata; in force for the next
    /// request, on sessions already open too.
    pub async fn update_key(
        self: &Arc<Self>,
        key_id: &str,
        patch: KeyPatch,
    ) -> Result<Arc<ActiveKey>, GatewayError> {
        let key_id = key_id.to_owned();
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            let current = this.api_key(&key_id)?;
            let record = patch.apply(current.record.clone(), chrono::Utc::now())?;
            this.check_policies_exist(&record.policies)?;
            this.store.replace_key(&record).await?;
            let key = this.keys.put(ActiveKey::new(
                record,
                KeySource::Api,
                &this.settings.policies,
            )?);
            tracing::info!(key = %key_id, "API key updated");
            Ok(key)
        })
        .await
    }

    /// Deletes an API key: it stops working at once, on sessions already open too.
    pub async fn delete_key(self: &Arc<Self>, key_id: &str) -> Result<(), GatewayError> {
        let key_id = key_id.to_owned();
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.api_key(&key_id)?;
            this.store.delete_key(&key_id).await?;
            this.keys.remove(&key_id);
            tracing::info!(key = %key_id, "API key deleted");
            Ok(())
        })
        .await
    }

    /// What `principal` (see [`crate::access::Identity::principal`]) may reach now: for
    /// sessions, which outlive the request that opened them.
    pub fn access_of(&self, principal: &str) -> crate::access::Access {
        self.settings
            .jwt
            .as_ref()
            .and_then(|jwt| jwt.access_of(principal))
            .unwrap_or_else(|| self.keys.access_of(principal))
    }

    fn api_key(&self, key_id: &str) -> Result<Arc<ActiveKey>, GatewayError> {
        match self.keys.get(key_id) {
            None => Err(GatewayError::KeyNotFound(key_id.to_owned())),
            Some(key) if key.source == KeySource::Config => {
                Err(GatewayError::KeyConfigDefined(key_id.to_owned()))
            }
            Some(key) => Ok(key),
        }
    }

    /// Creates a policy (`spec.name`), or replaces the one named `name`: stored, then in
    /// force for the next decision of every key and token that names it.
    pub async fn put_policy(
        self: &Arc<Self>,
        name: Option<&str>,
        spec: PolicySpec,
    ) -> Result<(Arc<Policy>, bool), GatewayError> {
        let replacing = name.map(str::to_owned);
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            let table = &this.settings.policies;
            let (name, created_at) = match &replacing {
                Some(name) => {
                    let current = this.api_policy(name)?;
                    if spec.name.as_ref().is_some_and(|n| n != name) {
                        return Err(FieldError::invalid("name", "differs from the policy in the path").into());
                    }
                    (name.clone(), Some(current.record.created_at))
                }
                None => {
                    let name = spec.name.clone().ok_or_else(|| FieldError::invalid("name", "is required"))?;
                    if table.get(&name).is_some() {
                        return Err(GatewayError::PolicyExists(name));
                    }
                    (name, None)
                }
            };
            let record = spec.record(name.clone(), created_at)?;
            this.store.save_policy(&record).await?;
            table.put(Policy::new(record, PolicySource::Api)?);
            tracing::info!(policy = %name, "policy {}", if replacing.is_some() { "replaced" } else { "created" });
            let policy = table.get(&name).ok_or(GatewayError::PolicyNotFound(name))?;
            Ok((policy, replacing.is_none()))
        })
        .await
    }

    /// Deletes a policy no key names (`409 policy_in_use` names the keys that do).
    pub async fn delete_policy(self: &Arc<Self>, name: &str) -> Result<(), GatewayError> {
        let name = name.to_owned();
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.api_policy(&name)?;
            let users: Vec<String> = this
                .keys
                .list()
                .iter()
                .filter(|key| key.record.policies.contains(&name))
                .map(|key| key.record.key_id.clone())
                .collect();
            if !users.is_empty() {
                return Err(GatewayError::PolicyInUse { name, keys: users });
            }
            this.store.delete_policy(&name).await?;
            this.settings.policies.remove(&name);
            tracing::info!(policy = %name, "policy deleted");
            Ok(())
        })
        .await
    }

    fn api_policy(&self, name: &str) -> Result<Arc<Policy>, GatewayError> {
        match self.settings.policies.get(name) {
            None => Err(GatewayError::PolicyNotFound(name.to_owned())),
            Some(policy) if policy.source == PolicySource::Config => {
                Err(GatewayError::PolicyConfigDefined(name.to_owned()))
            }
            Some(policy) => Ok(policy),
        }
    }

    /// Lets one request to `entry`'s upstream through the caller's limits and the tool's
    /// (`tool_limits`), and opens its audit record (`gateway.audit_calls`); or says when
    /// to retry. Every routed request to an upstream, on every face, comes here.
    pub fn admit(
        &self,
        access: &Access,
        entry: &ServerEntry,
        called: Called<'_>,
    ) -> Result<Admission, Limited> {
        let admitted = access.admit().and_then(|caller| {
            let tool = match called.method {
                "tools/call" => entry.tool_limits.get(called.name),
                _ => None,
            };
            let tool = tool.map(|limits| limits.admit()).transpose();
            let tool = tool.map_err(|limited| Limited {
                whose: "tool",
                ..limited
            })?;
            Ok((caller, tool))
        });
        let metered = self.metrics.enabled().then_some(&entry.runtime.meters);
        let (caller, tool) = match admitted {
            Ok(slots) => slots,
            Err(limited) => {
                if let Some(meters) = metered {
                    Metering::refused(meters, called.method, called.name, Outcome::RateLimited);
                }
                return Err(limited);
            }
        };
        let audited = self.settings.audit_calls.covers(access).then_some((
            access,
            entry.record.server_id.as_str(),
            called,
        ));
        let metering = metered.map(|meters| Metering::start(meters, called.method, called.name));
        Ok(Admission::new(caller, tool, audited, metering))
    }

    fn check_policies_exist(&self, names: &[String]) -> Result<(), FieldError> {
        match names
            .iter()
            .find(|n| self.settings.policies.get(n).is_none())
        {
            Some(unknown) => Err(FieldError::invalid(
                "policies",
                format!("no policy named {unknown:?} (create it with POST /mcp/policies)"),
            )),
            None => Ok(()),
        }
    }
}

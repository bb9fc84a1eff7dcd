//! Callers' own upstream credentials, for servers marked `credentials: per_user`: each
//! API key or JWT caller stores its credential (`PUT /mcp/servers/{id}/credentials`,
//! sealed at rest like every secret, never readable back), and that caller's requests go
//! upstream with it, on upstream sessions of that caller only — one pooled session per
//! caller and server. The operator's requests, and discovery, use the record's own
//! `auth_value`. A caller without a credential is told how to add one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{Gateway, GatewayError};
use crate::{
    access::Access,
    downstream::owned::OwnedUpstream,
    model::{CredentialMode, FieldError},
    registry::ServerEntry,
    secret::Secret,
    store::{StoreError, StoredCredential},
    upstream::Owner,
};

/// The most callers' sessions kept open with per-user servers, all servers together.
const MAX_CALLER_SESSIONS: usize = 10_000;

/// The credentials in force and the callers' open sessions, by (server id, principal).
#[derive(Default)]
pub struct Credentials {
    values: Mutex<HashMap<(String, String), Secret>>,
    sessions: Mutex<HashMap<(String, String), Arc<OwnedUpstream>>>,
}

fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

impl Credentials {
    fn get(&self, server_id: &str, principal: &str) -> Option<Secret> {
        let at = (server_id.to_owned(), principal.to_owned());
        lock(&self.values).get(&at).cloned()
    }

    /// Puts a credential in force (or takes it out, `None`): the caller's open session,
    /// made with the old one, closes.
    fn set(&self, server_id: &str, principal: &str, value: Option<Secret>) -> bool {
        let at = (server_id.to_owned(), principal.to_owned());
        lock(&self.sessions).remove(&at);
        let mut values = lock(&self.values);
        match value {
            Some(value) => values.insert(at, value).is_some(),
            None => values.remove(&at).is_some(),
        }
    }
}

impl Gateway {
    pub(super) async fn load_credentials(&self) -> Result<(), StoreError> {
        for stored in self.store.load_credentials().await? {
            self.credentials
                .set(&stored.server_id, &stored.principal, Some(stored.value));
        }
        Ok(())
    }

    /// The per-user server `server_id` as `access`'s caller may keep a credential for:
    /// one it reaches (else unknown, as for any name outside a grant), marked per-user,
    /// and a caller that is a key or a token (the operator's requests use the record's).
    fn per_user_server(
        &self,
        server_id: &str,
        access: &Access,
    ) -> Result<Arc<ServerEntry>, GatewayError> {
        let entry = self
            .registry
            .get(server_id)
            .filter(|_| access.allows_server(server_id))
            .ok_or_else(|| GatewayError::NotFound(server_id.to_owned()))?;
        if entry.record.credentials != CredentialMode::PerUser {
            return Err(FieldError::invalid(
                "credentials",
                format!("server {server_id:?} does not take per-user credentials (its record's credentials is shared)"),
            )
            .into());
        }
        if !access.is_identity() {
            return Err(FieldError::invalid(
                "credentials",
                "the operator's requests use the server's own auth_value; per-user credentials belong to API keys and JWT callers",
            )
            .into());
        }
        Ok(entry)
    }

    /// Stores the caller's credential for a per-user server (sealed at rest), in force
    /// for its next request.
    pub async fn put_credential(
        self: &Arc<Self>,
        server_id: &str,
        access: &Access,
        value: String,
    ) -> Result<(), GatewayError> {
        self.per_user_server(server_id, access)?;
        if value.is_empty() || value.len() > 16 * 1024 || value.chars().any(char::is_control) {
            return Err(FieldError::invalid(
                "auth_value",
                "must be 1 to 16384 bytes without control characters",
            )
            .into());
        }
        let stored = StoredCredential {
            server_id: server_id.to_owned(),
            principal: access.principal().to_owned(),
            value: Secret::new(value),
        };
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.store.save_credential(&stored).await?;
            this.credentials
                .set(&stored.server_id, &stored.principal, Some(stored.value));
            tracing::info!(server = %stored.server_id, caller = %stored.principal, "per-user credential stored");
            Ok(())
        })
        .await
    }

    /// Deletes the caller's credential; whether there was one.
    pub async fn delete_credential(
        self: &Arc<Self>,
        server_id: &str,
        access: &Access,
    ) -> Result<bool, GatewayError> {
        self.per_user_server(server_id, access)?;
        let (server_id, principal) = (server_id.to_owned(), access.principal().to_owned());
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            let stored = this.store.delete_credential(&server_id, &principal).await?;
            let held = this.credentials.set(&server_id, &principal, None);
            Ok(stored || held)
        })
        .await
    }

    /// Whether the caller has a credential for the server.
    pub fn has_credential(&self, server_id: &str, access: &Access) -> Result<bool, GatewayError> {
        self.per_user_server(server_id, access)?;
        Ok(self
            .credentials
            .get(server_id, access.principal())
            .is_some())
    }

    /// The caller's own session with a per-user server (opened with its credential on
    /// first use); `Ok(None)`: the server's shared session serves this request (a shared
    /// server, or the operator's request).
    pub(crate) async fn caller_upstream(
        &self,
        entry: &ServerEntry,
        access: &Access,
    ) -> Result<Option<Arc<OwnedUpstream>>, CredentialError> {
        if entry.record.credentials != CredentialMode::PerUser || !access.is_identity() {
            return Ok(None);
        }
        let server_id = &entry.record.server_id;
        let principal = access.principal();
        let at = (server_id.clone(), principal.to_owned());
        if let Some(open) = lock(&self.credentials.sessions).get(&at)
            && open.serves(entry)
        {
            return Ok(Some(open.clone()));
        }
        let credential = self
            .credentials
            .get(server_id, principal)
            .ok_or_else(|| CredentialError::Missing(server_id.clone()))?;
        if lock(&self.credentials.sessions).len() >= MAX_CALLER_SESSIONS {
            lock(&self.credentials.sessions).retain(|_, s| !s.is_closed());
        }
        let mine = entry.for_caller(credential);
        let limit = self.settings.max_client_processes_per_server;
        let opened = OwnedUpstream::open(&mine, Owner::Shared, None, limit)
            .await
            .map_err(CredentialError::Upstream)?;
        let opened = Arc::new(opened);
        let mut sessions = lock(&self.credentials.sessions);
        if sessions.len() >= MAX_CALLER_SESSIONS {
            return Ok(Some(opened)); // used for this request, not kept
        }
        sessions.insert(at, opened.clone());
        Ok(Some(opened))
    }
}

/// Why a caller's request to a per-user server cannot go upstream.
#[derive(Debug)]
pub(crate) enum CredentialError {
    /// The caller has stored no credential for the server.
    Missing(String),
    /// The caller's session could not be opened.
    Upstream(rmcp::ErrorData),
}

impl CredentialError {
    /// The message a caller gets: which server, and how to add a credential.
    pub fn missing_message(server_id: &str) -> String {
        format!(
            "server {server_id:?} needs your own credential: PUT /mcp/servers/{server_id}/credentials \
             with {{\"auth_value\": \"…\"}} and your API key or token, then retry"
        )
    }
}

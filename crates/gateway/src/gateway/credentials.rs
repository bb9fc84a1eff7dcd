//! Callers' own upstream credentials, for servers marked `credentials: per_user`: each
//! API key or JWT caller stores its credential (`PUT /mcp/servers/{id}/credentials`,
//! sealed at rest like every secret, never readable back), and that caller's requests go
//! upstream with it, on upstream sessions of that caller only — one pooled session per
//! caller and server. The operator's requests, and discovery, use the record's own
//! `auth_value`. A caller without a credential is told how to add one.
//!
//! A server with `auth_type: token_exchange` gets each JWT caller's credential by OAuth 2.0
//! Token Exchange (RFC 8693): the caller's validated token is exchanged at the configured
//! token endpoint for one for that upstream, kept until it expires, per caller and server.
//! The caller's own token goes to the token endpoint only, never upstream.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{Gateway, GatewayError};
use crate::{
    access::Access,
    downstream::owned::OwnedUpstream,
    model::{AuthType, CredentialMode, FieldError, TokenExchange},
    registry::ServerEntry,
    secret::Secret,
    store::{StoreError, StoredCredential},
    upstream::Owner,
};

/// The most callers' sessions kept open with per-user servers, all servers together.
const MAX_CALLER_SESSIONS: usize = 10_000;

/// How long before its expiry an exchanged token is exchanged again.
const EXCHANGE_MARGIN: Duration = Duration::from_secs(30);
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_EXCHANGE_RESPONSE: usize = 64 * 1024;

/// (server id, principal): whose credential, for which server.
type Whose = (String, String);

/// The credentials in force, tokens got by exchange, and the callers' open sessions (with
/// the credential each was opened with), by [`Whose`].
#[derive(Default)]
pub struct Credentials {
    values: Mutex<HashMap<Whose, Secret>>,
    exchanged: Mutex<HashMap<Whose, (Secret, Instant)>>,
    /// One exchange at a time per (server, principal): concurrent requests of a caller
    /// wait for it rather than each exchanging its token.
    exchanging: Mutex<HashMap<Whose, Arc<tokio::sync::Mutex<()>>>>,
    sessions: Mutex<HashMap<Whose, (Secret, Arc<OwnedUpstream>)>>,
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
        if !entry.record.per_caller() || !access.is_identity() {
            return Ok(None);
        }
        let server_id = &entry.record.server_id;
        let principal = access.principal();
        let at = (server_id.clone(), principal.to_owned());
        let credential = match &entry.record.token_exchange {
            Some(exchange) if entry.record.auth_type == AuthType::TokenExchange => {
                self.exchanged(server_id, exchange, access).await?
            }
            _ => self
                .credentials
                .get(server_id, principal)
                .ok_or_else(|| CredentialError::Missing(server_id.clone()))?,
        };
        if let Some((opened_with, open)) = lock(&self.credentials.sessions).get(&at)
            && *opened_with == credential
            && open.serves(entry)
        {
            return Ok(Some(open.clone()));
        }
        if lock(&self.credentials.sessions).len() >= MAX_CALLER_SESSIONS {
            lock(&self.credentials.sessions).retain(|_, (_, s)| !s.is_closed());
        }
        let mine = entry.for_caller(credential.clone());
        let limit = self.settings.max_client_processes_per_server;
        let opened = OwnedUpstream::open(&mine, Owner::Shared, None, limit)
            .await
            .map_err(CredentialError::Upstream)?;
        let opened = Arc::new(opened);
        let mut sessions = lock(&self.credentials.sessions);
        if sessions.len() >= MAX_CALLER_SESSIONS {
            return Ok(Some(opened)); // used for this request, not kept
        }
        sessions.insert(at, (credential, opened.clone()));
        Ok(Some(opened))
    }

    /// The token a JWT caller's own was exchanged for (RFC 8693), exchanged now unless
    /// one is kept that is not about to expire.
    async fn exchanged(
        &self,
        server_id: &str,
        exchange: &TokenExchange,
        access: &Access,
    ) -> Result<Secret, CredentialError> {
        let at = (server_id.to_owned(), access.principal().to_owned());
        let kept = || {
            lock(&self.credentials.exchanged)
                .get(&at)
                .filter(|(_, until)| Instant::now() + EXCHANGE_MARGIN < *until)
                .map(|(token, _)| token.clone())
        };
        if let Some(token) = kept() {
            return Ok(token);
        }
        let turn = lock(&self.credentials.exchanging)
            .entry(at.clone())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if let Some(token) = kept() {
            return Ok(token);
        }
        let subject = access
            .bearer_token()
            .ok_or_else(|| CredentialError::NeedsToken(server_id.to_owned()))?;
        let (token, lifetime) = exchange_token(exchange, subject)
            .await
            .map_err(|why| CredentialError::Exchange(server_id.to_owned(), why))?;
        let mut exchanged = lock(&self.credentials.exchanged);
        if exchanged.len() >= MAX_CALLER_SESSIONS {
            exchanged.retain(|_, (_, until)| Instant::now() < *until);
            lock(&self.credentials.exchanging).retain(|at, _| exchanged.contains_key(at));
        }
        exchanged.insert(at, (token.clone(), Instant::now() + lifetime));
        tracing::debug!(server = %server_id, caller = %access.principal(), "caller's token exchanged");
        Ok(token)
    }
}

/// One RFC 8693 request: `subject` (an access token) for a token for the upstream, and
/// how long it lasts (`expires_in`; a minute if not said).
async fn exchange_token(
    exchange: &TokenExchange,
    subject: &Secret,
) -> Result<(Secret, Duration), String> {
    static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
        reqwest::Client::builder()
            .timeout(EXCHANGE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    });
    const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    // Built before the request (the serializer must not live across an await).
    let body = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair(
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        )
        .append_pair("subject_token", subject.expose())
        .append_pair("subject_token_type", ACCESS_TOKEN)
        .append_pair("requested_token_type", ACCESS_TOKEN);
        for (name, value) in [
            ("audience", &exchange.audience),
            ("scope", &exchange.scope),
            ("resource", &exchange.resource),
        ] {
            if let Some(value) = value {
                form.append_pair(name, value);
            }
        }
        form.finish()
    };
    let response = CLIENT
        .post(&exchange.token_endpoint)
        .basic_auth(
            &exchange.client_id,
            exchange.client_secret.as_ref().map(Secret::expose),
        )
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("the token endpoint did not answer: {}", e.without_url()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("the token endpoint's answer broke off: {}", e.without_url()))?;
    if body.len() > MAX_EXCHANGE_RESPONSE {
        return Err("the token endpoint's answer is too large".into());
    }
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if !status.is_success() {
        let error = answer["error"].as_str().unwrap_or("no error code");
        return Err(format!(
            "the token endpoint refused the exchange: {status} {error}"
        ));
    }
    let token = answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the token endpoint's answer has no access_token")?;
    let lifetime = answer["expires_in"].as_u64().unwrap_or(60);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

/// Why a caller's request to a per-user server cannot go upstream.
#[derive(Debug)]
pub(crate) enum CredentialError {
    /// The caller has stored no credential for the server.
    Missing(String),
    /// The server exchanges callers' JWTs, and this caller (an API key) has none.
    NeedsToken(String),
    /// The token exchange failed (why).
    Exchange(String, String),
    /// The caller's session could not be opened.
    Upstream(rmcp::ErrorData),
}

impl CredentialError {
    /// What a caller is told, and the `reason` code.
    pub fn explain(&self) -> (String, &'static str) {
        match self {
            CredentialError::Missing(id) => (Self::missing_message(id), "credential_required"),
            CredentialError::NeedsToken(id) => (
                format!(
                    "server {id:?} acts with a token exchanged for the caller's own (RFC 8693): \
                     call it with a JWT of the identity provider, not an API key"
                ),
                "token_required",
            ),
            CredentialError::Exchange(id, why) => (
                format!("the token exchange for server {id:?} failed: {why}"),
                "token_exchange_failed",
            ),
            CredentialError::Upstream(e) => (e.message.to_string(), "upstream_error"),
        }
    }

    /// The message a caller gets: which server, and how to add a credential.
    pub fn missing_message(server_id: &str) -> String {
        format!(
            "server {server_id:?} needs your own credential: PUT /mcp/servers/{server_id}/credentials \
             with {{\"auth_value\": \"…\"}} and your API key or token, then retry"
        )
    }
}

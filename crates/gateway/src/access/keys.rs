//! API keys: the stored record (a hash, never the key), what `POST /mcp/keys` and
//! `PATCH /mcp/keys/{key_id}` accept, and the view every answer shows.
//!
//! A key is `mgw_` and 32 random bytes (base64url, 256 bits). Only its SHA-256 is kept: a
//! key is random and long, so a fast hash is enough (a password hash protects guessable
//! secrets; these are not), and a request costs one hash and one map lookup.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::{
    allow::Allow,
    decisions::Decisions,
    limits::Limits,
    policy::{PolicyTable, caller_facts},
};
use crate::model::FieldError;

pub use super::limits::RateLimit;

/// What every generated key starts with (recognisable by secret scanners and people).
pub const KEY_PREFIX: &str = "mgw_";
/// The shortest key a config file may declare.
pub const MIN_CONFIGURED_KEY_LEN: usize = 32;
const MAX_NAME_LEN: usize = 128;
const MAX_POLICIES: usize = 32;
const MAX_METADATA_BYTES: usize = 16 * 1024;

/// An API key as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The key's first characters (`mgw_AbCd`), to tell keys apart in lists.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Server ids (globs) the key reaches; `None`: every server.
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    /// Tool names (globs, matched against `<server_id><sep><tool>` and the exposed name)
    /// the key may list and call; `None`: every tool of the servers it reaches.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Named policies ([`super::policy`]) the key's tools are also subject to.
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// Where a key was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// `POST /mcp/keys` (stored).
    Api,
    /// The config file's `keys:` block (not stored; the file is its source).
    Config,
}

/// A key in force: its record, its compiled allowlist and its limits' state (which a
/// change of the key starts afresh).
#[derive(Debug)]
pub struct ActiveKey {
    pub record: KeyRecord,
    pub source: KeySource,
    /// `key:<key_id>` (see [`super::Identity::principal`]).
    pub principal: String,
    pub(super) allow: Arc<Allow>,
    pub(super) limits: Arc<Limits>,
    /// What policies see of the key (`caller`).
    pub(super) facts: cel::Value,
    pub(super) decisions: Decisions,
}

impl ActiveKey {
    /// Compiles a record's allowlists (a stored record was checked when written; the error
    /// names the field anyway); its policies are looked up in `policies`.
    pub fn new(
        record: KeyRecord,
        source: KeySource,
        policies: &Arc<PolicyTable>,
    ) -> Result<Self, FieldError> {
        let allow = Allow::new(
            record.servers.as_deref(),
            record.tools.as_deref(),
            &record.policies,
            policies,
        )?;
        let limits = Limits::new(record.rate_limit.as_ref())?;
        let principal = format!("key:{}", record.key_id);
        let facts = caller_facts(serde_json::json!({
            "principal": principal, "kind": "key", "id": record.key_id, "name": record.name,
            "subject": "", "groups": [], "scopes": [], "claims": {}, "metadata": record.metadata,
        }));
        Ok(Self {
            principal,
            record,
            source,
            allow: Arc::new(allow),
            limits: Arc::new(limits),
            facts,
            decisions: Decisions::default(),
        })
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.record.expires_at.is_some_and(|at| at <= now)
    }

    pub fn view(&self) -> KeyView {
        let r = &self.record;
        KeyView {
            key_id: r.key_id.clone(),
            name: r.name.clone(),
            prefix: r.prefix.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            expired: self.is_expired(Utc::now()),
            servers: r.servers.clone(),
            tools: r.tools.clone(),
            policies: r.policies.clone(),
            metadata: r.metadata.clone(),
            rate_limit: r.rate_limit.clone(),
            source: self.source,
        }
    }
}

/// What the API shows of a key: never the key or its hash.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub key_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
    pub servers: Option<Vec<String>>,
    pub tools: Option<Vec<String>>,
    pub policies: Vec<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub rate_limit: Option<RateLimit>,
    pub source: KeySource,
}

/// The body of `POST /mcp/keys`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// The body of `PATCH /mcp/keys/{key_id}`: the fields it names change (`null` clears
/// `expires_at`, `servers`, `tools`: no expiry, no restriction); the key stays.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    pub servers: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub tools: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "present")]
    pub rate_limit: Option<Option<RateLimit>>,
}

/// A field that is present, possibly `null` (absent stays `None` through `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A freshly made key: the record to store and the key, shown once.
pub struct Minted {
    pub record: KeyRecord,
    pub key: String,
}

impl NewKey {
    /// Checks the request and makes the key (`key_id` random unless the caller chose).
    pub fn mint(self, now: DateTime<Utc>) -> Result<Minted, FieldError> {
        let key = generate();
        let key_id = format!("key_{}", hex(&random::<8>()));
        let record = self.record(key_id, &key, now)?;
        Ok(Minted { record, key })
    }

    /// The checked record of the key `key` with these settings (the API's and the config
    /// file's keys alike).
    fn record(
        self,
        key_id: String,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord, FieldError> {
        let record = KeyRecord {
            key_id,
            name: self.name,
            key_hash: hash(key),
            prefix: key.chars().take(KEY_PREFIX.len() + 4).collect(),
            created_at: now,
            expires_at: self.expires_at,
            servers: self.servers,
            tools: self.tools,
            policies: self.policies,
            metadata: self.metadata.unwrap_or_default(),
            rate_limit: self.rate_limit,
        };
        check(&record, now)?;
        Ok(record)
    }
}

impl KeyPatch {
    /// The record with this patch applied, checked.
    pub fn apply(self, mut record: KeyRecord, now: DateTime<Utc>) -> Result<KeyRecord, FieldError> {
        if let Some(name) = self.name {
            record.name = name;
        }
        if let Some(expires_at) = self.expires_at {
            record.expires_at = expires_at;
        }
        if let Some(servers) = self.servers {
            record.servers = servers;
        }
        if let Some(tools) = self.tools {
            record.tools = tools;
        }
        if let Some(policies) = self.policies {
            record.policies = policies;
        }
        if let Some(metadata) = self.metadata {
            record.metadata = metadata;
        }
        if let Some(rate_limit) = self.rate_limit {
            record.rate_limit = rate_limit;
        }
        check(&record, now)?;
        Ok(record)
    }
}

/// The rules every key record follows (the API's and the config file's).
pub fn check(record: &KeyRecord, now: DateTime<Utc>) -> Result<(), FieldError> {
    let name = record.name.trim();
    if name.is_empty() {
        return Err(FieldError::invalid("name", "is required"));
    }
    if record.name.chars().count() > MAX_NAME_LEN || record.name.chars().any(char::is_control) {
        return Err(FieldError::invalid(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters, without control characters"),
        ));
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(FieldError::invalid("expires_at", "is in the past"));
    }
    let metadata = serde_json::to_vec(&record.metadata).map_or(0, |m| m.len());
    if metadata > MAX_METADATA_BYTES {
        return Err(FieldError::invalid(
            "metadata",
            format!("is {metadata} bytes of JSON; at most {MAX_METADATA_BYTES}"),
        ));
    }
    if record.policies.len() > MAX_POLICIES {
        return Err(FieldError::invalid(
            "policies",
            format!(
                "names {} policies; at most {MAX_POLICIES}",
                record.policies.len()
            ),
        ));
    }
    ActiveKey::new(record.clone(), KeySource::Api, &Arc::default()).map(|_| ())
}

/// A key declared in the config file: `key_id` is its entry's name, `key` its value.
pub fn configured(
    key_id: &str,
    key: &str,
    spec: NewKey,
    now: DateTime<Utc>,
) -> Result<KeyRecord, FieldError> {
    if key.chars().count() < MIN_CONFIGURED_KEY_LEN {
        return Err(FieldError::invalid(
            "key",
            format!(
                "must be at least {MIN_CONFIGURED_KEY_LEN} characters (a random secret; \
                 `mcp-gateway keys generate` prints one)"
            ),
        ));
    }
    spec.record(key_id.to_owned(), key, now)
}

/// A new random key, for `mcp-gateway keys generate` (config-file keys).
pub fn generate() -> String {
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random::<32>()))
}

/// The SHA-256 of a presented key, hex (what the store keeps).
pub fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// The raw SHA-256 of a presented key (the lookup key of the table).
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn random<const N: usize>() -> [u8; N] {
    use aes_gcm::aead::{OsRng, rand_core::RngCore};
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key(json: serde_json::Value) -> Result<NewKey, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn minted_keys_are_long_random_and_stored_as_a_hash() {
        let now = Utc::now();
        let a = new_key(serde_json::json!({"name": "ci"}))
            .unwrap()
            .mint(now)
            .unwrap();
        let b = new_key(serde_json::json!({"name": "ci"}))
            .unwrap()
            .mint(now)
            .unwrap();
        assert!(
            a.key.starts_with("mgw_") && a.key.len() >= 4 + 43,
            "{}",
            a.key
        );
        assert_ne!(a.key, b.key);
        assert_ne!(a.record.key_id, b.record.key_id);
        assert_eq!(a.record.key_hash, hash(&a.key));
        let stored = serde_json::to_string(&a.record).unwrap();
        assert!(!stored.contains(&a.key), "the key itself is never stored");
        assert!(a.key.starts_with(&a.record.prefix));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let now = Utc::now();
        let err = |json| new_key(json).unwrap().mint(now).err().unwrap().field;
        assert_eq!(err(serde_json::json!({"name": " "})), "name");
        assert_eq!(
            err(serde_json::json!({"name": "a", "tools": ["a["]})),
            "tools"
        );
        assert_eq!(
            err(serde_json::json!({"name": "a", "servers": [""]})),
            "servers"
        );
        assert_eq!(
            err(serde_json::json!({"name": "a", "expires_at": "2001-01-01T00:00:00Z"})),
            "expires_at"
        );
        assert!(new_key(serde_json::json!({"name": "a", "key": "mine"})).is_err());
    }

    #[test]
    fn patches_change_only_what_they_name() {
        let now = Utc::now();
        let minted = new_key(serde_json::json!({"name": "a", "tools": ["x__*"], "servers": ["x"]}))
            .unwrap()
            .mint(now)
            .unwrap();
        let patch: KeyPatch =
            serde_json::from_value(serde_json::json!({"tools": null, "name": "b"})).unwrap();
        let patched = patch.apply(minted.record.clone(), now).unwrap();
        assert_eq!(patched.name, "b");
        assert_eq!(patched.tools, None);
        assert_eq!(patched.servers, Some(vec!["x".to_owned()]));
        assert_eq!(patched.key_hash, minted.record.key_hash);
    }

    #[test]
    fn configured_keys_must_be_long() {
        let spec = || NewKey {
            name: "bot".into(),
            ..NewKey::default()
        };
        assert_eq!(
            configured("bot", "short", spec(), Utc::now())
                .unwrap_err()
                .field,
            "key"
        );
        let long = generate();
        let record = configured("bot", &long, spec(), Utc::now()).unwrap();
        assert_eq!(record.key_hash, hash(&long));
    }
}

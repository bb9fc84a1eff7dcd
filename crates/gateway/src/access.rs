//! Who is calling, and what they may reach.
//!
//! The front door authenticates every request to an [`Identity`] ([`crate::front::auth`]):
//! the operator (the master key; anyone on a keyless gateway, which listens on loopback
//! only; the local user of `mcp-gateway stdio`), an API key ([`keys`]) or the caller a
//! JWT of the configured identity provider names ([`jwt`]). The identity travels with
//! the request (its extensions, then the relay's `Call`), and every route to an upstream
//! — the relay's routing and lists on every MCP face and era, the REST catalog — asks
//! its [`Access`] first. A name or URI outside it is answered exactly as one that does
//! not exist.

mod admission;
mod allow;
mod decisions;
mod jwks;
pub mod jwt;
pub mod keys;
mod limits;
mod patterns;
pub mod policy;

use std::{collections::HashMap, sync::Arc};

use arc_swap::ArcSwap;
use indexmap::IndexMap;

use self::{
    decisions::Decisions,
    jwt::TokenCaller,
    keys::{ActiveKey, KeySource},
};
use crate::registry::Snapshot;

pub use admission::{Admission, AuditCalls, Called};
pub use allow::Allow;
pub use limits::{Limited, Limits, RateLimit, Slot};
pub use patterns::Patterns;

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Identity {
    /// The master key.
    Master,
    /// Anyone on a gateway without a master key (it listens on loopback only).
    Loopback,
    /// The local user of `mcp-gateway stdio`.
    Local,
    /// An API key, as in force when the request arrived.
    Key(Arc<ActiveKey>),
    /// A JWT bearer token from the configured identity provider, verified.
    Token(Arc<TokenCaller>),
}

impl Identity {
    /// The operator may do everything; a key or a token only what it grants, and no
    /// admin change.
    pub fn is_operator(&self) -> bool {
        matches!(
            self,
            Identity::Master | Identity::Loopback | Identity::Local
        )
    }

    /// Who, for logs, the audit and session ownership: `master_key`, `loopback`, `stdio`,
    /// `key:<key_id>` or `jwt:<subject>`.
    pub fn principal(&self) -> &str {
        match self {
            Identity::Master => "master_key",
            Identity::Loopback => "loopback",
            Identity::Local => "stdio",
            Identity::Key(key) => &key.principal,
            Identity::Token(caller) => &caller.principal,
        }
    }

    /// What this identity may reach.
    pub fn access(&self) -> Access {
        match self {
            Identity::Key(key) => Access(Grant::Key(key.clone())),
            Identity::Token(caller) => Access(Grant::Token(caller.clone())),
            _ => Access::EVERYTHING,
        }
    }
}

/// What a caller may reach: everything (the operator), what its key or token grants, or
/// nothing (a request that reached the relay without an identity: a bug, which fails
/// closed).
#[derive(Debug, Clone)]
pub struct Access(Grant);

#[derive(Debug, Clone)]
enum Grant {
    Everything,
    Key(Arc<ActiveKey>),
    Token(Arc<TokenCaller>),
    Nothing,
}

/// The allowlists whose union a caller reaches, its facts for their policies, and its
/// remembered decisions.
struct Reach<'a> {
    allows: &'a [Arc<Allow>],
    facts: &'a cel::Value,
    decisions: Option<&'a Decisions>,
}

impl Access {
    pub const EVERYTHING: Access = Access(Grant::Everything);
    pub const NOTHING: Access = Access(Grant::Nothing);

    pub fn is_everything(&self) -> bool {
        matches!(self.0, Grant::Everything)
    }

    /// What the caller reaches (`None`: everything).
    fn reach(&self) -> Option<Reach<'_>> {
        match &self.0 {
            Grant::Everything => None,
            Grant::Key(key) => Some(Reach {
                allows: std::slice::from_ref(&key.allow),
                facts: &key.facts,
                decisions: Some(&key.decisions),
            }),
            Grant::Token(caller) => Some(Reach {
                allows: &caller.allows,
                facts: &caller.facts,
                decisions: Some(&caller.decisions),
            }),
            Grant::Nothing => Some(Reach {
                allows: &[],
                facts: &cel::Value::Null,
                decisions: None,
            }),
        }
    }

    /// Whether the caller reaches `server_id` at all (its tools, resources, prompts).
    pub fn allows_server(&self, server_id: &str) -> bool {
        self.reach()
            .is_none_or(|reach| reach.allows.iter().any(|a| a.server(server_id)))
    }

    /// Whether the caller may list and call `server_id`'s tool `name` (the upstream's
    /// name); see [`Allow::tool`]. Under policies the decision is remembered until the
    /// snapshot or the policies change.
    pub fn allows_tool(&self, snapshot: &Snapshot, server_id: &str, name: &str) -> bool {
        self.reach().is_none_or(|reach| {
            let decide = || {
                reach
                    .allows
                    .iter()
                    .any(|a| a.tool(snapshot, server_id, name, reach.facts))
            };
            // Each generation only grows, so their sum changes whenever one does.
            let policies = reach
                .allows
                .iter()
                .filter_map(|a| a.policies_generation())
                .reduce(u64::wrapping_add);
            match (policies, reach.decisions) {
                (Some(policies), Some(decisions)) => {
                    decisions.decide((snapshot.generation, policies), server_id, name, decide)
                }
                _ => decide(),
            }
        })
    }

    /// Lets one request to an upstream through the caller's limits (the operator has
    /// none), or says when to retry.
    pub fn admit(&self) -> Result<Option<Slot>, Limited> {
        match &self.0 {
            Grant::Key(key) => key.limits.admit().map(Some),
            Grant::Token(caller) => caller.limits.admit().map(Some),
            Grant::Everything | Grant::Nothing => Ok(None),
        }
    }

    /// Who, for the audit of calls: a key's or a token's principal, or `operator`.
    pub fn principal(&self) -> &str {
        match &self.0 {
            Grant::Key(key) => &key.principal,
            Grant::Token(caller) => &caller.principal,
            Grant::Everything => "operator",
            Grant::Nothing => "nobody",
        }
    }

    /// The caller's JWT, for a token exchange (RFC 8693); `None` for keys and the operator.
    pub fn bearer_token(&self) -> Option<&crate::secret::Secret> {
        match &self.0 {
            Grant::Token(caller) => Some(&caller.token),
            _ => None,
        }
    }

    /// Whether this is a key's or a token's access (not the operator's).
    pub fn is_identity(&self) -> bool {
        matches!(self.0, Grant::Key(_) | Grant::Token(_))
    }
}

/// The API keys in force, by id and by the hash of the key; swapped whole on a change
/// (keys change seldom, and a request reads them without a lock).
#[derive(Default)]
pub struct KeyTable {
    keys: ArcSwap<Keys>,
}

#[derive(Default)]
struct Keys {
    by_id: IndexMap<String, Arc<ActiveKey>>,
    by_digest: HashMap<[u8; 32], Arc<ActiveKey>>,
}

impl KeyTable {
    /// The key a request presented, if it is one in force and not expired.
    pub fn find(&self, presented: &str) -> Option<Arc<ActiveKey>> {
        let keys = self.keys.load();
        if keys.by_id.is_empty() {
            return None;
        }
        let key = keys.by_digest.get(&keys::digest(presented))?;
        (!key.is_expired(chrono::Utc::now())).then(|| key.clone())
    }

    pub fn get(&self, key_id: &str) -> Option<Arc<ActiveKey>> {
        self.keys.load().by_id.get(key_id).cloned()
    }

    /// Every key, in the order they were added.
    pub fn list(&self) -> Vec<Arc<ActiveKey>> {
        self.keys.load().by_id.values().cloned().collect()
    }

    /// Puts a key in force (replacing one of the same id). Callers serialise changes.
    pub fn put(&self, key: ActiveKey) -> Arc<ActiveKey> {
        let key = Arc::new(key);
        self.change(|by_id| {
            by_id.insert(key.record.key_id.clone(), key.clone());
        });
        key
    }

    /// Takes a key out of force at once (requests already admitted finish).
    pub fn remove(&self, key_id: &str) -> Option<Arc<ActiveKey>> {
        let mut removed = None;
        self.change(|by_id| removed = by_id.shift_remove(key_id));
        removed
    }

    /// What `principal` (see [`Identity::principal`]) may reach now: a key's grant as in
    /// force at this moment (nothing once it is deleted or expired), the operator's
    /// everything. For sessions, which outlive the request that opened them.
    pub fn access_of(&self, principal: &str) -> Access {
        match principal {
            "master_key" | "loopback" | "stdio" => Access::EVERYTHING,
            _ => principal
                .strip_prefix("key:")
                .and_then(|id| self.get(id))
                .filter(|key| !key.is_expired(chrono::Utc::now()))
                .map_or(Access::NOTHING, |key| Access(Grant::Key(key))),
        }
    }

    /// Whether `key_id` names a key of the config file.
    pub fn is_configured(&self, key_id: &str) -> bool {
        self.get(key_id)
            .is_some_and(|k| k.source == KeySource::Config)
    }

    fn change(&self, edit: impl FnOnce(&mut IndexMap<String, Arc<ActiveKey>>)) {
        let mut by_id = self.keys.load().by_id.clone();
        edit(&mut by_id);
        let by_digest = by_id
            .values()
            .filter_map(|key| Some((parse_hex(&key.record.key_hash)?, key.clone())))
            .collect();
        self.keys.store(Arc::new(Keys { by_id, by_digest }));
    }
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keys::NewKey;

    #[test]
    fn a_key_is_found_by_its_value_until_removed_or_expired() {
        let table = KeyTable::default();
        let now = chrono::Utc::now();
        let minted = NewKey {
            name: "a".into(),
            ..NewKey::default()
        }
        .mint(now)
        .unwrap();
        let id = minted.record.key_id.clone();
        table.put(
            ActiveKey::new(minted.record.clone(), KeySource::Api, &Default::default()).unwrap(),
        );
        assert_eq!(table.find(&minted.key).unwrap().record.key_id, id);
        assert!(table.find("mgw_not-a-key").is_none());
        assert!(
            table.find(&minted.record.key_hash).is_none(),
            "the hash is no key"
        );

        let mut expired = minted.record.clone();
        expired.expires_at = Some(now - chrono::Duration::seconds(1));
        table.put(ActiveKey::new(expired, KeySource::Api, &Default::default()).unwrap());
        assert!(table.find(&minted.key).is_none(), "expired");

        table.put(ActiveKey::new(minted.record, KeySource::Api, &Default::default()).unwrap());
        assert!(table.find(&minted.key).is_some());
        table.remove(&id);
        assert!(table.find(&minted.key).is_none(), "removed");
    }
}

//! Who is calling, and what they may reach.
//!
//! The front door authenticates every request to an [`Identity`] ([`crate::front::auth`]):
//! the operator (the master key; anyone on a keyless gateway, which listens on loopback
//! only; the local user of `mcp-gateway stdio`) or an API key. The identity travels with
//! the request (its extensions, then the relay's `Call`), and every route to an upstream
//! — the relay's routing and lists on every MCP face and era, the REST catalog — asks
//! its [`Access`] first. A name or URI outside it is answered exactly as one that does
//! not exist.

pub mod keys;
mod patterns;

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use arc_swap::ArcSwap;
use indexmap::IndexMap;

use self::keys::{ActiveKey, KeySource};
use crate::registry::Snapshot;

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
}

impl Identity {
    /// The operator may do everything; a key only what it grants, and no admin change.
    pub fn is_operator(&self) -> bool {
        !matches!(self, Identity::Key(_))
    }

    /// Who, for logs, the audit and session ownership: `master_key`, `loopback`, `stdio`
    /// or `key:<key_id>`.
    pub fn principal(&self) -> Cow<'static, str> {
        match self {
            Identity::Master => Cow::Borrowed("master_key"),
            Identity::Loopback => Cow::Borrowed("loopback"),
            Identity::Local => Cow::Borrowed("stdio"),
            Identity::Key(key) => Cow::Owned(format!("key:{}", key.record.key_id)),
        }
    }

    /// What this identity may reach.
    pub fn access(&self) -> Access {
        match self {
            Identity::Key(key) => Access(Grant::Key(key.clone())),
            _ => Access::EVERYTHING,
        }
    }
}

/// What a caller may reach: everything (the operator), what its key grants, or nothing
/// (a request that reached the relay without an identity: a bug, which fails closed).
#[derive(Debug, Clone)]
pub struct Access(Grant);

#[derive(Debug, Clone)]
enum Grant {
    Everything,
    Key(Arc<ActiveKey>),
    Nothing,
}

impl Access {
    pub const EVERYTHING: Access = Access(Grant::Everything);
    pub const NOTHING: Access = Access(Grant::Nothing);

    pub fn is_everything(&self) -> bool {
        matches!(self.0, Grant::Everything)
    }

    /// Whether the caller reaches `server_id` at all (its tools, resources, prompts).
    pub fn allows_server(&self, server_id: &str) -> bool {
        match &self.0 {
            Grant::Everything => true,
            Grant::Key(key) => key.servers.as_ref().is_none_or(|p| p.matches(server_id)),
            Grant::Nothing => false,
        }
    }

    /// Whether the caller may list and call `server_id`'s tool `name` (the upstream's
    /// name). The key's tool patterns match `<server_id><sep><name>` or the name the tool
    /// is exposed under at `/mcp`, whichever face the request came in on.
    pub fn allows_tool(&self, snapshot: &Snapshot, server_id: &str, name: &str) -> bool {
        let key = match &self.0 {
            Grant::Everything => return true,
            Grant::Nothing => return false,
            Grant::Key(key) => key,
        };
        if !self.allows_server(server_id) {
            return false;
        }
        let Some(tools) = &key.tools else {
            return true;
        };
        let qualified = snapshot.qualified_tool_name(server_id, name);
        tools.matches(&qualified)
            || snapshot
                .exposed_tool_name(server_id, name)
                .is_some_and(|exposed| exposed != qualified && tools.matches(&exposed))
    }
}

/// A request let through its key's limits: holds its place among the key's requests in
/// flight until dropped.
#[must_use = "the request counts as in flight while this is held"]
#[derive(Debug)]
pub struct Admission(Option<Arc<ActiveKey>>);

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(key) = &self.0 {
            key.limits.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A request refused by its key's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// When a retry may succeed.
    pub retry_after: Duration,
    /// What was exceeded: `requests_per_minute` or `max_concurrent`.
    pub limit: &'static str,
}

impl Access {
    /// Lets one request to an upstream through the caller's limits (the operator has
    /// none), or says when to retry.
    pub fn admit(&self) -> Result<Admission, Limited> {
        let Grant::Key(key) = &self.0 else {
            return Ok(Admission(None));
        };
        let limits = &key.limits;
        if let Some(cap) = limits.max_concurrent {
            let before = limits.in_flight.fetch_add(1, Ordering::Relaxed);
            if before >= cap {
                limits.in_flight.fetch_sub(1, Ordering::Relaxed);
                return Err(Limited {
                    retry_after: Duration::from_secs(1),
                    limit: "max_concurrent",
                });
            }
        } else {
            limits.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        let admission = Admission(Some(key.clone()));
        if let Some(bucket) = &limits.bucket
            && let Err(not_until) = bucket.check()
        {
            use governor::clock::{Clock, DefaultClock};
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(Limited {
                retry_after: wait.max(Duration::from_millis(1)),
                limit: "requests_per_minute",
            });
        }
        Ok(admission)
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
        table.put(ActiveKey::new(minted.record.clone(), KeySource::Api).unwrap());
        assert_eq!(table.find(&minted.key).unwrap().record.key_id, id);
        assert!(table.find("mgw_not-a-key").is_none());
        assert!(
            table.find(&minted.record.key_hash).is_none(),
            "the hash is no key"
        );

        let mut expired = minted.record.clone();
        expired.expires_at = Some(now - chrono::Duration::seconds(1));
        table.put(ActiveKey::new(expired, KeySource::Api).unwrap());
        assert!(table.find(&minted.key).is_none(), "expired");

        table.put(ActiveKey::new(minted.record, KeySource::Api).unwrap());
        assert!(table.find(&minted.key).is_some());
        table.remove(&id);
        assert!(table.find(&minted.key).is_none(), "removed");
    }

    fn limited(rate_limit: serde_json::Value) -> Access {
        let spec: NewKey =
            serde_json::from_value(serde_json::json!({"name": "l", "rate_limit": rate_limit}))
                .unwrap();
        let minted = spec.mint(chrono::Utc::now()).unwrap();
        Access(Grant::Key(Arc::new(
            ActiveKey::new(minted.record, KeySource::Api).unwrap(),
        )))
    }

    #[test]
    fn a_bucket_lets_its_burst_through_then_says_when() {
        let access = limited(serde_json::json!({"requests_per_minute": 60, "burst": 3}));
        for _ in 0..3 {
            drop(access.admit().expect("within the burst"));
        }
        let refused = access.admit().unwrap_err();
        assert_eq!(refused.limit, "requests_per_minute");
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1),
            "{refused:?}"
        );
        assert!(Access::EVERYTHING.admit().is_ok());
    }

    #[test]
    fn the_concurrency_cap_counts_requests_in_flight() {
        let access = limited(serde_json::json!({"max_concurrent": 2}));
        let first = access.admit().unwrap();
        let second = access.admit().unwrap();
        assert_eq!(access.admit().unwrap_err().limit, "max_concurrent");
        drop(first);
        let third = access.admit().expect("a place was freed");
        drop((second, third));
        assert!(access.admit().is_ok());
    }

    #[test]
    fn limits_are_checked() {
        let spec = |limit: serde_json::Value| {
            serde_json::from_value::<NewKey>(serde_json::json!({"name": "l", "rate_limit": limit}))
        };
        let field = |limit| {
            spec(limit)
                .unwrap()
                .mint(chrono::Utc::now())
                .err()
                .expect("refused")
                .field
        };
        assert_eq!(
            field(serde_json::json!({"requests_per_minute": 0})),
            "rate_limit.requests_per_minute"
        );
        assert_eq!(field(serde_json::json!({"burst": 5})), "rate_limit.burst");
        assert_eq!(
            field(serde_json::json!({"max_concurrent": 0})),
            "rate_limit.max_concurrent"
        );
        assert!(spec(serde_json::json!({"per_hour": 5})).is_err());
    }
}

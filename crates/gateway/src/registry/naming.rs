//! How items of many servers get names that are unique at one endpoint.

use std::{collections::HashMap, sync::Arc};

use serde::Deserialize;

/// What to do when servers offer tools or prompts of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamePolicy {
    /// Every name is `<server_id><separator><name>` (the default: names never change when
    /// another server is added).
    #[default]
    PrefixAlways,
    /// Names are the upstream's own unless two servers offer the same one; then all of
    /// them are prefixed.
    PrefixOnConflict,
    /// Names are the upstream's own; on a conflict the server registered first keeps the
    /// name and the others' item is not exposed.
    Reject,
}

/// The naming rule of a gateway.
#[derive(Debug, Clone)]
pub struct Naming {
    pub separator: String,
    pub policy: NamePolicy,
}

impl Default for Naming {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            policy: NamePolicy::PrefixAlways,
        }
    }
}

/// For one kind of item (tools or prompts): upstream name → the servers offering it, in
/// registration order.
pub type Owners = HashMap<String, Vec<Arc<str>>>;

impl Naming {
    /// The exposed name of `server_id`'s item `name`, or `None` when the policy hides it.
    pub fn expose(&self, owners: &Owners, server_id: &str, name: &str) -> Option<String> {
        let offered_by = owners.get(name).map(Vec::as_slice).unwrap_or_default();
        match self.policy {
            NamePolicy::PrefixAlways => Some(self.prefixed(server_id, name)),
            NamePolicy::PrefixOnConflict if offered_by.len() > 1 => {
                Some(self.prefixed(server_id, name))
            }
            NamePolicy::PrefixOnConflict => Some(name.to_owned()),
            NamePolicy::Reject => match offered_by.first() {
                Some(first) if &**first != server_id => None,
                _ => Some(name.to_owned()),
            },
        }
    }

    /// `<server_id><separator><name>`.
    pub fn prefixed(&self, server_id: &str, name: &str) -> String {
        let mut out = String::with_capacity(server_id.len() + self.separator.len() + name.len());
        out.push_str(server_id);
        out.push_str(&self.separator);
        out.push_str(name);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners() -> Owners {
        HashMap::from([
            ("search".to_owned(), vec![Arc::from("a"), Arc::from("b")]),
            ("echo".to_owned(), vec![Arc::from("b")]),
        ])
    }

    #[test]
    fn each_policy() {
        let naming = |policy| Naming {
            separator: "__".into(),
            policy,
        };
        let always = naming(NamePolicy::PrefixAlways);
        assert_eq!(
            always.expose(&owners(), "b", "echo").as_deref(),
            Some("b__echo")
        );
        let on_conflict = naming(NamePolicy::PrefixOnConflict);
        assert_eq!(
            on_conflict.expose(&owners(), "b", "echo").as_deref(),
            Some("echo")
        );
        assert_eq!(
            on_conflict.expose(&owners(), "b", "search").as_deref(),
            Some("b__search")
        );
        let reject = naming(NamePolicy::Reject);
        assert_eq!(
            reject.expose(&owners(), "a", "search").as_deref(),
            Some("search")
        );
        assert_eq!(reject.expose(&owners(), "b", "search"), None);
        assert_eq!(
            reject.expose(&owners(), "b", "echo").as_deref(),
            Some("echo")
        );
    }
}

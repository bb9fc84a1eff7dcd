//! A caller's tool decisions, remembered. Deciding a tool under named policies runs CEL
//! programs (~9 % of throughput at c = 16, measured before this memo); the answer
//! depends only on the caller's facts (fixed for a key or a verified token), the registry
//! snapshot (the tool's definition and exposed name) and the policies in force, so it is
//! kept per caller until the snapshot or the policies change.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
};

/// Decisions kept per caller before the memo starts over (a caller listing a very large
/// catalog decides each tool once per snapshot anyway).
const MAX_DECISIONS: usize = 16_384;

#[derive(Debug, Default)]
pub struct Decisions {
    memo: Mutex<Memo>,
}

#[derive(Debug, Default)]
struct Memo {
    /// The snapshot generation and policy generation the decisions hold for.
    of: (u64, u64),
    /// Server id → tool name (the upstream's) → allowed.
    by_server: HashMap<String, HashMap<String, bool>>,
    len: usize,
}

impl Decisions {
    /// The decision on `server_id`'s tool `name` for snapshot generation `snapshot` and
    /// policy generation `policies`: remembered, or made by `decide` (outside the lock)
    /// and remembered.
    pub fn decide(
        &self,
        (snapshot, policies): (u64, u64),
        server_id: &str,
        name: &str,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        {
            let memo = self.memo();
            if memo.of == (snapshot, policies)
                && let Some(&allowed) = memo.by_server.get(server_id).and_then(|t| t.get(name))
            {
                return allowed;
            }
        }
        let allowed = decide();
        let mut memo = self.memo();
        if memo.of != (snapshot, policies) || memo.len >= MAX_DECISIONS {
            // A newer snapshot or policy set starts a new memo; an older one (a request
            // that loaded its snapshot before another's) is not remembered.
            if (snapshot, policies) < memo.of {
                return allowed;
            }
            *memo = Memo {
                of: (snapshot, policies),
                ..Memo::default()
            };
        }
        let tools = memo.by_server.entry(server_id.to_owned()).or_default();
        if tools.insert(name.to_owned(), allowed).is_none() {
            memo.len += 1;
        }
        allowed
    }

    fn memo(&self) -> MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_decision_is_made_once_per_snapshot_and_policy_generation() {
        let decisions = Decisions::default();
        let made = Cell::new(0);
        let decide = |of, name: &str, answer: bool| {
            decisions.decide(of, "srv", name, || {
                made.set(made.get() + 1);
                answer
            })
        };
        assert!(decide((1, 1), "a", true));
        assert!(decide((1, 1), "a", false), "remembered");
        assert!(!decide((1, 1), "b", false));
        assert_eq!(made.get(), 2);

        assert!(
            !decide((1, 2), "a", false),
            "policies changed: decided again"
        );
        assert!(decide((2, 2), "a", true), "snapshot changed: decided again");
        assert_eq!(made.get(), 4);

        assert!(
            !decide((1, 2), "a", false),
            "an older generation is decided…"
        );
        assert!(
            decide((2, 2), "a", false),
            "…and not remembered over the newer"
        );
        assert_eq!(made.get(), 5);
    }

    #[test]
    fn the_memo_is_bounded() {
        let decisions = Decisions::default();
        for i in 0..MAX_DECISIONS + 10 {
            decisions.decide((1, 1), "srv", &i.to_string(), || true);
        }
        assert!(decisions.memo().len <= MAX_DECISIONS);
    }
}

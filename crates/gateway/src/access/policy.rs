//! Named policies: reusable rules, written in CEL (the Common Expression Language, as in
//! Kubernetes and Envoy), that decide which tools a caller may list and call. A policy is
//! `allow` or `deny` `when` its expression holds; keys and JWT grants name the policies
//! they are subject to. For a tool their allowlist reaches:
//!
//! * a `deny` policy whose expression holds hides the tool;
//! * if any `allow` policies are named, at least one must hold;
//! * a policy that cannot be evaluated (an error in its expression at run time) or that
//!   no longer exists counts against the caller: the tool is hidden (fail closed).
//!
//! The expression sees `caller` (`principal`, `kind` — `key` or `jwt` —, `id`, `name`,
//! `subject`, `groups`, `scopes`, `claims`, `metadata`), `server` (`id`) and `tool`
//! (`name`, `exposed_name`, `title`, `description`, `annotations` with the MCP defaults
//! filled in: `readOnlyHint` false, `destructiveHint` true, `idempotentHint` false,
//! `openWorldHint` true).

use std::sync::{
    Arc, LazyLock,
    atomic::{AtomicU64, Ordering},
};

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::FieldError;

const MAX_NAME_LEN: usize = 64;
const MAX_EXPRESSION_LEN: usize = 4096;
const MAX_DESCRIPTION_LEN: usize = 1024;

/// What a policy does when its expression holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// Where a policy was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicySource {
    /// `POST /mcp/policies` (stored).
    Api,
    /// The config file's `policies:` block.
    Config,
}

/// A policy as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub name: String,
    pub effect: Effect,
    /// The CEL expression.
    pub when: String,
    #[serde(default)]
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /mcp/policies` (with `name`) and `PUT /mcp/policies/{name}`, and an
/// entry of the config file's `policies:` block (named by its key).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub name: Option<String>,
    pub effect: Effect,
    pub when: String,
    #[serde(default)]
    pub description: String,
}

impl PolicySpec {
    /// The checked record named `name` (created now, or at `created_at` when replacing).
    pub fn record(
        self,
        name: String,
        created_at: Option<DateTime<Utc>>,
    ) -> Result<PolicyRecord, FieldError> {
        let now = Utc::now();
        let record = PolicyRecord {
            name,
            effect: self.effect,
            when: self.when,
            description: self.description,
            created_at: created_at.unwrap_or(now),
            updated_at: now,
        };
        Policy::new(record.clone(), PolicySource::Api)?;
        Ok(record)
    }
}

/// A policy in force: its record and its compiled expression.
pub struct Policy {
    pub record: PolicyRecord,
    pub source: PolicySource,
    program: cel::Program,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// The standard CEL environment, built once.
static CEL: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

impl Policy {
    /// Checks and compiles a record: its name, and an expression that parses, names only
    /// the variables policies see, and gives true or false.
    pub fn new(record: PolicyRecord, source: PolicySource) -> Result<Self, FieldError> {
        check_name(&record.name)?;
        if record.description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(FieldError::invalid(
                "description",
                format!("is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        let when = record.when.trim();
        if when.is_empty() || when.len() > MAX_EXPRESSION_LEN {
            return Err(FieldError::invalid(
                "when",
                format!("must be a CEL expression of 1 to {MAX_EXPRESSION_LEN} bytes"),
            ));
        }
        let program = cel::Program::compile(when)
            .map_err(|e| FieldError::invalid("when", format!("is not CEL: {e}")))?;
        let policy = Self {
            record,
            source,
            program,
        };
        // A dry run on a sample decision catches names policies do not have and results
        // that are not true or false; other run-time errors depend on the caller.
        match policy.holds(&Decision::sample()) {
            Err(cel::ExecutionError::UndeclaredReference(name)) => Err(FieldError::invalid(
                "when",
                format!("names `{name}`; a policy sees `caller`, `server` and `tool`"),
            )),
            Err(cel::ExecutionError::UnexpectedType { got, .. }) if got != "map" => Err(
                FieldError::invalid("when", format!("gives a {got}, not true or false")),
            ),
            _ => Ok(policy),
        }
    }

    /// Whether the expression holds for `decision`.
    fn holds(&self, decision: &Decision) -> Result<bool, cel::ExecutionError> {
        let mut context = cel::Context::with_env(CEL.clone());
        context.add_variable_from_value("caller", decision.caller.clone());
        context.add_variable_from_value("server", decision.server.clone());
        context.add_variable_from_value("tool", decision.tool.clone());
        match self.program.execute(&context)? {
            cel::Value::Bool(holds) => Ok(holds),
            other => Err(cel::ExecutionError::UnexpectedType {
                got: other.type_of().to_string(),
                want: "bool".to_owned(),
            }),
        }
    }
}

fn check_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 - _ ."),
        ))
    }
}

/// What policies are asked about: a caller (as [`caller_facts`] made it), a server and
/// one of its tools.
pub struct Decision {
    caller: cel::Value,
    server: cel::Value,
    tool: cel::Value,
}

impl Decision {
    pub fn new(
        caller: &cel::Value,
        server_id: &str,
        tool: &rmcp::model::Tool,
        exposed_name: &str,
    ) -> Self {
        let annotations = tool.annotations.as_ref();
        let hint = |get: fn(&rmcp::model::ToolAnnotations) -> Option<bool>, default: bool| {
            annotations.and_then(get).unwrap_or(default)
        };
        let tool = json!({
            "name": tool.name,
            "exposed_name": exposed_name,
            "title": tool.title.clone().or_else(|| annotations.and_then(|a| a.title.clone())).unwrap_or_default(),
            "description": tool.description.as_deref().unwrap_or_default(),
            "annotations": {
                "readOnlyHint": hint(|a| a.read_only_hint, false),
                "destructiveHint": hint(|a| a.destructive_hint, true),
                "idempotentHint": hint(|a| a.idempotent_hint, false),
                "openWorldHint": hint(|a| a.open_world_hint, true),
            },
        });
        Self {
            caller: caller.clone(),
            server: to_cel(&json!({ "id": server_id })),
            tool: to_cel(&tool),
        }
    }

    fn sample() -> Self {
        let caller = caller_facts(json!({
            "principal": "key:sample", "kind": "key", "id": "sample", "name": "sample",
            "subject": "", "groups": [], "scopes": [], "claims": {}, "metadata": {},
        }));
        let tool = rmcp::model::Tool::new("sample", "", Arc::new(Default::default()));
        Self::new(&caller, "sample", &tool, "sample__sample")
    }
}

/// A caller's facts as policies see them (`caller`): computed once per key or token.
pub fn caller_facts(facts: Value) -> cel::Value {
    to_cel(&facts)
}

fn to_cel(value: &Value) -> cel::Value {
    cel::to_value(value).unwrap_or(cel::Value::Null)
}

/// The policies in force, by name; swapped whole on a change.
#[derive(Debug, Default)]
pub struct PolicyTable {
    policies: ArcSwap<IndexMap<String, Arc<Policy>>>,
    /// Bumped after every change, for caches of decisions ([`super::decisions`]).
    generation: AtomicU64,
}

impl PolicyTable {
    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies.load().get(name).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Policy>> {
        self.policies.load().values().cloned().collect()
    }

    /// Puts a policy in force (replacing one of the same name). Callers serialise changes.
    pub fn put(&self, policy: Policy) {
        let mut policies = IndexMap::clone(&self.policies.load());
        policies.insert(policy.record.name.clone(), Arc::new(policy));
        self.policies.store(Arc::new(policies));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes when any policy does: read before deciding, a decision made with what it
    /// names is never older than it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn remove(&self, name: &str) -> Option<Arc<Policy>> {
        let mut policies = IndexMap::clone(&self.policies.load());
        let removed = policies.shift_remove(name);
        self.policies.store(Arc::new(policies));
        self.generation.fetch_add(1, Ordering::Release);
        removed
    }

    /// Whether the policies `names` let the caller use the tool of `decision` (see the
    /// module's rules).
    pub fn permit(&self, names: &[String], decision: &Decision) -> bool {
        let policies = self.policies.load();
        let mut allows = false;
        let mut allowed = false;
        for name in names {
            let Some(policy) = policies.get(name) else {
                return false;
            };
            let holds = policy.holds(decision).map_err(|e| {
                tracing::warn!(policy = %name, error = %e, "a policy could not be evaluated; the tool is hidden");
            });
            match policy.record.effect {
                Effect::Deny if holds.unwrap_or(true) => return false,
                Effect::Deny => {}
                Effect::Allow => {
                    allows = true;
                    allowed |= holds.unwrap_or(false);
                }
            }
        }
        !allows || allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(effect: Effect, when: &str) -> Result<Policy, FieldError> {
        let spec = PolicySpec {
            name: None,
            effect,
            when: when.into(),
            description: String::new(),
        };
        Policy::new(spec.record("p".into(), None)?, PolicySource::Api)
    }

    fn decision(groups: &[&str], annotations: Value) -> Decision {
        let caller = caller_facts(json!({"principal": "jwt:ann", "kind": "jwt", "groups": groups}));
        let mut tool = rmcp::model::Tool::new("delete_repo", "", Arc::new(Default::default()));
        tool.annotations = serde_json::from_value(annotations).unwrap();
        Decision::new(&caller, "github", &tool, "github__delete_repo")
    }

    #[test]
    fn expressions_are_checked_when_written() {
        assert!(policy(Effect::Deny, "tool.annotations.destructiveHint").is_ok());
        assert!(
            policy(
                Effect::Deny,
                "'interns' in caller.groups && server.id == 'github'"
            )
            .is_ok()
        );
        let field = |when| policy(Effect::Deny, when).unwrap_err();
        assert!(field("tool.name ==").message.contains("not CEL"));
        assert!(field("user.name == 'x'").message.contains("`user`"));
        assert!(field("tool.name").message.contains("string"), "not a bool");
        assert!(field(" ").message.contains("CEL expression"));
        let long = format!("tool.name == '{}'", "x".repeat(5000));
        assert!(field(&long).message.contains("4096"));
        let named = |name: &str| {
            let spec = PolicySpec {
                name: None,
                effect: Effect::Deny,
                when: "true".into(),
                description: String::new(),
            };
            spec.record(name.into(), None).map(|_| ())
        };
        assert!(named("no-destructive_1.0").is_ok());
        assert_eq!(named("bad name").unwrap_err().field, "name");
    }

    #[test]
    fn deny_wins_allows_need_one_and_errors_fail_closed() {
        let table = PolicyTable::default();
        let put = |name: &str, effect, when| {
            let mut p = policy(effect, when).unwrap();
            p.record.name = name.into();
            table.put(p);
        };
        put(
            "no-destructive-for-interns",
            Effect::Deny,
            "'interns' in caller.groups && tool.annotations.destructiveHint",
        );
        put("github-only", Effect::Allow, "server.id == 'github'");
        put("gitlab-only", Effect::Allow, "server.id == 'gitlab'");
        put("broken", Effect::Deny, "caller.claims.department == 'x'");
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let destructive = json!({"destructiveHint": true});
        let read_only = json!({"readOnlyHint": true, "destructiveHint": false});

        let deny = names(&["no-destructive-for-interns"]);
        assert!(!table.permit(&deny, &decision(&["interns"], destructive.clone())));
        assert!(table.permit(&deny, &decision(&["interns"], read_only.clone())));
        assert!(table.permit(&deny, &decision(&["staff"], destructive.clone())));
        assert!(
            !table.permit(&deny, &decision(&["interns"], Value::Null)),
            "unannotated tools are destructive by the spec's default"
        );

        assert!(table.permit(&names(&["github-only"]), &decision(&[], read_only.clone())));
        assert!(!table.permit(&names(&["gitlab-only"]), &decision(&[], read_only.clone())));
        assert!(table.permit(
            &names(&["gitlab-only", "github-only"]),
            &decision(&[], read_only.clone())
        ));

        assert!(
            !table.permit(&names(&["broken"]), &decision(&[], read_only.clone())),
            "no such claim"
        );
        assert!(
            !table.permit(&names(&["gone"]), &decision(&[], read_only)),
            "unknown policy"
        );
        assert!(table.permit(&[], &decision(&["interns"], destructive)));
    }
}

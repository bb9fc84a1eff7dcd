//! A request to an upstream, let through: its places among the caller's and the tool's
//! requests in flight, its meters (`/metrics`: in flight, outcome, time in total and
//! waiting on the upstream), and its audit record — who called which server's tool,
//! prompt or resource, how it ended and how long it took — written as one event on the
//! audit target (`mcp_gateway::audit`, `event="mcp_call"`) when the request ends,
//! whichever face or era it came in on. Arguments are recorded only when the operator
//! asks (`gateway.audit_call_arguments`); secrets never.

use std::time::Instant;

use serde::Deserialize;

use super::{Access, limits::Slot};
use crate::metrics::{Metering, Outcome, UpstreamClock};

/// Which calls are audited (`gateway.audit_calls`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditCalls {
    /// None.
    Off,
    /// Those of API keys and JWT callers (the operator's own calls are not).
    #[default]
    Identities,
    /// Every call, the operator's too.
    All,
}

impl AuditCalls {
    pub fn covers(self, access: &Access) -> bool {
        match self {
            AuditCalls::Off => false,
            AuditCalls::Identities => access.is_identity(),
            AuditCalls::All => true,
        }
    }
}

/// What a request asks an upstream for.
#[derive(Debug, Clone, Copy)]
pub struct Called<'a> {
    /// The MCP method (`tools/call`, `prompts/get`, `resources/read`, …).
    pub method: &'static str,
    /// The tool's or prompt's name upstream, or the resource's URI.
    pub name: &'a str,
}

/// A request let through: held until it ends.
#[must_use = "the request counts as in flight, and is audited, while this is held"]
#[derive(Debug, Default)]
pub struct Admission {
    _caller: Option<Slot>,
    _tool: Option<Slot>,
    audit: Option<Box<CallRecord>>,
    metering: Option<Metering>,
}

#[derive(Debug)]
struct CallRecord {
    who: String,
    server_id: String,
    method: &'static str,
    name: String,
    started: Instant,
    arguments: Option<String>,
    /// `ok`, or the error; unset until the request ends (then: `cancelled`).
    outcome: Option<String>,
}

/// The longest arguments recorded, in bytes of JSON.
const MAX_RECORDED_ARGUMENTS: usize = 4096;

impl Admission {
    pub fn new(
        caller: Option<Slot>,
        tool: Option<Slot>,
        audited: Option<(&Access, &str, Called<'_>)>,
        metering: Option<Metering>,
    ) -> Self {
        let audit = audited.map(|(access, server_id, called)| {
            Box::new(CallRecord {
                who: access.principal().to_owned(),
                server_id: server_id.to_owned(),
                method: called.method,
                name: called.name.to_owned(),
                started: Instant::now(),
                arguments: None,
                outcome: None,
            })
        });
        Self {
            _caller: caller,
            _tool: tool,
            audit,
            metering,
        }
    }

    /// Whether the request is metered (`gateway.metrics.enabled`).
    pub fn is_metered(&self) -> bool {
        self.metering.is_some()
    }

    /// Whether the request is audited (and so whether its arguments are wanted).
    pub fn is_audited(&self) -> bool {
        self.audit.is_some()
    }

    /// Records the request's arguments (when the operator asked for them).
    pub fn record_arguments(&mut self, arguments: &serde_json::Value) {
        if let Some(audit) = &mut self.audit {
            let mut text = arguments.to_string();
            if text.len() > MAX_RECORDED_ARGUMENTS {
                let cut = (0..=MAX_RECORDED_ARGUMENTS)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                text.truncate(cut);
                text.push('…');
            }
            audit.arguments = Some(text);
        }
    }

    /// The handle on which the request's way upstream
    /// ([`crate::registry::ServerEntry::call_upstream`]) notes how long it waited on the
    /// upstream, and how a failure there ended it.
    pub fn clock(&self) -> UpstreamClock {
        match &self.metering {
            Some(metering) => metering.clock(),
            None => UpstreamClock::UNMETERED,
        }
    }

    /// The upstream answered, with a JSON-RPC error or a tool's `isError` result: so the
    /// request is counted, though it is relayed as an answer.
    pub fn answered_with(&self, outcome: Outcome) {
        if let Some(metering) = &self.metering {
            metering.note(outcome);
        }
    }

    /// Records how the request ended — `ok` (the upstream answered), or the error — and
    /// passes the result on.
    pub fn track<T, E: std::fmt::Display>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if let Some(metering) = &self.metering {
            metering.note(match &result {
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Failed,
            });
        }
        if let Some(audit) = &mut self.audit {
            audit.outcome = Some(match &result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            });
        }
        result
    }

    /// The request was not made after all (another path takes it, with its own
    /// admission): nothing is audited.
    pub fn withdraw(mut self) {
        self.audit = None;
        if let Some(metering) = self.metering.take() {
            metering.withdraw();
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(audit) = self.audit.take() else {
            return;
        };
        let outcome = audit.outcome.as_deref().unwrap_or("cancelled");
        tracing::info!(
            target: crate::admin::audit::TARGET,
            event = "mcp_call",
            caller = %audit.who,
            server_id = %audit.server_id,
            method = audit.method,
            name = %audit.name,
            outcome,
            duration_ms = audit.started.elapsed().as_secs_f64() * 1000.0,
            arguments = audit.arguments.as_deref().unwrap_or("-"),
            "mcp call"
        );
    }
}

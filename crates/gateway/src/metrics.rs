//! Prometheus metrics (`GET /metrics`): what the gateway does, for operators' dashboards.
//!
//! Three kinds of source, so that the request path does as little as possible:
//! * per-call meters ([`calls`]), kept by each server's runtime and written by the one
//!   place every routed request goes through (`access::Admission`): plain atomics and a
//!   histogram per tool, found without building a label set;
//! * state read when scraped ([`collect`]): upstream health, connections, the calls'
//!   meters of the servers registered *now* (a removed server or tool leaves the output
//!   with it), and the process;
//! * a few event counts and gauges with fixed label values (sessions, list changes, store
//!   operations).
//!
//! Label values come only from registered servers, discovered tools and fixed sets: a
//! name a client sends never becomes a label (a call to a tool the server did not list is
//! counted under `tool="(unlisted)"`).

mod calls;
mod collect;

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry as PromRegistry,
};

pub use calls::{CallMeters, Metering, Outcome, ServerMeters, UNLISTED_TOOL, UpstreamClock};

/// The gateway's metrics: the registry `/metrics` encodes, and the handles written
/// outside the per-call path.
pub struct Metrics {
    registry: PromRegistry,
    enabled: bool,
    sessions: Family<SessionLabels, Gauge>,
    list_changed: Family<ListLabels, Counter>,
    store: Family<StoreLabels, Histogram, fn() -> Histogram>,
    tool_changes: Family<ToolChangeLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The exposition format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (the default).
    Prometheus,
    /// OpenMetrics 1.0 text (`Accept: application/openmetrics-text`).
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Which face a downstream session came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    /// `/mcp`, every server's tools.
    Aggregate,
    /// `/mcp/servers/{id}/mcp`.
    Server,
    /// The legacy `GET /sse` + `POST /messages`.
    Sse,
}

impl Face {
    fn as_str(self) -> &'static str {
        match self {
            Face::Aggregate => "mcp",
            Face::Server => "server",
            Face::Sse => "sse",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SessionLabels {
    face: &'static str,
    era: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ListLabels {
    list: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolChangeLabels {
    server: String,
    action: &'static str,
}

/// What happened to changed or new tools (`tool_change`'s `action`).
const TOOL_CHANGE_ACTIONS: [&str; 4] = ["allowed", "warned", "held", "approved"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreLabels {
    operation: &'static str,
}

/// Store operations take from a fraction of a millisecond (SQLite) to seconds (a remote
/// database in trouble).
const STORE_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

impl Metrics {
    /// The metrics of a gateway whose servers are in `servers`; `enabled: false`
    /// (`gateway.metrics.enabled`) keeps the per-call meters still (the rest costs
    /// nothing per call).
    pub fn new(servers: Arc<crate::registry::Registry>, enabled: bool) -> Self {
        let mut registry = PromRegistry::default();
        let sessions = Family::<SessionLabels, Gauge>::default();
        registry.register(
            "mcp_gateway_sessions",
            "Downstream MCP sessions this process serves, by face and protocol revision",
            sessions.clone(),
        );
        let list_changed = Family::<ListLabels, Counter>::default();
        registry.register(
            "mcp_gateway_list_changed_sent",
            "notifications/*/list_changed sent to downstream clients, by list",
            list_changed.clone(),
        );
        let store = Family::<StoreLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(STORE_BUCKETS)) as fn() -> Histogram,
        );
        registry.register_with_unit(
            "mcp_gateway_store_operation_duration",
            "Time taken by operations on the gateway's store (SQLite or PostgreSQL)",
            prometheus_client::registry::Unit::Seconds,
            store.clone(),
        );
        let tool_changes = Family::<ToolChangeLabels, Counter>::default();
        registry.register(
            "mcp_gateway_tool_changes",
            "Tools whose definition changed, or new tools of servers whose tools were approved, by what they met (gateway.tool_changes); and held tools approved",
            tool_changes.clone(),
        );
        registry.register_collector(Box::new(collect::Upstreams::new(servers)));
        registry.register_collector(Box::new(collect::Process::new()));
        Self {
            registry,
            enabled,
            sessions,
            list_changed,
            store,
            tool_changes,
        }
    }

    /// Whether per-call meters run.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Everything, in `format`.
    pub fn encode(&self, format: Format) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut text, &self.registry)?
            }
        }
        Ok(text)
    }

    /// A downstream session starts being served here; it counts until the guard drops.
    pub fn session(&self, face: Face, era: &str) -> SessionMeter {
        let gauge = self.sessions.get_or_create_owned(&SessionLabels {
            face: face.as_str(),
            era: era.to_owned(),
        });
        gauge.inc();
        SessionMeter(gauge)
    }

    /// A `notifications/{list}/list_changed` reached a client.
    pub fn list_changed_sent(&self, list: &'static str) {
        self.list_changed.get_or_create(&ListLabels { list }).inc();
    }

    /// A changed or new tool of `server` was `action` (one of [`TOOL_CHANGE_ACTIONS`]).
    pub fn tool_change(&self, server: &str, action: &'static str) {
        debug_assert!(TOOL_CHANGE_ACTIONS.contains(&action));
        let labels = ToolChangeLabels {
            server: server.to_owned(),
            action,
        };
        self.tool_changes.get_or_create(&labels).inc();
    }

    /// The server was removed: its series of the event counts go with it (the rest are
    /// read from the registry, where it no longer is).
    pub fn forget_server(&self, server: &str) {
        for action in TOOL_CHANGE_ACTIONS {
            let labels = ToolChangeLabels {
                server: server.to_owned(),
                action,
            };
            self.tool_changes.remove(&labels);
        }
    }

    /// A store operation took `took`.
    pub fn store_operation(&self, operation: &'static str, took: Duration) {
        self.store
            .get_or_create(&StoreLabels { operation })
            .observe(took.as_secs_f64());
    }
}

/// One session counted in `mcp_gateway_sessions` while held.
#[derive(Debug)]
pub struct SessionMeter(Gauge);

impl Drop for SessionMeter {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests;

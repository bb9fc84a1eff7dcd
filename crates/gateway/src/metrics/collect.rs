//! What is read when `/metrics` is scraped, rather than counted as it happens: each
//! registered server's health, connections and calls (from the current registry
//! snapshot, so a removed server leaves the output with it), and the process.

use std::sync::Arc;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Unit,
};

use super::calls::{CallMeters, Outcome};
use crate::{model::HealthState, registry::Registry};

/// The registered servers: their upstreams and the calls routed to them.
pub struct Upstreams {
    servers: Arc<Registry>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstreams")
    }
}

impl Upstreams {
    pub fn new(servers: Arc<Registry>) -> Self {
        Self { servers }
    }
}

/// Labels as (name, value) pairs: label sets borrowed from the snapshot, built per scrape.
type Labels<'a, const N: usize> = [(&'static str, &'a str); N];

/// The label set of a call meter: its server, and its tool or method.
type CallLabels<'a> = Labels<'a, 2>;

const STATES: [(HealthState, &str); 3] = [
    (HealthState::Connecting, "connecting"),
    (HealthState::Healthy, "healthy"),
    (HealthState::Unhealthy, "unhealthy"),
];

impl Collector for Upstreams {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.servers.snapshot();
        let servers: Vec<_> = snapshot.servers.values().collect();
        let health: Vec<_> = servers.iter().map(|e| e.runtime.health().state).collect();
        let id = |i: usize| [("server", servers[i].record.server_id.as_str())];

        let up = (0..servers.len()).map(|i| (id(i), i64::from(health[i] == HealthState::Healthy)));
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_up",
            "1 when the gateway has a working session with the server",
            up,
        )?;
        let health = &health;
        let states = (0..servers.len()).flat_map(|i| {
            let server = servers[i].record.server_id.as_str();
            STATES.iter().map(move |(state, name)| {
                (
                    [("server", server), ("state", *name)],
                    i64::from(health[i] == *state),
                )
            })
        });
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_health_state",
            "The server's health state (1 for the current one)",
            states,
        )?;
        // Calls to a server without a session fail at once, without waiting: its circuit
        // is open until the supervisor reconnects (probed early after failures in a row).
        let open =
            (0..servers.len()).map(|i| (id(i), i64::from(health[i] != HealthState::Healthy)));
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_circuit_open",
            "1 while calls to the server fail fast (no working session)",
            open,
        )?;
        let failures =
            (0..servers.len()).map(|i| (id(i), i64::from(servers[i].runtime.failures_in_a_row())));
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_consecutive_failures",
            "Calls failed in a row for want of a connection (3 trigger an early probe)",
            failures,
        )?;
        let connects = (0..servers.len()).map(|i| (id(i), servers[i].runtime.connections().0));
        counters(
            &mut encoder,
            "mcp_gateway_upstream_connects",
            "Sessions established with the server (and discovered)",
            connects,
        )?;
        let reconnects = (0..servers.len())
            .map(|i| (id(i), servers[i].runtime.connections().0.saturating_sub(1)));
        counters(
            &mut encoder,
            "mcp_gateway_upstream_reconnects",
            "Sessions established with the server after the first",
            reconnects,
        )?;
        let failed = (0..servers.len()).map(|i| (id(i), servers[i].runtime.connections().1));
        counters(
            &mut encoder,
            "mcp_gateway_upstream_connect_failures",
            "Connections or sessions with the server that failed",
            failed,
        )?;
        let owned = (0..servers.len())
            .map(|i| (id(i), servers[i].runtime.client_sessions.current() as i64));
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_client_sessions",
            "Upstream sessions of single clients' own (clients that can be asked something)",
            owned,
        )?;
        let held = (0..servers.len()).map(|i| (id(i), servers[i].catalog.held.len() as i64));
        let help = "Tools withheld until an operator approves them (tool_changes: hold)";
        gauges(&mut encoder, "mcp_gateway_tools_held", help, held)?;
        let recent =
            (0..servers.len()).map(|i| (id(i), servers[i].runtime.meters.last_minute() as i64));
        gauges(
            &mut encoder,
            "mcp_gateway_upstream_requests_last_minute",
            "Requests routed to the server that ended in the last 60 seconds (for `mcp-gateway status`; use rate() in queries)",
            recent,
        )?;
        let items = (0..servers.len()).flat_map(|i| {
            let server = servers[i].record.server_id.as_str();
            let catalog = &servers[i].catalog;
            [
                ("tools", catalog.tools.len()),
                ("prompts", catalog.prompts.len()),
                ("resources", catalog.resources.len()),
                ("resource_templates", catalog.resource_templates.len()),
            ]
            .map(|(kind, n)| ([("server", server), ("kind", kind)], n as i64))
        });
        gauges(
            &mut encoder,
            "mcp_gateway_catalog_items",
            "Items the server's last discovery found, by kind",
            items,
        )?;

        let tools: Vec<_> = servers
            .iter()
            .flat_map(|e| {
                let server = e.record.server_id.as_str();
                e.runtime
                    .meters
                    .tools()
                    .into_iter()
                    .map(move |(tool, m)| (server, tool, m))
            })
            .collect();
        let tool_meters: Vec<_> = tools
            .iter()
            .map(|(server, tool, m)| ([("server", *server), ("tool", tool.as_str())], m.as_ref()))
            .collect();
        calls(
            &mut encoder,
            "tool_call",
            "tools/call requests routed to the server's tool",
            &tool_meters,
        )?;
        let method_meters: Vec<_> = servers
            .iter()
            .flat_map(|e| {
                let server = e.record.server_id.as_str();
                e.runtime
                    .meters
                    .methods()
                    .map(move |(method, m)| (server, method, m))
            })
            .filter(|(_, _, m)| m.total() > 0 || m.in_flight() > 0)
            .map(|(server, method, m)| ([("server", server), ("method", method)], m.as_ref()))
            .collect();
        calls(
            &mut encoder,
            "upstream_request",
            "Requests routed to the server, by MCP method (tools/call too)",
            &method_meters,
        )
    }
}

/// The four families of a set of call meters: `mcp_gateway_{what}s_total{…,outcome}`,
/// `…_duration_seconds`, `…_overhead_seconds` and `…s_in_flight`.
fn calls(
    encoder: &mut DescriptorEncoder,
    what: &str,
    help: &str,
    meters: &[(CallLabels<'_>, &CallMeters)],
) -> Result<(), std::fmt::Error> {
    let counts = meters.iter().flat_map(|(labels, m)| {
        Outcome::ALL.iter().filter_map(move |o| {
            let labels = [labels[0], labels[1], ("outcome", o.as_str())];
            // Outcomes a meter never had are left out, except the one every meter has.
            let n = m.count(*o);
            (n > 0 || *o == Outcome::Ok).then_some((labels, n))
        })
    });
    counters(
        encoder,
        &format!("mcp_gateway_{what}s"),
        &format!("{help}, by outcome"),
        counts,
    )?;
    let name = format!("mcp_gateway_{what}_duration");
    let mut duration = encoder.encode_descriptor(
        &name,
        &format!("{help}: time from routing to the answer"),
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (labels, m) in meters {
        m.duration().encode(duration.encode_family(labels)?)?;
    }
    let name = format!("mcp_gateway_{what}_overhead");
    let mut overhead = encoder.encode_descriptor(
        &name,
        &format!(
            "{help}: the gateway's own share of the time (the total less the wait on the upstream)"
        ),
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (labels, m) in meters {
        m.overhead().encode(overhead.encode_family(labels)?)?;
    }
    let in_flight = meters.iter().map(|(labels, m)| (*labels, m.in_flight()));
    gauges(
        encoder,
        &format!("mcp_gateway_{what}s_in_flight"),
        &format!("{help}, in flight"),
        in_flight,
    )
}

fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl Iterator<Item = (L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The process's standard metrics (`process_*`), from `/proc/self` (Linux; elsewhere
/// there are none).
#[derive(Debug)]
pub struct Process {
    /// Clock ticks per second and the page size, for `/proc/self/stat`.
    ticks: f64,
    page: f64,
    started: f64,
}

impl Process {
    pub fn new() -> Self {
        use nix::unistd::{SysconfVar, sysconf};
        let conf = |var, default: i64| {
            sysconf(var)
                .ok()
                .flatten()
                .filter(|v| *v > 0)
                .unwrap_or(default) as f64
        };
        Self {
            ticks: conf(SysconfVar::CLK_TCK, 100),
            page: conf(SysconfVar::PAGE_SIZE, 4096),
            started: process_start(),
        }
    }
}

/// When the process started, in seconds since the Unix epoch: noted once, at the first
/// metrics made (at start-up).
fn process_start() -> f64 {
    static STARTED: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *STARTED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

/// The fields of `/proc/self/stat` after the command name: (utime, stime, threads,
/// vsize, rss) — fields 14, 15, 20, 23 and 24.
fn stat_fields(stat: &str) -> Option<(f64, f64, f64, f64, f64)> {
    // The command name may hold spaces and parentheses: the fields follow its last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some((field(14)?, field(15)?, field(20)?, field(23)?, field(24)?))
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((utime, stime, threads, vsize, rss)) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(stat_fields)
        else {
            return Ok(());
        };
        let none: Labels<'_, 0> = [];
        let cpu = ConstCounter::new((utime + stime) / self.ticks);
        cpu.encode(
            encoder
                .encode_descriptor(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds",
                    None,
                    MetricType::Counter,
                )?
                .encode_family(&none)?,
        )?;
        let mut gauge = |name: &str, help: &str, value: f64| -> Result<(), std::fmt::Error> {
            ConstGauge::new(value).encode(
                encoder
                    .encode_descriptor(name, help, None, MetricType::Gauge)?
                    .encode_family(&none)?,
            )
        };
        gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            rss * self.page,
        )?;
        gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            vsize,
        )?;
        gauge(
            "process_threads",
            "Number of OS threads in the process",
            threads,
        )?;
        gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            self.started,
        )?;
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                "process_open_fds",
                "Number of open file descriptors",
                fds.count() as f64,
            )?;
        }
        if let Ok((soft, _)) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        {
            gauge(
                "process_max_fds",
                "Maximum number of open file descriptors",
                soft as f64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::stat_fields;

    #[test]
    fn reads_the_fields_after_a_command_name_with_spaces() {
        let stat = "42 (tokio (x) y) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 \
                    1000 123456789 2048 18446744073709551615";
        assert_eq!(
            stat_fields(stat),
            Some((250.0, 50.0, 7.0, 123456789.0, 2048.0))
        );
    }
}

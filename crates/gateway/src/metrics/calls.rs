//! The meters of routed requests: per server, one set per discovered tool and one per
//! routed method, kept by the server's runtime (so they live as long as its connection
//! does, across catalog refreshes) and read when `/metrics` is scraped.
//!
//! A request is metered by its [`Metering`] (held by its `access::Admission`): in flight
//! while held; when dropped, counted by [`Outcome`] and timed — in total, and the
//! gateway's own share (the total less the time spent waiting on the upstream).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use prometheus_client::metrics::histogram::Histogram;

use crate::upstream::UpstreamError;

/// The `tool` label of calls to a name the server did not list (the single-server
/// endpoint passes those through): a client's name is never a label.
pub const UNLISTED_TOOL: &str = "(unlisted)";

/// How a routed request ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// The upstream answered with a result.
    Ok = 0,
    /// A tool answered with `isError: true`.
    ToolError,
    /// The upstream answered with a JSON-RPC error.
    UpstreamError,
    /// The upstream did not answer within the server's timeout.
    Timeout,
    /// No connection to the upstream, or it broke.
    Unavailable,
    /// Refused by a rate limit or concurrency cap of the caller or the tool.
    RateLimited,
    /// Failed in the gateway (a missing per-user credential, a refused token exchange …).
    Failed,
    /// Ended before an answer: the client cancelled or went away.
    Cancelled,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::UpstreamError,
        Outcome::Timeout,
        Outcome::Unavailable,
        Outcome::RateLimited,
        Outcome::Failed,
        Outcome::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ToolError => "tool_error",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::RateLimited => "rate_limited",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// How a request that failed with `error` on its way upstream ended.
    pub fn of(error: &UpstreamError) -> Self {
        match error {
            UpstreamError::Rpc { .. } => Outcome::UpstreamError,
            UpstreamError::Timeout(_) => Outcome::Timeout,
            UpstreamError::Connect(_)
            | UpstreamError::Unavailable
            | UpstreamError::Transport(_)
            | UpstreamError::Spawn(_)
            | UpstreamError::Config(_) => Outcome::Unavailable,
        }
    }

    fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value)).copied()
    }
}

/// Whole calls: from a millisecond to the longest timeouts.
const DURATION_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The gateway's own share of a call: microseconds, unless something is wrong.
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
];

/// The meters of one tool's calls, or of one method's requests, on one server.
#[derive(Debug)]
pub struct CallMeters {
    outcomes: [AtomicU64; Outcome::ALL.len()],
    in_flight: AtomicI64,
    duration: Histogram,
    overhead: Histogram,
    /// A method's requests of the last minute (`mcp-gateway status`); tools keep none.
    last_minute: Option<Box<LastMinute>>,
}

impl Default for CallMeters {
    fn default() -> Self {
        Self {
            outcomes: Default::default(),
            in_flight: AtomicI64::new(0),
            duration: Histogram::new(DURATION_BUCKETS),
            overhead: Histogram::new(OVERHEAD_BUCKETS),
            last_minute: None,
        }
    }
}

/// Requests ended in each of the last 60 seconds: a ring of one-second slots, each with
/// the second it counts (a slot of an older second counts as empty).
#[derive(Debug)]
struct LastMinute {
    slots: [(AtomicU64, AtomicU64); 60],
}

impl Default for LastMinute {
    fn default() -> Self {
        // Second 0 is the ring's first second: an unused slot must not count in it.
        let unused = || (AtomicU64::new(u64::MAX), AtomicU64::new(0));
        Self {
            slots: std::array::from_fn(|_| unused()),
        }
    }
}

impl LastMinute {
    /// Seconds since the first use, the ring's clock.
    fn now() -> u64 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_secs()
    }

    fn record(&self) {
        let now = Self::now();
        let (second, count) = &self.slots[(now % 60) as usize];
        let seen = second.load(Ordering::Relaxed);
        // The first request of a new second empties the slot (one that races it may go
        // uncounted: this is for display).
        if seen != now
            && second
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            count.store(0, Ordering::Relaxed);
        }
        count.fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        let now = Self::now();
        self.slots
            .iter()
            .filter(|(second, _)| {
                let second = second.load(Ordering::Relaxed);
                second <= now && now - second < 60
            })
            .map(|(_, count)| count.load(Ordering::Relaxed))
            .sum()
    }
}

impl CallMeters {
    /// How many ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }

    /// How many ended, however.
    pub fn total(&self) -> u64 {
        Outcome::ALL.iter().map(|o| self.count(*o)).sum()
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests ended in the last minute (methods' meters; 0 for tools').
    pub fn last_minute(&self) -> u64 {
        self.last_minute.as_ref().map_or(0, |m| m.total())
    }

    pub fn duration(&self) -> &Histogram {
        &self.duration
    }

    pub fn overhead(&self) -> &Histogram {
        &self.overhead
    }

    /// A request refused before it was made (it took no time upstream).
    pub fn refused(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn ended(&self, outcome: Outcome, total: Duration, upstream: Option<Duration>) {
        self.outcomes[outcome as usize].fetch_add(1, Ordering::Relaxed);
        self.duration.observe(total.as_secs_f64());
        if let Some(upstream) = upstream {
            self.overhead
                .observe(total.saturating_sub(upstream).as_secs_f64());
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(last_minute) = &self.last_minute {
            last_minute.record();
        }
    }
}

/// The methods routed to one server (`Called::method`), each with meters of its own.
pub const ROUTED_METHODS: [&str; 6] = [
    "tools/call",
    "prompts/get",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
];

/// The meters of one server's routed requests.
#[derive(Debug)]
pub struct ServerMeters {
    /// The tools of the server's current catalog, by their name there.
    tools: ArcSwap<HashMap<String, Arc<CallMeters>>>,
    unlisted: Arc<CallMeters>,
    methods: [Arc<CallMeters>; ROUTED_METHODS.len()],
}

impl Default for ServerMeters {
    fn default() -> Self {
        let method = || {
            Arc::new(CallMeters {
                last_minute: Some(Box::default()),
                ..CallMeters::default()
            })
        };
        Self {
            tools: ArcSwap::default(),
            unlisted: Arc::default(),
            methods: std::array::from_fn(|_| method()),
        }
    }
}

impl ServerMeters {
    /// Requests routed to the server that ended in the last minute.
    pub fn last_minute(&self) -> u64 {
        self.methods.iter().map(|m| m.last_minute()).sum()
    }
    /// The server's catalog now lists `tools`: a tool still listed keeps its meters, a
    /// new one starts at zero, one no longer listed is no longer exported.
    pub fn listed_tools<'a>(&self, tools: impl Iterator<Item = &'a str>) {
        let current = self.tools.load();
        let next = tools
            .map(|name| {
                let meters = current.get(name).cloned().unwrap_or_default();
                (name.to_owned(), meters)
            })
            .collect();
        self.tools.store(Arc::new(next));
    }

    /// The meters of the tool named `name` on the server.
    pub fn tool(&self, name: &str) -> Arc<CallMeters> {
        self.tools
            .load()
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.unlisted.clone())
    }

    /// The meters of `method`'s requests (`None`: not a routed method).
    pub fn method(&self, method: &str) -> Option<&Arc<CallMeters>> {
        let i = ROUTED_METHODS.iter().position(|m| *m == method)?;
        Some(&self.methods[i])
    }

    /// Every listed tool's meters, by name (scrapes), and the unlisted names' under
    /// [`UNLISTED_TOOL`].
    pub fn tools(&self) -> Vec<(String, Arc<CallMeters>)> {
        let mut tools: Vec<_> = self
            .tools
            .load()
            .iter()
            .map(|(name, meters)| (name.clone(), meters.clone()))
            .collect();
        tools.sort_by(|a, b| a.0.cmp(&b.0));
        if self.unlisted.total() > 0 || self.unlisted.in_flight() > 0 {
            tools.push((UNLISTED_TOOL.to_owned(), self.unlisted.clone()));
        }
        tools
    }

    /// Every routed method's meters.
    pub fn methods(&self) -> impl Iterator<Item = (&'static str, &Arc<CallMeters>)> {
        ROUTED_METHODS.iter().copied().zip(self.methods.iter())
    }
}

/// No outcome noted yet.
const UNSET: u8 = u8::MAX;

/// What a request's way upstream tells its metering: how long it waited on the upstream
/// and how a failure there ended it.
#[derive(Debug)]
struct Upstream {
    /// Nanoseconds.
    waited: AtomicU64,
    outcome: AtomicU8,
}

impl Upstream {
    fn note(&self, outcome: Outcome) {
        // The first, most specific, outcome stands: an upstream's timeout is not
        // overwritten by the error it became.
        let _ = self.outcome.compare_exchange(
            UNSET,
            outcome as u8,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// A handle on a request's metering for its way upstream (which may run in a task of its
/// own); [`UpstreamClock::UNMETERED`] for requests that are not metered.
#[derive(Debug, Clone)]
pub struct UpstreamClock(Option<Arc<Upstream>>);

impl UpstreamClock {
    pub const UNMETERED: UpstreamClock = UpstreamClock(None);

    /// The request waited `took` on the upstream.
    pub fn waited(&self, took: Duration) {
        if let Some(upstream) = &self.0 {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            upstream.waited.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    /// How the request ended, unless an outcome was noted already.
    pub fn note(&self, outcome: Outcome) {
        if let Some(upstream) = &self.0 {
            upstream.note(outcome);
        }
    }

    pub fn is_metered(&self) -> bool {
        self.0.is_some()
    }
}

/// One routed request being metered: in flight until dropped.
#[derive(Debug)]
pub struct Metering {
    /// The tool's meters (`tools/call`) — then also the method's.
    tool: Option<Arc<CallMeters>>,
    method: Option<Arc<CallMeters>>,
    started: Instant,
    upstream: Arc<Upstream>,
}

impl Metering {
    /// Starts metering a request of `method` for `name` (a tool's name upstream, for
    /// `tools/call`) on the server with `meters`.
    pub fn start(meters: &ServerMeters, method: &str, name: &str) -> Self {
        let tool = (method == "tools/call").then(|| meters.tool(name));
        let method = meters.method(method).cloned();
        for meters in tool.iter().chain(method.iter()) {
            meters.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        Self {
            tool,
            method,
            started: Instant::now(),
            upstream: Arc::new(Upstream {
                waited: AtomicU64::new(0),
                outcome: AtomicU8::new(UNSET),
            }),
        }
    }

    /// Counts a request of `method` for `name` that was refused before it was made.
    pub fn refused(meters: &ServerMeters, method: &str, name: &str, outcome: Outcome) {
        if method == "tools/call" {
            meters.tool(name).refused(outcome);
        }
        if let Some(meters) = meters.method(method) {
            meters.refused(outcome);
        }
    }

    /// The handle its way upstream notes on.
    pub fn clock(&self) -> UpstreamClock {
        UpstreamClock(Some(self.upstream.clone()))
    }

    /// How the request ended, unless an outcome was noted already.
    pub fn note(&self, outcome: Outcome) {
        self.upstream.note(outcome);
    }

    /// Ends the metering without counting the request (another path makes it, with a
    /// metering of its own).
    pub fn withdraw(mut self) {
        for meters in self.tool.take().iter().chain(self.method.take().iter()) {
            meters.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        let noted = self.upstream.outcome.load(Ordering::Relaxed);
        let outcome = Outcome::from_u8(noted).unwrap_or(Outcome::Cancelled);
        let total = self.started.elapsed();
        let upstream = match self.upstream.waited.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        };
        for meters in self.tool.iter().chain(self.method.iter()) {
            meters.ended(outcome, total, upstream);
        }
    }
}

//! The gateway as a service: the registry, the store and the upstream supervisors, with
//! the operations the REST API (and later the MCP front end) perform on them.

mod access_admin;
mod credentials;
mod error;
mod startup;

use std::{sync::Arc, time::Duration};

use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use tokio::sync::Mutex;
use tokio_util::task::TaskTracker;

use crate::downstream::session_store::{MemorySessionStore, SessionStore};
use crate::{
    access::{Access, KeyTable},
    config::Settings,
    metrics::Metrics,
    model::{ServerRecord, Source},
    registry::{Approvals, Registry, RegistryError, ServerEntry},
    store::{self, ServerStore, StoreError},
    upstream::{
        UpstreamError,
        supervisor::{self, SupervisorConfig},
    },
};

pub(crate) use credentials::CredentialError;
pub use error::{GatewayError, held_message};
pub use startup::StartupWait;

/// How long shutdown waits for supervisors to close sessions and reap child processes.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// A running gateway.
pub struct Gateway {
    pub settings: Arc<Settings>,
    pub registry: Arc<Registry>,
    store: Arc<dyn ServerStore>,
    supervisors: TaskTracker,
    supervisor_config: SupervisorConfig,
    /// Serialises admin changes so that the store and the registry change in the same order.
    admin: Mutex<()>,
    /// Cancelled at shutdown: ends MCP sessions and their streams.
    shutdown: tokio_util::sync::CancellationToken,
    /// The MCP sessions to send list_changed notifications to.
    pub(crate) session_watch: crate::downstream::SessionWatch,
    /// Every MCP session of every endpoint, as data.
    pub(crate) sessions: Arc<dyn SessionStore>,
    /// Settles once the config file's servers have connected or failed once.
    pub(crate) startup: Arc<StartupWait>,
    /// The API keys in force (the config file's and the stored ones).
    pub keys: KeyTable,
    /// Callers' own credentials for per-user servers, and their sessions with them.
    credentials: credentials::Credentials,
    /// What `/metrics` shows.
    pub metrics: Arc<Metrics>,
    /// The approved tool definitions (`gateway.tool_changes`).
    approvals: Arc<Approvals>,
}

impl Gateway {
    /// Opens the store, registers the config-file servers and the stored ones, and starts
    /// connecting to all of them (in the background: start-up does not wait for upstreams).
    pub async fn start(settings: Settings) -> Result<Arc<Self>, StoreError> {
        let config = Self::supervisor_config(&settings);
        Self::start_with(settings, config).await
    }

    /// The supervisor timings `settings` ask for.
    pub fn supervisor_config(settings: &Settings) -> SupervisorConfig {
        SupervisorConfig {
            refresh: settings.discovery_refresh,
            handshake_timeout: settings.upstream_handshake_timeout,
            ..SupervisorConfig::default()
        }
    }

    /// [`Gateway::start`] with explicit supervisor timings (tests shorten them).
    pub async fn start_with(
        settings: Settings,
        supervisor_config: SupervisorConfig,
    ) -> Result<Arc<Self>, StoreError> {
        Self::start_sharing(settings, supervisor_config, MemorySessionStore::new()).await
    }

    /// [`Gateway::start_with`], keeping MCP sessions in `sessions`, which other gateways
    /// may share: a session opened on one is served by any of them.
    pub async fn start_sharing(
        settings: Settings,
        supervisor_config: SupervisorConfig,
        sessions: Arc<dyn SessionStore>,
    ) -> Result<Arc<Self>, StoreError> {
        let registry = Arc::new(Registry::new(crate::registry::Naming {
            separator: settings.name_separator.clone(),
            policy: settings.name_policy,
        }));
        let metrics = Arc::new(Metrics::new(registry.clone(), settings.metrics.enabled));
        let store = store::TimedStore::wrap(store::open(&settings).await?, metrics.clone());
        let approvals = Arc::new(Approvals::new(
            settings.tool_changes,
            store.clone(),
            metrics.clone(),
        ));
        approvals.load(store.load_tool_approvals().await?);
        registry.review_tools_with(approvals.clone());
        let gateway = Arc::new(Self {
            settings: Arc::new(settings),
            registry,
            store,
            supervisors: TaskTracker::new(),
            supervisor_config,
            admin: Mutex::new(()),
            shutdown: tokio_util::sync::CancellationToken::new(),
            session_watch: crate::downstream::SessionWatch::new(metrics.clone()),
            sessions,
            startup: Arc::default(),
            keys: KeyTable::default(),
            credentials: Default::default(),
            metrics,
            approvals,
        });
        gateway.load_policies().await?;
        gateway.load_credentials().await?;
        gateway.load_keys().await?;
        if let Some(jwt) = gateway.settings.jwt.clone() {
            // The provider's keys, fetched beside the start (a slow provider delays
            // only the first tokens).
            tokio::spawn(async move { jwt.load().await });
        }
        gateway.load_servers().await?;
        let configured = gateway.settings.servers.iter();
        gateway.startup.watch(
            gateway.registry.clone(),
            configured.map(|s| s.server_id.clone()).collect(),
            gateway.settings.startup_wait,
        );
        Ok(gateway)
    }

    async fn load_servers(&self) -> Result<(), StoreError> {
        for record in &self.settings.servers {
            match self.registry.insert(record.clone(), Source::Config) {
                Ok(entry) => self.supervise(&entry),
                Err(e) => tracing::error!(error = %e, "config server skipped"),
            }
        }
        let policy = self.settings.api_policy();
        for mut record in self.store.load_all().await? {
            let id = record.server_id.clone();
            if let Err(e) = record.validate(policy) {
                tracing::error!(server = %id, error = %e, "stored server no longer passes validation; not loaded");
                continue;
            }
            match self.registry.insert(record, Source::Api) {
                Ok(entry) => self.supervise(&entry),
                Err(RegistryError::Duplicate(_)) => {
                    tracing::warn!(server = %id, "stored server has the id of a config-file server; the config file wins");
                }
                Err(e) => tracing::error!(server = %id, error = %e, "stored server skipped"),
            }
        }
        tracing::info!(servers = self.registry.snapshot().servers.len(), store = %self.store.describe(), "registry loaded");
        Ok(())
    }

    fn supervise(&self, entry: &ServerEntry) {
        supervisor::spawn(
            self.registry.clone(),
            entry,
            self.supervisor_config,
            &self.supervisors,
        );
    }

    /// Registers a server through the API: validated, stored (durably) and then connected.
    pub async fn register(
        self: &Arc<Self>,
        mut record: ServerRecord,
    ) -> Result<Arc<ServerEntry>, GatewayError> {
        let policy = self.settings.api_policy();
        record.validate(policy)?;
        record.check_resolved_upstream(policy).await?;
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            if this.registry.get(&record.server_id).is_some() {
                return Err(GatewayError::Duplicate(record.server_id));
            }
            this.store.insert(&record).await?;
            let entry = this.registry.insert(record, Source::Api)?;
            this.supervise(&entry);
            tracing::info!(server = %entry.record.server_id, transport = entry.record.transport_kind().as_str(), "server registered");
            Ok(entry)
        })
        .await
    }

    /// Replaces an API-registered server; its connection is re-established.
    pub async fn update(
        self: &Arc<Self>,
        server_id: &str,
        mut record: ServerRecord,
    ) -> Result<Arc<ServerEntry>, GatewayError> {
        if record.server_id.is_empty() {
            record.server_id = server_id.to_owned();
        } else if record.server_id != server_id {
            return Err(GatewayError::Invalid(crate::model::FieldError::invalid(
                "server_id",
                format!(
                    "is {:?} but the path names {server_id:?}; a server's id cannot change",
                    record.server_id
                ),
            )));
        }
        let policy = self.settings.api_policy();
        record.validate(policy)?;
        record.check_resolved_upstream(policy).await?;
        let server_id = server_id.to_owned();
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.ensure_api_defined(&server_id)?;
            this.store.replace(&record).await?;
            let (old, entry) = this.registry.replace(record, Source::Api)?;
            old.runtime.stop.cancel();
            this.supervise(&entry);
            tracing::info!(server = %server_id, "server updated");
            Ok(entry)
        })
        .await
    }

    /// Removes an API-registered server, closing its session and stopping its process.
    pub async fn unregister(self: &Arc<Self>, server_id: &str) -> Result<(), GatewayError> {
        let server_id = server_id.to_owned();
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            this.ensure_api_defined(&server_id)?;
            this.store.delete(&server_id).await?;
            // Registered again, it is a new server: its tools are trusted as first seen.
            this.store.delete_tool_approvals(&server_id).await?;
            this.approvals.forget(&server_id);
            this.metrics.forget_server(&server_id);
            let old = this.registry.remove(&server_id)?;
            old.runtime.stop.cancel();
            tracing::info!(server = %server_id, "server unregistered");
            Ok(())
        })
        .await
    }

    /// An operator approves the held tool `tool` of `server_id` (`tool_changes: hold`): its
    /// definition is stored as approved, and it is listed and callable from now on.
    pub async fn approve_tool(
        self: &Arc<Self>,
        server_id: &str,
        tool: &str,
    ) -> Result<crate::registry::HeldTool, GatewayError> {
        let (server_id, tool) = (server_id.to_owned(), tool.to_owned());
        self.detached(|this| async move {
            let _admin = this.admin.lock().await;
            let entry = this
                .registry
                .get(&server_id)
                .ok_or_else(|| GatewayError::NotFound(server_id.clone()))?;
            let Some(held) = entry.catalog.held.get(&tool).cloned() else {
                return Err(GatewayError::ToolNotHeld { server_id, tool });
            };
            let approval = crate::store::ToolApproval {
                server_id: server_id.clone(),
                tool: tool.clone(),
                fingerprint: held.fingerprint.clone(),
            };
            this.store.save_tool_approval(&approval).await?;
            this.approvals.approve(&server_id, &tool, &held.fingerprint);
            this.registry
                .release_held(&server_id, &tool, &held.fingerprint);
            tracing::info!(server = %server_id, tool = %tool, "held tool approved");
            Ok(held)
        })
        .await
    }

    /// Runs an admin change on its own task, so that the store and the registry change
    /// together even when the caller goes away half-way (a client that disconnects, a
    /// request timeout): dropping the returned future stops waiting, not the change.
    pub(super) async fn detached<T, F, Fut>(self: &Arc<Self>, change: F) -> Result<T, GatewayError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Self>) -> Fut,
        Fut: std::future::Future<Output = Result<T, GatewayError>> + Send + 'static,
    {
        match tokio::spawn(change(self.clone())).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(GatewayError::ShuttingDown),
        }
    }

    fn ensure_api_defined(&self, server_id: &str) -> Result<(), GatewayError> {
        match self.registry.get(server_id) {
            None => Err(GatewayError::NotFound(server_id.to_owned())),
            Some(entry) if entry.source == Source::Config => {
                Err(GatewayError::ConfigDefined(server_id.to_owned()))
            }
            Some(_) => Ok(()),
        }
    }

    /// Calls a tool by its exposed name (`<server_id>__<tool>`), if `access` allows it (a
    /// tool outside it is unknown).
    pub async fn call_tool(
        &self,
        exposed: &str,
        arguments: Option<JsonObject>,
        access: &Access,
    ) -> Result<CallToolResult, GatewayError> {
        self.startup.settled().await;
        let snapshot = self.registry.snapshot();
        // A REST caller cannot be asked anything: it is shown, and may call, only what
        // the upstream lists to such clients.
        let Some((entry, route)) = snapshot.route_tool(exposed).filter(|(_, route)| {
            !snapshot.asking_only(route)
                && access.allows_tool(&snapshot, &route.server_id, &route.upstream_name)
        }) else {
            // Listed from the allowlist while its server is down: the server is the news.
            if let Some(entry) = snapshot.down_server_of_listed_tool(exposed, access) {
                let id = entry.record.server_id.clone();
                return Err(GatewayError::Upstream(id, UpstreamError::Unavailable));
            }
            if let Some((entry, tool, held)) = snapshot.held_tool(exposed)
                && access.allows_tool(&snapshot, &entry.record.server_id, tool)
            {
                return Err(GatewayError::ToolHeld {
                    server_id: entry.record.server_id.clone(),
                    tool: tool.to_owned(),
                    change: held.change.clone(),
                });
            }
            return Err(GatewayError::ToolNotFound(exposed.to_owned()));
        };
        let server_id = &entry.record.server_id;
        let peer = match Box::pin(self.caller_upstream(entry, access)).await {
            Ok(Some(mine)) => mine.peer.clone(),
            Ok(None) => entry.runtime.peer().ok_or_else(|| {
                GatewayError::Upstream(server_id.clone(), UpstreamError::Unavailable)
            })?,
            Err(CredentialError::Missing(id)) => return Err(GatewayError::CredentialRequired(id)),
            Err(refused) => {
                let failed = UpstreamError::Connect(refused.explain().0);
                return Err(GatewayError::Upstream(server_id.clone(), failed));
            }
        };
        let called = crate::access::Called {
            method: "tools/call",
            name: &route.upstream_name,
        };
        let mut admitted = self
            .admit(access, entry, called)
            .map_err(GatewayError::RateLimited)?;
        if admitted.is_audited() && self.settings.audit_call_arguments {
            admitted.record_arguments(&serde_json::json!(arguments));
        }
        let mut params = CallToolRequestParams::new(route.upstream_name.to_string());
        params.arguments = arguments;
        let call = async { peer.call_tool(params).await.map_err(UpstreamError::from) };
        let result = entry
            .call_upstream(&admitted.clock(), call)
            .await
            .map_err(|e| GatewayError::Upstream(entry.record.server_id.clone(), e));
        if let Ok(answer) = &result
            && answer.is_error == Some(true)
        {
            admitted.answered_with(crate::metrics::Outcome::ToolError);
        }
        admitted.track(result)
    }

    /// Number of MCP sessions watched for list changes (diagnostics, tests): a session
    /// leaves the count when it ends.
    pub fn watched_sessions(&self) -> usize {
        self.session_watch.len()
    }

    /// Whether the store answers (readiness).
    pub async fn store_ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// A description of the store for logs.
    pub fn store_description(&self) -> String {
        self.store.describe()
    }

    /// Cancelled when the gateway shuts down.
    pub fn shutdown_token(&self) -> &tokio_util::sync::CancellationToken {
        &self.shutdown
    }

    /// Stops every supervisor (closing sessions, terminating and reaping stdio children) and
    /// waits for them, up to a deadline.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        for entry in self.registry.snapshot().servers.values() {
            entry.runtime.stop.cancel();
        }
        self.supervisors.close();
        if tokio::time::timeout(SHUTDOWN_DEADLINE, self.supervisors.wait())
            .await
            .is_err()
        {
            tracing::warn!("some upstream connections did not close within {SHUTDOWN_DEADLINE:?}");
        }
    }
}

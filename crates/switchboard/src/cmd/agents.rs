//! `switchboard agents resolve NAME` and `switchboard agents list`.
//!
//! `resolve` looks a display name, UPN or OID up in Microsoft Graph and prints one JSON
//! object (`oid`, `displayName`, `upn`, `mail`) — the OID is what the roster wants. A name
//! that matches nobody or several people is an error listing what Graph found.
//!
//! `list` loads the routing configuration (`--config`; a routing file or a whole Switchboard
//! configuration with a `[routing]` table), resolves the roster to OIDs and shows each agent
//! with its Graph presence and whether the default presence policy would route to it.
//! Live reservation state comes from an [`AgentStateSource`]; the CLI has none yet (the
//! worker's store provides it), so the LIVE column shows `-`.
//!
//! Graph settings: flags (or their environment variables) win over the `[graph]` table of a
//! whole Switchboard configuration file (`base_url`, `token`, `tenant_id`, `client_id`,
//! `enabled`). Credentials are a static token, a client secret, or the managed identity
//! (see [`GraphArgs`]); tokens come from `switchboard_callautomation::auth` for the scope
//! `https://graph.microsoft.com/.default`. Without credentials Graph is not called: `list`
//! shows presence as unknown and needs every agent to have an `oid`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use switchboard_worker::backend::StoreBackend;

use anyhow::{anyhow, Context as _};
use switchboard_routing::graph::auth::{
    client_secret_credential, ManagedIdentityCredential, StaticTokenCredential, TokenCredential,
};
use switchboard_routing::graph::{GraphClient, GraphClientOptions, GraphUser, DEFAULT_GRAPH_URL};
use switchboard_routing::presence::{PresenceStatus, PresenceView};
use switchboard_routing::presence_cache::{PresenceCache, PresenceCacheOptions};
use switchboard_routing::roster::{list_agents, AgentListing, AgentStateSource};
use switchboard_routing::{AgentRef, Roster, RoutingConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Resolve a display name, UPN or OID to the user's OID through Microsoft Graph.
    Resolve(ResolveArgs),
    /// List the roster with live availability from Microsoft Graph presence.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
struct ResolveArgs {
    /// Display name ("Alice Smith"), UPN (alice@contoso.com) or OID.
    name: String,
    #[command(flatten)]
    graph: GraphArgs,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Configuration and Microsoft Graph connection flags (shared with `doctor`).
///
/// Credentials, first match wins: a static token; a client secret (with tenant and client
/// id); the host's managed identity (`--managed-identity`, or `enabled = true` in `[graph]`
/// of the configuration). Without any, Graph is not called.
#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    /// Routing configuration (TOML or JSON), or a Switchboard configuration with [routing].
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Microsoft Graph base URL [default: https://graph.microsoft.com]; the simulator serves
    /// a subset at its root.
    #[arg(long, env = "SWITCHBOARD_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// A bearer token for Graph (app-only, User.Read.All and Presence.Read.All).
    #[arg(
        long,
        env = "SWITCHBOARD_GRAPH_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub graph_token: Option<String>,
    /// Entra tenant (GUID or domain) of the app registration, for client-secret auth.
    #[arg(long, env = "SWITCHBOARD_GRAPH_TENANT_ID", value_name = "TENANT")]
    pub tenant_id: Option<String>,
    /// Client id: the app registration (client-secret auth) or a user-assigned managed
    /// identity.
    #[arg(long, env = "AZURE_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// Client secret of the app registration (prefer the environment variable).
    #[arg(
        long,
        env = "SWITCHBOARD_GRAPH_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// Entra authority host for client-secret auth (sovereign clouds).
    #[arg(long, env = "AZURE_AUTHORITY_HOST", value_name = "URL")]
    pub authority_host: Option<String>,
    /// Use the host's managed identity (Container Apps, App Service, VM).
    #[arg(long, env = "SWITCHBOARD_GRAPH_MANAGED_IDENTITY")]
    pub managed_identity: bool,
}

/// The configuration file's settings relevant to these commands.
#[derive(Debug, Default)]
pub struct FileSettings {
    pub routing: Option<RoutingConfig>,
    pub graph_url: Option<String>,
    pub graph_token: Option<String>,
    pub graph_tenant_id: Option<String>,
    pub graph_client_id: Option<String>,
    pub graph_enabled: bool,
    pub acs_resource_id: Option<String>,
    /// The whole Switchboard configuration, when the file is one (its store holds live state).
    pub whole: Option<switchboard_worker::config::Config>,
}

impl GraphArgs {
    /// Reads `--config` (if any): the routing configuration plus `[graph]` and `[acs]`
    /// settings of a whole Switchboard configuration file.
    pub fn load_file(&self) -> anyhow::Result<FileSettings> {
        let Some(path) = &self.config else {
            return Ok(FileSettings::default());
        };
        let routing = RoutingConfig::from_path(path)
            .with_context(|| format!("loading {}", path.display()))?;
        let mut settings = FileSettings {
            routing: Some(routing),
            ..Default::default()
        };
        if !is_json(path) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            // A whole Switchboard configuration also carries [graph] and [acs]. A standalone
            // routing file does not parse as one (its keys are routing keys), which is fine.
            if let Ok(whole) = switchboard_worker::config::Config::from_toml_str(&text) {
                let g = &whole.graph;
                settings.graph_url = Some(g.base_url.clone());
                settings.graph_token = g.token.as_ref().map(|t| t.expose().to_owned());
                settings.graph_tenant_id = g.tenant_id.clone();
                settings.graph_client_id = g.client_id.clone();
                settings.graph_enabled = g.enabled;
                settings.acs_resource_id = whole.acs.resource_id.clone();
                settings.whole = Some(whole);
            }
        }
        Ok(settings)
    }

    /// The credential to use, if any (see the struct docs for the order).
    fn credential(&self, file: &FileSettings) -> anyhow::Result<Option<Arc<dyn TokenCredential>>> {
        let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        if let Some(token) = non_empty(&self.graph_token).or_else(|| non_empty(&file.graph_token)) {
            return Ok(Some(Arc::new(StaticTokenCredential::long_lived(
                token.trim(),
            ))));
        }
        let client_id = non_empty(&self.client_id).or_else(|| non_empty(&file.graph_client_id));
        if let Some(secret) = non_empty(&self.client_secret) {
            let tenant = non_empty(&self.tenant_id)
                .or_else(|| non_empty(&file.graph_tenant_id))
                .ok_or_else(|| {
                    anyhow!("client-secret auth needs --tenant-id (or SWITCHBOARD_GRAPH_TENANT_ID)")
                })?;
            let client = client_id.ok_or_else(|| {
                anyhow!("client-secret auth needs --client-id (or AZURE_CLIENT_ID)")
            })?;
            let credential =
                client_secret_credential(&tenant, &client, secret, self.authority_host.as_deref())?;
            return Ok(Some(Arc::new(credential)));
        }
        if self.managed_identity || file.graph_enabled {
            return Ok(Some(Arc::new(ManagedIdentityCredential::new(client_id)?)));
        }
        Ok(None)
    }

    /// A Graph client if credentials are configured, `None` otherwise.
    pub fn client(&self, file: &FileSettings) -> anyhow::Result<Option<GraphClient>> {
        let Some(credential) = self.credential(file)? else {
            return Ok(None);
        };
        let url = self
            .graph_url
            .clone()
            .or_else(|| file.graph_url.clone())
            .unwrap_or_else(|| DEFAULT_GRAPH_URL.to_owned());
        let client = GraphClient::new(&url, credential, Some(GraphClientOptions::default()))?;
        Ok(Some(client))
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

const NO_TOKEN: &str = "no Microsoft Graph credentials: set SWITCHBOARD_GRAPH_TOKEN, or SWITCHBOARD_GRAPH_TENANT_ID + AZURE_CLIENT_ID + SWITCHBOARD_GRAPH_CLIENT_SECRET, or use --managed-identity";

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Resolve(a) => resolve(a).await,
        Command::List(a) => list(a).await,
    }
}

/// The JSON `resolve` prints.
pub fn user_json(user: &GraphUser) -> serde_json::Value {
    serde_json::json!({
        "oid": user.id,
        "displayName": user.display_name,
        "upn": user.user_principal_name,
        "mail": user.mail,
    })
}

async fn resolve(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let file = args.graph.load_file()?;
    let client = args.graph.client(&file)?.ok_or_else(|| anyhow!(NO_TOKEN))?;
    let reference = AgentRef::parse(&args.name);
    // The resolve error already names what was looked up and what Graph found.
    let user = client.resolve(&reference).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&user_json(&user))?)?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves the roster: through Graph when a client is available, offline otherwise.
pub async fn roster(cfg: &RoutingConfig, client: Option<&GraphClient>) -> anyhow::Result<Roster> {
    Ok(match client {
        Some(c) => Roster::resolve(cfg, c).await?,
        None => Roster::offline(cfg).map_err(|e| anyhow!("{e}\n{NO_TOKEN}"))?,
    })
}

/// One presence read for the given roster (the cache's fallback applies: never fails).
pub async fn presence(
    client: Option<&GraphClient>,
    roster: &Roster,
) -> (PresenceView, Option<String>) {
    let Some(client) = client else {
        return (
            PresenceView::new(),
            Some("Microsoft Graph not configured".into()),
        );
    };
    let cache = PresenceCache::new(
        client.clone(),
        PresenceCacheOptions {
            refresh_timeout: Duration::from_secs(15),
            ..Default::default()
        },
    );
    let view = cache.view(&roster.ids()).await;
    (view, cache.last_error().await)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let file = args.graph.load_file()?;
    let cfg = file
        .routing
        .as_ref()
        .ok_or_else(|| anyhow!("no configuration: pass --config FILE or set SWITCHBOARD_CONFIG"))?;
    let client = args.graph.client(&file)?;
    let mut roster = roster(cfg, client.as_ref()).await?;
    if let Some(c) = &client {
        roster.fill_names_from_graph(c).await;
    }
    let (view, presence_error) = presence(client.as_ref(), &roster).await;
    if let Some(e) = &presence_error {
        tracing::warn!("presence unavailable: {e}");
    }
    // Live state (calls in progress, reservations, wrap-up) from the deployment's store when
    // the file is a whole Switchboard configuration; environment overrides apply as in the
    // worker, so `SWITCHBOARD_SQLITE_PATH` / `SWITCHBOARD_REDIS_URL` point at the same store.
    let store_state = match &file.whole {
        Some(whole) => {
            let mut whole = whole.clone();
            whole.apply_env(&switchboard_worker::config::Config::process_env())?;
            let engines = super::common::engines();
            let describe = match engines.store_backend(&whole) {
                Ok(b) => b.describe(&whole),
                Err(e) => format!("store ({e})"),
            };
            // A SQLite store nobody has written yet: opening would create an empty file.
            let sqlite =
                StoreBackend::kind(&switchboard_worker::backend::sqlite::SqliteStoreBackend);
            let missing = whole.store.kind == sqlite && !whole.store_sqlite_path().exists();
            if missing {
                tracing::warn!("no live state: {describe} does not exist yet (no worker ran)");
                None
            } else {
                match switchboard_worker::backend::open_store(&whole, &engines).await {
                    Ok(store) => Some(switchboard_worker::executor::StoreAgentState::new(
                        store, describe,
                    )),
                    Err(e) => {
                        tracing::warn!("live state unavailable ({describe}): {e}");
                        None
                    }
                }
            }
        }
        None => None,
    };
    let state: Option<&dyn AgentStateSource> =
        store_state.as_ref().map(|s| s as &dyn AgentStateSource);
    let (rows, state_error) = list_agents(
        &roster,
        &view,
        &cfg.presence,
        state,
        switchboard_routing::wall_clock(),
    )
    .await;
    if let Some(e) = state_error {
        tracing::warn!("{e}");
    }
    if rows.is_empty() {
        tracing::warn!("the roster is empty: add [[agents]] to the configuration");
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        write_table(&mut out, &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn routable_label(status: &PresenceStatus) -> &'static str {
    match status {
        PresenceStatus::Routable => "yes",
        PresenceStatus::NotRoutable { .. } => "no",
        PresenceStatus::Unknown => "unknown",
        PresenceStatus::Stale { .. } => "stale",
    }
}

fn write_table(out: &mut impl Write, rows: &[AgentListing]) -> anyhow::Result<()> {
    let header = [
        "NAME",
        "OID",
        "UPN",
        "AVAILABILITY",
        "ACTIVITY",
        "ROUTABLE",
        "CAP",
        "LIVE",
        "SKILLS",
    ];
    let mut cells: Vec<[String; 9]> = Vec::with_capacity(rows.len());
    for r in rows {
        let skills: Vec<String> = r.skills.iter().map(|(s, l)| format!("{s}:{l}")).collect();
        let (availability, activity) = match &r.presence {
            Some(p) => (p.availability.to_string(), p.activity.clone()),
            None => ("-".into(), "-".into()),
        };
        let live = match &r.live {
            Some(l) => format!("{} active, {} reserved", l.active_calls, l.reserved),
            None => "-".into(),
        };
        let routable = if r.enabled {
            routable_label(&r.presence_status).to_owned()
        } else {
            "disabled".to_owned()
        };
        cells.push([
            r.display_name.clone(),
            r.oid.to_string(),
            r.upn.clone().unwrap_or_else(|| "-".into()),
            availability,
            activity,
            routable,
            r.capacity.to_string(),
            live,
            skills.join(","),
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[&str]| -> std::io::Result<()> {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(out, &header)?;
    for row in &cells {
        let refs: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &refs)?;
    }
    Ok(())
}

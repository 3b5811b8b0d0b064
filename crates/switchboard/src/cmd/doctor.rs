//! `switchboard doctor --agent <OID|UPN|NAME>`: why can (or can't) this agent get calls?
//!
//! Four checks, each `ok`, `FAIL`, `warn` or `skipped`, with a fix where there is one:
//!
//! 1. **roster** — is the agent in the routing configuration (`--config`), and enabled?
//! 2. **graph** — does Microsoft Graph know the user (OID, display name, UPN)?
//! 3. **presence** — the user's Graph presence, and whether the roster's presence policy
//!    would route to them now (a `warn`, not a failure: presence changes all the time).
//! 4. **interop** — the Teams tenant table: `EnableAcsUsers`, our ACS resource allowed,
//!    `EnableAcsFederationAccess` on the user's External Access Policy. The settings come
//!    from `--tenant-settings FILE` (what an admin pastes from
//!    `Get-CsTeamsAcsFederationConfiguration`, `Get-CsExternalAccessPolicy` and
//!    `Get-CsOnlineUser`), since Teams PowerShell cannot be called from here.
//!
//! Exit status: 0 when nothing failed, 2 when a check failed (the agent cannot be reached
//! as configured), 1 on errors (unreadable files, bad configuration).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;
use switchboard_events::TeamsUserId;
use switchboard_routing::graph::{GraphError, ResolveError};
use switchboard_routing::interop::{eligibility, TenantSettingsFile};
use switchboard_routing::presence::{PresencePolicy, PresenceStatus};
use switchboard_routing::{AgentRef, RosterEntry};

use super::agents::{user_json, GraphArgs};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when no check failed, 2 when a check failed (the agent cannot be reached as configured), 1 on errors."
)]
pub struct Args {
    /// The agent: OID, UPN or display name.
    #[arg(long, value_name = "OID|UPN|NAME")]
    agent: String,
    /// Teams tenant settings (JSON or TOML): federation configuration, External Access
    /// Policies and user policy assignments. See `switchboard_routing::interop`.
    #[arg(long, value_name = "FILE")]
    tenant_settings: Option<PathBuf>,
    /// Our ACS resource's immutable id (defaults to acs.resource_id in --config).
    #[arg(long, env = "SWITCHBOARD_ACS_RESOURCE_ID", value_name = "ID")]
    resource_id: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fixes: Vec<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name,
            status,
            detail: detail.into(),
            fixes: Vec::new(),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fixes.push(fix.into());
        self
    }
}

#[derive(Debug, Serialize)]
struct Report {
    agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<serde_json::Value>,
    reachable: bool,
    checks: Vec<Check>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = args.graph.load_file()?;
    let tenant = args
        .tenant_settings
        .as_deref()
        .map(TenantSettingsFile::from_path)
        .transpose()
        .context("reading --tenant-settings")?;
    let client = args.graph.client(&file)?;
    let reference = AgentRef::parse(&args.agent);
    let mut checks = Vec::new();

    // 2 first: Graph gives the OID/UPN the roster and tenant lookups need.
    let mut oid = match &reference {
        AgentRef::Oid(o) => Some(o.clone()),
        _ => None,
    };
    let mut upn = match &reference {
        AgentRef::Upn(u) => Some(u.clone()),
        _ => None,
    };
    let mut display_name = None;
    let mut user_value = None;
    let graph_check = match &client {
        None => Check::new(
            "graph",
            Status::Skipped,
            "Microsoft Graph not configured (set SWITCHBOARD_GRAPH_TOKEN)",
        ),
        Some(c) => match c.resolve(&reference).await {
            Ok(user) => {
                oid = Some(user.id.clone());
                upn = user.user_principal_name.clone().or(upn);
                display_name = user.display_name.clone();
                user_value = Some(user_json(&user));
                Check::new("graph", Status::Ok, format!("Graph knows the user: {user}"))
            }
            Err(e @ (ResolveError::NotFound { .. } | ResolveError::Ambiguous { .. })) => {
                Check::new("graph", Status::Fail, e.to_string())
                    .fix("use the user's OID or UPN (`switchboard agents resolve NAME` lists candidates)")
            }
            Err(ResolveError::Graph(e)) => graph_failure("graph", &e),
        },
    };

    // 1. Roster.
    let roster_entry: Option<&RosterEntry> = file.routing.as_ref().and_then(|cfg| {
        cfg.agents.iter().find(|e| {
            roster_match(
                e,
                &reference,
                oid.as_ref(),
                upn.as_deref(),
                display_name.as_deref(),
            )
        })
    });
    checks.push(match (&file.routing, roster_entry) {
        (None, _) => Check::new(
            "roster",
            Status::Skipped,
            "no configuration given (--config)",
        ),
        (Some(_), None) => Check::new("roster", Status::Fail, "not in the roster").fix(format!(
            "add it to the configuration: [[agents]] {} = \"{}\"",
            match (&oid, &upn) {
                (Some(_), _) => "oid",
                (None, Some(_)) => "upn",
                _ => "name",
            },
            oid.as_ref()
                .map(ToString::to_string)
                .or_else(|| upn.clone())
                .unwrap_or_else(|| args.agent.clone())
        )),
        (Some(_), Some(e)) if !e.enabled => Check::new(
            "roster",
            Status::Fail,
            format!("in the roster ({}) but enabled = false", e.agent),
        )
        .fix("set enabled = true in its [[agents]] entry"),
        (Some(_), Some(e)) => {
            let skills: Vec<String> = e.skills.iter().map(|(s, l)| format!("{s}:{l}")).collect();
            Check::new(
                "roster",
                Status::Ok,
                format!(
                    "in the roster ({}), capacity {}, wrap-up {}s, skills [{}]",
                    e.agent,
                    e.capacity,
                    e.wrap_up.as_secs(),
                    skills.join(", ")
                ),
            )
        }
    });
    checks.push(graph_check);

    // 3. Presence.
    let policy = file
        .routing
        .as_ref()
        .map(|c| c.presence.clone())
        .unwrap_or_else(PresencePolicy::default);
    checks.push(match (&client, &oid) {
        (None, _) => Check::new(
            "presence",
            Status::Skipped,
            "Microsoft Graph not configured",
        ),
        (Some(_), None) => Check::new("presence", Status::Skipped, "the user's OID is not known"),
        (Some(c), Some(id)) => match c.get_presence(id).await {
            Ok(p) => {
                let obs = switchboard_routing::presence::PresenceObservation {
                    availability: p.availability.clone(),
                    activity: p.activity.clone(),
                    observed_at: switchboard_routing::wall_clock(),
                };
                let status = policy.evaluate(Some(&obs), obs.observed_at);
                let routable: Vec<String> =
                    policy.routable.iter().map(ToString::to_string).collect();
                match status {
                    PresenceStatus::Routable => Check::new(
                        "presence",
                        Status::Ok,
                        format!("{} / {} — routable now", p.availability, p.activity),
                    ),
                    _ => Check::new(
                        "presence",
                        Status::Warn,
                        format!(
                            "{} / {} — not routable now (routable: {})",
                            p.availability,
                            p.activity,
                            routable.join(", ")
                        ),
                    ),
                }
            }
            Err(GraphError::NotFound { .. }) => Check::new(
                "presence",
                Status::Fail,
                "Graph has no presence for this user (no Teams license?)",
            ),
            Err(e) => graph_failure("presence", &e),
        },
    });

    // 4. Interop eligibility.
    let resource_id = args.resource_id.clone().or(file.acs_resource_id.clone());
    match &tenant {
        None => checks.push(Check::new(
            "interop",
            Status::Skipped,
            "no tenant settings given (--tenant-settings FILE)",
        )),
        Some(t) => {
            let keys: Vec<String> = [
                oid.as_ref().map(ToString::to_string),
                upn.clone(),
                Some(args.agent.clone()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let policy = t.user_policy(keys.iter().map(String::as_str));
            let verdict = eligibility(&t.tenant(), &policy, resource_id.as_deref().unwrap_or(""));
            for f in verdict.reasons {
                let mut c = Check::new(
                    "interop",
                    if f.ok { Status::Ok } else { Status::Fail },
                    f.detail,
                );
                if let Some(fix) = f.fix {
                    c = c.fix(fix);
                }
                checks.push(c);
            }
        }
    }

    let reachable = !checks.iter().any(|c| c.status == Status::Fail);
    let report = Report {
        agent: args.agent.clone(),
        user: user_value,
        reachable,
        checks,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        print_text(&mut out, &report)?;
    }
    Ok(if reachable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Does a roster entry name this agent? Compares whatever is known: the OID and UPN (from
/// the command line or Graph), and display names (the configured label, the typed name,
/// Graph's name). Case-insensitive.
fn roster_match(
    e: &RosterEntry,
    reference: &AgentRef,
    oid: Option<&TeamsUserId>,
    upn: Option<&str>,
    graph_name: Option<&str>,
) -> bool {
    let eq = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    let typed_name = match reference {
        AgentRef::DisplayName(n) => Some(n.as_str()),
        _ => None,
    };
    let by_identity = match &e.agent {
        AgentRef::Oid(a) => oid.is_some_and(|b| eq(a.as_str(), b.as_str())),
        AgentRef::Upn(a) => upn.is_some_and(|b| eq(a, b)),
        AgentRef::DisplayName(a) => typed_name.or(graph_name).is_some_and(|b| eq(a, b)),
    };
    let by_upn_label = e.upn.as_deref().zip(upn).is_some_and(|(a, b)| eq(a, b));
    let by_name_label = e
        .display_name
        .as_deref()
        .zip(typed_name)
        .is_some_and(|(a, b)| eq(a, b));
    by_identity || by_upn_label || by_name_label
}

fn graph_failure(name: &'static str, e: &GraphError) -> Check {
    let check = Check::new(name, Status::Fail, e.to_string());
    match e {
        GraphError::Unauthorized { .. } => check.fix(
            "grant the app registration the application permissions User.Read.All and Presence.Read.All, with admin consent",
        ),
        _ if e.is_retryable() => check.fix("temporary: try again later"),
        _ => check,
    }
}

fn print_text(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    writeln!(out, "agent: {}", report.agent)?;
    for c in &report.checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        writeln!(out, "[{mark}] {:<9} {}", c.name, c.detail)?;
        for fix in &c.fixes {
            writeln!(out, "       fix: {fix}")?;
        }
    }
    writeln!(
        out,
        "verdict: {}",
        if report.reachable {
            "reachable (no check failed)"
        } else {
            "NOT reachable"
        }
    )
}

//! The roster with every agent identified by OID, and the agent listing.
//!
//! Configuration may name agents by UPN or display name ([`AgentRef`]); routing needs
//! OIDs. [`Roster::resolve`] looks each non-OID entry up in Graph (a few at a time) and
//! reports every entry that failed, not just the first. [`Roster::offline`] builds a roster
//! without Graph when every entry already has an OID (the local demo, tests).
//!
//! [`Roster::snapshots`] joins the roster with live state into the
//! [`AgentSnapshot`]s the engine ranks. [`list_agents`] is what `switchboard agents list`
//! prints: roster, presence and — through the [`AgentStateSource`] extension point, which
//! the worker implements over the store — reservations and active calls.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use switchboard_events::TeamsUserId;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{AgentRef, RosterEntry, RoutingConfig};
use crate::graph::GraphClient;
use crate::model::{AgentLiveState, AgentSnapshot, Skills};
use crate::presence::{PresenceObservation, PresencePolicy, PresenceStatus, PresenceView};

/// Graph lookups in flight at once while resolving a roster.
const RESOLVE_CONCURRENCY: usize = 8;

/// A roster entry with its OID known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolvedAgent {
    /// Entra object id.
    pub oid: TeamsUserId,
    /// Display name: the configuration's, else Graph's, else the OID.
    pub display_name: String,
    /// UPN, from the configuration or Graph.
    pub upn: Option<String>,
    /// The configuration entry.
    pub entry: RosterEntry,
}

impl ResolvedAgent {
    /// The engine's view of this agent with the given live state.
    pub fn snapshot(&self, live: AgentLiveState) -> AgentSnapshot {
        AgentSnapshot {
            oid: self.oid.clone(),
            display_name: self.display_name.clone(),
            skills: self.entry.skills.clone(),
            capacity: self.entry.capacity,
            wrap_up: self.entry.wrap_up,
            enabled: self.entry.enabled,
            live,
        }
    }
}

/// Why a roster could not be built. Lists every failing entry.
#[derive(Debug, thiserror::Error)]
pub struct RosterError {
    /// (index in `agents`, reference, what went wrong).
    pub failures: Vec<(usize, AgentRef, String)>,
    /// True if every failure may go away on retry (Graph throttled or down).
    pub retryable: bool,
}

impl fmt::Display for RosterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} roster entries could not be resolved:",
            self.failures.len()
        )?;
        for (i, r, why) in &self.failures {
            write!(f, "\n  agents[{i}] ({r}): {why}")?;
        }
        Ok(())
    }
}

impl RosterError {
    /// True if retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// The resolved roster, in configuration order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Roster {
    agents: Vec<ResolvedAgent>,
}

impl Roster {
    /// Builds the roster without Graph. Fails (listing them) if any entry has no OID.
    pub fn offline(cfg: &RoutingConfig) -> Result<Self, RosterError> {
        let mut failures = Vec::new();
        let mut agents = Vec::new();
        for (i, e) in cfg.agents.iter().enumerate() {
            match e.oid() {
                Some(oid) => agents.push(ResolvedAgent {
                    oid: oid.clone(),
                    display_name: e.display_name.clone().unwrap_or_else(|| oid.to_string()),
                    upn: e.upn.clone(),
                    entry: e.clone(),
                }),
                None => failures.push((
                    i,
                    e.agent.clone(),
                    "needs Microsoft Graph to find its OID (configure Graph or give `oid`)".into(),
                )),
            }
        }
        if failures.is_empty() {
            Ok(Self { agents })
        } else {
            Err(RosterError {
                failures,
                retryable: false,
            })
        }
    }

    /// Builds the roster, resolving UPNs and display names through Graph. Entries that
    /// already have an OID are not looked up. Two entries resolving to the same OID are an
    /// error (one person would be offered the same call twice).
    pub async fn resolve(cfg: &RoutingConfig, graph: &GraphClient) -> Result<Self, RosterError> {
        let limit = Arc::new(Semaphore::new(RESOLVE_CONCURRENCY));
        let mut tasks = JoinSet::new();
        let mut task_index = HashMap::new();
        for (i, e) in cfg.agents.iter().enumerate() {
            if e.oid().is_some() {
                continue;
            }
            let graph = graph.clone();
            let agent = e.agent.clone();
            let limit = limit.clone();
            let handle = tasks.spawn(async move {
                // The semaphore is never closed; if it were, the lookup just runs unlimited.
                let _permit = limit.acquire_owned().await.ok();
                graph.resolve(&agent).await
            });
            task_index.insert(handle.id(), i);
        }
        let mut resolved: HashMap<usize, crate::graph::GraphUser> = HashMap::new();
        let mut failures = Vec::new();
        let mut all_retryable = true;
        while let Some(joined) = tasks.join_next_with_id().await {
            let (id, outcome) = match joined {
                Ok((id, outcome)) => (id, outcome.map_err(|e| (e.is_retryable(), e.to_string()))),
                Err(join) => (
                    join.id(),
                    Err((false, format!("lookup task failed: {join}"))),
                ),
            };
            let Some(&i) = task_index.get(&id) else {
                continue;
            };
            match outcome {
                Ok(user) => {
                    resolved.insert(i, user);
                }
                Err((retryable, why)) => {
                    all_retryable &= retryable;
                    failures.push((i, cfg.agents[i].agent.clone(), why));
                }
            }
        }

        let mut agents = Vec::with_capacity(cfg.agents.len());
        let mut seen: HashMap<TeamsUserId, usize> = HashMap::new();
        for (i, e) in cfg.agents.iter().enumerate() {
            let (oid, graph_name, graph_upn) = match (e.oid(), resolved.remove(&i)) {
                (Some(oid), _) => (oid.clone(), None, None),
                (None, Some(u)) => (
                    TeamsUserId::from(u.id.as_str().to_ascii_lowercase()),
                    u.display_name,
                    u.user_principal_name,
                ),
                (None, None) => continue, // already in `failures`
            };
            if let Some(first) = seen.insert(oid.clone(), i) {
                all_retryable = false;
                failures.push((
                    i,
                    e.agent.clone(),
                    format!("is the same user ({oid}) as agents[{first}]"),
                ));
                continue;
            }
            agents.push(ResolvedAgent {
                display_name: e
                    .display_name
                    .clone()
                    .or(graph_name)
                    .unwrap_or_else(|| oid.to_string()),
                upn: e.upn.clone().or(graph_upn),
                oid,
                entry: e.clone(),
            });
        }
        if failures.is_empty() {
            Ok(Self { agents })
        } else {
            failures.sort_by_key(|f| f.0);
            Err(RosterError {
                failures,
                retryable: all_retryable,
            })
        }
    }

    /// Fills in display names and UPNs Graph knows for agents configured by OID alone
    /// (whose name is otherwise their OID), a few lookups at a time. Best effort: an agent
    /// Graph cannot look up keeps what it has. Returns how many agents were updated.
    pub async fn fill_names_from_graph(&mut self, graph: &GraphClient) -> usize {
        let limit = Arc::new(Semaphore::new(RESOLVE_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for (i, a) in self.agents.iter().enumerate() {
            if a.entry.display_name.is_some() && a.upn.is_some() {
                continue;
            }
            let graph = graph.clone();
            let oid = a.oid.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.ok();
                (i, graph.get_user(oid.as_str()).await)
            });
        }
        let mut updated = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((i, Ok(user))) = joined else {
                continue;
            };
            let Some(agent) = self.agents.get_mut(i) else {
                continue;
            };
            let mut changed = false;
            if agent.entry.display_name.is_none() {
                if let Some(name) = user.display_name {
                    changed |= agent.display_name != name;
                    agent.display_name = name;
                }
            }
            if agent.upn.is_none() && user.user_principal_name.is_some() {
                agent.upn = user.user_principal_name;
                changed = true;
            }
            updated += usize::from(changed);
        }
        updated
    }

    /// The agents, in configuration order.
    pub fn agents(&self) -> &[ResolvedAgent] {
        &self.agents
    }

    /// Every OID, in configuration order (what to ask Graph presence for).
    pub fn ids(&self) -> Vec<TeamsUserId> {
        self.agents.iter().map(|a| a.oid.clone()).collect()
    }

    /// An agent by OID.
    pub fn get(&self, oid: &TeamsUserId) -> Option<&ResolvedAgent> {
        self.agents.iter().find(|a| &a.oid == oid)
    }

    /// Finds an agent by OID, UPN or display name (case-insensitive), as typed on a
    /// command line.
    pub fn find(&self, reference: &AgentRef) -> Option<&ResolvedAgent> {
        self.agents.iter().find(|a| match reference {
            AgentRef::Oid(o) => a.oid.as_str().eq_ignore_ascii_case(o.as_str()),
            AgentRef::Upn(u) => a.upn.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(u)),
            AgentRef::DisplayName(n) => a.display_name.to_lowercase() == n.to_lowercase(),
        })
    }

    /// Engine snapshots: every agent joined with its live state (idle if absent).
    pub fn snapshots(&self, live: &HashMap<TeamsUserId, AgentLiveState>) -> Vec<AgentSnapshot> {
        self.agents
            .iter()
            .map(|a| a.snapshot(live.get(&a.oid).cloned().unwrap_or_default()))
            .collect()
    }

    /// Engine snapshots of the roster agents `live` has a state for, in roster order; the
    /// others are left out (not taken as idle).
    pub fn snapshots_of(&self, live: &HashMap<TeamsUserId, AgentLiveState>) -> Vec<AgentSnapshot> {
        self.agents
            .iter()
            .filter_map(|a| live.get(&a.oid).map(|l| a.snapshot(l.clone())))
            .collect()
    }
}

/// Extension point: live agent state (active calls, reservations, wrap-up) from wherever
/// the deployment keeps it. The worker implements this over the store and passes it to
/// [`list_agents`]; without one the listing has no live state.
#[async_trait]
pub trait AgentStateSource: Send + Sync {
    /// Live state of the given agents. Agents missing from the map are idle.
    async fn agent_states(
        &self,
        ids: &[TeamsUserId],
    ) -> Result<HashMap<TeamsUserId, AgentLiveState>, Box<dyn std::error::Error + Send + Sync>>;

    /// Where the state comes from, for messages (`"sqlite store switchboard.db"`).
    fn describe(&self) -> String;
}

/// One row of `switchboard agents list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentListing {
    /// Entra object id, as resolved from the roster.
    pub oid: TeamsUserId,
    /// The configuration's name, else Graph's, else the OID.
    pub display_name: String,
    /// UPN from the configuration or Graph, when either has one.
    pub upn: Option<String>,
    /// Skills and levels from the configuration.
    pub skills: Skills,
    /// Concurrent calls the agent may take, from the configuration.
    pub capacity: u32,
    /// False: in the roster but taken out of routing.
    pub enabled: bool,
    /// Latest Graph reading, if any.
    pub presence: Option<PresenceObservation>,
    /// The default presence policy's verdict on it.
    pub presence_status: PresenceStatus,
    /// Live state, when an [`AgentStateSource`] provided it.
    pub live: Option<AgentLiveState>,
}

/// Builds the listing: roster order, presence judged by `policy` at `now`, live state from
/// `state` when given (a failing state source is reported in the second value, not fatal).
pub async fn list_agents(
    roster: &Roster,
    presence: &PresenceView,
    policy: &PresencePolicy,
    state: Option<&dyn AgentStateSource>,
    now: OffsetDateTime,
) -> (Vec<AgentListing>, Option<String>) {
    let ids = roster.ids();
    let (live, state_error) = match state {
        None => (None, None),
        Some(source) => match source.agent_states(&ids).await {
            Ok(map) => (Some(map), None),
            Err(e) => (
                None,
                Some(format!("live state from {}: {e}", source.describe())),
            ),
        },
    };
    let rows = roster
        .agents()
        .iter()
        .map(|a| {
            let observation = presence.get(&a.oid).cloned();
            AgentListing {
                oid: a.oid.clone(),
                display_name: a.display_name.clone(),
                upn: a.upn.clone(),
                skills: a.entry.skills.clone(),
                capacity: a.entry.capacity,
                enabled: a.entry.enabled,
                presence_status: policy.evaluate(observation.as_ref(), now),
                presence: observation,
                live: live
                    .as_ref()
                    .map(|map| map.get(&a.oid).cloned().unwrap_or_default()),
            }
        })
        .collect();
    (rows, state_error)
}

/// OIDs that appear more than once (defensive check for hand-built rosters).
pub fn duplicate_ids(agents: &[AgentSnapshot]) -> Vec<TeamsUserId> {
    let mut seen = HashSet::new();
    agents
        .iter()
        .filter(|a| !seen.insert(&a.oid))
        .map(|a| a.oid.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_roster_needs_oids_and_reports_all_failures() {
        let cfg = RoutingConfig::from_toml_str(
            r#"
            [[agents]]
            oid = "11111111-1111-1111-1111-111111111111"
            name = "Ann"
            skills = { sales = 3 }
            [[agents]]
            upn = "bob@contoso.com"
            [[agents]]
            name = "Carol"
            "#,
        )
        .unwrap();
        let err = Roster::offline(&cfg).unwrap_err();
        assert_eq!(err.failures.len(), 2);
        assert_eq!(err.failures[0].0, 1);
        assert_eq!(err.failures[1].0, 2);
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("agents[1] (upn bob@contoso.com)"), "{text}");

        let cfg = RoutingConfig::from_toml_str(
            "[[agents]]\noid = \"11111111-1111-1111-1111-111111111111\"\nname = \"Ann\"\nskills = { sales = 3 }\ncapacity = 2\n",
        )
        .unwrap();
        let roster = Roster::offline(&cfg).unwrap();
        assert_eq!(roster.agents()[0].display_name, "Ann");
        let mut live = HashMap::new();
        let oid = TeamsUserId::from("11111111-1111-1111-1111-111111111111");
        live.insert(
            oid.clone(),
            AgentLiveState {
                active_calls: 1,
                ..Default::default()
            },
        );
        let snaps = roster.snapshots(&live);
        assert_eq!(snaps[0].capacity, 2);
        assert_eq!(snaps[0].live.active_calls, 1);
        assert_eq!(snaps[0].skills.get("sales"), Some(&3));
        assert!(roster.find(&AgentRef::DisplayName("ann".into())).is_some());
        assert!(roster
            .find(&AgentRef::parse("11111111-1111-1111-1111-111111111111"))
            .is_some());
        assert!(duplicate_ids(&snaps).is_empty());
    }
}

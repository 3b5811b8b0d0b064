//! What the flow needs to know besides the call: the routing configuration (queues, IVR
//! menus, hold music, overflow targets, classification rules) and a few flow policies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use switchboard_events::{normalize_e164, TeamsUserId};
use switchboard_routing::{CallQueueConfig, Roster, RoutingConfig};

/// How long an agent is held back from new offers after they failed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cooldowns {
    /// Rang out (408) or no outcome at all (our ring timeout).
    pub no_answer: Duration,
    /// Declined (603).
    pub declined: Duration,
    /// Busy (486): already on a call elsewhere.
    pub busy: Duration,
    /// Any other failure (not the agent's doing).
    pub other: Duration,
    /// Refused by the Teams tenant's interop policy (403): an admin has to change a setting,
    /// so the agent is kept out of routing for a long while.
    pub policy: Duration,
}

impl Default for Cooldowns {
    fn default() -> Self {
        // Ring-no-answer usually means the agent walked away: keep them out for a while so
        // the next callers are not rung in vain. Declines and busy are deliberate/short-lived.
        Self {
            no_answer: Duration::from_secs(60),
            declined: Duration::from_secs(10),
            busy: Duration::from_secs(5),
            other: Duration::ZERO,
            policy: Duration::from_secs(30 * 60),
        }
    }
}

/// Flow configuration. Build with [`FlowConfig::new`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// Queues, rules, default queue.
    pub routing: RoutingConfig,
    /// Numbers / raw ids we serve, normalized ([`FlowConfig::serves`]). IncomingCall to
    /// anything else is ignored (never answered). Empty = serve nothing.
    pub numbers: BTreeSet<String>,
    /// What Teams agents see as the caller when the offer rings.
    pub source_display_name: String,
    /// Extra wait after an offer's invitation timeout before we treat a missing outcome as
    /// ring-no-answer and withdraw the invitation ourselves.
    pub ring_grace: Duration,
    /// Sent on answer as `callIntelligenceOptions.cognitiveServicesEndpoint`
    /// (`acs.cognitive_services_endpoint`): text and SSML prompts need it.
    pub cognitive_services_endpoint: Option<String>,
    /// How long an agent is not offered again after each kind of failed offer.
    pub cooldowns: Cooldowns,
    /// Extra attempts of a failed overflow transfer before hanging up.
    pub transfer_retries: u32,
    /// Wrap-up after a call, per agent (from the resolved roster).
    pub wrap_up: BTreeMap<TeamsUserId, Duration>,
    /// Wrap-up for agents not in `wrap_up`.
    pub default_wrap_up: Duration,
    /// Applied input ids remembered per call.
    pub applied_limit: usize,
    /// Timeline entries kept per call.
    pub history_limit: usize,
    /// How long an `IncomingCall` rings before the caller's side gives up and its incoming
    /// call context expires (30 s on ACS; see the simulator's `ringingTimeout`). An
    /// `IncomingCall` delivered later than this after it was raised is not answered.
    pub ringing_window: Duration,
    /// How long past a recognize's own timeouts (plus time for its prompt) the flow waits
    /// for the outcome of a recognize whose request may not have reached the service before
    /// it ends that menu try as if the caller pressed nothing.
    pub media_grace: Duration,
}

impl FlowConfig {
    /// Defaults around a routing configuration and the numbers we serve. Wrap-up times are
    /// taken from the roster entries that name an OID.
    pub fn new(routing: RoutingConfig, numbers: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let wrap_up = routing
            .agents
            .iter()
            .filter_map(|a| a.oid().map(|o| (o.clone(), a.wrap_up)))
            .collect();
        Self {
            routing,
            numbers: numbers
                .into_iter()
                .map(|n| normalize_number(n.as_ref()))
                .collect(),
            source_display_name: "Contoso Support".into(),
            ring_grace: Duration::from_secs(5),
            cognitive_services_endpoint: None,
            cooldowns: Cooldowns::default(),
            transfer_retries: 1,
            wrap_up,
            default_wrap_up: Duration::ZERO,
            applied_limit: 256,
            history_limit: 200,
            ringing_window: Duration::from_secs(30),
            media_grace: Duration::from_secs(60),
        }
    }

    /// Defaults plus what the worker configuration says: the numbers we serve
    /// (`acs.numbers`) and the name agents see (`acs.source_display_name`).
    pub fn from_config(cfg: &crate::config::Config, routing: RoutingConfig) -> Self {
        let mut flow = Self::new(routing, cfg.acs.numbers.iter());
        flow.source_display_name = cfg.acs.source_display_name.clone();
        flow.cognitive_services_endpoint = cfg.acs.cognitive_services_endpoint.clone();
        flow
    }

    /// Takes every agent's wrap-up from the resolved roster (agents named by UPN or display
    /// name only get an OID once Graph resolved them).
    pub(crate) fn apply_roster(&mut self, roster: &Roster) {
        for a in roster.agents() {
            self.wrap_up.insert(a.oid.clone(), a.entry.wrap_up);
        }
    }

    /// True if calls to `called` (normalized: E.164 or raw id) are ours.
    pub fn serves(&self, called: &str) -> bool {
        self.numbers.contains(&normalize_number(called))
    }

    /// The queue's configuration, falling back to the default queue for a name that is not
    /// configured (a call classified under an older configuration).
    pub fn queue(&self, name: &str) -> Option<&CallQueueConfig> {
        self.routing
            .queue(name)
            .or_else(|| self.routing.queue(self.routing.default_queue.as_str()))
    }

    /// Wrap-up after a call for `agent`.
    pub(crate) fn wrap_up_for(&self, agent: &TeamsUserId) -> Duration {
        self.wrap_up
            .get(agent)
            .copied()
            .unwrap_or(self.default_wrap_up)
    }
}

/// E.164 for anything that reads as a phone number, else the trimmed string (raw ids).
pub(crate) fn normalize_number(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("4:").unwrap_or(s);
    normalize_e164(s).unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_in_e164_and_raw_form() {
        let routing = RoutingConfig::from_toml_str("").unwrap();
        let cfg = FlowConfig::new(routing, ["+1 (425) 555-0100", "8:acs:res_user"]);
        assert!(cfg.serves("+14255550100"));
        assert!(cfg.serves("4:+14255550100"));
        assert!(cfg.serves("14255550100"));
        assert!(cfg.serves("8:acs:res_user"));
        assert!(!cfg.serves("+14255550101"));
        assert!(!cfg.serves(""));
    }

    #[test]
    fn built_from_the_worker_configuration_and_roster() {
        let mut worker = crate::config::Config::from_toml_str(include_str!(
            "../../config/switchboard.example.toml"
        ))
        .unwrap();
        worker.acs.cognitive_services_endpoint =
            Some("https://ai.cognitiveservices.azure.com/".into());
        let routing = RoutingConfig::from_toml_str(
            "[[agents]]\noid = \"6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10\"\nwrap_up_secs = 42\n",
        )
        .unwrap();
        let mut flow = FlowConfig::from_config(&worker, routing.clone());
        assert!(flow.serves("+14255550100"));
        assert_eq!(flow.source_display_name, worker.acs.source_display_name);
        // Sent on answer, so text prompts can play (ADR 0009 of switchboard-sim).
        assert_eq!(
            flow.cognitive_services_endpoint.as_deref(),
            Some("https://ai.cognitiveservices.azure.com/")
        );
        flow.wrap_up.clear();
        flow.apply_roster(&Roster::offline(&routing).unwrap());
        assert_eq!(
            flow.wrap_up_for(&"6e1c2f1a-3b7d-4c55-9a0e-2f8d7c1b4a10".into()),
            Duration::from_secs(42)
        );
    }
}
